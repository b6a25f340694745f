"""The PostgREST subset of a Supabase project, served at `/rest/v1`.

`supabase-py` (postgrest 2.34.1) and `supabase-js` (@supabase/postgrest-js 2.119.0) work against
it unchanged: `GET/HEAD/POST/PATCH/DELETE /rest/v1/{table}` and `GET/POST /rest/v1/rpc/{function}`,
with PostgREST's filters, `Prefer` handling, profiles (`Accept-Profile`/`Content-Profile`) and
error shapes. Every statement runs as the JWT's role with its claims, so RLS applies.

Modules: `query` parses the query string into a plan (pure), `sql` turns a plan into SQL with bind
parameters, `catalog` is the small schema cache, `http` is the request plumbing (context, errors,
CORS, the transaction as the caller's role via `sandbox.as_role`), `verbs` the table verbs and
`rpc` function calls; `errors` has PostgREST's error shape and status table.

The exposed schemas are `public`, `group`, `concierge` and `homeser` (the first is the default),
or the comma-separated list in `SANDBOX_REST_SCHEMAS`, or what the caller passes to `add_routes`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import asyncpg
from aiohttp import web

from ..middleware import Policies
from . import http
from .catalog import Catalog
from .rpc import Rpc
from .verbs import Tables

DEFAULT_SCHEMAS = ("public", "group", "concierge", "homeser")
PREFIX = "/rest/v1"


def exposed_schemas() -> list[str]:
    env = os.environ.get("SANDBOX_REST_SCHEMAS", "")
    names = [s.strip() for s in env.split(",") if s.strip()]
    return names or list(DEFAULT_SCHEMAS)


def add_routes(
    app: web.Application,
    pool: asyncpg.Pool,
    policies: Policies,
    schemas: Sequence[str] | None = None,
) -> None:
    """Mount `/rest/v1` on `app`; the caller's token and CORS are the middlewares' work."""
    exposed = list(schemas) if schemas else exposed_schemas()
    catalog = Catalog()
    tables, rpc = Tables(pool, catalog), Rpc(pool, catalog)

    async def call(request: web.Request) -> web.StreamResponse:
        return await http.answer(request, exposed, rpc.handle)

    async def table(request: web.Request) -> web.StreamResponse:
        return await http.answer(request, exposed, tables.handle)

    for route in (
        app.router.add_route("*", PREFIX + "/rpc/{function}", call),
        app.router.add_route("*", PREFIX + "/{table}", table),
    ):
        policies.route(route, token=http.TOKENS, cors=http.CORS)
