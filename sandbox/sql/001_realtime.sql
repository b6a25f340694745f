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
    raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;  -- reference §13.1.12
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

-- A change arrives as soon as its commit is in the WAL, a moment before its transaction
-- becomes visible to other sessions (the committing backend leaves the proc array after it
-- flushes). A streamed change can win that race, so the row lookup first waits, briefly, until
-- the transaction `xid` (32 bits, from the change's Begin message) is visible.
create or replace function realtime.sandbox_wait_visible(xid bigint) returns void
language plpgsql as $$
declare
  next_xid bigint := pg_snapshot_xmax(pg_current_snapshot())::text::bigint;  -- with its epoch
  full_xid bigint := (next_xid >> 32 << 32) | xid;
  tries integer := 0;
begin
  -- the epoch that puts it nearest the snapshot's horizon
  if full_xid - next_xid > 2147483648 then
    full_xid := full_xid - 4294967296;
  elsif next_xid - full_xid > 2147483648 then
    full_xid := full_xid + 4294967296;
  end if;
  while full_xid > 2
    and not pg_visible_in_snapshot(full_xid::text::xid8, pg_current_snapshot())
    and tries < 1000
  loop
    perform pg_sleep(0.0002);
    tries := tries + 1;
  end loop;
end
$$;

drop function if exists realtime.sandbox_visibility(oid, text, jsonb, jsonb);
create or replace function realtime.sandbox_visibility(
  entity oid, action text, record jsonb, groups jsonb, xid bigint
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
    perform realtime.sandbox_wait_visible(xid);
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

-- `value` read as `type_` and turned into JSON, as supabase/realtime's realtime.cast
-- (priv/repo/tenant_schema/realtime/functions/cast.sql) does: the subscription check uses it
-- to refuse filter values that do not read as their column's type.
create or replace function realtime.cast(val text, type_ regtype) returns jsonb
language plpgsql immutable as $$
declare
  res jsonb;
begin
  if type_::text = 'bytea' then
    return to_jsonb(val);
  end if;
  execute format('select to_jsonb(%L::' || type_::text || ')', val) into res;
  return res;
end
$$;

-- What the server's subscription trigger refuses (supabase/realtime
-- priv/repo/tenant_schema/realtime/functions/subscription_check_filters.sql, reference §13.2),
-- for one published table, with the same exception texts: a filter column the role cannot
-- select (or that does not exist), a value or `in` list that does not cast to the column's type,
-- more than 100 `in` values, `is` values other than null/true/false/unknown and all but `null` on
-- non-boolean columns, like/ilike and match/imatch on types without those operators, a bad
-- regular expression, a `select` column the role cannot select.
create or replace function realtime.sandbox_check_filters(
  entity regclass, claims_role text, f_columns text[], f_ops text[], f_values text[],
  selected text[]
) returns void
language plpgsql as $$
declare
  col_names text[] := coalesce(array(
    select a.attname::text from pg_attribute a
    where a.attrelid = entity and a.attnum > 0 and not a.attisdropped
      and has_column_privilege(claims_role, a.attrelid, a.attnum, 'SELECT')
    order by a.attnum
  ), '{}');
  i integer;
  col_type regtype;
  op text;
  val text;
  in_val jsonb;
begin
  for i in 1 .. coalesce(cardinality(f_columns), 0) loop
    op := f_ops[i];
    val := f_values[i];
    if not f_columns[i] = any(col_names) then
      raise exception 'invalid column for filter %', f_columns[i];
    end if;
    col_type := a.atttypid::regtype from pg_attribute a
      where a.attrelid = entity and a.attname = f_columns[i];
    if op = 'in' then
      in_val := realtime.cast(val, (col_type::text || '[]')::regtype);
      if coalesce(jsonb_array_length(in_val), 0) > 100 then
        raise exception 'too many values for `in` filter. Maximum 100';
      end if;
    elsif op = 'is' then
      if val not in ('null', 'true', 'false', 'unknown') then
        raise exception 'invalid value for is filter: must be null, true, false, or unknown';
      end if;
      if val <> 'null' and col_type <> 'boolean'::regtype then
        raise exception 'is % filter requires a boolean column, got %', val, col_type::text;
      end if;
    elsif op in ('like', 'ilike') then
      if not exists (select from pg_operator where oprname = '~~' and oprleft = col_type) then
        raise exception 'operator % requires a text-compatible column type, got %',
          op, col_type::text;
      end if;
    elsif op in ('match', 'imatch') then
      if not exists (
        select from pg_operator
        where oprname = case when op = 'imatch' then '~*' else '~' end
          and oprleft = col_type and oprright = col_type and oprresult = 'boolean'::regtype
      ) then
        raise exception 'operator % requires a text-compatible column type, got %',
          op, col_type::text;
      end if;
      begin
        perform '' ~ val;
      exception when others then
        raise exception 'invalid regular expression for % filter: %', op, sqlerrm;
      end;
    else
      perform realtime.cast(val, col_type);
    end if;
  end loop;
  for i in 1 .. coalesce(cardinality(selected), 0) loop
    if not selected[i] = any(col_names) then
      raise exception 'invalid column for select %', selected[i];
    end if;
  end loop;
end
$$;

-- The published tables one postgres_changes binding covers, fixed when it subscribes: schema and
-- table are LIKE patterns in which `*` means any, as in the server's subscription insert
-- (lib/extensions/postgres_cdc_rls/subscriptions.ex); each table passes the check above first.
-- No row: the server's "Please check Realtime is enabled" refusal.
create or replace function realtime.sandbox_subscription_tables(
  claims_role text, p_schema text, p_table text, f_columns text[], f_ops text[],
  f_values text[], selected text[]
) returns table (schema_name text, table_name text)
language plpgsql as $$
declare
  entity regclass;
begin
  for schema_name, table_name, entity in
    select pub.schemaname::text, pub.tablename::text,
           format('%I.%I', pub.schemaname, pub.tablename)::regclass
    from pg_publication_tables pub
    where pub.pubname = 'supabase_realtime'
      and pub.schemaname like (case p_schema when '*' then '%' else p_schema end) escape ''
      and pub.tablename like (case p_table when '*' then '%' else p_table end) escape ''
    order by 1, 2
  loop
    perform realtime.sandbox_check_filters(
      entity, claims_role, f_columns, f_ops, f_values, selected
    );
    return next;
  end loop;
end
$$;
