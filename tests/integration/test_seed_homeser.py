"""HomeSer (seed 003) end to end: the `homeser` schema with per-user RLS (040_homeser.sql), the
frontend's filtered subscriptions under Node with supabase-js (`tests/js/seed_homeser.mjs`), the
Django side's `sync_to_supabase()` writes from Python with supabase-py (PostgREST; plain SQL when
the sandbox has no PostgREST), the `homeser` demo scenario, and its watch profile.

Users, services and bookings made here have fresh ids, so the demo's rows never interfere.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import psycopg2
import pytest
from realtime import AsyncRealtimeClient
from test_seed_common import (
    PC_CONFIG,
    REST_AVAILABLE,
    assert_all_subscribed,
    check_profile,
    new_id,
    profile_env,
    record_profile,
    run_as,
    run_flow,
    wait_for,
)

from sandbox.scenarios import homeser

SCRIPT = "seed_homeser.mjs"
REST_SCHEMAS = "public,group,concierge,homeser"
START = dt.datetime(2030, 5, 4, 10, tzinfo=dt.UTC)


def make_service(sql, provider: str) -> int:
    rows = sql(
        "insert into homeser.services (provider_id, name, category, price) "
        "values (%s, 'Test cleaning', 'cleaning', 100) returning id",
        provider,
    )
    return rows[0][0]


def make_booking(sql, customer: str, provider: str, service: int | None, status="pending") -> int:
    rows = sql(
        "insert into homeser.bookings (customer_id, provider_id, service_id, booking_date, "
        "start_time, end_time, status) values (%s, %s, %s, %s, %s, %s, %s) returning id",
        customer,
        provider,
        service,
        START,
        START,
        START + dt.timedelta(hours=2),
        status,
    )
    return rows[0][0]


def notify(sql, user: str, booking: int | None, kind: str = "booking_confirmed") -> int:
    rows = sql(
        "insert into homeser.notifications (user_id, booking_id, type, title) "
        "values (%s, %s, %s, 'Booking update') returning id",
        user,
        booking,
        kind,
    )
    return rows[0][0]


# --- schema and RLS ---------------------------------------------------------------------------


def test_homeser_tables_are_published_in_their_own_schema(sql):
    published = {
        t
        for (t,) in sql(
            "select tablename from pg_publication_tables "
            "where pubname = 'supabase_realtime' and schemaname = 'homeser'"
        )
    }
    assert published == {"bookings", "notifications", "services", "availability"}


def test_customers_and_providers_see_their_own_rows(sandbox, sql):
    db = sandbox.db_url
    customer, other, provider = new_id(), new_id(), new_id()
    service = make_service(sql, provider)
    mine = make_booking(sql, customer, provider, service)
    theirs = make_booking(sql, other, provider, service)
    notify(sql, customer, mine)
    q = "select id from homeser.bookings where provider_id = %s order by id"
    assert run_as(db, customer, q, provider) == [(mine,)]
    assert run_as(db, other, q, provider) == [(theirs,)]
    assert run_as(db, provider, q, provider) == [(mine,), (theirs,)]
    assert run_as(db, None, q, provider, role="anon") == [], "anon sees no booking"
    n = "select user_id::text from homeser.notifications where booking_id = %s"
    assert run_as(db, customer, n, mine) == [(customer,)]
    assert run_as(db, provider, n, mine) == []
    # the catalogue and availability are public
    assert run_as(db, None, "select name from homeser.services where id = %s", service, role="anon")
    # writes: a customer books for themselves only, and only as pending
    insert = (
        "insert into homeser.bookings (customer_id, provider_id, service_id, booking_date, "
        "start_time, end_time, status) values (%s, %s, %s, now(), now(), now(), %s)"
    )
    assert run_as(db, customer, insert, customer, provider, service, "pending") == 1
    for args in ((other, provider, service, "pending"), (customer, provider, service, "confirmed")):
        with pytest.raises(psycopg2.Error, match="row-level security"):
            run_as(db, customer, insert, *args)
    # the provider confirms; a stranger changes nothing
    confirm = "update homeser.bookings set status = 'confirmed' where id = %s"
    assert run_as(db, new_id(), confirm, mine) == 0
    assert run_as(db, provider, confirm, mine) == 1
    # a provider manages their own availability only
    sql(
        "insert into homeser.availability (provider_id, day_of_week, start_time, end_time) "
        "values (%s, 1, '08:00', '17:00')",
        provider,
    )
    toggle = "update homeser.availability set is_available = false where provider_id = %s"
    assert run_as(db, new_id(), toggle, provider) == 0
    assert run_as(db, provider, toggle, provider) == 1


# --- the frontend's subscriptions under supabase-js -------------------------------------------


@pytest.mark.js
def test_customer_filtered_bookings_under_supabase_js(node, sandbox, sql, mint):
    customer, other, provider, other_provider = new_id(), new_id(), new_id(), new_id()
    service = make_service(sql, provider)
    elsewhere = make_service(sql, other_provider)
    users = {
        name: {"id": uid, "token": mint("authenticated", sub=uid, aud="authenticated")}
        for name, uid in (("customer", customer), ("provider", provider), ("snooper", other))
    }
    wrote: dict[str, int] = {}

    def write() -> None:
        """What the Django app's post_save signals sync, in order."""
        b1 = make_booking(sql, customer, provider, service)
        sql("update homeser.bookings set status = 'confirmed' where id = %s", b1)
        notify(sql, customer, b1)
        b2 = make_booking(sql, other, provider, service)  # another customer's booking
        notify(sql, other, b2, "booking_requested")
        b3 = make_booking(sql, customer, other_provider, elsewhere)
        sql("update homeser.services set price = 110 where id = %s", service)
        wrote.update(b1=b1, b2=b2, b3=b3)

    r = run_flow(
        node,
        SCRIPT,
        "marketplace",
        {
            "url": sandbox.url,
            "key": sandbox.anon_key,
            **users,
            "expect": {"customer": 3, "notifications": 1, "provider": 3, "services": 1},
        },
        steps={"write": write},
    )
    assert [s["status"] for s in r["statuses"]] == ["SUBSCRIBED"] * 6
    b1, b2, b3 = wrote["b1"], wrote["b2"], wrote["b3"]

    def summary(events: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
        return [(e["eventType"], e["new"]["id"], e["new"]["status"]) for e in events]

    assert summary(r["customer"]) == [
        ("INSERT", b1, "pending"),
        ("UPDATE", b1, "confirmed"),
        ("INSERT", b3, "pending"),
    ]
    assert all(e["new"]["customer_id"] == customer for e in r["customer"])
    assert summary(r["provider"]) == [
        ("INSERT", b1, "pending"),
        ("UPDATE", b1, "confirmed"),
        ("INSERT", b2, "pending"),
    ]
    assert [(n["eventType"], n["new"]["booking_id"]) for n in r["notifications"]] == [
        ("INSERT", b1)
    ]
    assert r["snooper"] == [], "RLS: another customer's JWT never sees these rows"
    prices = [(e["new"]["id"], e["new"]["price"]) for e in r["services"]]
    assert (service, 110) in prices
    update = r["customer"][1]
    assert update["schema"] == "homeser" and update["table"] == "bookings"
    assert set(update["new"]) >= {
        "id",
        "customer_id",
        "provider_id",
        "service_id",
        "booking_date",
        "start_time",
        "end_time",
        "status",
        "updated_at",
    }, "the seed's booking payload fields"


# --- the Django side, from Python -------------------------------------------------------------


class DjangoSync:
    """`homeser.realtime_sync.sync_to_supabase()` as the seed describes it: a lazily created
    supabase-py client with the service role key (`get_supabase_client()`), INSERT/UPDATE/DELETE
    per model change, errors caught so a failed sync never breaks the Django save. Falls back to
    SQL when the sandbox has no PostgREST."""

    def __init__(self, sb) -> None:
        self.sb = sb
        self._client = None
        self.errors: list[str] = []

    def get_supabase_client(self):
        if self._client is None:
            from supabase import create_client

            self._client = create_client(self.sb.url, self.sb.service_role_key)
        return self._client

    def sync_to_supabase(self, table: str, operation: str, data: dict[str, Any]) -> Any:
        try:
            if not REST_AVAILABLE:
                return self._sql(table, operation, data)
            t = self.get_supabase_client().schema("homeser").table(table)
            if operation == "INSERT":
                return t.insert(data).execute().data[0]
            if operation == "UPDATE":
                fields = {k: v for k, v in data.items() if k != "id"}
                return t.update(fields).eq("id", data["id"]).execute().data[0]
            return t.delete().eq("id", data["id"]).execute().data
        except Exception as exc:  # the seed: a sync failure never breaks the Django save
            self.errors.append(repr(exc))
            return None

    def _sql(self, table: str, operation: str, data: dict[str, Any]) -> Any:
        conn = psycopg2.connect(self.sb.db_url)
        try:
            with conn, conn.cursor() as cur:
                if operation == "INSERT":
                    cols = ", ".join(data)
                    marks = ", ".join(["%s"] * len(data))
                    cur.execute(
                        f"insert into homeser.{table} ({cols}) values ({marks}) "
                        "returning to_jsonb(homeser." + table + ".*)",
                        list(data.values()),
                    )
                elif operation == "UPDATE":
                    fields = {k: v for k, v in data.items() if k != "id"}
                    sets = ", ".join(f"{k} = %s" for k in fields)
                    cur.execute(
                        f"update homeser.{table} set {sets} where id = %s "
                        "returning to_jsonb(homeser." + table + ".*)",
                        [*fields.values(), data["id"]],
                    )
                else:
                    cur.execute(f"delete from homeser.{table} where id = %s", [data["id"]])
                    return None
                return cur.fetchone()[0]
        finally:
            conn.close()


async def test_django_sync_reaches_only_the_customer(fresh_sandbox, monkeypatch):
    monkeypatch.setenv("SANDBOX_REST_SCHEMAS", REST_SCHEMAS)  # expose `homeser` to PostgREST
    sb = fresh_sandbox()
    import jwt as pyjwt

    def token(sub: str) -> str:
        return pyjwt.encode(
            {"role": "authenticated", "sub": sub, "aud": "authenticated", "exp": 4102444800},
            sb.jwt_secret,
            "HS256",
        )

    customer, other, provider = new_id(), new_id(), new_id()
    django = DjangoSync(sb)
    service = await asyncio.to_thread(
        django.sync_to_supabase,
        "services",
        "INSERT",
        {"provider_id": provider, "name": "Gutter cleaning", "category": "cleaning", "price": 90},
    )
    assert service is not None, django.errors

    clients: list[AsyncRealtimeClient] = []
    seen: dict[str, list[dict[str, Any]]] = {"customer": [], "notes": [], "snooper": []}

    async def subscribe(user: str, topic: str, table: str, flt: str | None, sink: list) -> None:
        client = AsyncRealtimeClient(sb.ws_url, sb.anon_key, max_retries=2)
        clients.append(client)
        await client.connect()
        await client.set_auth(token(user))
        systems: list[Any] = []
        channel = client.channel(topic, {"config": PC_CONFIG})
        channel.on_postgres_changes("*", sink.append, schema="homeser", table=table, filter=flt)
        channel.on_system(systems.append)
        await channel.subscribe()
        await wait_for(lambda: systems, 10, f"{topic}: no system message")

    try:
        await subscribe(
            customer,
            f"bookings-changes-{customer}",
            "bookings",
            f"customer_id=eq.{customer}",
            seen["customer"],
        )
        await subscribe(
            customer,
            f"notifications-changes-{customer}",
            "notifications",
            f"user_id=eq.{customer}",
            seen["notes"],
        )
        await subscribe(other, "bookings-all", "bookings", None, seen["snooper"])

        def django_saves() -> list[Any]:
            start = START.isoformat()
            booking = django.sync_to_supabase(
                "bookings",
                "INSERT",
                {
                    "customer_id": customer,
                    "provider_id": provider,
                    "service_id": service["id"],
                    "booking_date": start,
                    "start_time": start,
                    "end_time": (START + dt.timedelta(hours=1)).isoformat(),
                    "status": "pending",
                },
            )
            # pre_save noticed the status change; post_save syncs it and notifies
            confirmed = django.sync_to_supabase(
                "bookings", "UPDATE", {"id": booking["id"], "status": "confirmed"}
            )
            note = django.sync_to_supabase(
                "notifications",
                "INSERT",
                {
                    "user_id": customer,
                    "booking_id": booking["id"],
                    "type": "booking_confirmed",
                    "title": "Booking confirmed",
                },
            )
            return [booking, confirmed, note]

        booking, confirmed, note = await asyncio.to_thread(django_saves)
        assert not django.errors, django.errors
        assert confirmed["status"] == "confirmed" and note["user_id"] == customer
        await wait_for(
            lambda: len(seen["customer"]) >= 2 and seen["notes"], 10, f"customer events {seen}"
        )
        await asyncio.sleep(0.8)
    finally:
        for client in clients:
            await client.close()
    assert [(e["data"]["type"], e["data"]["record"]["status"]) for e in seen["customer"]] == [
        ("INSERT", "pending"),
        ("UPDATE", "confirmed"),
    ]
    assert seen["customer"][1]["data"]["record"]["id"] == booking["id"]
    assert [e["data"]["record"]["id"] for e in seen["notes"]] == [note["id"]]
    assert seen["snooper"] == [], "another customer's JWT never sees the booking"
    # a failing sync is caught, as the seed's signal handlers do
    assert django.sync_to_supabase("bookings", "UPDATE", {"id": -1, "status": "nope"}) is None
    assert django.errors


# --- the demo scenario and the watch profile --------------------------------------------------


async def test_demo_homeser_traffic_and_profile(fresh_sandbox):
    sb = fresh_sandbox("--demo", "--scenario", "homeser")
    client = AsyncRealtimeClient(sb.ws_url, sb.service_role_key, max_retries=2)
    await client.connect()
    seen: dict[str, list[dict[str, Any]]] = {"bookings": [], "notifications": []}
    try:
        channel = client.channel("homeser-all", {"config": PC_CONFIG})
        for table, sink in seen.items():
            channel.on_postgres_changes("*", sink.append, schema="homeser", table=table)
        await channel.subscribe()
        await wait_for(
            lambda: seen["bookings"] and seen["notifications"],
            10,
            f"homeser traffic within 10 s: { {k: len(v) for k, v in seen.items()} }",
        )
    finally:
        await client.close()
    parties = {u.id for u in (*homeser.CUSTOMERS, *homeser.PROVIDERS)}
    for event in seen["bookings"]:
        data = event["data"]
        if data["type"] != "DELETE":
            assert data["record"]["customer_id"] in {c.id for c in homeser.CUSTOMERS}
            assert data["record"]["provider_id"] in {p.id for p in homeser.PROVIDERS}
            if data["type"] == "UPDATE" and data["old_record"].get("status"):
                old, new = data["old_record"]["status"], data["record"]["status"]
                assert new in {t for t, _, _ in homeser.TRANSITIONS.get(old, [])} | {old}
    assert {e["data"]["record"]["user_id"] for e in seen["notifications"]} <= parties

    # the profile, as the monitor runs it with Priya's JWT: while it records, the Django side
    # books for Priya and for another customer; only Priya's rows reach her channels
    body = check_profile(sb, "homeser", 8, env=profile_env(sb, "homeser"))
    assert_all_subscribed(body, "homeser")
    assert body["returncode"] == 0, [a for a in body["alerts"] if a["level"] == "alert"]
    priya, marcus = homeser.CUSTOMERS[0].id, homeser.CUSTOMERS[1].id
    provider = homeser.PROVIDERS[0].id
    wrote: dict[str, int] = {}

    def django_writes() -> None:
        conn = psycopg2.connect(sb.db_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for who in (marcus, priya):
                    cur.execute(
                        "insert into homeser.bookings (customer_id, provider_id, booking_date, "
                        "start_time, end_time, notes) values (%s, %s, %s, %s, %s, 'profile test') "
                        "returning id",
                        (who, provider, START, START, START + dt.timedelta(hours=1)),
                    )
                    wrote[who] = cur.fetchone()[0]
                    cur.execute(
                        "insert into homeser.notifications (user_id, booking_id, type, title) "
                        "values (%s, %s, 'booking_requested', 'Profile test')",
                        (who, wrote[who]),
                    )
        finally:
            conn.close()

    records = record_profile(sb, "homeser", 9, env=profile_env(sb, "homeser"), during=django_writes)
    changes = [r for r in records if r["kind"] == "postgres_changes"]
    bookings = [r for r in changes if r["channel"] == f"bookings-changes-{priya}"]
    notes = [r for r in changes if r["channel"] == f"notifications-changes-{priya}"]
    booked = [r["payload"]["data"]["record"] for r in bookings if r["event"] != "DELETE"]
    assert wrote[priya] in [b["id"] for b in booked], bookings
    assert wrote[marcus] not in [b["id"] for b in booked]
    assert {b["customer_id"] for b in booked} == {priya}
    noted = [r["payload"]["data"]["record"] for r in notes if r["event"] != "DELETE"]
    assert wrote[priya] in [n["booking_id"] for n in noted]
    assert {n["user_id"] for n in noted} == {priya}
    subscribed = {
        r["channel"] for r in records if r["kind"] == "_subscription" and r["event"] == "SUBSCRIBED"
    }
    assert {f"bookings-changes-{priya}", "services-changes", "availability-changes"} <= subscribed

    conn = psycopg2.connect(sb.db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select count(*) from homeser.bookings where status in ('completed', 'cancelled')"
            )
            assert cur.fetchone()[0] <= homeser.MAX_FINISHED
            cur.execute("select count(*) from homeser.services")
            assert cur.fetchone()[0] == len(homeser.SERVICES)
    finally:
        conn.close()
    assert "Traceback" not in sb.log()
