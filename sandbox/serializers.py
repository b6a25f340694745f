"""The two Realtime wire formats, chosen per socket by the `vsn` query parameter.

vsn 1.0.0 frames are JSON objects `{"topic","event","payload","ref"}` (the server never sends
`join_ref`, and realtime-py drops any frame without `ref`). vsn 2.0.0 frames are JSON arrays
`[join_ref, ref, topic, event, payload]` plus binary kind 3 (user broadcast in) and kind 4 (user
broadcast out). Reference §1.3-§1.4.

Outgoing messages are turned into complete websocket frames here, once, so one broadcast is encoded
once per serializer and the same bytes are written to every subscriber's transport.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import orjson

OP_TEXT = 0x1
OP_BINARY = 0x2

KIND_USER_BROADCAST_PUSH = 3
KIND_USER_BROADCAST = 4
ENCODING_BINARY = 0
ENCODING_JSON = 1


class FrameError(ValueError):
    """A frame that does not decode; the socket logs it, counts it and stays open, as the server's
    `RealtimeWeb.Socket.handle_in/2` (lib/realtime_web/socket.ex) rescues every decode error
    ("MalformedWebSocketMessage") and keeps the socket."""


# orjson reads 1024 levels of nesting but writes only 254, and the hub relays a presence meta
# three levels deeper than it arrived (inside `joins`, its key and `metas`): a frame nested past
# 251 levels would be accepted, then fail on its way out, in the middle of a fan-out, or, stored
# as presence, in every later join's presence_state. Supabase (Jason) has no such limit and would
# relay it; the sandbox refuses it as malformed instead, the one place it cannot match.
# (Integers past 64 bits are read as floats, so they are relayed, rounded.)
MAX_DEPTH = 251


def _loads(text: bytes | str, what: str = "not JSON") -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:  # also Jason's answer to 1e400 and lone surrogates
        raise FrameError(f"{what}: {exc}") from None
    brackets = (
        text.count(b"{") + text.count(b"[")
        if isinstance(text, bytes)
        else (text.count("{") + text.count("["))
    )
    if brackets > MAX_DEPTH:  # only frames with that many brackets are walked
        try:
            orjson.dumps([[[value]]])  # as deep as the hub may write it again
        except orjson.JSONEncodeError:
            raise FrameError(f"nested deeper than {MAX_DEPTH} levels") from None
    return value


def ws_frame(payload: bytes, opcode: int) -> bytes:
    """A final, unmasked server-to-client websocket frame around `payload` (RFC 6455 §5.2)."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


@dataclass(slots=True)
class Inbound:
    """One decoded client message. `binary_payload` is set only for kind-3 user broadcasts."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: Any
    user_event: str | None = None
    binary_payload: bytes | None = None
    payload_encoding: int = ENCODING_JSON


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value)
    raise FrameError(f"ref must be a string or null: got {type(value).__name__}")


def decode_v1(text: bytes | str) -> Inbound:
    msg = _loads(text)
    if not isinstance(msg, dict):
        raise FrameError("vsn 1.0.0 frames must be JSON objects")
    missing = [k for k in ("topic", "event", "payload") if k not in msg]
    if missing:
        raise FrameError(f"missing keys: {missing}")
    topic, event = msg["topic"], msg["event"]
    if not isinstance(topic, str) or not isinstance(event, str):
        raise FrameError("topic and event must be strings")
    return Inbound(
        _opt_str(msg.get("join_ref")), _opt_str(msg.get("ref")), topic, event, msg["payload"]
    )


def decode_v2_text(text: bytes | str) -> Inbound:
    """`V2Serializer.decode_text/1` matches `[join_ref, ref, topic, event, payload | _]`: five
    elements or more, the rest ignored (lib/realtime_web/socket/v2_serializer.ex)."""
    msg = _loads(text)
    if not isinstance(msg, list) or len(msg) < 5:
        raise FrameError("vsn 2.0.0 text frames must be [join_ref, ref, topic, event, payload]")
    join_ref, ref, topic, event, payload = msg[:5]
    if not isinstance(topic, str) or not isinstance(event, str):
        raise FrameError("topic and event must be strings")
    return Inbound(_opt_str(join_ref), _opt_str(ref), topic, event, payload)


def decode_v2_binary(data: bytes) -> Inbound:
    """Kind 3 USER_BROADCAST_PUSH, the way realtime-js sends every `channel.send()`."""
    if len(data) < 7 or data[0] != KIND_USER_BROADCAST_PUSH:
        kind = data[0] if data else None
        raise FrameError(f"unsupported binary frame kind: {kind}")
    jr_len, ref_len, topic_len, ev_len, meta_len, encoding = data[1:7]
    pos = 7
    end = pos + jr_len + ref_len + topic_len + ev_len + meta_len
    if end > len(data):
        raise FrameError("binary frame shorter than its header says")
    try:
        join_ref = data[pos : pos + jr_len].decode()
        pos += jr_len
        ref = data[pos : pos + ref_len].decode()
        pos += ref_len
        topic = data[pos : pos + topic_len].decode()
        pos += topic_len
        user_event = data[pos : pos + ev_len].decode()
        pos += ev_len
        meta_raw = data[pos : pos + meta_len]
        pos += meta_len
    except UnicodeDecodeError:
        raise FrameError("binary frame header fields are not UTF-8") from None
    body = bytes(data[pos:])
    # the server decodes the metadata with `Jason.decode!/1`: bad JSON is a rescued decode error
    meta = _loads(meta_raw, "kind-3 metadata is not JSON") if meta_raw else None
    payload: dict[str, Any] = {"type": "broadcast", "event": user_event}
    if encoding == ENCODING_JSON:
        payload["payload"] = _loads(body, "kind-3 JSON payload does not parse")
    if isinstance(meta, dict) and meta:  # metadata is a map on every path that reads it
        if len(orjson.dumps(meta)) > 255:  # `1e2` is written `100.0`: it can grow on the way
            raise FrameError("kind-3 metadata does not fit 255 bytes once encoded again")
        payload["meta"] = meta
    return Inbound(
        join_ref or None,
        ref or None,
        topic,
        "broadcast",
        payload,
        user_event=user_event,
        binary_payload=body,
        payload_encoding=encoding,
    )


# --- outgoing -------------------------------------------------------------------------------


def v1_text(topic: str, event: str, payload: Any, ref: str | None) -> bytes:
    return orjson.dumps({"topic": topic, "event": event, "payload": payload, "ref": ref})


def v2_text(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes:
    return orjson.dumps([join_ref, ref, topic, event, payload])


def v2_user_broadcast(
    topic: str, user_event: str, body: bytes, encoding: int, meta: dict[str, Any] | None = None
) -> bytes:
    """Kind 4 USER_BROADCAST: what vsn-2 sockets receive for kind-3 and database broadcasts."""
    t = topic.encode()
    e = user_event.encode()
    m = orjson.dumps(meta) if meta else b""
    if len(t) > 255 or len(e) > 255 or len(m) > 255:
        raise FrameError("topic, event and metadata must each fit in 255 bytes")
    return bytes((KIND_USER_BROADCAST, len(t), len(e), len(m), encoding)) + t + e + m + body
