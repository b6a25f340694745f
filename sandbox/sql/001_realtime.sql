-- The realtime schema as private channels and database broadcasts use it (reference §4.5, §7).
create schema if not exists realtime;
grant usage on schema realtime to anon, authenticated, service_role;

create table if not exists realtime.messages (
  id uuid primary key default gen_random_uuid(),
  topic text not null,
  extension text not null,
  payload jsonb,
  event text,
  private boolean default false,
  updated_at timestamp not null default now(),
  inserted_at timestamp not null default now()
);
create index if not exists messages_inserted_at_idx on realtime.messages (inserted_at);
alter table realtime.messages enable row level security;
grant select, insert, update on realtime.messages to anon, authenticated, service_role;

create or replace function realtime.topic() returns text
language sql stable as $$
  select nullif(current_setting('realtime.topic', true), '')::text
$$;

-- Inserts a broadcast message; the sandbox reads it from the WAL and delivers it with meta.id.
create or replace function realtime.send(
  payload jsonb, event text, topic text, private boolean default true
) returns void
language plpgsql as $$
declare
  message_id uuid := gen_random_uuid();
begin
  begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, payload, event, topic, private, extension)
    values (
      message_id,
      case when payload ? 'id' then payload
           else payload || jsonb_build_object('id', message_id) end,
      event, topic, private, 'broadcast'
    );
  exception when others then
    raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
  end;
end
$$;
grant execute on function realtime.send(jsonb, text, text, boolean) to anon, authenticated, service_role;

do $$
begin
  if not exists (select from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
  if not exists (select from pg_publication where pubname = 'supabase_realtime_messages_publication') then
    create publication supabase_realtime_messages_publication
      for table realtime.messages with (publish = 'insert');
  end if;
end
$$;

-- Helpers for the seed files that follow, which are applied on every start and so must be
-- idempotent. They live in a schema PostgREST does not expose.
create schema if not exists seed;
grant usage on schema seed to anon, authenticated, service_role;

-- Add tables to the supabase_realtime publication, skipping those already in it (ALTER
-- PUBLICATION ... ADD TABLE fails on a table that is already published).
create or replace function seed.publish(p_schema text, p_tables text[]) returns void
language plpgsql as $$
declare
  t text;
begin
  foreach t in array p_tables loop
    if not exists (select from pg_publication_tables
                   where pubname = 'supabase_realtime' and schemaname = p_schema
                     and tablename = t) then
      execute format('alter publication supabase_realtime add table %I.%I', p_schema, t);
    end if;
  end loop;
end
$$;

-- BEFORE UPDATE trigger function: stamps updated_at, so clients can order and dedupe changes.
-- Trigger functions run as the caller, hence the grants above.
create or replace function seed.touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end
$$;
