"""The tenant's rate counters, plans and flags, the client presence window and the vsn rule,
without a server: a fake clock steps through Realtime.RateCounter's 5 s ticks."""

from __future__ import annotations

import pytest

from sandbox import lifecycle, limits
from sandbox.__main__ import parse_args
from sandbox.quotas import Quotas, RateCounter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_counter_averages_closed_buckets_and_triggers_at_a_tick():
    clock = Clock()
    rc = RateCounter(100, clock=clock)
    rc.add(499)  # starts the counter; nothing is averaged before the first 5 s tick
    clock.now += 4.9
    assert rc.state() == (0.0, False)
    clock.now += 0.1  # first tick: one bucket of 499 events = 99.8/s, under the limit
    assert rc.state() == (pytest.approx(99.8), False)
    rc.add(1500)
    clock.now += 5  # second tick: (499 + 1500) / 2 buckets / 5 s = 199.9/s
    avg, triggered = rc.state()
    assert avg == pytest.approx(199.9) and triggered and rc.over
    clock.now += 5 * 10  # ten empty buckets: 1999 / 12 / 5 = 33.3/s, released
    assert rc.state() == (pytest.approx(1999 / 12 / 5), False)
    clock.now += 5  # the window slides: the 499 bucket drops out
    assert rc.state()[0] == pytest.approx(1500 / 12 / 5)


def test_rate_counter_without_a_limit_never_triggers_and_restarts_when_idle():
    clock = Clock()
    rc = RateCounter(0, clock=clock)
    rc.add(10_000)
    clock.now += 5
    assert rc.state() == (2000.0, False) and not rc.over
    limited = RateCounter(1, clock=clock)
    limited.add(100)
    clock.now += 5
    assert limited.over
    clock.now += 300  # five minutes without an event: a fresh counter, as :idle_shutdown
    assert limited.state() == (0.0, False)
    limited.add(6)
    clock.now += 5  # young again: one bucket is the whole average
    assert limited.state() == (1.2, True)


def test_client_presence_window_is_fixed_and_per_join():
    clock = Clock()
    q = Quotas(limits.Limits(presence_calls_per_30s=5), clock=clock)
    window = [0, 0.0]
    assert all(q.client_presence_allowed(window) for _ in range(5))
    assert not q.client_presence_allowed(window)
    assert q.refusals["client_presence_limit"] == 1
    assert q.client_presence_allowed([0, 0.0])  # another join has its own window
    clock.now += 29.9  # fixed, not sliding: still refused until the window ends
    assert not q.client_presence_allowed(window)
    clock.now += 0.2
    assert q.client_presence_allowed(window) and window[0] == 1


def test_rest_refusals_follow_the_batch_and_single_rules():
    clock = Clock()
    q = Quotas(limits.Limits(max_events_per_second=100), clock=clock)
    q.events.add(500)
    clock.now += 5  # average exactly 100
    assert q.rest_refusal(None) == "You have exceeded your rate limit"  # single: at the limit
    assert q.rest_refusal(1) == "Too many messages to broadcast, please reduce the batch size"
    q.events.add(10)
    clock.now += 5  # (500 + 10) / 2 / 5 = 51: under, but a batch of 50 would take it over
    assert q.rest_refusal(49) is None
    assert q.rest_refusal(50) == "Too many messages to broadcast, please reduce the batch size"
    assert q.refusals["rest_rate_limited"] == 3


def test_concurrent_users_are_sockets_that_joined():
    q = Quotas(limits.Limits(max_concurrent_users=2))
    assert q.join_refusal(1) is None
    q.users.update({1, 2})
    assert q.connect_refusal() == ("connect_too_many_users", "Too many connected users")
    assert q.join_refusal(1) is None  # already counted: its further joins are let in
    assert q.join_refusal(3) == "ConnectionRateLimitReached: Too many connected users"


def test_plans_and_flags():
    args = parse_args(["serve"])
    assert limits.from_args(args) == limits.Limits()
    assert limits.Limits().max_events_per_second == 0  # no plan: the rates are off
    free = limits.from_args(parse_args(["serve", "--plan", "free"]))
    assert (free.max_events_per_second, free.max_joins_per_second) == (100, 100)
    assert (free.max_concurrent_users, free.max_presence_events_per_second) == (200, 20)
    assert free.max_payload_bytes == 256 * 1024
    team = limits.from_args(parse_args(["serve", "--plan", "team", "--max-payload-kb", "10"]))
    assert team.max_events_per_second == 2500 and team.max_payload_bytes == 10 * 1024
    mixed = parse_args(["serve", "--plan", "pro", "--max-joins-per-second", "3"])
    assert limits.from_args(mixed).max_joins_per_second == 3  # a flag overrides the plan
    assert limits.from_args(mixed).max_events_per_second == 500


def test_timings_default_to_the_servers():
    timing = lifecycle.timing_from_args(parse_args(["serve"]))
    assert timing == lifecycle.Timing(5.0, 2.0, 60.0)
    quick = parse_args(["serve", "--join-error-delay-ms", "50", "--idle-timeout-ms", "800"])
    assert lifecycle.timing_from_args(quick) == lifecycle.Timing(0.05, 2.0, 0.8)


@pytest.mark.parametrize(
    ("vsn", "serializer"),
    [
        ("1.0.0", 1),
        ("1.0.7", 1),
        ("1.0.1-rc.1", 1),
        ("2.0.0", 2),
        ("2.0.1", 2),
        ("2.0.0+build", 2),
        ("2.0.0-rc.1", None),
        ("2.1.0", None),
        ("3.0.0", None),
        ("2.0", None),
        ("", None),
        ("abc", None),
    ],
)
def test_vsn_negotiation_is_phoenixs(vsn, serializer):
    assert lifecycle.negotiate_vsn(vsn) == serializer
