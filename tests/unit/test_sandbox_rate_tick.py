"""`serve --rate-tick-ms`: the tenant's rate counters on a shorter tick, so tests of the limits
wait a fraction of Supabase's 5 s (issue 12). The rules keep their shape: 12 buckets, the limit
checked at a tick against their average."""

from __future__ import annotations

import pytest

from sandbox import limits
from sandbox.__main__ import parse_args
from sandbox.quotas import BUCKETS, TICK_S, Quotas


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flag_sets_the_tick_and_defaults_to_supabases():
    assert limits.tick_from_args(parse_args(["serve"])) == TICK_S == 5.0
    assert limits.tick_from_args(parse_args(["serve", "--rate-tick-ms", "500"])) == 0.5
    with pytest.raises(SystemExit):
        parse_args(["serve", "--rate-tick-ms", "0"])


def test_a_short_tick_trips_and_releases_the_limit_ten_times_sooner():
    clock = Clock()
    q = Quotas(limits.Limits(max_events_per_second=100), clock=clock, tick_s=0.5)
    q.events.add(60)  # 60 in the first half second: 120/s at the first tick
    clock.now += 0.49
    assert not q.events.over
    clock.now += 0.01
    assert q.events.over and q.events.state()[0] == pytest.approx(120)
    clock.now += 0.5 * (BUCKETS - 1)  # twelve buckets, one with traffic: 60 / 6 s = 10/s
    assert not q.events.over and q.events.state()[0] == pytest.approx(10)
    assert q.stats()["rate_counter"] == {"tick_s": 0.5, "buckets": BUCKETS}
    assert Quotas(limits.Limits()).stats()["rate_counter"]["tick_s"] == TICK_S
