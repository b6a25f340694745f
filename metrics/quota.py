"""Quota gauges: the project's use of each Realtime limit of its plan, and the monitor's share.

Supabase meters the whole project against its plan (reference §9.1) and acts when a limit is
reached (§13.3): channels closed with "Too many messages per second", joins refused and the
socket closed, connections refused with HTTP 429. The monitor spends the same quotas (its probe
broadcast and echo, its joins, its socket, every message delivered to it), so each gauge shows
the monitor's own share apart from the rest.

`used` is the tenant's figure when the server says it (`feeds.usage.TenantUsage`, read from the
bundled sandbox, and fresh: under `FRESH_S` old), else the monitor's own, which is all a hosted
project lets it see. `own` is always the monitor's own. The payload and channel gauges are the
monitor's own only: no server reports the largest payload sent or another socket's channels.

Rates follow the server's `RateCounter`: it adds events up per tick (5 s on Supabase) and checks
its limit against the average of the last 12 ticks (60 s). An average that long reacts late to a
burst, so for *alerting before the server acts* a rate gauge shows the larger of that average and
the rate over the last tick: a burst shows at once, not a minute later. (The server acts on the
average; when a burst is short, the gauge reads high for one tick and falls back.) A sandbox run
with `--rate-tick-ms` says its own tick, and the windows follow it.

Everything here is a pure function of a `Snapshot` and the [quota] config; the store only keeps
the latest TenantUsage and the times of the monitor's joins (`QuotaInputs`, captured with the
rest of a snapshot).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from feeds.events import CONNECTED, JOINING, SUBSCRIBED
from feeds.usage import SUPABASE_BUCKETS, SUPABASE_TICK_S, TenantUsage
from metrics.alerts import WARN_MARGIN, Check
from metrics.stats import LATENCY_SOURCES

if TYPE_CHECKING:
    from metrics.capture import Capture
    from metrics.settings import QuotaConfig
    from metrics.snapshot import Snapshot

FRESH_S = 10.0  # a TenantUsage older than this is not the tenant's present
JOINS_KEPT = 1024  # join times a store keeps for the joins gauge (a minute's worth is plenty)
KB = 1024
MESSAGE_KINDS = ("broadcast", "postgres_changes")  # what the server counts as messages
PRESENCE = "presence"
# Each round-trip probe is two messages to the server (the send and its echo); a database probe
# is one postgres_changes delivery (the insert itself is no Realtime message).
PROBE_MESSAGES = {"rtt": 2, "db": 1}
_PROBE_SOURCES = {LATENCY_SOURCES.index("probe_rtt"): 2, LATENCY_SOURCES.index("probe_db"): 1}
DISORDER_S = 1.0  # events in the ring may be stamped up to this much out of order

LABELS = {
    "messages_per_s": ("Messages/s", "/s"),
    "joins_per_s": ("Channel joins/s", "/s"),
    "connections": ("Connections", ""),
    "presence_messages_per_s": ("Presence messages/s", "/s"),
    "broadcast_payload_kb": ("Broadcast payload", " KB"),
    "postgres_payload_kb": ("Postgres change payload", " KB"),
    "channels_per_connection": ("Channels per connection", ""),
}


@dataclass(frozen=True, slots=True)
class QuotaInputs:
    """What a snapshot copies for the gauges: the latest tenant reading and the monitor's join
    times (epoch seconds, a bounded recent few)."""

    usage: TenantUsage | None = None
    joins: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Gauge:
    """One quota: `used` of `limit` (`pct` of it), `own` the monitor's share of `used`.

    `level`: ok, warn (at `alert_pct` of the limit or more), alert (at the limit or over), or
    nodata (nothing recorded yet). `source` says whose figure `used` is: "tenant" (the server's)
    or "monitor" (the monitor's own, all it can see).
    """

    name: str
    label: str
    used: float
    own: float
    limit: float
    unit: str
    pct: float
    level: str
    source: str = "monitor"
    alert_pct: float = 80.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("used", "own", "pct"):
            if isinstance(d[key], float) and math.isnan(d[key]):
                d[key] = None
        return d


# ---- windows ---------------------------------------------------------------------------------


def windows(usage: TenantUsage | None) -> tuple[float, float]:
    """(last tick, averaging window) in seconds: the server's when it said, else Supabase's."""
    if usage is None:
        return SUPABASE_TICK_S, SUPABASE_TICK_S * SUPABASE_BUCKETS
    return usage.tick_s, usage.window_s


def fresh_usage(snap: Snapshot) -> TenantUsage | None:
    """The captured TenantUsage if it is recent enough to stand for the tenant now."""
    usage = snap.tenant_usage
    if usage is None or snap.now - usage.at > FRESH_S:
        return None
    return usage


# ---- the monitor's own traffic ----------------------------------------------------------------


def _ring_counts(cap: Capture, since: float) -> dict[str, float] | None:
    """Messages and presence messages received after `since` (up to the snapshot's `now`),
    counted from the raw ring; None when the ring no longer reaches back that far (then the
    1-second buckets must do)."""
    ring, now = cap.ring, cap.now
    evicted = cap.seq > len(ring)
    if evicted and (not ring or ring[0].received_at > since):
        return None
    messages = presence = 0
    floor = since - DISORDER_S
    for ev in reversed(ring):
        t = ev.received_at
        if t <= since or t > now:
            if t < floor:
                break
            continue
        kind = ev.kind
        if kind in MESSAGE_KINDS:
            messages += 1
        elif kind == PRESENCE:
            presence += 1
        elif kind == "probe":
            messages += PROBE_MESSAGES.get(ev.event, 0)
    return {"messages": float(messages), "presence": float(presence)}


def _bucket_counts(cap: Capture, start_sec: int) -> dict[str, float]:
    """The same counts from the 1-second buckets (user traffic) and the latency samples (the
    probes, which the buckets leave out), for whole seconds from `start_sec`."""
    msgs = cap.messages
    messages = presence = 0
    for sec, kind, n in zip(msgs.sec.tolist(), msgs.kind, msgs.count.tolist(), strict=True):
        if sec < start_sec:
            continue
        if kind in MESSAGE_KINDS:
            messages += n
        elif kind == PRESENCE:
            presence += n
    t, src = cap.sample_t, cap.sample_src
    if len(t):
        recent = src[t >= start_sec]
        for source, per_probe in _PROBE_SOURCES.items():
            messages += per_probe * int((recent == source).sum())
    return {"messages": float(messages), "presence": float(presence)}


def own_rates(snap: Snapshot, tick_s: float, window_s: float) -> dict[str, tuple[float, float]]:
    """The monitor's own (average over `window_s`, rate over the last `tick_s`) per second, for
    messages, presence messages and channel joins.

    The average divides by the time actually watched within the window (a monitor up for 10 s
    averages over 10 s, as the server's young counter averages the buckets it has), never less
    than one tick; the last-tick rate by the tick, so a start-up does not read as a burst.
    """
    cap = snap.cap
    now = cap.now
    started = cap.started_at
    if started is None:
        return {"messages": (0.0, 0.0), "presence": (0.0, 0.0), "joins": (0.0, 0.0)}
    start_sec = max(math.floor(now - window_s), cap.first_sec)
    span = max(tick_s, now - max(float(start_sec), started))
    long = _ring_counts(cap, float(start_sec))
    if long is None:
        long = _bucket_counts(cap, start_sec)
    short = _ring_counts(cap, now - tick_s)
    if short is None:  # more traffic than the ring holds for a tick: whole seconds instead
        start = math.floor(now - tick_s)
        short = _bucket_counts(cap, start)
        short_span = max(tick_s, now - start)
    else:
        short_span = tick_s
    joins = cap.quota.joins
    joins_long = sum(1 for t in joins if t >= start_sec)
    joins_short = sum(1 for t in joins if t > now - tick_s)
    return {
        "messages": (long["messages"] / span, short["messages"] / short_span),
        "presence": (long["presence"] / span, short["presence"] / short_span),
        "joins": (joins_long / span, joins_short / tick_s),
    }


def probe_messages_per_s(snap: Snapshot, over_s: float = 60.0) -> float:
    """What the monitor's probes cost the messages quota, per second over the last `over_s`
    (or the time watched, if shorter): two messages a round trip, one a database probe. It is
    the price of `[probes]`; a slower `interval_s` lowers it."""
    cap = snap.cap
    span = min(over_s, cap.eff)
    if span <= 0:
        return 0.0
    recent = cap.sample_src[cap.sample_t >= cap.now - span]
    cost = sum(per * int((recent == src).sum()) for src, per in _PROBE_SOURCES.items())
    return cost / max(span, 1.0)


def largest_payload_kb(snap: Snapshot, kind: str) -> float:
    """The largest `kind` message received in the window among the events held, in KB (its size
    on the wire, envelope included: a little over the payload, so on the safe side)."""
    start = snap.now - snap.effective_window_s
    sizes = [ev.size for ev in snap.cap.ring if ev.kind == kind and ev.received_at >= start]
    return max(sizes, default=0) / KB


def own_channels(snap: Snapshot) -> int:
    """Channels the monitor's socket holds: the watched ones joined or joining, and its probe's."""
    held = sum(1 for row in snap.channel_states if row[1] in (SUBSCRIBED, JOINING))
    return held + (1 if snap.status.status == CONNECTED else 0)


# ---- gauges and checks ----------------------------------------------------------------------


def level_of(pct: float, alert_pct: float) -> str:
    if math.isnan(pct):
        return "nodata"
    if pct >= 100:
        return "alert"
    if pct >= alert_pct:
        return "warn"
    return "ok"


def gauge(
    name: str,
    used: float,
    own: float,
    limit: float,
    alert_pct: float,
    source: str = "monitor",
) -> Gauge:
    label, unit = LABELS[name]
    pct = used / limit * 100 if limit > 0 and not math.isnan(used) else math.nan
    return Gauge(
        name, label, used, own, limit, unit, pct, level_of(pct, alert_pct), source, alert_pct
    )


def gauges(snapshot: Snapshot, quota_config: QuotaConfig) -> list[Gauge]:
    """One gauge per quota of the configured plan (`QUOTA_NAMES` order)."""
    limits = quota_config.limits()
    alert_pct = quota_config.alert_pct
    usage = fresh_usage(snapshot)
    tick_s, window_s = windows(snapshot.tenant_usage)
    if snapshot.started_at is None and usage is None:  # nothing recorded yet
        return [gauge(name, math.nan, math.nan, limits[name], alert_pct) for name in LABELS]
    rates = own_rates(snapshot, tick_s, window_s)
    own = {key: max(avg, last) for key, (avg, last) in rates.items()}
    own_connections = 1.0 if snapshot.status.status == CONNECTED else 0.0
    source = "monitor" if usage is None else "tenant"

    def used(mine: float, attr: str) -> float:
        # the tenant's figure includes the monitor's; it is never less than the monitor's own
        return mine if usage is None else max(float(getattr(usage, attr)), mine)

    return [
        gauge(
            "messages_per_s",
            used(own["messages"], "messages_per_s"),
            own["messages"],
            limits["messages_per_s"],
            alert_pct,
            source,
        ),
        gauge(
            "joins_per_s",
            used(own["joins"], "joins_per_s"),
            own["joins"],
            limits["joins_per_s"],
            alert_pct,
            source,
        ),
        gauge(
            "connections",
            used(own_connections, "connections"),
            own_connections,
            limits["connections"],
            alert_pct,
            source,
        ),
        gauge(
            "presence_messages_per_s",
            used(own["presence"], "presence_messages_per_s"),
            own["presence"],
            limits["presence_messages_per_s"],
            alert_pct,
            source,
        ),
        _own_gauge(
            "broadcast_payload_kb", largest_payload_kb(snapshot, "broadcast"), limits, alert_pct
        ),
        _own_gauge(
            "postgres_payload_kb",
            largest_payload_kb(snapshot, "postgres_changes"),
            limits,
            alert_pct,
        ),
        _own_gauge("channels_per_connection", float(own_channels(snapshot)), limits, alert_pct),
    ]


def _own_gauge(name: str, value: float, limits: dict[str, float], alert_pct: float) -> Gauge:
    return gauge(name, value, value, limits[name], alert_pct)


def quota_checks(gauges: list[Gauge]) -> list[Check]:
    """One alert rule per gauge, `quota.<name>`: alert at the gauge's `alert_pct` of its limit
    (before the server acts), warn within the alert rules' usual margin below that. The value
    and threshold are percentages of the limit."""
    checks = []
    for g in gauges:
        name = f"quota.{g.name}"
        threshold = g.alert_pct
        what = g.label.lower()
        if math.isnan(g.pct):
            checks.append(Check(name, math.nan, threshold, "nodata", f"{what}: no data yet"))
            continue
        if g.pct >= threshold:
            level = "alert"
        elif g.pct >= threshold * (1 - WARN_MARGIN):
            level = "warn"
        else:
            level = "ok"
        whose = "the project" if g.source == "tenant" else "the monitor's view"
        message = (
            f"{what} {g.used:.4g}{g.unit} of {g.limit:g}{g.unit} ({g.pct:.0f} %, {whose}; "
            f"monitor's own {g.own:.4g}{g.unit}; alert at {threshold:g} %)"
        )
        checks.append(Check(name, g.pct, threshold, level, message))
    return checks
