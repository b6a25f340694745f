"""Hostile websocket frames into a real sandbox, from a raw `websockets` client: the sandbox answers
as Supabase's server does, stays up, and serves an official client afterwards.

What the server does (supabase/realtime @ 833cf36c):

* every frame its serializer cannot decode (not JSON, Jason's refusals such as `1e400` or a lone
  surrogate, a vsn-2 array shorter than five, an unknown binary kind, kind-3 metadata that is not
  JSON) is rescued in `RealtimeWeb.Socket.handle_in/2` (lib/realtime_web/socket.ex), logged as
  MalformedWebSocketMessage and ignored: no reply, the socket stays open;
* a vsn-2 array of five or more elements is a message (`[join_ref, ref, topic, event, payload | _]`,
  lib/realtime_web/socket/v2_serializer.ex);
* an unknown event on a joined channel is logged and ignored (the catch-all `handle_in/3` in
  lib/realtime_web/channels/realtime_channel.ex); on a topic the socket has not joined, Phoenix
  answers `phx_reply` error "unmatched topic";
* a frame over `max_frame_size` (5,000,000, lib/realtime_web/endpoint.ex) closes the socket with
  1009, and a text frame that is not UTF-8 with 1007 (Cowboy, RFC 6455 §7.4.1, §8.1).

Where the sandbox cannot match (it refuses JSON nested past 251 levels, which Supabase would relay;
it relays integers past 64 bits as floats) the frame is still ignored, never fatal.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import websockets
from realtime import AsyncRealtimeClient
from sandbox_process import until

HEARTBEAT_V1 = json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "hb"})
HEARTBEAT_V2 = json.dumps([None, "hb", "phoenix", "heartbeat", {}])


async def stats(sb) -> dict:
    async with aiohttp.ClientSession() as s, s.get(sb.url + "/sandbox/v1/stats") as r:
        return await r.json()


async def connect(sb, vsn: str = "1.0.0"):
    return await websockets.connect(
        f"{sb.ws_url}/websocket?apikey={sb.anon_key}&vsn={vsn}",
        max_size=None,
        ping_interval=None,
    )


async def next_frame(ws, timeout: float = 5.0):
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return json.loads(raw) if isinstance(raw, str) else raw


async def ignored(ws, frame: str | bytes, vsn: int = 1) -> None:
    """Send `frame`, then a heartbeat: the heartbeat's reply is the next thing that arrives, so
    the frame got no answer and the socket is still open."""
    await ws.send(frame)
    await ws.send(HEARTBEAT_V1 if vsn == 1 else HEARTBEAT_V2)
    reply = await next_frame(ws)
    if vsn == 1:
        assert reply["event"] == "phx_reply" and reply["ref"] == "hb", (frame[:80], reply)
    else:
        assert reply[1] == "hb" and reply[3] == "phx_reply", (frame[:80], reply)


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def broadcast_v1(payload_text: str, topic: str = "realtime:hostile") -> str:
    return '{"topic":"' + topic + '","event":"broadcast","ref":null,"payload":' + payload_text + "}"


def kind3(topic: bytes, event: bytes, meta: bytes, body: bytes, enc: int = 1) -> bytes:
    head = bytes((3, 1, 1, len(topic), len(event), len(meta), enc))
    return head + b"1" + b"2" + topic + event + meta + body


async def test_undecodable_frames_are_ignored_and_counted_vsn1(sandbox):
    before = (await stats(sandbox))["malformed_frames"]
    ws = await connect(sandbox)
    hostile = [
        bytes(range(256)) * 4,  # garbage bytes, as a binary frame
        b'{"topic":"realtime:x","event":"broadcast","payload":{},"ref":null}',  # binary on vsn 1
        "this is not json",
        '{"a":' + deep(10_000) + "}",  # a 10k-level bomb
        broadcast_v1('{"event":"e","payload":{"n":1e400}}'),
        broadcast_v1('{"event":"e","payload":{"s":"\\ud800"}}'),
        broadcast_v1('{"event":"e","payload":' + deep(300) + "}"),  # past the sandbox's 251
        "[1,2,3]",
        '{"topic":"realtime:x","payload":{}}',
        '{"topic":5,"event":"broadcast","payload":{},"ref":null}',
        '{"topic":"realtime:x","event":"broadcast","payload":{},"ref":{"a":1}}',
    ]
    for frame in hostile:
        await ignored(ws, frame)
    assert (await stats(sandbox))["malformed_frames"] == before + len(hostile)
    await ws.close()


async def test_undecodable_frames_are_ignored_and_counted_vsn2(sandbox):
    before = (await stats(sandbox))["malformed_frames"]
    ws = await connect(sandbox, "2.0.0")
    hostile = [
        bytes(range(7, 256)),  # an unknown binary kind
        b"\x03\x09",  # a kind-3 header cut short
        kind3(b"realtime:hostile", b"e", b"{bad", b"{}"),  # metadata that is not JSON
        kind3(b"realtime:hostile", b"e", b"", b"{not json"),  # a JSON body that is not
        bytes((3, 0, 0, 200, 0, 0, 1)) + b"short",  # lengths past the frame's end
        "[1,2,3]",  # wrong arity
        "[null,null,5,6,{}]",  # a topic that is not a string
        '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}',  # a vsn-1 object
        "[" + deep(10_000) + "]",
        '[null,null,"realtime:hostile","broadcast",{"n":1e400}]',
    ]
    for frame in hostile:
        await ignored(ws, frame, vsn=2)
    assert (await stats(sandbox))["malformed_frames"] == before + len(hostile)
    # five or more elements are a message: the extra ones are ignored, as the server does
    await ws.send('[null,"six","phoenix","heartbeat",{},"extra"]')
    reply = await next_frame(ws)
    assert reply[1:4] == ["six", "phoenix", "phx_reply"]
    await ws.close()


async def test_unknown_events_as_the_server_answers_them(sandbox):
    ws = await connect(sandbox)
    join = {"topic": "realtime:hostile-join", "event": "phx_join", "payload": {}, "ref": "j"}
    await ws.send(json.dumps(join | {"join_ref": "j"}))
    assert (await next_frame(ws))["payload"]["status"] == "ok"
    await ignored(ws, json.dumps({**join, "event": "no_such_event", "ref": "u"}))
    await ignored(ws, json.dumps({**join, "event": "<script>x</script>", "payload": [1]}))
    await ws.send(json.dumps({**join, "topic": "realtime:never-joined", "event": "broadcast"}))
    reply = await next_frame(ws)
    assert reply["event"] == "phx_reply"
    assert reply["payload"] == {"status": "error", "response": {"reason": "unmatched topic"}}
    await ws.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xff\xfe not utf-8", 1007),  # sent as a *text* frame
        ("x" * 10_000_000, 1009),  # twice max_frame_size
    ],
    ids=["invalid-utf8-text", "10MB"],
)
async def test_frames_the_transport_refuses_close_the_socket_only(sandbox, frame, code):
    ws = await connect(sandbox)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await ws.send(frame, text=True)  # the 10 MB one is refused while it is still being sent
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code
    other = await connect(sandbox)  # the server itself is fine
    await ignored(other, "not json")
    await other.close()


async def test_big_numbers_are_relayed_and_the_sandbox_serves_a_normal_client(sandbox):
    """An integer past 64 bits reaches a vsn-1 subscriber (as a float: the one place the sandbox
    rounds what Supabase relays exactly); then the official client joins and gets a broadcast,
    after every hostile frame above has been through the same server."""
    sub = await connect(sandbox)
    join = {"topic": "realtime:hostile-big", "event": "phx_join", "payload": {}, "ref": "1"}
    await sub.send(json.dumps(join))
    assert (await next_frame(sub))["payload"]["status"] == "ok"
    sender = await connect(sandbox)
    await sender.send(json.dumps(join))
    await next_frame(sender)
    await sender.send(
        broadcast_v1('{"event":"big","payload":{"n":' + str(2**70) + "}}", "realtime:hostile-big")
    )
    got = await next_frame(sub)
    assert got["event"] == "broadcast" and got["payload"]["payload"]["n"] == pytest.approx(2**70)
    for ws in (sub, sender):
        await ws.close()

    assert sandbox.proc.poll() is None, "the sandbox process is still running"
    client = AsyncRealtimeClient(sandbox.ws_url, sandbox.anon_key)
    await client.connect()
    got_py: list = []
    channel = client.channel(
        "hostile-after", {"config": {"broadcast": {"self": True, "ack": True}}}
    )
    channel.on_broadcast("hello", got_py.append)
    await channel.subscribe()
    await channel.send_broadcast("hello", {"ok": True})
    await until(lambda: got_py, 5, "the official client's own broadcast")
    assert got_py == [{"event": "hello", "payload": {"ok": True}}]
    await client.close()


HOSTILE_FILTERS = [
    "id=eq.\u0000",
    "name=eq.\u0000",
    "id=eq." + "9" * 5000,
    "id=in.(" + ",".join(["1"] * 200) + ")",
    "name=match.(((",
    "name=like.\\",
    "id=eq.1); drop table public.hostile_items; --",
    "id=eq.1,,id=eq.2",
    '"=eq.x',
    "x" * 10_000,
    "created_at=gt.99999-99-99",
    "tags=cs.{a}",
    "name=ilike.%\u202e<script>%",
    "id=is.maybe",
    "nope=eq.1",
    "id=in.(1,(2))",
    'name=not.in.("a,b",NULL)',
]


async def test_hostile_filters_each_get_the_servers_answer(sandbox, sql):
    """Every binding a client joins with is checked as the server checks it and answered with a
    postgres_changes `system` message, ok or error; none may leave the join unanswered (an
    exception in the sandbox's check would)."""
    sql(
        "create table if not exists public.hostile_items (id int primary key, name text, "
        "created_at timestamptz default now(), tags text[])"
    )
    sql(
        "do $$ begin if not exists (select from pg_publication_tables where tablename = "
        "'hostile_items') then alter publication supabase_realtime add table "
        "public.hostile_items; end if; end $$"
    )
    log_before = len(sandbox.log())
    ws = await connect(sandbox)
    topics = {}
    for i, flt in enumerate(HOSTILE_FILTERS):
        topic = f"realtime:hostile-filter-{i}"
        topics[topic] = flt
        binding = {"event": "*", "schema": "public", "table": "hostile_items", "filter": flt}
        payload = {"config": {"postgres_changes": [binding]}}
        await ws.send(
            json.dumps(
                {
                    "topic": topic,
                    "event": "phx_join",
                    "payload": payload,
                    "ref": str(i),
                    "join_ref": str(i),
                }
            )
        )
    answered: dict[str, dict] = {}
    while len(answered) < len(topics):
        frame = await next_frame(ws, 15)
        if frame["event"] == "system" and frame["payload"].get("extension") == "postgres_changes":
            assert frame["topic"] not in answered, "answered twice"
            answered[frame["topic"]] = frame["payload"]
    assert set(answered) == set(topics)
    ok = {topics[t] for t, p in answered.items() if p["status"] == "ok"}
    assert 'name=not.in.("a,b",NULL)' in ok and "id=eq.\u0000" not in ok
    assert all(p["status"] in ("ok", "error") and p["message"] for p in answered.values())
    await ignored(ws, "still open")
    await ws.close()
    log = sandbox.log()[log_before:]
    assert "Traceback" not in log and "error handling" not in log, log[-2000:]
