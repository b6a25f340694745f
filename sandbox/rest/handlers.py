"""The `/rest/v1` handlers: HTTP in, one transaction as the JWT's role, JSON out.

Each request runs in its own transaction on a pooled connection. Before the first statement the
transaction becomes the JWT's role and gets PostgREST's settings (`request.jwt.claims`,
`request.jwt.claim.sub`, `request.jwt.claim.role`, `request.method`, `request.path`,
`request.headers`, and `search_path` = the profile schema, then `public, extensions`), so RLS
policies and `auth.uid()` behave as on Supabase. GET and HEAD (and calls to stable or immutable
functions) run read-only, like PostgREST's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson
from aiohttp import web

from .. import auth
from . import errors, query, sql
from .catalog import Catalog, Column, Function, Table
from .errors import RestError

if TYPE_CHECKING:
    from ..server import Sandbox

log = logging.getLogger("sandbox.rest")

API_ROLES = ("anon", "authenticated", "service_role")
STATEMENT_TIMEOUT = 30.0
OBJECT_MEDIA = "application/vnd.pgrst.object+json"
JSON_TYPE = "application/json; charset=utf-8"

CORS = {
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

BECOME = (
    "select set_config('search_path', $1, true),"
    " set_config('request.jwt.claims', $2, true),"
    " set_config('request.jwt.claim.sub', $3, true),"
    " set_config('request.jwt.claim.role', $4, true),"
    " set_config('request.method', $5, true),"
    " set_config('request.path', $6, true),"
    " set_config('request.headers', $7, true),"
    " set_config('role', $4, true)"
)


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
    if not sep or not lower.isdigit() or (upper and not upper.isdigit()):
        return None
    start = int(lower)
    if not upper:
        return start, None
    return start, max(0, int(upper) - start + 1)


def content_range(lower: int, n: int, total: int | None) -> str:
    span = f"{lower}-{lower + n - 1}" if n > 0 else "*"
    return f"{span}/{'*' if total is None else total}"


def _json_body(raw: bytes) -> Any:
    if not raw.strip():
        raise errors.invalid_body("Empty or invalid json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)  # integers beyond 64 bits, which orjson refuses
    except ValueError:
        raise errors.invalid_body("Empty or invalid json") from None


def _dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


def _response(
    status: int, body: str | bytes | None, headers: dict[str, str], head: bool = False
) -> web.Response:
    hdrs = {**CORS, **headers}
    if body is None or head:
        if body is not None:
            hdrs["Content-Type"] = JSON_TYPE
        return web.Response(status=status, headers=hdrs)
    data = body.encode() if isinstance(body, str) else body
    return web.Response(status=status, body=data, headers={**hdrs, "Content-Type": JSON_TYPE})


def error_response(err: RestError) -> web.Response:
    return web.Response(
        status=err.status,
        body=orjson.dumps(err.body()),
        headers={**CORS, **err.headers, "Content-Type": JSON_TYPE},
    )


class RestApi:
    def __init__(self, sandbox: Sandbox, schemas: Sequence[str]) -> None:
        self.sandbox = sandbox
        self.schemas = list(schemas)
        self.catalog = Catalog()

    # --- request plumbing -----------------------------------------------------------------

    def _claims(self, request: web.Request) -> auth.Claims:
        token = None
        bearer = request.headers.get("Authorization", "")
        scheme, _, value = bearer.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
        if token is None:
            token = request.headers.get("apikey") or request.query.get("apikey")
        if not token:
            raise errors.missing_key()
        try:
            claims = auth.verify(token, self.sandbox.secret)
        except auth.TokenError as err:
            raise errors.bad_jwt(err.message) from None
        if claims.role not in API_ROLES:
            raise errors.role_refused(claims.role, anonymous=False)
        return claims

    def _context(self, request: web.Request) -> Context:
        claims = self._claims(request)
        reading = request.method in ("GET", "HEAD")
        header = "Accept-Profile" if reading else "Content-Profile"
        schema = request.headers.get(header) or self.schemas[0]
        if schema not in self.schemas:
            raise errors.schema_not_exposed(schema, self.schemas)
        headers = {k.lower(): v for k, v in request.headers.items()}
        return Context(
            claims=claims,
            schema=schema,
            prefer=parse_prefer(request.headers.getall("Prefer", [])),
            method=request.method,
            path=request.path,
            headers=_dumps(headers),
        )

    async def dispatch(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "OPTIONS":
            asked = request.headers.get("Access-Control-Request-Headers")
            headers = dict(PREFLIGHT)
            headers["Access-Control-Allow-Headers"] = asked or (
                "authorization, x-client-info, apikey, content-type, accept-profile, "
                "content-profile, prefer, range, range-unit, x-retry-count"
            )
            return web.Response(status=200, headers=headers)
        ctx: Context | None = None
        try:
            ctx = self._context(request)
            if self.sandbox.pool is None:
                raise RestError(503, "PGRST000", "Database client error. Retrying the connection.")
            return await handler(request, ctx)
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

    @asynccontextmanager
    async def _transaction(
        self, conn: asyncpg.Connection, ctx: Context, *, readonly: bool
    ) -> AsyncIterator[None]:
        tr = conn.transaction(readonly=readonly)
        await tr.start()
        try:
            search_path = ", ".join(sql.ident(s) for s in dict.fromkeys([ctx.schema, "public"]))
            await conn.execute(
                BECOME,
                f"{search_path}, extensions",
                _dumps(ctx.claims.claims),
                ctx.claims.sub or "",
                ctx.role,
                ctx.method,
                ctx.path,
                ctx.headers,
                timeout=STATEMENT_TIMEOUT,
            )
            yield
        except BaseException:
            with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await tr.rollback()
            raise
        if ctx.prefer.get("tx") == "rollback":
            await tr.rollback()
        else:
            await tr.commit()

    async def _table(self, conn: asyncpg.Connection, ctx: Context, name: str) -> Table:
        table = await self.catalog.table(conn, ctx.schema, name)
        if table is None:
            raise errors.table_not_found(ctx.schema, name)
        return table

    async def _check_columns(
        self, conn: asyncpg.Connection, table: Table, names: Iterable[str], missing: Any
    ) -> Table:
        """Every name must be a column; reload the table once before refusing."""
        for name in names:
            if name in table.columns:
                continue
            fresh = await self.catalog.table(conn, table.schema, table.name, fresh=True)
            if fresh is not None and name in fresh.columns:
                table = fresh
                continue
            raise missing(table.name, name)
        return table

    @staticmethod
    def _shape(request: web.Request) -> tuple[bool, bool]:
        accept = request.headers.get("Accept", "")
        return OBJECT_MEDIA in accept, "nulls=stripped" in accept

    @staticmethod
    def _applied(ctx: Context, *keys: str) -> dict[str, str]:
        applied = [f"{k}={ctx.prefer[k]}" for k in keys if k in ctx.prefer]
        return {"Preference-Applied": ", ".join(applied)} if applied else {}

    # --- tables ---------------------------------------------------------------------------

    async def table(self, request: web.Request, ctx: Context) -> web.StreamResponse:
        name = request.match_info["table"]
        method = request.method
        if method in ("GET", "HEAD"):
            return await self._read(request, ctx, name)
        if method == "POST":
            return await self._insert(request, ctx, name)
        if method == "PATCH":
            return await self._update(request, ctx, name)
        if method == "DELETE":
            return await self._delete(request, ctx, name)
        raise errors.method_not_allowed(method)

    async def _read(self, request: web.Request, ctx: Context, name: str) -> web.StreamResponse:
        plan = query.parse(request.query.items(), schema=ctx.schema, table=name)
        single, strip = self._shape(request)
        limit, offset = plan.limit, plan.offset
        ranged = parse_range(request.headers.get("Range"))
        if ranged is not None and limit is None and offset is None:
            offset, limit = ranged
        want_count = ctx.prefer.get("count") in ("exact", "planned", "estimated")
        assert self.sandbox.pool is not None
        async with self.sandbox.pool.acquire() as conn:
            table = await self._table(conn, ctx, name)
            table = await self._check_columns(
                conn, table, (f.name for f in plan.fields()), errors.undefined_column
            )
            rel = sql.relation(table.schema, table.name)
            text, args = sql.read_sql(
                rel, plan, table.columns, limit=limit, offset=offset, strip_nulls=strip
            )
            total = None
            async with self._transaction(conn, ctx, readonly=True):
                row = await conn.fetchrow(text, *args, timeout=STATEMENT_TIMEOUT)
                if want_count:
                    ctext, cargs = sql.count_sql(rel, plan, table.columns)
                    total = int(await conn.fetchval(ctext, *cargs, timeout=STATEMENT_TIMEOUT))
        n = int(row["n"])
        lower = offset or 0
        if total is not None and lower > total:
            raise errors.range_not_satisfiable(lower, total)
        status = 206 if total is not None and n < total else 200
        if single:
            if n != 1:
                raise errors.not_single(n)
            body = row["first"]
        else:
            body = row["body"]
        headers = {"Content-Range": content_range(lower, n, total)}
        headers.update(self._applied(ctx, "count"))
        return _response(status, body, headers, head=request.method == "HEAD")

    def _representation(self, ctx: Context) -> bool:
        return ctx.prefer.get("return") == "representation"

    async def _write(
        self,
        conn: asyncpg.Connection,
        ctx: Context,
        text: str,
        args: list[Any],
        *,
        representation: bool,
        single: bool,
    ) -> tuple[int, str | None]:
        """Run a write; return (rows affected, body). Raises inside the transaction, so a
        refused `.single()` rolls the write back as PostgREST does."""
        async with self._transaction(conn, ctx, readonly=False):
            if not representation:
                status = await conn.execute(text, *args, timeout=STATEMENT_TIMEOUT)
                return int(status.split()[-1]), None
            row = await conn.fetchrow(text, *args, timeout=STATEMENT_TIMEOUT)
            n = int(row["n"])
            if single and n != 1:
                raise errors.not_single(n)
            return n, row["first"] if single else row["body"]

    async def _insert(self, request: web.Request, ctx: Context, name: str) -> web.StreamResponse:
        plan = query.parse(request.query.items(), schema=ctx.schema, table=name)
        raw = await request.read()
        body = _json_body(raw)
        if isinstance(body, dict):
            rows = [body]
            payload = "[" + raw.decode() + "]"
        elif isinstance(body, list) and all(isinstance(r, dict) for r in body):
            rows = body
            payload = raw.decode()
        else:
            raise errors.invalid_body("All object keys must match")
        representation = self._representation(ctx)
        single, strip = self._shape(request)
        if plan.columns is not None:
            cols = list(plan.columns)
        else:
            cols = list(rows[0]) if rows else []
            keys = set(cols)
            if any(set(r) != keys for r in rows[1:]):
                raise errors.invalid_body("All object keys must match")
        resolution = ctx.prefer.get("resolution", "")
        resolution = {"merge-duplicates": "merge", "ignore-duplicates": "ignore"}.get(resolution)
        missing_default = ctx.prefer.get("missing") == "default"
        assert self.sandbox.pool is not None
        async with self.sandbox.pool.acquire() as conn:
            table = await self._table(conn, ctx, name)
            table = await self._check_columns(conn, table, cols, errors.column_not_found)
            table = await self._check_columns(
                conn,
                table,
                [f.name for f in plan.fields()] + list(plan.on_conflict or ()),
                errors.undefined_column,
            )
            conflict = list(plan.on_conflict or table.pk) if resolution else None
            headers = self._applied(ctx, "return", "resolution", "missing", "count", "tx")
            if not rows:
                body_out = "[]" if representation else None
                return _response(201, body_out, {"Content-Range": "*/*", **headers})
            rel = sql.relation(table.schema, table.name)
            text, args = sql.insert_sql(
                rel,
                rows,
                cols,
                plan,
                representation=representation,
                missing_default=missing_default,
                conflict=conflict,
                resolution=resolution,
                strip_nulls=strip,
                dumps=_dumps,
                payload=payload,
            )
            n, out = await self._write(
                conn, ctx, text, args, representation=representation, single=single
            )
        total = n if "count" in ctx.prefer else None
        headers["Content-Range"] = f"*/{'*' if total is None else total}"
        return _response(201, out, headers)

    async def _update(self, request: web.Request, ctx: Context, name: str) -> web.StreamResponse:
        plan = query.parse(request.query.items(), schema=ctx.schema, table=name)
        raw = await request.read()
        body = _json_body(raw)
        if not isinstance(body, dict):
            raise errors.invalid_body("Empty or invalid json")
        cols = list(plan.columns) if plan.columns is not None else list(body)
        representation = self._representation(ctx)
        single, strip = self._shape(request)
        assert self.sandbox.pool is not None
        async with self.sandbox.pool.acquire() as conn:
            table = await self._table(conn, ctx, name)
            table = await self._check_columns(conn, table, cols, errors.column_not_found)
            table = await self._check_columns(
                conn, table, (f.name for f in plan.fields()), errors.undefined_column
            )
            headers = self._applied(ctx, "return", "count", "tx")
            if not cols:
                return _response(
                    200 if representation else 204, "[]" if representation else None, headers
                )
            if not plan.where:
                raise errors.requires_where("UPDATE")
            rel = sql.relation(table.schema, table.name)
            text, args = sql.update_sql(
                rel,
                raw.decode(),
                cols,
                plan,
                table.columns,
                representation=representation,
                strip_nulls=strip,
            )
            n, out = await self._write(
                conn, ctx, text, args, representation=representation, single=single
            )
        total = n if "count" in ctx.prefer else None
        headers["Content-Range"] = content_range(0, n, total)
        return _response(200 if representation else 204, out, headers)

    async def _delete(self, request: web.Request, ctx: Context, name: str) -> web.StreamResponse:
        plan = query.parse(request.query.items(), schema=ctx.schema, table=name)
        representation = self._representation(ctx)
        single, strip = self._shape(request)
        assert self.sandbox.pool is not None
        async with self.sandbox.pool.acquire() as conn:
            table = await self._table(conn, ctx, name)
            table = await self._check_columns(
                conn, table, (f.name for f in plan.fields()), errors.undefined_column
            )
            if not plan.where:
                raise errors.requires_where("DELETE")
            rel = sql.relation(table.schema, table.name)
            text, args = sql.delete_sql(
                rel, plan, table.columns, representation=representation, strip_nulls=strip
            )
            n, out = await self._write(
                conn, ctx, text, args, representation=representation, single=single
            )
        total = n if "count" in ctx.prefer else None
        headers = {"Content-Range": content_range(0, n, total)}
        headers.update(self._applied(ctx, "return", "count", "tx"))
        return _response(200 if representation else 204, out, headers)

    # --- functions ------------------------------------------------------------------------

    async def rpc(self, request: web.Request, ctx: Context) -> web.StreamResponse:
        name = request.match_info["function"]
        method = request.method
        if method not in ("GET", "HEAD", "POST"):
            raise errors.method_not_allowed(method)
        body: Any = {}
        raw = b""
        if method == "POST":
            raw = await request.read()
            body = _json_body(raw) if raw.strip() else {}
        assert self.sandbox.pool is not None
        async with self.sandbox.pool.acquire() as conn:
            fns = await self.catalog.functions(conn, ctx.schema, name)
            pairs = list(request.query.items())
            if method != "POST":
                names = {a.name for f in fns for a in f.args if a.name}
                body = {k: v for k, v in pairs if k in names}
                pairs = [(k, v) for k, v in pairs if k not in names]
            fn = _choose(fns, body, ctx.schema, name, post=method == "POST")
            if fn is None:
                fns = await self.catalog.functions(conn, ctx.schema, name, fresh=True)
                fn = _choose(fns, body, ctx.schema, name, post=method == "POST")
            if fn is None:
                keys = list(body) if isinstance(body, dict) else []
                raise errors.function_not_found(ctx.schema, name, keys)
            plan = query.parse(pairs, schema=ctx.schema, table=name)
            if fn.kind == "composite":
                for f in plan.fields():
                    if f.name not in fn.columns:
                        raise errors.undefined_column(name, f.name)
            single, strip = self._shape(request)
            whole = None
            if fn.single_unnamed and not (
                isinstance(body, dict) and set(body) and set(body) <= {a.name for a in fn.args}
            ):
                whole = (raw.decode() or "{}") if method == "POST" else _dumps(body)
            payload = raw.decode() if method == "POST" and isinstance(body, dict) else None
            text, args = rpc_sql(fn, body, plan, whole=whole, payload=payload, strip_nulls=strip)
            readonly = method != "POST" or fn.volatility in ("i", "s")
            async with self._transaction(conn, ctx, readonly=readonly):
                if fn.kind == "void":
                    await conn.execute(text, *args, timeout=STATEMENT_TIMEOUT)
                    row = None
                else:
                    row = await conn.fetchrow(text, *args, timeout=STATEMENT_TIMEOUT)
                    if single and fn.returns_set and int(row["n"]) != 1:
                        raise errors.not_single(int(row["n"]))
        headers = self._applied(ctx, "count", "tx")
        if row is None:
            return _response(204, None, headers)
        n = int(row["n"])
        if fn.returns_set:
            lower = plan.offset or 0
            total = n if "count" in ctx.prefer and not plan.limit and not lower else None
            headers["Content-Range"] = content_range(lower, n, total)
        if fn.returns_set and not single:
            out = row["body"]
        else:
            out = row["first"] if row["first"] is not None else "null"
        return _response(200, out, headers, head=method == "HEAD")


def _choose(
    fns: list[Function], body: Any, schema: str, name: str, *, post: bool
) -> Function | None:
    """PostgREST's overload resolution: by the set of argument names, or one unnamed json."""
    if not isinstance(body, dict):
        unnamed = [f for f in fns if f.single_unnamed]
        return unnamed[0] if unnamed else None
    keys = set(body)
    matches = []
    for f in fns:
        if any(not a.name for a in f.args):
            continue
        names = {a.name for a in f.args}
        required = {a.name for a in f.args if a.required}
        if keys <= names and required <= keys:
            matches.append(f)
    if len(matches) > 1:
        exact = [f for f in matches if {a.name for a in f.args} == keys]
        if len(exact) == 1:
            return exact[0]
        raise errors.function_ambiguous(schema, name, [f.signature() for f in matches])
    if matches:
        return matches[0]
    if post:
        unnamed = [f for f in fns if f.single_unnamed]
        if unnamed:
            return unnamed[0]
    return None


def rpc_sql(
    fn: Function,
    args: Any,
    plan: query.Plan,
    *,
    whole: str | None = None,
    payload: str | None = None,
    strip_nulls: bool = False,
) -> tuple[str, list[Any]]:
    """`select n, body, first` for a function call; the args go in through json_to_record.

    `payload` is the JSON text of `args` as the client sent it (so numbers keep every digit);
    `whole` is passed as the only argument of a single-unnamed-parameter function."""
    params = sql.Params()
    rel = sql.relation(fn.schema, fn.name)
    cte = ""
    if whole is not None:
        call = f"{rel}({params.add(whole)}::text::{fn.args[0].type})"
    elif isinstance(args, dict) and args:
        types = {a.name: a.type for a in fn.args}
        p = params.add(payload if payload is not None else _dumps(args))
        defs = ", ".join(f"{sql.ident(k)} {types[k]}" for k in args)
        cte = f"with _args as (select * from json_to_record({p}::json) as _a({defs})) "
        named = ", ".join(
            f"{sql.ident(k)} => (select _a.{sql.ident(k)} from _args _a)" for k in args
        )
        call = f"{rel}({named})"
    else:
        call = f"{rel}()"
    if fn.kind == "void":
        return f"{cte}select {call}", params.values
    if fn.kind == "composite":
        columns: dict[str, Column] = fn.columns
        cols = sql.select_sql(plan.select, params)
        where = sql.where_sql(plan.where, columns, params)
        order = sql.order_sql(plan.order, params)
        page = sql.page_sql(plan.limit, plan.offset)
        inner = f"select {cols} from {call} {sql.ALIAS}{where}{order}{page}"
        return cte + sql.rows_json(inner, strip_nulls), params.values
    if fn.returns_set:
        page = sql.page_sql(plan.limit, plan.offset)
        return (
            f"{cte}select count(*)::bigint as n, coalesce(json_agg(_f.v), '[]')::text as body, "
            f"(json_agg(_f.v) -> 0)::text as first "
            f"from (select _s.v from {call} as _s(v){page}) _f",
            params.values,
        )
    return f"{cte}select 1::bigint as n, null::text as body, to_json({call})::text as first", (
        params.values
    )
