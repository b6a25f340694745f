"""The HTTP side of `/rest/v1`: headers in, PostgREST's responses and errors out.

What every verb shares: the request context (the caller's verified claims, the profile schema,
`Prefer`), the `Range`/`Content-Range` arithmetic, JSON bodies, PostgREST's CORS headers, the
mapping of every failure to PostgREST's error shape, and the transaction each request runs in, as
the JWT's role with PostgREST's settings (`request.method`, `request.path`, `request.headers`,
`search_path` = the profile schema, then `public, extensions`), so RLS policies and `auth.uid()`
behave as on Supabase.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from .. import auth, middleware
from ..as_role import API_ROLES, as_role, dumps, ident
from . import errors
from .errors import RestError

log = logging.getLogger("sandbox.rest")

STATEMENT_TIMEOUT = 30.0
OBJECT_MEDIA = "application/vnd.pgrst.object+json"
JSON_TYPE = "application/json; charset=utf-8"

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": (
        "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, "
        "Server, Transfer-Encoding, Range-Unit, Preference-Applied"
    ),
}
PREFLIGHT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD",
    "Access-Control-Max-Age": "86400",
}
DEFAULT_ALLOWED_HEADERS = (
    "authorization, x-client-info, apikey, content-type, accept-profile, content-profile, "
    "prefer, range, range-unit, x-retry-count"
)

__all__ = [
    "CORS",
    "TOKENS",
    "Context",
    "content_range",
    "parse_prefer",
    "parse_range",
]


@dataclass
class Context:
    claims: auth.Claims
    schema: str
    prefer: dict[str, str]
    method: str
    path: str
    headers: str  # request.headers as JSON, lower-case names

    @property
    def role(self) -> str:
        return self.claims.role

    @property
    def anonymous(self) -> bool:
        return self.role == "anon"

    def applied(self, *keys: str) -> dict[str, str]:
        """`Preference-Applied` for the `Prefer` keys this request honoured."""
        applied = [f"{k}={self.prefer[k]}" for k in keys if k in self.prefer]
        return {"Preference-Applied": ", ".join(applied)} if applied else {}

    @property
    def representation(self) -> bool:
        return self.prefer.get("return") == "representation"


def parse_prefer(values: Iterable[str]) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for header in values:
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            if key:
                prefs[key.strip().lower()] = value.strip()
    return prefs


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """`Range: 0-9` → (offset 0, limit 10); `Range: 5-` → (5, None)."""
    if not header:
        return None
    text = header.strip()
    if "=" in text:
        text = text.split("=", 1)[1]
    lower, sep, upper = text.partition("-")
    if not sep or not _digits(lower) or (upper and not _digits(upper)):
        return None
    start = int(lower)
    if not upper:
        return start, None
    return start, max(0, int(upper) - start + 1)


def _digits(text: str) -> bool:
    """ASCII digits only: `str.isdigit()` admits "²" and "١", which `int()` then refuses or
    reads as numbers no HTTP client meant."""
    return text.isascii() and text.isdigit()


def content_range(lower: int, n: int, total: int | None) -> str:
    span = f"{lower}-{lower + n - 1}" if n > 0 else "*"
    return f"{span}/{'*' if total is None else total}"


def json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise errors.invalid_body("Empty or invalid json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        # integers beyond 64 bits, which orjson refuses; UTF-8 only, as PostgREST reads bodies
        # (the stdlib would also read UTF-16, which the insert then splices as UTF-8 text), and
        # nesting past orjson's 1024 levels overflows the stdlib's recursion
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise errors.invalid_body("Empty or invalid json") from None


def shape(request: web.Request) -> tuple[bool, bool]:
    """(one object wanted, nulls stripped), from the `Accept` header."""
    accept = request.headers.get("Accept", "")
    return OBJECT_MEDIA in accept, "nulls=stripped" in accept


def response(
    status: int, body: str | bytes | None, headers: dict[str, str], head: bool = False
) -> web.Response:
    if body is None or head:
        hdrs = dict(headers)
        if body is not None:
            hdrs["Content-Type"] = JSON_TYPE
        return web.Response(status=status, headers=hdrs)
    data = body.encode() if isinstance(body, str) else body
    return web.Response(status=status, body=data, headers={**headers, "Content-Type": JSON_TYPE})


def error_response(err: RestError) -> web.Response:
    return web.Response(
        status=err.status,
        body=orjson.dumps(err.body()),
        headers={**err.headers, "Content-Type": JSON_TYPE},
    )


# --- policies: tokens and CORS, applied by sandbox.middleware ---------------------------------


def _refuse(request: web.Request, err: auth.TokenError) -> web.StreamResponse:
    if err is auth.MISSING:
        return error_response(errors.missing_key())
    return error_response(errors.bad_jwt(err.message))


def _preflight(request: web.Request) -> web.StreamResponse:
    asked = request.headers.get("Access-Control-Request-Headers")
    headers = {**PREFLIGHT, "Access-Control-Allow-Headers": asked or DEFAULT_ALLOWED_HEADERS}
    return web.Response(status=200, headers=headers)


TOKENS = middleware.TokenRule(middleware.REST, _refuse)
CORS = middleware.Cors(CORS_HEADERS, _preflight)


# --- context, errors, transaction ------------------------------------------------------------

Verb = Callable[[web.Request, Context], Awaitable[web.StreamResponse]]


def context(request: web.Request, schemas: Sequence[str]) -> Context:
    claims = middleware.claims(request)
    if claims.role not in API_ROLES:
        raise errors.role_refused(claims.role, anonymous=False)
    reading = request.method in ("GET", "HEAD")
    header = "Accept-Profile" if reading else "Content-Profile"
    schema = request.headers.get(header) or schemas[0]
    if schema not in schemas:
        raise errors.schema_not_exposed(schema, list(schemas))
    headers = {k.lower(): v for k, v in request.headers.items()}
    return Context(
        claims=claims,
        schema=schema,
        prefer=parse_prefer(request.headers.getall("Prefer", [])),
        method=request.method,
        path=request.path,
        headers=dumps(headers),
    )


async def answer(request: web.Request, schemas: Sequence[str], verb: Verb) -> web.StreamResponse:
    """Run `verb` for the request; every failure is answered in PostgREST's error shape."""
    ctx: Context | None = None
    try:
        ctx = context(request, schemas)
        return await verb(request, ctx)
    except RestError as err:
        return error_response(err)
    except asyncpg.PostgresError as exc:
        return error_response(errors.from_postgres(exc, ctx.anonymous if ctx else True))
    except TimeoutError:
        return error_response(
            RestError(504, "57014", "canceling statement due to statement timeout")
        )
    except (OSError, asyncpg.InterfaceError) as exc:
        log.warning("rest: database unavailable: %s", exc)
        return error_response(
            RestError(503, "PGRST001", "Database client error. Retrying the connection.")
        )
    except Exception as exc:  # a sandbox bug: still answer in PostgREST's shape
        log.exception("rest: %s %s failed", request.method, request.path_qs)
        return error_response(RestError(500, "XX000", f"internal error: {exc}"))


def transaction(
    conn: asyncpg.Connection, ctx: Context, *, readonly: bool
) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """The request's transaction, as the caller's role; `Prefer: tx=rollback` rolls it back.
    GET and HEAD (and calls to stable or immutable functions) run read-only, like PostgREST's."""
    search_path = ", ".join(ident(s) for s in dict.fromkeys([ctx.schema, "public"]))
    settings = {
        "search_path": f"{search_path}, extensions",
        "request.method": ctx.method,
        "request.path": ctx.path,
        "request.headers": ctx.headers,
    }
    return as_role(
        conn,
        ctx.role,
        ctx.claims.claims,
        settings,
        readonly=readonly,
        rollback=ctx.prefer.get("tx") == "rollback",
        timeout=STATEMENT_TIMEOUT,
    )


async def fetch_write(
    conn: asyncpg.Connection,
    ctx: Context,
    text: str,
    args: list[Any],
    *,
    single: bool,
) -> tuple[int, str | None]:
    """Run a write; return (rows affected, body). Raises inside the transaction, so a refused
    `.single()` rolls the write back as PostgREST does."""
    async with transaction(conn, ctx, readonly=False):
        if not ctx.representation:
            status = await conn.execute(text, *args, timeout=STATEMENT_TIMEOUT)
            return int(status.split()[-1]), None
        row = await conn.fetchrow(text, *args, timeout=STATEMENT_TIMEOUT)
        n = int(row["n"])
        if single and n != 1:
            raise errors.not_single(n)
        return n, row["first"] if single else row["body"]
