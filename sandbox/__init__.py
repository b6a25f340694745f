"""A local server that speaks the Supabase Realtime protocol over a real embedded PostgreSQL.

It shares no code with `feeds`, `metrics` or `dashboards`: they meet it only over the network,
as they would meet a hosted Supabase project.
"""
