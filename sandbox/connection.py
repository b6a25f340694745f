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
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from . import serializers as s
from .access import Authorizer, Publications
from .auth import Claims, TokenError, TokenVerifier
from .channels import Channel, binding_id, channel_token, parse_join_config
from .hub import Hub
from .limits import Limits
from .subscriptions import SubscriptionError, subscribe

log = logging.getLogger("sandbox.socket")

OK: dict[str, Any] = {"status": "ok", "response": {}}


@dataclass(frozen=True, slots=True)
class SocketDeps:
    """What every socket shares: the hub it joins, the token check for per-channel tokens, the
    limits it enforces, the private-channel policies and the publication catalogue."""

    hub: Hub
    tokens: TokenVerifier
    limits: Limits
    authorizer: Authorizer
    publications: Publications


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
        self.presence_calls: deque[float] = deque()
        self.closed = False

    # --- output -------------------------------------------------------------------------------

    def write(self, frame: bytes) -> bool:
        t = self.transport
        if self.closed or t is None or t.is_closing():
            return False
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
        self.send(ch.join_ref, ch.join_ref, ch.topic, event, {})
        self.drop(ch)

    def shutdown_channel(self, ch: Channel, message: str) -> None:
        """Channel-level errors are a system error followed by phx_close (reference §2.5)."""
        self.system(ch, "system", "error", message)
        self.close_channel(ch)

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
        stats = self.hub.stats
        stats.malformed_frames += 1
        if stats.malformed_frames <= 20 or stats.malformed_frames % 1000 == 0:
            preview = data[:120] if isinstance(data, (bytes, str)) else data
            log.warning(
                "malformed frame #%d ignored (%s): %r", stats.malformed_frames, reason, preview
            )

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
        stats = self.hub.stats
        topic = msg.topic

        def refuse(reason: str) -> None:
            stats.join_errors += 1
            self.reply(msg, {"status": "error", "response": {"reason": reason}})

        if not topic.startswith("realtime:") or topic == "realtime:":
            refuse("TopicNameRequired: You must provide a topic name")
            return
        old = self.channels.get(topic)
        if old is not None:
            self.close_channel(old)  # duplicate join: close the old join first (§6.2)
        if len(self.channels) >= self.deps.limits.max_channels:
            refuse("ChannelRateLimitReached: Too many channels")
            return
        cfg = parse_join_config(msg.payload)
        token = channel_token(msg.payload)
        claims = self.claims
        if token is not None and token != self.claims.token:
            try:
                claims = self.deps.tokens.verify(token)
            except TokenError as err:
                refuse(err.join_reason)
                return
        ch = Channel(
            conn=self,
            topic=topic,
            join_ref=msg.join_ref or msg.ref,
            private=cfg["private"],
            claims=claims,
            broadcast_self=cfg["self"],
            broadcast_ack=cfg["ack"],
            presence_enabled=cfg["presence_enabled"],
            presence_key=cfg["presence_key"],
            raw_bindings=cfg["bindings"],
        )
        if ch.private:
            ch.policies = await self.deps.authorizer.read_policies(ch.sub_topic, claims)
            if not ch.policies.can_join:
                refuse(
                    "Unauthorized: You do not have permissions to read from this Channel "
                    f"topic: {ch.sub_topic}"
                )
                return
        echoed = []
        for raw in ch.raw_bindings:
            echoed.append({**raw, "id": binding_id(raw)})
        self.channels[topic] = ch
        self.hub.add(ch)
        stats.joins += 1
        self.reply(msg, {"status": "ok", "response": {"postgres_changes": echoed}})
        self.arm_expiry(ch)
        if ch.presence_enabled and ch.policies.presence_read:
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
        stats = self.hub.stats
        stats.broadcasts_in += 1
        size = (
            len(msg.binary_payload) if msg.binary_payload is not None else _json_size(msg.payload)
        )
        if size > self.deps.limits.max_payload_bytes:
            if ch.broadcast_ack:
                self.reply(msg, {"status": "error", "response": {"error": "payload_size_exceeded"}})
            return
        if ch.private and not ch.policies.broadcast_write:
            return  # silently dropped, even with ack (reference §4.3)
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
        payload = msg.payload if isinstance(msg.payload, dict) else {}
        event = str(payload.get("event", "")).lower()
        limit = self.deps.limits.presence_calls_per_30s
        if limit:
            now = time.monotonic()
            calls = self.presence_calls
            while calls and now - calls[0] > 30:
                calls.popleft()
            calls.append(now)
            if len(calls) > limit:
                self.shutdown_channel(ch, "Client presence rate limit exceeded")
                return
        if ch.private and not ch.policies.presence_write:
            self.reply(msg, OK)
            return
        if event == "track":
            body = payload.get("payload", {})
            if not isinstance(body, dict):
                self.reply(
                    msg,
                    {
                        "status": "error",
                        "response": {"reason": "Presence track payload must be a map"},
                    },
                )
                return
            self.reply(msg, OK)
            self.hub.track(ch, body)
        elif event == "untrack":
            self.reply(msg, OK)
            self.hub.untrack(ch)
        else:
            self.reply(msg, {"status": "error", "response": {"reason": "Unknown presence event"}})

    async def on_access_token(self, ch: Channel, msg: s.Inbound) -> None:
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
            policies = await self.deps.authorizer.read_policies(ch.sub_topic, claims)
            if not policies.can_join:
                self.shutdown_channel(
                    ch,
                    "You no longer have permission to read from this Channel topic: "
                    f"{ch.sub_topic}",
                )
                return
            ch.policies = policies
        self.arm_expiry(ch)

    # --- lifecycle ----------------------------------------------------------------------------

    def cleanup(self) -> None:
        """The socket is gone: every channel leaves, presence leaves are announced."""
        self.closed = True
        for ch in list(self.channels.values()):
            self.drop(ch)

    async def drain(self) -> None:
        """Tenant drain: tell every channel, then close with 1012 (service restart)."""
        for ch in list(self.channels.values()):
            self.system(ch, "system", "ok", "Server requested disconnect")
        await self.ws.close(code=1012, message=b"Server requested disconnect")


def _json_size(payload: Any) -> int:
    return len(orjson.dumps(payload))
