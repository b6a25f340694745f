"""The monitor's feed against a hostile server: a small websocket server of our own that speaks
just enough Phoenix (joins, heartbeats, the probe's echo) to be watched, then sends what no
Realtime server should: garbage, bombs, numbers past a double, the other serializer's frames,
misshapen messages, a 10 MB frame, a flood, a text frame that is not UTF-8, one over the monitor's
frame limit.

The Supervisor must count each (`malformed_frames`, by kind), log each kind once, keep running,
and ingest the valid frames sent after them, on the same socket where the socket survives and
after its own reconnect where the websocket protocol says the socket must fail (1007, 1009).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

import websockets
from sandbox_process import until

from feeds.client import MAX_FRAME
from feeds.events import CONNECTED
from feeds.settings import ChannelConfig, FeedConfig
from feeds.supervisor import Supervisor

TOPIC = "realtime:room"


def reply(msg: dict, response: dict | None = None) -> str:
    return json.dumps(
        {
            "topic": msg["topic"],
            "event": "phx_reply",
            "payload": {"status": "ok", "response": response or {}},
            "ref": msg.get("ref"),
        }
    )


def broadcast(event: str, payload: object, raw_payload: str | None = None) -> str:
    inner = raw_payload if raw_payload is not None else json.dumps(payload)
    return (
        '{"topic":"' + TOPIC + '","event":"broadcast","ref":null,"payload":'
        '{"type":"broadcast","event":"' + event + '","payload":' + inner + "}}"
    )


class HostileServer:
    """Answers joins, heartbeats and the probe like Realtime; once the watched channel is joined
    on the n-th connection, runs `scripts[n]` against that socket."""

    def __init__(self, scripts: list[Callable[[websockets.ServerConnection], Awaitable[None]]]):
        self.scripts = scripts
        self.connections = 0
        self.tasks: list[asyncio.Task] = []

    async def handler(self, ws: websockets.ServerConnection) -> None:
        n = self.connections
        self.connections += 1
        try:
            async for raw in ws:
                msg = json.loads(raw)
                event = msg.get("event")
                if event == "phx_join":
                    await ws.send(reply(msg, {"postgres_changes": []}))
                    if msg["topic"] == TOPIC and n < len(self.scripts):
                        self.tasks.append(asyncio.create_task(self.scripts[n](ws)))
                elif event == "broadcast":  # the probe's, sent with self and ack
                    frame = {"topic": msg["topic"], "event": "broadcast", "ref": None}
                    await ws.send(json.dumps(frame | {"payload": msg["payload"]}))
                    await ws.send(reply(msg))
                else:  # heartbeat, access_token, phx_leave
                    await ws.send(reply(msg))
        except websockets.ConnectionClosed:
            pass


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


# Each: (what is sent, the kind the monitor counts it as)
HOSTILE: list[tuple[str | bytes, str]] = [
    (bytes(range(256)) * 8, "not JSON"),  # garbage, as a binary frame
    ("this is not json", "not JSON"),
    ('{"a":' + deep(10_000) + "}", "not JSON"),  # past orjson's 1024 levels
    (broadcast("deep", None, deep(600)), "nested deeper than 255 levels"),
    (broadcast("inf", None, '{"n":1e400}'), "not JSON"),
    (broadcast("surrogate", None, '{"s":"\\ud800"}'), "not JSON"),
    ('[null,null,"realtime:room","broadcast",{"event":"v2"}]', "not a JSON object"),
    (b'\x04\x0d\x05\x00\x01realtime:roomhello{"a":1}', "not JSON"),  # vsn 2's kind 4
    ('{"topic":"realtime:room","event":[],"payload":{},"ref":null}', "no string event"),
    (
        '{"topic":"realtime:room","event":"broadcast","payload":[],"ref":null}',
        "frame without a string topic and an object payload",
    ),
    ("x" * 10_000_000, "not JSON"),  # 10 MB, under the monitor's frame limit
]
FLOOD = 300


async def first_connection(ws) -> None:
    for frame, _ in HOSTILE:
        await ws.send(frame)
    for _ in range(FLOOD):
        await ws.send(b"\x00garbage")
    await ws.send(broadcast("big-int", {"n": 2**70}))  # valid: read as a float
    for i in range(5):
        await ws.send(broadcast(f"after-{i}", {"i": i, "html": "<script>x()</script>"}))
    await ws.send(broadcast("three-mb", {"blob": "y" * 3_000_000}))  # Pro's broadcast limit
    await ws.send(b"\xff\xfe not utf-8", text=True)  # the monitor must fail this socket (1007)


async def second_connection(ws) -> None:
    for i in range(3):
        await ws.send(broadcast(f"again-{i}", {"i": i}))
    await ws.send("z" * (MAX_FRAME + 1))  # over the limit: the monitor fails the socket (1009)


async def third_connection(ws) -> None:
    await ws.send(broadcast("third", {}))


async def test_hostile_frames_are_counted_logged_once_and_the_feed_goes_on(caplog):
    server = HostileServer([first_connection, second_connection, third_connection])
    caplog.set_level(logging.WARNING, logger="feeds.supervisor")
    events = []
    async with websockets.serve(server.handler, "127.0.0.1", 0, max_size=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        cfg = FeedConfig(channels=[ChannelConfig(topic="room")])
        cfg.probes.broadcast.interval_s = 0.2
        sup = Supervisor(cfg, url=f"ws://127.0.0.1:{port}", key="anon", on_event=events.append)
        task = sup.start()

        def names() -> list[str]:
            return [e.event for e in events if e.kind == "broadcast" and e.channel == "room"]

        await until(lambda: "third" in names(), 30, "the broadcast after two failed sockets")
        await until(lambda: sup.status == CONNECTED, 5, "connected again")
        assert not task.done(), "the supervisor is still running"
        await sup.stop()
        for t in server.tasks:
            t.cancel()

    assert names() == [
        "big-int",
        *(f"after-{i}" for i in range(5)),
        "three-mb",
        *(f"again-{i}" for i in range(3)),
        "third",
    ]
    big = next(e for e in events if e.event == "big-int")
    assert big.payload["payload"]["n"] == float(2**70)
    assert sup.sessions == 3 and server.connections == 3

    expected: dict[str, int] = {}
    for _, kind in HOSTILE:
        expected[kind] = expected.get(kind, 0) + 1
    expected["not JSON"] += FLOOD
    expected["a text frame that is not UTF-8"] = 1
    expected[f"a frame over {MAX_FRAME} bytes"] = 1
    assert sup.malformed_kinds == expected
    assert sup.malformed_frames == len(HOSTILE) + FLOOD + 2

    logged = [r.getMessage() for r in caplog.records if "malformed frame" in r.getMessage()]
    assert len(logged) == len(expected), logged  # once per kind, not once per frame
    shown = [e for e in events if e.kind == "system" and e.event == "malformed"]
    assert len(shown) == sup.malformed_frames and all(len(e.payload["frame"]) <= 500 for e in shown)
