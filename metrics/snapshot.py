"""What one UI tick reads: `Snapshot`, a bundle of tidy pandas frames and plain aggregates.

The store builds one per tick and every view reads from it, so a page with ten tiles costs one
pass over the buffers, not ten. Frames are tidy (one row per observation) with
`datetime64[ns, UTC]` time columns, which is what hvPlot/Bokeh/Tabulator consume directly.

`EMPTY_COLUMNS` documents every frame's columns; an empty frame still has them (and their dtypes),
so a view never special-cases "no data yet".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_NAT = np.iinfo(np.int64).min


def to_utc(seconds: Sequence[float | None] | np.ndarray) -> pd.DatetimeIndex:
    """Epoch seconds (None/NaN allowed) to a `datetime64[ns, UTC]` index, without parsing."""
    arr = np.asarray(seconds, dtype=float) if not isinstance(seconds, np.ndarray) else seconds
    arr = arr.astype(float, copy=False)
    bad = np.isnan(arr)
    ns = np.round(np.where(bad, 0.0, arr) * 1e9).astype(np.int64)
    ns[bad] = _NAT
    return pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC")


def opt_floats(values: Sequence[float | None]) -> np.ndarray:
    """A list with Nones to a float array with NaNs (np.array(dtype=float) rejects None)."""
    return np.fromiter((np.nan if v is None else v for v in values), dtype=float, count=len(values))


# Column -> dtype of every frame in a Snapshot. "time" means datetime64[ns, UTC]; "str" means
# pandas' default string dtype (missing values are NaN).
EMPTY_COLUMNS: dict[str, dict[str, str]] = {
    "events": {
        "seq": "int64",
        "received_at": "time",
        "channel": "str",
        "kind": "str",
        "event": "str",
        "schema": "str",
        "table": "str",
        "commit_ts": "time",
        "latency_ms": "float64",
        "size": "int64",
    },
    "rates": {"time": "time", "channel": "str", "kind": "str", "count": "int64", "bytes": "int64"},
    "latency_series": {
        "time": "time",
        "source": "str",
        "p50": "float64",
        "p95": "float64",
        "p99": "float64",
        "count": "int64",
    },
    "subscriptions": {
        "channel": "str",
        "state": "str",
        "since": "time",
        "error": "str",
        "last_error": "str",
        "last_error_at": "time",
    },
    "timeline": {"start": "time", "end": "time", "status": "str", "reason": "str"},
    "outages": {"start": "time", "end": "time", "duration_s": "float64", "reason": "str"},
    "roster": {
        "channel": "str",
        "key": "str",
        "metas": "int64",
        "meta": "str",
        "joined_at": "time",
        "updated_at": "time",
    },
    "member_counts": {"time": "time", "channel": "str", "members": "int64"},
    "presence_log": {
        "time": "time",
        "channel": "str",
        "key": "str",
        "action": "str",
        "meta": "str",
    },
    # replica: the configured extras (as text) and counters (float64) are added by the store
    "replica": {
        "key": "str",
        "event": "str",
        "updated_at": "time",
        "commit_ts": "time",
        "received_at": "time",
    },
    "replica_history": {"key": "str", "time": "time"},
}


def frame(columns: dict[str, Any], schema: dict[str, str]) -> pd.DataFrame:
    """Build a frame from column arrays, coercing to the documented dtypes (also when empty)."""
    out: dict[str, Any] = {}
    for name, kind in schema.items():
        values = columns.get(name, [])
        if kind == "time":
            out[name] = values if isinstance(values, pd.DatetimeIndex) else to_utc(values)
        elif kind == "str":
            out[name] = pd.array(values, dtype="str")
        elif kind == "object":
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
            out[name] = arr
        else:
            out[name] = np.asarray(values, dtype=kind)
    for name, values in columns.items():
        if name not in out:
            out[name] = values
    return pd.DataFrame(out, copy=False)


def rows_frame(rows: Sequence[tuple], schema: dict[str, str]) -> pd.DataFrame:
    """`frame` from row tuples whose fields are in `schema`'s column order."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return frame({name: list(col) for name, col in zip(schema, columns, strict=True)}, schema)


@dataclass(slots=True)
class CurrentStatus:
    """The socket's status now, the reason it gave, and since when (None before any status)."""

    status: str | None = None
    reason: str | None = None
    since: float | None = None


@dataclass(slots=True)
class LatencyStats:
    """Latency over the window for one source, in ms; NaN (count 0) when there were no samples.

    `exact` says the figures come from the exact samples; otherwise the percentiles come from
    the 1-second histograms (within one bin, ~20 %) while count, mean and max stay exact.
    """

    p50: float = float("nan")
    p95: float = float("nan")
    p99: float = float("nan")
    mean: float = float("nan")
    max: float = float("nan")
    count: int = 0
    exact: bool = True

    # Mapping-style access too, so code written against plain dicts (`stats.get("p95")`) works.
    def __getitem__(self, name: str) -> Any:
        if name not in self.__slots__:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in self.__slots__ else default

    def as_dict(self) -> dict[str, Any]:
        return {
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "mean": self.mean,
            "max": self.max,
            "count": self.count,
            "exact": self.exact,
        }


@dataclass(slots=True)
class Snapshot:
    """Everything a tick needs, for the window [now - effective_window_s, now]."""

    now: float
    window_s: float
    effective_window_s: float  # min(window_s, now - started_at); 0 before anything was recorded
    started_at: float | None  # first status or event
    seq: int  # newest event seq; pass to Store.events_since for the next delta
    events: pd.DataFrame  # the raw ring (all retained events, oldest first), payload left out
    rates: pd.DataFrame  # per second and (channel, kind): count, bytes; user traffic only
    rate_total: float  # user messages/s over the effective window
    rate_by_channel: dict[str, float]
    rate_by_kind: dict[str, float]
    bytes_rate: float  # user bytes/s over the effective window
    latency: dict[str, LatencyStats]  # by source: commit, probe_rtt, probe_db
    latency_series: pd.DataFrame
    subscriptions: pd.DataFrame
    subscription_counts: dict[str, int]
    status: CurrentStatus
    timeline: pd.DataFrame  # every retained status change; end is NaT for the current one
    uptime: float  # fraction connected over the effective window; NaN if no status recorded
    outages: pd.DataFrame  # every retained outage (not only the window's); end NaT = ongoing
    reconnects: int  # regained connections within the window
    reconnects_total: int
    reconnect_durations: list[float]  # seconds, for reconnects completed within the window
    last_message_at: float | None
    message_age_s: float | None
    replica: pd.DataFrame
    replica_history: pd.DataFrame  # counters per key in the window, led by the level before it
    roster: pd.DataFrame
    member_counts: pd.DataFrame
    presence_log: pd.DataFrame
    totals: dict[str, Any] = field(default_factory=dict)
