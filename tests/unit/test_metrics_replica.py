"""metrics.replica: late, duplicate and stale changes never move a live-slot counter backwards."""

from __future__ import annotations

import math

import numpy as np

from feeds.events import Event
from metrics.replica import (
    APPLIED,
    DELETED,
    DUPLICATE,
    IGNORED,
    STALE,
    UNKEYED,
    LiveSlotReplica,
    parse_time,
)


def change(
    commit: float,
    kind: str = "UPDATE",
    key: str = "it-1",
    online: int = 0,
    updated_at: str | None = None,
    received: float | None = None,
    table: str = "live_slots",
    **extra: object,
) -> Event:
    record = {
        "itinerary_id": key,
        "group_id": "g-1",
        "presence_opt_in": online + 2,
        "presence_visible": online + 1,
        "presence_online": online,
        **extra,
    }
    if updated_at is not None:
        record["updated_at"] = updated_at
    data = {"schema": "group", "table": table, "type": kind, "columns": [], "errors": None}
    data["old_record" if kind == "DELETE" else "record"] = record
    return Event(
        received if received is not None else commit + 0.05,
        "group-live-slots",
        "postgres_changes",
        kind,
        "group",
        table,
        commit_ts=commit,
        latency_ms=50.0,
        payload={"ids": [1], "data": data},
    )


def online(replica: LiveSlotReplica, key: str = "it-1") -> object:
    row = replica.get(key)
    return None if row is None else row.value("presence_online")


def test_in_order_updates_apply():
    r = LiveSlotReplica()
    assert r.apply(change(10.0, "INSERT", online=1)) == APPLIED
    assert r.apply(change(11.0, online=2)) == APPLIED
    assert online(r) == 2
    row = r.get("it-1")
    assert row.commit_ts == 11.0 and row.received_at == 11.05 and row.value("group_id") == "g-1"


def test_out_of_order_event_is_stale_and_never_moves_counter_back():
    r = LiveSlotReplica()
    r.apply(change(10.0, online=5))
    r.apply(change(12.0, online=7))
    assert r.apply(change(11.0, online=6, received=13.0)) == STALE
    assert online(r) == 7
    assert r.stale_ignored == 1
    assert [tuple(h) for h in r.history("it-1")] == [(10.0, 7.0, 6.0, 5.0), (12.0, 9.0, 8.0, 7.0)]


def test_duplicate_is_ignored_and_counted():
    r = LiveSlotReplica()
    ev = change(10.0, online=3, updated_at="2026-01-01T00:00:00.5+00:00")
    assert r.apply(ev) == APPLIED
    assert r.apply(ev) == DUPLICATE
    assert r.apply(change(10.0, online=3, updated_at="2026-01-01T00:00:00.5+00:00")) == DUPLICATE
    assert r.duplicates_ignored == 2 and r.applied == 1 and len(r.history("it-1")) == 1


def test_same_commit_ms_ordered_by_updated_at():
    r = LiveSlotReplica()
    later = change(10.0, online=9, updated_at="2026-01-01T00:00:00.200+00:00")
    earlier = change(10.0, online=8, updated_at="2026-01-01T00:00:00.100+00:00", received=10.2)
    assert r.apply(later) == APPLIED
    assert r.apply(earlier) == STALE
    assert online(r) == 9
    # same order key, different content (no updated_at to tell them apart): arrival order wins
    r2 = LiveSlotReplica()
    r2.apply(change(20.0, online=1))
    assert r2.apply(change(20.0, online=2)) == APPLIED
    assert online(r2) == 2


def test_delete_removes_and_tombstone_blocks_older_resurrection():
    r = LiveSlotReplica()
    r.apply(change(10.0, online=4))
    assert r.apply(change(9.0, "DELETE")) == STALE  # an older delete does not remove a newer row
    assert online(r) == 4
    assert r.apply(change(12.0, "DELETE")) == DELETED
    assert r.get("it-1") is None and len(r) == 0 and len(r.history("it-1")) == 0
    assert r.apply(change(11.0, online=5)) == STALE  # late update from before the delete
    assert r.get("it-1") is None
    assert r.apply(change(12.0, "DELETE")) == DUPLICATE
    assert r.apply(change(13.0, "INSERT", online=1)) == APPLIED  # a genuinely new row
    assert online(r) == 1


def test_delete_with_primary_key_only_old_record_finds_the_row():
    r = LiveSlotReplica()
    r.apply(change(10.0, online=4, id=77))
    ev = change(11.0, "DELETE")
    ev.payload["data"]["old_record"] = {"id": 77}
    assert r.apply(ev) == DELETED
    assert len(r) == 0
    ev2 = change(12.0, "DELETE")
    ev2.payload["data"]["old_record"] = {"id": 78}
    assert r.apply(ev2) == UNKEYED


def test_other_tables_and_malformed_payloads():
    r = LiveSlotReplica()
    assert r.apply(change(10.0, table="tasks")) == IGNORED
    bad = change(10.0)
    bad.payload["data"].pop("record")
    assert r.apply(bad) == UNKEYED
    assert r.unkeyed == 1 and len(r) == 0


def test_eviction_bound_least_recently_updated():
    r = LiveSlotReplica(max_keys=3, history_len=2)
    for i in range(4):
        r.apply(change(10.0 + i, key=f"k{i}", online=i))
    r.apply(change(20.0, key="k1", online=100))  # k1 becomes most recent
    r.apply(change(21.0, key="k9", online=9))
    assert sorted(row.key for row in r.rows()) == ["k1", "k3", "k9"]
    assert r.evicted == 2
    assert len(r.history("k0")) == 0
    for j in range(5):
        r.apply(change(30.0 + j, key="k1", online=j))
    assert r.history("k1")[:, 0].tolist() == [33.0, 34.0]  # history is bounded per key


def test_history_since_leads_with_level_before_window():
    r = LiveSlotReplica()
    for i in range(5):
        r.apply(change(10.0 + i, online=i))
    ((key, rows),) = r.history_since(12.5)
    assert key == "it-1"
    assert rows[:, 0].tolist() == [12.0, 13.0, 14.0]
    assert r.history_since(0.0)[0][1].shape == (5, 4)


def test_parse_time_and_non_numeric_counters():
    assert parse_time("2026-01-01T00:00:00Z") == 1767225600.0
    assert parse_time("2026-01-01 00:00:01+00") == 1767225601.0
    assert parse_time(5) == 5.0 and parse_time(True) is None and parse_time("nope") is None
    r = LiveSlotReplica()
    r.apply(change(10.0, online=1, presence_visible="n/a"))
    hist = r.history("it-1")
    assert math.isnan(hist[0, 2]) and hist[0, 3] == 1.0
    assert isinstance(hist, np.ndarray)
