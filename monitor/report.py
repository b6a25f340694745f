"""The headless report: what `python -m monitor check` and `replay` print, from one snapshot.

The report reads a metrics `Snapshot` and nothing else of the store, like every other reader, so
a live check and a replayed recording report the same way. `summary()` keeps pandas and NumPy
values as they are; `dumps()` makes them JSON in one place: orjson writes NaN and infinity as null
and NumPy scalars as numbers, and `_fallback` turns pandas' timestamps into epoch seconds and its
missing-value markers into null.
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd

from metrics import quota
from metrics.alerts import breaches, evaluate
from metrics.snapshot import Snapshot
from monitor.config import WatchConfig

JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_INDENT_2


def report(
    snap: Snapshot, config: WatchConfig, target: str, seconds: float
) -> tuple[dict[str, Any], bool]:
    """The report's body and whether no alert fired: the check's exit code comes from the same
    rules (`config.alerts`) that colour the dashboard's tiles."""
    checks = evaluate(snap, config.alerts)
    gauges = quota.gauges(snap, config.quota)  # the plan's limits: alert before the server acts
    checks += quota.quota_checks(gauges)
    ok = not breaches(checks)
    body = {
        "target": target,
        "config": config.source,
        "duration_s": round(seconds, 2),
        "ok": ok,
        "alerts": [c.to_dict() for c in checks],
        "quota": [g.to_dict() for g in gauges],
        "incidents": [i.to_dict() for i in snap.incidents],
        "summary": summary(snap),
    }
    return body, ok


def summary(snap: Snapshot) -> dict[str, Any]:
    """A digest of the snapshot for scripts: connection, channels, counts, rates, latency, the
    live-slot replica and presence. Values may be NaN or pandas scalars; `dumps()` serialises."""
    totals = snap.totals
    detail: dict[str, dict[str, dict[str, int]]] = {}
    for (ch, kind, ev), n in totals["by_event"].items():
        detail.setdefault(ch, {}).setdefault(kind, {})[ev] = n
    channels = {
        rec["channel"]: {
            "state": rec["state"],
            "since": rec["since"],
            "error": rec["error"],
            "last_error": rec["last_error"],
        }
        for rec in snap.subscriptions.to_dict("records")
    }
    return {
        "now": snap.now,
        "started_at": snap.started_at,
        "window_s": snap.window_s,
        "effective_window_s": snap.effective_window_s,
        "connection": {
            "status": snap.status.status,
            "reason": snap.status.reason,
            "since": snap.status.since,
            "uptime": snap.uptime,
            "socket_uptime": snap.socket_uptime,
            "reconnects": snap.reconnects,
            "reconnects_total": snap.reconnects_total,
            "reconnect_durations_s": snap.reconnect_durations,
            "outages": snap.outages.to_dict("records"),
        },
        "channels": channels,
        "channels_down": [{"channel": ch, "since": since} for ch, since in snap.channels_down()],
        "incidents_open": len(snap.open_incidents),
        "incidents_total": snap.incidents_total,
        "messages": {
            "total": totals["messages"],
            "bytes": totals["bytes"],
            "by_channel": totals["by_channel"],
            "by_kind": totals["by_kind"],
            "by_channel_kind_event": detail,
            "probes": totals["probes"],
        },
        "rates": {
            "total": snap.rate_total,
            "by_channel": snap.rate_by_channel,
            "by_kind": snap.rate_by_kind,
        },
        "latency_ms": {k: v.as_dict() for k, v in snap.latency.items()},
        "latency_ms_by_channel": by_channel(snap.latency_by_channel),
        "replica": snap.replica.to_dict("records"),
        "presence": totals["presence"],
        "last_message_at": snap.last_message_at,
        "message_age_s": snap.message_age_s,
    }


def by_channel(table: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    """{channel: {source: figures}} from the snapshot's per-channel latency table."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for rec in table.to_dict("records"):
        channel, source = rec.pop("channel"), rec.pop("source")
        out.setdefault(channel, {})[source] = rec
    return out


def dumps(body: Any) -> str:
    """Indented JSON that strict parsers accept: no NaN, string keys, plain numbers."""
    return orjson.dumps(body, default=_fallback, option=JSON_OPTIONS).decode()


def _fallback(value: Any) -> Any:
    """What orjson cannot write by itself: pandas timestamps (as epoch seconds, like every time
    in the report) and missing values; anything else as its text rather than a failed check."""
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.timestamp()
    if value is pd.NaT or value is pd.NA:
        return None
    return str(value)
