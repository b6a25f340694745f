"""One client websocket: the Phoenix channel protocol as Supabase Realtime speaks it.

Messages from one socket are handled strictly in arrival order (the read loop awaits each one),
which is what clients rely on when they broadcast right after joining. Writes never await: frames
go straight to the transport, and a client that stops reading is cut off once its buffer passes
`max_buffer`, so memory stays bounded and other subscribers are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from . import lifecycle, quotas, replay
from . import serializers as s
from .access import Authorizer, Publications
from .auth import Claims, TokenError, TokenVerifier
from .channels import Channel, binding_id, channel_token
from .hub import Hub
from .lifecycle import Lifecycle
from .limits import Limits
from .subscriptions import SubscriptionError, subscribe

log = logging.getLogger("sandbox.socket")

_LOGGED_KINDS: set[str] = set()  # kinds of malformed frame already logged (a handful: the
# reasons are fixed texts before their colon)
OK: dict[str, Any] = {"status": "ok", "response": {}}
ERROR: dict[str, Any] = {"status": "error", "response": {}}  # `{:reply, :error, socket}`


@dataclass(frozen=True, slots=True)
class SocketDeps:
    """What every socket shares: the hub it joins, the token check for per-channel tokens, the
    limits it enforces, the private-channel policies, the publication catalogue and the server's
    lifecycle (timings, restarts)."""

    hub: Hub
    tokens: TokenVerifier
    limits: Limits
    authorizer: Authorizer
    publications: Publications
    lifecycle: Lifecycle


class Connection:
    def __init__(
        self, deps: SocketDeps, ws: web.WebSocketResponse, transport: Any, vsn: int, claims: Claims
    ) -> None:
        self.deps = deps
        self.hub = deps.hub
        self.max_buffer = deps.limits.max_buffer
        self.ws = ws
        self.transport = transport
        self.vsn = vsn
        self.claims = claims
        self.channels: dict[str, Channel] = {}
        self.closed = False
        self.held: list[bytes] | None = None  # frames held back while a join error is pending
        self.held_bytes = 0
        self.tasks: set[asyncio.Task[Any]] = set()

    # --- output -------------------------------------------------------------------------------

    def write(self, frame: bytes) -> bool:
        t = self.transport
        if self.closed or t is None or t.is_closing():
            return False
        if self.held is not None:
            self.held.append(frame)
            self.held_bytes += len(frame)
            if self.held_bytes <= self.max_buffer:
                return True
            self.held = None  # held back past the limit: cut off like any slow consumer
        t.write(frame)
        self.hub.stats.frames_out += 1
        if t.get_write_buffer_size() > self.max_buffer:
            log.warning(
                "dropping a client that stopped reading (%d bytes queued)",
                t.get_write_buffer_size(),
            )
            self.hub.stats.slow_consumers_dropped += 1
            self.closed = True
            t.abort()
            return False
        return True

    def send(
        self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any
    ) -> None:
        if self.vsn == 1:
            text = s.v1_text(topic, event, payload, ref)
        else:
            text = s.v2_text(join_ref, ref, topic, event, payload)
        self.write(s.ws_frame(text, s.OP_TEXT))

    def reply(self, msg: s.Inbound, payload: dict[str, Any], join_ref: str | None = ...) -> None:  # type: ignore[assignment]
        jr = msg.join_ref if join_ref is ... else join_ref
        self.send(jr, msg.ref, msg.topic, "phx_reply", payload)

    def push(self, ch: Channel, event: str, payload: Any) -> None:
        """A channel push (system, presence_state): carries the channel's join_ref in vsn 2."""
        self.send(ch.join_ref, None, ch.topic, event, payload)

    def system(self, ch: Channel, extension: str, status: str, message: str) -> None:
        self.push(
            ch,
            "system",
            {
                "channel": ch.sub_topic,
                "extension": extension,
                "message": message,
                "status": status,
            },
        )

    def close_channel(self, ch: Channel, event: str = "phx_close") -> None:
        """Server-side end of a join: `phx_close`/`phx_error` carry ref = join_ref (§6.2)."""
        self.closed_frame(ch, event)
        self.drop(ch)

    def closed_frame(self, ch: Channel, event: str = "phx_close") -> None:
        self.send(ch.join_ref, ch.join_ref, ch.topic, event, {})

    def shutdown_channel(self, ch: Channel, message: str) -> None:
        """Channel-level errors are a system error followed by phx_close (reference §2.5)."""
        if self.channels.get(ch.topic) is not ch:
            return  # already gone
        self.system(ch, "system", "error", message)
        self.close_channel(ch)

    def hold(self) -> list[bytes]:
        """Hold every frame back until `release`, as a socket blocked in a join is silent."""
        self.held, self.held_bytes = [], 0
        return self.held

    def release(self) -> None:
        self.held = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """A channel's delayed work, cancelled with the socket."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def drop(self, ch: Channel) -> None:
        if self.channels.get(ch.topic) is ch:
            del self.channels[ch.topic]
        self.hub.remove(ch)

    # --- input --------------------------------------------------------------------------------

    async def receive(self, data: bytes | str, binary: bool) -> None:
        self.hub.stats.frames_in += 1
        try:
            if binary:
                if self.vsn == 1:
                    raise s.FrameError("binary frames are not part of vsn 1.0.0")
                msg = s.decode_v2_binary(data)  # type: ignore[arg-type]
            elif self.vsn == 1:
                msg = s.decode_v1(data)
            else:
                msg = s.decode_v2_text(data)
        except s.FrameError as exc:
            self.malformed(data, str(exc))
            return
        try:
            await self.dispatch(msg)
        except Exception:
            # A handler bug must not take the socket (and every channel on it) down.
            log.exception("error handling %s on %s", msg.event, msg.topic)

    def malformed(self, data: bytes | str, reason: str) -> None:
        """Counted always; logged the first time each kind is seen (and a tally every 1000), so
        a client flooding one bad frame costs a line, not a line per frame."""
        stats = self.hub.stats
        stats.malformed_frames += 1
        kind = reason.split(":", 1)[0]
        if kind not in _LOGGED_KINDS:
            _LOGGED_KINDS.add(kind)
            log.warning(
                "malformed frame ignored (%s), more of this kind are only counted: %r",
                reason,
                data[:120],
            )
        elif stats.malformed_frames % 1000 == 0:
            log.warning("%d malformed frames ignored so far", stats.malformed_frames)

    async def dispatch(self, msg: s.Inbound) -> None:
        if msg.topic == "phoenix" and msg.event == "heartbeat":
            self.reply(msg, OK)
            return
        if msg.event == "phx_join":
            await self.join(msg)
            return
        ch = self.channels.get(msg.topic)
        if msg.event == "phx_leave":
            self.reply(msg, OK)
            if ch is not None:
                self.close_channel(ch)
            return
        if ch is None:
            self.reply(msg, {"status": "error", "response": {"reason": "unmatched topic"}}, None)
            return
        if msg.event == "broadcast":
            self.on_broadcast(ch, msg)
        elif msg.event == "presence":
            await self.on_presence(ch, msg)
        elif msg.event == "access_token":
            await self.on_access_token(ch, msg)
        else:
            log.debug("ignoring event %r on %s", msg.event, msg.topic)

    # --- join ---------------------------------------------------------------------------------

    async def join(self, msg: s.Inbound) -> None:
        """`lifecycle.admit` decides; a duplicate join ends the old one first, and its
        `phx_close` follows the new join's reply (reference §13.1.4)."""
        if not msg.topic.startswith("realtime:"):  # no channel matches: Phoenix ignores it
            self.reply(msg, {"status": "error", "response": {"reason": "unmatched topic"}}, None)
            return
        old = self.channels.get(msg.topic)
        if old is not None:
            self.drop(old)
        admitted = await lifecycle.admit(self, msg)
        if isinstance(admitted, str):
            await lifecycle.refuse_join(self, msg, admitted, old)
            return
        ch, replayed = admitted
        echoed = []
        for raw in ch.raw_bindings:
            echoed.append({**raw, "id": binding_id(raw)})
        self.channels[ch.topic] = ch
        self.hub.add(ch)
        self.hub.stats.joins += 1
        self.hub.quotas.users.add(id(self))
        self.reply(msg, {"status": "ok", "response": {"postgres_changes": echoed}})
        if old is not None:
            self.closed_frame(old)
        self.arm_expiry(ch)
        replay.push_replayed(self, ch, replayed)
        replay.replication_ready(self, ch, msg.payload)
        if ch.presence_enabled and ch.policies.presence_read:
            if not self.hub.quotas.presence_allowed():  # the state sync counts too
                self.shutdown_channel(ch, quotas.TOO_MANY_PRESENCE)
                return
            self.push(ch, "presence_state", self.hub.presence_state(ch.key))
        if ch.raw_bindings:
            await self.subscribe_changes(ch, echoed)

    async def subscribe_changes(self, ch: Channel, echoed: list[dict[str, Any]]) -> None:
        """Check the bindings as the server does (`subscriptions`: a database round trip), then
        confirm with a system message, or refuse with one; the channel stays joined either way."""
        try:
            bindings = await subscribe(self.deps.publications, ch.claims, echoed)
        except SubscriptionError as err:
            self.system(ch, "postgres_changes", "error", err.message)
            return
        if self.channels.get(ch.topic) is not ch:
            return  # left while we were checking the catalog
        ch.bindings = bindings
        self.hub.add_bindings(ch)
        self.system(ch, "postgres_changes", "ok", "Subscribed to PostgreSQL")

    def arm_expiry(self, ch: Channel) -> None:
        """Shut the channel when its JWT expires, as the server's `:confirm_token` check does."""
        if ch.expiry_timer is not None:
            ch.expiry_timer.cancel()
        delay = max(0.0, ch.claims.exp - time.time())
        if delay > 365 * 24 * 3600:
            return
        loop = asyncio.get_running_loop()

        def expired() -> None:
            if self.channels.get(ch.topic) is ch:
                ago = max(0, round(time.time() - ch.claims.exp))
                self.shutdown_channel(ch, f"Token has expired {ago} seconds ago")

        ch.expiry_timer = loop.call_later(delay, expired)

    # --- channel events -----------------------------------------------------------------------

    def on_broadcast(self, ch: Channel, msg: s.Inbound) -> None:
        """broadcast_handler.ex: a private channel without write permission drops the message
        silently, even with ack; otherwise it counts as a message, and one over the payload
        limit is not sent (with ack, the reply's `response` is the bare string)."""
        stats = self.hub.stats
        stats.broadcasts_in += 1
        if ch.private and not ch.policies.broadcast_write:
            return  # silently dropped, even with ack (reference §4.3)
        self.hub.quotas.events.add()
        size = (
            len(msg.binary_payload) if msg.binary_payload is not None else _json_size(msg.payload)
        )
        if size > self.deps.limits.max_payload_bytes:
            self.hub.quotas.refusals["payload_too_large"] += 1
            if ch.broadcast_ack:
                self.reply(msg, {"status": "error", "response": "payload_size_exceeded"})
            return
        if msg.binary_payload is not None:
            meta = msg.payload.get("meta") if isinstance(msg.payload, dict) else None
            self.hub.user_broadcast(
                ch.key,
                msg.user_event or "",
                msg.binary_payload,
                msg.payload_encoding,
                meta,
                sender=ch,
            )
        else:
            self.hub.broadcast(ch.key, msg.payload, sender=ch)
        if ch.broadcast_ack:
            self.reply(msg, OK)

    async def on_presence(self, ch: Channel, msg: s.Inbound) -> None:
        """presence_handler.ex: only a payload with an `event` counts toward the join's client
        limit; a denied or unknown call is answered with a bare error (reference §13.1.10)."""
        payload = msg.payload if isinstance(msg.payload, dict) else {}
        if "event" not in payload:
            self.reply(msg, OK)
            return
        q = self.hub.quotas
        if not q.client_presence_allowed(ch.presence_window):
            self.shutdown_channel(ch, quotas.CLIENT_PRESENCE)
            return
        event = str(payload["event"]).lower()
        if event == "untrack":
            self.reply(msg, OK)
            self.hub.untrack(ch)
            return
        if event != "track" or (ch.private and not ch.policies.presence_write):
            self.reply(msg, ERROR)
            return
        body = payload.get("payload", {})
        if not isinstance(body, dict):
            reason = "Presence track payload must be a map"
            self.reply(msg, {"status": "error", "response": {"reason": reason}})
            return
        if ch.presence_ref is None or ch.presence_payload != body:  # else a no-op
            if _json_size(body) > self.deps.limits.max_payload_bytes:
                q.refusals["track_too_large"] += 1
                self.shutdown_channel(ch, quotas.TRACK_TOO_LARGE)
                return
            if not q.presence_allowed():
                self.shutdown_channel(ch, quotas.TOO_MANY_PRESENCE)
                return
        self.reply(msg, OK)
        self.hub.track(ch, body)

    async def on_access_token(self, ch: Channel, msg: s.Inbound) -> None:
        """A new token: verified, the policies checked again (a read permission it loses shuts
        the channel), and postgres_changes subscribed again with its claims."""
        token = channel_token(msg.payload)
        if token is None or token == ch.claims.token:
            return
        try:
            claims = self.deps.tokens.verify(token)
        except TokenError as err:
            self.shutdown_channel(ch, err.message)
            return
        ch.claims = claims
        if ch.private:
            before = ch.policies
            policies = await self.deps.authorizer.read_policies(ch.sub_topic, claims)
            if (before.broadcast_read and not policies.broadcast_read) or (
                before.presence_read and not policies.presence_read
            ):
                self.shutdown_channel(
                    ch,
                    "You no longer have permission to read from this Channel topic: "
                    f"{ch.sub_topic}",
                )
                return
            ch.policies = policies
        self.arm_expiry(ch)
        lifecycle.resubscribe_later(self, ch)

    # --- lifecycle ----------------------------------------------------------------------------

    def cleanup(self) -> None:
        """The socket is gone: every channel leaves, presence leaves are announced."""
        self.closed = True
        self.hub.quotas.users.discard(id(self))
        for task in self.tasks:
            task.cancel()
        for ch in list(self.channels.values()):
            self.drop(ch)

    async def drain(self, announce: bool = True) -> None:
        """A tenant drain (`UserSocket.disconnect`) tells every channel "Server requested
        disconnect" (a system message without a `channel` key, fanned out with no join_ref)
        and closes with 1012; a deploy drain closes with 1012 and says nothing."""
        if announce:
            payload = {"extension": "system", "message": "Server requested disconnect"}
            payload["status"] = "ok"
            for ch in list(self.channels.values()):
                self.send(None, None, ch.topic, "system", payload)
        await self.ws.close(code=1012)


def _json_size(payload: Any) -> int:
    return len(orjson.dumps(payload))
