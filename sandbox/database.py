"""The sandbox's PostgreSQL: embedded via pgserver (the default) or an external server.

Logical decoding needs `wal_level=logical`, which pgserver does not set; the first start of a new
data directory sets it with ALTER SYSTEM and restarts once (about a second). An external server
must already have it, and the error says how to set it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path

import asyncpg

log = logging.getLogger("sandbox.db")

SQL_DIR = Path(__file__).with_name("sql")
BOOTSTRAP_LOCK = 7_424_201  # advisory lock: sandboxes sharing one database bootstrap in turn


class DatabaseError(RuntimeError):
    """A database the sandbox cannot use, with what to do about it."""


def start_embedded(pgdata: Path) -> tuple[str, object]:
    """Start (or reuse) the pgserver cluster in `pgdata`; return its URI and the handle.

    The handle must stay referenced: pgserver stops the server when the last handle goes away.
    """
    import pgserver
    import psycopg2
    from pgserver._commands import pg_ctl

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    repair_handle_list(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    uri = server.get_uri()
    conn = psycopg2.connect(uri)
    conn.autocommit = True  # ALTER SYSTEM refuses to run inside a transaction
    try:
        with conn.cursor() as cur:
            cur.execute("show wal_level")
            level = cur.fetchone()[0]
            if level != "logical":
                log.info("enabling logical decoding in %s (one restart)", pgdata)
                cur.execute("alter system set wal_level = 'logical'")
                cur.execute("alter system set max_replication_slots = 64")
                cur.execute("alter system set max_wal_senders = 64")
    finally:
        conn.close()
    if level != "logical":
        pg_ctl(
            ["-w", "restart", "-m", "fast"],
            pgdata=server.pgdata,
            user=server.system_user,
            timeout=60,
        )
        server._postmaster_info = None  # pgserver caches the old postmaster pid
        server.ensure_postgres_running()
        uri = server.get_uri()
    return uri, server


HANDLE_LIST = ".handle_pids.json"  # pgserver's list of the processes sharing one cluster


def repair_handle_list(pgdata: Path, tries: int = 5, pause_s: float = 0.1) -> None:
    """pgserver keeps the pids sharing a cluster in a JSON file it rewrites in place, so a
    process killed mid-write (or one reading while another writes) leaves it empty or cut, and
    every later start on that data directory then fails with a JSON error. A read that stays bad
    over a few tries is replaced by the pids in it that still run (none, when nothing parses)."""
    path = pgdata / HANDLE_LIST
    text = ""
    for _ in range(tries):
        if not path.exists():
            return
        text = path.read_text()
        try:
            pids = json.loads(text)
        except ValueError:
            time.sleep(pause_s)
            continue
        if isinstance(pids, list) and all(isinstance(p, int) for p in pids):
            return
        break
    alive = [int(p) for p in re.findall(r"\d+", text) if _running(int(p))]
    log.warning("pgserver's %s was unreadable (%r): rewritten as %s", path, text[:40], alive)
    path.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def check_external(uri: str) -> None:
    try:
        conn = await asyncpg.connect(uri)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"--db-url: cannot connect to {redact(uri)}: {exc}") from None
    try:
        level = await conn.fetchval("show wal_level")
        if level != "logical":
            raise DatabaseError(
                f"--db-url: wal_level is '{level}', logical decoding needs 'logical'. Run "
                "`ALTER SYSTEM SET wal_level = 'logical'` as a superuser and restart PostgreSQL."
            )
    finally:
        await conn.close()


def redact(uri: str) -> str:
    """The URI without its password, for messages."""
    if "@" not in uri or "://" not in uri:
        return uri
    scheme, rest = uri.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


async def bootstrap(pool: asyncpg.Pool, extra: list[Path] | None = None) -> None:
    """Apply every bundled SQL file in order; all are idempotent, so this runs on every start."""
    files = sorted(SQL_DIR.glob("*.sql")) + list(extra or [])
    async with pool.acquire() as conn:
        await conn.execute("select pg_advisory_lock($1)", BOOTSTRAP_LOCK)
        try:
            for path in files:
                try:
                    await conn.execute(path.read_text())
                except asyncpg.PostgresError as exc:
                    raise DatabaseError(f"{path.name}: {exc}") from exc
        finally:
            await conn.execute("select pg_advisory_unlock($1)", BOOTSTRAP_LOCK)


def default_data_dir() -> Path:
    import platformdirs

    env = os.environ.get("SANDBOX_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("realtime-monitor")) / "sandbox"
