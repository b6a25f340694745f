"""metrics.buckets: per-second counts, latency histograms and member counts, bounded memory."""

from __future__ import annotations

import numpy as np

from metrics.buckets import SecondBuckets
from metrics.stats import hist_slot

COMMIT, RTT = 0, 1


def add_latency(b: SecondBuckets, t: float, source: int, ms: float) -> None:
    b.add_latency(t, source, ms, hist_slot(ms))


def test_counts_and_bytes_per_second_and_series():
    b = SecondBuckets(history_s=60)
    b.add_message(100.1, "a", "broadcast", 10)
    b.add_message(100.9, "a", "broadcast", 5)
    b.add_message(100.5, "b", "postgres_changes", 7)
    b.add_message(102.0, "a", "broadcast", 1)  # freezes second 100, 101 had nothing
    rows = b.messages(100, 102)
    got = list(
        zip(
            rows.sec.tolist(),
            rows.channel,
            rows.kind,
            rows.count.tolist(),
            rows.bytes.tolist(),
            strict=True,
        )
    )
    assert got == [
        (100, "a", "broadcast", 2, 15),
        (100, "b", "postgres_changes", 1, 7),
        (102, "a", "broadcast", 1, 1),
    ]
    assert b.messages(101, 101).sec.size == 0
    assert b.messages(102, 200).count.tolist() == [1]


def test_late_event_counts_in_current_second():
    b = SecondBuckets(history_s=60)
    b.add_message(105.2, "a", "broadcast", 1)
    b.add_message(104.9, "a", "broadcast", 1)
    assert b.late_events == 1
    assert b.messages(0, 1000).count.tolist() == [2]


def test_latency_rows_hist_sum_and_max():
    b = SecondBuckets(history_s=60)
    add_latency(b, 10.2, COMMIT, 5.0)
    add_latency(b, 10.7, COMMIT, 50.0)
    add_latency(b, 10.7, RTT, 2.0)
    add_latency(b, 12.0, COMMIT, 7.0)  # current, not yet frozen
    rows = b.latency(10, 12)
    assert rows.sec.tolist() == [10, 12]
    assert rows.hist.shape == (2, 3, rows.hist.shape[2])
    assert rows.hist[0, COMMIT].sum() == 2 and rows.hist[0, RTT].sum() == 1
    assert rows.hist[0, COMMIT, hist_slot(50.0)] == 1
    assert rows.total[0].tolist() == [55.0, 2.0, 0.0]
    assert rows.max[0, COMMIT] == 50.0 and np.isnan(rows.max[0, 2])
    assert rows.total[1, COMMIT] == 7.0
    assert b.latency(11, 11).sec.size == 0


def test_member_counts_are_change_points_led_by_level_at_window_start():
    b = SecondBuckets(history_s=60)
    b.set_members(10.0, "room", 1)
    b.set_members(10.5, "room", 2)  # last value in the second wins
    b.set_members(20.0, "room", 3)
    b.set_members(30.0, "hall", 1)
    assert b.members(0, 30) == [(10, "room", 2), (20, "room", 3), (30, "hall", 1)]
    assert b.members(15, 30) == [(15, "room", 2), (20, "room", 3), (30, "hall", 1)]


def test_memory_stays_bounded_over_twice_history():
    history = 300
    b = SecondBuckets(history_s=history)
    t0 = 1_000_000
    for s in range(2 * history):
        for k in range(3):  # three series, every second, plus latency and members
            b.add_message(t0 + s + 0.1 * k, f"ch{k}", "broadcast", 100)
        add_latency(b, t0 + s + 0.5, COMMIT, 10.0 + s % 7)
        b.set_members(t0 + s + 0.5, "room", s % 11)
        if s == history - 1:
            at_full = b.memory_rows()
    end = b.memory_rows()
    assert end == at_full  # nothing grows after the first history_s seconds
    assert end["message_seconds"] == history - 1  # + the current second, held unfrozen
    assert end["message_rows"] == 3 * (history - 1)
    assert end["member_points"] <= history
    assert end["latency_ring_rows"] == history
    # only the last history_s seconds are still queryable
    rows = b.messages(0, 10**9)
    last = t0 + 2 * history - 1
    assert rows.sec.min() == last - history + 1 and rows.sec.max() == last
    assert int(rows.count.sum()) == 3 * history
    lat = b.latency(0, 10**9)
    assert lat.sec.size == history and lat.sec.min() == last - history + 1


def test_time_jump_evicts_everything_older_than_history():
    b = SecondBuckets(history_s=10)
    b.add_message(100.0, "a", "broadcast", 1)
    add_latency(b, 100.0, COMMIT, 1.0)
    b.set_members(100.0, "room", 4)
    b.advance(500.0)
    assert b.messages(0, 1000).sec.size == 0
    assert b.latency(0, 1000).sec.size == 0
    assert b.memory_rows()["message_seconds"] == 0
    # the member level survives as the level in force, at the window start
    assert b.members(495, 500) == [(495, "room", 4)]
