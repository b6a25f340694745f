-- Layer 5 (seed 001), part 1: the core tables and the production board, and the workspace
-- membership every Layer 5 table is scoped by. 021_layer5_operations.sql and
-- 022_layer5_business.sql add the other modules. Idempotent: applied on every start.
--
-- The seed's migrations publish 30 tables (7 core, 23 modules); all of them live in `public`, all
-- are in the realtime publication, all have a primary key and row level security. Who sees a row:
--
--   workspace members       `user_roles` (user_id, workspace_id, role) makes a user a member of
--                           a workspace; `public.workspace_role(workspace_id)` is their role
--                           there (null for outsiders) and `public.production_role(production_id)`
--                           the same through the production's workspace. Members read a
--                           workspace's rows, members other than viewers write them
--                           (`seed.layer5_scope`). service_role bypasses RLS; anon sees nothing.
--   the owner               notifications (a user's own rows), connections (its two parties)
--   signed-in users         user_presence, community posts marked public
--
-- The seed's client snippets and what they filter on:
--
--   productions             filtered by workspace_id        ("production-changes")
--   project_tasks           a Kanban board: status is the column, position the order in it;
--                           filtered by production_id       ("task-updates")
--   budgets                 UPDATEs filtered by production_id ("budget-updates")
--   financial_transactions  INSERTs filtered by production_id ("budget-updates")
--   notifications           INSERTs filtered by user_id     ("notifications")
--   user_presence           the persisted side of "who's online"
--
-- Here too: organizations (a company's workspaces), workspaces, user_roles, activities (the
-- workspace's feed: who did what to which row, append-only) and comments (on any row, by
-- entity_type and entity_id).

create table if not exists public.organizations (
  id uuid primary key default gen_random_uuid(),
  name text not null,
  slug text unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists public.workspaces (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid,
  name text not null,
  slug text unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists public.user_roles (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  role text not null default 'member'
    constraint user_roles_role_check
    check (role in ('owner', 'admin', 'manager', 'member', 'viewer')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (user_id, workspace_id)
);
create index if not exists user_roles_workspace_id_idx on public.user_roles (workspace_id);

-- Data directories made before organizations existed keep their workspaces' values unchecked.
do $$
begin
  if not exists (select from pg_constraint where conname = 'workspaces_organization_id_fkey') then
    alter table public.workspaces add constraint workspaces_organization_id_fkey
      foreign key (organization_id) references public.organizations (id) on delete set null
      not valid;
  end if;
end
$$;

create table if not exists public.productions (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  name text not null,
  status text not null default 'planning'
    constraint productions_status_check
    check (status in ('planning', 'pre_production', 'in_production', 'post_production',
                      'wrapped')),
  venue text,
  start_date date,
  end_date date,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists productions_workspace_id_idx on public.productions (workspace_id);

create table if not exists public.project_tasks (
  id uuid primary key default gen_random_uuid(),
  production_id uuid not null references public.productions (id) on delete cascade,
  title text not null,
  description text,
  status text not null default 'backlog'
    constraint project_tasks_status_check
    check (status in ('backlog', 'todo', 'in_progress', 'review', 'done')),
  position integer not null default 0,
  priority text not null default 'medium'
    constraint project_tasks_priority_check check (priority in ('low', 'medium', 'high', 'urgent')),
  assignee_id uuid,
  due_date date,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists project_tasks_production_id_idx
  on public.project_tasks (production_id, status, position);
-- The board's DELETE handler reads payload.old.id on a channel filtered by production_id: a
-- DELETE can only match that filter if the old row carries production_id.
alter table public.project_tasks replica identity full;

create table if not exists public.budgets (
  id uuid primary key default gen_random_uuid(),
  production_id uuid not null references public.productions (id) on delete cascade,
  category text not null,
  amount_allocated numeric(12, 2) not null default 0,
  amount_spent numeric(12, 2) not null default 0,
  currency text not null default 'USD',
  alert_threshold numeric(4, 3) not null default 0.9,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (production_id, category)
);

create table if not exists public.financial_transactions (
  id uuid primary key default gen_random_uuid(),
  production_id uuid not null references public.productions (id) on delete cascade,
  budget_id uuid references public.budgets (id) on delete set null,
  type text not null default 'expense'
    constraint financial_transactions_type_check check (type in ('expense', 'refund')),
  amount numeric(12, 2) not null,
  currency text not null default 'USD',
  description text,
  vendor text,
  transaction_date date not null default current_date,
  created_by uuid,
  created_at timestamptz not null default now()
);
create index if not exists financial_transactions_production_id_idx
  on public.financial_transactions (production_id, created_at);

create table if not exists public.notifications (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null,
  workspace_id uuid references public.workspaces (id) on delete cascade,
  type text not null,
  title text not null,
  message text,
  data jsonb not null default '{}',
  read_at timestamptz,
  created_at timestamptz not null default now()
);
create index if not exists notifications_user_id_idx on public.notifications (user_id, created_at);

create table if not exists public.user_presence (
  user_id uuid primary key,
  workspace_id uuid references public.workspaces (id) on delete cascade,
  status text not null default 'offline'
    constraint user_presence_status_check check (status in ('online', 'away', 'offline')),
  location text,
  last_seen_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table if not exists public.activities (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete cascade,
  actor_id uuid,
  action text not null,
  entity_type text not null,
  entity_id uuid,
  summary text,
  data jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index if not exists activities_workspace_id_idx
  on public.activities (workspace_id, created_at);

create table if not exists public.comments (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  entity_type text not null,
  entity_id uuid not null,
  parent_id uuid references public.comments (id) on delete cascade,
  author_id uuid not null,
  body text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists comments_entity_idx
  on public.comments (entity_type, entity_id, created_at);

-- Membership. Security definer, so the policies that call them do not recurse into user_roles'
-- own policies; an empty search_path, so a caller's cannot redirect them.
create or replace function public.workspace_role(p_workspace uuid) returns text
language sql stable security definer set search_path = '' as $$
  select r.role from public.user_roles r
  where r.workspace_id = p_workspace and r.user_id = (select auth.uid())
$$;

create or replace function public.production_role(p_production uuid) returns text
language sql stable security definer set search_path = '' as $$
  select r.role from public.productions p
  join public.user_roles r on r.workspace_id = p.workspace_id
  where p.id = p_production and r.user_id = (select auth.uid())
$$;

grant execute on function public.workspace_role(uuid), public.production_role(uuid)
  to anon, authenticated, service_role;

-- What every workspace- or production-scoped table gets: the API roles' grants, RLS with two
-- policies (members of the owning workspace read its rows; members other than viewers write
-- them), an updated_at trigger if it has that column, and a place in the publication.
create or replace function seed.layer5_scope(p_table text, p_scope text) returns void
language plpgsql as $$
declare
  role_of text := case p_scope
    when 'workspace' then 'public.workspace_role(workspace_id)'
    when 'production' then 'public.production_role(production_id)'
  end;
  reader text := 'members read ' || p_table;
  writer text := 'editors write ' || p_table;
begin
  if role_of is null then
    raise exception 'seed.layer5_scope(%): scope must be workspace or production, not %',
      p_table, p_scope;
  end if;
  execute format('grant all on public.%I to anon, authenticated, service_role', p_table);
  execute format('alter table public.%I enable row level security', p_table);
  execute format('drop policy if exists %I on public.%I', reader, p_table);
  execute format('create policy %I on public.%I for select to authenticated using (%s is not null)',
                 reader, p_table, role_of);
  execute format('drop policy if exists %I on public.%I', writer, p_table);
  execute format('create policy %I on public.%I for all to authenticated '
                 'using (%s <> ''viewer'') with check (%s <> ''viewer'')',
                 writer, p_table, role_of, role_of);
  if exists (select from pg_attribute
             where attrelid = format('public.%I', p_table)::regclass
               and attname = 'updated_at' and not attisdropped) then
    execute format('create or replace trigger %I before update on public.%I '
                   'for each row execute function seed.touch_updated_at()',
                   p_table || '_touch_updated_at', p_table);
  end if;
  perform seed.publish('public', array[p_table]);
end
$$;

select seed.layer5_scope('productions', 'workspace');
select seed.layer5_scope('project_tasks', 'production');
select seed.layer5_scope('budgets', 'production');
select seed.layer5_scope('financial_transactions', 'production');

-- The core tables' own rules.
grant all on public.organizations, public.workspaces, public.user_roles, public.activities,
  public.comments, public.notifications, public.user_presence
  to anon, authenticated, service_role;

create or replace trigger organizations_touch_updated_at before update on public.organizations
  for each row execute function seed.touch_updated_at();
create or replace trigger workspaces_touch_updated_at before update on public.workspaces
  for each row execute function seed.touch_updated_at();
create or replace trigger user_roles_touch_updated_at before update on public.user_roles
  for each row execute function seed.touch_updated_at();
create or replace trigger comments_touch_updated_at before update on public.comments
  for each row execute function seed.touch_updated_at();
create or replace trigger user_presence_touch_updated_at before update on public.user_presence
  for each row execute function seed.touch_updated_at();

alter table public.organizations enable row level security;
alter table public.workspaces enable row level security;
alter table public.user_roles enable row level security;
alter table public.activities enable row level security;
alter table public.comments enable row level security;

-- An organization is visible to members of any of its workspaces.
drop policy if exists "members read organizations" on public.organizations;
create policy "members read organizations" on public.organizations
  for select to authenticated using (
    exists (select from public.workspaces w
            where w.organization_id = organizations.id
              and public.workspace_role(w.id) is not null));

drop policy if exists "members read workspaces" on public.workspaces;
create policy "members read workspaces" on public.workspaces
  for select to authenticated using (public.workspace_role(id) is not null);
drop policy if exists "admins update workspaces" on public.workspaces;
create policy "admins update workspaces" on public.workspaces
  for update to authenticated
  using (public.workspace_role(id) in ('owner', 'admin'))
  with check (public.workspace_role(id) in ('owner', 'admin'));

drop policy if exists "members read user_roles" on public.user_roles;
create policy "members read user_roles" on public.user_roles
  for select to authenticated using (public.workspace_role(workspace_id) is not null);
drop policy if exists "admins manage user_roles" on public.user_roles;
create policy "admins manage user_roles" on public.user_roles
  for all to authenticated
  using (public.workspace_role(workspace_id) in ('owner', 'admin'))
  with check (public.workspace_role(workspace_id) in ('owner', 'admin'));

drop policy if exists "members read activities" on public.activities;
create policy "members read activities" on public.activities
  for select to authenticated using (public.workspace_role(workspace_id) is not null);
drop policy if exists "editors log own activities" on public.activities;
create policy "editors log own activities" on public.activities
  for insert to authenticated
  with check (public.workspace_role(workspace_id) <> 'viewer'
              and actor_id = (select auth.uid()));

drop policy if exists "members read comments" on public.comments;
create policy "members read comments" on public.comments
  for select to authenticated using (public.workspace_role(workspace_id) is not null);
drop policy if exists "members comment as themselves" on public.comments;
create policy "members comment as themselves" on public.comments
  for insert to authenticated
  with check (public.workspace_role(workspace_id) is not null
              and author_id = (select auth.uid()));
drop policy if exists "authors edit own comments" on public.comments;
create policy "authors edit own comments" on public.comments
  for update to authenticated
  using (author_id = (select auth.uid()))
  with check (author_id = (select auth.uid()));
drop policy if exists "authors delete own comments" on public.comments;
create policy "authors delete own comments" on public.comments
  for delete to authenticated using (author_id = (select auth.uid()));

-- Per-user rows.
alter table public.notifications enable row level security;
alter table public.user_presence enable row level security;
drop policy if exists "users read own notifications" on public.notifications;
create policy "users read own notifications" on public.notifications
  for select to authenticated using (user_id = (select auth.uid()));
drop policy if exists "users insert own notifications" on public.notifications;
create policy "users insert own notifications" on public.notifications
  for insert to authenticated with check (user_id = (select auth.uid()));
drop policy if exists "users update own notifications" on public.notifications;
create policy "users update own notifications" on public.notifications
  for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));
drop policy if exists "users delete own notifications" on public.notifications;
create policy "users delete own notifications" on public.notifications
  for delete to authenticated using (user_id = (select auth.uid()));

drop policy if exists "signed-in users read presence" on public.user_presence;
create policy "signed-in users read presence" on public.user_presence
  for select to authenticated using (true);
drop policy if exists "users insert own presence" on public.user_presence;
create policy "users insert own presence" on public.user_presence
  for insert to authenticated with check (user_id = (select auth.uid()));
drop policy if exists "users update own presence" on public.user_presence;
create policy "users update own presence" on public.user_presence
  for update to authenticated
  using (user_id = (select auth.uid())) with check (user_id = (select auth.uid()));

select seed.publish('public', array['organizations', 'workspaces', 'user_roles', 'activities',
                                     'comments', 'notifications', 'user_presence']);
