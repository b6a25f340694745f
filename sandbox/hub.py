"""Every joined channel of the server, and the ways messages reach them (postgres_changes go
through `pgchanges`, which reads the bindings indexed here).

Fan-out encodes each outgoing message at most once per wire format and writes the same frame
bytes to every subscriber (reference §1.4 relay rules); nothing is awaited per subscriber, so one
slow socket never delays the others (it is cut off by `Connection.write` instead).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson

from . import serializers as s
from .channels import Binding, Channel
from .limits import Limits
from .presence import PresenceTopic
from .quotas import Quotas

log = logging.getLogger("sandbox.hub")


class Stats:
    """Counters the sandbox exposes at /sandbox/v1/stats, for tests and for the monitor."""

    def __init__(self) -> None:
        self.connections_total = 0
        self.connections_refused = 0
        self.frames_in = 0
        self.frames_out = 0
        self.malformed_frames = 0
        self.joins = 0
        self.join_errors = 0
        self.broadcasts_in = 0
        self.broadcasts_delivered = 0
        self.presence_diffs = 0
        self.db_changes = 0
        self.db_messages_delivered = 0
        self.slow_consumers_dropped = 0
        self.idle_closed = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class Hub:
    def __init__(self) -> None:
        self.topics: dict[tuple[bool, str], set[Channel]] = defaultdict(set)
        self.presence: dict[tuple[bool, str], PresenceTopic] = defaultdict(PresenceTopic)
        # (schema, table) -> channel -> its bindings on that relation; either part may be "*".
        self.pg_index: dict[tuple[str, str], dict[Channel, list[Binding]]] = defaultdict(dict)
        self.connections: set[Any] = set()
        self.stats = Stats()
        self.quotas = Quotas(Limits())  # the project's counters (services gives the real limits)

    # --- membership ---------------------------------------------------------------------------

    def add(self, ch: Channel) -> None:
        self.topics[ch.key].add(ch)

    def add_bindings(self, ch: Channel) -> None:
        for b in ch.bindings:
            self.pg_index[(b.schema, b.table)].setdefault(ch, []).append(b)

    def remove(self, ch: Channel) -> None:
        """Forget a channel: stop deliveries and announce its presence leave."""
        members = self.topics.get(ch.key)
        if members is not None:
            members.discard(ch)
            if not members:
                del self.topics[ch.key]
        self.remove_bindings(ch)
        self.untrack(ch)
        if ch.expiry_timer is not None:
            ch.expiry_timer.cancel()

    def remove_bindings(self, ch: Channel) -> None:
        for b in ch.bindings:
            by_ch = self.pg_index.get((b.schema, b.table))
            if by_ch is not None:
                by_ch.pop(ch, None)
                if not by_ch:
                    del self.pg_index[(b.schema, b.table)]

    def channel_count(self) -> int:
        return sum(len(m) for m in self.topics.values())

    # --- broadcast ----------------------------------------------------------------------------

    def _fan_out(
        self,
        key: tuple[bool, str],
        sender: Channel | None,
        build_v1: Callable[[str], bytes | None],
        build_v2: Callable[[str], bytes],
        message_id: Any = None,
    ) -> int:
        """Write one broadcast to every reader of the topic, building each wire format's frame
        at most once, on first need; `build_v1` may return None to skip vsn 1 sockets. A channel
        that had this message (by `meta.id`) replayed at join does not get it again."""
        members = self.topics.get(key)
        if not members:
            return 0
        topic = "realtime:" + key[1]
        frames: list[Any] = [..., ...]  # per vsn, built lazily
        n = 0
        got: list[Channel] | None = [] if self.quotas.events.limit else None
        for ch in members:
            if (ch is sender and not ch.broadcast_self) or not ch.policies.broadcast_read:
                continue
            if message_id is not None and message_id in ch.replayed:
                continue
            i = ch.conn.vsn - 1
            frame = frames[i]
            if frame is ...:
                frame = frames[i] = (build_v1 if i == 0 else build_v2)(topic)
            if frame is not None and ch.conn.write(frame):
                n += 1
                if got is not None:
                    got.append(ch)
        self.stats.broadcasts_delivered += n
        self.quotas.delivered(n, got)
        return n

    def broadcast(self, key: tuple[bool, str], payload: Any, sender: Channel | None = None) -> int:
        """Relay a JSON broadcast payload verbatim to the topic (reference §4.2)."""
        return self._fan_out(
            key,
            sender,
            lambda topic: s.ws_frame(s.v1_text(topic, "broadcast", payload, None), s.OP_TEXT),
            lambda topic: s.ws_frame(s.v2_text(None, None, topic, "broadcast", payload), s.OP_TEXT),
            _message_id(payload.get("meta") if isinstance(payload, dict) else None),
        )

    def user_broadcast(
        self,
        key: tuple[bool, str],
        user_event: str,
        body: bytes,
        encoding: int,
        meta: dict[str, Any] | None = None,
        sender: Channel | None = None,
    ) -> int:
        """A kind-3 or database broadcast: binary kind 4 to vsn 2, spliced JSON to vsn 1."""

        def v1(topic: str) -> bytes | None:
            if encoding != s.ENCODING_JSON:
                return None  # binary payloads are skipped for vsn 1 sockets, as on Supabase
            meta_part = b',"meta":' + orjson.dumps(meta) if meta else b""
            text = (
                b'{"topic":'
                + orjson.dumps(topic)
                + b',"event":"broadcast","payload":{"event":'
                + orjson.dumps(user_event)
                + b',"payload":'
                + body
                + meta_part
                + b',"type":"broadcast"},"ref":null}'
            )
            return s.ws_frame(text, s.OP_TEXT)

        def v2(topic: str) -> bytes:
            frame = s.v2_user_broadcast(topic, user_event, body, encoding, meta)
            return s.ws_frame(frame, s.OP_BINARY)

        return self._fan_out(key, sender, v1, v2, _message_id(meta))

    # --- presence -----------------------------------------------------------------------------

    def track(self, ch: Channel, payload: dict[str, Any]) -> None:
        ch.presence_enabled = True  # a track auto-enables presence (reference §5.1)
        diff = self.presence[ch.key].track(ch, payload)
        if diff is not None:
            self._send_diff(ch.key, diff)

    def untrack(self, ch: Channel) -> None:
        topic = self.presence.get(ch.key)
        if topic is None:
            return
        diff = topic.untrack(ch)
        if not topic.metas:
            del self.presence[ch.key]
        if diff is not None:
            self._send_diff(ch.key, diff)

    def presence_state(self, key: tuple[bool, str]) -> dict[str, Any]:
        topic = self.presence.get(key)
        return topic.state() if topic is not None else {}

    def _send_diff(self, key: tuple[bool, str], diff: dict[str, Any]) -> None:
        topic = "realtime:" + key[1]
        f1 = f2 = None
        private = key[0]
        for ch in self.topics.get(key, ()):
            # realtime_channel/message_dispatcher.ex: every member of a public channel gets the
            # diff, presence enabled at join or not; a private one needs presence.read, which is
            # only decided once presence is on (at join, or by a track)
            if private and not (ch.presence_enabled and ch.policies.presence_read):
                continue
            if ch.conn.vsn == 1:
                if f1 is None:
                    f1 = s.ws_frame(s.v1_text(topic, "presence_diff", diff, None), s.OP_TEXT)
                ch.conn.write(f1)
            else:
                if f2 is None:
                    f2 = s.ws_frame(s.v2_text(None, None, topic, "presence_diff", diff), s.OP_TEXT)
                ch.conn.write(f2)
            self.stats.presence_diffs += 1
            self.quotas.presence.add()


def _message_id(meta: Any) -> str | None:
    """A broadcast's `meta.id`, which replays are keyed by (message_dispatcher.ex message_id)."""
    mid = meta.get("id") if isinstance(meta, dict) else None
    return mid if isinstance(mid, str) else None
