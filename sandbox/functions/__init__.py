"""Edge Functions the seeds call, served at Supabase's path: `POST /functions/v1/{name}`.

Each module holds one function; `add_routes` mounts them all on the sandbox's app, so
`supabase.functions.invoke(name, {body})` (supabase-js and supabase-py) works unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import live_slots

if TYPE_CHECKING:
    from ..server import Sandbox

FUNCTIONS = {live_slots.NAME: live_slots.handle}


def add_routes(app: web.Application, sandbox: Sandbox) -> None:
    for name, handle in FUNCTIONS.items():

        async def handler(request: web.Request, handle=handle) -> web.StreamResponse:
            return await handle(sandbox, request)

        app.router.add_route("*", f"/functions/v1/{name}", handler)
