"""The columns and dtypes of every snapshot frame, and the helpers that build frames to them.

Frames are tidy (one row per observation) with `datetime64[ns, UTC]` time columns, which is what
hvPlot, Bokeh and Tabulator consume directly. `EMPTY_COLUMNS` documents every frame's columns; an
empty frame still has them (and their dtypes), so a reader never special-cases "no data yet".
"""

from __future__ import annotations

from collections.abc import Sequence
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
    "latency_by_channel": {
        "channel": "str",
        "source": "str",
        "count": "int64",
        "p50": "float64",
        "p95": "float64",
        "p99": "float64",
        "mean": "float64",
        "max": "float64",
        "since": "time",
        "exact": "bool",
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
    "incidents": {
        "id": "int64",
        "state": "str",
        "class": "str",
        "channel": "str",
        "opened_at": "time",
        "last_at": "time",
        "closed_at": "time",
        "count": "int64",
        "message": "str",
        "action": "str",
        "explanation": "str",
        "fix": "str",
    },
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
