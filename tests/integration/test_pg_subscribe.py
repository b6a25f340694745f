"""postgres_changes bindings checked at subscribe time, seen by realtime-py 2.34.1 (reference
§13.2; supabase-js, over both serializers, in test_conformance_js.py).

A binding the server's subscription check refuses is a postgres_changes `system` error, which
realtime-py takes for a channel error (it reports CHANNEL_ERROR and schedules a rejoin).
`select` trims rows to the listed columns plus the primary key; a schema-wide binding covers the
tables published when it subscribed.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the client")
        await asyncio.sleep(0.02)


@pytest.fixture
async def client(sandbox):
    c = AsyncRealtimeClient(sandbox.ws_url, sandbox.anon_key, max_retries=2, initial_backoff=0.2)
    yield c
    await c.close()


def config() -> dict:
    return {"config": {"broadcast": {}, "presence": {}, "private": False}}


@pytest.fixture(scope="module")
def table(sql) -> str:
    name = f"py_sub_{uuid.uuid4().hex[:8]}"
    sql(
        f"create table public.{name} (id int primary key, title text, body text);"
        f"alter table public.{name} replica identity full;"
        f"alter publication supabase_realtime add table public.{name}"
    )
    return name


async def test_a_refused_filter_is_a_channel_error_for_realtime_py(client, sql, table):
    states: list[tuple[RealtimeSubscribeStates, str | None]] = []
    got: list[dict] = []
    ch = client.channel("py-refused", config())
    ch.on_postgres_changes("*", got.append, table=table, filter="nope=eq.1")
    await ch.subscribe(lambda s, e: states.append((s, str(e) if e else None)))
    await wait_for(lambda: len(states) >= 2)
    sql(f"insert into public.{table} values (1, 'a', 'b')")
    await asyncio.sleep(0.3)
    assert got == []
    assert states[0] == (RealtimeSubscribeStates.SUBSCRIBED, None)
    assert states[1][0] == RealtimeSubscribeStates.CHANNEL_ERROR
    error = json.loads(states[1][1] or "")
    assert error == {
        "channel": "py-refused",
        "extension": "postgres_changes",
        "status": "error",
        "message": "Unable to subscribe to changes with given parameters. An exception happened "
        "so please check your connect parameters: [event: *, schema: public, table: "
        f'{table}, filters: [{{"nope", "eq", "1", false}}], select: nil]. Exception: ERROR '
        "P0001 (raise_exception) invalid column for filter nope",
    }


async def test_select_keeps_the_listed_columns_and_the_primary_key(client, sql, table):
    got: list[dict] = []
    system: list = []
    ch = client.channel("py-select", config())
    ch.on_postgres_changes("*", got.append, table=table, select=["body"])
    ch.on_system(system.append)
    await ch.subscribe()
    await wait_for(lambda: system)
    sql(f"insert into public.{table} values (2, 'title', 'body')")
    sql(f"update public.{table} set title = 'new title' where id = 2")
    await wait_for(lambda: len(got) == 2)
    ins, upd = (e["data"] for e in got)
    assert [c["name"] for c in ins["columns"]] == ["id", "body"]
    assert ins["record"] == upd["record"] == upd["old_record"] == {"id": 2, "body": "body"}


async def test_a_schema_binding_covers_the_tables_published_when_it_subscribed(client, sql):
    schema = f"py_wild_{uuid.uuid4().hex[:8]}"
    sql(
        f"create schema {schema}; grant usage on schema {schema} to anon;"
        f"create table {schema}.before (id int primary key);"
        f"grant select on {schema}.before to anon;"
        f"alter publication supabase_realtime add table {schema}.before"
    )
    got: list[dict] = []
    system: list = []
    ch = client.channel("py-wild", config())
    ch.on_postgres_changes("INSERT", got.append, schema=schema)
    ch.on_system(system.append)
    await ch.subscribe()
    await wait_for(lambda: system)
    sql(
        f"create table {schema}.after (id int primary key);"
        f"grant select on {schema}.after to anon;"
        f"alter publication supabase_realtime add table {schema}.after;"
        f"insert into {schema}.after values (1); insert into {schema}.before values (2)"
    )
    await wait_for(lambda: got)
    await asyncio.sleep(0.3)
    assert [(e["data"]["table"], e["data"]["record"]) for e in got] == [("before", {"id": 2})]
