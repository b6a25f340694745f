"""What went wrong, in the server's words and in one of a few classes, and what the feed does.

Realtime says why it refuses or drops something, in words that are stable across releases (the
reasons of `realtime_channel.ex` `join/3`, the system messages of `shutdown_response/2`, the
rate limiters' texts; reference §2.4, §2.5, §13). `classify()` maps those words to a class an
operator can act on. The Supervisor reports every close, refusal and error as a `Problem`; the
metrics layer folds repeats into incidents (`metrics.incidents`).

`PLANS` says what the feed does about each class on a channel: rejoin after realtime-py's delays
(1, 2, 5, 10 s), rejoin slowly (quotas average over 60 s and a join refused for a quota stalls the
socket for 5 s, reference §13.1.6), refresh the token, or stop rejoining until the config changes
(a bad filter or a bad token is refused the same way every time; realtime-py would rejoin it
forever, holding the socket 5 s per refusal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

QUOTA_MESSAGES = "quota.messages"
QUOTA_JOINS = "quota.joins"
QUOTA_CONNECTIONS = "quota.connections"
QUOTA_CHANNELS = "quota.channels"
QUOTA_PRESENCE = "quota.presence"
QUOTA_PAYLOAD = "quota.payload"
AUTH_EXPIRED = "auth.expired"
AUTH_INVALID = "auth.invalid"
POLICY_DENIED = "policy.denied"
SUBSCRIPTION_INVALID = "subscription.invalid"
SERVER_RESTART = "server.restart"
SERVER_IDLE_CLOSE = "server.idle_close"
SERVER_UNAVAILABLE = "server.unavailable"
SERVER_CRASH = "server.crash"
NETWORK = "network"
UNKNOWN = "unknown"

CLASSES = (
    QUOTA_MESSAGES,
    QUOTA_JOINS,
    QUOTA_CONNECTIONS,
    QUOTA_CHANNELS,
    QUOTA_PRESENCE,
    QUOTA_PAYLOAD,
    AUTH_EXPIRED,
    AUTH_INVALID,
    POLICY_DENIED,
    SUBSCRIPTION_INVALID,
    SERVER_RESTART,
    SERVER_IDLE_CLOSE,
    SERVER_UNAVAILABLE,
    SERVER_CRASH,
    NETWORK,
    UNKNOWN,
)

SOCKET = ""  # the channel of a problem that is the whole socket's


@dataclass(frozen=True, slots=True)
class Problem:
    """One close, refusal or error as the feed saw it."""

    at: float
    channel: str  # the sub-topic, or SOCKET
    cls: str  # one of CLASSES
    message: str  # the server's words (or ours, for a network failure)
    action: str  # what the feed does about it, in a few words
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. the binding, the role
    # True: the trouble of this class on this channel is over (e.g. a token refresh worked
    # again), for troubles no subscribe or connect ends
    resolved: bool = False


# The server's words, most specific first. Sources: realtime_channel.ex (join reasons),
# realtime_channel/message_dispatcher.ex and presence_handler.ex (shutdown texts),
# tenants/authorization.ex, extensions/postgres_cdc_rls (filter and subscribe errors),
# rate_counter users in tenants.ex; the sandbox uses the same texts.
_RULES: tuple[tuple[str, str], ...] = (
    (r"Too many messages per second|tenant_events|exceeded your rate limit", QUOTA_MESSAGES),
    (r"Too many messages to broadcast", QUOTA_MESSAGES),
    (r"ClientJoinRateLimitReached|Too many joins per second", QUOTA_JOINS),
    (
        r"ConnectionRateLimitReached|Too many connected users|too_many_connections",
        QUOTA_CONNECTIONS,
    ),
    (r"ChannelRateLimitReached|Too many channels", QUOTA_CHANNELS),
    (r"presence messages per second|Client presence rate limit", QUOTA_PRESENCE),
    (r"Track message size exceeded|payload_size_exceeded|payload.*too large", QUOTA_PAYLOAD),
    (r"[Tt]oken has expired|InvalidJWTExpiration|JWT has expired", AUTH_EXPIRED),
    (
        r"MalformedJWT|JwtSignatureError|InvalidJWTToken|not a valid JWT|Fields `role` and `exp`"
        r"|Token expiration time is invalid|[Ii]nvalid (API )?key|HTTP 401",
        AUTH_INVALID,
    ),
    (
        r"do not have permissions? to read|no longer have permission|PrivateOnly|Error 401"
        r"|permission denied",
        POLICY_DENIED,
    ),
    (
        r"Error parsing `filter`|Unable to subscribe to changes|no primary key|Error 400"
        r"|TopicNameRequired|mismatch between server and client bindings|UnableToReplayMessages"
        r"|invalid (column|filter|value)",
        SUBSCRIPTION_INVALID,
    ),
    (r"Server requested disconnect|RealtimeRestarting|code 1012", SERVER_RESTART),
    (
        r"InitializingProjectConnection|UnableToConnectToProject|DatabaseLackOfConnections"
        r"|IncreaseConnectionPool|DatabaseConnectionRateLimitReached|Replication connection was"
        r" not established|RealtimeDisabledForTenant|TenantNotFound|HTTP 5\d\d",
        SERVER_UNAVAILABLE,
    ),
    (r"phx_error|crashed", SERVER_CRASH),
    (
        r"connection lost|code 1006|timed out|[Cc]onnection refused|no probe echo|[Nn]ame or"
        r" service not known|[Nn]etwork is unreachable|not answered|Connect call failed",
        NETWORK,
    ),
)
_COMPILED = tuple((re.compile(p), cls) for p, cls in _RULES)


def classify(message: str) -> str:
    """The class of the server's words; `unknown` when no rule knows them."""
    for pattern, cls in _COMPILED:
        if pattern.search(message):
            return cls
    return UNKNOWN


def classify_close(code: int | None, reason: str, *, join_limited: bool = False) -> str:
    """The class of a closed socket. A server close without words is Phoenix's idle timeout,
    unless the server had just refused a join for the join rate, which closes the socket too
    (code 1000, or 1001 in builds since May 2026; reference §13.3)."""
    if join_limited and code in (1000, 1001):
        return QUOTA_JOINS
    if code == 1012:
        return SERVER_RESTART
    cls = classify(reason)
    if cls != UNKNOWN:
        return cls
    if code in (1000, 1001):
        return SERVER_IDLE_CLOSE
    return NETWORK


@dataclass(frozen=True, slots=True)
class Plan:
    """What the feed does after a channel problem of one class."""

    rejoin: bool
    delays_s: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)  # the last repeats
    refresh_token: bool = False

    def delay(self, tries: int) -> float:
        return self.delays_s[min(max(tries, 1), len(self.delays_s)) - 1]


_REJOIN = Plan(rejoin=True)  # realtime-py's REJOIN_DELAYS_SECONDS
_SLOW = Plan(rejoin=True, delays_s=(30.0, 60.0))  # realtime-py waits 30 s after a rate limit
_GIVE_UP = Plan(rejoin=False)
PLANS: dict[str, Plan] = {
    QUOTA_MESSAGES: _SLOW,
    QUOTA_JOINS: _SLOW,
    QUOTA_CONNECTIONS: _SLOW,
    QUOTA_CHANNELS: _GIVE_UP,  # the channel list is over the limit: only the config can fix it
    QUOTA_PRESENCE: _SLOW,
    QUOTA_PAYLOAD: _REJOIN,
    AUTH_EXPIRED: _GIVE_UP,  # unless a refresh method is configured (`Plan.refresh_token`)
    AUTH_INVALID: _GIVE_UP,
    POLICY_DENIED: Plan(rejoin=True, delays_s=(30.0, 60.0, 120.0, 300.0)),  # a policy may change
    SUBSCRIPTION_INVALID: _GIVE_UP,
    SERVER_RESTART: _REJOIN,
    SERVER_IDLE_CLOSE: _REJOIN,
    SERVER_UNAVAILABLE: _REJOIN,
    SERVER_CRASH: _REJOIN,
    NETWORK: _REJOIN,
    UNKNOWN: _REJOIN,
}
REFRESH = Plan(rejoin=True, refresh_token=True)


def plan_for(cls: str, *, can_refresh: bool = False, plans: dict[str, Plan] = PLANS) -> Plan:
    if cls == AUTH_EXPIRED and can_refresh:
        return REFRESH
    return plans.get(cls, _REJOIN)


def describe_plan(plan: Plan, tries: int = 1) -> str:
    """The action as the incident shows it."""
    if plan.refresh_token:
        return "refresh the token, then rejoin"
    if not plan.rejoin:
        return "stopped rejoining this channel until the config changes"
    return f"rejoin in {plan.delay(tries):g} s"
