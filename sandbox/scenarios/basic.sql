-- The basic demo's table: a few items whose values drift, in the realtime publication.
create table if not exists public.demo_items (
  id serial primary key,
  name text not null,
  value integer not null default 0,
  updated_at timestamptz not null default now()
);
grant all on public.demo_items to anon, authenticated, service_role;
grant all on sequence public.demo_items_id_seq to anon, authenticated, service_role;
do $$
begin
  if not exists (select from pg_publication_tables
                 where pubname = 'supabase_realtime' and schemaname = 'public'
                   and tablename = 'demo_items') then
    alter publication supabase_realtime add table public.demo_items;
  end if;
end
$$;
