"""Changes read from the WAL by logical decoding (pgoutput), streamed, not polled.

psycopg2's replication protocol support is synchronous, so the stream runs in one daemon thread
that decodes whole transactions and hands them to the event loop with `call_soon_threadsafe`.
Transactions arrive in commit order and are handed over in that order, which is what keeps change
order intact end to end. The slot is TEMPORARY: it vanishes with the connection, so a killed
sandbox never leaves a slot pinning WAL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import threading
import time
from collections.abc import Callable

import psycopg2
import psycopg2.extras

from .pgoutput import Change, PgOutputDecoder

log = logging.getLogger("sandbox.replication")

PUBLICATIONS = "supabase_realtime,supabase_realtime_messages_publication"


class ReplicationStream:
    def __init__(
        self,
        dsn: str,
        loop: asyncio.AbstractEventLoop,
        on_transaction: Callable[[list[Change]], None],
    ) -> None:
        self.dsn = dsn
        self.loop = loop
        self.on_transaction = on_transaction
        self.ready = threading.Event()
        self.stopping = threading.Event()
        self.status = "starting"
        self.last_error: str | None = None
        self.transactions = 0
        self._type_names: dict[int, str] = {}
        self._thread = threading.Thread(target=self._run, name="pg-replication", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)

    # --- thread -------------------------------------------------------------------------------

    def _type_name(self, oid: int) -> str:
        name = self._type_names.get(oid)
        if name is None:
            self._load_types()
            name = self._type_names.setdefault(oid, "unknown")
        return name

    def _load_types(self) -> None:
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            cur.execute("select oid::int, typname from pg_type")
            self._type_names.update(cur.fetchall())
        conn.close()

    def _run(self) -> None:
        delay = 0.2
        while not self.stopping.is_set():
            try:
                self._stream()
                delay = 0.2
            except Exception as exc:  # the database went away: retry, forever
                self.status = "reconnecting"
                self.last_error = str(exc).strip()
                log.warning(
                    "replication stream lost (%s); retrying in %.1fs", self.last_error, delay
                )
                self.stopping.wait(delay)
                delay = min(delay * 2, 5.0)

    def _stream(self) -> None:
        self._load_types()
        conn = psycopg2.connect(
            self.dsn,
            connection_factory=psycopg2.extras.LogicalReplicationConnection,
            options="-c timezone=UTC -c datestyle=ISO",
        )
        try:
            cur = conn.cursor()
            slot = f"sandbox_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
            cur.execute(f"CREATE_REPLICATION_SLOT {slot} TEMPORARY LOGICAL pgoutput")
            cur.start_replication(
                slot_name=slot,
                decode=False,
                options={"proto_version": "1", "publication_names": PUBLICATIONS},
            )
            decoder = PgOutputDecoder(self._type_name)
            self.status = "streaming"
            self.ready.set()
            log.info("streaming logical replication from slot %s", slot)
            last_feedback = time.monotonic()
            while not self.stopping.is_set():
                msg = cur.read_message()
                if msg is None:
                    now = time.monotonic()
                    if now - last_feedback > 5:
                        cur.send_feedback()
                        last_feedback = now
                    select.select([conn], [], [], 0.5)
                    continue
                changes = decoder.feed(msg.payload)
                if changes:
                    self.transactions += 1
                    self.loop.call_soon_threadsafe(self.on_transaction, changes)
                    cur.send_feedback(flush_lsn=msg.data_start)
                    last_feedback = time.monotonic()
        finally:
            conn.close()
