"""From the WAL to the hub: decoded transactions in commit order, and `realtime.send` delivery.

The replication thread hands over whole transactions (`on_transaction`, called on the event
loop); one consumer (`run`) dispatches their changes in order, as Realtime's single CDC process
does. Rows inserted into `realtime.messages` by `realtime.send()` are broadcasts, not
postgres_changes: they go to the topic's subscribers, and the table is pruned now and then since
it is only a transport here.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import orjson

from .access import Visibility
from .hub import Hub
from .pgchanges import ChangeDispatcher
from .pgoutput import Change

log = logging.getLogger("sandbox")

MESSAGES_RETENTION = "10 minutes"
QUEUE_TRANSACTIONS = 10_000


class ChangeFeed:
    def __init__(self, hub: Hub, pool: asyncpg.Pool) -> None:
        self.hub = hub
        self.pool = pool
        self.dispatcher = ChangeDispatcher(hub, Visibility(pool))
        self._queue: asyncio.Queue[list[Change]] = asyncio.Queue(maxsize=QUEUE_TRANSACTIONS)

    def on_transaction(self, changes: list[Change]) -> None:
        try:
            self._queue.put_nowait(changes)
        except asyncio.QueueFull:
            log.error("change queue full; dropping a transaction of %d changes", len(changes))

    async def run(self) -> None:
        """One consumer, so changes go out in commit order (as Realtime's single CDC thread)."""
        while True:
            changes = await self._queue.get()
            for change in changes:
                try:
                    if change.schema == "realtime" and change.table == "messages":
                        self._deliver_db_broadcast(change)
                    else:
                        await self.dispatcher.dispatch(change)
                except Exception:
                    log.exception(
                        "failed to dispatch a change on %s.%s", change.schema, change.table
                    )

    def _deliver_db_broadcast(self, change: Change) -> None:
        row = change.record or {}
        if change.type != "INSERT" or row.get("extension") != "broadcast":
            return
        if row.get("event") == "authorization_check":
            return
        key = (bool(row.get("private")), str(row.get("topic")))
        body = orjson.dumps(row.get("payload"))
        self.hub.user_broadcast(key, str(row.get("event") or ""), body, 1, {"id": row.get("id")})

    async def prune(self) -> None:
        """realtime.send rows are only a transport here; keep the table from growing forever."""
        while True:
            await asyncio.sleep(60)
            try:
                await self.pool.execute(
                    "delete from realtime.messages where inserted_at < now() - interval "
                    f"'{MESSAGES_RETENTION}'"
                )
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("pruning realtime.messages failed: %s", exc)
