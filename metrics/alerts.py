"""Alert thresholds against a snapshot: one rule set for the CLI's exit code and the tile colours.

Each rule yields a `Check` with the measured value, the threshold and a level: `ok`, `warn`
(within 20% of the threshold, so a wall display turns amber before it turns red) or `alert`.
A metric with no data yet (NaN) is `nodata`, never an alert: a quiet project is not a failure
unless `rate_min` or `message_age_s_max` says it is.

Two rules look past the socket: `channels_down` (a watched channel not SUBSCRIBED for longer
than `channel_down_s_max`) and `incidents` (any open incident, named with its class and
channel), both on by default: a connected socket whose channels are refused is not healthy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

WARN_MARGIN = 0.2


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    threshold: float
    level: str  # ok | warn | alert | nodata
    message: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = None if math.isnan(self.value) else self.value
        return d


def _upper(name: str, value: float, limit: float, unit: str, what: str) -> Check:
    """Alert when value > limit (limit 0 = rule off)."""
    if math.isnan(value):
        return Check(name, value, limit, "nodata", f"{what}: no data yet")
    if value > limit:
        level = "alert"
    elif value > limit * (1 - WARN_MARGIN):
        level = "warn"
    else:
        level = "ok"
    return Check(name, value, limit, level, f"{what} {value:.4g}{unit} (max {limit:g}{unit})")


def _lower(
    name: str, value: float, limit: float, unit: str, what: str, ceiling: float | None = None
) -> Check:
    """Alert when value < limit; with a ceiling (uptime's 1.0) warn halfway up to it."""
    if math.isnan(value):
        return Check(name, value, limit, "nodata", f"{what}: no data yet")
    warn_below = limit + (ceiling - limit) / 2 if ceiling is not None else limit * (1 + WARN_MARGIN)
    if value < limit:
        level = "alert"
    elif value < warn_below and limit > 0:
        level = "warn"
    else:
        level = "ok"
    return Check(name, value, limit, level, f"{what} {value:.4g}{unit} (min {limit:g}{unit})")


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def evaluate(snapshot: Any, alerts: Any) -> list[Check]:
    """Every enabled rule of `alerts` (an AlertsConfig) against `snapshot` (a metrics Snapshot)."""
    checks = []
    uptime = _num(snapshot.uptime)
    checks.append(_lower("uptime", uptime, alerts.uptime_min, "", "uptime", ceiling=1.0))
    commit = _num((snapshot.latency.get("commit") or {}).get("p95"))
    if alerts.latency_p95_ms_max:
        checks.append(
            _upper(
                "latency_p95_ms", commit, alerts.latency_p95_ms_max, " ms", "commit-to-receive p95"
            )
        )
    rtt = _num((snapshot.latency.get("probe_rtt") or {}).get("p95"))
    if alerts.probe_rtt_p95_ms_max:
        checks.append(
            _upper(
                "probe_rtt_p95_ms", rtt, alerts.probe_rtt_p95_ms_max, " ms", "probe round trip p95"
            )
        )
    reconnects = (
        snapshot.reconnects.get("window", 0)
        if isinstance(snapshot.reconnects, dict)
        else snapshot.reconnects
    )
    checks.append(
        _upper(
            "reconnects",
            float(reconnects),
            float(alerts.reconnects_max),
            "",
            "reconnects in window",
        )
    )
    if alerts.message_age_s_max:
        checks.append(
            _upper(
                "message_age_s",
                _num(snapshot.message_age_s),
                alerts.message_age_s_max,
                " s",
                "time since last message",
            )
        )
    if alerts.rate_min:
        checks.append(
            _lower("rate", _num(snapshot.rate_total), alerts.rate_min, "/s", "message rate")
        )
    if alerts.channel_down_s_max:
        checks.append(_channels_down(snapshot, alerts.channel_down_s_max))
    checks.append(_incidents(snapshot, alerts.open_incidents_max))
    return checks


def _channels_down(snapshot: Any, longer_than: float) -> Check:
    down = snapshot.channels_down(longer_than)
    if not down:
        return Check("channels_down", 0.0, 0.0, "ok", "every watched channel is subscribed")
    names = ", ".join(ch for ch, _ in down[:5]) + (" …" if len(down) > 5 else "")
    what = f"{len(down)} channel(s) not subscribed for over {longer_than:g} s: {names}"
    return Check("channels_down", float(len(down)), 0.0, "alert", what)


def _incidents(snapshot: Any, allowed: int) -> Check:
    opened = snapshot.open_incidents
    if len(opened) <= allowed:
        return Check("incidents", float(len(opened)), float(allowed), "ok", "no open incident")
    named = ", ".join(f"{i.cls} on {i.where}" for i in opened[:5])
    more = " …" if len(opened) > 5 else ""
    what = f"{len(opened)} open incident(s): {named}{more}"
    return Check("incidents", float(len(opened)), float(allowed), "alert", what)


def breaches(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.level == "alert"]
