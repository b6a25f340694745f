"""Organiser dashboard (seed 004) end to end: `clients` and `trips` (050_organiser.sql), the seed's
RealtimeProvider, PresenceIndicator, CollaborationCursor and optimistic update under Node with
supabase-js (`tests/js/seed_organiser.mjs`), the `organiser` demo scenario, and its profile.
"""

from __future__ import annotations

import datetime as dt
import time
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
    run_flow,
    wait_for,
)

from sandbox.scenarios import organiser

SCRIPT = "seed_organiser.mjs"


def make_client_and_trip(sql, organiser_id: str) -> tuple[str, str]:
    client, trip = new_id(), new_id()
    sql(
        "insert into public.clients (id, organiser_id, name, email) "
        "values (%s, %s, 'Test Client', 'test@example.com')",
        client,
        organiser_id,
    )
    sql(
        "insert into public.trips (id, client_id, organiser_id, name, destination, travellers) "
        "values (%s, %s, %s, 'Test in Lisbon', 'Lisbon, Portugal', 2)",
        trip,
        client,
        organiser_id,
    )
    return client, trip


def stamp(text: str) -> dt.datetime:
    """A timestamptz as PostgREST or Realtime renders it, as an aware datetime."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def organisers(mint) -> list[dict[str, str]]:
    out = []
    for name in ("Maya Test", "Tom Test"):
        uid = new_id()
        out.append({"id": uid, "name": name, "token": mint("authenticated", sub=uid)})
    return out


def test_updated_at_moves_on_every_update(sql):
    client, trip = make_client_and_trip(sql, new_id())
    (before,) = sql("select updated_at from public.trips where id = %s", trip)[0]
    time.sleep(0.01)
    sql("update public.trips set notes = 'x' where id = %s", trip)
    (after,) = sql("select updated_at from public.trips where id = %s", trip)[0]
    assert after > before
    published = {
        t
        for (t,) in sql(
            "select tablename from pg_publication_tables "
            "where pubname = 'supabase_realtime' and schemaname = 'public'"
        )
    }
    assert {"clients", "trips"} <= published
    sql("delete from public.clients where id = %s", client)
    assert sql("select count(*) from public.trips where id = %s", trip) == [(0,)], "cascade"


@pytest.mark.js
def test_dashboard_presence_cursors_and_changes_under_supabase_js(node, sandbox, sql, mint):
    people = organisers(mint)
    maya, tom = people
    client, trip = make_client_and_trip(sql, maya["id"])

    def write() -> None:
        sql(
            "update public.clients set phone = '+1 555 0100', updated_by = %s where id = %s",
            tom["id"],
            client,
        )
        sql(
            "update public.trips set status = 'planning', updated_by = %s where id = %s",
            tom["id"],
            trip,
        )

    r = run_flow(
        node,
        SCRIPT,
        "dashboard",
        {"url": sandbox.url, "key": sandbox.anon_key, "organisers": people},
        steps={"write": write},
    )
    for statuses in r["statuses"]:
        assert [s["status"] for s in statuses] == ["SUBSCRIBED"] * 3
    # PresenceIndicator: Maya sees Tom with the seed's meta
    assert [{k: m[k] for k in ("user_id", "user_name")} for m in r["othersOfA"]] == [
        {"user_id": tom["id"], "user_name": "Tom Test"}
    ]
    assert set(r["othersOfA"][0]) == {"user_id", "user_name", "online_at"}
    assert r["othersAfterLeave"] == [], "Tom's page closed: Maya's indicator empties"
    # RealtimeProvider: both dashboards get both edits, and the client toast
    for events in r["events"]:
        ours = [e for e in events if (e["new"] or {}).get("id") in (client, trip)]
        assert [(e["type"], e["table"]) for e in ours] == [
            ("UPDATE", "clients"),
            ("UPDATE", "trips"),
        ]
        assert ours[0]["new"]["phone"] == "+1 555 0100"
        assert ours[1]["new"]["updated_by"] == tom["id"]
    for toasts in r["notifications"]:
        assert {"title": "Client Updated", "message": "Test Client was updated"} in toasts
    # CollaborationCursor: three throttled moves (the fourth came within 50 ms)
    assert r["sent"] == ["ok", "ok", "ok"]
    assert [m["payload"] for m in r["received"]] == [
        {"userId": tom["id"], "position": {"x": x, "y": y}, "userName": "Tom Test"}
        for x, y in ((100, 200), (140, 220), (180, 260))
    ]
    assert all(m["event"] == "cursor-move" and m["type"] == "broadcast" for m in r["received"])
    assert r["receivedBySender"] == 0
    # The seed's handler reads `payload.userId` off the message envelope, not its payload, so
    # its cursor Map is keyed by undefined (JSON: null): a bug in the seed, not in the transport.
    assert r["cursorsOfA"] == [[None, None]]


@pytest.mark.js
@needs_rest
def test_optimistic_updates_converge_last_write_wins_under_supabase_js(node, sandbox, sql, mint):
    people = organisers(mint)
    _, trip = make_client_and_trip(sql, people[0]["id"])
    r = run_flow(
        node,
        SCRIPT,
        "optimistic",
        {"url": sandbox.url, "key": sandbox.anon_key, "organisers": people, "tripId": trip},
    )
    assert r["first"]["notes"] == "Aisle seats, please"
    assert r["second"]["notes"] == "Window seats, please" and r["second"]["travellers"] == 3
    assert stamp(r["second"]["updated_at"]) > stamp(r["first"]["updated_at"])
    ((notes, travellers, updated_at),) = sql(
        "select notes, travellers, updated_at from public.trips where id = %s", trip
    )
    for seen, resolved in zip(r["seen"], r["resolved"], strict=True):
        assert [s["notes"] for s in seen] == ["Aisle seats, please", "Window seats, please"]
        assert (resolved["notes"], resolved["travellers"]) == (notes, travellers)
        assert stamp(resolved["updated_at"]) == updated_at


# --- the demo scenario and the watch profile --------------------------------------------------


async def test_demo_organiser_traffic_and_profile(fresh_sandbox):
    sb = fresh_sandbox("--demo", "--scenario", "organiser")
    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key, max_retries=2)
    await client.connect()
    seen: dict[str, list[dict[str, Any]]] = {"clients": [], "trips": [], "cursors": []}
    members: list[dict[str, Any]] = []
    try:
        pg = client.channel("organiser-all", {"config": PC_CONFIG})
        pg.on_postgres_changes("*", seen["clients"].append, schema="public", table="clients")
        pg.on_postgres_changes("*", seen["trips"].append, schema="public", table="trips")
        await pg.subscribe()
        cursors = client.channel(organiser.CURSOR_TOPIC, {"config": PC_CONFIG})
        cursors.on_broadcast("cursor-move", seen["cursors"].append)
        await cursors.subscribe()
        cfg = {**PC_CONFIG, "presence": {"key": "watcher", "enabled": True}}
        presence = client.channel(organiser.PRESENCE_TOPIC, {"config": cfg})
        presence.on_presence_sync(
            lambda: members.append(
                {k: v for k, v in presence.presence_state().items() if k != "watcher"}
            )
        )
        await presence.subscribe()
        await wait_for(
            lambda: (
                (seen["clients"] or seen["trips"])
                and len(seen["cursors"]) >= 3
                and members
                and len(members[-1]) >= 2
            ),
            10,
            f"organiser traffic within 10 s: { {k: len(v) for k, v in seen.items()} } {members}",
        )
    finally:
        await client.close()
    ids = {o.id: o.name for o in organiser.ORGANISERS}
    metas = [m for entries in members[-1].values() for m in entries]
    assert {m["user_id"] for m in metas} <= set(ids)
    assert all(ids[m["user_id"]] == m["user_name"] for m in metas)
    for message in seen["cursors"]:
        payload = message["payload"]
        assert set(payload) == {"userId", "position", "userName"}
        assert ids[payload["userId"]] == payload["userName"]
    for change in seen["clients"] + seen["trips"]:
        data = change["data"]
        if data["type"] == "UPDATE":
            assert data["record"]["updated_by"] in ids

    body = check_profile(sb, "organiser", 10)
    assert_all_subscribed(body, "organiser")
    rows = sum(
        sum(channel_kinds(body, c).get("postgres_changes", {}).values())
        for c in ("clients-changes", "trips-changes")
    )
    assert rows >= 2, body["summary"]["messages"]
    cursor_moves = channel_kinds(body, "collaboration-cursors").get("broadcast", {})
    assert cursor_moves.get("cursor-move", 0) >= 5
    assert body["summary"]["presence"].get("organisers", 0) >= 2
    assert body["summary"]["replica"], "the trips replica fills"
    assert body["returncode"] == 0, [a for a in body["alerts"] if a["level"] == "alert"]

    conn = psycopg2.connect(sb.db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*) from public.trips")
            assert cur.fetchone()[0] <= organiser.MAX_TRIPS + 1
            cur.execute("select count(*) from public.clients")
            assert cur.fetchone()[0] <= organiser.MAX_CLIENTS
    finally:
        conn.close()
    assert "Traceback" not in sb.log()
