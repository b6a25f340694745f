"""The PostgREST subset of a Supabase project, served at `/rest/v1`.

`supabase-py` (postgrest 2.34.1) and `supabase-js` (@supabase/postgrest-js 2.119.0) work against
it unchanged: `GET/HEAD/POST/PATCH/DELETE /rest/v1/{table}` and `GET/POST /rest/v1/rpc/{function}`,
with PostgREST's filters, `Prefer` handling, profiles (`Accept-Profile`/`Content-Profile`) and
error shapes. Every statement runs as the JWT's role with its claims, so RLS applies.

Modules: `query` parses the query string into a plan (pure), `sql` turns a plan into SQL with bind
parameters, `catalog` is the small schema cache, `handlers` does HTTP and execution, `errors` has
PostgREST's error shape and status table.

The exposed schemas are `public`, `group` and `concierge` (the first is the default), or the
comma-separated list in `SANDBOX_REST_SCHEMAS`, or what the caller passes to `add_routes`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from .handlers import RestApi

if TYPE_CHECKING:
    from ..server import Sandbox

DEFAULT_SCHEMAS = ("public", "group", "concierge", "homeser")
PREFIX = "/rest/v1"


def exposed_schemas() -> list[str]:
    env = os.environ.get("SANDBOX_REST_SCHEMAS", "")
    names = [s.strip() for s in env.split(",") if s.strip()]
    return names or list(DEFAULT_SCHEMAS)


def add_routes(
    app: web.Application, sandbox: Sandbox, schemas: Sequence[str] | None = None
) -> RestApi:
    api = RestApi(sandbox, list(schemas) if schemas else exposed_schemas())

    async def rpc(request: web.Request) -> web.StreamResponse:
        return await api.dispatch(request, api.rpc)

    async def table(request: web.Request) -> web.StreamResponse:
        return await api.dispatch(request, api.table)

    app.router.add_route("*", PREFIX + "/rpc/{function}", rpc)
    app.router.add_route("*", PREFIX + "/{table}", table)
    return api
