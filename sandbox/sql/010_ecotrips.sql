-- EcoTrips (seed 000): group live slots and traveler presence. Idempotent: applied on every start.
--
-- `concierge.presence` holds one row per traveler and itinerary, owned by the traveler (RLS on
-- auth.uid()). `group.live_slots` holds the counters derived from it, one row per itinerary, in
-- the realtime publication; only `group.recompute_live_slots` (called by the `live-slots-update`
-- Edge Function) writes them, and it writes only when a counter actually changes.
--
-- The seed's counters:
--   presence_opt_in  = travelers who opted in to presence sharing           (opt_in)
--   presence_visible = opted-in travelers who left visibility enabled       (opt_in and visible)
--   presence_online  = visible travelers whose latest status is 'online'    (... and status = 'online')
-- A traveler has one row per itinerary, so the row's status is the traveler's latest status.

create schema if not exists "group";
create schema if not exists concierge;
grant usage on schema "group" to anon, authenticated, service_role;
grant usage on schema concierge to anon, authenticated, service_role;

create table if not exists "group".live_slots (
  itinerary_id text primary key,
  group_id text not null,
  escrow_id text,
  presence_opt_in integer not null default 0,
  presence_visible integer not null default 0,
  presence_online integer not null default 0,
  updated_at timestamptz not null default now()
);
create index if not exists live_slots_group_id_idx on "group".live_slots (group_id);
create index if not exists live_slots_escrow_id_idx on "group".live_slots (escrow_id);
-- Aggregates only, no personal data: readable by every API role, written by the recompute.
grant select on "group".live_slots to anon, authenticated;
grant all on "group".live_slots to service_role;

create table if not exists concierge.presence (
  traveler_id uuid not null,
  itinerary_id text not null,
  group_id text not null,
  opt_in boolean not null default false,
  visible boolean not null default true,
  status text not null default 'offline'
    constraint presence_status_check check (status in ('online', 'away', 'offline')),
  updated_at timestamptz not null default now(),
  primary key (traveler_id, itinerary_id)
);
create index if not exists presence_itinerary_id_idx on concierge.presence (itinerary_id);
create index if not exists presence_group_id_idx on concierge.presence (group_id);
alter table concierge.presence enable row level security;
grant select, insert, update, delete on concierge.presence to authenticated;
grant all on concierge.presence to service_role;

create or replace trigger presence_touch_updated_at
  before update on concierge.presence
  for each row execute function seed.touch_updated_at();

-- Traveler-owned rows: a traveler sees and writes only rows where traveler_id = auth.uid().
-- service_role has BYPASSRLS, as on Supabase.
do $$
begin
  if not exists (select from pg_policies where schemaname = 'concierge' and tablename = 'presence'
                 and policyname = 'travelers select own presence') then
    create policy "travelers select own presence" on concierge.presence
      for select to authenticated using (traveler_id = (select auth.uid()));
  end if;
  if not exists (select from pg_policies where schemaname = 'concierge' and tablename = 'presence'
                 and policyname = 'travelers insert own presence') then
    create policy "travelers insert own presence" on concierge.presence
      for insert to authenticated with check (traveler_id = (select auth.uid()));
  end if;
  if not exists (select from pg_policies where schemaname = 'concierge' and tablename = 'presence'
                 and policyname = 'travelers update own presence') then
    create policy "travelers update own presence" on concierge.presence
      for update to authenticated
      using (traveler_id = (select auth.uid()))
      with check (traveler_id = (select auth.uid()));
  end if;
  if not exists (select from pg_policies where schemaname = 'concierge' and tablename = 'presence'
                 and policyname = 'travelers delete own presence') then
    create policy "travelers delete own presence" on concierge.presence
      for delete to authenticated using (traveler_id = (select auth.uid()));
  end if;
end
$$;

-- Recompute the counters of the itineraries that match every given argument (give at least
-- one): by itinerary, by group (live_slots or presence rows), or by escrow (live_slots rows).
-- Upserts one live_slots row per itinerary; an unchanged row is not written at all, so no
-- postgres_changes event goes out. Returns the resulting rows, changed or not.
create or replace function "group".recompute_live_slots(
  p_itinerary_id text default null,
  p_group_id text default null,
  p_escrow_id text default null
) returns setof "group".live_slots
language plpgsql
security definer
set search_path = ''
as $$
declare
  target record;
  ids text[] := '{}';
  n_opt_in integer;
  n_visible integer;
  n_online integer;
begin
  if p_itinerary_id is null and p_group_id is null and p_escrow_id is null then
    raise exception 'recompute_live_slots needs itinerary_id, group_id or escrow_id'
      using errcode = '22023';
  end if;
  for target in
    select s.itinerary_id, s.group_id, s.escrow_id
    from "group".live_slots s
    where (p_itinerary_id is null or s.itinerary_id = p_itinerary_id)
      and (p_group_id is null or s.group_id = p_group_id)
      and (p_escrow_id is null or s.escrow_id = p_escrow_id)
    union all
    select p.itinerary_id, min(p.group_id), null::text
    from concierge.presence p
    where p_escrow_id is null
      and (p_itinerary_id is null or p.itinerary_id = p_itinerary_id)
      and (p_group_id is null or p.group_id = p_group_id)
      and not exists (select from "group".live_slots s where s.itinerary_id = p.itinerary_id)
    group by p.itinerary_id
    order by 1
  loop
    -- One recompute per itinerary at a time, and the count below runs after the lock is taken
    -- (a fresh snapshot per statement), so a slower call can never overwrite newer counters.
    perform pg_advisory_xact_lock(hashtext('group.live_slots'), hashtext(target.itinerary_id));
    select count(*) filter (where p.opt_in),
           count(*) filter (where p.opt_in and p.visible),
           count(*) filter (where p.opt_in and p.visible and p.status = 'online')
      into n_opt_in, n_visible, n_online
      from concierge.presence p
     where p.itinerary_id = target.itinerary_id;
    insert into "group".live_slots as s
      (itinerary_id, group_id, escrow_id, presence_opt_in, presence_visible, presence_online,
       updated_at)
    values
      (target.itinerary_id, target.group_id, target.escrow_id, n_opt_in, n_visible, n_online,
       now())
    on conflict (itinerary_id) do update
      set presence_opt_in = excluded.presence_opt_in,
          presence_visible = excluded.presence_visible,
          presence_online = excluded.presence_online,
          updated_at = excluded.updated_at
      where (s.presence_opt_in, s.presence_visible, s.presence_online)
            is distinct from
            (excluded.presence_opt_in, excluded.presence_visible, excluded.presence_online);
    ids := ids || target.itinerary_id;
  end loop;
  return query
    select s.* from "group".live_slots s where s.itinerary_id = any(ids) order by s.itinerary_id;
end
$$;
revoke all on function "group".recompute_live_slots(text, text, text) from public, anon;
grant execute on function "group".recompute_live_slots(text, text, text)
  to authenticated, service_role;

select seed.publish('group', array['live_slots']);
select seed.publish('concierge', array['presence']);
