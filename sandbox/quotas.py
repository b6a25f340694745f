"""Tenant quotas: the rate counters Supabase Realtime keeps per project, and what trips them.

Each counter is a `Realtime.RateCounter` (supabase/realtime lib/realtime/rate_counter/
rate_counter.ex, with the arguments of lib/realtime/tenants.ex): events are added as they happen,
every 5 s tick closes a bucket, the average is events per second over the last 12 buckets (60 s,
fewer while the counter is young), and the limit is "triggered" at a tick whose average reaches
it, until a later tick's average falls below it. A counter idle for 5 minutes starts afresh.
`serve --rate-tick-ms N` runs every counter on an N ms tick instead (still 12 buckets), so a test
sees a limit trip within a second rather than after 5-10 s; `/sandbox/v1/stats` says which
(`rate_counter`).

What each limit does when tripped (reference §13.3; realtime_channel.ex, message_dispatcher.ex,
broadcast_handler.ex, presence_handler.ex, batch_broadcast.ex, single_broadcast.ex,
replication_connection.ex, replication_poller.ex, tenant_rate_limiters.ex):

* messages per second (`events`): every channel a message is delivered to gets the system error
  "Too many messages per second" and `phx_close`; REST broadcasts answer 429; database broadcasts
  are dropped. Counted: broadcasts in, REST and database messages sent, each delivery.
* database changes (`db_events`, same limit): postgres_changes are dropped.
* joins per second: the join fails (`ClientJoinRateLimitReached`) and the socket is closed; new
  websocket connections get HTTP 429.
* concurrent users: sockets that joined a channel; over the limit, HTTP 429 at connect and
  `ConnectionRateLimitReached` at join.
* presence messages per second: "Too many presence messages per second" and `phx_close`, on
  track and on the state sync at join. Counted: tracks, syncs, each presence_diff delivery.

Every refusal is counted by name in `refusals` (served at `/sandbox/v1/stats`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .limits import Limits

TICK_S = 5.0  # tick: :timer.seconds(5)
BUCKETS = 12  # max_bucket_len: 12
IDLE_S = 300.0  # @idle_shutdown :timer.minutes(5)

TOO_MANY_MESSAGES = "Too many messages per second"
TOO_MANY_PRESENCE = "Too many presence messages per second"
CLIENT_PRESENCE = "Client presence rate limit exceeded"
TRACK_TOO_LARGE = "Track message size exceeded"
TOO_MANY_JOINS = "ClientJoinRateLimitReached: Too many joins per second"
TOO_MANY_USERS = "ConnectionRateLimitReached: Too many connected users"
REST_RATE = "You have exceeded your rate limit"
REST_BATCH = "Too many messages to broadcast, please reduce the batch size"

# what /sandbox/v1/stats names each refusal
REFUSALS = (
    "too_many_messages",  # channels shut down: Too many messages per second
    "rest_rate_limited",  # REST broadcasts answered 429
    "db_broadcasts_dropped",  # realtime.send rows not delivered
    "db_changes_dropped",  # postgres_changes not delivered
    "too_many_joins",  # joins refused with ClientJoinRateLimitReached
    "connect_too_many_joins",  # websocket upgrades answered 429 Too many joins per second
    "too_many_users",  # joins refused with ConnectionRateLimitReached
    "connect_too_many_users",  # websocket upgrades answered 429 Too many connected users
    "too_many_presence",  # channels shut down: Too many presence messages per second
    "client_presence_limit",  # channels shut down: Client presence rate limit exceeded
    "track_too_large",  # channels shut down: Track message size exceeded
    "payload_too_large",  # broadcasts over the payload limit (not sent)
    "too_many_channels",  # joins refused with ChannelRateLimitReached
    "restarting",  # joins refused with RealtimeRestarting
)


class RateCounter:
    """`Realtime.RateCounter`, evaluated lazily: ticks are applied when the counter is read or
    added to, so nothing runs in the background. A limit of 0 never triggers."""

    def __init__(
        self,
        limit: float,
        *,
        tick_s: float = TICK_S,
        buckets: int = BUCKETS,
        idle_s: float = IDLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.tick_s = tick_s
        self.max_buckets = buckets
        self.idle_s = idle_s
        self.clock = clock
        self._reset(None)

    def _reset(self, start: float | None) -> None:
        self.started = start
        self.next_tick = (start or 0.0) + self.tick_s
        self.last_add = start or 0.0
        self.count = 0  # since the last tick (GenCounter)
        self.buckets: list[int] = []  # newest first
        self.avg = 0.0
        self.triggered = False

    def _advance(self) -> None:
        now = self.clock()
        if self.started is None or now - self.last_add >= self.idle_s:
            self._reset(now)  # RateCounter.new on first use; :idle_shutdown, then a new one
            return
        while now >= self.next_tick:
            self.buckets.insert(0, self.count)
            del self.buckets[self.max_buckets :]
            self.count = 0
            self.avg = sum(self.buckets) / len(self.buckets) / self.tick_s
            if self.limit:
                self.triggered = self.avg >= self.limit  # maybe_trigger_limit
            self.next_tick += self.tick_s

    def add(self, n: int = 1) -> None:
        self._advance()
        self.count += n
        self.last_add = self.clock()

    def state(self) -> tuple[float, bool]:
        """(average per second, triggered) as of now."""
        self._advance()
        return self.avg, self.triggered

    @property
    def over(self) -> bool:
        """The limit is triggered (always False without a limit)."""
        return bool(self.limit) and self.state()[1]


class Quotas:
    """One project's counters and the checks the server makes against them."""

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = TICK_S,
    ) -> None:
        """`tick_s`: the counters' tick (Supabase's 5 s; `--rate-tick-ms` makes it shorter so
        tests see a limit trip in a fraction of the time). The average still spans `BUCKETS`
        ticks, so every rule keeps its shape, only faster."""
        self.limits = limits
        self.tick_s = tick_s
        self.events = RateCounter(limits.max_events_per_second, tick_s=tick_s, clock=clock)
        self.db_events = RateCounter(limits.max_events_per_second, tick_s=tick_s, clock=clock)
        self.joins = RateCounter(limits.max_joins_per_second, tick_s=tick_s, clock=clock)
        self.presence = RateCounter(
            limits.max_presence_events_per_second, tick_s=tick_s, clock=clock
        )
        self.users: set[int] = set()  # ids of sockets that joined a channel (UsersCounter)
        self.refusals: Counter[str] = Counter({name: 0 for name in REFUSALS})
        self.clock = clock

    # --- connect and join ---------------------------------------------------------------------

    def connect_refusal(self) -> tuple[str, str] | None:
        """TenantRateLimiters.check_tenant: (refusal name, HTTP 429 text) or None."""
        limit = self.limits.max_concurrent_users
        if limit and len(self.users) >= limit:
            return "connect_too_many_users", "Too many connected users"
        if self.joins.over:
            return "connect_too_many_joins", "Too many joins per second"
        return None

    def join_refusal(self, socket_id: int) -> str | None:
        """limit_max_users then limit_joins, in the join's order; a join let through counts."""
        limit = self.limits.max_concurrent_users
        if limit and socket_id not in self.users and len(self.users) >= limit:
            return self.refuse("too_many_users", TOO_MANY_USERS)
        if self.joins.over:
            return self.refuse("too_many_joins", TOO_MANY_JOINS)
        self.joins.add()
        return None

    def refuse(self, name: str, text: str) -> str:
        self.refusals[name] += 1
        return text

    # --- messages -----------------------------------------------------------------------------

    def delivered(self, n: int, channels: list[Any] | None) -> None:
        """`n` deliveries count; over the limit, each channel that got one (`channels`, listed
        only when there is a limit) is shut down after it (`:update_rate_counter` in
        message_dispatcher.ex and realtime_channel.ex)."""
        self.events.add(n)
        if channels and self.events.over:
            for ch in channels:
                self.refusals["too_many_messages"] += 1
                ch.conn.shutdown_channel(ch, TOO_MANY_MESSAGES)

    def rest_refusal(self, batch: int | None) -> str | None:
        """The REST check: the batch API refuses over the average (or when the batch would take
        it over), the single-message API at it. None: send, and count each message."""
        limit = self.limits.max_events_per_second
        if not limit:
            return None
        avg, _ = self.events.state()
        if batch is None:
            refused = REST_RATE if avg >= limit else None
        elif avg > limit:
            refused = REST_RATE
        else:
            refused = REST_BATCH if batch + avg > limit else None
        if refused is not None:
            self.refusals["rest_rate_limited"] += 1
        return refused

    def db_broadcast_allowed(self) -> bool:
        """realtime.messages rows are dropped while the limit is triggered, counted when sent."""
        if self.events.over:
            self.refusals["db_broadcasts_dropped"] += 1
            return False
        self.events.add()
        return True

    def db_changes_allowed(self) -> bool:
        if self.db_events.over:
            self.refusals["db_changes_dropped"] += 1
            return False
        return True

    # --- presence -----------------------------------------------------------------------------

    def presence_allowed(self) -> bool:
        """limit_presence_event: refused while the average is above the limit, else counted."""
        limit = self.limits.max_presence_events_per_second
        if limit and self.presence.state()[0] > limit:
            self.refusals["too_many_presence"] += 1
            return False
        self.presence.add()
        return True

    def client_presence_allowed(self, window: list[float]) -> bool:
        """limit_client_presence_event: `window` is the join's [calls, reset_at] (fixed windows
        of 30 s; the first call opens one)."""
        max_calls = self.limits.presence_calls_per_30s
        if not max_calls:
            return True
        now = self.clock()
        if window[1] == 0.0 or now > window[1]:
            window[0], window[1] = 1, now + 30.0
            return True
        if window[0] >= max_calls:
            self.refusals["client_presence_limit"] += 1
            return False
        window[0] += 1
        return True

    def stats(self) -> dict[str, Any]:
        events, _ = self.events.state()
        return {
            "refusals": dict(self.refusals),
            "rates": {
                "events_per_second": round(events, 2),
                "db_events_per_second": round(self.db_events.state()[0], 2),
                "joins_per_second": round(self.joins.state()[0], 2),
                "presence_events_per_second": round(self.presence.state()[0], 2),
                "concurrent_users": len(self.users),
            },
            # the counters' clock: the rates above are averages over `buckets` ticks
            "rate_counter": {"tick_s": self.tick_s, "buckets": BUCKETS},
        }
