"""A socket's life as on Supabase (issue 11, item 5; reference §13.1): paced refusals, idle
sockets closed, tokens checked at every join, re-subscription on a token refresh, restarts and
injected channel crashes. Each test starts its own sandbox, with the server's real delays unless
it says otherwise."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from wire import UPGRADE, Wire, event_of, payload_of

QUICK = ("--join-error-delay-ms", "50", "--connect-error-delay-ms", "50")
DEFAULTS = ("--join-error-delay-ms", "5000", "--connect-error-delay-ms", "2000")


async def post(sb, path: str, body: dict | None = None, key: str | None = None) -> tuple:
    headers = {"apikey": key or sb.service_role_key}
    async with aiohttp.ClientSession() as s, s.post(sb.url + path, json=body, headers=headers) as r:
        return r.status, await r.json()


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_join_error_comes_after_5_s_and_the_socket_is_stalled_meanwhile(fresh_sandbox, vsn):
    """realtime_channel.ex join_error/1 sleeps 5 s in the join, which the socket process waits
    on: the other channel's broadcast and the heartbeat reply queue up behind the error."""
    sb = fresh_sandbox(*DEFAULTS)
    a = await Wire.open(sb.url, sb.anon_key, vsn=vsn)
    b = await Wire.open(sb.url, sb.anon_key)
    jr, _ = await a.join("stall-open")
    await b.join("stall-open")
    started = time.monotonic()
    join_ref = await a.send(
        "realtime:stall-private", "phx_join", {"config": {"private": True}}, ref="50", join_ref="50"
    )
    await asyncio.sleep(0.5)
    msg = {"type": "broadcast", "event": "meanwhile", "payload": {"n": 1}}
    await b.send("realtime:stall-open", "broadcast", msg)
    hb = await a.send("phoenix", "heartbeat", {}, ref="77")
    reply = await a.recv(timeout=8)
    waited = time.monotonic() - started
    assert 4.9 <= waited < 6.5, waited
    reason = (
        "Unauthorized: You do not have permissions to read from this Channel topic: stall-private"
    )
    error = {"status": "error", "response": {"reason": reason}}
    if vsn == "1.0.0":
        assert reply == {
            "topic": "realtime:stall-private",
            "event": "phx_reply",
            "payload": error,
            "ref": join_ref,
        }
    else:
        assert reply == [join_ref, join_ref, "realtime:stall-private", "phx_reply", error]
    later = [await a.recv(), await a.recv()]
    assert [event_of(f) for f in later] == ["broadcast", "phx_reply"]
    assert payload_of(later[0]) == msg
    assert (later[1]["ref"] if vsn == "1.0.0" else later[1][1]) == hb
    assert time.monotonic() - started < 6.5  # both came right after the reply
    assert jr  # the open channel stayed joined all along
    await a.close()
    await b.close()


async def test_connect_errors_wait_2_s_and_a_bad_vsn_is_an_empty_403(fresh_sandbox):
    sb = fresh_sandbox(*DEFAULTS)
    base = sb.url + "/realtime/v1/websocket"
    async with aiohttp.ClientSession() as s:
        started = time.monotonic()
        async with s.get(f"{base}?apikey=not-a-jwt&vsn=1.0.0", headers=UPGRADE) as r:
            assert r.status == 401
            assert await r.json() == {"error": "The token provided is not a valid JWT"}
        assert 1.9 <= time.monotonic() - started < 3.5
        for vsn in ("3.0.0", "2.1.0", "abc", ""):
            started = time.monotonic()
            async with s.get(f"{base}?apikey={sb.anon_key}&vsn={vsn}", headers=UPGRADE) as r:
                assert r.status == 403, vsn
                assert await r.read() == b""
            assert time.monotonic() - started < 1.0  # refused before the connect: no backoff
    # versions the serializers' requirements match are served by them
    v2 = await Wire.open(sb.url, sb.anon_key, vsn="2.0.1")
    v2.vsn = 2
    await v2.send("phoenix", "heartbeat", {}, ref="1")
    assert await v2.recv() == [None, "1", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    await v2.close()
    v1 = await Wire.open(sb.url, sb.anon_key, vsn="1.0.3")
    v1.vsn = 1
    await v1.send("phoenix", "heartbeat", {}, ref="1")
    assert (await v1.recv())["event"] == "phx_reply"
    await v1.close()


async def test_a_socket_that_sends_nothing_is_closed(fresh_sandbox):
    """Phoenix's websocket timeout (60 s; 1 s here): a silent socket is closed with 1000, one
    that sends heartbeats, or only websocket pings, stays."""
    sb = fresh_sandbox(*QUICK, "--idle-timeout-ms", "1000")
    session = aiohttp.ClientSession()
    url = sb.url.replace("http", "ws", 1) + f"/realtime/v1/websocket?apikey={sb.anon_key}"
    pinging = await session.ws_connect(url, heartbeat=0.4)
    talking = await Wire.open(sb.url, sb.anon_key)
    replies = []

    async def talk() -> None:
        while True:
            await talking.send("phoenix", "heartbeat", {})
            replies.append(await talking.recv())
            await asyncio.sleep(0.3)

    talker = asyncio.ensure_future(talk())
    silent = await Wire.open(sb.url, sb.anon_key)
    await silent.join("idle")
    started = time.monotonic()
    closing = await silent.ws.receive(timeout=3)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert silent.ws.close_code == 1000
    assert 0.9 <= time.monotonic() - started < 2.5
    await asyncio.sleep(1.5)
    assert not talker.done(), talker
    talker.cancel()
    assert len(replies) >= 5 and all(r["event"] == "phx_reply" for r in replies)
    assert not pinging.closed and not talking.ws.closed
    async with session.get(sb.url + "/sandbox/v1/stats") as r:
        assert (await r.json())["idle_closed"] == 1
    await pinging.close()
    await session.close()
    await talking.close()
    await silent.session.close()


async def test_a_join_after_the_socket_token_expired_is_refused(fresh_sandbox):
    """confirm_token/1 runs at every join: the socket's own token is checked again."""
    import jwt

    sb = fresh_sandbox(*QUICK)
    now = int(time.time())
    token = jwt.encode({"role": "anon", "iat": now, "exp": now + 2}, sb.jwt_secret, "HS256")
    w = await Wire.open(sb.url, token)
    _, first = await w.join("expiring-early")
    assert first["payload"]["status"] == "ok"
    await asyncio.sleep(3.2)
    _, reply = await w.join("expiring-late")
    reason = reply["payload"]["response"]["reason"]
    assert reply["payload"]["status"] == "error", reply
    assert reason.startswith("InvalidJWTToken: Token has expired ")
    assert reason.endswith(" seconds ago")
    await w.close()


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_duplicate_join_replies_first_then_closes_the_old_join(fresh_sandbox, vsn):
    sb = fresh_sandbox(*QUICK)
    w = await Wire.open(sb.url, sb.anon_key, vsn=vsn)
    topic = "realtime:dup"
    await w.send(topic, "phx_join", {"config": {}}, ref="1", join_ref="1")
    await w.recv()
    await w.send(topic, "phx_join", {"config": {}}, ref="2", join_ref="2")
    ok = {"status": "ok", "response": {"postgres_changes": []}}
    if vsn == "1.0.0":
        assert await w.recv() == {"topic": topic, "event": "phx_reply", "payload": ok, "ref": "2"}
        assert await w.recv() == {"topic": topic, "event": "phx_close", "payload": {}, "ref": "1"}
    else:
        assert await w.recv() == ["2", "2", topic, "phx_reply", ok]
        assert await w.recv() == ["1", "1", topic, "phx_close", {}]
    # a refused duplicate (expired token) ends the old join all the same, after the reply
    import jwt

    expired = jwt.encode({"role": "anon", "exp": int(time.time()) - 5}, sb.jwt_secret, "HS256")
    await w.send(topic, "phx_join", {"config": {}, "access_token": expired}, ref="3", join_ref="3")
    reply, close = await w.recv(), await w.recv()
    assert payload_of(reply)["status"] == "error" and event_of(close) == "phx_close"
    assert (close["ref"] if vsn == "1.0.0" else close[0]) == "2"
    await w.close()


async def test_access_token_refresh_subscribes_postgres_changes_again(fresh_sandbox, mint_for):
    """realtime-py's set_auth pushes access_token; the server re-checks and re-subscribes, so a
    second "Subscribed to PostgreSQL" comes 1-3 s later, and changes keep coming."""
    sb = fresh_sandbox(*QUICK)
    table = f"refresh_{uuid.uuid4().hex[:8]}"
    await sb_sql(
        sb,
        f"create table public.{table} (id int primary key);"
        f"alter publication supabase_realtime add table public.{table}",
    )
    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key, max_retries=1)
    await client.connect()
    systems, changes, states = [], [], []
    ch = client.channel(
        "refresh", {"config": {"broadcast": {}, "presence": {"key": ""}, "private": False}}
    )
    ch.on_system(lambda p: systems.append((time.monotonic(), p.message)))
    ch.on_postgres_changes("INSERT", changes.append, table=table)
    await ch.subscribe(lambda s, e: states.append(s))
    await wait_for(lambda: systems)
    refreshed = time.monotonic()
    await client.set_auth(mint_for(sb, "authenticated", sub=str(uuid.uuid4())))
    await wait_for(lambda: len(systems) == 2, timeout=5)
    assert [m for _, m in systems] == ["Subscribed to PostgreSQL"] * 2
    assert 0.9 <= systems[1][0] - refreshed < 3.6
    await sb_sql(sb, f"insert into public.{table} values (1)")
    await wait_for(lambda: changes)
    assert changes[0]["data"]["record"] == {"id": 1}
    assert states == [RealtimeSubscribeStates.SUBSCRIBED]
    await client.close()


async def test_phx_error_hook_makes_clients_rejoin(fresh_sandbox):
    sb = fresh_sandbox(*QUICK)
    w = await Wire.open(sb.url, sb.anon_key, vsn="2.0.0")
    await w.send("realtime:crash", "phx_join", {"config": {}}, ref="4", join_ref="4")
    await w.recv()
    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key, max_retries=1)
    await client.connect()
    states = []
    ch = client.channel(
        "crash", {"config": {"broadcast": {}, "presence": {"key": ""}, "private": False}}
    )
    await ch.subscribe(lambda s, e: states.append(s))
    assert await post(sb, "/sandbox/v1/phx_error", {"topic": "crash"}, key=sb.anon_key) == (
        403,
        {"message": "service_role key required"},
    )
    assert await post(sb, "/sandbox/v1/phx_error", {"topic": "crash"}) == (200, {"errored": 2})
    assert await w.recv() == ["4", "4", "realtime:crash", "phx_error", {}]
    await wait_for(lambda: states.count(RealtimeSubscribeStates.SUBSCRIBED) == 2, timeout=5)
    assert states == [
        RealtimeSubscribeStates.SUBSCRIBED,
        RealtimeSubscribeStates.CHANNEL_ERROR,
        RealtimeSubscribeStates.SUBSCRIBED,
    ]
    await client.close()
    await w.close()


@pytest.mark.parametrize("vsn", ["1.0.0", "2.0.0"])
async def test_disconnect_hook_sends_the_servers_message_then_1012(fresh_sandbox, vsn):
    """UserSocket.disconnect/1: the system message has no `channel` key and is fanned out
    (no join_ref); a deploy drain closes with 1012 without a word."""
    sb = fresh_sandbox(*QUICK)
    w = await Wire.open(sb.url, sb.anon_key, vsn=vsn)
    await w.send("realtime:drain", "phx_join", {"config": {}}, ref="1", join_ref="1")
    await w.recv()
    task = asyncio.ensure_future(post(sb, "/sandbox/v1/disconnect"))
    frame = await w.recv()
    said = {"extension": "system", "message": "Server requested disconnect", "status": "ok"}
    if vsn == "1.0.0":
        assert frame == {"topic": "realtime:drain", "event": "system", "payload": said, "ref": None}
    else:
        assert frame == [None, None, "realtime:drain", "system", said]
    closing = await w.ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert w.ws.close_code == 1012
    assert await task == (200, {"disconnected": 1})
    await w.session.close()

    w = await Wire.open(sb.url, sb.anon_key, vsn=vsn)
    await w.send("realtime:drain", "phx_join", {"config": {}}, ref="1", join_ref="1")
    await w.recv()
    task = asyncio.ensure_future(post(sb, "/sandbox/v1/disconnect", {"mode": "deploy"}))
    closing = await w.ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    assert w.ws.close_code == 1012
    await task
    await w.session.close()


async def test_joins_during_a_restart_are_refused_and_a_stop_drains_with_1012(fresh_sandbox):
    sb = fresh_sandbox(*QUICK)
    assert await post(sb, "/sandbox/v1/disconnect", {"mode": "deploy", "restarting_ms": 1500})
    w = await Wire.open(sb.url, sb.anon_key)
    _, reply = await w.join("after-deploy")
    assert reply["payload"] == {
        "status": "error",
        "response": {"reason": "RealtimeRestarting: Realtime is restarting, please standby"},
    }
    await asyncio.sleep(1.6)
    _, reply = await w.join("after-deploy")
    assert reply["payload"]["status"] == "ok"
    sb.stop()  # SIGTERM: a deploy drain, the socket closed 1012 without a message
    closing = await w.ws.receive(timeout=10)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    assert w.ws.close_code == 1012
    await w.session.close()


# --- helpers -----------------------------------------------------------------------------------


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.02)


async def sb_sql(sb, query: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(sb.db_url)
    try:
        await conn.execute(query)
    finally:
        await conn.close()


@pytest.fixture
def mint_for():
    import jwt

    def make(sb, role: str, ttl: int = 3600, **claims) -> str:
        now = int(time.time())
        body = {"role": role, "iat": now, "exp": now + ttl, **claims}
        return jwt.encode(body, sb.jwt_secret, algorithm="HS256")

    return make
