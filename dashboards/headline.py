"""The headline numbers, decided once for every page that shows them.

`headline(snapshot, checks)` gives each tile its value, its level (the colour) and its sub-line.
Overview and the wall both render from it, so the same state is the same colour on both: a
number whose rule is off is `info`, a rule with no data yet `nodata`, and the channels tile is
`alert` when any channel failed, `warn` while some are still joining, `ok` when all are joined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from metrics.alerts import Check
from metrics.snapshot import Snapshot

from .markup import fmt_ms, fmt_number

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


def headline(snap: Snapshot, checks: dict[str, Check]) -> dict[str, Tile]:
    """The tiles by key, in display order."""

    def level(rule: str) -> str:
        check = checks.get(rule)
        return check.level if check else "info"

    commit = snap.latency.get("commit")
    rtt = snap.latency.get("probe_rtt")
    subs = snap.subscription_counts
    joined, total = subs.get("SUBSCRIBED", 0), sum(subs.values())
    failing = sum(subs.get(s, 0) for s in FAILED_STATES)
    uptime = snap.uptime
    tiles = [
        Tile(
            "uptime",
            "Uptime",
            "–" if math.isnan(uptime) else f"{uptime * 100:.2f}%",
            level("uptime"),
            window_label(snap.effective_window_s),
        ),
        Tile(
            "rate",
            "Messages/s",
            fmt_number(snap.rate_total),
            level("rate"),
            f"{snap.totals.get('messages', 0):,} total",
        ),
        Tile(
            "p50",
            "Latency p50",
            fmt_ms(commit.p50 if commit else None),
            level("latency_p95_ms"),
            "commit → receive",
        ),
        Tile(
            "p95",
            "Latency p95",
            fmt_ms(commit.p95 if commit else None),
            level("latency_p95_ms"),
            f"p99 {fmt_ms(commit.p99 if commit else None)}",
        ),
        Tile(
            "rtt",
            "Probe RTT p95",
            fmt_ms(rtt.p95 if rtt else None),
            level("probe_rtt_p95_ms"),
            f"{rtt.count if rtt else 0} probes",
        ),
        Tile(
            "subs",
            "Channels",
            f"{joined}/{total}",
            channels_level(subs),
            f"{failing} failing"
            if failing
            else "all joined"
            if joined == total and total
            else "joining"
            if total
            else "none",
        ),
        Tile(
            "reconnects",
            "Reconnects",
            str(snap.reconnects),
            level("reconnects"),
            f"{snap.reconnects_total} since start",
        ),
    ]
    return {t.key: t for t in tiles}
