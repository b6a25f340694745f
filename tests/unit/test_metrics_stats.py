"""metrics.stats: percentiles, the fixed latency histogram, rates and the connection timeline.

Expected values are computed by hand (timelines) or by NumPy on the same data (percentiles), so
each assertion pins an exact number.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from feeds.events import StatusChange
from metrics.stats import (
    HIST_BINS,
    HIST_EDGES,
    HIST_HI_MS,
    HIST_LO_MS,
    HIST_SLOTS,
    Outage,
    connected_seconds,
    effective_window,
    grouped_percentiles,
    hist_percentiles,
    hist_percentiles_rows,
    hist_slot,
    histogram,
    outages,
    percentiles,
    uptime_fraction,
)


def sc(at: float, status: str, reason: str | None = None) -> StatusChange:
    return StatusChange(at, status, reason)


# ---- percentiles ----------------------------------------------------------------------------


def test_percentiles_match_numpy_linear():
    values = [12.0, 3.5, 7.25, 100.0, 0.5, 42.0, 8.0]
    assert percentiles(values) == tuple(np.percentile(values, [50, 95, 99]).tolist())
    assert percentiles([1.0, 2.0, 3.0, 4.0]) == pytest.approx((2.5, 3.85, 3.97), rel=1e-12)


def test_percentiles_empty_is_nan_and_nans_are_dropped():
    assert all(math.isnan(v) for v in percentiles([]))
    assert all(math.isnan(v) for v in percentiles([float("nan")]))
    assert percentiles([1.0, float("nan"), 3.0], qs=(50,)) == (2.0,)


def test_grouped_percentiles_match_numpy_per_group():
    rng = np.random.default_rng(7)
    groups = rng.integers(0, 5, size=500)
    values = rng.exponential(30.0, size=500)
    ids, counts, pcts = grouped_percentiles(groups, values)
    assert ids.tolist() == sorted(set(groups.tolist()))
    for gid, count, row in zip(ids, counts, pcts, strict=True):
        mine = values[groups == gid]
        assert count == mine.size
        np.testing.assert_allclose(row, np.percentile(mine, [50, 95, 99]), rtol=0, atol=1e-12)
    ids, counts, pcts = grouped_percentiles(np.array([], int), np.array([]))
    assert ids.size == 0 and counts.size == 0 and pcts.shape == (0, 3)


# ---- histogram --------------------------------------------------------------------------------


def test_hist_slot_agrees_with_edges_everywhere_including_on_edges():
    probes = [-5.0, 0.0, 0.049, HIST_LO_MS, HIST_HI_MS, 1e9, float("nan")]
    probes += HIST_EDGES.tolist()
    probes += np.nextafter(HIST_EDGES, 0).tolist() + np.nextafter(HIST_EDGES, np.inf).tolist()
    probes += np.geomspace(0.01, 1e6, 2000).tolist()
    for ms in probes:
        expected = 0 if math.isnan(ms) else int(np.searchsorted(HIST_EDGES, ms, side="right"))
        assert hist_slot(ms) == expected, ms
    assert hist_slot(-1.0) == 0
    assert hist_slot(HIST_HI_MS) == HIST_BINS + 1 == HIST_SLOTS - 1
    assert HIST_EDGES[0] == pytest.approx(0.05) and HIST_EDGES[-1] == pytest.approx(120_000)


def test_histogram_counts_with_underflow_and_overflow():
    a = histogram([1.0, 1.0, 500.0, -3.0])
    b = histogram([1.0, 200_000.0, float("nan")])
    assert a.sum() == 4 and b.sum() == 2
    assert a[0] == 1  # the negative (clock skew) one is underflow
    assert b[HIST_SLOTS - 1] == 1  # overflow
    assert a[hist_slot(1.0)] == 2 and a[hist_slot(500.0)] == 1


def test_hist_percentiles_within_one_bin_of_exact():
    rng = np.random.default_rng(3)
    values = rng.lognormal(mean=3.0, sigma=1.2, size=5000)
    approx = hist_percentiles(histogram(values))
    exact = np.percentile(values, [50, 95, 99])
    ratio = HIST_EDGES[1] / HIST_EDGES[0]
    for a, e in zip(approx, exact, strict=True):
        assert e / ratio <= a <= e * ratio


def test_hist_percentiles_single_value_lands_in_its_bin_and_empty_is_nan():
    h = histogram([10.0])
    slot = hist_slot(10.0)
    p50, p95, p99 = hist_percentiles(h)
    assert HIST_EDGES[slot - 1] <= p50 <= HIST_EDGES[slot]
    assert p50 == p95 == p99
    # the midpoint of the bin in log space: lo * (hi/lo) ** 0.5
    assert p50 == pytest.approx(math.sqrt(HIST_EDGES[slot - 1] * HIST_EDGES[slot]))
    assert all(math.isnan(v) for v in hist_percentiles(np.zeros(HIST_SLOTS, int)))
    rows = hist_percentiles_rows(np.stack([h, np.zeros(HIST_SLOTS, int)]))
    assert rows.shape == (2, 3) and not np.isnan(rows[0]).any() and np.isnan(rows[1]).all()
    assert hist_percentiles(histogram([-1.0, -2.0])) == (HIST_LO_MS,) * 3
    assert hist_percentiles(histogram([1e7])) == (HIST_HI_MS,) * 3


# ---- rates and windows -------------------------------------------------------------------------


def test_effective_window():
    assert effective_window(1100.0, 300.0, 1000.0) == 100.0
    assert effective_window(2000.0, 300.0, 1000.0) == 300.0
    assert effective_window(1000.0, 300.0, None) == 0.0
    assert effective_window(999.0, 300.0, 1000.0) == 0.0


# ---- connection timeline -----------------------------------------------------------------------

MIDDLE_OUTAGE = [
    sc(0.0, "connecting"),
    sc(10.0, "connected"),
    sc(40.0, "reconnecting", "heartbeat timeout"),
    sc(45.0, "reconnecting", "attempt 2"),
    sc(55.0, "connected"),
]


def test_uptime_with_outage_in_the_middle():
    # window [10, 100]: connected 10..40 and 55..100 = 30 + 45 = 75 of 90 s
    assert uptime_fraction(MIDDLE_OUTAGE, 10.0, 100.0) == 75.0 / 90.0
    # window [0, 100]: the start-up connecting 0..10 counts as not connected
    assert uptime_fraction(MIDDLE_OUTAGE, 0.0, 100.0) == 0.75
    assert connected_seconds(MIDDLE_OUTAGE, 42.0, 50.0) == 0.0
    assert uptime_fraction(MIDDLE_OUTAGE, 60.0, 70.0) == 1.0


def test_uptime_with_ongoing_outage_and_without_data():
    timeline = [sc(0.0, "connected"), sc(60.0, "disconnected", "server gone")]
    assert uptime_fraction(timeline, 0.0, 100.0) == 0.6
    assert uptime_fraction(timeline, 50.0, 100.0) == 0.2
    assert math.isnan(uptime_fraction([], 0.0, 100.0))
    assert math.isnan(uptime_fraction(timeline, 100.0, 100.0))
    # time before the first recorded status is not connected time
    assert uptime_fraction([sc(50.0, "connected")], 0.0, 100.0) == 0.5


def test_outages_durations_and_first_reason():
    assert outages(MIDDLE_OUTAGE, now=100.0) == [Outage(40.0, 55.0, 15.0, "heartbeat timeout")]
    ongoing = [*MIDDLE_OUTAGE, sc(70.0, "error", "jwt expired"), sc(75.0, "reconnecting", "r")]
    assert outages(ongoing, now=100.0) == [
        Outage(40.0, 55.0, 15.0, "heartbeat timeout"),
        Outage(70.0, None, 30.0, "jwt expired"),
    ]


def test_never_connected_is_one_open_outage_from_the_start():
    timeline = [sc(5.0, "connecting", "boot"), sc(8.0, "error", "refused")]
    assert outages(timeline, now=20.0) == [Outage(5.0, None, 15.0, "boot")]
    assert outages([], now=20.0) == []


def test_startup_connecting_is_not_an_outage_once_connected():
    timeline = [sc(0.0, "connecting"), sc(30.0, "connected")]
    assert outages(timeline, now=100.0) == []


def test_completed_outages_and_connected_before():
    timeline = [
        sc(0.0, "connected"),
        sc(10.0, "reconnecting", "a"),
        sc(12.5, "connected"),
        sc(20.0, "disconnected", "b"),
        sc(20.5, "connecting"),
        sc(27.0, "connected"),
        sc(30.0, "reconnecting", "c"),
    ]
    durations = [o.duration_s for o in outages(timeline, now=40.0)]
    assert durations == [2.5, 7.0, 10.0]  # the last one still open at `now`
    # a log whose first retained change is an outage that began after an evicted connect
    tail = [sc(100.0, "reconnecting", "x"), sc(104.0, "connected")]
    assert outages(tail, now=110.0) == []
    assert [o.duration_s for o in outages(tail, 110.0, connected_before=True)] == [4.0]
