"""Realtime features clients use beyond §4-§7 (issue 11, item 6; reference §13.1, §13.4): broadcast
replay on private channels, `replication_ready`, the database's `realtime.broadcast_changes` and
`realtime.send_binary`, the REST single endpoint's 403, CORS on both REST broadcast routes,
`/api/ping`, and presence's bare error replies."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
import pytest
from node_process import run_node_script
from realtime import AsyncRealtimeClient
from realtime.exceptions import RealtimeHTTPError
from wire import Wire, event_of, payload_of

VSNS = ["1.0.0", "2.0.0"]


@pytest.fixture
def private_topic(sql):
    """A private topic prefix that authenticated users may read and write (broadcast), and
    read but not write (presence)."""
    prefix = f"feat-{uuid.uuid4().hex[:8]}"
    policy = prefix.replace("-", "_")
    sql(
        f"create policy {policy}_read on realtime.messages for select to authenticated"
        f" using (realtime.topic() like '{prefix}%')"
    )
    sql(
        f"create policy {policy}_write on realtime.messages for insert to authenticated"
        f" with check (realtime.topic() like '{prefix}%' and extension = 'broadcast')"
    )
    yield prefix
    sql(f"drop policy {policy}_read on realtime.messages")
    sql(f"drop policy {policy}_write on realtime.messages")


def send_many(sql, topic: str, n: int, private: bool = True) -> list[str]:
    """`realtime.send` n messages one transaction each; returns their ids, oldest first."""
    for i in range(n):
        sql("select realtime.send(%s::jsonb, 'note', %s, %s)", json.dumps({"i": i}), topic, private)
    rows = sql(
        "select id::text from realtime.messages where topic = %s and private = %s "
        "order by inserted_at",
        topic,
        private,
    )
    return [r[0] for r in rows]


async def join(w: Wire, topic: str, config: dict, token: str, ref: str = "1") -> object:
    await w.send(
        f"realtime:{topic}",
        "phx_join",
        {"config": config, "access_token": token},
        ref=ref,
        join_ref=ref,
    )
    return await w.recv()


# --- replay -------------------------------------------------------------------------------------


@pytest.mark.parametrize("vsn", VSNS)
async def test_replay_sends_the_newest_messages_oldest_first_once(
    sandbox, sql, mint, private_topic, vsn
):
    topic = f"{private_topic}:replay"
    ids = send_many(sql, topic, 30)
    send_many(sql, topic, 1, private=False)  # public messages are never replayed
    token = mint("authenticated", sub=str(uuid.uuid4()))
    w = await Wire.open(sandbox.url, sandbox.anon_key, vsn=vsn)
    replay = {"broadcast": {"replay": {"since": 0, "limit": 5}}, "private": True}
    reply = await join(w, topic, replay, token)
    assert payload_of(reply)["status"] == "ok"
    got = [await w.recv() for _ in range(5)]
    expected = [
        {
            "event": "note",
            "meta": {"id": mid, "replayed": True},
            "payload": {"i": 25 + k, "id": mid},
            "type": "broadcast",
        }
        for k, mid in enumerate(ids[-5:])
    ]
    if vsn == "1.0.0":
        assert got == [
            {"topic": f"realtime:{topic}", "event": "broadcast", "payload": p, "ref": None}
            for p in expected
        ]
    else:  # channel pushes: they carry the join_ref
        assert got == [["1", None, f"realtime:{topic}", "broadcast", p] for p in expected]
    # a replayed id is not delivered again live; another id is
    headers = {"apikey": sandbox.service_role_key}
    body = {
        "messages": [
            {"topic": topic, "event": "again", "payload": {}, "private": True, "id": ids[-1]},
            {"topic": topic, "event": "fresh", "payload": {}, "private": True, "id": "other"},
        ]
    }
    async with (
        aiohttp.ClientSession() as s,
        s.post(sandbox.url + "/api/broadcast", json=body, headers=headers) as r,
    ):
        assert r.status == 202
    live = await w.recv()
    assert payload_of(live)["event"] == "fresh"
    await w.silent(0.3)
    await w.close()


async def test_replay_limits_and_refusals(sandbox, sql, mint, private_topic):
    topic = f"{private_topic}:limits"
    send_many(sql, topic, 30)
    token = mint("authenticated", sub=str(uuid.uuid4()))
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    cases = [
        ({"since": 0, "limit": 100}, 25),  # at most 25 a join
        ({"since": 0}, 25),  # limit || 25
        ({"since": 0, "limit": 0}, 1),  # at least one
        ({"since": 4_102_444_800_000, "limit": 5}, 0),  # nothing after 2100
    ]
    for params, count in cases:
        reply = await join(w, topic, {"broadcast": {"replay": params}, "private": True}, token)
        assert reply["payload"]["status"] == "ok", params
        got = []
        while True:
            try:
                frame = await w.recv(timeout=0.3)
            except TimeoutError:
                break
            if frame["event"] == "broadcast":
                got.append(frame)
        assert len(got) == count, (params, len(got))
        assert all(f["payload"]["meta"]["replayed"] is True for f in got)
        await w.send(f"realtime:{topic}", "phx_leave", {}, join_ref="1")
        await w.recv_event("phx_close")
    refusals = [
        ({"since": "yesterday"}, True, "UnableToReplayMessages: Replay params are not valid"),
        ({"since": 1.5}, True, "UnableToReplayMessages: Replay params are not valid"),
        (
            {"since": 0},
            False,
            "UnableToReplayMessages: Replay is not allowed for public channels",
        ),
    ]
    for params, private, reason in refusals:
        reply = await join(w, topic, {"broadcast": {"replay": params}, "private": private}, token)
        assert reply["payload"] == {"status": "error", "response": {"reason": reason}}
    await w.close()


@pytest.mark.js
@pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0"])
def test_supabase_js_gets_replayed_messages(node, sandbox, sql, mint, private_topic, vsn):
    topic = f"{private_topic}:js"
    ids = send_many(sql, topic, 3)
    cfg = {
        "url": sandbox.url,
        "key": sandbox.anon_key,
        "vsn": vsn,
        "topic": topic,
        "jwt": mint("authenticated", sub=str(uuid.uuid4())),
        "since": 0,
        "limit": 2,
    }
    r = run_node_script(
        node,
        ["features.mjs", "replay", json.dumps(cfg)],
        on_line=lambda line, _stdin: None,
        timeout=30,
        label=f"features.mjs replay (vsn {vsn})",
    )
    assert r["vsn"] == vsn and r["statuses"] == ["SUBSCRIBED"], r
    assert r["got"] == [
        {
            "type": "broadcast",
            "event": "note",
            "payload": {"i": 1 + k, "id": mid},
            "meta": {"id": mid, "replayed": True},
        }
        for k, mid in enumerate(ids[-2:])
    ]


# --- replication_ready, database broadcasts -------------------------------------------------------


@pytest.mark.parametrize("vsn", VSNS)
async def test_replication_ready_is_announced(sandbox, vsn):
    w = await Wire.open(sandbox.url, sandbox.anon_key, vsn=vsn)
    await w.send(
        "realtime:ready",
        "phx_join",
        {"config": {"broadcast": {"replication_ready": True}}},
        ref="3",
        join_ref="3",
    )
    assert payload_of(await w.recv())["status"] == "ok"
    said = {
        "channel": "ready",
        "extension": "system",
        "message": "Replication connection established",
        "status": "ok",
    }
    if vsn == "1.0.0":
        assert await w.recv() == {
            "topic": "realtime:ready",
            "event": "system",
            "payload": said,
            "ref": None,
        }
    else:
        assert await w.recv() == ["3", None, "realtime:ready", "system", said]
    await w.close()
    # realtime-py hands an ok system message to on_system
    c = AsyncRealtimeClient(sandbox.ws_url, sandbox.anon_key, max_retries=1)
    await c.connect()
    seen = []
    ch = c.channel(
        "ready-py",
        {"config": {"broadcast": {"replication_ready": True}, "presence": {}, "private": False}},
    )
    ch.on_system(lambda p: seen.append(p.message))
    await ch.subscribe()
    for _ in range(50):
        if seen:
            break
        await asyncio.sleep(0.05)
    assert seen == ["Replication connection established"]
    await c.close()


async def test_broadcast_changes_trigger_helper(sandbox, sql, mint, private_topic):
    table = f"bc_{uuid.uuid4().hex[:8]}"
    sql(
        f"""
        create table public.{table} (id int primary key, title text);
        create function public.{table}_broadcast() returns trigger language plpgsql as $$
        begin
          perform realtime.broadcast_changes(
            '{private_topic}:' || coalesce(new.id, old.id), tg_op, tg_op,
            tg_table_name, tg_table_schema, new, old);
          return null;
        end $$;
        create trigger {table}_broadcast after insert or update or delete on public.{table}
          for each row execute function public.{table}_broadcast();
        """
    )
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    token = mint("authenticated", sub=str(uuid.uuid4()))
    reply = await join(w, f"{private_topic}:7", {"private": True}, token)
    assert reply["payload"]["status"] == "ok"
    sql(f"insert into public.{table} values (7, 'first')")
    sql(f"update public.{table} set title = 'second' where id = 7")
    got = [(await w.recv_event("broadcast"))["payload"] for _ in range(2)]
    for p in got:
        assert p["meta"]["id"] == p["payload"].pop("id")  # realtime.send adds the row's id
    assert [(p["event"], p["type"]) for p in got] == [
        ("INSERT", "broadcast"),
        ("UPDATE", "broadcast"),
    ]
    assert got[0]["payload"] == {
        "operation": "INSERT",
        "table": table,
        "schema": "public",
        "record": {"id": 7, "title": "first"},
        "old_record": None,
    }
    assert got[1]["payload"]["old_record"] == {"id": 7, "title": "first"}
    assert got[1]["payload"]["record"] == {"id": 7, "title": "second"}
    await w.close()


async def test_send_binary_reaches_vsn2_only(sandbox, sql):
    topic = f"bin-{uuid.uuid4().hex[:8]}"
    v2 = await Wire.open(sandbox.url, sandbox.anon_key, vsn="2.0.0")
    v1 = await Wire.open(sandbox.url, sandbox.anon_key)
    await v2.send(f"realtime:{topic}", "phx_join", {"config": {}}, ref="1", join_ref="1")
    await v2.recv()
    await v1.join(topic)
    sql("select realtime.send_binary('\\x00ff10'::bytea, 'blob', %s, false)", topic)
    frame = await v2.recv()
    t, e = f"realtime:{topic}".encode(), b"blob"
    assert frame[:5] == bytes([4, len(t), len(e), frame[3], 0])  # kind 4, encoding 0: binary
    meta_len = frame[3]
    meta = json.loads(frame[5 + len(t) + len(e) : 5 + len(t) + len(e) + meta_len])
    assert frame[5 : 5 + len(t)] == t and list(meta) == ["id"]
    assert frame[-3:] == b"\x00\xff\x10"
    await v1.silent(0.3)  # a vsn 1 socket cannot represent a binary payload
    for w in (v1, v2):
        await w.close()


# --- REST ---------------------------------------------------------------------------------------


async def test_rest_single_endpoint_refuses_a_private_topic_without_write(
    sandbox, mint, private_topic
):
    token = mint("authenticated", sub=str(uuid.uuid4()))
    async with aiohttp.ClientSession() as s:
        for topic, key, status in (
            ("nobody-may-write", token, 403),
            ("nobody-may-write", sandbox.anon_key, 403),
            (f"{private_topic}:ok", token, 202),
            ("nobody-may-write", sandbox.service_role_key, 202),  # bypasses RLS
        ):
            url = f"{sandbox.url}/realtime/v1/api/broadcast/{topic}/events/e?private=true"
            headers = {"apikey": sandbox.anon_key, "Authorization": f"Bearer {key}"}
            async with s.post(url, json={"a": 1}, headers=headers) as r:
                assert r.status == status, (topic, status)
                if status == 403:
                    assert await r.json() == {"message": "Unauthorized"}
    # realtime-py's http_send on a private channel raises on the 403
    c = AsyncRealtimeClient(sandbox.ws_url, token, max_retries=1)
    ch = c.channel("nobody-may-write", {"config": {"private": True}})
    with pytest.raises(RealtimeHTTPError):
        await ch.http_send("e", {"a": 1})


@pytest.mark.parametrize("path", ["/broadcast", "/broadcast/room/events/e"])
@pytest.mark.parametrize("prefix", ["/realtime/v1/api", "/api"])
async def test_rest_broadcast_routes_answer_cors(sandbox, path, prefix):
    url = sandbox.url + prefix + path
    async with aiohttp.ClientSession() as s:
        preflight = {
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, apikey, content-type, x-client-info",
        }
        async with s.options(url, headers=preflight) as r:
            assert r.status == 200
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in r.headers["Access-Control-Allow-Methods"]
            assert "x-client-info" in r.headers["Access-Control-Allow-Headers"]
        body = {"messages": [{"topic": "room", "event": "e", "payload": {}}]}
        headers = {"Origin": "https://app.example", "apikey": sandbox.anon_key}
        async with s.post(url, json=body if path == "/broadcast" else {}, headers=headers) as r:
            assert r.status == 202
            assert r.headers["Access-Control-Allow-Origin"] == "*"


async def test_ping(sandbox):
    async with aiohttp.ClientSession() as s:
        for path in ("/realtime/v1/api/ping", "/api/ping"):
            async with s.get(sandbox.url + path) as r:
                assert (r.status, await r.json()) == (200, {"message": "Success"})


# --- presence replies ---------------------------------------------------------------------------


@pytest.mark.parametrize("vsn", VSNS)
async def test_presence_denied_write_and_unknown_event_reply_a_bare_error(
    sandbox, mint, private_topic, vsn
):
    token = mint("authenticated", sub=str(uuid.uuid4()))
    w = await Wire.open(sandbox.url, sandbox.anon_key, vsn=vsn)
    topic = f"realtime:{private_topic}:presence"
    reply = await join(w, f"{private_topic}:presence", {"private": True}, token)
    assert payload_of(reply)["status"] == "ok"
    error = {"status": "error", "response": {}}  # §13.1.10
    for payload in ({"event": "track", "payload": {"a": 1}}, {"event": "wave"}):
        ref = await w.send(topic, "presence", payload, join_ref="1")
        frame = await w.recv()
        assert event_of(frame) == "phx_reply" and payload_of(frame) == error
        assert (frame["ref"] if vsn == "1.0.0" else frame[1]) == ref
    ref = await w.send(topic, "presence", {"event": "untrack"}, join_ref="1")
    assert payload_of(await w.recv()) == {"status": "ok", "response": {}}
    await w.close()


@pytest.mark.js
@pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0"])
def test_supabase_js_track_resolves_error_without_presence_write(
    node, sandbox, mint, private_topic, vsn
):
    cfg = {
        "url": sandbox.url,
        "key": sandbox.anon_key,
        "vsn": vsn,
        "topic": f"{private_topic}:track",
        "jwt": mint("authenticated", sub=str(uuid.uuid4())),
    }
    r = run_node_script(
        node,
        ["features.mjs", "presence_denied", json.dumps(cfg)],
        on_line=lambda line, _stdin: None,
        timeout=30,
        label=f"features.mjs presence_denied (vsn {vsn})",
    )
    assert r["vsn"] == vsn and r["statuses"] == ["SUBSCRIBED"], r
    assert r["track"] == "error" and r["state"] == "joined"


# --- fault hooks, seen by supabase-js -----------------------------------------------------------


@pytest.mark.js
@pytest.mark.parametrize("vsn", ["2.0.0", "1.0.0"])
def test_supabase_js_rejoins_after_phx_error_and_a_drain(node, sandbox, vsn):
    """The sandbox's fault hooks as realtime-js meets them: phx_error makes the channel rejoin;
    the drain's system message (no `channel` key) reaches system listeners, and after the 1012
    close the client reconnects and joins again."""
    import urllib.request

    topic = f"faults-{uuid.uuid4().hex[:8]}"

    def hook(path: str, body: dict) -> None:
        request = urllib.request.Request(
            sandbox.url + path,
            data=json.dumps(body).encode(),
            headers={"apikey": sandbox.service_role_key, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def on_line(line: str, _stdin) -> None:
        if line == "FAULT 1":
            hook("/sandbox/v1/phx_error", {"topic": topic})
        elif line == "FAULT 2":
            hook("/sandbox/v1/disconnect", {})

    cfg = {"url": sandbox.url, "key": sandbox.anon_key, "vsn": vsn, "topic": topic}
    r = run_node_script(
        node,
        ["features.mjs", "faults", json.dumps(cfg)],
        on_line=on_line,
        timeout=30,
        label=f"features.mjs faults (vsn {vsn})",
    )
    assert r["vsn"] == vsn
    assert r["statuses"].count("SUBSCRIBED") == 3, r["statuses"]
    assert "CHANNEL_ERROR" in r["statuses"]
    assert {"extension": "system", "message": "Server requested disconnect", "status": "ok"} in r[
        "system"
    ]
