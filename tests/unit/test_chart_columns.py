"""Chart data is reshaped once per snapshot and each session streams only the seconds it has not
sent: these are the pieces that must not drop, repeat or misplace a second."""

from __future__ import annotations

import math

import numpy as np
from bokeh.models import ColumnDataSource

from dashboards.charts import KINDS, latency_columns, rate_columns, stream_new
from dashboards.presence import member_columns
from metrics.schema import EMPTY_COLUMNS, frame

T0 = 1_800_000_000  # a whole second, epoch


def _latency(rows):
    cols = ["time", "source", "p50", "p95", "p99", "count"]
    return frame(
        {c: [r[i] for r in rows] for i, c in enumerate(cols)}, EMPTY_COLUMNS["latency_series"]
    )


def _rates(rows):
    cols = ["time", "channel", "kind", "count", "bytes"]
    return frame({c: [r[i] for r in rows] for i, c in enumerate(cols)}, EMPTY_COLUMNS["rates"])


def test_latency_columns_put_commit_and_probe_side_by_side():
    cols = latency_columns(
        _latency(
            [
                (T0, "commit", 1.0, 2.0, 3.0, 10),
                (T0, "probe_rtt", 4.0, 5.0, 6.0, 1),
                (T0 + 1, "commit", 7.0, 8.0, 9.0, 10),
            ]
        )
    )
    assert cols["t"].tolist() == [T0 * 1000, (T0 + 1) * 1000]
    assert cols["p50"].tolist() == [1.0, 7.0]
    assert cols["p99"].tolist() == [3.0, 9.0]
    assert cols["rtt50"][0] == 4.0 and math.isnan(cols["rtt50"][1])  # no probe that second


def test_latency_columns_without_probe_or_data():
    cols = latency_columns(_latency([(T0, "commit", 1.0, 2.0, 3.0, 1)]))
    assert math.isnan(cols["rtt95"][0])
    empty = latency_columns(_latency([]))
    assert set(empty) == {"t", "p50", "p95", "p99", "rtt50", "rtt95"} and len(empty["t"]) == 0


def test_rate_columns_fill_quiet_seconds_with_zero_and_sum_by_group():
    rates = _rates(
        [
            (T0, "a", "broadcast", 3, 30),
            (T0, "b", "broadcast", 2, 20),
            (T0, "a", "presence", 1, 10),
            (T0 + 3, "c", "postgres_changes", 5, 50),
        ]
    )
    by_kind = rate_columns(rates, "kind", KINDS)
    assert by_kind["t"].tolist() == [(T0 + i) * 1000 for i in range(4)]
    assert by_kind["g0"].tolist() == [5, 0, 0, 0]  # broadcast: a + b
    assert by_kind["g1"].tolist() == [0, 0, 0, 5]  # postgres_changes
    assert by_kind["g2"].tolist() == [1, 0, 0, 0]  # presence
    assert by_kind["g3"].tolist() == [0, 0, 0, 0]  # system: none
    by_channel = rate_columns(rates, "channel", ["a", "other"])
    assert by_channel["g0"].tolist() == [4, 0, 0, 0]
    assert by_channel["g1"].tolist() == [2, 0, 0, 5]  # b and c count as other


def test_stream_new_sends_each_complete_second_once():
    cols = {"t": np.array([1000.0, 2000.0, 3000.0]), "v": np.array([1.0, 2.0, 3.0])}
    source = ColumnDataSource({"t": [], "v": []})
    last = stream_new(source, cols, -math.inf, 3000.0, rollover=10)  # 3000 still filling up
    assert source.data["v"] == [1.0, 2.0] and last == 2000.0
    assert stream_new(source, cols, last, 3000.0, rollover=10) == 2000.0  # nothing new
    assert source.data["v"] == [1.0, 2.0]
    last = stream_new(source, cols, last, 4000.0, rollover=10)
    assert source.data["v"] == [1.0, 2.0, 3.0] and last == 3000.0


def test_stream_new_keeps_at_most_rollover_rows():
    source = ColumnDataSource({"t": [], "v": []})
    last = -math.inf
    for start in range(0, 50, 10):
        t = np.arange(start, start + 10, dtype=float) * 1000
        last = stream_new(source, {"t": t, "v": t / 1000}, last, 1e12, rollover=15)
    assert len(source.data["t"]) == 15
    assert source.data["v"][-1] == 49.0 and source.data["v"][0] == 35.0


def test_member_columns_carry_counts_forward():
    counts = frame(
        {
            "time": [T0, T0, T0 + 2],
            "channel": ["room-b", "room-a", "room-a"],
            "members": [1, 2, 3],
        },
        EMPTY_COLUMNS["member_counts"],
    )
    channels, cols = member_columns(counts)
    assert channels == ["room-a", "room-b"]
    assert cols["c0"].tolist() == [2, 3]
    assert cols["c1"].tolist() == [1, 1]  # room-b unchanged at T0+2
    channels, cols = member_columns(counts.iloc[:0])
    assert channels == [] and len(cols["t"]) == 0
