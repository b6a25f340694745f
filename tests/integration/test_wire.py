"""The sandbox's wire protocol, frame by frame, against the reference's exact shapes and strings.

One module, long as it is: it follows the reference section by section, and the raw-socket
helpers it shares would otherwise be imported across several files for no gain."""

from __future__ import annotations

import asyncio
import json
import struct

import aiohttp
from wire import Wire


async def stats(sandbox) -> dict:
    async with aiohttp.ClientSession() as s, s.get(sandbox.url + "/sandbox/v1/stats") as r:
        return await r.json()


async def test_heartbeat_reply_echoes_ref_even_when_null(sandbox):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    await w.send("phoenix", "heartbeat", {}, ref=None)
    await w.ws.send_str(
        json.dumps(
            {"event": "heartbeat", "payload": {}, "topic": "phoenix", "ref": None, "join_ref": None}
        )
    )
    assert await w.recv() == {
        "topic": "phoenix",
        "event": "phx_reply",
        "payload": {"status": "ok", "response": {}},
        "ref": "1",
    }
    assert await w.recv() == {
        "topic": "phoenix",
        "event": "phx_reply",
        "payload": {"status": "ok", "response": {}},
        "ref": None,
    }
    await w.close()


async def test_join_reply_echoes_bindings_in_order_with_stable_ids_then_system_ok(sandbox, sql):
    sql("create table if not exists public.wire_todos (id int primary key, title text)")
    sql(
        "do $$ begin if not exists (select from pg_publication_tables where tablename='wire_todos')"
        " then alter publication supabase_realtime add table public.wire_todos; end if; end $$"
    )
    bindings = [
        {"event": "INSERT", "schema": "public", "table": "wire_todos"},
        {"event": "*", "schema": "public", "table": "wire_todos", "filter": "id=eq.1"},
    ]
    ids = []
    for _ in range(2):
        w = await Wire.open(sandbox.url, sandbox.anon_key)
        ref, reply = await w.join("wire-join", {"postgres_changes": bindings})
        assert reply["ref"] == ref and reply["topic"] == "realtime:wire-join"
        assert "join_ref" not in reply  # the V1 serializer never sends join_ref
        echoed = reply["payload"]["response"]["postgres_changes"]
        assert [{k: v for k, v in b.items() if k != "id"} for b in echoed] == bindings
        assert all(isinstance(b["id"], int) for b in echoed)
        ids.append([b["id"] for b in echoed])
        system = await w.recv_event("system")
        assert system == {
            "topic": "realtime:wire-join",
            "event": "system",
            "ref": None,
            "payload": {
                "channel": "wire-join",
                "extension": "postgres_changes",
                "message": "Subscribed to PostgreSQL",
                "status": "ok",
            },
        }
        await w.close()
    assert ids[0] == ids[1] and ids[0][0] != ids[0][1]


async def test_join_without_bindings_replies_empty_list_and_no_system(sandbox):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    _, reply = await w.join("wire-plain")
    assert reply["payload"] == {"status": "ok", "response": {"postgres_changes": []}}
    await w.silent()
    await w.close()


async def test_empty_topic_unmatched_topic_and_leave_of_unjoined(sandbox):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    _, reply = await w.join("")
    assert reply["payload"] == {
        "status": "error",
        "response": {"reason": "TopicNameRequired: You must provide a topic name"},
    }
    ref = await w.send(
        "realtime:nowhere", "broadcast", {"type": "broadcast", "event": "x", "payload": {}}
    )
    assert await w.recv() == {
        "topic": "realtime:nowhere",
        "event": "phx_reply",
        "ref": ref,
        "payload": {"status": "error", "response": {"reason": "unmatched topic"}},
    }
    ref = await w.send("realtime:nowhere", "phx_leave", {})
    assert (await w.recv())["payload"] == {"status": "ok", "response": {}}
    await w.close()


async def test_leave_replies_ok_then_closes_with_join_ref(sandbox):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    join_ref, _ = await w.join("wire-leave")
    leave_ref = await w.send("realtime:wire-leave", "phx_leave", {}, join_ref=join_ref)
    assert await w.recv() == {
        "topic": "realtime:wire-leave",
        "event": "phx_reply",
        "ref": leave_ref,
        "payload": {"status": "ok", "response": {}},
    }
    assert await w.recv() == {
        "topic": "realtime:wire-leave",
        "event": "phx_close",
        "payload": {},
        "ref": join_ref,
    }
    await w.close()


async def test_duplicate_join_replies_first_then_closes_the_old_join(sandbox):
    """Phoenix queues the old join's phx_close and handles the new join first (§13.1.4)."""
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    first, _ = await w.join("wire-dup")
    topic = "realtime:wire-dup"
    second = await w.send(topic, "phx_join", {"config": {}}, join_ref="99", ref="99")
    reply = await w.recv()
    assert reply["event"] == "phx_reply" and reply["ref"] == second
    assert reply["payload"]["status"] == "ok"
    assert await w.recv() == {"topic": topic, "event": "phx_close", "payload": {}, "ref": first}
    await w.close()


async def test_broadcast_fan_out_self_and_ack(sandbox):
    a = await Wire.open(sandbox.url, sandbox.anon_key)
    b = await Wire.open(sandbox.url, sandbox.anon_key)
    c = await Wire.open(sandbox.url, sandbox.anon_key)
    ja, _ = await a.join("wire-bc", {"broadcast": {"self": True, "ack": "TRUE"}})
    jb, _ = await b.join("wire-bc", {"broadcast": {"self": False, "ack": False}})
    await c.join("wire-bc-other")
    msg = {"type": "broadcast", "event": "hello", "payload": {"a": 1, "nested": [1, "x", None]}}
    ref = await a.send("realtime:wire-bc", "broadcast", msg, join_ref=ja)
    got = [await a.recv(), await a.recv()]
    assert {"topic": "realtime:wire-bc", "event": "broadcast", "payload": msg, "ref": None} in got
    assert {
        "topic": "realtime:wire-bc",
        "event": "phx_reply",
        "ref": ref,
        "payload": {"status": "ok", "response": {}},
    } in got
    assert await b.recv() == {
        "topic": "realtime:wire-bc",
        "event": "broadcast",
        "payload": msg,
        "ref": None,
    }
    # b has neither self nor ack: its own send produces nothing for itself, a receives it
    await b.send("realtime:wire-bc", "broadcast", msg, join_ref=jb)
    await b.silent()
    assert (await a.recv())["payload"] == msg
    await c.silent(0.1)
    for w in (a, b, c):
        await w.close()


async def test_broadcast_payload_size_limit(sandbox):
    a = await Wire.open(sandbox.url, sandbox.anon_key)
    ja, _ = await a.join("wire-big", {"broadcast": {"ack": True}})
    big = {"type": "broadcast", "event": "big", "payload": {"blob": "x" * (257 * 1024)}}
    ref = await a.send("realtime:wire-big", "broadcast", big, join_ref=ja)
    assert await a.recv() == {
        "topic": "realtime:wire-big",
        "event": "phx_reply",
        "ref": ref,
        "payload": {"status": "error", "response": "payload_size_exceeded"},  # §13.1.1
    }
    await a.close()


async def test_presence_state_diff_to_all_including_tracker_and_leave_on_disconnect(sandbox):
    a = await Wire.open(sandbox.url, sandbox.anon_key)
    b = await Wire.open(sandbox.url, sandbox.anon_key)
    ja, _ = await a.join("wire-presence", {"presence": {"key": "alice", "enabled": True}})
    assert await a.recv() == {
        "topic": "realtime:wire-presence",
        "event": "presence_state",
        "payload": {},
        "ref": None,
    }
    ref = await a.send(
        "realtime:wire-presence",
        "presence",
        {"type": "presence", "event": "TRACK", "payload": {"online": True}},
        join_ref=ja,
    )
    frames = [await a.recv(), await a.recv()]
    assert {
        "topic": "realtime:wire-presence",
        "event": "phx_reply",
        "ref": ref,
        "payload": {"status": "ok", "response": {}},
    } in frames
    diff = next(f for f in frames if f["event"] == "presence_diff")["payload"]
    assert diff["leaves"] == {}
    [meta] = diff["joins"]["alice"]["metas"]
    assert meta["online"] is True and isinstance(meta["phx_ref"], str)
    # a late joiner gets the state with alice's meta
    await b.join("wire-presence", {"presence": {"key": "bob", "enabled": True}})
    state = await b.recv_event("presence_state")
    assert state["payload"] == {"alice": {"metas": [meta]}}
    # tracking the same payload again is a no-op; a new payload is a leave+join with phx_ref_prev
    await a.send(
        "realtime:wire-presence",
        "presence",
        {"event": "track", "payload": {"online": True}},
        join_ref=ja,
    )
    assert (await a.recv())["event"] == "phx_reply"
    await a.silent(0.2)
    await a.send(
        "realtime:wire-presence",
        "presence",
        {"event": "track", "payload": {"online": False}},
        join_ref=ja,
    )
    update = (await b.recv_event("presence_diff"))["payload"]
    assert update["leaves"] == {"alice": {"metas": [meta]}}
    [new_meta] = update["joins"]["alice"]["metas"]
    assert new_meta["online"] is False and new_meta["phx_ref_prev"] == meta["phx_ref"]
    assert (await a.recv_event("presence_diff"))["payload"] == update  # the tracker gets it too
    # a non-map payload is refused and the socket stays alive
    ref = await a.send(
        "realtime:wire-presence", "presence", {"event": "track", "payload": [1, 2]}, join_ref=ja
    )
    err = await a.recv_event("phx_reply")
    assert err["payload"] == {
        "status": "error",
        "response": {"reason": "Presence track payload must be a map"},
    }
    await a.close()
    gone = (await b.recv_event("presence_diff"))["payload"]
    assert gone["joins"] == {} and list(gone["leaves"]) == ["alice"]
    await b.close()


async def test_channel_limit_per_connection(fresh_sandbox):
    sb = fresh_sandbox("--max-channels", "3")
    w = await Wire.open(sb.url, sb.anon_key)
    for i in range(3):
        _, reply = await w.join(f"limit-{i}")
        assert reply["payload"]["status"] == "ok"
    _, reply = await w.join("limit-3")
    assert reply["payload"] == {
        "status": "error",
        "response": {"reason": "ChannelRateLimitReached: Too many channels"},
    }
    await w.close()


async def test_malformed_frames_are_counted_and_the_socket_survives(sandbox):
    before = (await stats(sandbox))["malformed_frames"]
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    await w.ws.send_str("this is not json")
    await w.ws.send_str("[1,2,3]")
    await w.ws.send_str('{"topic": 5}')
    await w.ws.send_bytes(b"\x07\x00garbage")
    await w.send("phoenix", "heartbeat", {})
    assert (await w.recv())["payload"] == {"status": "ok", "response": {}}
    assert (await stats(sandbox))["malformed_frames"] == before + 4
    await w.close()


async def test_refused_connections_are_401_with_the_servers_wording(sandbox, mint):
    cases = {
        "": "API key is missing",
        "not-a-jwt": "The token provided is not a valid JWT",
        mint("anon", ttl=-10): "Token has expired",
        mint("anon") + "x": "Failed to validate JWT signature",
    }
    import jwt as pyjwt

    cases[pyjwt.encode({"sub": "x"}, sandbox.jwt_secret, algorithm="HS256")] = (
        "Fields `role` and `exp` are required in JWT"
    )
    async with aiohttp.ClientSession() as s:
        for key, message in cases.items():
            url = sandbox.url + f"/realtime/v1/websocket?apikey={key}&vsn=1.0.0"
            headers = {
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            }
            async with s.get(url, headers=headers) as r:
                assert r.status == 401, key
                assert await r.json() == {"error": message}


async def test_join_with_expired_access_token_is_refused(sandbox, mint):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    _, reply = await w.join("wire-expired", access_token=mint("authenticated", ttl=-30))
    reason = reply["payload"]["response"]["reason"]
    assert reply["payload"]["status"] == "error"
    assert reason.startswith("InvalidJWTToken: Token has expired ") and reason.endswith(
        " seconds ago"
    )
    await w.close()


async def test_bad_access_token_push_shuts_the_channel(sandbox):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    jr, _ = await w.join("wire-token")
    await w.send("realtime:wire-token", "access_token", {"access_token": "garbage"}, join_ref=jr)
    system = await w.recv()
    assert system["event"] == "system" and system["payload"] == {
        "channel": "wire-token",
        "extension": "system",
        "status": "error",
        "message": "The token provided is not a valid JWT",
    }
    assert await w.recv() == {
        "topic": "realtime:wire-token",
        "event": "phx_close",
        "payload": {},
        "ref": jr,
    }
    await w.close()


async def test_bad_filter_and_unknown_table_are_system_errors_not_join_errors(sandbox):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    _, reply = await w.join(
        "wire-badfilter",
        {
            "postgres_changes": [
                {"event": "*", "schema": "public", "table": "wire_todos", "filter": "wrong"}
            ]
        },
    )
    assert reply["payload"]["status"] == "ok"
    system = await w.recv_event("system")
    assert system["payload"]["status"] == "error"
    assert system["payload"]["message"] == 'Error parsing `filter` params: ["wrong"]'
    _, reply = await w.join(
        "wire-notable",
        {"postgres_changes": [{"event": "*", "schema": "public", "table": "doesnotexist"}]},
    )
    system = await w.recv_event("system")
    assert system["payload"]["message"].startswith(
        "Unable to subscribe to changes with given parameters."
    )
    assert "table: doesnotexist" in system["payload"]["message"]
    await w.close()


async def test_vsn2_arrays_and_binary_user_broadcast(sandbox):
    v2 = await Wire.open(sandbox.url, sandbox.anon_key, vsn="2.0.0")
    v2b = await Wire.open(sandbox.url, sandbox.anon_key, vsn="2.0.0")
    v1 = await Wire.open(sandbox.url, sandbox.anon_key)
    ref = await v2.send(
        "realtime:wire-v2",
        "phx_join",
        {"config": {"broadcast": {"ack": True}}},
        ref="6",
        join_ref="6",
    )
    assert await v2.recv() == [
        "6",
        ref,
        "realtime:wire-v2",
        "phx_reply",
        {"status": "ok", "response": {"postgres_changes": []}},
    ]
    await v2b.send("realtime:wire-v2", "phx_join", {"config": {}}, ref="1", join_ref="1")
    await v2b.recv()
    await v1.join("wire-v2")
    # kind 3 from a vsn 2 client, exactly as realtime-js sends channel.send()
    topic, event, body = b"realtime:wire-v2", b"hello", b'{"a":1}'
    frame = bytes([3, 1, 1, len(topic), len(event), 0, 1]) + b"6" + b"7" + topic + event + body
    await v2.ws.send_bytes(frame)
    assert await v2.recv() == [
        "6",
        "7",
        "realtime:wire-v2",
        "phx_reply",
        {"status": "ok", "response": {}},
    ]
    assert (
        await v2b.recv() == b"\x04" + bytes([len(topic), len(event), 0, 1]) + topic + event + body
    )
    assert await v1.recv() == {
        "topic": "realtime:wire-v2",
        "event": "broadcast",
        "ref": None,
        "payload": {"event": "hello", "payload": {"a": 1}, "type": "broadcast"},
    }
    # a JSON broadcast from vsn 1 reaches vsn 2 as a text array with null refs
    msg = {"type": "broadcast", "event": "json", "payload": {"b": 2}}
    await v1.send("realtime:wire-v2", "broadcast", msg)
    assert await v2b.recv() == [None, None, "realtime:wire-v2", "broadcast", msg]
    assert await v2.recv() == [None, None, "realtime:wire-v2", "broadcast", msg]
    # heartbeat in vsn 2
    await v2.send("phoenix", "heartbeat", {}, ref="9")
    assert await v2.recv() == [None, "9", "phoenix", "phx_reply", {"status": "ok", "response": {}}]
    for w in (v2, v2b, v1):
        await w.close()


async def test_rest_broadcast_batch_and_single(sandbox):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    await w.join("wire-rest")
    headers = {"apikey": sandbox.anon_key, "Authorization": f"Bearer {sandbox.anon_key}"}
    async with aiohttp.ClientSession() as s:
        body = {
            "messages": [{"topic": "wire-rest", "event": "hello", "payload": {"a": 1}, "id": "m1"}]
        }
        async with s.post(
            sandbox.url + "/realtime/v1/api/broadcast?apikey=x&vsn=2.0.0",
            json=body,
            headers=headers,
        ) as r:
            assert r.status == 202 and await r.read() == b""
        assert (await w.recv())["payload"] == {
            "event": "hello",
            "payload": {"a": 1},
            "type": "broadcast",
            "meta": {"id": "m1"},
        }
        async with s.post(
            sandbox.url + "/api/broadcast", json={"messages": [{"topic": "t"}]}, headers=headers
        ) as r:
            assert r.status == 422
        async with s.post(
            sandbox.url + "/realtime/v1/api/broadcast/wire-rest/events/single",
            json={"n": 5},
            headers=headers,
        ) as r:
            assert r.status == 202
        assert (await w.recv())["payload"] == {
            "event": "single",
            "payload": {"n": 5},
            "type": "broadcast",
        }
        async with s.post(sandbox.url + "/api/broadcast", json=body) as r:
            assert r.status == 401
    await w.close()


async def test_realtime_send_from_sql_reaches_private_subscribers_with_meta_id(sandbox, sql, mint):
    sql("drop policy if exists wire_private_read on realtime.messages")
    sql(
        "create policy wire_private_read on realtime.messages for select to authenticated "
        "using (realtime.topic() = 'wire-private' and extension = 'broadcast')"
    )
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    _, refused = await w.join("wire-private", {"private": True})
    assert refused["payload"] == {
        "status": "error",
        "response": {
            "reason": "Unauthorized: You do not have permissions to read from this "
            "Channel topic: wire-private"
        },
    }
    token = mint("authenticated", sub="3f1b2c4d-0000-4000-8000-000000000001")
    _, ok = await w.join("wire-private", {"private": True}, access_token=token)
    assert ok["payload"]["status"] == "ok"
    sql("select realtime.send('{\"text\": \"hi\"}'::jsonb, 'chat:message', 'wire-private', true)")
    got = await w.recv_event("broadcast")
    payload = got["payload"]
    assert payload["event"] == "chat:message" and payload["type"] == "broadcast"
    assert payload["payload"]["text"] == "hi"
    assert payload["meta"]["id"] == payload["payload"]["id"]
    await w.close()


async def test_delete_on_an_rls_table_carries_only_the_primary_key(sandbox, sql, mint):
    """Supabase cannot check RLS for a row that is gone, so it sends a DELETE to every matching
    subscriber but cuts `old_record` to the primary key, even under REPLICA IDENTITY FULL.
    Without RLS the whole old row goes out."""
    owner = "3f1b2c4d-0000-4000-8000-0000000000d1"
    sql(
        f"""
        drop table if exists public.wire_secrets, public.wire_open;
        create table public.wire_secrets (id int primary key, owner uuid, secret text);
        alter table public.wire_secrets replica identity full;
        alter table public.wire_secrets enable row level security;
        create policy own on public.wire_secrets for select to authenticated
          using (owner = (select auth.uid()));
        grant select on public.wire_secrets to authenticated;
        create table public.wire_open (id int primary key, secret text);
        alter table public.wire_open replica identity full;
        select seed.publish('public', array['wire_secrets', 'wire_open']);
        insert into public.wire_secrets values (1, '{owner}', 'mine'), (2, null, 'theirs');
        insert into public.wire_open values (1, 'open');
        """
    )
    bindings = [
        {"event": "DELETE", "schema": "public", "table": "wire_secrets"},
        {"event": "DELETE", "schema": "public", "table": "wire_open"},
    ]
    sockets = []
    try:
        for token in (mint("authenticated", sub=owner), sandbox.service_role_key):
            w = await Wire.open(sandbox.url, sandbox.anon_key)
            sockets.append(w)
            _, reply = await w.join(
                "wire-deletes", {"postgres_changes": bindings}, access_token=token
            )
            assert reply["payload"]["status"] == "ok", reply
            assert (await w.recv_event("system"))["payload"]["status"] == "ok"
        sql("delete from public.wire_secrets where id = 2")
        sql("delete from public.wire_open where id = 1")
        for w in sockets:
            first = (await w.recv_event("postgres_changes"))["payload"]["data"]
            assert (first["table"], first["type"]) == ("wire_secrets", "DELETE")
            assert first["old_record"] == {"id": 2}, "another user's secret must not leak"
            second = (await w.recv_event("postgres_changes"))["payload"]["data"]
            assert second["table"] == "wire_open"
            assert second["old_record"] == {"id": 1, "secret": "open"}
    finally:
        for w in sockets:
            await w.close()


async def test_drain_hook_sends_system_and_closes_1012(sandbox):
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    await w.join("wire-drain")
    async with aiohttp.ClientSession() as s:
        async with s.post(
            sandbox.url + "/sandbox/v1/disconnect", headers={"apikey": sandbox.anon_key}
        ) as r:
            assert r.status == 403
        task = asyncio.ensure_future(
            s.post(
                sandbox.url + "/sandbox/v1/disconnect", headers={"apikey": sandbox.service_role_key}
            )
        )
        system = await w.recv_event("system")
        assert system["payload"] == {  # UserSocket.disconnect/1: no `channel` key (§13.1.5)
            "extension": "system",
            "message": "Server requested disconnect",
            "status": "ok",
        }
        closing = await w.ws.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert w.ws.close_code == 1012
        (await task).close()
    await w.session.close()


def test_kind4_layout_helper_matches_reference_example():
    # b'\x04\x0e\x05\x00\x01realtime:room1hello{"a":1}' is the frame realtime-js accepted
    from sandbox.serializers import v2_user_broadcast

    assert v2_user_broadcast("realtime:room1", "hello", b'{"a":1}', 1) == (
        b'\x04\x0e\x05\x00\x01realtime:room1hello{"a":1}'
    )
    assert struct.unpack("B", b"\x04")[0] == 4


# --- what the sandbox tells a monitor to watch -----------------------------------------------


def _changes(topic: str, schema: str, table: str) -> dict:
    return {
        "topic": topic,
        "private": False,
        "presence": False,
        "presence_key": "",
        "broadcast": [],
        "postgres_changes": [{"schema": schema, "table": table, "event": "*", "filter": ""}],
    }


def _channel(topic: str, **overrides) -> dict:
    base = {
        "topic": topic,
        "private": False,
        "presence": False,
        "presence_key": "",
        "broadcast": ["*"],
        "postgres_changes": [],
    }
    return {**base, **overrides}


# The demo's channels as the monitor hard-coded them before the sandbox said them itself.
DEMO_WATCH = [
    _channel("demo"),
    _channel("demo-presence", presence=True, presence_key="realtime-monitor"),
    _channel(
        "demo-rows",
        postgres_changes=[{"schema": "public", "table": "demo_items", "event": "*", "filter": ""}],
    ),
    _channel(
        "group-live-slots",
        postgres_changes=[{"schema": "group", "table": "live_slots", "event": "*", "filter": ""}],
    ),
    _changes("task-updates", "public", "project_tasks"),
    _channel("user-presence", presence=True, presence_key="realtime-monitor"),
    _changes("incident-updates", "public", "incidents"),
    _changes("run-of-show-updates", "public", "run_of_show"),
    _changes("approval-updates", "public", "approval_requests"),
    _changes("bookings-changes", "homeser", "bookings"),
    _changes("trips-changes", "public", "trips"),
    _channel("organisers", presence=True, presence_key="realtime-monitor"),
    _channel(
        "session:20000000-0000-4000-9000-000000000001",
        private=True,
        broadcast=["chat:message", "chat:typing"],
    ),
]


async def test_ready_line_and_watch_endpoint_name_the_demo_channels(sandbox):
    assert sandbox.watch == DEMO_WATCH
    async with aiohttp.ClientSession() as s, s.get(sandbox.url + "/sandbox/v1/watch") as r:
        assert r.status == 200
        assert await r.json() == DEMO_WATCH


async def test_watch_follows_the_chosen_scenarios(fresh_sandbox):
    sb = fresh_sandbox("--scenario", "layer5", "--scenario", "basic")
    expected = [c for c in DEMO_WATCH if c["topic"] in {"demo", "demo-presence", "demo-rows"}]
    layer5 = {
        "task-updates",
        "user-presence",
        "incident-updates",
        "run-of-show-updates",
        "approval-updates",
    }
    expected += [c for c in DEMO_WATCH if c["topic"] in layer5]
    assert sb.watch == expected
    async with aiohttp.ClientSession() as s, s.get(sb.url + "/sandbox/v1/watch") as r:
        assert await r.json() == expected


async def test_a_public_member_without_presence_still_gets_presence_diffs(sandbox):
    """realtime_channel/message_dispatcher.ex (reference §13.1.3): on a public channel every member
    hears presence_diff, also one that joined with presence off; it gets no presence_state."""
    quiet = await Wire.open(sandbox.url, sandbox.anon_key)
    tracker = await Wire.open(sandbox.url, sandbox.anon_key)
    await quiet.join("wire-presence-public", {"presence": {"key": "", "enabled": False}})
    join_ref, _ = await tracker.join(
        "wire-presence-public", {"presence": {"key": "carol", "enabled": True}}
    )
    await tracker.send(
        "realtime:wire-presence-public",
        "presence",
        {"type": "presence", "event": "track", "payload": {"here": True}},
        join_ref=join_ref,
    )
    diff = await quiet.recv_event("presence_diff")
    assert list(diff["payload"]["joins"]) == ["carol"]
    await quiet.close()
    await tracker.close()


async def test_a_failed_realtime_send_warns_in_the_servers_words(sandbox, sql):
    """realtime.send swallows its error as a WARNING, WarnSendingBroadcastMessage (§13.1.12)."""
    import psycopg2

    conn = psycopg2.connect(sandbox.db_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select realtime.send('{}'::jsonb, 'e', null, false)")  # no topic: fails
        notices = " ".join(conn.notices)
    finally:
        conn.close()
    assert "WARNING:  WarnSendingBroadcastMessage: " in notices, notices
