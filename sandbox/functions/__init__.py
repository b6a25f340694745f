"""Edge Functions the seeds call, served at Supabase's path: `POST /functions/v1/{name}`.

Each module holds one function; `add_routes` mounts them all on the sandbox's app, so
`supabase.functions.invoke(name, {body})` (supabase-js and supabase-py) works unchanged.

What the Supabase CLI's edge runtime does in front of every function with `verify_jwt = true` is
done here once, as policies for the sandbox's middlewares: any JWT signed with the project secret
(anon, user or service_role) is accepted from `Authorization: Bearer`, refusals are 401 `{"msg":
...}` in the runtime's words, and browser callers get CORS headers and preflight answers.
"""

from __future__ import annotations

import asyncpg
import orjson
from aiohttp import web

from ..auth import TokenError
from ..middleware import EDGE, Cors, Policies, TokenRule
from . import live_slots

FUNCTIONS = {live_slots.NAME: live_slots.handle}

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "authorization, x-client-info, apikey, content-type",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
}


def _refuse(request: web.Request, err: TokenError) -> web.StreamResponse:
    """The edge runtime's `verify_jwt` answers, which name what is wrong with the header."""
    header = request.headers.get("Authorization")
    if not header:
        msg = "Error: Missing authorization header"
    elif header.partition(" ")[0] != "Bearer":
        msg = "Error: Auth header is not 'Bearer {token}'"
    else:
        msg = "Invalid JWT"
    return web.Response(
        body=orjson.dumps({"msg": msg}), status=401, content_type="application/json"
    )


def _preflight(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok", headers=CORS_HEADERS)


TOKENS = TokenRule(EDGE, _refuse)
CORS = Cors(CORS_HEADERS, _preflight)


def add_routes(app: web.Application, pool: asyncpg.Pool, policies: Policies) -> None:
    for name, handle in FUNCTIONS.items():

        async def handler(request: web.Request, handle=handle) -> web.StreamResponse:
            return await handle(pool, request)

        route = app.router.add_route("*", f"/functions/v1/{name}", handler)
        policies.route(route, token=TOKENS, cors=CORS)
