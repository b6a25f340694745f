"""Who may see what, decided by PostgreSQL itself, as on Supabase.

* `Authorizer`: private channels. RLS policies on `realtime.messages` are evaluated as the JWT's
  role with its claims and `realtime.topic` set, inside a transaction that is always rolled back
  (reference §7): a probe row is inserted as the owner and selected as the role (read), and an
  insert is attempted as the role (write). Becoming the role is `as_role`'s job, the module the
  PostgREST emulation uses too, so both see a JWT exactly alike.
* `Publications`: whether a table is in the `supabase_realtime` publication.
* `Visibility`: postgres_changes respect table RLS for each subscriber's JWT. Tables without RLS
  (and roles that bypass it) take a fast path with no query; otherwise the row is looked up by
  primary key as the subscriber. DELETEs are not checked: the row is gone, and Supabase does not
  check them either. Because they cannot be checked, Supabase's `realtime.apply_rls` sends a
  DELETE on a table with RLS enabled with `old_record` reduced to the primary key columns, to
  every subscriber; `trim_delete` does the same.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import asyncpg
import orjson

from .as_role import API_ROLES, as_role, become, ident
from .auth import Claims
from .channels import Channel, Policies
from .pgoutput import Change

CACHE_SECONDS = 5.0


def _role(claims: Claims) -> str:
    """The database role a JWT acts as; a role the API does not know acts as `anon`."""
    return claims.role if claims.role in API_ROLES else "anon"


class Authorizer:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def read_policies(self, topic: str, claims: Claims) -> Policies:
        if claims.role == "service_role":
            return Policies()
        async with self.pool.acquire() as conn:
            tr = conn.transaction()
            await tr.start()
            try:
                await conn.execute(
                    "insert into realtime.messages (topic, extension, event, private, payload) "
                    "values ($1, 'broadcast', 'authorization_check', true, '{}'), "
                    "($1, 'presence', 'authorization_check', true, '{}')",
                    topic,
                )
                await become(conn, _role(claims), claims.claims, {"realtime.topic": topic})
                try:
                    rows = await conn.fetch(
                        "select distinct extension from realtime.messages "
                        "where topic = $1 and event = 'authorization_check'",
                        topic,
                    )
                except asyncpg.PostgresError:
                    rows = []
                readable = {r["extension"] for r in rows}
                write_b = await self._can_insert(conn, topic, "broadcast")
                write_p = await self._can_insert(conn, topic, "presence")
            finally:
                await tr.rollback()
        return Policies(
            broadcast_read="broadcast" in readable,
            broadcast_write=write_b,
            presence_read="presence" in readable,
            presence_write=write_p,
        )

    @staticmethod
    async def _can_insert(conn: asyncpg.Connection, topic: str, extension: str) -> bool:
        sp = conn.transaction()  # a savepoint: a refused insert must not end the outer check
        await sp.start()
        try:
            await conn.execute(
                "insert into realtime.messages (topic, extension, event, private, payload) "
                "values ($1, $2, 'authorization_check', true, '{}')",
                topic,
                extension,
            )
            return True
        except asyncpg.PostgresError:
            return False
        finally:
            await sp.rollback()

    async def can_write_broadcast(self, topic: str, claims: Claims) -> bool:
        if claims.role == "service_role":
            return True
        return (await self.read_policies(topic, claims)).broadcast_write


class Publications:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._published: tuple[float, set[tuple[str, str]]] = (0.0, set())

    async def published(self) -> set[tuple[str, str]]:
        at, tables = self._published
        if time.monotonic() - at > CACHE_SECONDS:
            rows = await self.pool.fetch(
                "select schemaname, tablename from pg_publication_tables "
                "where pubname = 'supabase_realtime'"
            )
            tables = {(r["schemaname"], r["tablename"]) for r in rows}
            self._published = (time.monotonic(), tables)
        return tables

    async def is_published(self, schema: str, table: str) -> bool:
        if (schema, table) in await self.published():
            return True
        self._published = (0.0, set())  # it may have just been added: look again once
        return (schema, table) in await self.published()


class Visibility:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._tables: dict[tuple[str, str], tuple[float, bool, frozenset[str]]] = {}

    async def trim_delete(self, change: Change) -> Change:
        """`change` as subscribers may see it: a DELETE on a table with RLS keeps only its primary
        key columns in `old_record`, whoever subscribed."""
        if change.type != "DELETE" or not change.old_record:
            return change
        # the catalog's primary key, not change.key_names: under REPLICA IDENTITY FULL pgoutput
        # flags every column as key
        rls, pkey = await self._table(change.schema, change.table)
        if not rls:
            return change
        old = {k: v for k, v in change.old_record.items() if k in pkey}
        return replace(change, old_record=old)

    async def _table(self, schema: str, table: str) -> tuple[bool, frozenset[str]]:
        """Whether the table has RLS enabled, and its primary key columns (cached briefly)."""
        cached = self._tables.get((schema, table))
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1], cached[2]
        row = await self.pool.fetchrow(
            "select c.relrowsecurity as rls, array(select a.attname::text from pg_index i "
            "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey) "
            "where i.indrelid = c.oid and i.indisprimary) as pkey "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = $1 and c.relname = $2",
            schema,
            table,
        )
        rls = bool(row and row["rls"])
        pkey = frozenset(row["pkey"]) if row else frozenset()
        self._tables[(schema, table)] = (time.monotonic(), rls, pkey)
        return rls, pkey

    async def filter(
        self, change: Change, hits: dict[Channel, list[int]]
    ) -> dict[Channel, list[int]]:
        if change.type == "DELETE" or not (await self._table(change.schema, change.table))[0]:
            return hits
        keys = list(change.key_names)
        record = change.record or {}
        if not keys or any(k not in record for k in keys):
            return hits  # no way to look the row up; Supabase would send it too
        verdicts: dict[str, bool] = {}
        out: dict[Channel, list[int]] = {}
        for ch, ids in hits.items():
            claims = ch.claims
            if claims.role == "service_role":
                out[ch] = ids
                continue
            seen = verdicts.get(claims.token)
            if seen is None:
                seen = await self._row_visible(change, keys, record, claims)
                verdicts[claims.token] = seen
            if seen:
                out[ch] = ids
        return out

    async def _row_visible(
        self, change: Change, keys: list[str], record: dict[str, Any], claims: Claims
    ) -> bool:
        where = " and ".join(f"{ident(k)}::text = ${i + 1}" for i, k in enumerate(keys))
        sql = (
            f"select exists(select 1 from {ident(change.schema)}.{ident(change.table)} "
            f"where {where})"
        )
        args = [_as_text(record[k]) for k in keys]
        try:
            async with (
                self.pool.acquire() as conn,
                as_role(conn, _role(claims), claims.claims, {"realtime.topic": ""}, rollback=True),
            ):
                return bool(await conn.fetchval(sql, *args))
        except asyncpg.PostgresError:
            return False


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return str(value)
