"""Tenant limits as Supabase enforces them (issue 11, item 4; reference §9.1, §13.3): a sandbox
started with `--plan` (or one `--max-...` flag) refuses and shuts down the way a project over
its quota does, and `/sandbox/v1/stats` counts every refusal.

The server's rate counters tick every 5 s and average their buckets, so each test here sends its
burst, waits for a tick, and then looks at what the next message, join or connection meets.
Every test starts its own sandbox (the counters are tenant-wide), with the counters ticking every
500 ms (`--rate-tick-ms`) instead of 5 s: the same rules, ten times sooner. A wait for a tick is
counted from the burst's last event, so it holds however long the burst took to send."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from node_process import run_node_script
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from wire import UPGRADE, Wire, event_of, payload_of

TICK = 0.5  # s: the sandboxes below tick every 500 ms, Supabase every 5 s
QUICK_TICK = ("--rate-tick-ms", str(int(TICK * 1000)))


def ref_of(frame):
    return frame["ref"] if isinstance(frame, dict) else frame[1]


async def stats(sb) -> dict:
    async with aiohttp.ClientSession() as s, s.get(sb.url + "/sandbox/v1/stats") as r:
        return await r.json()


async def rest(sb, path: str, body, key: str | None = None) -> tuple[int, object]:
    key = key or sb.anon_key
    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession() as s,
        s.post(sb.url + "/realtime/v1/api" + path, json=body, headers=headers) as r,
    ):
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


async def frames_until(w: Wire, event: str, timeout: float = 10.0) -> list:
    """Every frame up to and including the first `event` frame."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        frame = await w.recv(max(0.05, deadline - time.monotonic()))
        seen.append(frame)
        if event_of(frame) == event:
            return seen


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_messages_over_the_free_plan_close_receiving_channels(fresh_sandbox, vsn):
    """Over 100 messages/s: each channel that receives a message afterwards gets it, then the
    system error and phx_close; a channel without traffic stays; REST broadcasts get 429."""
    sb = fresh_sandbox("--plan", "free", *QUICK_TICK)
    rx = await Wire.open(sb.url, sb.anon_key, vsn=vsn)
    tx = await Wire.open(sb.url, sb.anon_key)
    await rx.send("realtime:flood", "phx_join", {"config": {}}, ref="1", join_ref="1")
    await rx.send("realtime:quiet", "phx_join", {"config": {}}, ref="2", join_ref="2")
    assert [payload_of(await rx.recv())["status"] for _ in range(2)] == ["ok", "ok"]
    py = AsyncRealtimeClient(sb.ws_url, sb.anon_key, max_retries=1)
    await py.connect()
    py_states = []
    py_ch = py.channel(
        "flood", {"config": {"broadcast": {}, "presence": {"key": ""}, "private": False}}
    )
    await py_ch.subscribe(lambda s, e: py_states.append(s))
    ftx, _ = await tx.join("flood")
    msg = {"type": "broadcast", "event": "flood", "payload": {"n": 1}}

    async def flood() -> None:  # ~200 broadcasts/s, each counted in and at every delivery
        while True:
            for _ in range(10):
                await tx.send("realtime:flood", "broadcast", msg, join_ref=ftx)
            await asyncio.sleep(0.05)

    sender = asyncio.ensure_future(flood())
    try:
        seen = await frames_until(rx, "phx_close", timeout=TICK + 6)
    finally:
        sender.cancel()
    assert [event_of(f) for f in seen[-3:]] == ["broadcast", "system", "phx_close"]
    system = payload_of(seen[-2])
    assert system == {
        "channel": "flood",
        "extension": "system",
        "message": "Too many messages per second",
        "status": "error",
    }
    assert ref_of(seen[-2]) is None and ref_of(seen[-1]) == "1"
    if vsn == "2.0.0":
        assert seen[-2][0] == "1" and seen[-1][:3] == ["1", "1", "realtime:flood"]
    await rx.silent(0.3)  # "quiet" had no traffic: it stays joined, nothing more comes
    assert await rest(
        sb, "/broadcast", {"messages": [{"topic": "t", "event": "e", "payload": {}}]}
    ) == (429, {"message": "You have exceeded your rate limit"})
    assert await rest(sb, "/broadcast/t/events/e", {"a": 1}) == (
        429,
        {"message": "You have exceeded your rate limit"},
    )
    # realtime-py, on the same topic: the system error is a channel error, then CLOSED
    for _ in range(100):
        if RealtimeSubscribeStates.CLOSED in py_states:
            break
        await asyncio.sleep(0.05)
    assert py_states[:1] == [RealtimeSubscribeStates.SUBSCRIBED]
    assert RealtimeSubscribeStates.CHANNEL_ERROR in py_states
    assert py_states[-1] == RealtimeSubscribeStates.CLOSED
    body = await stats(sb)
    assert body["refusals"]["too_many_messages"] >= 2 and body["refusals"]["rest_rate_limited"] == 2
    assert body["rates"]["events_per_second"] >= 100
    assert body["limits"]["max_events_per_second"] == 100
    await py.close()
    await rx.close()
    await tx.close()


@pytest.mark.js
@pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0"])
def test_supabase_js_channel_is_closed_over_the_free_plan_rate(node, fresh_sandbox, vsn):
    """The issue's done-when: with --plan free and traffic above 100 msgs/s, a subscribed
    supabase-js channel receives "Too many messages per second" and closes, and REST broadcast
    answers 429."""
    sb = fresh_sandbox("--plan", "free", *QUICK_TICK)
    cfg = {"url": sb.url, "key": sb.anon_key, "vsn": vsn, "topic": "flood", "rate": 200}
    r = run_node_script(
        node,
        ["limits.mjs", json.dumps(cfg)],
        on_line=lambda line, _stdin: None,
        timeout=30,
        label=f"limits.mjs (vsn {vsn})",
    )
    assert r["vsn"] == vsn
    assert r["system"] == [
        {
            "channel": "flood",
            "extension": "system",
            "message": "Too many messages per second",
            "status": "error",
        }
    ]
    assert r["statuses"] == ["SUBSCRIBED", "CLOSED"] and r["state"] == "closed"
    assert r["last_events"][-2:] == ["system", "phx_close"]
    # at least a tick of traffic over the limit was sent; the closing message itself arrived
    assert r["sent"] >= 100 * TICK and r["received"] >= 1
    assert r["sender_statuses"] == ["SUBSCRIBED"]  # the sender received nothing: still joined
    body = {"messages": [{"topic": "flood", "event": "after", "payload": {}}]}
    assert asyncio.run(rest(sb, "/broadcast", body)) == (
        429,
        {"message": "You have exceeded your rate limit"},
    )


async def test_joins_over_the_limit_refuse_close_the_socket_and_new_connections(fresh_sandbox):
    """A flag overrides the plan's number: 2 joins/s. The join past it fails with
    ClientJoinRateLimitReached and the socket is closed; new upgrades get HTTP 429."""
    sb = fresh_sandbox("--plan", "free", "--max-joins-per-second", "2", *QUICK_TICK)
    w = await Wire.open(sb.url, sb.anon_key)
    for i in range(11):  # 11 joins in the first bucket: over 2/s at the tick
        _, reply = await w.join(f"joins-{i}")
        assert reply["payload"]["status"] == "ok"
    await asyncio.sleep(TICK + 0.3)
    _, reply = await w.join("joins-over")
    assert reply["payload"] == {
        "status": "error",
        "response": {"reason": "ClientJoinRateLimitReached: Too many joins per second"},
    }
    closing = await w.ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    assert w.ws.close_code == 1000
    await w.session.close()
    url = sb.url + f"/realtime/v1/websocket?apikey={sb.anon_key}&vsn=2.0.0"
    async with aiohttp.ClientSession() as s, s.get(url, headers=UPGRADE) as r:
        assert (r.status, await r.json()) == (429, {"error": "Too many joins per second"})
    refusals = (await stats(sb))["refusals"]
    assert (refusals["too_many_joins"], refusals["connect_too_many_joins"]) == (1, 1)


async def test_concurrent_users_over_the_limit(fresh_sandbox):
    """Users are sockets that joined a channel: past the limit a new upgrade gets HTTP 429 and
    a socket that has not joined yet is refused at its first join."""
    sb = fresh_sandbox("--max-concurrent-users", "2")
    a = await Wire.open(sb.url, sb.anon_key)
    d = await Wire.open(sb.url, sb.anon_key)  # connected, never joined: not a user yet
    b = await Wire.open(sb.url, sb.anon_key)
    for w in (a, b):
        _, reply = await w.join("users")
        assert reply["payload"]["status"] == "ok"
    url = sb.url + f"/realtime/v1/websocket?apikey={sb.anon_key}&vsn=1.0.0"
    async with aiohttp.ClientSession() as s, s.get(url, headers=UPGRADE) as r:
        assert (r.status, await r.json()) == (429, {"error": "Too many connected users"})
    _, reply = await d.join("users")
    assert reply["payload"] == {
        "status": "error",
        "response": {"reason": "ConnectionRateLimitReached: Too many connected users"},
    }
    _, reply = await a.join("users-again")  # a counted user joins what it likes
    assert reply["payload"]["status"] == "ok"
    await b.close()
    await asyncio.sleep(0.2)
    _, reply = await d.join("users")  # a user left: room again
    assert reply["payload"]["status"] == "ok"
    refusals = (await stats(sb))["refusals"]
    assert (refusals["connect_too_many_users"], refusals["too_many_users"]) == (1, 1)
    await a.close()
    await d.close()


async def test_presence_messages_over_the_limit_close_on_track_and_on_join(fresh_sandbox):
    """Tracks, presence_state syncs and each presence_diff delivery count; over the limit a
    track, or a join's state sync, gets the system error and phx_close."""
    sb = fresh_sandbox("--max-presence-events-per-second", "1", *QUICK_TICK)
    a = await Wire.open(sb.url, sb.anon_key)
    b = await Wire.open(sb.url, sb.anon_key)
    ja, _ = await a.join("pres", {"presence": {"key": "a", "enabled": True}})
    jb, _ = await b.join("pres", {"presence": {"key": "b", "enabled": True}})
    for w, jr, n in ((a, ja, 1), (b, jb, 2)):  # 2 syncs + 2 tracks + 4 diffs = 8 in a tick
        await w.send("realtime:pres", "presence", {"event": "track", "payload": {"n": n}}, None, jr)
    await asyncio.sleep(TICK + 0.3)
    ref = await a.send(
        "realtime:pres", "presence", {"event": "track", "payload": {"n": 9}}, join_ref=ja
    )
    seen = await frames_until(a, "phx_close")
    assert payload_of(seen[-2]) == {
        "channel": "pres",
        "extension": "system",
        "message": "Too many presence messages per second",
        "status": "error",
    }
    assert ref not in [ref_of(f) for f in seen]  # no reply to the refused track
    c = await Wire.open(sb.url, sb.anon_key, vsn="2.0.0")
    await c.send("realtime:pres", "phx_join", {"config": {"presence": {"enabled": True}}}, "7", "7")
    reply, system, close = await c.recv(), await c.recv(), await c.recv()
    assert payload_of(reply)["status"] == "ok"
    assert system == [
        "7",
        None,
        "realtime:pres",
        "system",
        {
            "channel": "pres",
            "extension": "system",
            "message": "Too many presence messages per second",
            "status": "error",
        },
    ]
    assert close == ["7", "7", "realtime:pres", "phx_close", {}]
    assert (await stats(sb))["refusals"]["too_many_presence"] == 2
    for w in (a, b, c):
        await w.close()


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_payload_limits_track_closes_and_ack_replies_a_bare_string(fresh_sandbox, vsn):
    sb = fresh_sandbox("--max-payload-kb", "1")
    w = await Wire.open(sb.url, sb.anon_key, vsn=vsn)
    await w.send("realtime:big", "phx_join", {"config": {"broadcast": {"ack": True}}}, "1", "1")
    await w.recv()
    big = {"blob": "x" * 2000}
    ref = await w.send(
        "realtime:big", "broadcast", {"type": "broadcast", "event": "e", "payload": big}, "5", "1"
    )
    error = {"status": "error", "response": "payload_size_exceeded"}  # §13.1.1: a string
    if vsn == "1.0.0":
        assert await w.recv() == {
            "topic": "realtime:big",
            "event": "phx_reply",
            "payload": error,
            "ref": ref,
        }
    else:
        assert await w.recv() == ["1", ref, "realtime:big", "phx_reply", error]
    await w.send("realtime:big", "presence", {"event": "track", "payload": big}, "6", "1")
    seen = [await w.recv(), await w.recv()]
    assert [event_of(f) for f in seen] == ["system", "phx_close"]
    assert payload_of(seen[0])["message"] == "Track message size exceeded"
    refusals = (await stats(sb))["refusals"]
    assert (refusals["payload_too_large"], refusals["track_too_large"]) == (1, 1)
    await w.close()


async def test_client_presence_limit_counts_per_join_in_fixed_windows(sandbox):
    """5 presence calls per 30 s per channel join (§13.1.2): the 6th closes the channel; only
    payloads with an `event` count; a new join of the topic starts its own window."""
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    jr, _ = await w.join("client-presence", {"presence": {"key": "k"}})
    for n in range(5):
        await w.send(
            "realtime:client-presence",
            "presence",
            {"event": "track", "payload": {"n": n}},
            None,
            jr,
        )
        await w.recv_event("phx_reply")
    ref = await w.send("realtime:client-presence", "presence", {"payload": {}}, join_ref=jr)
    assert (await w.recv_event("phx_reply"))["ref"] == ref  # not a call: answered, not counted
    await w.send(
        "realtime:client-presence", "presence", {"event": "untrack"}, join_ref=jr
    )  # the 6th call
    seen = await frames_until(w, "phx_close")
    assert payload_of(seen[-2])["message"] == "Client presence rate limit exceeded"
    jr2, reply = await w.join("client-presence", {"presence": {"key": "k"}})
    assert reply["payload"]["status"] == "ok"
    for n in range(5):  # a socket-wide count would refuse these
        ref = await w.send(
            "realtime:client-presence",
            "presence",
            {"event": "track", "payload": {"m": n}},
            None,
            jr2,
        )
        reply = await w.recv_event("phx_reply")
        assert reply["ref"] == ref and reply["payload"]["status"] == "ok"
    await w.close()


async def test_database_broadcasts_and_changes_are_dropped_over_the_rate(fresh_sandbox):
    """realtime.send rows and postgres_changes are not delivered while the tenant is over its
    messages-per-second limit (replication_connection.ex, replication_poller.ex)."""
    import asyncpg

    sb = fresh_sandbox("--max-events-per-second", "1", *QUICK_TICK)
    db = await asyncpg.connect(sb.db_url)
    await db.execute(
        "create table public.flooded (id int primary key);"
        "alter publication supabase_realtime add table public.flooded"
    )
    w = await Wire.open(sb.url, sb.anon_key)
    bindings = [{"event": "INSERT", "schema": "public", "table": "flooded"}]
    await w.join("db-flood", {"postgres_changes": bindings})
    assert (await w.recv_event("system"))["payload"]["status"] == "ok"
    for i in range(8):  # 8 changes and 8 database broadcasts (16 events) in the first bucket
        await db.execute("insert into public.flooded values ($1)", i)
        await db.execute("select realtime.send('{}'::jsonb, 'ping', 'db-flood', false)")
    got = [event_of(await w.recv()) for _ in range(16)]
    assert sorted(got) == ["broadcast"] * 8 + ["postgres_changes"] * 8
    await asyncio.sleep(TICK + 0.3)
    await db.execute("insert into public.flooded values (100)")
    await db.execute("select realtime.send('{}'::jsonb, 'ping', 'db-flood', false)")
    await w.silent(1.0)
    # each is counted when the server decodes it from the WAL, which a loaded machine may do
    # after the silence above: wait for both counts, then check there is exactly one of each
    deadline = time.monotonic() + 10
    while True:
        refusals = (await stats(sb))["refusals"]
        dropped = (refusals["db_changes_dropped"], refusals["db_broadcasts_dropped"])
        if min(dropped) >= 1 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert dropped == (1, 1)
    await db.close()
    await w.close()
