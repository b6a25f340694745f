-- Layer 5 (seed 001), part 3: the business modules (money, sign-off, other companies) and the
-- community around the workspaces. Idempotent: applied on every start.
--
--   companies           W  clients, vendors, partners and venues the workspace deals with
--   invoices            W  to clients: draft -> sent -> paid (or overdue, void)
--   purchase_orders     W  to vendors: draft -> submitted -> approved -> ordered -> received
--   approval_requests   W  a sign-off asked of one person: pending -> approved or rejected (or
--                          cancelled by the requester), on any row by entity_type and entity_id
--   marketplace_orders     one workspace buying from another's listing; both sides see it
--   community_posts        the professional network's feed: public to every signed-in user, or
--                          to one workspace's members
--   connections            one person asking to connect with another; only the two see it
--
-- W: scoped to the workspace by `seed.layer5_scope` (020_layer5.sql). The last three have rules
-- of their own, below.

create table if not exists public.companies (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  name text not null,
  type text not null default 'vendor'
    constraint companies_type_check check (type in ('client', 'vendor', 'partner', 'venue')),
  website text,
  email text,
  phone text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists companies_workspace_id_idx on public.companies (workspace_id, name);

create table if not exists public.invoices (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete set null,
  company_id uuid references public.companies (id) on delete set null,
  number text not null,
  status text not null default 'draft'
    constraint invoices_status_check
    check (status in ('draft', 'sent', 'paid', 'overdue', 'void')),
  amount numeric(12, 2) not null default 0,
  currency text not null default 'USD',
  issued_on date,
  due_on date,
  paid_at timestamptz,
  created_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, number)
);

create table if not exists public.purchase_orders (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete set null,
  company_id uuid references public.companies (id) on delete set null,
  budget_id uuid references public.budgets (id) on delete set null,
  number text not null,
  description text,
  status text not null default 'draft'
    constraint purchase_orders_status_check
    check (status in ('draft', 'submitted', 'approved', 'ordered', 'received', 'cancelled')),
  amount numeric(12, 2) not null default 0,
  currency text not null default 'USD',
  requested_by uuid,
  approved_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, number)
);

create table if not exists public.approval_requests (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete cascade,
  entity_type text not null
    constraint approval_requests_entity_type_check
    check (entity_type in ('purchase_order', 'invoice', 'time_entry', 'budget', 'booking',
                           'file', 'expense')),
  entity_id uuid,
  title text not null,
  amount numeric(12, 2),
  currency text not null default 'USD',
  requested_by uuid not null,
  approver_id uuid not null,
  status text not null default 'pending'
    constraint approval_requests_status_check
    check (status in ('pending', 'approved', 'rejected', 'cancelled')),
  decided_at timestamptz,
  decision_note text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists approval_requests_workspace_id_idx
  on public.approval_requests (workspace_id, status, created_at);
create index if not exists approval_requests_approver_id_idx
  on public.approval_requests (approver_id, status);

create table if not exists public.marketplace_orders (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  seller_workspace_id uuid references public.workspaces (id) on delete set null,
  listing_title text not null,
  quantity integer not null default 1 check (quantity > 0),
  amount numeric(12, 2) not null,
  currency text not null default 'USD',
  status text not null default 'pending'
    constraint marketplace_orders_status_check
    check (status in ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
  buyer_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists marketplace_orders_workspace_id_idx
  on public.marketplace_orders (workspace_id, created_at);
create index if not exists marketplace_orders_seller_workspace_id_idx
  on public.marketplace_orders (seller_workspace_id, created_at);

create table if not exists public.community_posts (
  id uuid primary key default gen_random_uuid(),
  author_id uuid not null,
  workspace_id uuid references public.workspaces (id) on delete cascade,
  visibility text not null default 'public'
    constraint community_posts_visibility_check check (visibility in ('public', 'workspace')),
  body text not null,
  media_url text,
  likes_count integer not null default 0,
  comments_count integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (visibility = 'public' or workspace_id is not null)
);
create index if not exists community_posts_created_at_idx on public.community_posts (created_at);

create table if not exists public.connections (
  id uuid primary key default gen_random_uuid(),
  requester_id uuid not null,
  addressee_id uuid not null,
  status text not null default 'pending'
    constraint connections_status_check
    check (status in ('pending', 'accepted', 'declined', 'blocked')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (requester_id, addressee_id),
  check (requester_id <> addressee_id)
);
create index if not exists connections_addressee_id_idx on public.connections (addressee_id);

select seed.layer5_scope('companies', 'workspace');
select seed.layer5_scope('invoices', 'workspace');
select seed.layer5_scope('purchase_orders', 'workspace');
select seed.layer5_scope('approval_requests', 'workspace');

grant all on public.marketplace_orders, public.community_posts, public.connections
  to anon, authenticated, service_role;

create or replace trigger marketplace_orders_touch_updated_at
  before update on public.marketplace_orders
  for each row execute function seed.touch_updated_at();
create or replace trigger community_posts_touch_updated_at before update on public.community_posts
  for each row execute function seed.touch_updated_at();
create or replace trigger connections_touch_updated_at before update on public.connections
  for each row execute function seed.touch_updated_at();

alter table public.marketplace_orders enable row level security;
alter table public.community_posts enable row level security;
alter table public.connections enable row level security;

-- An order concerns two workspaces: the buyer's members place it, both sides' members follow it.
drop policy if exists "both sides read marketplace orders" on public.marketplace_orders;
create policy "both sides read marketplace orders" on public.marketplace_orders
  for select to authenticated
  using (public.workspace_role(workspace_id) is not null
         or public.workspace_role(seller_workspace_id) is not null);
drop policy if exists "buyers place marketplace orders" on public.marketplace_orders;
create policy "buyers place marketplace orders" on public.marketplace_orders
  for insert to authenticated
  with check (public.workspace_role(workspace_id) <> 'viewer'
              and buyer_id = (select auth.uid()));
drop policy if exists "both sides update marketplace orders" on public.marketplace_orders;
create policy "both sides update marketplace orders" on public.marketplace_orders
  for update to authenticated
  using (public.workspace_role(workspace_id) <> 'viewer'
         or public.workspace_role(seller_workspace_id) <> 'viewer')
  with check (public.workspace_role(workspace_id) <> 'viewer'
              or public.workspace_role(seller_workspace_id) <> 'viewer');

drop policy if exists "signed-in users read community posts" on public.community_posts;
create policy "signed-in users read community posts" on public.community_posts
  for select to authenticated
  using (visibility = 'public' or public.workspace_role(workspace_id) is not null);
drop policy if exists "authors post as themselves" on public.community_posts;
create policy "authors post as themselves" on public.community_posts
  for insert to authenticated
  with check (author_id = (select auth.uid())
              and (workspace_id is null or public.workspace_role(workspace_id) is not null));
drop policy if exists "authors edit own posts" on public.community_posts;
create policy "authors edit own posts" on public.community_posts
  for update to authenticated
  using (author_id = (select auth.uid())) with check (author_id = (select auth.uid()));
drop policy if exists "authors delete own posts" on public.community_posts;
create policy "authors delete own posts" on public.community_posts
  for delete to authenticated using (author_id = (select auth.uid()));

drop policy if exists "parties read connections" on public.connections;
create policy "parties read connections" on public.connections
  for select to authenticated
  using ((select auth.uid()) in (requester_id, addressee_id));
drop policy if exists "users request connections" on public.connections;
create policy "users request connections" on public.connections
  for insert to authenticated with check (requester_id = (select auth.uid()));
drop policy if exists "parties answer connections" on public.connections;
create policy "parties answer connections" on public.connections
  for update to authenticated
  using ((select auth.uid()) in (requester_id, addressee_id))
  with check ((select auth.uid()) in (requester_id, addressee_id));
drop policy if exists "parties remove connections" on public.connections;
create policy "parties remove connections" on public.connections
  for delete to authenticated using ((select auth.uid()) in (requester_id, addressee_id));

select seed.publish('public', array['marketplace_orders', 'community_posts', 'connections']);
