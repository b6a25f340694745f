"""One supervised Realtime connection per process: it never gives up.

Each *session* is a fresh `MonitoredClient` that connects, joins every configured channel plus the
probe channel, and lives until the socket drops (or the probe says it is dead). Then the
Supervisor records the outage and starts a new session after a capped, jittered backoff: the
first retry comes after ~0.1 s, later ones at most `backoff_max_s` (default 1.2 s ±25%) apart, so
a server that comes back is rejoined within about 1.5 s however long the outage was. Starting a
clean client per session sidesteps realtime-py's own reconnect path, which gives up after five
attempts and can lose postgres_changes bindings (reference §8, realtime-py #213).

Everything observed leaves through three callbacks: `on_event(Event)`,
`on_status(StatusChange)` and `on_subscription(SubscriptionChange)`. The Supervisor holds no
metrics itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from realtime import RealtimeSubscribeStates

from . import events as ev
from .client import MonitoredClient
from .events import Event, StatusChange, SubscriptionChange
from .settings import ChannelConfig, FeedConfig

log = logging.getLogger("feeds.supervisor")

EventSink = Callable[[Event], None]
StatusSink = Callable[[StatusChange], None]
SubscriptionSink = Callable[[SubscriptionChange], None]


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
    ) -> None:
        self.config = config
        self.url = url or config.connection.url
        self.key = key or config.connection.key
        self.db_url = db_url or config.probes.database.db_url
        self.on_event = on_event
        self.on_status = on_status
        self.on_subscription = on_subscription
        self.status = ev.DISCONNECTED
        self.reason: str | None = None
        self.sessions = 0
        self.malformed_frames = 0
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_client()
        self._set_status(ev.DISCONNECTED, ev.STOPPED)

    async def run(self) -> None:
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
                await self._close_client()
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                continue
            attempt = 0
            await self._dropped.wait()
            reason = self._drop_reason
            await self._close_client()
            if self._stopping:
                break
            log.warning("realtime connection dropped: %s", reason)
            self._set_status(ev.RECONNECTING, reason)
            await asyncio.sleep(self._backoff(0))

    def _backoff(self, attempt: int) -> float:
        c = self.config.connection
        base = min(c.backoff_initial_s * (2**attempt), c.backoff_max_s)
        return base * random.uniform(0.75, 1.25)

    async def _open_session(self) -> None:
        cfg = self.config.connection
        self._dropped = asyncio.Event()
        self._drop_reason = ""
        self._probe_sent.clear()  # probes lost with the last socket are the outage, not timeouts
        self._db_sent.clear()
        self._probe_missed = 0
        client = MonitoredClient(
            realtime_url(self.url),
            self.key,
            on_frame=self._on_frame,
            on_malformed=self._on_malformed,
            on_drop=self._on_drop,
            timeout=int(max(1, cfg.timeout_s)),
            hb_interval=cfg.heartbeat_s,
        )
        self.client = client
        await asyncio.wait_for(client.connect(), cfg.timeout_s)
        if cfg.access_token:
            await client.set_auth(cfg.access_token)
        self.sessions += 1
        self._set_status(ev.CONNECTED, None)
        joins = [self._join(client, ch) for ch in self.config.channels]
        joins.append(self._join_probe(client))
        await asyncio.gather(*joins)
        self._tasks = [asyncio.create_task(self._broadcast_probe(client), name="probe-rtt")]
        if self.config.probes.database.enabled and self.db_url:
            self._tasks.append(asyncio.create_task(self._db_probe(), name="probe-db"))

    async def _close_client(self) -> None:
        for task in getattr(self, "_tasks", []):
            task.cancel()
        self._tasks = []
        client, self.client = self.client, None
        if client is not None:
            client.forget_channels()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), 2)
        self.channels.clear()

    # --- channels -----------------------------------------------------------------------------

    def _subscription_callback(self, topic: str) -> Callable[..., None]:
        def record(state: RealtimeSubscribeStates, error: Exception | None) -> None:
            msg = None if error is None else describe(error)
            self.on_subscription(SubscriptionChange(time.time(), topic, str(state.value), msg))

        return record

    async def _join(self, client: MonitoredClient, cfg: ChannelConfig) -> None:
        params = {
            "config": {
                "broadcast": {"ack": False, "self": False},
                "presence": {"key": cfg.presence_key, "enabled": cfg.presence},
                "private": cfg.private,
            }
        }
        channel = client.channel(cfg.topic, params)
        for b in cfg.postgres_changes:
            channel.on_postgres_changes(
                b.event, _noop, table=b.table or None, schema=b.schema, filter=b.filter or None
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
        channel = client.channel(self.probe_topic, params)
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
        if event.kind == "broadcast":
            wanted = self._broadcast_filter.get(event.channel)
            if wanted is not None and event.event not in wanted:
                return
        self.on_event(event)

    def _on_malformed(self, raw: Any, why: str) -> None:
        self.malformed_frames += 1
        if self.malformed_frames <= 20 or self.malformed_frames % 1000 == 0:
            log.warning("malformed frame #%d (%s): %.200r", self.malformed_frames, why, raw)
        self.on_event(
            Event(
                time.time(),
                "",
                "system",
                "malformed",
                payload={"error": why, "frame": str(raw)[:500]},
            )
        )

    def _on_drop(self, reason: str) -> None:
        self._drop_reason = reason
        self._dropped.set()

    def _set_status(self, status: str, reason: str | None) -> None:
        if status == self.status and reason == self.reason:
            return
        self.status, self.reason = status, reason
        self.on_status(StatusChange(time.time(), status, reason))

    # --- probes -------------------------------------------------------------------------------

    async def _broadcast_probe(self, client: MonitoredClient) -> None:
        """Round trip through the server's fan-out: send to our own channel, time the echo."""
        cfg = self.config.probes.broadcast
        if not cfg.enabled:
            return
        channel = self.channels[self.probe_topic]
        while True:
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
