"""The server's words to classes, problems to incidents, and health that counts the channels."""

from __future__ import annotations

import math

import pytest

from feeds import problems as pb
from feeds.events import Event, StatusChange, SubscriptionChange
from feeds.problems import Problem, classify, classify_close
from metrics import health
from metrics.incidents import FLAP_S, IncidentLog
from metrics.store import Store

# The server's exact words (reference §2.4, §2.5, §13), each with the class an operator needs.
WORDS = [
    ("Too many messages per second", pb.QUOTA_MESSAGES),
    ("HTTP 429: You have exceeded your rate limit", pb.QUOTA_MESSAGES),
    ("ClientJoinRateLimitReached: Too many joins per second", pb.QUOTA_JOINS),
    ("HTTP 429: Too many joins per second", pb.QUOTA_JOINS),
    ("ConnectionRateLimitReached: Too many connected users", pb.QUOTA_CONNECTIONS),
    ("HTTP 429: Too many connected users", pb.QUOTA_CONNECTIONS),
    ("ChannelRateLimitReached: Too many channels", pb.QUOTA_CHANNELS),
    ("Too many presence messages per second", pb.QUOTA_PRESENCE),
    ("Client presence rate limit exceeded", pb.QUOTA_PRESENCE),
    ("Track message size exceeded", pb.QUOTA_PAYLOAD),
    ("InvalidJWTToken: Token has expired 47 seconds ago", pb.AUTH_EXPIRED),
    ("Token has expired 3 seconds ago", pb.AUTH_EXPIRED),
    ("MalformedJWT: The token provided is not a valid JWT", pb.AUTH_INVALID),
    ("JwtSignatureError: Failed to validate JWT signature", pb.AUTH_INVALID),
    ("InvalidJWTToken: Fields `role` and `exp` are required in JWT", pb.AUTH_INVALID),
    ("HTTP 401: The token provided is not a valid JWT", pb.AUTH_INVALID),
    (
        "Unauthorized: You do not have permissions to read from this Channel topic: room1",
        pb.POLICY_DENIED,
    ),
    ("You no longer have permission to read from this Channel topic: room1", pb.POLICY_DENIED),
    ("PrivateOnly: This project only allows private channels", pb.POLICY_DENIED),
    ("Error 401: Unauthorized", pb.POLICY_DENIED),
    ('Error parsing `filter` params: ["wrong"]', pb.SUBSCRIPTION_INVALID),
    (
        "Unable to subscribe to changes with given parameters. Please check Realtime is enabled "
        "for the given connect parameters: [event: *, schema: public, table: doesnotexist]",
        pb.SUBSCRIPTION_INVALID,
    ),
    ("Error 400: Bad Request, no primary key", pb.SUBSCRIPTION_INVALID),
    ("Server requested disconnect", pb.SERVER_RESTART),
    ("RealtimeRestarting: Realtime is restarting, please standby", pb.SERVER_RESTART),
    (
        "InitializingProjectConnection: Initializing connection to the project",
        pb.SERVER_UNAVAILABLE,
    ),
    ("Replication connection was not established in time", pb.SERVER_UNAVAILABLE),
    ("HTTP 503: Service Unavailable", pb.SERVER_UNAVAILABLE),
    ("connection lost (code 1006)", pb.NETWORK),
    ("no probe echo for 5 s: the socket is silent", pb.NETWORK),
    ("Connection refused", pb.NETWORK),
    ("Unknown Error on Channel", pb.UNKNOWN),
]


@pytest.mark.parametrize(("words", "cls"), WORDS)
def test_the_servers_words_name_the_class(words, cls):
    assert classify(words) == cls


def test_a_close_is_classified_by_its_code_and_what_came_before():
    assert classify_close(1012, "connection lost (code 1012)") == pb.SERVER_RESTART
    assert classify_close(1000, "closed by server (code 1000)") == pb.SERVER_IDLE_CLOSE
    # the join-rate refusal closes the socket too: the close is that refusal's, not idleness
    limited = classify_close(1000, "closed by server (code 1000)", join_limited=True)
    assert limited == pb.QUOTA_JOINS
    assert classify_close(1006, "connection lost (code 1006)") == pb.NETWORK
    assert classify_close(None, "no probe echo for 5 s: the socket is silent") == pb.NETWORK


def test_every_class_has_a_plan_an_explanation_and_a_fix():
    for cls in pb.CLASSES:
        problem = Problem(1.0, "room", cls, "words", "act", {"role": "anon"})
        log = IncidentLog()
        log.record(problem)
        (inc,) = log.items()
        assert inc.explanation and inc.fix and "{" not in inc.explanation + inc.fix
        assert cls in pb.PLANS


def test_what_only_a_config_change_fixes_is_not_rejoined():
    for cls in (pb.SUBSCRIPTION_INVALID, pb.AUTH_INVALID, pb.AUTH_EXPIRED, pb.QUOTA_CHANNELS):
        assert not pb.plan_for(cls).rejoin
    assert pb.plan_for(pb.AUTH_EXPIRED, can_refresh=True).refresh_token
    assert pb.plan_for(pb.QUOTA_MESSAGES).delay(1) == 30
    assert pb.plan_for(pb.NETWORK).delay(9) == 10


def problem(at, cls=pb.POLICY_DENIED, channel="room", message="Unauthorized: no"):
    return Problem(at, channel, cls, message, "rejoin in 30 s", {"role": "authenticated"})


def test_repeats_are_one_incident_with_a_count_and_the_latest_words():
    log = IncidentLog()
    for i in range(300):  # realtime-py's rejoin loop on a refused channel
        log.record(problem(10.0 + i, message=f"Unauthorized: try {i}"))
    (inc,) = log.items()
    assert inc.count == 300 and inc.open
    assert inc.first_message == "Unauthorized: try 0" and inc.message == "Unauthorized: try 299"
    assert (inc.opened_at, inc.last_at) == (10.0, 309.0)
    assert "role 'authenticated'" in inc.explanation and "'room'" in inc.explanation


def test_a_subscribed_channel_closes_its_incidents_but_not_a_rejected_binding():
    log = IncidentLog()
    log.record(problem(1.0))
    log.record(problem(1.0, cls=pb.SUBSCRIPTION_INVALID))
    log.record(problem(1.0, channel="other"))
    log.recover_channel(SubscriptionChange(2.0, "room", "SUBSCRIBED"))
    states = {(i.channel, i.cls): i.closed_at for i in log.items()}
    assert states == {
        ("room", pb.POLICY_DENIED): 2.0,
        ("room", pb.SUBSCRIPTION_INVALID): None,
        ("other", pb.POLICY_DENIED): None,
    }
    # the binding works again once the server says so
    ok = Event(3.0, "room", "system", "ok", payload={"extension": "postgres_changes"})
    log.recover_bindings(ok)
    assert not any(i.open for i in log.items() if i.channel == "room")


def test_a_socket_incident_closes_on_connect_and_a_quick_recurrence_reopens_it():
    log = IncidentLog()
    log.record(problem(1.0, cls=pb.NETWORK, channel=pb.SOCKET))
    log.recover_socket(StatusChange(3.0, "connected"))
    assert log.items()[0].closed_at == 3.0
    log.record(problem(3.0 + FLAP_S - 1, cls=pb.NETWORK, channel=pb.SOCKET))
    (inc,) = log.items()
    assert inc.open and inc.count == 2 and inc.opened_at == 1.0  # flapping: the same incident
    log.recover_socket(StatusChange(200.0, "connected"))
    log.record(problem(200.0 + FLAP_S + 1, cls=pb.NETWORK, channel=pb.SOCKET))
    assert [i.open for i in log.items()] == [True, False]  # long after: a new one
    assert log.total == 2


def test_the_log_is_bounded():
    log = IncidentLog(max_open=10, max_closed=5)
    for i in range(100):
        log.record(problem(float(i), channel=f"ch{i}"))
    assert len([i for i in log.items() if i.open]) == 10
    assert len(log.items()) == 15
    assert log.total == 100


def test_health_counts_a_refused_channel_as_down_beyond_the_grace():
    timeline = [StatusChange(0.0, "connecting"), StatusChange(1.0, "connected")]
    # room refused from 10 s to 70 s, vip down 3 s (within the grace)
    downs = [("room", 10.0, 70.0), ("vip", 20.0, 23.0)]
    assert health.healthy_fraction(timeline, downs, 0.0, 100.0) == pytest.approx(1 - 61 / 100)
    # an ongoing spell counts up to now; overlapping spells count once
    downs = [("room", 50.0, None), ("vip", 60.0, None)]
    assert health.healthy_fraction(timeline, downs, 0.0, 100.0) == pytest.approx(1 - 51 / 100)
    assert health.channels_down(downs, 100.0, 45.0) == [("room", 50.0)]
    assert math.isnan(health.healthy_fraction([], downs, 0.0, 100.0))


def test_the_store_reports_channels_down_and_incidents_through_the_snapshot():
    store = Store()
    store.record_status(StatusChange(1000.0, "connecting"))
    store.record_status(StatusChange(1000.5, "connected"))
    store.record_subscription(SubscriptionChange(1000.6, "room", "JOINING"))
    store.record_subscription(SubscriptionChange(1000.7, "room", "SUBSCRIBED"))
    store.record_subscription(SubscriptionChange(1010.0, "room", "CHANNEL_ERROR", "expired"))
    store.record_problem(problem(1010.0, cls=pb.AUTH_EXPIRED, message="Token has expired"))
    snap = store.snapshot(now=1100.0, window_s=100.0)
    assert snap.channels_down(30.0) == [("room", 1010.0)]
    assert snap.socket_uptime == pytest.approx(0.995)
    assert snap.uptime == pytest.approx(0.995 - 0.9)
    (inc,) = snap.open_incidents
    assert inc.cls == pb.AUTH_EXPIRED and snap.channel_incidents() == {"room": inc}
    frame = snap.incidents_frame
    assert list(frame["class"]) == [pb.AUTH_EXPIRED] and list(frame["state"]) == ["open"]
    store.record_subscription(SubscriptionChange(1101.0, "room", "SUBSCRIBED"))
    snap = store.snapshot(now=1102.0, window_s=100.0)
    assert snap.open_incidents == () and snap.channels_down(0.0) == []
