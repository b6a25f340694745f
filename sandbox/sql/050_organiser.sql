-- Organiser dashboard (seed 004, CS-P4-015): the clients and trips that several organisers edit
-- at once. Idempotent: applied on every start.
--
-- The dashboard subscribes to every change of both tables (`clients-changes`, `trips-changes`,
-- no filter) and resolves conflicts last-write-wins on `updated_at`, which a trigger keeps
-- current on every UPDATE. Every organiser sees every client and trip, so there is no RLS;
-- `organiser_id` records who owns (and `updated_by` who last edited) a row.

create table if not exists public.clients (
  id uuid primary key default gen_random_uuid(),
  organiser_id uuid not null,
  name text not null,
  email text,
  phone text,
  company text,
  status text not null default 'active'
    constraint clients_status_check check (status in ('lead', 'active', 'inactive')),
  notes text,
  updated_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists clients_organiser_id_idx on public.clients (organiser_id);

create table if not exists public.trips (
  id uuid primary key default gen_random_uuid(),
  client_id uuid not null references public.clients (id) on delete cascade,
  organiser_id uuid not null,
  name text not null,
  destination text not null,
  start_date date,
  end_date date,
  travellers integer not null default 1 constraint trips_travellers_check check (travellers > 0),
  budget numeric(12, 2),
  status text not null default 'draft'
    constraint trips_status_check
    check (status in ('draft', 'planning', 'confirmed', 'in_progress', 'completed', 'cancelled')),
  notes text,
  updated_by uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists trips_client_id_idx on public.trips (client_id);
create index if not exists trips_organiser_id_idx on public.trips (organiser_id);

grant all on public.clients, public.trips to anon, authenticated, service_role;

create or replace trigger clients_touch_updated_at before update on public.clients
  for each row execute function seed.touch_updated_at();
create or replace trigger trips_touch_updated_at before update on public.trips
  for each row execute function seed.touch_updated_at();

select seed.publish('public', array['clients', 'trips']);
