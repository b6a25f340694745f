"""Hostile frames into the feed's read path: whatever a server (or something pretending to be one)
sends, the monitor counts what it cannot read, keeps reading, and stores only what it can show.

Each example goes through `MonitoredClient.take` (the body of the read loop) wired to a real
Supervisor and a real metrics Store, as `Supervisor._open_session` wires them, with a joined-looking
channel so realtime-py's own handling is exercised too. The properties:

* `take` never raises, for any bytes or text, in either serializer's shape (the monitor speaks
  vsn 1.0.0; vsn 2.0.0 arrays and binary frames are someone else's and must be counted, not read);
* a frame that is not a JSON object is counted as malformed, exactly once;
* every event that reaches the store can be written again as JSON (the Inspector, recordings and
  the roster all do), and the store still makes a snapshot.

Inputs hypothesis found that broke one of these are kept below as `@example`s.
"""

from __future__ import annotations

import asyncio
import json
import time

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feeds.client import DATA_EVENTS, MAX_DEPTH, MonitoredClient, decode
from feeds.settings import ChannelConfig, FeedConfig
from feeds.supervisor import Supervisor
from metrics.roster import meta_summary
from metrics.store import Store

TOPIC = "room"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,  # found inputs are written down as @example, not kept in a directory
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# JSON as servers send it, numbers past 64 bits and past a double included
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["<script>window.__pwned=1</script>", "\u0000", "\ud7ff\ue000", ""])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
events = st.sampled_from(
    [*DATA_EVENTS, "system", "phx_reply", "phx_error", "phx_close", "heartbeat", "other", ""]
)
topics = st.sampled_from([f"realtime:{TOPIC}", "realtime:other", "phoenix", "realtime:"]) | st.text(
    max_size=12
)


def presence_like(values):
    metas = st.lists(st.dictionaries(st.text(max_size=6), values, max_size=3) | values, max_size=3)
    entry = st.fixed_dictionaries({"metas": metas}) | values
    state = st.dictionaries(st.text(max_size=6), entry, max_size=3)
    return state | st.fixed_dictionaries({"joins": state, "leaves": state}) | values


def change_like(values):
    data = st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["INSERT", "UPDATE", "DELETE"]) | values,
            "schema": st.just("public") | values,
            "table": st.just("slots") | values,
            "commit_timestamp": st.sampled_from(
                [
                    "2026-11-22T08:05:53.123Z",
                    "0001-01-01T00:00:00+14:00",
                    "9999-12-31T23:59:59-14:00",
                ]
            )
            | values,
            "record": st.dictionaries(st.text(max_size=6), values, max_size=4) | values,
            "old_record": values,
            "errors": values,
            "columns": values,
        },
    )
    return st.fixed_dictionaries({"data": data, "ids": values}) | values


payloads = (
    json_values
    | presence_like(json_values)
    | change_like(json_values)
    | st.fixed_dictionaries(
        {"type": st.just("broadcast"), "event": json_values, "payload": json_values}
    )
    | st.fixed_dictionaries(
        {
            "status": st.sampled_from(["ok", "error"]) | json_values,
            "response": json_values,
            "message": json_values,
            "extension": st.sampled_from(["postgres_changes", "system"]) | json_values,
            "channel": json_values,
        }
    )
)
v1_frames = st.fixed_dictionaries(
    {},
    optional={
        "topic": topics | json_values,
        "event": events | json_values,
        "payload": payloads,
        "ref": st.none() | st.text(max_size=3) | json_values,
        "join_ref": st.none() | st.text(max_size=3),
    },
)
v2_arrays = st.lists(scalars, max_size=7) | st.tuples(
    st.none() | st.text(max_size=3), st.none() | st.text(max_size=3), topics, events, payloads
).map(list)


def v2_binary(kind: int, topic: bytes, event: bytes, meta: bytes, body: bytes) -> bytes:
    """A vsn 2.0.0 kind-4 USER_BROADCAST frame (reference §1.4), lengths as the header says."""
    return (
        bytes((kind, len(topic) % 256, len(event) % 256, len(meta) % 256, 1))
        + topic
        + event
        + meta
        + body
    )


binary_frames = st.builds(
    v2_binary,
    st.integers(0, 255),
    st.binary(max_size=20),
    st.binary(max_size=20),
    st.binary(max_size=10),
    st.binary(max_size=40),
)


def as_text(value) -> str:
    """JSON text the way a server could write it: integers of any size spelled out in full."""
    return json.dumps(value, ensure_ascii=False)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


DEEP_BROADCAST = (
    '{"topic":"realtime:room","event":"broadcast","ref":null,"payload":{"type":"broadcast",'
    '"event":"deep","payload":{"d":' + nested(600) + "}}}"
)


class Harness:
    """A Supervisor, its client and a Store, wired as a session wires them, never connected."""

    def __init__(self) -> None:
        self.store = Store()
        self.events = []
        self.sup = Supervisor(
            FeedConfig(channels=[ChannelConfig(topic=TOPIC, presence=True)]),
            url="ws://127.0.0.1:9",
            key="anon",
            on_event=self.ingest,
        )
        self.client = MonitoredClient(
            "ws://127.0.0.1:9/socket",
            "anon",
            on_frame=self.sup._on_frame,
            on_malformed=self.sup._on_malformed,
            on_drop=self.sup._on_drop,
            on_control=self.sup._on_control,
        )
        self.sup.client = self.client
        self.client.channel(TOPIC, {"config": {"presence": {"key": "", "enabled": True}}})

    def ingest(self, event) -> None:
        self.events.append(event)
        self.store.ingest(event)

    def take(self, raw: str | bytes) -> None:
        async def run() -> None:
            self.client.take(raw, time.time())
            for task in self.sup._tasks:  # rejoins the frame asked for: not this test's business
                task.cancel()

        LOOP.run_until_complete(run())

    def fresh(self) -> Harness:
        """Ready for the next example (building a Store and a client per example cost ~50 ms;
        the store keeps what earlier examples put in it, which is a fuzz of its own)."""
        self.sup.malformed_frames = 0
        self.sup.malformed_kinds.clear()
        self.events.clear()
        return self

    def check_outputs(self) -> None:
        for event in self.events:
            orjson.dumps(event.payload)  # what the Inspector and recordings write
            for value in event.payload.values():
                if isinstance(value, dict):
                    meta_summary(value)  # what the roster writes
        self.store.snapshot()


LOOP = asyncio.new_event_loop()
_shared: list[Harness] = []


def harness() -> Harness:
    if not _shared:
        _shared.append(Harness())
    return _shared[0].fresh()


def check(raw: str | bytes) -> None:
    h = harness()
    frame, _ = decode(raw)
    h.take(raw)
    if frame is None:
        assert h.sup.malformed_frames == 1
    h.check_outputs()


@FUZZ
@given(st.binary(max_size=300))
@example(b"\xff\xfe\xfd")  # invalid UTF-8 in a binary frame
@example(b'{"topic":"realtime:room","event":"broadcast","payload":{"n":1e400},"ref":null}')
def test_any_bytes(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(st.text(max_size=300))
def test_any_text(raw: str) -> None:
    check(raw)


@FUZZ
@given(v1_frames)
@example({"event": []})  # `event in DATA_EVENTS` raised TypeError and ended the read loop
@example({"topic": "realtime:room", "event": "broadcast", "payload": {"event": [1]}, "ref": None})
@example({"topic": "realtime:room", "event": "broadcast", "payload": {"event": "x", "n": 2**70}})
def test_vsn1_shaped_frames(frame) -> None:
    check(as_text(frame))


@settings(FUZZ, max_examples=60)  # each example is a list of JSON values: slow to draw
@given(v2_arrays)
def test_vsn2_text_frames_are_counted_not_read(frame) -> None:
    h = harness()
    h.take(as_text(frame))
    assert h.sup.malformed_frames == 1  # a JSON array is never a vsn 1.0.0 message
    h.check_outputs()


@FUZZ
@given(binary_frames)
@example(b'\x04\x0e\x05\x00\x01realtime:roomhello{"a":1}')  # the kind-4 frame realtime-js reads
def test_vsn2_binary_frames_are_counted_not_read(raw: bytes) -> None:
    h = harness()
    h.take(raw)
    assert h.sup.malformed_frames == 1
    h.check_outputs()


def test_deep_nesting_is_refused_before_the_store() -> None:
    """orjson reads 1024 levels and writes 255: a frame between the two is refused at the door,
    and one past 1024 (a 10k-level bomb) is not JSON to orjson at all."""
    for raw in (DEEP_BROADCAST, DEEP_BROADCAST.encode(), '{"a":' + nested(10_000) + "}"):
        h = Harness()
        h.take(raw)
        assert h.sup.malformed_frames == 1 and not [e for e in h.events if e.kind == "broadcast"]
        h.check_outputs()
    shallow = DEEP_BROADCAST.replace(nested(600), nested(MAX_DEPTH - 10))
    h = Harness()
    h.take(shallow)
    assert h.sup.malformed_frames == 0
    assert [e.event for e in h.events if e.kind == "broadcast"] == ["deep"]


def test_a_flood_of_one_bad_frame_is_counted_each_time_and_logged_once(caplog) -> None:
    h = Harness()
    with caplog.at_level("WARNING", logger="feeds.supervisor"):
        for _ in range(500):
            h.take(b"\x00garbage")
        for _ in range(500):
            h.take('{"topic":"realtime:room","event":"broadcast","payload":[]}')
    assert h.sup.malformed_frames == 1000
    assert h.sup.malformed_kinds == {
        "not JSON": 500,
        "frame without a string topic and an object payload": 500,
    }
    lines = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) == 3, lines  # one per kind, plus the tally at the 1000th
