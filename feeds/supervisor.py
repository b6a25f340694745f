"""One supervised Realtime connection per process: it never gives up.

Each *session* is a fresh `MonitoredClient` that connects, joins every configured channel plus the
probe channel, and lives until the socket drops (or the probe says it is dead). Then the
Supervisor records the outage and starts a new session after a capped, jittered backoff: the
first retry comes after ~0.1 s, later ones at most `backoff_max_s` (default 1.2 s ±25%) apart, so
a server that comes back is rejoined within about 1.5 s however long the outage was. Starting a
clean client per session sidesteps realtime-py's own reconnect path, which gives up after five
attempts and can lose postgres_changes bindings (reference §8, realtime-py #213).

Everything observed leaves through four callbacks: `on_event(Event)`,
`on_status(StatusChange)`, `on_subscription(SubscriptionChange)` and `on_problem(Problem)`. The
Supervisor holds no metrics itself.

Every close, refusal and error becomes a `Problem` with the server's words, a class
(`feeds.problems`) and what the Supervisor does about it. It decides the channels' rejoins itself
(`PlannedRejoin` replaces realtime-py's timer): after realtime-py's delays for what passes, slowly
for quotas, never again for what only a config change fixes (a rejected filter, a bad or expired
token without a refresh method), and it rejoins a channel the server closed (realtime-py drops
those for good).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from realtime import RealtimeSubscribeStates

from . import events as ev
from . import problems as pb
from .client import MonitoredClient, PlannedRejoin
from .events import Event, StatusChange, SubscriptionChange
from .problems import Problem
from .settings import ChannelConfig, FeedConfig
from .tokens import TokenKeeper, TokenRefreshError, claims_of

log = logging.getLogger("feeds.supervisor")

EventSink = Callable[[Event], None]
StatusSink = Callable[[StatusChange], None]
SubscriptionSink = Callable[[SubscriptionChange], None]
ProblemSink = Callable[[Problem], None]
# Reconnecting after a refused upgrade for a quota or a token waits at least this long: the
# server answers each attempt after 2 s anyway, and hammering it only spends the quota.
SLOW_RECONNECT_S = 10.0
JOIN_LIMIT_CLOSE_S = 10.0  # a close this soon after a join-rate refusal is that refusal's


def _noop(*_: Any) -> None:
    return None


class Supervisor:
    def __init__(
        self,
        config: FeedConfig,
        *,
        url: str | None = None,
        key: str | None = None,
        db_url: str | None = None,
        on_event: EventSink = _noop,
        on_status: StatusSink = _noop,
        on_subscription: SubscriptionSink = _noop,
        on_problem: ProblemSink = _noop,
    ) -> None:
        self.config = config
        self.url = url or config.connection.url
        self.key = key or config.connection.key
        self.db_url = db_url or config.probes.database.db_url
        self.on_event = on_event
        self.on_status = on_status
        self.on_subscription = on_subscription
        self.on_problem = on_problem
        self.token = config.connection.access_token or None  # the watched channels' token
        self.role = token_role(self.token or self.key)
        self.plans = dict(pb.PLANS)  # what to do per class of channel problem (data, not code)
        self.given_up: dict[str, Problem] = {}  # topic -> the problem it was given up for
        self._last_problem: dict[str, Problem] = {}  # topic -> its latest, until subscribed
        # topic -> how many problems of its latest class in a row: the rejoin delays count these,
        # not realtime-py's tries, which mix classes (a crash's rejoin, then a quota refusal)
        self._streak: dict[str, int] = {}
        self._join_limited_at = -math.inf
        self._configs = {c.topic: c for c in config.channels}
        self._drop_code: int | None = None
        self._drain_announced = False  # this session's "Server requested disconnect" was seen
        self._probe_paused_until = -math.inf  # the server shut the probe's channel until then
        # renews the watched channels' token before it expires ([auth] refresh)
        self.token_keeper: TokenKeeper | None = None
        if config.auth.refresh != "none":
            self.token_keeper = TokenKeeper(
                config.auth, url=self.url, key=self.key, token=self.token or ""
            )
        self._keeper_task: asyncio.Task[None] | None = None
        self._refresh_failing: str | None = None  # the class of the open refresh incident
        self._tasks: list[asyncio.Task[Any]] = []
        self.status = ev.DISCONNECTED
        self.reason: str | None = None
        self.sessions = 0
        self.malformed_frames = 0
        self.malformed_kinds: dict[str, int] = {}  # what made frames unreadable, counted
        self.client: MonitoredClient | None = None
        self.channels: dict[str, Any] = {}
        self.probe_topic = f"monitor-probe-{uuid.uuid4().hex[:8]}"
        self._dropped = asyncio.Event()
        self._drop_reason = ""
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._probe_sent: dict[int, float] = {}
        self._probe_seq = 0
        self._probe_missed = 0
        self._db_sent: dict[str, float] = {}
        self._broadcast_filter = {
            c.topic: (None if "*" in c.broadcast else set(c.broadcast)) for c in config.channels
        }

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="realtime-supervisor")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        self._dropped.set()
        if self._keeper_task is not None:
            self._keeper_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keeper_task
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_client()
        self._set_status(ev.DISCONNECTED, ev.STOPPED)

    async def run(self) -> None:
        if self.token_keeper is not None and self._keeper_task is None:
            self._keeper_task = asyncio.create_task(
                self.token_keeper.run(self.apply_token, self._refresh_failed), name="token-keeper"
            )
        attempt = 0
        reason: str | None = None
        while not self._stopping:
            self._set_status(ev.CONNECTING if self.sessions == 0 else ev.RECONNECTING, reason)
            try:
                await self._open_session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = describe(exc)
                refused = "401" in reason or "403" in reason
                self._set_status(ev.ERROR if refused else ev.RECONNECTING, reason)
                await self._close_client(abort=True)
                cls = pb.classify(reason)
                cls = pb.NETWORK if cls == pb.UNKNOWN else cls
                delay = self._backoff(attempt)
                if cls.startswith(("quota.", "auth.")):
                    delay = max(delay, SLOW_RECONNECT_S)
                self._problem(pb.SOCKET, cls, reason, f"reconnect in {delay:.1f} s")
                await asyncio.sleep(delay)
                attempt += 1
                continue
            attempt = 0
            await self._dropped.wait()
            reason, code = self._drop_reason, self._drop_code
            if self._stopping:
                break
            # said before the old socket is closed: closing it is no part of the outage's story
            self._set_status(ev.RECONNECTING, reason)
            await self._close_client(abort=True)
            log.warning("realtime connection dropped: %s", reason)
            limited = time.monotonic() - self._join_limited_at < JOIN_LIMIT_CLOSE_S
            cls = pb.classify_close(code, reason, join_limited=limited)
            delay = self._backoff(0)
            if not (self._drain_announced and cls == pb.SERVER_RESTART):  # the same restart
                self._problem(pb.SOCKET, cls, reason, f"reconnect in {delay:.1f} s")
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        c = self.config.connection
        base = min(c.backoff_initial_s * (2**attempt), c.backoff_max_s)
        return base * random.uniform(0.75, 1.25)

    async def _open_session(self) -> None:
        cfg = self.config.connection
        self._dropped = asyncio.Event()
        self._drop_reason = ""
        self._drop_code = None
        self._drain_announced = False
        self._probe_paused_until = -math.inf
        self._probe_sent.clear()  # probes lost with the last socket are the outage, not timeouts
        self._db_sent.clear()
        self._probe_missed = 0
        client = MonitoredClient(
            realtime_url(self.url),
            self.key,
            on_frame=self._on_frame,
            on_malformed=self._on_malformed,
            on_drop=self._on_drop,
            on_control=self._on_control,
            timeout=int(max(1, cfg.timeout_s)),
            hb_interval=cfg.heartbeat_s,
        )
        self.client = client
        await asyncio.wait_for(client.connect(), cfg.timeout_s)
        self.sessions += 1
        self._set_status(ev.CONNECTED, None)
        self._tasks = []
        watched = [ch for ch in self.config.channels if ch.topic not in self.given_up]
        # the probe joins first: if the server caps the channels, a watched one is refused and
        # named, rather than the probe, whose silence would read as a dead socket
        joins = [self._join_probe(client), *(self._join(client, ch) for ch in watched)]
        await asyncio.gather(*joins)
        self._tasks.append(asyncio.create_task(self._broadcast_probe(client), name="probe-rtt"))
        if self.config.probes.database.enabled and self.db_url:
            self._tasks.append(asyncio.create_task(self._db_probe(), name="probe-db"))

    async def _close_client(self, abort: bool = False) -> None:
        """`abort`: the session failed (a drop, a silent socket, a failed open), so there is
        no one to take a closing handshake: drop the socket (`MonitoredClient.abort`). A
        deliberate stop closes politely."""
        for task in getattr(self, "_tasks", []):
            task.cancel()
        self._tasks = []
        client, self.client = self.client, None
        if client is not None:
            client.forget_channels()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.abort() if abort else client.close(), 2)
        self.channels.clear()

    # --- channels -----------------------------------------------------------------------------

    def _subscription_callback(self, topic: str) -> Callable[..., None]:
        def record(state: RealtimeSubscribeStates, error: Exception | None) -> None:
            msg = None if error is None else describe(error)
            self.on_subscription(SubscriptionChange(time.time(), topic, str(state.value), msg))
            if state == RealtimeSubscribeStates.SUBSCRIBED:
                self._last_problem.pop(topic, None)
                self._streak.pop(topic, None)
            elif state == RealtimeSubscribeStates.TIMED_OUT:
                self._join_timed_out(topic)
            elif msg and "mismatch between server and client bindings" in msg:
                self._problem(
                    topic,
                    pb.SUBSCRIPTION_INVALID,
                    msg,
                    pb.describe_plan(pb.plan_for(pb.SUBSCRIPTION_INVALID)),
                    binding=self._bindings(topic),
                )

        return record

    def _join_timed_out(self, topic: str) -> None:
        timeout = self.config.connection.timeout_s
        message = f"the server did not answer the join within {timeout:g} s"
        held = [t for t, p in self._last_problem.items() if t != topic and p.at > time.time() - 30]
        if held:
            message += f" (the socket was held by the refused join of {held[-1]!r})"
        streak = self._next_streak(topic, pb.NETWORK)
        self._problem(topic, pb.NETWORK, message, pb.describe_plan(self._plan(pb.NETWORK), streak))

    async def _join(self, client: MonitoredClient, cfg: ChannelConfig) -> None:
        params = {
            "config": {
                # self: the only broadcast the monitor sends on a watched channel is the
                # Inspector's test broadcast, and the operator wants to see it come back
                # through the server like any client's
                "broadcast": {"ack": False, "self": True},
                "presence": {"key": cfg.presence_key, "enabled": cfg.presence},
                "private": cfg.private,
            }
        }
        channel = client.channel(cfg.topic, params, token=self.token)
        for b in cfg.postgres_changes:
            channel.on_postgres_changes(
                b.event, _noop, table=b.table or None, schema=b.schema, filter=b.filter or None
            )
        channel.rejoin_timer = PlannedRejoin(
            channel._rejoin_if_connected, lambda _tries: self._rejoin_delay(cfg.topic)
        )
        self.channels[cfg.topic] = channel
        self.on_subscription(SubscriptionChange(time.time(), cfg.topic, ev.JOINING))
        await channel.subscribe(self._subscription_callback(cfg.topic))

    async def _join_probe(self, client: MonitoredClient) -> None:
        params = {
            "config": {
                "broadcast": {"ack": True, "self": True},
                "presence": {"key": "", "enabled": False},
                "private": False,
            }
        }
        # the project key, not the user's token: an expired user token must not blind the probe
        channel = client.channel(self.probe_topic, params, token=self.key)
        db = self.config.probes.database
        if db.enabled and self.db_url:
            channel.on_postgres_changes("INSERT", _noop, table=db.table, schema="public")
        self.channels[self.probe_topic] = channel
        await channel.subscribe()

    async def send_broadcast(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        """Send a broadcast on a joined channel (the inspector's test-broadcast form)."""
        channel = self.channels.get(topic)
        if channel is None:
            raise KeyError(f"channel {topic!r} is not joined")
        await channel.send_broadcast(event, payload)

    # --- problems and rejoins -----------------------------------------------------------------

    def _problem(self, channel: str, cls: str, message: str, action: str, **detail: Any) -> None:
        if self.role and "role" not in detail:
            detail["role"] = self.role
        problem = Problem(time.time(), channel, cls, message, action, detail)
        if channel:
            self._streak[channel] = self._next_streak(channel, cls)
            self._last_problem[channel] = problem
        log.info("%s on %s: %s (%s)", cls, channel or "the socket", message, action)
        self.on_problem(problem)

    def _plan(self, cls: str) -> pb.Plan:
        return pb.plan_for(cls, can_refresh=self.can_refresh, plans=self.plans)

    @property
    def can_refresh(self) -> bool:
        """Whether the watch has a way to renew its user token (issue 12's [auth] refresh)."""
        return self.token_keeper is not None

    def _bindings(self, topic: str) -> str:
        cfg = self._configs.get(topic)
        if cfg is None:
            return ""
        return "; ".join(
            f"{b.event} on {b.schema}.{b.table or '*'}" + (f" where {b.filter}" if b.filter else "")
            for b in cfg.postgres_changes
        )

    def _on_control(self, frame: dict[str, Any], join_topic: str | None) -> bool:
        """A control frame, before its channel sees it: record what went wrong; False keeps a
        rejected postgres_changes binding from the channel (see feeds.client)."""
        event = frame.get("event")
        payload = frame.get("payload")
        payload = payload if isinstance(payload, dict) else {}
        topic = str(frame.get("topic") or "")
        topic = topic[9:] if topic.startswith("realtime:") else topic
        if topic == self.probe_topic or join_topic == self.probe_topic:
            self._probe_control(event, payload)
            return True
        if event == "phx_reply":
            if join_topic is not None and payload.get("status") == "error":
                self._join_refused(join_topic, payload.get("response"))
            return True
        if event == "system":
            return self._system(topic, payload)
        if event == "phx_error":
            plan = self._plan(pb.SERVER_CRASH)
            what = "the server's process for this channel crashed (phx_error)"
            streak = self._next_streak(topic, pb.SERVER_CRASH)
            self._problem(topic, pb.SERVER_CRASH, what, pb.describe_plan(plan, streak))
            return True
        if event == "phx_close" and topic in self._configs and not self._stopping:
            self._rejoin_closed(topic)
        return True

    def _join_refused(self, topic: str, response: Any) -> None:
        reason = response.get("reason") if isinstance(response, dict) else response
        reason = str(reason or response or "refused without a reason")
        cls = pb.classify(reason)
        if cls == pb.QUOTA_JOINS:
            self._join_limited_at = time.monotonic()
        plan = self._plan(cls)
        self._problem(topic, cls, reason, pb.describe_plan(plan, self._next_streak(topic, cls)))

    def _system(self, topic: str, payload: dict[str, Any]) -> bool:
        message = str(payload.get("message") or "")
        status = payload.get("status")
        if status == "ok":
            # sent on every channel before the drain: one restart, however many channels
            if "Server requested disconnect" in message and not self._drain_announced:
                self._drain_announced = True
                self._problem(pb.SOCKET, pb.SERVER_RESTART, message, "reconnect")
            return True
        if status != "error":
            return True
        cls = pb.classify(message)
        if payload.get("extension") == "postgres_changes":
            # The server keeps the channel joined and, for a database error, retries on its own
            # (every 5-10 s); a rejected binding stays rejected. Nothing for us to rejoin.
            if cls == pb.SERVER_UNAVAILABLE:
                action = "the server retries the subscription itself"
            else:
                cls = pb.SUBSCRIPTION_INVALID
                action = "stopped rejoining for it: the binding stays rejected until it is fixed"
            self._problem(topic, cls, message, action, binding=self._bindings(topic))
            return False
        cls = pb.NETWORK if cls == pb.UNKNOWN and not message else cls
        streak = self._next_streak(topic, cls)
        self._problem(topic, cls, message, pb.describe_plan(self._plan(cls), streak))
        return True

    def _next_streak(self, topic: str, cls: str) -> int:
        last = self._last_problem.get(topic)
        return self._streak.get(topic, 0) + 1 if last is not None and last.cls == cls else 1

    def _rejoin_delay(self, topic: str) -> float | None:
        """`PlannedRejoin`'s planner: how long before realtime-py rejoins, None for never."""
        last = self._last_problem.get(topic)
        plan = self._plan(last.cls if last else pb.UNKNOWN)
        if not plan.rejoin:
            if last is not None:
                self.given_up[topic] = last
            return None
        if plan.refresh_token and self.token_keeper is not None:
            self._spawn(self._refresh_token(), f"refresh-{topic}")
        return plan.delay(self._streak.get(topic, 1))

    def _rejoin_closed(self, topic: str) -> None:
        """The server closed a channel (after a system error): realtime-py forgets it, so we
        join it afresh, when and if its problem's plan says so."""
        last = self._last_problem.get(topic)
        plan = self._plan(last.cls if last else pb.UNKNOWN)
        if not plan.rejoin:
            if last is not None:
                self.given_up[topic] = last
            return
        delay = plan.delay(self._streak.get(topic, 1))
        self._spawn(self._rejoin_after(topic, delay, plan), f"rejoin-{topic}")

    async def _rejoin_after(self, topic: str, delay: float, plan: pb.Plan) -> None:
        await asyncio.sleep(delay)
        if plan.refresh_token and self.token_keeper is not None:
            await self._refresh_token()
        client = self.client
        current = self.channels.get(topic)
        if client is None or not client.is_connected or topic in self.given_up:
            return  # the next session joins it
        if current is not None and (current.is_joined or current.is_joining):
            return
        await self._join(client, self._configs[topic])

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.append(task)
        task.add_done_callback(lambda t: t in self._tasks and self._tasks.remove(t))

    # --- the user's token -----------------------------------------------------------------------

    async def apply_token(self, token: str) -> None:
        """Use a new user token: every watched channel's rejoins carry it, and the joined ones
        get it now as `access_token` (the server re-checks their policies with it)."""
        self.token = token
        self.role = token_role(token) or self.role
        if self._refresh_failing is not None:
            cls, self._refresh_failing = self._refresh_failing, None
            self.on_problem(
                Problem(time.time(), pb.SOCKET, cls, "the token was renewed", "", resolved=True)
            )
        for topic, channel in list(self.channels.items()):
            if topic == self.probe_topic:
                continue
            channel.join_push.update_payload({"access_token": token})
            if channel._joined_once and channel.is_joined:
                with contextlib.suppress(Exception):
                    await channel.push("access_token", {"access_token": token})

    async def _refresh_token(self) -> None:
        """Renew now (a channel was closed for an expired token); failures become incidents."""
        if self.token_keeper is None:
            return
        try:
            token = await self.token_keeper.fresh()
        except TokenRefreshError as exc:
            self._refresh_failed(exc.message)
            return
        await self.apply_token(token)

    def _refresh_failed(self, message: str) -> None:
        """The token keeper could not renew: an incident now, before the token runs out."""
        cls = pb.classify(message)
        cls = pb.AUTH_EXPIRED if cls == pb.UNKNOWN else cls
        self._refresh_failing = cls
        retry = self.config.auth.retry_s
        self._problem(pb.SOCKET, cls, f"token refresh failed: {message}", f"retry in {retry:g} s")

    # --- frames -------------------------------------------------------------------------------

    def _on_frame(self, frame: dict[str, Any], size: int, received: float) -> None:
        topic = frame.get("topic", "")
        if topic == "realtime:" + self.probe_topic:
            self._on_probe_frame(frame, size, received)
            return
        try:
            event = ev.normalise(frame, size, received)
        except ValueError as exc:
            self._on_malformed(frame, str(exc))
            return
        if event is None:
            return
        if event.kind == "postgres_changes":
            errors = (event.payload.get("data") or {}).get("errors")
            if errors:
                words = str(errors[0] if isinstance(errors, list) else errors)
                cls = pb.classify(words)
                self._problem(
                    event.channel,
                    pb.SUBSCRIPTION_INVALID if cls == pb.UNKNOWN else cls,
                    words,
                    "none: the server sends these changes without their rows",
                    table=f"{event.schema}.{event.table}",
                )
        elif event.kind == "broadcast":
            wanted = self._broadcast_filter.get(event.channel)
            if wanted is not None and event.event not in wanted:
                return
        self.on_event(event)

    def _on_malformed(self, raw: Any, why: str) -> None:
        """Count every frame the monitor cannot read, by kind, and log the first of each kind:
        a peer that floods one bad frame costs one log line (and a tally every 1000), not one
        per frame. Each is also an event, so the Inspector shows what arrived."""
        self.malformed_frames += 1
        kind = why.split(":", 1)[0]
        seen = self.malformed_kinds.get(kind, 0)
        self.malformed_kinds[kind] = seen + 1
        preview = _preview(raw)
        if not seen:
            log.warning(
                "malformed frame (%s), ignored; more of this kind are only counted: %.200s",
                why,
                preview,
            )
        elif self.malformed_frames % 1000 == 0:
            log.warning(
                "%d malformed frames so far: %s", self.malformed_frames, self.malformed_kinds
            )
        self.on_event(
            Event(time.time(), "", "system", "malformed", payload={"error": why, "frame": preview})
        )

    def _on_drop(self, reason: str, code: int | None = None) -> None:
        self._drop_reason = reason
        self._drop_code = code
        self._dropped.set()

    def _set_status(self, status: str, reason: str | None) -> None:
        if status == self.status and reason == self.reason:
            return
        self.status, self.reason = status, reason
        self.on_status(StatusChange(time.time(), status, reason))

    # --- probes -------------------------------------------------------------------------------

    def _probe_control(self, event: Any, payload: dict[str, Any]) -> None:
        """The server shut the probe's channel (over the messages quota, the probe's echoes are
        deliveries like any other): its silence then says nothing about the socket. Pause the
        probe and join its channel again after the plan's delay; the watched channels, which get
        the same words, carry the incident."""
        if event != "system" or payload.get("status") != "error" or self._stopping:
            return
        if payload.get("extension") == "postgres_changes":
            return  # its table is made by the database probe after the join: realtime-py rejoins
        cls = pb.classify(str(payload.get("message") or ""))
        delay = self._plan(cls).delay(1) if self._plan(cls).rejoin else 30.0
        self._probe_paused_until = time.monotonic() + delay
        self._spawn(self._rejoin_probe(delay), "rejoin-probe")

    async def _rejoin_probe(self, delay: float) -> None:
        await asyncio.sleep(delay)
        client = self.client
        if client is not None and client.is_connected:
            await self._join_probe(client)

    async def _broadcast_probe(self, client: MonitoredClient) -> None:
        """Round trip through the server's fan-out: send to our own channel, time the echo."""
        cfg = self.config.probes.broadcast
        if not cfg.enabled:
            return
        while True:
            channel = self.channels.get(self.probe_topic)
            if time.monotonic() < self._probe_paused_until or channel is None:
                self._probe_sent.clear()  # echoes of a shut channel are not lost to the socket
                self._probe_missed = 0
                await asyncio.sleep(cfg.interval_s)
                continue
            self._probe_seq += 1
            seq = self._probe_seq
            self._probe_sent[seq] = time.monotonic()
            await channel.send_broadcast("probe", {"seq": seq})
            await asyncio.sleep(cfg.interval_s)
            if client.joining():
                continue  # the server holds the socket while it answers a join: echoes come late
            self._expire_probes(cfg.timeout_s)
            if cfg.reconnect_after_timeouts and self._probe_missed >= cfg.reconnect_after_timeouts:
                self._probe_missed = 0
                self._on_drop(f"no probe echo for {cfg.timeout_s:g} s: the socket is silent")
                return

    def _expire_probes(self, timeout: float) -> None:
        now = time.monotonic()
        for seq, sent in list(self._probe_sent.items()):
            if now - sent > timeout:
                del self._probe_sent[seq]
                self._probe_missed += 1
                self.on_event(
                    Event(
                        time.time(),
                        self.probe_topic,
                        "probe",
                        "timeout",
                        payload={"seq": seq, "timeout_s": timeout},
                    )
                )

    def _on_probe_frame(self, frame: dict[str, Any], size: int, received: float) -> None:
        payload = frame.get("payload") or {}
        if frame.get("event") == "broadcast":
            inner = payload.get("payload") if isinstance(payload, dict) else None
            seq = inner.get("seq") if isinstance(inner, dict) else None
            sent = self._probe_sent.pop(seq, None)
            if sent is None:
                return
            self._probe_missed = 0
            rtt = (time.monotonic() - sent) * 1000.0
            self.on_event(
                Event(
                    received,
                    self.probe_topic,
                    "probe",
                    "rtt",
                    latency_ms=rtt,
                    size=size,
                    payload={"seq": seq},
                )
            )
        elif frame.get("event") == "postgres_changes":
            record = (payload.get("data") or {}).get("record") or {}
            sent = self._db_sent.pop(str(record.get("token")), None)
            if sent is None:
                return
            self.on_event(
                Event(
                    received,
                    self.probe_topic,
                    "probe",
                    "db",
                    latency_ms=(received - sent) * 1000.0,
                    size=size,
                    payload={"token": record.get("token")},
                )
            )

    async def _db_probe(self) -> None:
        """Insert a row and time its postgres_changes arrival: the whole database path."""
        import asyncpg

        cfg = self.config.probes.database
        table = cfg.table
        conn = await asyncpg.connect(self.db_url)
        try:
            await conn.execute(
                f"create table if not exists public.{table} (id bigserial primary key, "
                "token text not null, sent_at timestamptz not null default now())"
            )
            await conn.execute(
                "do $$ begin if not exists (select from pg_publication_tables where pubname = "
                f"'supabase_realtime' and schemaname = 'public' and tablename = '{table}') then "
                f"alter publication supabase_realtime add table public.{table}; end if; end $$"
            )
            seq = 0
            while True:
                seq += 1
                token = f"{self.probe_topic}:{seq}"
                self._db_sent[token] = time.time()
                await conn.execute(f"insert into public.{table} (token) values ($1)", token)
                await conn.execute(
                    f"delete from public.{table} where sent_at < now() - interval '1 hour'"
                )
                await asyncio.sleep(cfg.interval_s)
                for stale in [
                    t for t, s in self._db_sent.items() if time.time() - s > cfg.timeout_s
                ]:
                    del self._db_sent[stale]
                    self.on_event(
                        Event(
                            time.time(),
                            self.probe_topic,
                            "probe",
                            "db_timeout",
                            payload={"token": stale},
                        )
                    )
        finally:
            await conn.close()


def _preview(raw: Any, limit: int = 500) -> str:
    """The start of a frame, as text, without copying a 10 MB frame (or walking a deep one)."""
    if isinstance(raw, bytes | bytearray | memoryview):
        return bytes(raw[:limit]).decode("utf-8", "replace")
    if isinstance(raw, str):
        return raw[:limit]
    try:
        return orjson.dumps(raw)[:limit].decode("utf-8", "replace")
    except orjson.JSONEncodeError:
        return type(raw).__name__


def token_role(token: str | None) -> str | None:
    """The `role` claim of a JWT, unverified (for the incidents' words), None if not a JWT."""
    claims = claims_of(token) if token else None
    role = claims.get("role") if claims else None
    return role if isinstance(role, str) else None


def realtime_url(url: str) -> str:
    """A project URL (https://ref.supabase.co) becomes its Realtime endpoint, like supabase-py."""
    url = url.rstrip("/")
    if "/realtime/v1" in url or url.endswith("/socket"):
        return url
    return url + "/realtime/v1"


def describe(exc: BaseException) -> str:
    """A short, human reason for the status timeline (HTTP refusals keep their status code)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if status:
        body = getattr(getattr(exc, "response", None), "body", b"") or b""
        detail = bytes(body).decode(errors="replace").strip()
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            detail = str(orjson.loads(detail).get("error") or detail)  # Realtime's {"error": ..}
        return f"HTTP {status}: {detail or text}"[:300]
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{exc.strerror or text}"[:300]
    return _reply_reason(text)[:300]


def _reply_reason(text: str) -> str:
    """realtime-py reports a refused join as the reply payload in JSON, `{"reason": "..."}`
    (`_async/channel.py`); the reason is what a person reads, the rest is wrapping."""
    with contextlib.suppress(orjson.JSONDecodeError):
        reply = orjson.loads(text)
        if isinstance(reply, dict) and isinstance(reply.get("reason"), str):
            return reply["reason"]
    return text
