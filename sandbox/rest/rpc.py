"""`/rest/v1/rpc/{function}`: calling PostgreSQL functions the way PostgREST does.

POST passes the JSON body as named arguments (or whole, to a function with one unnamed
json/jsonb/text parameter); GET and HEAD pass the query string's argument names. Overloads are
resolved by the set of argument names. Calls to stable or immutable functions run read-only, and
a set-returning or composite result takes the same filters, order and paging as a table.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from ..as_role import dumps
from . import errors, query, sql
from .catalog import Catalog, Column, Function
from .http import STATEMENT_TIMEOUT, Context, content_range, json_body, response, shape, transaction


class Rpc:
    def __init__(self, pool: asyncpg.Pool, catalog: Catalog) -> None:
        self.pool = pool
        self.catalog = catalog

    async def handle(self, request: web.Request, ctx: Context) -> web.StreamResponse:
        name = request.match_info["function"]
        method = request.method
        if method not in ("GET", "HEAD", "POST"):
            raise errors.method_not_allowed(method)
        raw = await request.read() if method == "POST" else b""
        body: Any = json_body(raw) if raw.strip() else {}
        single, strip = shape(request)
        async with self.pool.acquire() as conn:
            pairs = list(request.query.items())
            fn, body, pairs = await self._resolve(
                conn, ctx, name, body, pairs, post=method == "POST"
            )
            plan = query.parse(pairs, schema=ctx.schema, table=name)
            if fn.kind == "composite":
                for f in plan.fields():
                    if f.name not in fn.columns:
                        raise errors.undefined_column(name, f.name)
            text, args = rpc_sql(
                fn,
                body,
                plan,
                whole=_whole_argument(fn, body, raw, post=method == "POST"),
                payload=raw.decode() if method == "POST" and isinstance(body, dict) else None,
                strip_nulls=strip,
            )
            readonly = method != "POST" or fn.volatility in ("i", "s")
            async with transaction(conn, ctx, readonly=readonly):
                if fn.kind == "void":
                    await conn.execute(text, *args, timeout=STATEMENT_TIMEOUT)
                    row = None
                else:
                    row = await conn.fetchrow(text, *args, timeout=STATEMENT_TIMEOUT)
                    if single and fn.returns_set and int(row["n"]) != 1:
                        raise errors.not_single(int(row["n"]))
        return _result(fn, row, plan, ctx, single=single, head=method == "HEAD")

    async def _resolve(
        self,
        conn: asyncpg.Connection,
        ctx: Context,
        name: str,
        body: Any,
        pairs: list[tuple[str, str]],
        *,
        post: bool,
    ) -> tuple[Function, Any, list[tuple[str, str]]]:
        """The function to call, its arguments, and the query pairs left for filtering. For GET,
        query parameters named like an argument are arguments; the rest filter the result."""
        fns = await self.catalog.functions(conn, ctx.schema, name)
        if not post:
            names = {a.name for f in fns for a in f.args if a.name}
            body = {k: v for k, v in pairs if k in names}
            pairs = [(k, v) for k, v in pairs if k not in names]
        fn = choose(fns, body, ctx.schema, name, post=post)
        if fn is None:
            fns = await self.catalog.functions(conn, ctx.schema, name, fresh=True)
            fn = choose(fns, body, ctx.schema, name, post=post)
        if fn is None:
            keys = list(body) if isinstance(body, dict) else []
            raise errors.function_not_found(ctx.schema, name, keys)
        return fn, body, pairs


def _whole_argument(fn: Function, body: Any, raw: bytes, *, post: bool) -> str | None:
    """The whole body as the only argument, for a single-unnamed-parameter function (unless the
    body's keys name its parameter)."""
    if not fn.single_unnamed:
        return None
    if isinstance(body, dict) and set(body) and set(body) <= {a.name for a in fn.args}:
        return None
    return (raw.decode() or "{}") if post else dumps(body)


def _result(
    fn: Function,
    row: asyncpg.Record | None,
    plan: query.Plan,
    ctx: Context,
    *,
    single: bool,
    head: bool,
) -> web.Response:
    headers = ctx.applied("count", "tx")
    if row is None:
        return response(204, None, headers)
    n = int(row["n"])
    if fn.returns_set:
        lower = plan.offset or 0
        total = n if "count" in ctx.prefer and not plan.limit and not lower else None
        headers["Content-Range"] = content_range(lower, n, total)
    if fn.returns_set and not single:
        out = row["body"]
    else:
        out = row["first"] if row["first"] is not None else "null"
    return response(200, out, headers, head=head)


def choose(
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


def _call(
    fn: Function, args: Any, params: sql.Params, whole: str | None, payload: str | None
) -> tuple[str, str]:
    """The function call expression, and the CTE that decodes named arguments (or "")."""
    rel = sql.relation(fn.schema, fn.name)
    if whole is not None:
        return f"{rel}({params.add(whole)}::text::{fn.args[0].type})", ""
    if not (isinstance(args, dict) and args):
        return f"{rel}()", ""
    types = {a.name: a.type for a in fn.args}
    p = params.add(payload if payload is not None else dumps(args))
    defs = ", ".join(f"{sql.ident(k)} {types[k]}" for k in args)
    cte = f"with _args as (select * from json_to_record({p}::json) as _a({defs})) "
    named = ", ".join(f"{sql.ident(k)} => (select _a.{sql.ident(k)} from _args _a)" for k in args)
    return f"{rel}({named})", cte


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
    call, cte = _call(fn, args, params, whole, payload)
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
