-- Database broadcasts beyond realtime.send (reference §4.5, §13.4), as supabase/realtime's
-- tenant migrations define them: binary payloads (20260514120000_add_binary_payload_to_messages,
-- priv/repo/tenant_schema/realtime/functions/send_binary.sql), the trigger helper
-- (functions/broadcast_changes.sql) and the index replays read (20250905041441).

alter table realtime.messages add column if not exists binary_payload bytea;

do $$
begin
  if not exists (select from pg_constraint where conname = 'messages_payload_exclusive'
                 and conrelid = 'realtime.messages'::regclass) then
    alter table realtime.messages add constraint messages_payload_exclusive
      check (payload is null or binary_payload is null) not valid;
  end if;
end
$$;

create index if not exists messages_inserted_at_topic_index
  on realtime.messages (inserted_at desc, topic)
  where extension = 'broadcast' and private is true;

-- Inserts a broadcast whose payload is bytes: vsn 2 clients get them as a binary kind-4 frame,
-- vsn 1 clients never see them (they cannot represent binary payloads).
create or replace function realtime.send_binary(
  payload bytea, event text, topic text, private boolean default true
) returns void
language plpgsql as $$
declare
  generated_id uuid;
begin
  begin
    generated_id := gen_random_uuid();
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, binary_payload, event, topic, private, extension)
    values (generated_id, payload, event, topic, private, 'broadcast');
  exception when others then
    raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end
$$;
grant execute on function realtime.send_binary(bytea, text, text, boolean)
  to anon, authenticated, service_role;

-- The trigger helper: `perform realtime.broadcast_changes('topic:' || new.id, tg_op, tg_op,
-- tg_table_name, tg_table_schema, new, old)` in a row trigger sends the row change as a private
-- broadcast {old_record, record, operation, table, schema} (plus the `id` realtime.send adds).
create or replace function realtime.broadcast_changes(
  topic_name text,
  event_name text,
  operation text,
  table_name text,
  table_schema text,
  new record,
  old record,
  level text default 'ROW'::text
) returns void
language plpgsql as $$
declare
  row_data jsonb := '{}'::jsonb;
begin
  if level = 'STATEMENT' then
    raise exception 'function can only be triggered for each row, not for each statement';
  end if;
  if operation = 'INSERT' or operation = 'UPDATE' or operation = 'DELETE' then
    row_data := jsonb_build_object(
      'old_record', old, 'record', new, 'operation', operation, 'table', table_name,
      'schema', table_schema
    );
    perform realtime.send(row_data, event_name, topic_name);
  else
    raise exception 'Unexpected operation type: %', operation;
  end if;
exception
  when others then
    raise exception 'Failed to process the row: %', sqlerrm;
end
$$;
grant execute on function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  to anon, authenticated, service_role;
