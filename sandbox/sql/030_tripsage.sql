-- TripSage (seed 002): private Realtime topics authorised by RLS on realtime.messages.
-- Idempotent: applied on every start.
--
--   user:{sub}       only the subject user may read (join) and write (broadcast, presence)
--   session:{uuid}   only the chat session's owner and its collaborators may read and write
--
-- The policies follow TripSage's migrations (`20251027_01_realtime_policies.sql`,
-- `202510271701_realtime_helpers.sql`): deny by default, `realtime.topic()` split into a prefix
-- and a suffix by helpers, session membership checked by a helper. Here a session's members are
-- its owner (`chat_sessions.user_id`) and the rows of `chat_session_collaborators`.
-- Server-originated events use `realtime.send(payload, event, topic, private)` (001_realtime.sql)
-- or the REST broadcast endpoint with the service role key.

create table if not exists public.chat_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,  -- the owner
  title text not null default 'New chat',
  trip_id uuid,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists chat_sessions_user_id_idx on public.chat_sessions (user_id);

create table if not exists public.chat_session_collaborators (
  session_id uuid not null references public.chat_sessions (id) on delete cascade,
  user_id uuid not null,
  role text not null default 'editor'
    constraint chat_session_collaborators_role_check check (role in ('viewer', 'editor')),
  added_at timestamptz not null default now(),
  primary key (session_id, user_id)
);
create index if not exists chat_session_collaborators_user_id_idx
  on public.chat_session_collaborators (user_id);

grant all on public.chat_sessions, public.chat_session_collaborators
  to anon, authenticated, service_role;

-- Helpers. `rt_is_session_member` is security definer so that the realtime policies (evaluated as
-- the joining user) and the tables' own policies can ask it without recursing through RLS. The
-- suffix is compared as text: a malformed `session:` topic is refused, never an error.
create or replace function public.rt_topic_prefix() returns text
language sql stable as $$ select split_part(realtime.topic(), ':', 1) $$;

create or replace function public.rt_topic_suffix() returns text
language sql stable as $$ select split_part(realtime.topic(), ':', 2) $$;

create or replace function public.is_chat_session_member(p_session_id uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.chat_sessions cs
    where cs.id = p_session_id
      and (cs.user_id = auth.uid()
           or exists (select 1 from public.chat_session_collaborators c
                      where c.session_id = cs.id and c.user_id = auth.uid()))
  )
$$;

create or replace function public.rt_is_session_member() returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (
    select 1 from public.chat_sessions cs
    where cs.id::text = public.rt_topic_suffix()
      and public.is_chat_session_member(cs.id)
  )
$$;
revoke all on function public.is_chat_session_member(uuid) from public;
revoke all on function public.rt_is_session_member() from public;
grant execute on function public.is_chat_session_member(uuid) to authenticated, service_role;
grant execute on function public.rt_is_session_member() to authenticated, service_role;
grant execute on function public.rt_topic_prefix(), public.rt_topic_suffix()
  to anon, authenticated, service_role;

-- The sessions themselves: members read them, the owner writes them.
alter table public.chat_sessions enable row level security;
alter table public.chat_session_collaborators enable row level security;
drop policy if exists "members read chat sessions" on public.chat_sessions;
create policy "members read chat sessions" on public.chat_sessions
  for select to authenticated using (public.is_chat_session_member(id));
drop policy if exists "owners insert chat sessions" on public.chat_sessions;
create policy "owners insert chat sessions" on public.chat_sessions
  for insert to authenticated with check (user_id = (select auth.uid()));
drop policy if exists "owners update chat sessions" on public.chat_sessions;
create policy "owners update chat sessions" on public.chat_sessions
  for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
drop policy if exists "owners delete chat sessions" on public.chat_sessions;
create policy "owners delete chat sessions" on public.chat_sessions
  for delete to authenticated using (user_id = (select auth.uid()));
drop policy if exists "members read collaborators" on public.chat_session_collaborators;
create policy "members read collaborators" on public.chat_session_collaborators
  for select to authenticated using (public.is_chat_session_member(session_id));
drop policy if exists "owners manage collaborators" on public.chat_session_collaborators;
create policy "owners manage collaborators" on public.chat_session_collaborators
  for all to authenticated
  using (exists (select 1 from public.chat_sessions s
                 where s.id = session_id and s.user_id = (select auth.uid())))
  with check (exists (select 1 from public.chat_sessions s
                      where s.id = session_id and s.user_id = (select auth.uid())));

-- The Realtime authorization policies, replaced as one unit (this file runs as one transaction).
drop policy if exists "rtm_user_topic_read" on realtime.messages;
create policy "rtm_user_topic_read" on realtime.messages
  for select to authenticated
  using (
    public.rt_topic_prefix() = 'user'
    and public.rt_topic_suffix() = (select auth.uid())::text
    and realtime.messages.extension in ('broadcast', 'presence')
  );
drop policy if exists "rtm_user_topic_write" on realtime.messages;
create policy "rtm_user_topic_write" on realtime.messages
  for insert to authenticated
  with check (
    public.rt_topic_prefix() = 'user'
    and public.rt_topic_suffix() = (select auth.uid())::text
    and realtime.messages.extension in ('broadcast', 'presence')
  );
drop policy if exists "rtm_session_topic_read" on realtime.messages;
create policy "rtm_session_topic_read" on realtime.messages
  for select to authenticated
  using (
    public.rt_topic_prefix() = 'session'
    and public.rt_is_session_member()
    and realtime.messages.extension in ('broadcast', 'presence')
  );
drop policy if exists "rtm_session_topic_write" on realtime.messages;
create policy "rtm_session_topic_write" on realtime.messages
  for insert to authenticated
  with check (
    public.rt_topic_prefix() = 'session'
    and public.rt_is_session_member()
    and realtime.messages.extension in ('broadcast', 'presence')
  );

select seed.publish('public', array['chat_sessions']);
