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
from metrics.snapshot import LatencyStats, Snapshot

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
    uptime = snap.uptime
    tiles = [
        ("uptime", "Uptime", "–" if math.isnan(uptime) else f"{uptime * 100:.2f}%",
         level("uptime"), window_label(snap.effective_window_s)),
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
