"""The tidy pandas frames of a snapshot, each built from a `Capture` with no lock held.

One function per frame, so a snapshot builds only the frames someone reads (`Snapshot` calls
these lazily) and a notebook can build one from a capture by itself. Column names and dtypes are
documented in `metrics.schema.EMPTY_COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from metrics.capture import Capture
from metrics.incidents import Incident
from metrics.replica import as_float
from metrics.schema import EMPTY_COLUMNS, frame, opt_floats, rows_frame
from metrics.stats import Outage


def events_frame(cap: Capture) -> pd.DataFrame:
    ring, seq = cap.ring, cap.seq
    n = len(ring)
    return frame(
        {
            "seq": np.arange(seq - n + 1, seq + 1, dtype=np.int64),
            "received_at": np.fromiter((e.received_at for e in ring), float, n),
            "channel": [e.channel for e in ring],
            "kind": [e.kind for e in ring],
            "event": [e.event for e in ring],
            "schema": [e.schema for e in ring],
            "table": [e.table for e in ring],
            "commit_ts": opt_floats([e.commit_ts for e in ring]),
            "latency_ms": opt_floats([e.latency_ms for e in ring]),
            "size": np.fromiter((e.size for e in ring), np.int64, n),
        },
        EMPTY_COLUMNS["events"],
    )


def rates_frame(cap: Capture) -> pd.DataFrame:
    msgs = cap.messages
    return frame(
        {
            "time": msgs.sec.astype(float),
            "channel": msgs.channel,
            "kind": msgs.kind,
            "count": msgs.count,
            "bytes": msgs.bytes,
        },
        EMPTY_COLUMNS["rates"],
    )


def timeline_frame(cap: Capture) -> pd.DataFrame:
    starts = [c.at for c in cap.timeline]
    ends: list[float | None] = starts[1:] + [None] if starts else []
    return frame(
        {
            "start": starts,
            "end": opt_floats(ends),
            "status": [c.status for c in cap.timeline],
            "reason": [c.reason for c in cap.timeline],
        },
        EMPTY_COLUMNS["timeline"],
    )


def outages_frame(outage_list: list[Outage]) -> pd.DataFrame:
    return frame(
        {
            "start": [o.start for o in outage_list],
            "end": opt_floats([o.end for o in outage_list]),
            "duration_s": [o.duration_s for o in outage_list],
            "reason": [o.reason for o in outage_list],
        },
        EMPTY_COLUMNS["outages"],
    )


def incidents_frame(incidents: Sequence[Incident]) -> pd.DataFrame:
    """One row per incident, open ones first; `channel` is "socket" for the socket's."""
    return frame(
        {
            "id": [i.id for i in incidents],
            "state": ["open" if i.open else "closed" for i in incidents],
            "class": [i.cls for i in incidents],
            "channel": [i.where for i in incidents],
            "opened_at": [i.opened_at for i in incidents],
            "last_at": [i.last_at for i in incidents],
            "closed_at": opt_floats([i.closed_at for i in incidents]),
            "count": [i.count for i in incidents],
            "message": [i.message for i in incidents],
            "action": [i.action for i in incidents],
            "explanation": [i.explanation for i in incidents],
            "fix": [i.fix for i in incidents],
        },
        EMPTY_COLUMNS["incidents"],
    )


def subscriptions_frame(cap: Capture) -> pd.DataFrame:
    return rows_frame(cap.channels, EMPTY_COLUMNS["subscriptions"])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def replica_frame(cap: Capture) -> pd.DataFrame:
    layout, rows = cap.replica, cap.replica_rows
    cols: dict[str, Any] = {"key": [str(r.key) for r in rows], "event": [r.event for r in rows]}
    for name in layout.extras:
        if name == "updated_at":
            continue
        # Ids are labels: text keeps one dtype whether a project uses uuids or integers.
        cols[name] = pd.array([_text(r.record.get(name)) for r in rows], dtype="str")
    for name in layout.counters:
        cols[name] = np.array([as_float(r.record.get(name)) for r in rows], dtype=float)
    cols["updated_at"] = opt_floats([r.updated_ts for r in rows])
    cols["commit_ts"] = opt_floats([r.commit_ts for r in rows])
    cols["received_at"] = [r.received_at for r in rows]
    df = frame(cols, EMPTY_COLUMNS["replica"])
    order = ["key", *[c for c in cols if c not in EMPTY_COLUMNS["replica"]]]
    order += ["event", "updated_at", "commit_ts", "received_at"]
    return df[order]


def replica_history_frame(cap: Capture) -> pd.DataFrame:
    counters = cap.replica.counters
    per_key = cap.replica_history
    keys: list[str] = []
    for key, rows in per_key:
        keys.extend([str(key)] * rows.shape[0])
    arr = (
        np.concatenate([rows for _, rows in per_key])
        if per_key
        else np.empty((0, 1 + len(counters)))
    )
    cols: dict[str, Any] = {"key": keys, "time": arr[:, 0]}
    for j, name in enumerate(counters):
        cols[name] = arr[:, 1 + j]
    return frame(cols, EMPTY_COLUMNS["replica_history"])


def roster_frame(cap: Capture) -> pd.DataFrame:
    return rows_frame(cap.roster_rows, EMPTY_COLUMNS["roster"])


def member_counts_frame(cap: Capture) -> pd.DataFrame:
    rows = cap.members
    return frame(
        {
            "time": [float(r[0]) for r in rows],
            "channel": [r[1] for r in rows],
            "members": [r[2] for r in rows],
        },
        EMPTY_COLUMNS["member_counts"],
    )


def presence_log_frame(cap: Capture) -> pd.DataFrame:
    log = cap.presence_log
    return frame(
        {
            "time": [c.at for c in log],
            "channel": [c.channel for c in log],
            "key": [c.key for c in log],
            "action": [c.action for c in log],
            "meta": [c.meta for c in log],
        },
        EMPTY_COLUMNS["presence_log"],
    )


def totals(cap: Capture) -> dict[str, Any]:
    """Counts since start: by channel, kind, (channel, kind, event), bytes, probes, sizes."""
    by_channel: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    bytes_by_channel: dict[str, int] = {}
    for (ch, kind, _ev), (count, size) in cap.totals.items():
        by_channel[ch] = by_channel.get(ch, 0) + count
        by_kind[kind] = by_kind.get(kind, 0) + count
        bytes_by_channel[ch] = bytes_by_channel.get(ch, 0) + size
    return {
        "seq": cap.seq,
        "messages": cap.user_messages,
        "bytes": cap.user_bytes,
        "by_channel": by_channel,
        "by_kind": by_kind,
        "bytes_by_channel": bytes_by_channel,
        "by_event": {k: v[0] for k, v in cap.totals.items()},
        "probes": sum(v[0] for v in cap.probe_totals.values()),
        "probe_by_event": {k: v[0] for k, v in cap.probe_totals.items()},
        "late_events": cap.late_events,
        "presence": cap.roster_counts,
        "roster": cap.roster_stats,
        "replica": cap.replica_stats,
    }
