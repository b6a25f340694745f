-- Layer 5 (seed 001): the core and module tables its realtime snippets use. Idempotent: applied
-- on every start.
--
--   productions             filtered by workspace_id        ("production-changes")
--   project_tasks           a Kanban board: status is the column, position the order in it;
--                           filtered by production_id       ("task-updates")
--   budgets                 UPDATEs filtered by production_id ("budget-updates")
--   financial_transactions  INSERTs filtered by production_id ("budget-updates")
--   notifications           INSERTs filtered by user_id; RLS: a user sees and writes only their
--                           own rows, so postgres_changes reach only the owner ("notifications")
--   user_presence           the persisted side of "who's online"; RLS: every signed-in user
--                           reads it, each writes only their own row
--   workspaces              what productions.workspace_id points at
--
-- All live in `public` and in the realtime publication, as the seed's migrations configure them.
-- Tables without per-user data have no RLS (Supabase's default grants apply, see 000_roles.sql).

create table if not exists public.workspaces (
  id uuid primary key default gen_random_uuid(),
  organization_id uuid,
  name text not null,
  slug text unique,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

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

grant all on public.workspaces, public.productions, public.project_tasks, public.budgets,
  public.financial_transactions, public.notifications, public.user_presence
  to anon, authenticated, service_role;

create or replace trigger workspaces_touch_updated_at before update on public.workspaces
  for each row execute function seed.touch_updated_at();
create or replace trigger productions_touch_updated_at before update on public.productions
  for each row execute function seed.touch_updated_at();
create or replace trigger project_tasks_touch_updated_at before update on public.project_tasks
  for each row execute function seed.touch_updated_at();
create or replace trigger budgets_touch_updated_at before update on public.budgets
  for each row execute function seed.touch_updated_at();
create or replace trigger user_presence_touch_updated_at before update on public.user_presence
  for each row execute function seed.touch_updated_at();

-- Per-user rows. service_role bypasses RLS, as on Supabase; anon sees nothing.
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

select seed.publish('public', array['workspaces', 'productions', 'project_tasks', 'budgets',
                                     'financial_transactions', 'notifications', 'user_presence']);
