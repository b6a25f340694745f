"""The headline numbers, decided once for every page that shows them.

`headline(snapshot, checks)` gives each tile its value, its level (the colour) and its sub-line.
Overview and the wall both render from it, so the same state is the same colour on both: a
number whose rule is off is `info`, a rule with no data yet `nodata`, and the channels tile is
`alert` when any channel failed, `warn` while some are still joining, `ok` when all are joined.

`health(snapshot)` says what the status badge adds past the socket: a connected socket whose
channels are down or that has incidents open is not healthy, and the badge names their class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from metrics.alerts import Check
from metrics.incidents import Incident
from metrics.snapshot import LatencyStats, Snapshot

from .markup import fmt_ms, fmt_number, status_badge, subscription_chips

FAILED_STATES = ("CHANNEL_ERROR", "TIMED_OUT", "CLOSED")


@dataclass(frozen=True, slots=True)
class Tile:
    key: str  # stable id: uptime, rate, p50, p95, rtt, subs, reconnects
    label: str
    value: str
    level: str  # ok | warn | alert | nodata | info
    sub: str


def channels_level(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    if not total:
        return "nodata"
    if any(counts.get(s, 0) for s in FAILED_STATES):
        return "alert"
    return "ok" if counts.get("SUBSCRIBED", 0) == total else "warn"


def window_label(seconds: float) -> str:
    return f"last {seconds:.0f} s" if seconds < 120 else f"last {seconds / 60:.0f} min"


def _subs_sub(counts: dict[str, int]) -> str:
    joined, total = counts.get("SUBSCRIBED", 0), sum(counts.values())
    failing = sum(counts.get(s, 0) for s in FAILED_STATES)
    if failing:
        return f"{failing} failing"
    if not total:
        return "none"
    return "all joined" if joined == total else "joining"


def headline(snap: Snapshot, checks: dict[str, Check]) -> dict[str, Tile]:
    """The tiles by key, in display order."""

    def level(rule: str) -> str:
        check = checks.get(rule)
        return check.level if check else "info"

    commit = snap.latency.get("commit") or LatencyStats()
    rtt = snap.latency.get("probe_rtt") or LatencyStats()
    subs = snap.subscription_counts
    uptime, socket_up = snap.uptime, snap.socket_uptime
    # uptime counts the channels; when they cost it something, say what the socket alone had
    uptime_note = window_label(snap.effective_window_s)
    if not math.isnan(uptime) and not math.isnan(socket_up) and socket_up - uptime >= 0.0001:
        uptime_note = f"socket {socket_up * 100:.2f}% · {uptime_note}"
    tiles = [
        ("uptime", "Uptime", "–" if math.isnan(uptime) else f"{uptime * 100:.2f}%",
         level("uptime"), uptime_note),
        ("rate", "Messages/s", fmt_number(snap.rate_total), level("rate"),
         f"{snap.totals.get('messages', 0):,} total"),
        ("p50", "Latency p50", fmt_ms(commit.p50), level("latency_p95_ms"), "commit → receive"),
        ("p95", "Latency p95", fmt_ms(commit.p95), level("latency_p95_ms"),
         f"p99 {fmt_ms(commit.p99)}"),
        ("rtt", "Probe RTT p95", fmt_ms(rtt.p95), level("probe_rtt_p95_ms"),
         f"{rtt.count} probes"),
        ("subs", "Channels", f"{subs.get('SUBSCRIBED', 0)}/{sum(subs.values())}",
         channels_level(subs), _subs_sub(subs)),
        ("reconnects", "Reconnects", str(snap.reconnects), level("reconnects"),
         f"{snap.reconnects_total} since start"),
    ]  # fmt: skip
    return {t[0]: Tile(*t) for t in tiles}


# --- health past the socket: what the badge, the chips and the wall say about incidents --------


@dataclass(frozen=True, slots=True)
class Health:
    """What the status badge adds to the socket's status: `text` ("" when all is well) names
    the channels down and the classes of the open incidents; `alert` turns the badge red, which
    only a connected socket needs (the other statuses have their own colours)."""

    alert: bool
    text: str


def _classes(incidents: Iterable[Incident], shown: int = 2) -> str:
    """The distinct classes, latest first, up to `shown` of them named."""
    distinct = list(dict.fromkeys(i.cls for i in incidents))
    return ", ".join(distinct[:shown]) + (", …" if len(distinct) > shown else "")


def down_channels(snap: Snapshot) -> list[str]:
    """Watched channels that are down now, in their order: failed, not subscribed for longer
    than the grace (`metrics.health`), or not subscribed with an incident open on them."""
    flagged = {i.channel for i in snap.open_incidents if i.channel}
    late = {ch for ch, _ in snap.channels_down()}
    return [
        row[0]
        for row in snap.channel_states
        if row[1] in FAILED_STATES
        or (row[1] != "SUBSCRIBED" and (row[0] in late or row[0] in flagged))
    ]


def health(snap: Snapshot) -> Health:
    """The badge's words past the socket: "3 of 3 channels down: auth.expired", "1 open
    incident: subscription.invalid", both joined by " · "; for a socket that is not connected,
    the class of its own incident."""
    opened = snap.open_incidents
    status = snap.status.status
    if status != "connected":
        named = _classes(i for i in opened if not i.channel)
        return Health(False, named)
    down = down_channels(snap)
    on_down = [i for i in opened if i.channel in down]
    elsewhere = [i for i in opened if i.channel not in down]
    parts = []
    if down:
        total = len(snap.channel_states)
        named = _classes(on_down)
        noun = "channel" if total == 1 else "channels"
        parts.append(f"{len(down)} of {total} {noun} down" + (f": {named}" if named else ""))
    if elsewhere:
        named = _classes(elsewhere)
        noun = "incident" if len(elsewhere) == 1 else "incidents"
        more = " more" if down else ""
        parts.append(f"{len(elsewhere)}{more} open {noun}: {named}")
    return Health(bool(parts), " · ".join(parts))


def channel_flags(snap: Snapshot) -> dict[str, tuple[str, str]]:
    """channel -> (class, the server's words) of its latest open incident, for the chips."""
    return {ch: (i.cls, i.message) for ch, i in snap.channel_incidents().items() if ch}


def status_markup(snap: Snapshot, target: str) -> tuple[str, str]:
    """The status badge and the channel chips, both naming the class of an open incident."""
    st = snap.status
    trouble = health(snap)
    badge = status_badge(
        st.status,
        st.reason,
        st.since,
        snap.message_age_s,
        target,
        trouble=trouble.text,
        alert=trouble.alert,
    )
    rows = [
        (row[0], row[1], row[4] if isinstance(row[4], str) else None) for row in snap.channel_states
    ]
    return badge, subscription_chips(rows, channel_flags(snap))
