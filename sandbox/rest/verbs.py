"""The table verbs of `/rest/v1/{table}`: GET/HEAD read, POST insert (and upsert), PATCH, DELETE.

Each verb parses the query string into a plan (`query`), checks every name against the schema
cache (`catalog`, reloading once before refusing), builds SQL with bind parameters (`sql`) and
runs it in the request's transaction as the caller's role (`http.transaction`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg
from aiohttp import web

from ..as_role import dumps
from . import errors, query, sql
from .catalog import Catalog, Table
from .http import (
    STATEMENT_TIMEOUT,
    Context,
    content_range,
    fetch_write,
    json_body,
    parse_range,
    response,
    shape,
    transaction,
)

RESOLUTIONS = {"merge-duplicates": "merge", "ignore-duplicates": "ignore"}


class Tables:
    def __init__(self, pool: asyncpg.Pool, catalog: Catalog) -> None:
        self.pool = pool
        self.catalog = catalog

    async def handle(self, request: web.Request, ctx: Context) -> web.StreamResponse:
        name = request.match_info["table"]
        method = request.method
        if method in ("GET", "HEAD"):
            return await self.read(request, ctx, name)
        if method == "POST":
            return await self.insert(request, ctx, name)
        if method == "PATCH":
            return await self.update(request, ctx, name)
        if method == "DELETE":
            return await self.delete(request, ctx, name)
        raise errors.method_not_allowed(method)

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

    async def _target(
        self,
        conn: asyncpg.Connection,
        ctx: Context,
        name: str,
        plan: query.Plan,
        written: Iterable[str] = (),
        *,
        upsert: bool = False,
    ) -> Table:
        """The table, once the columns written and the columns the plan reads (and, for an
        insert, its `on_conflict` target) all exist."""
        table = await self._table(conn, ctx, name)
        table = await self._check_columns(conn, table, written, errors.column_not_found)
        read = [f.name for f in plan.fields()]
        if upsert:
            read += list(plan.on_conflict or ())
        return await self._check_columns(conn, table, read, errors.undefined_column)

    # --- GET / HEAD -------------------------------------------------------------------------

    async def read(self, request: web.Request, ctx: Context, name: str) -> web.StreamResponse:
        plan = query.parse(request.query.items(), schema=ctx.schema, table=name)
        single, strip = shape(request)
        limit, offset = plan.limit, plan.offset
        ranged = parse_range(request.headers.get("Range"))
        if ranged is not None and limit is None and offset is None:
            offset, limit = ranged
        want_count = ctx.prefer.get("count") in ("exact", "planned", "estimated")
        async with self.pool.acquire() as conn:
            table = await self._target(conn, ctx, name, plan)
            rel = sql.relation(table.schema, table.name)
            text, args = sql.read_sql(
                rel, plan, table.columns, limit=limit, offset=offset, strip_nulls=strip
            )
            total = None
            async with transaction(conn, ctx, readonly=True):
                row = await conn.fetchrow(text, *args, timeout=STATEMENT_TIMEOUT)
                if want_count:
                    ctext, cargs = sql.count_sql(rel, plan, table.columns)
                    total = int(await conn.fetchval(ctext, *cargs, timeout=STATEMENT_TIMEOUT))
        n = int(row["n"])
        lower = offset or 0
        if total is not None and lower > total:
            raise errors.range_not_satisfiable(lower, total)
        status = 206 if total is not None and n < total else 200
        if single and n != 1:
            raise errors.not_single(n)
        body = row["first"] if single else row["body"]
        headers = {"Content-Range": content_range(lower, n, total), **ctx.applied("count")}
        return response(status, body, headers, head=request.method == "HEAD")

    # --- POST -------------------------------------------------------------------------------

    async def insert(self, request: web.Request, ctx: Context, name: str) -> web.StreamResponse:
        plan = query.parse(request.query.items(), schema=ctx.schema, table=name)
        rows, payload = _insert_rows(await request.read())
        single, strip = shape(request)
        cols = list(plan.columns) if plan.columns is not None else _row_keys(rows)
        resolution = RESOLUTIONS.get(ctx.prefer.get("resolution", ""))
        headers = ctx.applied("return", "resolution", "missing", "count", "tx")
        async with self.pool.acquire() as conn:
            table = await self._target(conn, ctx, name, plan, cols, upsert=True)
            if not rows:
                body_out = "[]" if ctx.representation else None
                return response(201, body_out, {"Content-Range": "*/*", **headers})
            text, args = sql.insert_sql(
                sql.relation(table.schema, table.name),
                rows,
                cols,
                plan,
                representation=ctx.representation,
                missing_default=ctx.prefer.get("missing") == "default",
                conflict=list(plan.on_conflict or table.pk) if resolution else None,
                resolution=resolution,
                strip_nulls=strip,
                dumps=dumps,
                payload=payload,
            )
            n, out = await fetch_write(conn, ctx, text, args, single=single)
        total = n if "count" in ctx.prefer else None
        headers["Content-Range"] = f"*/{'*' if total is None else total}"
        return response(201, out, headers)

    # --- PATCH ------------------------------------------------------------------------------

    async def update(self, request: web.Request, ctx: Context, name: str) -> web.StreamResponse:
        plan = query.parse(request.query.items(), schema=ctx.schema, table=name)
        raw = await request.read()
        body = json_body(raw)
        if not isinstance(body, dict):
            raise errors.invalid_body("Empty or invalid json")
        cols = list(plan.columns) if plan.columns is not None else list(body)
        representation = ctx.representation
        single, strip = shape(request)
        headers = ctx.applied("return", "count", "tx")
        async with self.pool.acquire() as conn:
            table = await self._target(conn, ctx, name, plan, cols)
            if not cols:
                return response(
                    200 if representation else 204, "[]" if representation else None, headers
                )
            if not plan.where:
                raise errors.requires_where("UPDATE")
            text, args = sql.update_sql(
                sql.relation(table.schema, table.name),
                raw.decode(),
                cols,
                plan,
                table.columns,
                representation=representation,
                strip_nulls=strip,
            )
            n, out = await fetch_write(conn, ctx, text, args, single=single)
        total = n if "count" in ctx.prefer else None
        headers["Content-Range"] = content_range(0, n, total)
        return response(200 if representation else 204, out, headers)

    # --- DELETE -----------------------------------------------------------------------------

    async def delete(self, request: web.Request, ctx: Context, name: str) -> web.StreamResponse:
        plan = query.parse(request.query.items(), schema=ctx.schema, table=name)
        representation = ctx.representation
        single, strip = shape(request)
        async with self.pool.acquire() as conn:
            table = await self._target(conn, ctx, name, plan)
            if not plan.where:
                raise errors.requires_where("DELETE")
            text, args = sql.delete_sql(
                sql.relation(table.schema, table.name),
                plan,
                table.columns,
                representation=representation,
                strip_nulls=strip,
            )
            n, out = await fetch_write(conn, ctx, text, args, single=single)
        total = n if "count" in ctx.prefer else None
        headers = {"Content-Range": content_range(0, n, total)}
        headers.update(ctx.applied("return", "count", "tx"))
        return response(200 if representation else 204, out, headers)


def _insert_rows(raw: bytes) -> tuple[list[dict[str, Any]], str]:
    """The rows of an insert body (one object or an array of objects) and their JSON array
    text, as the client sent it, so numbers keep every digit."""
    body = json_body(raw)
    if isinstance(body, dict):
        return [body], "[" + raw.decode() + "]"
    if isinstance(body, list) and all(isinstance(r, dict) for r in body):
        return body, raw.decode()
    raise errors.invalid_body("All object keys must match")


def _row_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The columns of an insert without `columns=`: every row must have the same keys."""
    cols = list(rows[0]) if rows else []
    keys = set(cols)
    if any(set(r) != keys for r in rows[1:]):
        raise errors.invalid_body("All object keys must match")
    return cols
