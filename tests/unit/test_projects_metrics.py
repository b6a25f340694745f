"""One /metrics for several projects: a collector per project's store in one registry, each
series labelled with its project, each family written once with every project's samples (the
text format wants a name's samples together, and Prometheus rejects a repeated family)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from feeds.events import Event
from metrics.settings import QuotaConfig
from metrics.store import Store
from monitor.prometheus import SnapshotCollector, registry

T0 = 1_700_000_000.0


def store_with(channel: str, n: int) -> Store:
    store = Store()
    for i in range(n):
        store.ingest(Event(T0 + i * 0.01, channel, "broadcast", "tick", size=10, payload={}))
    return store


def test_each_project_has_its_own_series_in_one_exposition():
    stores = {"alpha": store_with("alpha-room", 7), "beta": store_with("beta-room", 19)}
    reg = registry(
        *(
            SnapshotCollector(lambda s=s: s.snapshot(now=T0 + 1), name, QuotaConfig())
            for name, s in stores.items()
        ),
        process=False,
    )
    text = generate_latest(reg).decode()
    families = list(text_string_to_metric_families(text))
    names = [f.name for f in families]
    assert len(names) == len(set(names)), "a family written twice"
    events = next(f for f in families if f.name == "realtime_monitor_events")
    counts = {
        (s.labels["project"], s.labels["channel"]): s.value
        for s in events.samples
        if s.name.endswith("_total")
    }
    assert counts == {("alpha", "alpha-room"): 7, ("beta", "beta-room"): 19}
    connected = next(f for f in families if f.name == "realtime_monitor_connected")
    assert {s.labels["project"] for s in connected.samples} == {"alpha", "beta"}


def test_one_project_is_exposed_exactly_as_before():
    """A file without [[projects]]: the registry holds the one collector as it always did."""
    store = store_with("room", 3)
    one = SnapshotCollector(lambda: store.snapshot(now=T0 + 1), "sandbox", QuotaConfig())
    plain = CollectorRegistry()
    plain.register(one)
    assert generate_latest(registry(one, process=False)) == generate_latest(plain)
