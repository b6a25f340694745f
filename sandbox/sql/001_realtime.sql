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

-- postgres_changes visibility, decided as supabase/realtime's `realtime.apply_rls` decides it
-- (priv/repo/tenant_schema/realtime/functions/apply_rls.sql, with the primary-key lookup of
-- build_prepared_statement_sql.sql; reference §13.2). One call per change answers for every
-- group of subscribers sharing a role and claims (`groups`: [{"role", "claims"}, ...]):
-- * `selectable`: the columns the role may SELECT (column privileges, RLS or not);
-- * `error`: 'Error 400: Bad Request, no primary key' for an INSERT/UPDATE on a table without a
--   primary key, 'Error 401: Unauthorized' when the role may not select the whole key;
-- * `visible`: with RLS on, whether the row is found BY PRIMARY KEY ONLY, as the role with its
--   claims; the key values are untyped literals (`quote_nullable`), so PostgreSQL compares them
--   as the column's own type. DELETEs and tables without RLS are not looked up.
-- `record` is the change's record as sent (to_jsonb values); `record ->> key` is the text the
-- server casts back.
create or replace function realtime.sandbox_row_visible(role text, claims jsonb)
returns boolean
language plpgsql as $$
declare
  found_row boolean;
begin
  perform set_config('request.jwt.claims', claims::text, true),
          set_config('request.jwt.claim.sub', coalesce(claims ->> 'sub', ''), true),
          set_config('request.jwt.claim.role', role, true),
          set_config('realtime.topic', '', true),
          set_config('role', role, true);
  execute 'execute sandbox_rls_stmt' into found_row;
  perform set_config('role', null, true);
  return coalesce(found_row, false);
exception when others then
  -- a policy that fails for this role hides the row from it (the block's settings roll back)
  return false;
end
$$;

create or replace function realtime.sandbox_visibility(
  entity oid, action text, record jsonb, groups jsonb
) returns table (
  grp integer, is_rls boolean, pkey text[], selectable text[], error text, visible boolean
)
language plpgsql as $$
declare
  g record;
  prepared boolean := false;
  role_seen text;
begin
  is_rls := c.relrowsecurity from pg_class c where c.oid = entity;
  if is_rls is null then
    return;  -- the table is gone: nobody sees the change
  end if;
  pkey := array(
    select a.attname::text
    from pg_constraint c, unnest(c.conkey) with ordinality k(attnum, n), pg_attribute a
    where c.conrelid = entity and c.contype = 'p'
      and a.attrelid = entity and a.attnum = k.attnum
    order by k.n
  );
  if is_rls and action <> 'DELETE' and cardinality(pkey) > 0 then
    -- prepared once per change and executed per group, as apply_rls's walrus_rls_stmt
    if exists (select from pg_prepared_statements where name = 'sandbox_rls_stmt') then
      deallocate sandbox_rls_stmt;
    end if;
    execute 'prepare sandbox_rls_stmt as select exists(select 1 from '
      || entity::regclass::text || ' where '
      || (select string_agg(quote_ident(k) || ' = ' || quote_nullable(record ->> k), ' and ')
          from unnest(pkey) k)
      || ')';
    prepared := true;
  end if;
  for g in
    select (n - 1)::integer as i, x ->> 'role' as role, x -> 'claims' as claims
    from jsonb_array_elements(groups) with ordinality t(x, n)
  loop
    grp := g.i;
    if role_seen is distinct from g.role then  -- groups come sorted by role
      role_seen := g.role;
      selectable := array(
        select a.attname::text from pg_attribute a
        where a.attrelid = entity and a.attnum > 0 and not a.attisdropped
          and has_column_privilege(g.role, entity, a.attnum, 'SELECT')
        order by a.attnum
      );
    end if;
    error := null;
    visible := true;
    if action <> 'DELETE' and cardinality(pkey) = 0 then
      error := 'Error 400: Bad Request, no primary key';
    elsif action <> 'DELETE' and not pkey <@ selectable then
      error := 'Error 401: Unauthorized';
    elsif prepared then
      visible := realtime.sandbox_row_visible(g.role, g.claims);
    end if;
    return next;
  end loop;
end
$$;
