-- Layer 5 (seed 001), part 2: the modules that run a production, on site and in the office.
-- Each table is scoped by `seed.layer5_scope` (020_layer5.sql) to a production (P) or a workspace
-- (W): the workspace's members read its rows, members other than viewers write them, and every
-- table is published. Idempotent: applied on every start.
--
--   project_milestones  P  a production's dated goals
--   events              W  a production's shows and sessions (what a run of show runs)
--   run_of_show         P  an event's cues in order: standby -> live -> done (or skipped); the
--                          cue that is live is what the show is doing now
--   locations           W  venues, warehouses, offices
--   bookings            W  a venue, crew, equipment, talent or vehicle held for a time
--   incidents           W  something went wrong on site: open -> investigating -> escalated ->
--                          resolved -> closed, with a category and a severity
--   teams, personnel    W  who works for the workspace, staff or freelance
--   time_entries        W  hours worked, per person and production
--   assets              W  equipment the workspace owns, and where it is
--   asset_transactions  W  an asset checked out, in, moved or serviced (append-only)
--   files               W  stored documents (their bucket path, not their bytes)
--
-- Workspace tables that also carry production_id do so for filters (`production_id=eq.{id}`, as
-- the seed's snippets filter). Changes carry the primary key only as old_record (the default
-- replica identity).

create table if not exists public.project_milestones (
  id uuid primary key default gen_random_uuid(),
  production_id uuid not null references public.productions (id) on delete cascade,
  title text not null,
  description text,
  due_date date,
  status text not null default 'upcoming'
    constraint project_milestones_status_check
    check (status in ('upcoming', 'at_risk', 'completed', 'missed')),
  position integer not null default 0,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists project_milestones_production_id_idx
  on public.project_milestones (production_id, due_date);

create table if not exists public.locations (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  name text not null,
  type text not null default 'venue'
    constraint locations_type_check check (type in ('venue', 'warehouse', 'office', 'site')),
  address text,
  city text,
  capacity integer,
  latitude numeric(9, 6),
  longitude numeric(9, 6),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists locations_workspace_id_idx on public.locations (workspace_id);

create table if not exists public.events (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete cascade,
  location_id uuid references public.locations (id) on delete set null,
  name text not null,
  type text not null default 'show'
    constraint events_type_check
    check (type in ('show', 'rehearsal', 'load_in', 'load_out', 'meeting')),
  status text not null default 'scheduled'
    constraint events_status_check
    check (status in ('scheduled', 'live', 'completed', 'cancelled')),
  starts_at timestamptz not null,
  ends_at timestamptz,
  capacity integer,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists events_workspace_id_idx on public.events (workspace_id, starts_at);
create index if not exists events_production_id_idx on public.events (production_id);

create table if not exists public.run_of_show (
  id uuid primary key default gen_random_uuid(),
  event_id uuid not null references public.events (id) on delete cascade,
  production_id uuid not null references public.productions (id) on delete cascade,
  position integer not null,
  cue text not null,
  title text not null,
  department text,
  planned_start timestamptz,
  duration_seconds integer not null default 60 check (duration_seconds >= 0),
  status text not null default 'standby'
    constraint run_of_show_status_check
    check (status in ('standby', 'live', 'done', 'skipped')),
  started_at timestamptz,
  ended_at timestamptz,
  called_by uuid,
  notes text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (event_id, position)
);
create index if not exists run_of_show_production_id_idx on public.run_of_show (production_id);

create table if not exists public.bookings (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete cascade,
  resource_type text not null
    constraint bookings_resource_type_check
    check (resource_type in ('venue', 'crew', 'equipment', 'talent', 'vehicle')),
  resource_id uuid,
  title text not null,
  starts_at timestamptz not null,
  ends_at timestamptz not null,
  status text not null default 'tentative'
    constraint bookings_status_check check (status in ('tentative', 'confirmed', 'cancelled')),
  booked_by uuid,
  notes text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (ends_at >= starts_at)
);
create index if not exists bookings_workspace_id_idx on public.bookings (workspace_id, starts_at);

create table if not exists public.incidents (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete cascade,
  event_id uuid references public.events (id) on delete set null,
  title text not null,
  description text,
  category text not null default 'operations'
    constraint incidents_category_check
    check (category in ('safety', 'medical', 'security', 'technical', 'weather', 'operations')),
  severity text not null default 'medium'
    constraint incidents_severity_check check (severity in ('low', 'medium', 'high', 'critical')),
  status text not null default 'open'
    constraint incidents_status_check
    check (status in ('open', 'investigating', 'escalated', 'resolved', 'closed')),
  location text,
  reported_by uuid,
  assigned_to uuid,
  escalated_at timestamptz,
  resolved_at timestamptz,
  resolution text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists incidents_workspace_id_idx
  on public.incidents (workspace_id, created_at);
create index if not exists incidents_production_id_idx on public.incidents (production_id, status);

create table if not exists public.teams (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  name text not null,
  department text,
  lead_user_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (workspace_id, name)
);

create table if not exists public.personnel (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  team_id uuid references public.teams (id) on delete set null,
  user_id uuid,
  full_name text not null,
  email text,
  phone text,
  job_title text,
  employment_type text not null default 'staff'
    constraint personnel_employment_type_check
    check (employment_type in ('staff', 'freelance', 'contractor', 'volunteer')),
  day_rate numeric(10, 2),
  status text not null default 'active'
    constraint personnel_status_check check (status in ('active', 'on_leave', 'inactive')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists personnel_workspace_id_idx on public.personnel (workspace_id);

create table if not exists public.time_entries (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete cascade,
  personnel_id uuid references public.personnel (id) on delete cascade,
  task_id uuid references public.project_tasks (id) on delete set null,
  started_at timestamptz not null,
  ended_at timestamptz,
  minutes integer check (minutes >= 0),
  description text,
  billable boolean not null default true,
  status text not null default 'draft'
    constraint time_entries_status_check
    check (status in ('draft', 'submitted', 'approved', 'rejected')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists time_entries_workspace_id_idx
  on public.time_entries (workspace_id, started_at);

create table if not exists public.assets (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  location_id uuid references public.locations (id) on delete set null,
  name text not null,
  category text not null default 'equipment',
  serial_number text,
  status text not null default 'available'
    constraint assets_status_check
    check (status in ('available', 'checked_out', 'maintenance', 'retired')),
  purchase_value numeric(12, 2),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists assets_workspace_id_idx on public.assets (workspace_id, status);

create table if not exists public.asset_transactions (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  asset_id uuid not null references public.assets (id) on delete cascade,
  production_id uuid references public.productions (id) on delete set null,
  type text not null
    constraint asset_transactions_type_check
    check (type in ('check_out', 'check_in', 'transfer', 'maintenance')),
  from_location_id uuid references public.locations (id) on delete set null,
  to_location_id uuid references public.locations (id) on delete set null,
  personnel_id uuid references public.personnel (id) on delete set null,
  performed_by uuid,
  notes text,
  created_at timestamptz not null default now()
);
create index if not exists asset_transactions_asset_id_idx
  on public.asset_transactions (asset_id, created_at);

create table if not exists public.files (
  id uuid primary key default gen_random_uuid(),
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  production_id uuid references public.productions (id) on delete cascade,
  name text not null,
  bucket text not null default 'files',
  path text not null,
  mime_type text,
  size_bytes bigint check (size_bytes >= 0),
  uploaded_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (bucket, path)
);
create index if not exists files_workspace_id_idx on public.files (workspace_id, created_at);

select seed.layer5_scope('project_milestones', 'production');
select seed.layer5_scope('locations', 'workspace');
select seed.layer5_scope('events', 'workspace');
select seed.layer5_scope('run_of_show', 'production');
select seed.layer5_scope('bookings', 'workspace');
select seed.layer5_scope('incidents', 'workspace');
select seed.layer5_scope('teams', 'workspace');
select seed.layer5_scope('personnel', 'workspace');
select seed.layer5_scope('time_entries', 'workspace');
select seed.layer5_scope('assets', 'workspace');
select seed.layer5_scope('asset_transactions', 'workspace');
select seed.layer5_scope('files', 'workspace');
