"""Hostile client frames into the sandbox's two serializers, and on through its fan-out.

What a client sends is decoded by `sandbox.serializers` and, if it is a broadcast or a presence
track, written again to every subscriber by the hub. Supabase's server rescues every decode error
and keeps the socket (`RealtimeWeb.Socket.handle_in/2`), so the properties are:

* each decoder returns a message or raises `FrameError` (which the socket counts and ignores),
  never anything else, for any bytes or text;
* whatever decodes can be relayed: the hub's encoders for both wire formats accept its payload,
  for a JSON broadcast, a kind-3 user broadcast and a presence track alike;
* a vsn 2.0.0 array of five or more elements decodes (the server matches
  `[join_ref, ref, topic, event, payload | _]`), a shorter one does not.

The hub is the real one; its subscribers are channels on a socket that keeps the frames it is
given (`channels.Socket`, the seam the hub is written against). Found inputs are `@example`s.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sandbox import serializers as s
from sandbox.auth import Claims
from sandbox.channels import Channel
from sandbox.hub import Hub

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOPIC = "realtime:room"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)
texts = st.text(max_size=12) | st.sampled_from(
    [TOPIC, "phoenix", "broadcast", "presence", "phx_join"]
)


class Keeper:
    """A socket that keeps what the hub writes to it."""

    def __init__(self, vsn: int) -> None:
        self.vsn = vsn
        self.frames: list[bytes] = []

    def write(self, frame: bytes) -> bool:
        self.frames.append(frame)
        return True


def subscribers() -> tuple[Hub, Channel]:
    """A hub with one vsn-1 and one vsn-2 subscriber on TOPIC, and the sender's channel."""
    hub = Hub()
    claims = Claims("token", {"role": "anon"})
    channels = [
        Channel(
            Keeper(vsn), TOPIC, "1", False, claims, presence_enabled=True, presence_key=f"k{vsn}"
        )
        for vsn in (1, 2)
    ]
    for ch in channels:
        hub.add(ch)
    return hub, channels[0]


def relay(msg: s.Inbound) -> None:
    """What the socket does next with a decoded broadcast or presence call (connection.py)."""
    hub, sender = subscribers()
    sender.broadcast_self = True
    if msg.binary_payload is not None:
        meta = msg.payload.get("meta") if isinstance(msg.payload, dict) else None
        hub.user_broadcast(
            sender.key, msg.user_event or "", msg.binary_payload, msg.payload_encoding, meta, sender
        )
    else:
        hub.broadcast(sender.key, msg.payload, sender)
        body = msg.payload.get("payload") if isinstance(msg.payload, dict) else None
        if isinstance(body, dict):
            s.v1_text(
                TOPIC, "presence_diff", body, None
            )  # `_json_size` and the diff both encode it
            hub.track(sender, body)


def decoded(decode, data):
    try:
        return decode(data)
    except s.FrameError:
        return None


def kind3(
    join_ref: bytes, ref: bytes, topic: bytes, event: bytes, meta: bytes, enc: int, body: bytes
):
    """A kind-3 USER_BROADCAST_PUSH frame as realtime-js writes it (reference §1.4)."""
    head = bytes((3, len(join_ref), len(ref), len(topic), len(event), len(meta), enc))
    return head + join_ref + ref + topic + event + meta + body


short = st.binary(max_size=12)
json_bytes = json_values.map(lambda v: json.dumps(v).encode())
kind3_frames = st.builds(
    kind3,
    short,
    short,
    st.just(TOPIC.encode()) | short,
    short,
    st.just(b"") | json_bytes.filter(lambda b: len(b) < 256) | short,
    st.sampled_from([0, 1, 2, 255]),
    json_bytes | st.binary(max_size=40),
)


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_input_decodes_or_is_a_frame_error(data) -> None:
    for decode in (s.decode_v1, s.decode_v2_text):
        if (msg := decoded(decode, data)) is not None:
            relay(msg)
    if isinstance(data, bytes) and (msg := decoded(s.decode_v2_binary, data)) is not None:
        relay(msg)


def deep_track(levels: int) -> dict:
    """A presence track whose meta is nested `levels` deep: the diff that relays it is deeper."""
    meta = {"a": json.loads("[" * levels + "]" * levels)}
    payload = {"type": "presence", "event": "track", "payload": meta}
    return {"topic": TOPIC, "event": "presence", "ref": "1", "payload": payload}


@FUZZ
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "topic": texts | json_values,
            "event": texts | json_values,
            "payload": json_values,
            "ref": st.none() | st.text(max_size=3) | json_values,
            "join_ref": st.none() | st.text(max_size=3) | json_values,
        },
    )
)
@example(deep_track(250))  # decoded, then the presence_diff failed to encode (and stayed stored)
def test_vsn1_objects(frame) -> None:
    msg = decoded(s.decode_v1, json.dumps(frame))
    if msg is not None:
        relay(msg)


@FUZZ
@given(st.lists(texts | json_values, max_size=7))
@example(["1", "2", TOPIC, "broadcast", {"event": "e", "payload": {}}, "extra"])
def test_vsn2_arrays(frame) -> None:
    msg = decoded(s.decode_v2_text, json.dumps(frame))
    shaped = len(frame) >= 5 and isinstance(frame[2], str) and isinstance(frame[3], str)
    refs_ok = all(r is None or isinstance(r, str | int) for r in frame[:2])
    if shaped and refs_ok:
        assert msg is not None, "the server decodes [join_ref, ref, topic, event, payload | _]"
    if msg is not None:
        relay(msg)


@FUZZ
@given(kind3_frames)
@example(kind3(b"1", b"2", TOPIC.encode(), b"e", b"{bad", 1, b"{}"))  # raised JSONDecodeError
# metadata that re-encodes past 255 bytes raised FrameError in the middle of the fan-out
@example(kind3(b"1", b"2", TOPIC.encode(), b"e", b'{"a":[' + b"1e2," * 60 + b"1]}", 1, b"{}"))
def test_kind3_user_broadcasts(frame: bytes) -> None:
    if (msg := decoded(s.decode_v2_binary, frame)) is not None:
        relay(msg)


@pytest.mark.parametrize(
    "text",
    [
        '{"topic":"realtime:room","event":"broadcast","payload":{"n":1e400},"ref":null}',
        '{"topic":"realtime:room","event":"broadcast","payload":{"s":"\\ud800"},"ref":null}',
        '{"topic":"realtime:room","event":"broadcast","ref":null,"payload":'
        + "[" * 300
        + "]" * 300
        + "}",
        '{"topic":"realtime:room","event":"broadcast","ref":null,"payload":'
        + "[" * 10_000
        + "]" * 10_000
        + "}",
    ],
    ids=["1e400", "lone-surrogate", "300-levels", "10k-levels"],
)
def test_what_jason_or_the_sandbox_refuses_is_a_frame_error(text: str) -> None:
    """1e400 and a lone surrogate are Jason.DecodeErrors on the server (rescued, the socket
    stays); nesting past 251 levels the sandbox cannot write again, so it refuses it up front."""
    with pytest.raises(s.FrameError):
        s.decode_v1(text)
    with pytest.raises(s.FrameError):
        s.decode_v1(text.encode())


def test_integers_past_64_bits_are_relayed() -> None:
    msg = s.decode_v1(
        '{"topic":"realtime:room","event":"broadcast","ref":null,'
        '"payload":{"event":"big","payload":{"n":' + str(2**70) + "}}}"
    )
    hub, sender = subscribers()
    assert hub.broadcast(sender.key, msg.payload) == 2
