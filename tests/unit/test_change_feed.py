"""The change feed's polling, without a server: what one poll takes and when the next comes
(sandbox.changes, after supabase/realtime's replication_poller.ex)."""

from __future__ import annotations

import asyncio
import random

import pytest

from sandbox.changes import POLL_MAX_CHANGES, ChangeFeed, next_poll_in
from sandbox.hub import Hub
from sandbox.pgoutput import Change


def change(table: str = "t") -> Change:
    return Change("public", table, "INSERT", None, [], {"id": 1}, None, 1)


def test_a_poll_takes_whole_transactions_up_to_100_changes():
    async def run() -> None:
        feed = ChangeFeed(Hub(), pool=None, mode="poll")  # type: ignore[arg-type]
        for _ in range(250):
            feed.on_transaction([change()])
        feed.on_transaction([change() for _ in range(30)])
        assert len(feed.take(POLL_MAX_CHANGES)) == 100
        assert len(feed.take(POLL_MAX_CHANGES)) == 100
        # 50 single changes left, then a transaction of 30 that is not split
        assert len(feed.take(POLL_MAX_CHANGES)) == 80
        assert feed.take(POLL_MAX_CHANGES) == []

    asyncio.run(run())


def test_realtime_send_rows_are_not_polled():
    async def run() -> None:
        feed = ChangeFeed(Hub(), pool=None, mode="poll")  # type: ignore[arg-type]
        sent = Change("realtime", "messages", "INSERT", None, [], {"extension": "x"}, None, 2)
        feed.on_transaction([sent, change()])
        assert [c.table for c in feed.take(POLL_MAX_CHANGES)] == ["t"]

    asyncio.run(run())


def test_next_poll_at_once_after_deliveries_then_100_ms_with_jitter_then_500_ms_idle():
    rng = random.Random(1)
    assert next_poll_in(3, 3, rng) == 0
    waits = [next_poll_in(0, 5, rng) for _ in range(200)]
    assert min(waits) >= 0.15 and max(waits) <= 0.2 and len(set(waits)) > 100
    assert next_poll_in(0, 0, rng) == pytest.approx(0.5)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="poll, stream"):
        ChangeFeed(Hub(), pool=None, mode="batch")  # type: ignore[arg-type]
