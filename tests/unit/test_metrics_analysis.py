"""metrics.analysis: what the notebooks compute from a recording, over hand-made records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feeds.events import Event, StatusChange, SubscriptionChange
from feeds.recording import Recorder
from metrics.analysis import (
    channel_errors,
    implied_live_slot_counters,
    latency_by_channel,
    latency_distribution,
    latency_over_time,
    live_slot_history,
    load_recording,
    outage_table,
    presence_membership,
    rate_grid,
    slowest,
    split_records,
)
from metrics.store import Store

T0 = 1_700_000_000.0  # a whole ten seconds, so bins start on it


def change(t: float, channel: str, ms: float, record: dict | None = None, **data) -> Event:
    data = {"schema": "public", "table": "tasks", "type": "UPDATE", "record": record or {}, **data}
    return Event(
        t,
        channel,
        "postgres_changes",
        data["type"],
        data["schema"],
        data["table"],
        commit_ts=t - ms / 1000,
        latency_ms=ms,
        payload={"data": data},
    )


def probe(t: float, ms: float) -> Event:
    return Event(t, "probe", "probe", "rtt", latency_ms=ms, payload={"seq": 1})


def slot(t: float, key: str, online: int, commit_delay: float = 0.0) -> Event:
    record = {"itinerary_id": key, "presence_opt_in": 5, "presence_visible": 4}
    record["presence_online"] = online
    ev = change(t, "slots", 10.0, record, schema="group", table="live_slots")
    ev.commit_ts = t - commit_delay
    return ev


def test_latency_by_channel_names_the_slow_channel_as_the_store_does():
    fast = [change(T0 + i, "fast", ms) for i, ms in enumerate([2.0, 3.0, 4.0, 5.0])]
    slow = [change(T0 + i + 0.5, "slow", ms) for i, ms in enumerate([50.0, 400.0, 90.0])]
    records = [*fast, *slow, probe(T0 + 1, 1.5)]
    table = latency_by_channel(split_records(records).events)
    assert table[["channel", "source"]].values.tolist() == [
        ["slow", "commit"],
        ["fast", "commit"],
        ["probe", "probe_rtt"],
    ]
    assert table.iloc[0]["p95"] == float(np.percentile([50, 400, 90], 95))
    assert (table.iloc[0]["count"], table.iloc[0]["max"]) == (3, 400.0)
    store = Store()
    for ev in records:
        store.ingest(ev)
    theirs = store.snapshot(now=T0 + 10).latency_by_channel
    pd.testing.assert_frame_equal(
        table[["channel", "source", "count", "p50", "p95", "p99", "mean", "max"]],
        theirs[["channel", "source", "count", "p50", "p95", "p99", "mean", "max"]],
    )


def test_latency_over_time_shows_when_a_channel_slowed():
    events = [change(T0 + i, "db", 5.0 if i < 10 else 500.0) for i in range(20)]
    table = latency_over_time(split_records(events).events, every="10s")
    assert table["p95"].tolist() == [5.0, 500.0]
    assert table["count"].tolist() == [10, 10]
    assert table["time"].tolist() == [
        pd.Timestamp(T0, unit="s", tz="UTC"),
        pd.Timestamp(T0 + 10, unit="s", tz="UTC"),
    ]


def test_latency_distribution_counts_in_the_store_bins():
    events = [change(T0, "db", 1.0), change(T0 + 1, "db", 1.0), change(T0 + 2, "db", 1000.0)]
    dist = latency_distribution(split_records(events).events)
    assert dist["count"].tolist() == [2, 1]
    assert dist.iloc[0]["from_ms"] <= 1.0 < dist.iloc[0]["to_ms"]
    assert dist.iloc[1]["from_ms"] <= 1000.0 < dist.iloc[1]["to_ms"]


def test_slowest_events_come_with_the_row_they_carried():
    events = [change(T0 + i, "db", float(i), {"id": i}) for i in range(10)]
    top = slowest(split_records(events).events, n=3)
    assert top["latency_ms"].tolist() == [9.0, 8.0, 7.0]
    assert top["payload"].tolist() == [{"id": 9}, {"id": 8}, {"id": 7}]


def test_rate_grid_has_a_zero_where_nothing_arrived():
    chat = [Event(T0 + i, "chat", "broadcast", "msg") for i in (0, 1, 2, 25)]
    records = [*chat, change(T0 + 3, "db", 1.0), probe(T0 + 12, 1.0)]
    grid = rate_grid(split_records(records).events, every="10s")
    by = grid.set_index(["time", "channel"])["messages"]
    at = [pd.Timestamp(T0 + s, unit="s", tz="UTC") for s in (0, 10, 20)]
    assert [by[(t, "chat")] for t in at] == [3, 0, 1]  # the gap is a zero, not a missing cell
    assert [by[(t, "db")] for t in at] == [1, 0, 0]
    assert "probe" not in set(grid["channel"])  # the monitor's own traffic is not traffic
    assert grid["per_s"].max() == pytest.approx(0.3)


def test_outages_come_with_the_server_reason_and_the_final_stop_is_not_one():
    records = [
        StatusChange(T0, "connecting"),
        StatusChange(T0 + 1, "connected"),
        StatusChange(T0 + 10, "reconnecting", "connection lost (code 1012)"),
        StatusChange(T0 + 12.5, "connected"),
        Event(T0 + 20, "chat", "broadcast", "msg"),
        StatusChange(T0 + 30, "disconnected", "stopped"),
    ]
    table = outage_table(split_records(records))
    assert table["duration_s"].tolist() == [2.5]
    assert table["reason"].tolist() == ["connection lost (code 1012)"]
    dropped = split_records([*records[:3], Event(T0 + 20, "chat", "broadcast", "msg")])
    still_open = outage_table(dropped)
    assert still_open["duration_s"].tolist() == [10.0] and still_open["end"].isna().all()


def test_channel_errors_keep_the_server_reason():
    records = [
        SubscriptionChange(T0, "room", "JOINING"),
        SubscriptionChange(T0 + 1, "room", "CHANNEL_ERROR", "Unauthorized: private channel"),
        SubscriptionChange(T0 + 2, "lobby", "SUBSCRIBED"),
    ]
    errors = channel_errors(split_records(records))
    assert errors[["channel", "state", "error"]].values.tolist() == [
        ["room", "CHANNEL_ERROR", "Unauthorized: private channel"]
    ]


def test_presence_membership_counts_states_and_diffs_like_the_roster():
    meta = {"metas": [{"phx_ref": "a"}]}
    events = [
        Event(T0, "lobby", "presence", "presence_state", payload={"u1": meta, "u2": meta}),
        Event(T0 + 1, "lobby", "presence", "presence_diff", payload={"joins": {"u3": meta}}),
        Event(T0 + 2, "lobby", "presence", "presence_diff", payload={"leaves": {"u1": meta}}),
    ]
    members = presence_membership(split_records(events).events)
    assert members["members"].tolist() == [2, 3, 2]


def test_live_slot_history_follows_commit_order_and_ignores_late_changes():
    events = [
        slot(T0, "itn-1", 1),
        slot(T0 + 2, "itn-1", 3),
        slot(T0 + 3, "itn-1", 2, commit_delay=2.5),  # committed before the previous one
        slot(T0 + 4, "itn-2", 0),
    ]
    history = live_slot_history(split_records(events).events)
    assert history[history.key == "itn-1"]["presence_online"].tolist() == [1.0, 3.0]
    assert history[history.key == "itn-2"]["presence_opt_in"].tolist() == [5.0]


def test_implied_counters_follow_the_seed_definitions():
    rows = [
        {"opt_in": True, "visible": True, "status": "online"},
        {"opt_in": True, "visible": True, "status": "away"},
        {"opt_in": True, "visible": False, "status": "online"},
        {"opt_in": False, "visible": True, "status": "online"},
    ]
    assert implied_live_slot_counters(rows) == {
        "presence_opt_in": 3.0,
        "presence_visible": 2.0,
        "presence_online": 1.0,
    }


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_a_recording_loads_with_its_logs(tmp_path, suffix):
    path = tmp_path / f"rec{suffix}"
    with Recorder(path) as rec:
        rec.status(StatusChange(T0, "connected"))
        rec.subscription(SubscriptionChange(T0 + 0.5, "db", "SUBSCRIBED"))
        rec.event(change(T0 + 1, "db", 7.0, {"id": 1}))
    loaded = load_recording(path)
    assert (loaded.start, loaded.end, loaded.seconds) == (T0, T0 + 1, 1.0)
    assert loaded.events["latency_ms"].tolist() == [7.0]
    assert loaded.events["source"].tolist() == ["commit"]
    assert [s.status for s in loaded.statuses] == ["connected"]
    assert loaded.subscriptions["state"].tolist() == ["SUBSCRIBED"]
