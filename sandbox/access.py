"""Who may see what, decided by PostgreSQL itself, as on Supabase.

* `Authorizer`: private channels. RLS policies on `realtime.messages` are evaluated as the JWT's
  role with its claims and `realtime.topic` set, inside a transaction that is always rolled back
  (reference §7): a probe row is inserted as the owner and selected as the role (read), and an
  insert is attempted as the role (write). Becoming the role is `as_role`'s job, the module the
  PostgREST emulation uses too, so both see a JWT exactly alike.
* `Publications`: which published tables a postgres_changes binding covers, checked at subscribe
  time as the server's subscription trigger checks it.
* `Visibility`: which postgres_changes each subscriber's JWT may see, decided in SQL exactly as
  Supabase's `realtime.apply_rls` decides it (reference §13.2): INSERT/UPDATE rows are looked up
  by primary key only, typed, as the role with its claims when the table has RLS; a table without
  a primary key gives every subscriber an Error 400 instead of the row, a key the role may not
  select an Error 401; column privileges trim what every table sends. DELETEs are not looked up
  (the row is gone), which is why a table with RLS sends them cut to the primary key
  (`pgchanges` shapes the payloads from the verdicts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from .as_role import API_ROLES, become, dumps
from .auth import Claims
from .channels import Policies
from .pgoutput import Change

log = logging.getLogger("sandbox.access")


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
    """The `supabase_realtime` publication as a postgres_changes binding meets it: the published
    tables it covers, each checked by `realtime.sandbox_subscription_tables` the way the
    server's subscription trigger checks it (sandbox/sql/001_realtime.sql)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def subscription_tables(
        self,
        claims: Claims,
        schema: str,
        table: str,
        filters: tuple[tuple[str, str, str, bool], ...],
        select: tuple[str, ...] | None,
    ) -> list[tuple[str, str]]:
        """(schema, table) of every published table the binding covers, in name order; raises
        `asyncpg.PostgresError` with the trigger's message for a binding it would refuse."""
        rows = await self.pool.fetch(
            "select * from realtime.sandbox_subscription_tables($1, $2, $3, $4, $5, $6, $7)",
            _role(claims),
            schema,
            table,
            [f[0] for f in filters],
            [f[1] for f in filters],
            [f[2] for f in filters],
            list(select) if select is not None else None,
        )
        return [(r["schema_name"], r["table_name"]) for r in rows]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What `realtime.sandbox_visibility` says of one change for one role and claims: the error
    every matching subscription gets instead of the row (400: no primary key, 401: the key is not
    selectable), or whether the row is visible and which of its columns the role may see."""

    error: str | None
    visible: bool
    selectable: frozenset[str]
    pkey: tuple[str, ...]
    rls: bool


VISIBILITY_SQL = (
    "select * from realtime.sandbox_visibility($1::oid, $2, $3::jsonb, $4::jsonb, $5::bigint)"
)


class Visibility:
    """One SQL call per change for all of its subscribers, as `realtime.apply_rls`: the function
    (sandbox/sql/001_realtime.sql) reads the catalog, the column privileges and, for INSERT and
    UPDATE on a table with RLS, looks the row up by primary key as each role with its claims."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def judge(self, change: Change, groups: list[Claims]) -> list[Verdict | None]:
        """A verdict per group (None: nobody in it sees the change, e.g. the table is gone)."""
        order = sorted(range(len(groups)), key=lambda i: _role(groups[i]))  # roles together
        payload = [{"role": _role(groups[i]), "claims": groups[i].claims} for i in order]
        # only INSERT/UPDATE on a table with RLS need the key's values
        record = change.record if change.type != "DELETE" else None
        try:
            rows = await self.pool.fetch(
                VISIBILITY_SQL,
                change.relation_oid,
                change.type,
                dumps(record or {}),
                dumps(payload),
                change.xid,
            )
        except asyncpg.PostgresError as exc:
            log.warning(
                "visibility of a change on %s.%s failed: %s", change.schema, change.table, exc
            )
            return [None] * len(groups)
        verdicts: list[Verdict | None] = [None] * len(groups)
        for row in rows:
            verdicts[order[row["grp"]]] = Verdict(
                row["error"],
                bool(row["visible"]),
                frozenset(row["selectable"]),
                tuple(row["pkey"]),
                bool(row["is_rls"]),
            )
        return verdicts
