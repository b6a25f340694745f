"""A local server that speaks the Supabase Realtime protocol over a real embedded PostgreSQL.

It shares no code with `feeds`, `metrics` or `dashboards`: they meet it only over the network,
as they would meet a hosted Supabase project.

How it is put together (each part is given only the services it uses, see `services`):

* `server`: the composition root; `__main__` the CLI that prints the READY line.
* `services`, `limits`, `middleware`: what is built once and shared; tokens and CORS for HTTP.
* Realtime: `endpoints` (websocket, REST broadcast), `connection` (one socket's protocol),
  `channels`, `hub` (fan-out), `presence`, `serializers`, `access` (RLS decides who sees what),
  `changes` (WAL to hub, polled like Supabase or streamed), `subscriptions` (postgres_changes
  bindings checked when they subscribe), `pgchanges` (who gets a change, in what shape),
  `replication` and `pgoutput` (logical decoding), `filters`.
* Realtime failing as Supabase does: `lifecycle` (joins admitted or refused, and paced; restarts),
  `quotas` (the tenant's rate counters per plan), `replay` (realtime.messages, live and replayed).
* PostgreSQL: `database` (embedded or external), `as_role` (a session as a JWT's role, shared
  by Realtime, PostgREST and the scenarios), `pgtext` (PostgreSQL's text formats).
* Supabase's other surfaces: `rest` (PostgREST subset), `functions` (Edge Functions), `auth`
  (JWTs), `token` (a CLI that mints them); `admin` is the sandbox's own `/sandbox/v1`.
* `gotrue`: Supabase Auth at `/auth/v1` (sign up, sign in, refresh, user, logout), `auth.users`.
* `scenarios`: demo traffic, and the channels a monitor should watch to see it.
"""
