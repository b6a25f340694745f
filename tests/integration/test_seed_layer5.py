"""Layer 5 (seed 001) end to end: its tables and RLS, the seed's client snippets under Node with
supabase-js (`tests/js/seed_layer5.mjs`), the `layer5` demo scenario, and its watch profile.

Rows written by the tests use fresh ids (a workspace, productions and users of their own), so the
session sandbox's other tests and any demo rows never interfere.
"""

from __future__ import annotations

from typing import Any

import psycopg2
import pytest
from realtime import AsyncRealtimeClient
from test_seed_common import (
    PC_CONFIG,
    assert_all_subscribed,
    channel_kinds,
    check_profile,
    needs_rest,
    new_id,
    profile_env,
    run_as,
    run_flow,
    wait_for,
)
from wire import Wire

from sandbox.scenarios import layer5

SCRIPT = "seed_layer5.mjs"


def make_workspace(sql, productions: int = 1) -> tuple[str, list[str]]:
    """A fresh workspace with `productions` productions, each with one `crew` budget line."""
    workspace = new_id()
    sql("insert into public.workspaces (id, name) values (%s, 'Test workspace')", workspace)
    ids = []
    for i in range(productions):
        pid = new_id()
        sql(
            "insert into public.productions (id, workspace_id, name) values (%s, %s, %s)",
            pid,
            workspace,
            f"Production {i}",
        )
        sql(
            "insert into public.budgets (production_id, category, amount_allocated) "
            "values (%s, 'crew', 10000)",
            pid,
        )
        ids.append(pid)
    return workspace, ids


# --- schema and RLS ---------------------------------------------------------------------------


def test_layer5_tables_are_published(sql):
    published = {
        t
        for (t,) in sql(
            "select tablename from pg_publication_tables "
            "where pubname = 'supabase_realtime' and schemaname = 'public'"
        )
    }
    assert {
        "workspaces",
        "productions",
        "project_tasks",
        "notifications",
        "budgets",
        "financial_transactions",
        "user_presence",
    } <= published


def test_notifications_and_user_presence_are_per_user(sandbox, sql):
    alice, bob = new_id(), new_id()
    for user in (alice, bob):
        sql(
            "insert into public.notifications (user_id, type, title) values (%s, 'test', 'Hi')",
            user,
        )
    db = sandbox.db_url
    mine = run_as(db, alice, "select user_id::text from public.notifications")
    assert mine == [(alice,)], "a user reads only their own notifications"
    assert run_as(db, alice, "update public.notifications set read_at = now()") == 1
    assert run_as(db, alice, "delete from public.notifications where user_id = %s", bob) == 0
    with pytest.raises(psycopg2.Error, match="row-level security"):
        run_as(
            db,
            alice,
            "insert into public.notifications (user_id, type, title) values (%s, 'x', 'x')",
            bob,
        )
    assert run_as(db, None, "select count(*) from public.notifications", role="anon") == [(0,)]
    # presence rows: everybody signed in reads them, each writes their own
    sql("insert into public.user_presence (user_id, status) values (%s, 'online')", bob)
    assert run_as(db, alice, "select status from public.user_presence where user_id = %s", bob) == [
        ("online",)
    ]
    assert (
        run_as(db, alice, "update public.user_presence set status = 'away' where user_id = %s", bob)
        == 0
    )


async def test_notifications_reach_only_their_user(sandbox, sql, mint):
    alice, bob = new_id(), new_id()
    sockets: dict[str, Wire] = {}
    try:
        for name, token, flt in (
            ("alice", mint("authenticated", sub=alice), f"user_id=eq.{alice}"),
            # bob listens to every notification, and even to alice's by filter
            ("bob", mint("authenticated", sub=bob), None),
            ("bob-snooping", mint("authenticated", sub=bob), f"user_id=eq.{alice}"),
            ("anon", sandbox.anon_key, None),
        ):
            binding = {"event": "INSERT", "schema": "public", "table": "notifications"}
            if flt:
                binding["filter"] = flt
            w = await Wire.open(sandbox.url, sandbox.anon_key)
            sockets[name] = w
            _, reply = await w.join(
                "notifications", {**PC_CONFIG, "postgres_changes": [binding]}, access_token=token
            )
            assert reply["payload"]["status"] == "ok", reply
            assert (await w.recv_event("system", 10))["payload"]["status"] == "ok"
        for user, title in ((bob, "For bob"), (alice, "For alice")):
            sql(
                "insert into public.notifications (user_id, type, title) values (%s, 'x', %s)",
                user,
                title,
            )
        got = await sockets["alice"].recv_event("postgres_changes", 10)
        assert got["payload"]["data"]["record"]["title"] == "For alice"
        got = await sockets["bob"].recv_event("postgres_changes", 10)
        assert got["payload"]["data"]["record"]["title"] == "For bob"
        for name in ("alice", "bob", "bob-snooping", "anon"):
            await sockets[name].silent(0.8)
    finally:
        for w in sockets.values():
            await w.close()


# --- the seed's client snippets under supabase-js ---------------------------------------------


@pytest.mark.js
@needs_rest
def test_notification_insert_round_trip_under_supabase_js(node, sandbox, sql, mint):
    alice, bob = new_id(), new_id()
    r = run_flow(
        node,
        SCRIPT,
        "notifications",
        {
            "url": sandbox.url,
            "key": sandbox.anon_key,
            "token": mint("authenticated", sub=alice, aud="authenticated"),
            "userId": alice,
            "otherToken": mint("authenticated", sub=bob, aud="authenticated"),
            "otherUserId": bob,
        },
    )
    assert r["notificationStatus"] == {"status": "SUBSCRIBED", "error": None}
    assert r["statuses"] == ["SUBSCRIBED"]
    assert r["insert"] == {"status": 201, "error": None}
    expected = {"user_id": alice, "type": "test", "title": "Test", "message": "Testing realtime"}
    assert len(r["shown"]) == 1 and expected.items() <= r["shown"][0].items()
    assert [e["eventType"] for e in r["received"]] == ["INSERT"]
    assert r["received"][0]["new"] == r["shown"][0]
    assert r["received"][0]["table"] == "notifications" and r["received"][0]["schema"] == "public"
    assert r["otherSeen"] == [], "another user never sees alice's notification"
    assert r["refused"]["status"] == 403 and r["refused"]["error"]["code"] == "42501"
    rows = sql("select type, title from public.notifications where user_id = %s", alice)
    assert rows == [("test", "Test")]
    assert sql("select count(*) from public.notifications where user_id = %s", bob) == [(0,)]


@pytest.mark.js
def test_presence_sync_join_leave_under_supabase_js(node, sandbox, mint):
    users = [
        {"id": new_id(), "location": "/productions/board"},
        {"id": new_id(), "location": "/documents/run-of-show"},
    ]
    for user in users:
        user["token"] = mint("authenticated", sub=user["id"], aud="authenticated")
    r = run_flow(
        node, SCRIPT, "presence", {"url": sandbox.url, "key": sandbox.anon_key, "users": users}
    )
    first, second = r["first"], r["second"]
    a, b = users
    assert first["statuses"][0] == "SUBSCRIBED" and first["tracked"] == "ok"
    assert second["tracked"] == "ok"

    def ids(metas: list[dict[str, Any]]) -> list[str]:
        return sorted(m["user_id"] for m in metas)

    # sync: first alone, then both; join: the second with the seed's meta; leave: the second
    assert [a["id"]] in [ids(s) for s in first["syncs"]]
    assert sorted([a["id"], b["id"]]) in [ids(s) for s in first["syncs"]]
    joined = [m for j in first["joins"] for m in j["newPresences"] if m["user_id"] == b["id"]]
    assert len(joined) == 1
    assert set(joined[0]) == {"user_id", "online_at", "location"}
    assert joined[0]["location"] == b["location"]
    left = [m for x in first["leaves"] for m in x["leftPresences"]]
    assert [m["user_id"] for m in left] == [b["id"]]
    assert r["removed"] == "ok"
    assert ids(r["finalState"]) == [a["id"]]
    # the second browser saw the first already there when it arrived
    assert sorted([a["id"], b["id"]]) in [ids(s) for s in second["syncs"]]


@pytest.mark.js
def test_board_budgets_and_productions_under_supabase_js(node, sandbox, sql, mint):
    workspace, (mine, other) = make_workspace(sql, 2)
    _, (elsewhere,) = make_workspace(sql, 1)
    user = new_id()
    # RLS: a workspace's rows reach its members; the user is one of this workspace only
    sql("insert into public.user_roles (user_id, workspace_id) values (%s, %s)", user, workspace)
    t1, t2 = new_id(), new_id()
    insert_task = (
        "insert into public.project_tasks (id, production_id, title, status, position) "
        "values (%s, %s, %s, 'backlog', %s)"
    )
    # On a table with RLS, Realtime looks a row up by its key when it delivers the row's change
    # (realtime.apply_rls): a task inserted and deleted before that never shows its INSERT. So
    # the task the board archives is there before the board subscribes.
    sql(insert_task, t2, mine, "Order radios", 1)

    def write() -> None:
        sql("update public.productions set status = 'pre_production' where id = %s", mine)
        sql("update public.productions set status = 'wrapped' where id = %s", elsewhere)
        sql(insert_task, t1, mine, "Book backline", 0)
        sql("update public.project_tasks set status = 'todo', position = 0 where id = %s", t1)
        sql("delete from public.project_tasks where id = %s", t2)
        sql(insert_task, new_id(), other, "Not on this board", 0)
        for pid in (mine, other):
            sql(
                "update public.budgets set amount_spent = amount_spent + 1250.5 "
                "where production_id = %s",
                pid,
            )
            sql(
                "insert into public.financial_transactions (production_id, amount, vendor) "
                "values (%s, 1250.5, 'Audio Rent')",
                pid,
            )
        # an INSERT of a budget line is not an UPDATE: the budget binding ignores it
        sql(
            "insert into public.budgets (production_id, category, amount_allocated) "
            "values (%s, 'venue', 5000)",
            mine,
        )

    r = run_flow(
        node,
        SCRIPT,
        "board",
        {
            "url": sandbox.url,
            "key": sandbox.anon_key,
            "token": mint("authenticated", sub=user, aud="authenticated"),
            "workspaceId": workspace,
            "productionId": mine,
            "expect": {"productions": 1, "tasks": 3, "budgets": 1, "transactions": 1},
        },
        steps={"write": write},
    )
    assert [s["status"] for s in r["statuses"]] == ["SUBSCRIBED"] * 3
    assert [(p["eventType"], p["new"]["id"], p["new"]["status"]) for p in r["productions"]] == [
        ("UPDATE", mine, "pre_production")
    ]
    seen = [(e["eventType"], (e["new"] or {}).get("id") or e["old"]["id"]) for e in r["tasks"]]
    assert seen == [("INSERT", t1), ("UPDATE", t1), ("DELETE", t2)]
    assert all(e["table"] == "project_tasks" for e in r["tasks"])
    assert [(t["id"], t["status"]) for t in r["kanban"]] == [(t1, "todo")]
    assert [(b["production_id"], b["amount_spent"]) for b in r["budgets"]] == [(mine, 1250.5)]
    assert [(t["production_id"], t["amount"]) for t in r["transactions"]] == [(mine, 1250.5)]


@pytest.mark.js
def test_cursor_broadcasts_under_supabase_js(node, sandbox, mint):
    users = [{"id": new_id()}, {"id": new_id()}]
    for user in users:
        user["token"] = mint("authenticated", sub=user["id"], aud="authenticated")
    r = run_flow(
        node,
        SCRIPT,
        "cursors",
        {"url": sandbox.url, "key": sandbox.anon_key, "documentId": new_id(), "users": users},
    )
    assert [s["status"] for s in r["statuses"]] == ["SUBSCRIBED", "SUBSCRIBED"]
    assert r["sent"] == ["ok", "ok", "ok"]
    mover = users[1]["id"]
    assert r["first"] == [
        {"userId": mover, "position": {"x": 10, "y": 20}},
        {"userId": mover, "position": {"x": 42, "y": 64}},
        {"userId": mover, "position": {"x": 300, "y": 128}},
    ]
    assert r["second"] == [], "a sender does not receive its own broadcasts (self: false)"


# --- the demo scenario and the watch profile --------------------------------------------------


async def test_demo_layer5_traffic_and_profile(fresh_sandbox):
    sb = fresh_sandbox("--demo", "--scenario", "layer5")
    client = AsyncRealtimeClient(sb.ws_url, sb.service_role_key, max_retries=2)
    await client.connect()
    seen: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("tasks", "budgets", "transactions", "notifications", "cursors")
    }
    members: list[dict[str, Any]] = []
    try:
        pg = client.channel("layer5-all", {"config": PC_CONFIG})
        pg.on_postgres_changes("*", seen["tasks"].append, schema="public", table="project_tasks")
        pg.on_postgres_changes("UPDATE", seen["budgets"].append, schema="public", table="budgets")
        pg.on_postgres_changes(
            "INSERT", seen["transactions"].append, schema="public", table="financial_transactions"
        )
        pg.on_postgres_changes(
            "INSERT", seen["notifications"].append, schema="public", table="notifications"
        )
        await pg.subscribe()
        for document in layer5.DOCUMENTS:
            doc = client.channel(f"document:{document.id}", {"config": PC_CONFIG})
            doc.on_broadcast("cursor-move", seen["cursors"].append)
            await doc.subscribe()
        cfg = {**PC_CONFIG, "presence": {"key": "watcher", "enabled": True}}
        presence = client.channel("user-presence", {"config": cfg})
        presence.on_presence_sync(
            lambda: members.append(
                {k: v for k, v in presence.presence_state().items() if k != "watcher"}
            )
        )
        await presence.subscribe()
        await wait_for(
            lambda: all(seen.values()) and members and len(members[-1]) >= 2,
            12,
            f"layer5 traffic within 12 s: { {k: len(v) for k, v in seen.items()} }, {members}",
        )
    finally:
        await client.close()
    people = {p.id for p in layer5.PEOPLE}
    productions = {p.id for p in layer5.PRODUCTIONS}
    for event in seen["tasks"]:
        data = event["data"]
        row = data["record"] if data["type"] != "DELETE" else data["old_record"]
        assert row["production_id"] in productions
    cursor = seen["cursors"][0]["payload"]
    assert set(cursor) == {"userId", "position"} and cursor["userId"] in people
    assert set(cursor["position"]) == {"x", "y"}
    metas = [m for entries in members[-1].values() for m in entries]
    assert {m["user_id"] for m in metas} <= people
    assert all(set(m) >= {"user_id", "online_at", "location"} for m in metas)
    assert {r["data"]["record"]["user_id"] for r in seen["notifications"]} <= people

    # the profile, as the monitor runs it: every channel joined, the roster, the board or budget
    body = check_profile(sb, "layer5", 10, env=profile_env(sb, "layer5"))
    assert_all_subscribed(body, "layer5")
    assert body["summary"]["presence"].get("user-presence", 0) >= 2
    busy = [
        channel_kinds(body, c).get("postgres_changes", {})
        for c in ("task-updates", "budget-updates")
    ]
    assert any(busy), body["summary"]["messages"]
    cursors = [
        channel_kinds(body, f"document:{d.id}").get("broadcast", {}).get("cursor-move", 0)
        for d in layer5.DOCUMENTS
    ]
    assert sum(cursors) >= 3, body["summary"]["messages"]
    assert body["returncode"] == 0, [a for a in body["alerts"] if a["level"] == "alert"]

    # bounded: boards keep 6-10 tasks, the roster is intact, nothing crashed
    conn = psycopg2.connect(sb.db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select production_id::text, count(*) from public.project_tasks group by 1")
            counts = dict(cur.fetchall())
    finally:
        conn.close()
    assert set(counts) == productions
    assert all(layer5.MIN_TASKS <= n <= layer5.MAX_TASKS for n in counts.values()), counts
    assert "Traceback" not in sb.log()
