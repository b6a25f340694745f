"""The official Python clients (realtime-py 2.34.1, supabase-py 2.34.1) against the sandbox.

Each test drives the client exactly as an application would and asserts on what its callbacks
saw. The sandbox must be indistinguishable from Supabase to these clients.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def config(**overrides) -> dict:
    cfg = {
        "broadcast": {"ack": False, "self": False},
        "presence": {"key": "", "enabled": False},
        "private": False,
    }
    cfg.update(overrides)
    return {"config": cfg}


async def wait_for(predicate, timeout: float = 5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the client")
        await asyncio.sleep(0.02)


@pytest.fixture
async def client(sandbox):
    clients: list[AsyncRealtimeClient] = []

    async def make(token: str | None = None) -> AsyncRealtimeClient:
        c = AsyncRealtimeClient(
            sandbox.ws_url, token or sandbox.anon_key, max_retries=2, initial_backoff=0.2
        )
        await c.connect()
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()


async def test_subscribe_reports_subscribed(client):
    c = await client()
    states = []
    await c.channel("py-sub", config()).subscribe(lambda s, e: states.append((s, e)))
    assert states == [(RealtimeSubscribeStates.SUBSCRIBED, None)]


async def test_broadcast_self_and_other_receiver(client):
    a, b = await client(), await client()
    got_a, got_b = [], []
    ch_a = a.channel("py-bc", config(broadcast={"ack": True, "self": True}))
    ch_a.on_broadcast("hello", got_a.append)
    await ch_a.subscribe()
    ch_b = b.channel("py-bc", config())
    ch_b.on_broadcast("*", got_b.append)
    await ch_b.subscribe()
    await ch_a.send_broadcast("hello", {"a": 1})
    await wait_for(lambda: got_a and got_b)
    assert got_a == [{"event": "hello", "payload": {"a": 1}}]
    assert got_b == [{"event": "hello", "payload": {"a": 1}}]
    await ch_a.http_send("rest", {"via": "http"})  # REST single-event endpoint: 202
    await wait_for(lambda: len(got_b) == 2)
    assert got_b[1] == {"event": "rest", "payload": {"via": "http"}}


async def test_presence_sync_join_leave(client):
    a, b = await client(), await client()
    joins, leaves, syncs = [], [], []
    ch_b = b.channel("py-presence", config(presence={"key": "bob", "enabled": True}))
    ch_b.on_presence_sync(lambda: syncs.append(dict(ch_b.presence_state())))
    ch_b.on_presence_join(lambda key, cur, new: joins.append((key, [p["user"] for p in new])))
    ch_b.on_presence_leave(lambda key, cur, left: leaves.append((key, [p["user"] for p in left])))
    await ch_b.subscribe()
    ch_a = a.channel("py-presence", config(presence={"key": "alice", "enabled": True}))
    await ch_a.subscribe()
    await ch_a.track({"user": "alice"})
    await wait_for(lambda: joins)
    assert joins == [("alice", ["alice"])]
    assert set(ch_b.presence_state()) == {"alice"}
    [alice] = ch_b.presence_state()["alice"]
    assert alice["user"] == "alice" and "presence_ref" in alice
    await ch_a.untrack()
    await wait_for(lambda: leaves)
    assert leaves == [("alice", ["alice"])]
    assert ch_b.presence_state() == {}
    assert len(syncs) >= 3  # state on join, then one per diff


@pytest.fixture(scope="module")
def todo_table(sql):
    name = f"py_todos_{uuid.uuid4().hex[:8]}"
    sql(
        f"create table public.{name} (id int primary key, title text, done bool default false, "
        f"n int8, tags text[], meta jsonb, at timestamptz default now())"
    )
    sql(f"alter publication supabase_realtime add table public.{name}")
    return name


async def test_postgres_changes_insert_update_delete_with_filter(client, sql, todo_table):
    c = await client()
    events = []
    ch = c.channel("py-pg", config())
    ch.on_postgres_changes("*", events.append, table=todo_table, schema="public", filter="id=gt.10")
    states = []
    await ch.subscribe(lambda s, e: states.append((s, e)))
    assert states == [(RealtimeSubscribeStates.SUBSCRIBED, None)]
    await asyncio.sleep(0.2)  # the system "Subscribed to PostgreSQL" message precedes changes
    sql(
        f"insert into public.{todo_table} (id, title, n, tags, meta) values "
        "(5, 'filtered out', 1, '{a}', '{}'), "
        "(11, 'kept', 9007199254740993, '{x,y}', '{\"k\": [1]}')"
    )
    sql(f"update public.{todo_table} set done = true where id in (5, 11)")
    sql(f"delete from public.{todo_table} where id in (5, 11)")
    await wait_for(lambda: len(events) == 3)
    await asyncio.sleep(0.2)
    assert len(events) == 3
    ins, upd, dele = (e["data"] for e in events)
    assert [ins["type"], upd["type"], dele["type"]] == ["INSERT", "UPDATE", "DELETE"]
    assert ins["record"]["id"] == 11 and ins["record"]["title"] == "kept"
    assert ins["record"]["n"] == 9007199254740993 and ins["record"]["tags"] == ["x", "y"]
    assert ins["record"]["meta"] == {"k": [1]} and ins["record"]["done"] is False
    assert "old_record" not in ins or ins.get("old_record") is None
    assert upd["record"]["done"] is True and upd["old_record"] == {"id": 11}
    assert dele["old_record"] == {"id": 11} and dele.get("record") is None
    assert [c["name"] for c in ins["columns"]] == ["id", "title", "done", "n", "tags", "meta", "at"]
    assert [c["type"] for c in ins["columns"]] == [
        "int4",
        "text",
        "bool",
        "int8",
        "_text",
        "jsonb",
        "timestamptz",
    ]
    for d in (ins, upd, dele):
        assert d["schema"] == "public" and d["table"] == todo_table and d["errors"] is None
        assert TS.match(d["commit_timestamp"]), d["commit_timestamp"]
    assert all(e["ids"] == events[0]["ids"] for e in events)


async def test_two_bindings_on_one_channel_get_their_own_ids(client, sql, todo_table):
    c = await client()
    inserts, deletes = [], []
    ch = c.channel("py-pg-two", config())
    ch.on_postgres_changes("INSERT", inserts.append, table=todo_table)
    ch.on_postgres_changes("DELETE", deletes.append, table=todo_table)
    await ch.subscribe()
    await asyncio.sleep(0.2)
    sql(f"insert into public.{todo_table} (id, title) values (100, 'x')")
    sql(f"update public.{todo_table} set title = 'y' where id = 100")
    sql(f"delete from public.{todo_table} where id = 100")
    await wait_for(lambda: inserts and deletes)
    await asyncio.sleep(0.2)
    assert [e["data"]["type"] for e in inserts] == ["INSERT"]
    assert [e["data"]["type"] for e in deletes] == ["DELETE"]
    assert inserts[0]["ids"] != deletes[0]["ids"]


async def test_unsubscribe_closes_and_remove_channel(client):
    c = await client()
    states = []
    ch = c.channel("py-leave", config())
    await ch.subscribe(lambda s, e: states.append(s))
    await ch.unsubscribe()
    await wait_for(lambda: RealtimeSubscribeStates.CLOSED in states)
    assert states == [RealtimeSubscribeStates.SUBSCRIBED, RealtimeSubscribeStates.CLOSED]


async def test_bad_key_is_refused(sandbox):
    c = AsyncRealtimeClient(sandbox.ws_url, "not-a-valid-key", max_retries=1, initial_backoff=0.1)
    with pytest.raises(Exception) as info:
        await c.connect()
    assert "Failed to establish" in str(info.value) or "401" in str(info.value)


async def test_client_survives_a_malformed_frame_from_a_peer_socket(client, sandbox):
    from wire import Wire

    c = await client()
    got = []
    ch = c.channel("py-malformed", config())
    ch.on_broadcast("*", got.append)
    await ch.subscribe()
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    await w.ws.send_str("{{{{ not json")
    jr, _ = await w.join("py-malformed")
    await w.send(
        "realtime:py-malformed",
        "broadcast",
        {"type": "broadcast", "event": "after", "payload": {"ok": True}},
        join_ref=jr,
    )
    await wait_for(lambda: got)
    assert got == [{"event": "after", "payload": {"ok": True}}]
    await w.close()


async def test_supabase_py_client_works_unchanged(sandbox, sql):
    from supabase import acreate_client

    sb = await acreate_client(sandbox.url, sandbox.anon_key)
    got = []
    ch = sb.channel("supabase-py")
    ch.on_broadcast("ping", got.append)
    states = []
    await ch.subscribe(lambda s, e: states.append(s))
    assert states == [RealtimeSubscribeStates.SUBSCRIBED]
    await ch.http_send("ping", {"n": 1})
    await wait_for(lambda: got)
    assert got == [{"event": "ping", "payload": {"n": 1}}]
    await sb.remove_all_channels()
