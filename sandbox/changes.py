"""From the WAL to the hub: postgres_changes streamed or polled, and `realtime.send` delivery.

The replication thread hands over whole transactions in commit order (`on_transaction`, called
on the event loop). Rows inserted into `realtime.messages` by `realtime.send()` are broadcasts,
not postgres_changes: they go to the topic's subscribers at once (the server streams them on its
replication connection; `replay`), and rows older than 72 h, past what replays reach, are pruned.
Over the tenant's message rate, changes are dropped (`quotas`).
Every other change waits in a queue, "the slot", for one consumer that dispatches in order, as
Realtime's single CDC process does, in one of two modes (`--changes`):

* `poll` (the default, like Supabase): the consumer polls the slot as
  lib/extensions/postgres_cdc_rls/replication_poller.ex does, taking whole transactions up to
  `poll_max_changes` (100) changes a poll. It polls again at once after a poll that delivered
  something, after `poll_interval_ms` (100) plus 50-100 ms of jitter after one that read changes
  nobody received, and after 500 ms when the slot was empty. A change therefore reaches its
  client 100-600 ms after its commit, as on a real project.
* `stream`: each transaction is dispatched as soon as it arrives (a few milliseconds), for
  benchmarks and for tests that must not wait.
"""

from __future__ import annotations

import asyncio
import logging
import random

import asyncpg

from . import replay
from .access import Visibility
from .hub import Hub
from .pgchanges import ChangeDispatcher
from .pgoutput import Change

log = logging.getLogger("sandbox")

MODES = ("poll", "stream")
MESSAGES_RETENTION = "72 hours"  # what replays can reach (Realtime.Messages: 72 h)
QUEUE_TRANSACTIONS = 10_000
# the server's defaults (lib/extensions/postgres_cdc_rls/db_settings.ex, replication_poller.ex)
POLL_INTERVAL_S = 0.1
POLL_JITTER_S = (0.05, 0.1)
IDLE_MULTIPLIER = 5
POLL_MAX_CHANGES = 100


def next_poll_in(delivered: int, read: int, rng: random.Random) -> float:
    """Seconds to the next poll after one that read `read` changes and delivered `delivered`."""
    if delivered:
        return 0.0
    if read:
        return POLL_INTERVAL_S + rng.uniform(*POLL_JITTER_S)
    return POLL_INTERVAL_S * IDLE_MULTIPLIER


class ChangeFeed:
    def __init__(
        self, hub: Hub, pool: asyncpg.Pool, mode: str = "poll", rng: random.Random | None = None
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"changes mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.hub = hub
        self.pool = pool
        self.mode = mode
        self.rng = rng or random.Random()
        self.polls = 0
        self.dispatcher = ChangeDispatcher(hub, Visibility(pool))
        self._queue: asyncio.Queue[list[Change]] = asyncio.Queue(maxsize=QUEUE_TRANSACTIONS)

    def on_transaction(self, changes: list[Change]) -> None:
        rows = []
        for change in changes:
            if change.schema != "realtime" or change.table != "messages":
                rows.append(change)
                continue
            try:
                self._deliver_db_broadcast(change)
            except Exception:
                log.exception("failed to deliver a realtime.send broadcast")
        if not rows:
            return
        try:
            self._queue.put_nowait(rows)
        except asyncio.QueueFull:
            log.error("change queue full; dropping a transaction of %d changes", len(rows))

    async def run(self) -> None:
        """The one consumer, so changes go out in commit order."""
        if self.mode == "stream":
            while True:
                for change in await self._queue.get():
                    await self._dispatch(change)
        while True:
            batch = self.take(POLL_MAX_CHANGES)
            delivered = 0
            for change in batch:
                delivered += await self._dispatch(change) > 0
            self.polls += 1
            await asyncio.sleep(next_poll_in(delivered, len(batch), self.rng))

    def take(self, limit: int) -> list[Change]:
        """Whole transactions until `limit` changes are read, as pg_logical_slot_get_changes's
        `upto_nchanges` stops only at a transaction's end."""
        batch: list[Change] = []
        while len(batch) < limit and not self._queue.empty():
            batch += self._queue.get_nowait()
        return batch

    async def _dispatch(self, change: Change) -> int:
        if not self.hub.quotas.db_changes_allowed():
            return 0  # over the tenant's rate: dropped (replication_poller.ex)
        try:
            sent = await self.dispatcher.dispatch(change)
        except Exception:
            log.exception("failed to dispatch a change on %s.%s", change.schema, change.table)
            return 0
        self.hub.quotas.db_events.add(sent)
        return sent

    def _deliver_db_broadcast(self, change: Change) -> None:
        """A `realtime.send` row to its topic's subscribers, with `meta.id` (reference §4.5)."""
        row = change.record or {}
        if change.type != "INSERT" or row.get("extension") != "broadcast":
            return
        if row.get("event") == "authorization_check":
            return
        replay.deliver(self.hub, row)  # binary payloads, the tenant's message rate

    async def prune(self) -> None:
        """Rows older than replays reach are deleted (the server drops day partitions)."""
        while True:
            await asyncio.sleep(60)
            try:
                await self.pool.execute(
                    "delete from realtime.messages where inserted_at < now() - interval "
                    f"'{MESSAGES_RETENTION}'"
                )
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("pruning realtime.messages failed: %s", exc)
