"""Session-as-role: running SQL as a JWT's role with its claims, the way PostgREST does.

Three parts of the sandbox must make PostgreSQL see a request exactly as Supabase would, so that
RLS policies, `auth.uid()`, `auth.jwt()` and `realtime.topic()` behave the same: the PostgREST
emulation (every `/rest/v1` request), Realtime's authorisation (private channel policies and
row visibility for postgres_changes) and the demo scenarios (users writing their own rows). They
share this module so the three cannot drift apart, and so Realtime never depends on the
PostgREST emulation.

Inside a transaction, `become` sets `request.jwt.claims`, `request.jwt.claim.sub` and
`request.jwt.claim.role`, any extra settings the caller needs (`search_path`, `request.*`,
`realtime.topic`), and finally `role`, all in one statement and all transaction-local.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from functools import lru_cache
from typing import Any

import asyncpg
import orjson

API_ROLES = ("anon", "authenticated", "service_role")


def ident(name: str) -> str:
    """A double-quoted SQL identifier, safe to splice into a statement."""
    return '"' + name.replace('"', '""') + '"'


def dumps(value: Any) -> str:
    """JSON text; integers beyond 64 bits (which orjson refuses) go through `json`."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


@lru_cache(maxsize=16)
def _become_sql(extra: tuple[str, ...]) -> str:
    names = ("request.jwt.claims", "request.jwt.claim.sub", "request.jwt.claim.role", *extra)
    sets = [f"set_config('{name}', ${i}, true)" for i, name in enumerate(names, 1)]
    sets.append("set_config('role', $3, true)")  # last: the settings above are the owner's
    return "select " + ", ".join(sets)


async def become(
    conn: asyncpg.Connection,
    role: str,
    claims: Mapping[str, Any],
    settings: Mapping[str, str] | None = None,
    *,
    timeout: float | None = None,
) -> None:
    """Make the rest of the current transaction run as `role` with `claims` (and `settings`)."""
    extra = settings or {}
    sub = claims.get("sub")
    await conn.execute(
        _become_sql(tuple(extra)),
        dumps(dict(claims)),
        "" if sub is None else str(sub),
        role,
        *extra.values(),
        timeout=timeout,
    )


@asynccontextmanager
async def as_role(
    conn: asyncpg.Connection,
    role: str,
    claims: Mapping[str, Any],
    settings: Mapping[str, str] | None = None,
    *,
    readonly: bool = False,
    rollback: bool = False,
    timeout: float | None = None,
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on `conn` as `role` with `claims`: committed at the end, or rolled back if
    `rollback` is set (PostgREST's `Prefer: tx=rollback`, or a check that must leave no trace)
    or the block raises. A failing rollback never hides the block's own error."""
    tr = conn.transaction(readonly=readonly)
    await tr.start()
    try:
        await become(conn, role, claims, settings, timeout=timeout)
        yield conn
    except BaseException:
        with suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            await tr.rollback()
        raise
    if rollback:
        await tr.rollback()
    else:
        await tr.commit()
