"""`/metrics` from a real Store fed known events, parsed back with prometheus_client's own parser:
every value and every bucket count exact, the histogram's `le` bounds placing each sample where
the store's bins put it, labels bounded, one snapshot per scrape."""

from __future__ import annotations

import math

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from feeds.events import (
    CHANNEL_ERROR,
    CONNECTED,
    CONNECTING,
    DISCONNECTED,
    JOINING,
    SUBSCRIBE_STATES,
    SUBSCRIBED,
    Event,
    StatusChange,
    SubscriptionChange,
)
from feeds.problems import CLASSES, NETWORK, POLICY_DENIED, Problem
from metrics.quota import gauges
from metrics.settings import QuotaConfig
from metrics.stats import HIST_EDGES, hist_slot
from metrics.store import Store
from monitor import prometheus
from monitor.prometheus import (
    EDGE_SLOTS,
    LE_SECONDS,
    MAX_EVENT_SERIES,
    MAX_SLOT_KEYS,
    SnapshotCollector,
    registry,
)

T0 = 1_700_000_000.0
NOW = T0 + 20.0
P = "test-project"
E = [float(x) for x in HIST_EDGES]
# Commit latencies (ms) on channel "db": below the first bucket, exactly on edges and just below
# them (where a half-open bin and Prometheus's "at most" could disagree), inside, above the last
# bucket and beyond the store's own range.
COMMIT_MS = [
    0.01,
    1.0,
    4.0,
    float(np.nextafter(E[25], 0)),
    E[25],
    10.0,
    E[40],
    float(np.nextafter(E[40], 0)),
    250.0,
    900.0,
    4999.9,
    E[63],
    6000.0,
    200_000.0,
]
SLOTS_MS = [30.0, 45.0]  # the live-slot rows' own latencies, on channel "slots"
RTT_MS = [2.0, 3.0, 7.5]
DB_MS = [120.0, 300.0]


def bcast(t: float, channel: str, event: str, size: int) -> Event:
    return Event(t, channel, "broadcast", event, size=size, payload={})


def pg(t: float, ms: float, channel: str = "db", table: str = "items", **record) -> Event:
    schema = "group" if table == "live_slots" else "public"
    data = {"schema": schema, "table": table, "type": "UPDATE", "record": record}
    return Event(
        t,
        channel,
        "postgres_changes",
        "UPDATE",
        schema,
        table,
        commit_ts=t - ms / 1000,
        latency_ms=ms,
        size=200,
        payload={"data": data},
    )


def probe(t: float, which: str, ms: float) -> Event:
    return Event(t, "monitor-probe", "probe", which, latency_ms=ms, size=40)


def presence(t: float, joins: dict, leaves: dict | None = None) -> Event:
    payload = {"joins": joins, "leaves": leaves or {}}
    return Event(t, "lobby", "presence", "presence_diff", size=80, payload=payload)


def fed_store() -> Store:
    store = Store(clock=lambda: NOW, window_s=60)
    store.record_status(StatusChange(T0, CONNECTING))
    store.record_status(StatusChange(T0 + 1, CONNECTED))
    for ch in ("room", "hall", "db", "slots", "lobby"):
        store.record_subscription(SubscriptionChange(T0 + 1, ch, JOINING))
    for ch in ("room", "db", "slots", "lobby"):
        store.record_subscription(SubscriptionChange(T0 + 1.5, ch, SUBSCRIBED))
    store.record_subscription(SubscriptionChange(T0 + 1.5, "hall", CHANNEL_ERROR, "denied"))
    t = T0 + 2
    for i in range(7):
        store.ingest(bcast(t + i * 0.01, "room", "msg", 10))
    for i in range(3):
        store.ingest(bcast(t + 0.1 + i * 0.01, "room", "other", 25))
    for i in range(5):
        store.ingest(bcast(t + 0.2 + i * 0.01, "hall", "msg", 4))
    for i, ms in enumerate(COMMIT_MS):
        store.ingest(pg(t + 1 + i * 0.01, ms))
    store.ingest(pg(t + 2, SLOTS_MS[0], "slots", "live_slots", itinerary_id="a", presence_online=3))
    store.ingest(
        pg(t + 2.1, SLOTS_MS[1], "slots", "live_slots", itinerary_id="b", presence_online=5)
    )
    for i, ms in enumerate(RTT_MS):
        store.ingest(probe(t + 3 + i * 0.01, "rtt", ms))
    for i, ms in enumerate(DB_MS):
        store.ingest(probe(t + 3.5 + i * 0.01, "db", ms))
    store.ingest(presence(t + 4, {"ann": {"metas": [{"phx_ref": "1"}]}}))
    store.ingest(presence(t + 4.1, {"bob": {"metas": [{"phx_ref": "2"}]}}))
    store.ingest(presence(t + 4.2, {}, {"ann": {"metas": [{"phx_ref": "1"}]}}))
    # a network outage (one socket incident, closed on reconnect) and a refused channel
    store.record_problem(Problem(T0 + 10, "", NETWORK, "connection lost", "reconnect"))
    store.record_status(StatusChange(T0 + 10, DISCONNECTED, "connection lost"))
    store.record_status(StatusChange(T0 + 12, CONNECTED))
    store.record_problem(Problem(T0 + 13, "hall", POLICY_DENIED, "Unauthorized", "rejoin"))
    return store


def scrape(collector: SnapshotCollector) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of one scrape, as Prometheus would read it."""
    text = generate_latest(registry(collector, process=False)).decode()
    out: dict[tuple[str, frozenset], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(f"realtime_monitor_{name}", frozenset({"project": P, **labels}.items()))]


def series(samples: dict, name: str) -> dict[frozenset, float]:
    return {k[1]: v for k, v in samples.items() if k[0] == f"realtime_monitor_{name}"}


@pytest.fixture(scope="module")
def store() -> Store:
    return fed_store()


@pytest.fixture(scope="module")
def samples(store: Store) -> dict:
    return scrape(SnapshotCollector(store.snapshot, P, QuotaConfig(), lambda: 3))


def test_user_traffic_counts_and_bytes_by_channel_kind_event(samples):
    expect = {
        ("room", "broadcast", "msg"): (7, 70),
        ("room", "broadcast", "other"): (3, 75),
        ("hall", "broadcast", "msg"): (5, 20),
        ("db", "postgres_changes", "UPDATE"): (len(COMMIT_MS), 200 * len(COMMIT_MS)),
        ("slots", "postgres_changes", "UPDATE"): (2, 400),
        ("lobby", "presence", "presence_diff"): (3, 240),
    }
    got = {
        (dict(k)["channel"], dict(k)["kind"], dict(k)["event"]): v
        for k, v in series(samples, "events_total").items()
    }
    assert got == {k: float(n) for k, (n, _) in expect.items()}
    got_bytes = {
        (dict(k)["channel"], dict(k)["kind"], dict(k)["event"]): v
        for k, v in series(samples, "event_bytes_total").items()
    }
    assert got_bytes == {k: float(b) for k, (_, b) in expect.items()}
    assert value(samples, "probe_messages_total", event="rtt") == len(RTT_MS)
    assert value(samples, "probe_messages_total", event="db") == len(DB_MS)
    assert value(samples, "probe_bytes_total", event="rtt") == 40 * len(RTT_MS)
    assert value(samples, "malformed_frames_total") == 3
    assert value(samples, "last_message_timestamp_seconds") == pytest.approx(T0 + 6.2)


def prometheus_buckets(observed_ms: list[float]) -> dict[str, float]:
    """What a Prometheus client library would count: observations (in seconds) at most `le`."""
    out = {repr(le): float(sum(1 for ms in observed_ms if ms / 1000 <= le)) for le in LE_SECONDS}
    out["+Inf"] = float(len(observed_ms))
    return out


def histogram(samples: dict, name: str, **labels: str) -> tuple[dict[str, float], float, float]:
    buckets = {
        dict(k)["le"]: v
        for k, v in series(samples, f"{name}_bucket").items()
        if {("project", P), *labels.items()} <= set(k)
    }
    return (
        buckets,
        value(samples, f"{name}_count", **labels),
        value(samples, f"{name}_sum", **labels),
    )


@pytest.mark.parametrize(
    "name, labels, observed",
    [
        ("commit_latency_seconds", {"channel": "db"}, COMMIT_MS),
        ("commit_latency_seconds", {"channel": "slots"}, SLOTS_MS),
        ("probe_rtt_seconds", {}, RTT_MS),
        ("probe_db_latency_seconds", {}, DB_MS),
    ],
)
def test_latency_histograms_count_every_sample_in_its_bucket(samples, name, labels, observed):
    buckets, count, total = histogram(samples, name, **labels)
    assert buckets == prometheus_buckets(observed)
    assert count == len(observed)
    assert total == pytest.approx(sum(observed) / 1000, rel=1e-12)


def test_buckets_resolve_5ms_to_5s_on_the_store_edges():
    assert LE_SECONDS[0] <= 0.005 and LE_SECONDS[-1] >= 5.0
    assert list(LE_SECONDS) == sorted(set(LE_SECONDS))
    for le, i in zip(LE_SECONDS, EDGE_SLOTS, strict=True):
        assert le == pytest.approx(E[i] / 1000, rel=1e-12)  # the store's own edge


@pytest.mark.parametrize("i", EDGE_SLOTS)
def test_each_le_agrees_with_the_store_bins_at_its_edge(i):
    """The store's bin i holds [E[i-1], E[i]); its bucket holds every x/1000 <= le: the same
    samples, also for the doubles on and next to the edge."""
    le = LE_SECONDS[EDGE_SLOTS.index(i)]
    e = E[i]
    for x in (np.nextafter(e, 0), e, np.nextafter(e, math.inf), e * 0.999, e * 1.001):
        x = float(x)
        assert (hist_slot(x) <= i) == (x / 1000 <= le), (i, x)


def test_connection_channels_and_uptime(samples, store):
    snap = store.snapshot()
    assert value(samples, "connected") == 1.0
    assert value(samples, "reconnects_total") == 1.0
    assert value(samples, "uptime_ratio") == pytest.approx(snap.uptime)
    assert value(samples, "socket_uptime_ratio") == pytest.approx(snap.socket_uptime)
    assert snap.uptime < snap.socket_uptime < 1.0  # the refused channel costs uptime
    assert value(samples, "window_seconds") == pytest.approx(20.0)
    subscribed = {dict(k)["channel"]: v for k, v in series(samples, "channel_subscribed").items()}
    assert subscribed == {"room": 1.0, "hall": 0.0, "db": 1.0, "slots": 1.0, "lobby": 1.0}
    states = series(samples, "channel_state")
    assert len(states) == 5 * len(SUBSCRIBE_STATES)
    hall = {dict(k)["state"]: v for k, v in states.items() if dict(k)["channel"] == "hall"}
    assert hall == {s: float(s == CHANNEL_ERROR) for s in SUBSCRIBE_STATES}
    for ch in subscribed:  # one-hot
        assert sum(v for k, v in states.items() if dict(k)["channel"] == ch) == 1.0


def test_incidents_open_and_total_by_class(samples):
    opened = {dict(k)["class"]: v for k, v in series(samples, "incidents_open").items()}
    total = {dict(k)["class"]: v for k, v in series(samples, "incidents_total").items()}
    assert set(opened) == set(total) == set(CLASSES)  # every class, 0 included
    assert {c: v for c, v in opened.items() if v} == {POLICY_DENIED: 1.0}
    assert {c: v for c, v in total.items() if v} == {POLICY_DENIED: 1.0, NETWORK: 1.0}


def test_incident_totals_count_each_incident_once_across_scrapes_and_restart_on_reset():
    store = Store(clock=lambda: NOW)
    collector = SnapshotCollector(store.snapshot, P, QuotaConfig())
    store.record_problem(Problem(T0, "a", POLICY_DENIED, "Unauthorized", "rejoin"))
    store.record_problem(Problem(T0 + 1, "a", POLICY_DENIED, "Unauthorized", "rejoin"))  # repeat
    assert value(scrape(collector), "incidents_total", **{"class": POLICY_DENIED}) == 1
    store.record_problem(Problem(T0 + 2, "b", POLICY_DENIED, "Unauthorized", "rejoin"))
    store.record_problem(Problem(T0 + 2, "", NETWORK, "connection lost", "reconnect"))
    s = scrape(collector)
    assert value(s, "incidents_total", **{"class": POLICY_DENIED}) == 2
    assert value(s, "incidents_total", **{"class": NETWORK}) == 1
    assert value(scrape(collector), "incidents_total", **{"class": POLICY_DENIED}) == 2  # again
    store.reset()
    store.record_problem(Problem(T0 + 3, "c", NETWORK, "connection lost", "reconnect"))
    s = scrape(collector)  # a counter reset, as Prometheus reads a restarted process
    assert value(s, "incidents_total", **{"class": POLICY_DENIED}) == 0
    assert value(s, "incidents_total", **{"class": NETWORK}) == 1


def test_quota_gauges_in_base_units(samples, store):
    config = QuotaConfig()
    expect = {g.name: g for g in gauges(store.snapshot(), config)}
    used = {dict(k)["quota"]: v for k, v in series(samples, "quota_used").items()}
    limit = {dict(k)["quota"]: v for k, v in series(samples, "quota_limit").items()}
    ratio = {dict(k)["quota"]: v for k, v in series(samples, "quota_used_ratio").items()}
    assert set(used) == {n.replace("_kb", "_bytes") for n in expect}
    assert limit["broadcast_payload_bytes"] == expect["broadcast_payload_kb"].limit * 1024
    assert used["broadcast_payload_bytes"] == pytest.approx(25.0)  # the largest broadcast
    assert limit["messages_per_s"] == expect["messages_per_s"].limit
    assert used["messages_per_s"] == pytest.approx(expect["messages_per_s"].used)
    for name in used:
        assert ratio[name] == pytest.approx(used[name] / limit[name])


def test_presence_and_live_slots(samples):
    members = {dict(k)["channel"]: v for k, v in series(samples, "presence_members").items()}
    assert members == {"lobby": 1.0}
    slots = {
        (dict(k)["table"], dict(k)["key"], dict(k)["counter"]): v
        for k, v in series(samples, "live_slot_counter").items()
    }
    assert slots == {
        ("group.live_slots", "a", "presence_online"): 3.0,
        ("group.live_slots", "b", "presence_online"): 5.0,
    }


def test_labels_stay_bounded():
    store = Store(clock=lambda: NOW)
    n_events, n_keys = MAX_EVENT_SERIES + 100, MAX_SLOT_KEYS + 50
    for i in range(n_events):
        store.ingest(bcast(T0 + i * 0.001, "room", f"e{i}", 1))
    for i in range(n_keys):
        store.ingest(
            pg(T0 + 1 + i * 0.001, 5.0, "slots", "live_slots", itinerary_id=i, presence_online=i)
        )
    s = scrape(SnapshotCollector(store.snapshot, P, QuotaConfig()))
    events = {
        (dict(k)["channel"], dict(k)["event"]): v for k, v in series(s, "events_total").items()
    }
    room = {e: v for (ch, e), v in events.items() if ch == "room"}
    # the first 500 (channel, kind, event) seen keep their names, later ones are "_other"
    assert len(room) == MAX_EVENT_SERIES + 1
    assert room[prometheus.OTHER_EVENT] == n_events - MAX_EVENT_SERIES
    assert sum(room.values()) == n_events
    assert events == {**{("room", e): v for e, v in room.items()}, ("slots", "_other"): n_keys}
    keys = {dict(k)["key"] for k in series(s, "live_slot_counter")}
    assert keys == {str(i) for i in range(n_keys - MAX_SLOT_KEYS, n_keys)}  # the latest 200


def test_one_snapshot_per_scrape_and_counters_never_go_down():
    store = fed_store()
    calls = []

    def snapshot():
        calls.append(1)
        return store.snapshot()

    collector = SnapshotCollector(snapshot, P, QuotaConfig())
    before = scrape(collector)
    assert len(calls) == 1
    store.ingest(pg(T0 + 15, 70.0))
    after = scrape(collector)
    assert len(calls) == 2
    for key, v in before.items():
        if key[0].endswith(("_total", "_bucket", "_count", "_sum")):
            assert after[key] >= v, key
    assert value(after, "commit_latency_seconds_count", channel="db") == len(COMMIT_MS) + 1


def test_project_label():
    assert prometheus.project_name("", uses_sandbox=True) == "sandbox"
    assert prometheus.project_name("https://abc.supabase.co", uses_sandbox=False) == (
        "abc.supabase.co"
    )
    assert prometheus.project_name("http://127.0.0.1:54321", uses_sandbox=False) == "127.0.0.1"
