"""Layer 5 (seed 001): the whole realtime layer its migrations publish, beyond the seed's client
snippets (those are `test_seed_layer5.py`): every published table has a primary key, row level
security and a place in the publication; workspace membership (`user_roles`) decides who sees a
module's rows, on PostgREST and on postgres_changes alike; and the `layer5` scenario runs a
production's day (incidents, run-of-show cues, approvals) on the channels it tells a monitor to
watch.

Rows written here belong to fresh workspaces and users, so the demo's rows never interfere.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import jwt as pyjwt
import psycopg2
import pytest
from realtime import AsyncRealtimeClient
from test_seed_common import PC_CONFIG, new_id, run_as, wait_for

from sandbox.scenarios import layer5

CORE = ("organizations", "workspaces", "user_roles", "activities", "comments")
CORE += ("user_presence", "notifications")
MODULES = (
    *("productions", "project_tasks", "project_milestones", "events", "run_of_show"),
    *("bookings", "incidents", "personnel", "teams", "time_entries", "assets"),
    *("asset_transactions", "locations", "files", "companies", "budgets"),
    *("financial_transactions", "invoices", "purchase_orders", "approval_requests"),
    *("community_posts", "connections", "marketplace_orders"),
)
TABLES = CORE + MODULES  # as seed 001 lists them under "Realtime Channels Configured"
OPS_CHANNELS = {
    "incident-updates": "incidents",
    "run-of-show-updates": "run_of_show",
    "approval-updates": "approval_requests",
}


def user_token(sb, sub: str) -> str:
    """A signed-in user's access token for the sandbox `sb`."""
    now = int(time.time())
    claims = {"sub": sub, "role": "authenticated", "aud": "authenticated", "iat": now}
    return pyjwt.encode({**claims, "exp": now + 3600}, sb.jwt_secret, algorithm="HS256")


def member_of(sql, workspace: str, user: str, role: str = "member") -> None:
    sql(
        "insert into public.user_roles (user_id, workspace_id, role) values (%s, %s, %s)",
        user,
        workspace,
        role,
    )


def workspace_with_production(sql) -> tuple[str, str]:
    workspace, production = new_id(), new_id()
    sql("insert into public.workspaces (id, name) values (%s, 'Test workspace')", workspace)
    sql(
        "insert into public.productions (id, workspace_id, name) values (%s, %s, 'Test show')",
        production,
        workspace,
    )
    return workspace, production


def open_incident(sql, workspace: str, production: str, title: str) -> str:
    incident = new_id()
    sql(
        "insert into public.incidents (id, workspace_id, production_id, title, severity) "
        "values (%s, %s, %s, %s, 'high')",
        incident,
        workspace,
        production,
        title,
    )
    return incident


# --- the schema -------------------------------------------------------------------------------


def test_every_layer5_table_has_a_key_rls_and_a_place_in_the_publication(sql):
    assert len(set(TABLES)) == 30, "seed 001 lists 7 core and 23 module tables"
    rows = sql(
        "select t.name, c.oid is not null, "
        "coalesce((select bool_or(i.indisprimary) from pg_index i where i.indrelid = c.oid), "
        "false), coalesce(c.relrowsecurity, false), "
        "exists(select from pg_publication_tables p where p.pubname = 'supabase_realtime' "
        "and p.schemaname = 'public' and p.tablename = t.name) "
        "from unnest(%s::text[]) as t(name) "
        "left join pg_class c on c.relname = t.name and c.relnamespace = 'public'::regnamespace "
        "and c.relkind = 'r'",
        list(TABLES),
    )
    wrong = {
        name: [
            what
            for what, ok in zip(("table", "pkey", "rls", "published"), flags, strict=True)
            if not ok
        ]
        for name, *flags in rows
        if not all(flags)
    }
    assert wrong == {}, f"what each table lacks: {wrong}"


def test_workspace_members_read_and_write_their_modules_and_nobody_else_does(sandbox, sql):
    db = sandbox.db_url
    workspace, production = workspace_with_production(sql)
    member, viewer, outsider = new_id(), new_id(), new_id()
    member_of(sql, workspace, member)
    member_of(sql, workspace, viewer, "viewer")
    incident = open_incident(sql, workspace, production, "Power drop on stage left")
    event = new_id()
    sql(
        "insert into public.events (id, workspace_id, production_id, name, starts_at) "
        "values (%s, %s, %s, 'Main stage', now())",
        event,
        workspace,
        production,
    )
    cue = (
        "insert into public.run_of_show (event_id, production_id, position, cue, title) "
        "values (%s, %s, %s, 'LX 1', 'House to half')"
    )
    sql(cue, event, production, 0)
    read = "select count(*) from public.incidents where workspace_id = %s"
    assert run_as(db, member, read, workspace) == [(1,)]
    assert run_as(db, viewer, read, workspace) == [(1,)]
    assert run_as(db, outsider, read, workspace) == [(0,)]
    assert run_as(db, None, read, workspace, role="anon") == [(0,)]
    cues = "select count(*) from public.run_of_show where production_id = %s"
    assert run_as(db, member, cues, production) == [(1,)]
    assert run_as(db, outsider, cues, production) == [(0,)]
    # members write, viewers only look, outsiders touch nothing
    escalate = "update public.incidents set status = 'escalated' where id = %s"
    assert run_as(db, member, escalate, incident) == 1
    assert run_as(db, viewer, escalate, incident) == 0
    assert run_as(db, outsider, escalate, incident) == 0
    assert run_as(db, member, cue, event, production, 1) == 1
    with pytest.raises(psycopg2.Error, match="row-level security"):
        run_as(db, outsider, cue, event, production, 2)
    # a member sees who else is in the workspace, an outsider does not
    roles = "select count(*) from public.user_roles where workspace_id = %s"
    assert run_as(db, member, roles, workspace) == [(2,)]
    assert run_as(db, outsider, roles, workspace) == [(0,)]
    # updated_at follows an UPDATE
    stamps = sql("select created_at, updated_at from public.incidents where id = %s", incident)
    assert stamps[0][1] > stamps[0][0]


# --- postgres_changes -------------------------------------------------------------------------


async def test_an_incident_reaches_the_workspace_members_only(sandbox, sql, mint):
    """Two workspaces, one member each; each inserts an incident. Each member receives their own
    workspace's incident and not the other's, with or without a filter naming it."""
    ours, our_show = workspace_with_production(sql)
    theirs, their_show = workspace_with_production(sql)
    me, them = new_id(), new_id()
    member_of(sql, ours, me)
    member_of(sql, theirs, them)
    seen: dict[str, list[dict[str, Any]]] = {"me": [], "them": [], "them-snooping": []}
    clients: list[AsyncRealtimeClient] = []

    async def subscribe(name: str, user: str, flt: str | None) -> None:
        client = AsyncRealtimeClient(sandbox.ws_url, sandbox.anon_key, max_retries=2)
        clients.append(client)
        await client.connect()
        await client.set_auth(mint("authenticated", sub=user, aud="authenticated"))
        systems: list[Any] = []
        channel = client.channel(f"incident-updates-{name}", {"config": PC_CONFIG})
        channel.on_postgres_changes(
            "INSERT", seen[name].append, schema="public", table="incidents", filter=flt
        )
        channel.on_system(systems.append)
        await channel.subscribe()
        await wait_for(lambda: systems, 10, f"{name}: no system message")
        assert systems[0].status == "ok", systems

    try:
        await subscribe("me", me, None)
        await subscribe("them", them, None)
        await subscribe("them-snooping", them, f"workspace_id=eq.{ours}")
        mine = open_incident(sql, ours, our_show, "Medical call at gate B")
        their = open_incident(sql, theirs, their_show, "Radio channel 3 down")
        # changes go out in commit order: once both are in, a stray one would have been too
        try:
            await wait_for(lambda: seen["me"] and seen["them"], 10)
        except AssertionError:
            raise AssertionError(f"each member's own incident within 10 s: {seen}") from None
        await asyncio.sleep(0.5)
    finally:
        for client in clients:
            await client.close()
    got = {name: [e["data"]["record"]["id"] for e in events] for name, events in seen.items()}
    assert got == {"me": [mine], "them": [their], "them-snooping": []}
    record = seen["me"][0]["data"]["record"]
    assert (record["workspace_id"], record["title"], record["status"]) == (
        ours,
        "Medical call at gate B",
        "open",
    )


# --- the scenario -----------------------------------------------------------------------------


async def test_demo_layer5_runs_incidents_cues_and_approvals(fresh_sandbox):
    """The scenario's operations traffic on the channels it names, as a workspace owner sees it:
    an incident opened, escalated and resolved, cues going live, approvals requested and
    decided. At rate 3, so a whole incident's life fits in the test's time."""
    sb = fresh_sandbox("--demo", "--scenario", "layer5", "--rate", "3")
    watch = {c["topic"]: c for c in sb.watch}
    for topic, table in OPS_CHANNELS.items():
        assert [(b["schema"], b["table"]) for b in watch[topic]["postgres_changes"]] == [
            ("public", table)
        ], watch.get(topic)
    seen: dict[str, list[dict[str, Any]]] = {table: [] for table in OPS_CHANNELS.values()}
    owner = layer5.PEOPLE[0].id
    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key, max_retries=2)
    await client.connect()
    await client.set_auth(user_token(sb, owner))

    def statuses(table: str, event: str | None = None) -> set[str]:
        return {
            e["data"]["record"]["status"]
            for e in seen[table]
            if e["data"]["type"] != "DELETE" and event in (None, e["data"]["type"])
        }

    def done() -> bool:
        return (
            {"open", "escalated", "resolved"} <= statuses("incidents")
            and "live" in statuses("run_of_show", "UPDATE")
            and "pending" in statuses("approval_requests", "INSERT")
            and bool(statuses("approval_requests", "UPDATE") & {"approved", "rejected"})
        )

    try:
        for topic, table in OPS_CHANNELS.items():
            channel = client.channel(topic, {"config": PC_CONFIG})
            for binding in watch[topic]["postgres_changes"]:
                channel.on_postgres_changes(
                    binding["event"], seen[table].append, schema="public", table=table
                )
            await channel.subscribe()
        try:
            await wait_for(done, 45)
        except AssertionError:
            seen_by_table = {t: sorted(statuses(t)) for t in seen}
            raise AssertionError(f"operations traffic within 45 s: {seen_by_table}") from None
    finally:
        await client.close()
    check_operations(seen)
    assert "Traceback" not in sb.log()


def check_operations(seen: dict[str, list[dict[str, Any]]]) -> None:
    """The operations traffic is about the roster's productions and people, and each step
    carries what it says: a live cue its start, a decision its time and approver, a resolved
    incident its resolution."""
    productions = {p.id for p in layer5.PRODUCTIONS}
    people = {p.id for p in layer5.PEOPLE}
    for table, events in seen.items():
        rows = [e["data"]["record"] for e in events if e["data"]["type"] != "DELETE"]
        assert all(r["production_id"] in productions for r in rows), (table, rows)
    cues = [e["data"]["record"] for e in seen["run_of_show"] if e["data"]["type"] == "UPDATE"]
    assert all(r["status"] in {"standby", "live", "done", "skipped"} for r in cues)
    assert all(r["started_at"] for r in cues if r["status"] == "live")
    decided = [
        e["data"]["record"]
        for e in seen["approval_requests"]
        if e["data"]["type"] == "UPDATE"
        and e["data"]["record"]["status"] in {"approved", "rejected"}
    ]
    assert all(r["decided_at"] and r["approver_id"] in people for r in decided)
    resolved = [
        e["data"]["record"]
        for e in seen["incidents"]
        if e["data"]["type"] == "UPDATE" and e["data"]["record"]["status"] == "resolved"
    ]
    assert all(r["resolved_at"] and r["resolution"] for r in resolved)
