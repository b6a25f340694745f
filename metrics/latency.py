"""Latency over a snapshot's window: exact where the samples still reach, histograms before.

The store keeps the last `latency_samples` exact samples and a 1-second histogram per source for
hours. A window the samples cover gets exact percentiles (`np.percentile`'s); a longer one gets
percentiles from the merged histograms (within one bin, ~20 %), with count, mean and max still
exact from the per-second sums. The per-second series mixes both the same way.

Per channel there are no histograms (they would multiply by the channels): `by_channel` reads the
exact samples only, and says from when they cover the window (`since`, `exact`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metrics.capture import Capture
from metrics.schema import EMPTY_COLUMNS, frame
from metrics.stats import (
    LATENCY_SOURCES,
    grouped_percentiles,
    hist_percentiles,
    hist_percentiles_rows,
    percentiles,
)


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
        return {name: getattr(self, name) for name in self.__slots__}


def _exact_from(cap: Capture) -> int:
    """The first whole second the exact samples fully cover."""
    evicted = cap.samples_evicted_t
    return math.floor(evicted) + 1 if math.isfinite(evicted) else -(2**62)


def window_stats(cap: Capture) -> dict[str, LatencyStats]:
    """Per source, the window's percentiles, mean, max and count."""
    t, src, ms = cap.sample_t, cap.sample_src, cap.sample_ms
    rows = cap.latency_rows
    sel = (t >= cap.first_sec) & (t < float(cap.last_sec + 1))  # whole seconds, like the buckets
    exact = _exact_from(cap) <= cap.first_sec
    stats: dict[str, LatencyStats] = {}
    for i, source in enumerate(LATENCY_SOURCES):
        if exact:
            vals = ms[sel & (src == i)]
            if not vals.size:
                stats[source] = LatencyStats()
                continue
            p50, p95, p99 = percentiles(vals)
            mean, top = float(vals.mean()), float(vals.max())
            stats[source] = LatencyStats(p50, p95, p99, mean, top, int(vals.size), True)
            continue
        hist = rows.hist[:, i, :].sum(axis=0)
        count = int(hist.sum())
        if not count:
            stats[source] = LatencyStats(exact=False)
            continue
        p50, p95, p99 = hist_percentiles(hist)
        mean = float(rows.total[:, i].sum()) / count
        stats[source] = LatencyStats(
            p50, p95, p99, mean, float(np.nanmax(rows.max[:, i])), count, False
        )
    return stats


def series(cap: Capture) -> pd.DataFrame:
    """p50/p95/p99 and count per (second, source): exact from the samples, histograms for the
    seconds before they reach."""
    t, src, ms = cap.sample_t, cap.sample_src, cap.sample_ms
    rows = cap.latency_rows
    exact_from = _exact_from(cap)
    n_src = len(LATENCY_SOURCES)
    sel = (t >= cap.first_sec) & (t < float(cap.last_sec + 1)) & (t >= exact_from)
    secs = np.floor(t[sel]).astype(np.int64)
    groups, counts, pcts = grouped_percentiles(secs * n_src + src[sel], ms[sel])
    parts_sec, parts_src = [groups // n_src], [groups % n_src]
    parts_cnt, parts_pct = [counts], [pcts]
    old = rows.sec < max(exact_from, cap.first_sec)
    if old.any():
        h = rows.hist[old]  # (n, sources, slots)
        hc = h.sum(axis=2)  # (n, sources)
        r_idx, s_idx = np.nonzero(hc > 0)
        parts_sec.insert(0, rows.sec[old][r_idx])
        parts_src.insert(0, s_idx.astype(np.int64))
        parts_cnt.insert(0, hc[r_idx, s_idx])
        parts_pct.insert(0, hist_percentiles_rows(h[r_idx, s_idx, :]))
    sec_all = np.concatenate(parts_sec)
    src_all = np.concatenate(parts_src)
    order = np.lexsort((src_all, sec_all))
    pct_all = np.concatenate(parts_pct)[order]
    names = np.asarray(LATENCY_SOURCES, dtype=object)
    return frame(
        {
            "time": sec_all[order].astype(float),
            "source": names[src_all[order]].tolist(),
            "p50": pct_all[:, 0],
            "p95": pct_all[:, 1],
            "p99": pct_all[:, 2],
            "count": np.concatenate(parts_cnt)[order],
        },
        EMPTY_COLUMNS["latency_series"],
    )


def by_channel(cap: Capture) -> pd.DataFrame:
    """Per (channel, source) over the window, from the exact samples: count, p50/p95/p99 (as
    `np.percentile`), mean, max, the first sample's time, and whether the samples reach back to
    the window's start (`exact`). Slowest p95 first."""
    t, ms = cap.sample_t, cap.sample_ms
    sel = (t >= cap.first_sec) & (t < float(cap.last_sec + 1))
    n_src = len(LATENCY_SOURCES)
    keys = cap.sample_ch[sel] * n_src + cap.sample_src[sel]
    groups, counts, pcts = grouped_percentiles(keys, ms[sel])
    inverse = np.searchsorted(groups, keys)
    sums = np.bincount(inverse, weights=ms[sel], minlength=groups.size)
    tops = np.full(groups.size, -np.inf)
    np.maximum.at(tops, inverse, ms[sel])
    firsts = np.full(groups.size, np.inf)
    np.minimum.at(firsts, inverse, t[sel])
    names = np.asarray(cap.sample_channels + ("",), dtype=object)
    sources = np.asarray(LATENCY_SOURCES, dtype=object)
    out = frame(
        {
            "channel": names[groups // n_src].tolist(),
            "source": sources[groups % n_src].tolist(),
            "count": counts,
            "p50": pcts[:, 0],
            "p95": pcts[:, 1],
            "p99": pcts[:, 2],
            "mean": sums / np.maximum(counts, 1),
            "max": tops,
            "since": firsts,
            "exact": np.full(groups.size, _exact_from(cap) <= cap.first_sec),
        },
        EMPTY_COLUMNS["latency_by_channel"],
    )
    return out.sort_values("p95", ascending=False, ignore_index=True)
