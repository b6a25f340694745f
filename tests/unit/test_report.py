"""The headless report: a digest of one snapshot, serialised as strict JSON with the figures a
script would read (exit codes and the live path are in tests/integration/test_monitor_cli.py)."""

from __future__ import annotations

import json

from feeds.events import Event, StatusChange, SubscriptionChange
from metrics.store import Store
from monitor.report import dumps, summary


def store_with_an_outage() -> Store:
    store = Store()
    for change in [
        StatusChange(1000.0, "connecting"),
        StatusChange(1001.0, "connected"),
        StatusChange(1050.0, "reconnecting", "socket closed"),
        StatusChange(1060.0, "connected"),
    ]:
        store.record_status(change)
    store.record_subscription(SubscriptionChange(1001.0, "room", "SUBSCRIBED"))
    store.ingest(Event(1090.0, "room", "broadcast", "msg", size=10, payload={"event": "msg"}))
    store.ingest(Event(1090.5, "monitor-probe", "probe", "rtt", latency_ms=4.0, size=40))
    record = {"itinerary_id": "x", "presence_online": 1}
    payload = {
        "data": {"schema": "group", "table": "live_slots", "type": "UPDATE", "record": record}
    }
    store.ingest(
        Event(
            1091.0,
            "db",
            "postgres_changes",
            "UPDATE",
            "group",
            "live_slots",
            commit_ts=1090.988,
            latency_ms=12.0,
            size=100,
            payload=payload,
        )
    )
    return store


def test_summary_is_strict_json_with_the_headline_figures():
    body = json.loads(dumps(summary(store_with_an_outage().snapshot(now=1100.0))))
    json.dumps(body, allow_nan=False)  # NaN and infinity became null
    assert body["connection"]["status"] == "connected"
    assert body["connection"]["outages"][0]["duration_s"] == 10.0
    assert body["connection"]["reconnects_total"] == 1
    assert body["channels"] == {
        "room": {"state": "SUBSCRIBED", "since": 1001.0, "error": None, "last_error": None}
    }
    assert body["messages"]["by_channel"] == {"room": 1, "db": 1}
    assert body["messages"]["probes"] == 1
    assert body["rates"]["total"] == 0.02
    assert body["latency_ms"]["probe_rtt"]["p50"] == 4.0
    assert body["latency_ms"]["probe_db"]["p50"] is None
    assert body["replica"][0]["key"] == "x" and body["replica"][0]["presence_online"] == 1
    assert body["message_age_s"] == 9.0
