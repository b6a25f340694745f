"""postgres_changes visibility as `realtime.apply_rls` decides it, seen by realtime-py 2.34.1 and
on the raw wire (reference §13.2; supabase-js sees the same in test_conformance_js.py).

* RLS rows are looked up by primary key only, typed, as each subscriber's role and claims.
* A table without a primary key sends `Error 400` instead of the row. realtime-py drops that
  frame (its model wants `commit_timestamp` to be a string), so an app on it never hears of it;
  the raw sockets show what the server sent, in both wire formats.
* Column privileges trim every table's rows; a primary key the role may not select is `Error 401`.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from wire import Wire


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the client")
        await asyncio.sleep(0.02)


@pytest.fixture
async def subscriber(sandbox):
    """`await subscriber(token, topic, bindings)`: a realtime-py client subscribed with the
    postgres_changes `bindings` ((event, table) pairs) as `token`'s role; returns what its
    callbacks receive, in order, and the system messages it got."""
    clients: list[AsyncRealtimeClient] = []

    async def make(token: str, topic: str, bindings: list[tuple[str, str]]):
        c = AsyncRealtimeClient(sandbox.ws_url, token, max_retries=2, initial_backoff=0.2)
        clients.append(c)
        got: list[dict] = []
        system: list = []
        ch = c.channel(topic, {"config": {"broadcast": {}, "presence": {}, "private": False}})
        for event, table in bindings:
            ch.on_postgres_changes(event, got.append, table=table, schema="public")
        ch.on_system(system.append)
        states = []
        await ch.subscribe(lambda s, e: states.append(s))
        assert states == [RealtimeSubscribeStates.SUBSCRIBED]
        await wait_for(lambda: system)  # "Subscribed to PostgreSQL": the feed is live
        return got, system

    yield make
    for c in clients:
        await c.close()


def rows(got: list[dict]) -> list[tuple[str, dict | None]]:
    return [(e["data"]["type"], e["data"].get("record")) for e in got]


async def test_owner_sees_own_insert_with_null_timestamptz_numeric_and_nobody_else(
    sandbox, sql, mint, subscriber
):
    """Under REPLICA IDENTITY FULL every column is in the replica key; comparing them all as text
    made a NULL, a timestamptz or 1.50 hide the owner's own row. Only the key is looked up."""
    table = f"py_rls_{uuid.uuid4().hex[:8]}"
    owner, other = str(uuid.uuid4()), str(uuid.uuid4())
    sql(
        f"create table public.{table} (id int primary key, owner uuid, note text,"
        f" at timestamptz, amount numeric(10, 2));"
        f"alter table public.{table} replica identity full;"
        f"alter table public.{table} enable row level security;"
        f"create policy own on public.{table} for select to authenticated"
        f" using (owner = (select auth.uid()));"
        f"alter publication supabase_realtime add table public.{table}"
    )
    binding = [("*", table)]
    mine, _ = await subscriber(mint("authenticated", sub=owner), "py-rls", binding)
    theirs, _ = await subscriber(mint("authenticated", sub=other), "py-rls", binding)
    anon, _ = await subscriber(sandbox.anon_key, "py-rls", binding)
    sql(f"insert into public.{table} values (1, %s, 'theirs', now(), 3)", other)
    sql(
        f"insert into public.{table} values (2, %s, null, '2026-03-04 05:06:07.891+02', 1.50)",
        owner,
    )
    sql(f"update public.{table} set amount = 2.25 where id = 2")
    await wait_for(lambda: len(mine) == 2 and len(theirs) == 1)
    await asyncio.sleep(0.3)  # a leak would arrive by now
    row = {"id": 2, "owner": owner, "note": None, "at": "2026-03-04T03:06:07.891+00:00"}
    assert rows(mine) == [("INSERT", {**row, "amount": 1.5}), ("UPDATE", {**row, "amount": 2.25})]
    assert mine[1]["data"]["old_record"] == {**row, "amount": 1.5}
    assert [r["id"] for _, r in rows(theirs)] == [1]
    assert anon == []


async def test_table_without_primary_key_gets_error_400_on_both_wires(sandbox, sql, subscriber):
    table = f"py_nopk_{uuid.uuid4().hex[:8]}"
    sql(
        f"create table public.{table} (a int, b text);"
        f"alter table public.{table} replica identity full;"
        f"alter publication supabase_realtime add table public.{table}"
    )
    got, _ = await subscriber(sandbox.anon_key, "py-nopk", [("*", table)])
    wires = [await Wire.open(sandbox.url, sandbox.anon_key, vsn=v) for v in ("1.0.0", "2.0.0")]
    binding = {"postgres_changes": [{"event": "*", "schema": "public", "table": table}]}
    for w in wires:
        if w.vsn == 1:
            await w.join("py-nopk-raw", binding)
        else:
            await w.send("realtime:py-nopk-raw", "phx_join", {"config": binding}, "1", "1")
        await w.recv_event("system")
    sql(f"insert into public.{table} values (1, 'secret')")
    sql(f"update public.{table} set b = 'still secret'")
    sql(f"delete from public.{table}")
    error = ["Error 400: Bad Request, no primary key"]
    base = {"schema": "public", "table": table, "commit_timestamp": None, "columns": []}
    for w in wires:
        frames = [await w.recv_event("postgres_changes") for _ in range(3)]
        datas = [(f["payload"] if w.vsn == 1 else f[4])["data"] for f in frames]
        assert datas[0] == {**base, "type": "INSERT", "errors": error, "record": {}}
        assert datas[1] == {
            **base,
            "type": "UPDATE",
            "errors": error,
            "record": {},
            "old_record": {},
        }
        assert datas[2]["old_record"] == {"a": 1, "b": "still secret"}
        await w.close()
    await wait_for(lambda: got)
    await asyncio.sleep(0.3)
    # realtime-py drops both error frames (commit_timestamp null) and gets only the DELETE
    assert [(e["data"]["type"], e["data"]["old_record"]) for e in got] == [
        ("DELETE", {"a": 1, "b": "still secret"})
    ]


async def test_a_revoked_column_never_leaves(sandbox, sql, mint, subscriber):
    table = f"py_cols_{uuid.uuid4().hex[:8]}"
    sql(
        f"create table public.{table} (id int primary key, title text, secret text);"
        f"alter table public.{table} replica identity full;"
        f"revoke all on public.{table} from anon;"
        f"grant select (id, title) on public.{table} to anon;"
        f"alter publication supabase_realtime add table public.{table}"
    )
    anon, _ = await subscriber(sandbox.anon_key, "py-cols", [("*", table)])
    user, _ = await subscriber(
        mint("authenticated", sub=str(uuid.uuid4())), "py-cols", [("*", table)]
    )
    sql(f"insert into public.{table} values (1, 'title', 'password')")
    sql(f"update public.{table} set secret = 'new password'")
    sql(f"delete from public.{table}")
    await wait_for(lambda: len(anon) == 3 and len(user) == 3)
    ins, upd, dele = (e["data"] for e in anon)
    assert [c["name"] for c in ins["columns"]] == ["id", "title"]
    assert ins["record"] == upd["record"] == upd["old_record"] == {"id": 1, "title": "title"}
    assert dele["old_record"] == {"id": 1, "title": "title"}
    assert "password" not in repr(anon)
    assert user[0]["data"]["record"]["secret"] == "password"
    assert user[2]["data"]["old_record"]["secret"] == "new password"
