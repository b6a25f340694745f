"""Metric math: percentiles, the latency histogram, rates and the connection-timeline maths.

Everything here is a plain function over numbers, arrays or a list of `StatusChange`s, so it can be
tested with hand-made values and reused by notebooks on recorded streams without a store.

Conventions shared by every function:

* Latencies are milliseconds, times are epoch seconds (float).
* "No data" is NaN for a float result, never 0: an empty window must not read as "0 ms latency".
* Percentiles use NumPy's default linear interpolation so exact figures match `np.percentile`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from feeds.events import CONNECTED, StatusChange

NAN = float("nan")
PERCENTILES: tuple[float, ...] = (50.0, 95.0, 99.0)

# Latency sources: the commit-to-receive latency of postgres_changes and the two probes.
COMMIT = "commit"
PROBE_RTT = "probe_rtt"
PROBE_DB = "probe_db"
LATENCY_SOURCES: tuple[str, ...] = (COMMIT, PROBE_RTT, PROBE_DB)

# --------------------------------------------------------------------------------------------
# Percentiles
# --------------------------------------------------------------------------------------------


def percentiles(values: Iterable[float], qs: Sequence[float] = PERCENTILES) -> tuple[float, ...]:
    """Exact percentiles (linear interpolation, as `np.percentile`), NaN for each q when empty.

    NaNs in the input are dropped first: a sample without a latency is "unknown", not an outlier.
    """
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return tuple(NAN for _ in qs)
    return tuple(float(v) for v in np.percentile(arr, qs))


def grouped_percentiles(
    groups: np.ndarray, values: np.ndarray, qs: Sequence[float] = PERCENTILES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact percentiles of `values` per distinct integer `groups` value, fully vectorised.

    Returns (group ids, counts, percentiles[n_groups, len(qs)]). This is what a per-second latency
    series needs: one sort instead of a Python loop (or a pandas groupby) per second.
    """
    groups = np.asarray(groups, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, len(qs)))
    order = np.lexsort((values, groups))
    g = groups[order]
    v = values[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    counts = np.diff(np.r_[starts, g.size])
    out = np.empty((starts.size, len(qs)))
    for j, q in enumerate(qs):
        pos = (q / 100.0) * (counts - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, counts - 1)
        frac = pos - lo
        out[:, j] = v[starts + lo] + (v[starts + hi] - v[starts + lo]) * frac
    return g[starts], counts, out


# --------------------------------------------------------------------------------------------
# Fixed log-spaced latency histogram
# --------------------------------------------------------------------------------------------

HIST_LO_MS = 0.05
HIST_HI_MS = 120_000.0
HIST_BINS = 80
# Bin i (1..HIST_BINS) holds EDGES[i-1] <= x < EDGES[i]; slot 0 is underflow (x < 0.05 ms, incl.
# negative latencies from clock skew), slot HIST_BINS+1 is overflow (x >= 120 s). Fixed edges make
# histograms from different seconds (or processes) mergeable by plain addition.
HIST_EDGES: np.ndarray = np.geomspace(HIST_LO_MS, HIST_HI_MS, HIST_BINS + 1)
HIST_SLOTS = HIST_BINS + 2
_EDGES_LIST: list[float] = HIST_EDGES.tolist()
_LOG_LO = math.log(HIST_LO_MS)
_SCALE = HIST_BINS / (math.log(HIST_HI_MS) - _LOG_LO)
_log = math.log


def hist_slot(ms: float) -> int:
    """The histogram slot of one latency: O(1) with a log, corrected to agree with the edges.

    The log gives the bin directly; one comparison each way fixes float rounding at an edge, so
    the result is always the one `np.searchsorted(HIST_EDGES, ms, "right")` would give.
    """
    if not ms >= HIST_LO_MS:  # also catches NaN
        return 0
    if ms >= HIST_HI_MS:
        return HIST_BINS + 1
    i = int((_log(ms) - _LOG_LO) * _SCALE) + 1
    if i > HIST_BINS:
        i = HIST_BINS
    if ms < _EDGES_LIST[i - 1]:
        i -= 1
    elif ms >= _EDGES_LIST[i]:
        i += 1
    return i


def histogram(values: Iterable[float]) -> np.ndarray:
    """Counts per slot (length HIST_SLOTS, int64) of some latencies; NaNs are dropped."""
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=float)
    arr = arr[~np.isnan(arr)]
    slots = np.searchsorted(HIST_EDGES, arr, side="right")
    return np.bincount(slots, minlength=HIST_SLOTS).astype(np.int64)


def hist_percentiles_rows(counts: np.ndarray, qs: Sequence[float] = PERCENTILES) -> np.ndarray:
    """Approximate percentiles for each row of a (n, HIST_SLOTS) array of histograms.

    Uses the same rank as NumPy's linear method, q/100 * (n - 1), then places the samples of a
    bin evenly in log space inside it, so the error is bounded by one bin's width (about 20 %).
    Underflow reads as the lowest edge and overflow as the highest: the histogram does not know
    more. Rows with no samples give NaN.
    """
    counts = np.atleast_2d(np.asarray(counts, dtype=np.int64))
    n_rows = counts.shape[0]
    out = np.full((n_rows, len(qs)), NAN)
    if n_rows == 0:
        return out
    cum = np.cumsum(counts, axis=1)
    total = cum[:, -1]
    ok = total > 0
    lo_edge = np.r_[HIST_LO_MS, HIST_EDGES[:-1], HIST_HI_MS]  # per slot
    hi_edge = np.r_[HIST_LO_MS, HIST_EDGES[1:], HIST_HI_MS]
    rows = np.arange(n_rows)
    for j, q in enumerate(qs):
        rank = (q / 100.0) * (total - 1)
        slot = (cum <= rank[:, None]).sum(axis=1)
        slot = np.minimum(slot, HIST_SLOTS - 1)
        c = counts[rows, slot]
        before = cum[rows, slot] - c
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip((rank - before + 0.5) / c, 0.0, 1.0)
        lo = lo_edge[slot]
        hi = hi_edge[slot]
        val = lo * (hi / lo) ** frac
        out[ok, j] = val[ok]
    return out


def hist_percentiles(counts: np.ndarray, qs: Sequence[float] = PERCENTILES) -> tuple[float, ...]:
    """Approximate percentiles of one histogram (see `hist_percentiles_rows`)."""
    return tuple(float(v) for v in hist_percentiles_rows(np.asarray(counts)[None, :], qs)[0])


# --------------------------------------------------------------------------------------------
# Rates and windows
# --------------------------------------------------------------------------------------------


def effective_window(now: float, window_s: float, started_at: float | None) -> float:
    """The part of the window the monitor actually watched: min(window, now - start), >= 0.

    Dividing by the full window right after start-up would under-report the rate; a monitor that
    has watched for 10 s has a 10 s window.
    """
    if started_at is None:
        return 0.0
    return max(0.0, min(float(window_s), now - started_at))


# --------------------------------------------------------------------------------------------
# Connection timeline: uptime, outages, reconnects
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outage:
    """A period without a connection; `end` is None while it lasts (then duration runs to now)."""

    start: float
    end: float | None
    duration_s: float
    reason: str | None


def connected_seconds(timeline: Sequence[StatusChange], start: float, end: float) -> float:
    """Seconds of [start, end] spent `connected`; time before the first change counts as not."""
    total = 0.0
    n = len(timeline)
    for i, change in enumerate(timeline):
        if change.status != CONNECTED:
            continue
        seg_start = change.at
        seg_end = timeline[i + 1].at if i + 1 < n else end
        lo = max(seg_start, start)
        hi = min(seg_end, end)
        if hi > lo:
            total += hi - lo
    return total


def uptime_fraction(timeline: Sequence[StatusChange], start: float, end: float) -> float:
    """Fraction of [start, end] spent connected; NaN with no timeline or an empty span.

    NaN rather than 0 or 1 because "never recorded a status" is not the same as "was down".
    """
    if not timeline or not end > start:
        return NAN
    return connected_seconds(timeline, start, end) / (end - start)


def outages(
    timeline: Sequence[StatusChange], now: float, connected_before: bool = False
) -> list[Outage]:
    """Every period not `connected` after the first connect, oldest first.

    The connecting period at start-up is not an outage once it ends in a connect (that is just
    start-up), but it is one, open, if the monitor never connected: then nothing works. Each
    outage's reason is the reason of the change that began it (the first thing that went wrong),
    not of the retries that followed. `connected_before` says the monitor had connected before
    the first change in `timeline` (when older changes were evicted from a bounded log).
    """
    result: list[Outage] = []
    if not timeline:
        return result
    ever = connected_before
    open_start: float | None = None
    open_reason: str | None = None
    for change in timeline:
        if change.status == CONNECTED:
            ever = True
            if open_start is not None:
                result.append(Outage(open_start, change.at, change.at - open_start, open_reason))
                open_start = None
        elif open_start is None and ever:
            open_start, open_reason = change.at, change.reason
    if open_start is not None:
        result.append(Outage(open_start, None, max(0.0, now - open_start), open_reason))
    elif not ever:
        first = timeline[0]
        result.append(Outage(first.at, None, max(0.0, now - first.at), first.reason))
    return result
