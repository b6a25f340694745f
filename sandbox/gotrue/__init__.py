"""A GoTrue (Supabase Auth) subset at `/auth/v1`, so apps sign users up and in as they do on
Supabase and their sessions' JWTs open private channels and RLS rows through `auth.uid()`.

`POST /signup` (email and password), `POST /token?grant_type=password` and
`?grant_type=refresh_token`, `GET /user` and `POST /logout` work unchanged for supabase-js
(@supabase/auth-js 2.119.0) and supabase-py (supabase_auth 2.34.1). Users live in the real table
`auth.users` (with `auth.identities`, `auth.sessions` and `auth.refresh_tokens`, created by
`sql/005_auth.sql`), passwords hashed by bcrypt.

Modules: `api` (the endpoints, in GoTrue's order of checks), `bearer` (the caller's access token
and its user and session), `store` (the SQL and GoTrue's user JSON), `passwords` (strength and
bcrypt), `errors` (GoTrue's two error shapes and the gateway's refusals).

As on Supabase, a gateway stands in front: every path needs the project's `apikey` (header or
query parameter; a Bearer token alone is not a key), browsers get CORS answers, and any other path
under `/auth/v1` is answered in JSON (404, or 405 for a known path and the wrong method).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

import asyncpg
from aiohttp import web

from ..middleware import Cors, Policies, TokenRule
from . import errors
from .api import ACCESS_TTL, AuthApi

log = logging.getLogger("sandbox.gotrue")

PREFIX: Final = "/auth/v1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# the gateway reads the key from the `apikey` header or query parameter (key-auth's key_names)
GATEWAY: Final = TokenRule(("apikey", "query"), errors.gateway_refusal)
# GoTrue's own CORS (internal/api/api.go): any origin, the version header exposed to scripts
CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Total-Count, Link, X-Supabase-Api-Version",
}
ALLOWED_HEADERS: Final = (
    "Accept, Authorization, Content-Type, X-Client-IP, X-Client-Info, X-JWT-AUD, x-use-cookie, "
    "X-Supabase-Api-Version, apikey"
)


def _preflight(request: web.Request) -> web.StreamResponse:
    asked = request.headers.get("Access-Control-Request-Headers")
    headers = {
        **CORS_HEADERS,
        "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
        "Access-Control-Allow-Headers": asked or ALLOWED_HEADERS,
        "Access-Control-Max-Age": "86400",
    }
    return web.Response(status=204, headers=headers)


CORS: Final = Cors(CORS_HEADERS, _preflight)


def _answering(methods: Mapping[str, Handler]) -> Handler:
    """One path's handler: dispatch on the method, and answer every failure in GoTrue's shape."""

    async def handle(request: web.Request) -> web.StreamResponse:
        handler = methods.get(request.method)
        try:
            if handler is None:
                raise errors.not_found() if not methods else errors.method_not_allowed()
            return await handler(request)
        except (errors.AuthError, errors.OAuthError) as err:
            return errors.answer(request, err)
        except Exception:  # a database failure or a sandbox bug: still GoTrue's shape
            log.exception("auth: %s %s failed", request.method, request.path)
            return errors.answer(request, errors.unexpected())

    return handle


def add_routes(
    app: web.Application,
    pool: asyncpg.Pool,
    secret: str,
    policies: Policies,
    access_ttl: int = ACCESS_TTL,
) -> None:
    """Mount `/auth/v1` on `app`; `secret` signs the access tokens (the project's JWT secret),
    which live `access_ttl` seconds (GOTRUE_JWT_EXP)."""
    api = AuthApi(pool, secret, access_ttl)
    paths: dict[str, Mapping[str, Handler]] = {
        "/signup": {"POST": api.signup},
        "/token": {"POST": api.token},
        "/user": {"GET": api.user},
        "/logout": {"POST": api.logout},
        "{tail:(/.*)?}": {},  # anything else: 404
    }
    for path, methods in paths.items():
        route = app.router.add_route("*", PREFIX + path, _answering(methods))
        policies.route(route, token=GATEWAY, cors=CORS)
