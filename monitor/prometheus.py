"""Prometheus exposition: `/metrics` of the dashboard server and of `check|record --metrics-port`.

One `SnapshotCollector` per process. On each scrape it takes ONE `Store.snapshot()` and yields
metric families from that snapshot alone (`families`), like every other reader of the store: a
scrape never runs on the ingest's path, and nothing at all is done between scrapes (all ingest
does for it is keep the cumulative latency histograms, one addition per sample,
`metrics.buffers`). Built with
`prometheus_client`'s custom-collector API (`*MetricFamily`), so the text and OpenMetrics formats,
escaping and content negotiation are the library's.

Names (prefix `realtime_monitor_`, base units, `_total` for counters; every series has `project`):

* traffic: `events_total` and `event_bytes_total` {channel, kind, event}: user messages since
  start; `probe_messages_total` and `probe_bytes_total` {event}: the monitor's own probes;
  `malformed_frames_total`; `last_message_timestamp_seconds`.
* latency histograms, cumulative since start: `commit_latency_seconds` {channel} (commit to
  receive of postgres_changes), `probe_rtt_seconds` and `probe_db_latency_seconds`. Their
  buckets are the store's own fixed histogram edges (`metrics.stats.HIST_EDGES`, 20 % apart)
  from 4.9 ms to 5.3 s, so each bucket is an exact sum of the store's bins: nothing is re-binned
  or interpolated. The store's bins are closed below and open above ([lo, hi)), Prometheus's
  `le` is "at most"; each `le` is therefore the largest number below the edge (in seconds), and
  a sample exactly on an edge lands in the same bucket both ways (tests/unit/
  test_prometheus_exposition.py checks every edge).
* connection: `connected` (0/1), `reconnects_total`, `uptime_ratio` (socket up and every watched
  channel subscribed) and `socket_uptime_ratio` over `window_seconds` (the store's window, or
  less just after start), `channel_subscribed` {channel} and one-hot `channel_state`
  {channel, state}.
* incidents: `incidents_open` and `incidents_total` {class}, every class of `feeds.problems`.
* quotas (`metrics.quota.gauges`): `quota_used`, `quota_monitor_used`, `quota_limit`,
  `quota_used_ratio` {quota}; payload quotas in bytes (`broadcast_payload_bytes`, ...).
* `presence_members` {channel}; `live_slot_counter` {table, key, counter}.
* alert delivery (`monitor.notify.families`, through `SnapshotCollector.extra`):
  `notify_sent_total`, `notify_failed_attempts_total` {webhook}, `notify_dropped_total`
  {webhook, reason}, `notify_queued` {webhook}, `notify_firing`.

Labels stay bounded: channels are the watched ones; event names are the first `MAX_EVENT_SERIES`
(channel, kind, event) seen, later ones counted under event "_other" (the first-seen order never
changes, so every series stays monotonic); live-slot keys are the `MAX_SLOT_KEYS` most recently
updated (a key that falls out of them ends its series). No payload value and no id but those
live-slot keys is a label.

`incidents_total` by class is counted here, by incident id: the store keeps the open incidents
and the latest 500 closed ones (with their ids, which only grow), so a class total is exact as
long as fewer than 500 incidents close between two scrapes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
from prometheus_client import (
    CollectorRegistry,
    ProcessCollector,
    make_wsgi_app,
    start_http_server,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from feeds.events import CONNECTED, SUBSCRIBE_STATES, SUBSCRIBED
from feeds.problems import CLASSES
from metrics.quota import KB, gauges
from metrics.settings import QuotaConfig
from metrics.snapshot import LatencyHistogram, Snapshot
from metrics.stats import COMMIT, HIST_EDGES, PROBE_DB, PROBE_RTT

if TYPE_CHECKING:
    from feeds.monitor import Monitor
    from metrics.store import Store
    from monitor.config import WatchConfig

PREFIX = "realtime_monitor_"
MAX_EVENT_SERIES = 500
MAX_SLOT_KEYS = 200
OTHER_EVENT = "_other"
# The store's histogram edges exposed as buckets: 4.9 ms (slot 25's upper edge) to 5.3 s (slot
# 63's); everything below the first is in the first bucket, above the last only in +Inf.
FIRST_EDGE, LAST_EDGE = 25, 63
EDGE_SLOTS: tuple[int, ...] = tuple(range(FIRST_EDGE, LAST_EDGE + 1))
# Slot i (metrics.stats) holds EDGES[i-1] <= ms < EDGES[i]; its samples are "at most" the double
# just below EDGES[i], which is the bucket's le once in seconds.
LE_SECONDS: tuple[float, ...] = tuple(
    float(np.nextafter(HIST_EDGES[i], 0.0)) / 1000.0 for i in EDGE_SLOTS
)
_LE_TEXT = tuple(repr(le) for le in LE_SECONDS)
HISTOGRAMS = {
    COMMIT: ("commit_latency_seconds", "Commit-to-receive latency of postgres_changes."),
    PROBE_RTT: ("probe_rtt_seconds", "Round trip of the monitor's broadcast probe."),
    PROBE_DB: ("probe_db_latency_seconds", "Insert-to-receive latency of the database probe."),
}


def project_name(url: str, uses_sandbox: bool) -> str:
    """The `project` label of a config without [[projects]]: "sandbox" for the monitor's own
    sandbox, else the URL's host."""
    if uses_sandbox:
        return "sandbox"
    return urlsplit(url).hostname or url


def project_label(config: WatchConfig) -> str:
    """A project's name everywhere (the `project` label, the pages' selector, ?project=): its
    [[projects]] name, or for the single project of a file without them the label it always
    had, so dashboards and alert rules written for one project keep working."""
    return config.project or project_name(config.connection.url, config.uses_sandbox)


def buckets(hist: LatencyHistogram) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs, +Inf last, from the store's per-slot counts."""
    cum = np.cumsum(hist.counts)
    out = [(text, float(cum[i])) for text, i in zip(_LE_TEXT, EDGE_SLOTS, strict=True)]
    out.append(("+Inf", float(cum[-1])))
    return out


class IncidentTotals:
    """Incidents ever opened, by class: counted by incident id across scrapes (module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen = 0  # the highest incident id counted
        self._store_total = 0
        self.by_class: dict[str, int] = {}

    def update(self, snap: Snapshot) -> dict[str, int]:
        with self._lock:
            if snap.incidents_total < self._store_total:  # the store was reset: ids restart
                self._seen, self.by_class = 0, {}
            self._store_total = snap.incidents_total
            newest = self._seen
            for inc in snap.incidents:
                if inc.id > self._seen:
                    self.by_class[inc.cls] = self.by_class.get(inc.cls, 0) + 1
                    newest = max(newest, inc.id)
            self._seen = newest
            return dict(self.by_class)


def _num(value: Any) -> float | None:
    """A live-slot value as a number, or None (text, null, a bool flag is still a number)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def families(
    snap: Snapshot,
    project: str,
    quota_config: QuotaConfig,
    malformed_frames: int | None = None,
    incident_totals: dict[str, int] | None = None,
) -> Iterator[Metric]:
    """Every metric family of one snapshot (a pure function of it; see the module doc)."""
    p = project
    name = PREFIX.__add__

    # ---- traffic ------------------------------------------------------------------------------
    events = CounterMetricFamily(
        name("events"),
        "User messages received since start (broadcast, postgres_changes, presence, system).",
        labels=["project", "channel", "kind", "event"],
    )
    nbytes = CounterMetricFamily(
        name("event_bytes"),
        "Bytes of user messages received since start (as framed on the socket).",
        labels=["project", "channel", "kind", "event"],
    )
    kept: dict[tuple[str, str, str], list[int]] = {}
    for i, ((ch, kind, ev), (count, size)) in enumerate(snap.event_totals.items()):
        key = (ch, kind, ev) if i < MAX_EVENT_SERIES else (ch, kind, OTHER_EVENT)
        acc = kept.setdefault(key, [0, 0])
        acc[0] += count
        acc[1] += size
    for (ch, kind, ev), (count, size) in kept.items():
        events.add_metric([p, ch, kind, ev], count)
        nbytes.add_metric([p, ch, kind, ev], size)
    yield events
    yield nbytes
    probes = CounterMetricFamily(
        name("probe_messages"),
        "The monitor's own probe messages received since start (its echoes and inserts).",
        labels=["project", "event"],
    )
    probe_bytes = CounterMetricFamily(
        name("probe_bytes"), "Bytes of the monitor's probe messages.", labels=["project", "event"]
    )
    by_probe: dict[str, list[int]] = {}
    for (_ch, _kind, ev), (count, size) in snap.probe_totals.items():
        acc = by_probe.setdefault(ev, [0, 0])
        acc[0] += count
        acc[1] += size
    for ev, (count, size) in by_probe.items():
        probes.add_metric([p, ev], count)
        probe_bytes.add_metric([p, ev], size)
    yield probes
    yield probe_bytes
    if malformed_frames is not None:
        malformed = CounterMetricFamily(
            name("malformed_frames"),
            "Frames from the server that were not Realtime messages (logged, socket kept).",
            labels=["project"],
        )
        malformed.add_metric([p], malformed_frames)
        yield malformed
    last = GaugeMetricFamily(
        name("last_message_timestamp_seconds"),
        "When the newest user message arrived (epoch seconds).",
        labels=["project"],
    )
    if snap.last_message_at is not None:
        last.add_metric([p], snap.last_message_at)
    yield last

    # ---- latency histograms --------------------------------------------------------------------
    hists = snap.latency_histograms
    commit = HistogramMetricFamily(
        name(HISTOGRAMS[COMMIT][0]), HISTOGRAMS[COMMIT][1], labels=["project", "channel"]
    )
    for (source, channel), hist in sorted(hists.items()):
        if source == COMMIT:
            commit.add_metric([p, channel], buckets(hist), hist.sum_ms / 1000.0)
    yield commit
    for source in (PROBE_RTT, PROBE_DB):
        parts = [h for (s, _ch), h in hists.items() if s == source]
        family = HistogramMetricFamily(
            name(HISTOGRAMS[source][0]), HISTOGRAMS[source][1], labels=["project"]
        )
        if parts:
            merged = LatencyHistogram(
                np.sum([h.counts for h in parts], axis=0), sum(h.sum_ms for h in parts)
            )
            family.add_metric([p], buckets(merged), merged.sum_ms / 1000.0)
        yield family

    # ---- connection --------------------------------------------------------------------------
    def gauge(metric: str, doc: str, value: float) -> GaugeMetricFamily:
        g = GaugeMetricFamily(name(metric), doc, labels=["project"])
        g.add_metric([p], value)
        return g

    yield gauge(
        "connected", "1 while the socket is connected.", float(snap.status.status == CONNECTED)
    )
    reconnects = CounterMetricFamily(
        name("reconnects"), "Connections regained since start.", labels=["project"]
    )
    reconnects.add_metric([p], snap.reconnects_total)
    yield reconnects
    yield gauge(
        "uptime_ratio",
        "Share of the window with the socket connected and every watched channel subscribed.",
        snap.uptime,
    )
    yield gauge(
        "socket_uptime_ratio", "Share of the window with the socket connected.", snap.socket_uptime
    )
    yield gauge(
        "window_seconds",
        "The window the ratios cover: the store's window, or the time watched if shorter.",
        snap.effective_window_s,
    )
    subscribed = GaugeMetricFamily(
        name("channel_subscribed"),
        "1 while the channel is SUBSCRIBED.",
        labels=["project", "channel"],
    )
    state = GaugeMetricFamily(
        name("channel_state"),
        "1 for the channel's current subscribe state, 0 for the others.",
        labels=["project", "channel", "state"],
    )
    for row in snap.channel_states:
        channel, current = row[0], row[1]
        subscribed.add_metric([p, channel], float(current == SUBSCRIBED))
        for s in (*SUBSCRIBE_STATES, *(() if current in SUBSCRIBE_STATES else (current,))):
            state.add_metric([p, channel, s], float(s == current))
    yield subscribed
    yield state

    # ---- incidents ---------------------------------------------------------------------------
    open_by_class: dict[str, int] = dict.fromkeys(CLASSES, 0)
    for inc in snap.open_incidents:
        open_by_class[inc.cls] = open_by_class.get(inc.cls, 0) + 1
    totals = incident_totals if incident_totals is not None else {}
    opened = GaugeMetricFamily(
        name("incidents_open"), "Open incidents by class.", labels=["project", "class"]
    )
    ever = CounterMetricFamily(
        name("incidents"), "Incidents opened since start, by class.", labels=["project", "class"]
    )
    for cls in sorted({*open_by_class, *totals}):
        opened.add_metric([p, cls], open_by_class.get(cls, 0))
        ever.add_metric([p, cls], totals.get(cls, 0))
    yield opened
    yield ever

    # ---- quotas ------------------------------------------------------------------------------
    used = GaugeMetricFamily(
        name("quota_used"),
        "Use of each quota of the plan (the tenant's figure when the server says it).",
        labels=["project", "quota"],
    )
    own = GaugeMetricFamily(
        name("quota_monitor_used"),
        "The monitor's own share of each quota's use.",
        labels=["project", "quota"],
    )
    limit = GaugeMetricFamily(
        name("quota_limit"), "Each quota's limit on the plan.", labels=["project", "quota"]
    )
    ratio = GaugeMetricFamily(
        name("quota_used_ratio"), "Use of each quota over its limit.", labels=["project", "quota"]
    )
    for g in gauges(snap, quota_config):
        quota, scale = g.name, 1.0
        if quota.endswith("_kb"):  # base units: bytes
            quota, scale = quota[: -len("_kb")] + "_bytes", float(KB)
        used.add_metric([p, quota], g.used * scale)
        own.add_metric([p, quota], g.own * scale)
        limit.add_metric([p, quota], g.limit * scale)
        ratio.add_metric([p, quota], g.used / g.limit if g.limit > 0 else math.nan)
    yield used
    yield own
    yield limit
    yield ratio

    # ---- presence and live slots ---------------------------------------------------------------
    members = GaugeMetricFamily(
        name("presence_members"),
        "Presence members (keys) per channel.",
        labels=["project", "channel"],
    )
    for channel, count in snap.totals["presence"].items():
        members.add_metric([p, channel], count)
    yield members
    layout = snap.replica_layout
    table = f"{layout.schema}.{layout.table}"
    slots = GaugeMetricFamily(
        name("live_slot_counter"),
        f"Live-slot counters of the {MAX_SLOT_KEYS} most recently updated keys.",
        labels=["project", "table", "key", "counter"],
    )
    for row in snap.replica_rows[-MAX_SLOT_KEYS:]:
        for counter in layout.counters:
            value = _num(row.value(counter))
            if value is not None:
                slots.add_metric([p, table, str(row.key), counter], value)
    yield slots


class SnapshotCollector:
    """A `prometheus_client` collector: one snapshot per scrape, families from it alone."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        project: str | Callable[[], str],
        quota_config: QuotaConfig,
        malformed_frames: Callable[[], int | None] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.project = project
        self.quota_config = quota_config
        self.malformed_frames = malformed_frames
        self.incidents = IncidentTotals()
        # more families of the same project that are not in the store (alert delivery's
        # counters, monitor.notify.families): each a callable, read at every scrape
        self.extra: list[Callable[[], Iterable[Metric]]] = []

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot()
        project = self.project() if callable(self.project) else self.project
        malformed = self.malformed_frames() if self.malformed_frames is not None else None
        yield from families(
            snap, project, self.quota_config, malformed, self.incidents.update(snap)
        )
        for more in self.extra:
            yield from more()


class Merged:
    """Several projects' collectors as one: each family once, with every project's samples
    (the text format requires a name's samples to be contiguous). Each project still takes one
    snapshot per scrape, of its own store."""

    def __init__(self, collectors: Iterable[SnapshotCollector]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for collector in self.collectors:
            for family in collector.collect():
                into = merged.get(family.name)
                if into is None:
                    merged[family.name] = family
                else:
                    into.samples.extend(family.samples)
        yield from merged.values()


def collector_for(store: Store, config: WatchConfig, monitor: Monitor) -> SnapshotCollector:
    """The collector of a running monitor: its store's snapshots, its project, its plan."""

    def malformed() -> int:
        sup = monitor.supervisor
        return sup.malformed_frames if sup is not None else 0

    return SnapshotCollector(store.snapshot, project_label(config), config.quota, malformed)


def registry(*collectors: SnapshotCollector, process: bool = True) -> CollectorRegistry:
    """One registry for the process: a collector per watched project, each series labelled with
    its project (and the process's CPU and memory once, by default).

    Several collectors yield families of the same names; `prometheus_client` checks only that
    two collectors do not both claim a name when they `describe()` themselves, which ours do
    not (they have no `describe`), and its exposition writes each family as it comes. The
    Prometheus text format wants all samples of a name together, so `Merged` joins them."""
    reg = CollectorRegistry()
    reg.register(collectors[0] if len(collectors) == 1 else Merged(collectors))
    if process:
        ProcessCollector(registry=reg)
    return reg


def serve(
    registry: CollectorRegistry, port: int, host: str = "127.0.0.1", token: str | None = None
) -> Callable[[], None]:
    """`prometheus_client`'s own HTTP server in a daemon thread; returns its stop function
    (which may be called more than once). With a metrics token (`token`, else the process's
    REALTIME_MONITOR_METRICS_TOKEN, which `--metrics-token` sets), only requests carrying it
    as `Authorization: Bearer` are answered (`monitor.auth`)."""
    from monitor import auth

    token = token or auth.metrics_token()
    if token:
        app = auth.bearer_only(make_wsgi_app(registry), token)
        server, thread = auth.serve_wsgi(app, port, host)
    else:
        server, thread = start_http_server(port, addr=host, registry=registry)
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def serve_run(
    port: int | None,
    store: Store,
    config: WatchConfig,
    monitor: Monitor,
    extra: Iterable[Callable[[], Iterable[Metric]]] = (),
) -> Callable[[], None]:
    """`--metrics-port` of the headless commands: serve the run's metrics on 127.0.0.1:`port`
    (nothing when None), with `extra` families (SnapshotCollector.extra); returns the stop
    function."""
    if port is None:
        return lambda: None
    collector = collector_for(store, config, monitor)
    collector.extra.extend(extra)
    return serve(registry(collector), port)
