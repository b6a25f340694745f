"""EcoTrips (seed 000) end to end: `concierge.presence` with traveler-owned RLS, the
`live-slots-update` Edge Function, `group.live_slots` on the realtime feed, and the demo scenario.

Counters are checked against a count made here in Python over the presence rows, following the
seed's wording, not against the recompute's own SQL. One module for one seed system: its schema,
function, feed and scenario share fixtures, and read best in the order the seed tells them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
import psycopg2
import pytest
from node_process import run_node_script
from realtime import AsyncRealtimeClient
from wire import Wire

from sandbox.scenarios.ecotrips import roster

FUNCTION = "/functions/v1/live-slots-update"
COUNTERS = ("presence_opt_in", "presence_visible", "presence_online")
PC_CONFIG = {
    "broadcast": {"ack": False, "self": False},
    "presence": {"key": "", "enabled": False},
    "private": False,
}


# --- helpers ----------------------------------------------------------------------------------


def seed_counts(rows: list[tuple[bool, bool, str]]) -> dict[str, int]:
    """The seed's definitions over (opt_in, visible, status) rows."""
    opted = [r for r in rows if r[0]]
    visible = [r for r in opted if r[1]]
    online = [r for r in visible if r[2] == "online"]
    return dict(zip(COUNTERS, (len(opted), len(visible), len(online)), strict=True))


def direct_count(sql, itinerary_id: str) -> dict[str, int]:
    rows = sql(
        "select opt_in, visible, status from concierge.presence where itinerary_id = %s",
        itinerary_id,
    )
    return seed_counts(rows)


def new_itinerary_id() -> str:
    return f"itn-test-{uuid.uuid4().hex[:10]}"


def make_itinerary(
    sql,
    states: list[tuple[bool, bool, str]],
    *,
    slot: bool = True,
    group: str | None = None,
    itn: str | None = None,
    travelers: list[str] | None = None,
) -> tuple[str, str, str, list[str]]:
    """A fresh itinerary with one presence row per state; returns ids and traveler uuids.

    Changes reach subscribers asynchronously (WAL, then dispatch), so a subscription made right
    after this may still receive these inserts: tests that count events subscribe first, with
    ids from `new_itinerary_id()`, and expect them.
    """
    itn = itn or new_itinerary_id()
    tag = itn.removeprefix("itn-test-")
    grp, esc = group or f"grp-test-{tag}", f"esc-test-{tag}"
    travelers = travelers or [str(uuid.uuid4()) for _ in states]
    if slot:
        sql(
            'insert into "group".live_slots (itinerary_id, group_id, escrow_id) '
            "values (%s, %s, %s)",
            itn,
            grp,
            esc,
        )
    for traveler, (opt_in, visible, status) in zip(travelers, states, strict=True):
        sql(
            "insert into concierge.presence "
            "(traveler_id, itinerary_id, group_id, opt_in, visible, status) "
            "values (%s, %s, %s, %s, %s, %s)",
            traveler,
            itn,
            grp,
            opt_in,
            visible,
            status,
        )
    return itn, grp, esc, travelers


@pytest.fixture
def as_user(sandbox):
    """Run one statement as a JWT's role with its claims, like PostgREST; commits."""
    conn = psycopg2.connect(sandbox.db_url)

    def run(sub: str | None, query: str, *args, role: str = "authenticated"):
        claims = {"role": role, **({"sub": sub} if sub else {})}
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "select set_config('request.jwt.claims', %s, true), "
                    "set_config('request.jwt.claim.sub', %s, true)",
                    (json.dumps(claims), sub or ""),
                )
                cur.execute(f"set local role {role}")
                cur.execute(query, args or None)
                out = cur.fetchall() if cur.description else cur.rowcount
            conn.commit()
            return out
        except Exception:
            conn.rollback()
            raise

    yield run
    conn.close()


async def call(
    base_url: str,
    token: str | None,
    body: Any = None,
    *,
    method: str = "POST",
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    hdrs = dict(headers or {})
    if token is not None:
        hdrs.setdefault("Authorization", f"Bearer {token}")
        hdrs.setdefault("apikey", token)
    kwargs: dict[str, Any] = {"headers": hdrs}
    if raw is not None:
        kwargs["data"] = raw
        hdrs.setdefault("Content-Type", "application/json")
    elif body is not None:
        kwargs["json"] = body
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, base_url + FUNCTION, **kwargs) as resp,
    ):
        text = await resp.text()
        try:
            data = json.loads(text)
        except ValueError:
            data = text
        return resp.status, data, dict(resp.headers)


async def wait_for(predicate, timeout: float = 5.0, message: str = "timed out") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.02)


def audit_lines(log: str, itinerary_id: str) -> list[dict[str, Any]]:
    out = []
    for line in log.splitlines():
        if " sandbox.functions: " not in line:
            continue
        entry = json.loads(line.split(" sandbox.functions: ", 1)[1])
        if entry.get("itinerary_id") == itinerary_id:
            out.append(entry)
    return out


# --- (a) the function, the recompute, and exactly one UPDATE ----------------------------------


async def subscribe_live_slots(client: AsyncRealtimeClient, itn: str, events: list) -> None:
    """The seed's subscription; returns once the server confirms it (the system message)."""
    systems: list[Any] = []
    channel = client.channel("group-live-slots", {"config": PC_CONFIG})
    channel.on_postgres_changes(
        "*", events.append, schema="group", table="live_slots", filter=f"itinerary_id=eq.{itn}"
    )
    channel.on_system(systems.append)
    await channel.subscribe()
    await wait_for(lambda: systems, 10, "no 'Subscribed to PostgreSQL' system message")


def counters(event: dict[str, Any]) -> dict[str, int]:
    return {k: event["data"]["record"][k] for k in COUNTERS}


async def test_live_slots_update_emits_one_update_matching_a_direct_count(
    sandbox, sql, mint, as_user
):
    states = [
        (True, True, "online"),
        (True, True, "away"),
        (True, False, "online"),
        (False, True, "online"),  # opts in below: every counter moves up by one
        (True, True, "offline"),
        (False, False, "away"),
    ]
    itn = new_itinerary_id()
    client = AsyncRealtimeClient(sandbox.ws_url, sandbox.anon_key, max_retries=2)
    await client.connect()
    events: list[dict[str, Any]] = []
    try:
        await subscribe_live_slots(client, itn, events)
        # set-up, seen by the subscription too: the live_slots row is inserted with zero
        # counters, and the first call fills them in
        _, grp, esc, travelers = make_itinerary(sql, states, itn=itn)
        other, *_ = make_itinerary(sql, [(True, True, "online")])
        status, body, _ = await call(sandbox.url, sandbox.service_role_key, {"itinerary_id": itn})
        assert status == 200, body
        before = direct_count(sql, itn)
        assert before == {"presence_opt_in": 4, "presence_visible": 3, "presence_online": 1}
        assert body["event"] == "groups.live_slots.update"
        assert [{k: s[k] for k in COUNTERS} for s in body["slots"]] == [before]
        assert body["slots"][0]["itinerary_id"] == itn
        assert body["slots"][0]["group_id"] == grp and body["slots"][0]["escrow_id"] == esc
        assert body["changed"] == [itn]
        await wait_for(lambda: len(events) >= 2, 10, f"set-up events missing: {events}")
        assert [e["data"]["type"] for e in events] == ["INSERT", "UPDATE"]
        assert counters(events[1]) == before
        events.clear()

        # the traveler opts in, as themselves (RLS), then their session invokes the function
        traveler = travelers[3]
        updated = as_user(
            traveler,
            "update concierge.presence set opt_in = true where traveler_id = %s "
            "and itinerary_id = %s",
            traveler,
            itn,
        )
        assert updated == 1
        only_own = as_user(
            travelers[0],
            "update concierge.presence set status = 'away' where itinerary_id = %s",
            itn,
        )
        assert only_own == 1, "RLS: one traveler's update touches only their row"
        await call(sandbox.url, sandbox.service_role_key, {"itinerary_id": other})  # filtered out
        user_jwt = mint("authenticated", sub=traveler)
        status, body, _ = await call(sandbox.url, user_jwt, {"itinerary_id": itn})
        assert status == 200, body
        after = direct_count(sql, itn)
        assert after == {"presence_opt_in": 5, "presence_visible": 4, "presence_online": 1}
        assert {k: body["slots"][0][k] for k in COUNTERS} == after
        assert body["changed"] == [itn]

        await wait_for(lambda: events, 10, "no postgres_changes event for live_slots")
        await asyncio.sleep(0.8)
        assert len(events) == 1, events
        data = events[0]["data"]
        assert data["type"] == "UPDATE"
        assert data["schema"] == "group" and data["table"] == "live_slots"
        assert data["record"]["itinerary_id"] == itn
        assert counters(events[0]) == after
        assert counters(events[0]) == direct_count(sql, itn)
        assert data["old_record"] == {"itinerary_id": itn}

        # a call that changes nothing writes nothing, so nothing goes out
        from supabase import acreate_client

        sb = await acreate_client(sandbox.url, sandbox.anon_key)
        again = await sb.functions.invoke(
            "live-slots-update", {"body": {"itinerary_id": itn}, "responseType": "json"}
        )
        assert again["changed"] == []
        assert {k: again["slots"][0][k] for k in COUNTERS} == after
        assert again["slots"][0]["updated_at"] == body["slots"][0]["updated_at"]
        await asyncio.sleep(1.0)
        assert len(events) == 1, events
    finally:
        await client.close()

    audits = audit_lines(sandbox.log(), itn)
    assert len(audits) == 3
    assert [a["changed"] for a in audits] == [True, True, False]
    assert {k: audits[1][k] for k in COUNTERS} == after
    assert audits[1]["role"] == "authenticated" and audits[1]["sub"] == traveler
    assert all(a["event"] == "groups.live_slots.update" for a in audits)


async def test_group_and_escrow_ids_select_itineraries(sandbox, sql):
    itn1, grp, esc1, _ = make_itinerary(sql, [(True, True, "online"), (True, False, "away")])
    itn2, _, _, _ = make_itinerary(sql, [(True, True, "away")], group=grp)
    # a group known only from presence rows: the function creates its live_slots row
    itn3, grp3, _, _ = make_itinerary(sql, [(True, True, "online")], slot=False)

    status, body, _ = await call(sandbox.url, sandbox.anon_key, {"group_id": grp})
    assert status == 200, body
    assert [s["itinerary_id"] for s in body["slots"]] == sorted([itn1, itn2])
    for s in body["slots"]:
        assert {k: s[k] for k in COUNTERS} == direct_count(sql, s["itinerary_id"])

    status, body, _ = await call(sandbox.url, sandbox.anon_key, {"escrow_id": esc1})
    assert status == 200, body
    assert [s["itinerary_id"] for s in body["slots"]] == [itn1]
    assert body["slots"][0]["escrow_id"] == esc1

    status, body, _ = await call(sandbox.url, sandbox.anon_key, {"group_id": grp3})
    assert status == 200, body
    assert [s["itinerary_id"] for s in body["slots"]] == [itn3] and body["changed"] == [itn3]
    assert body["slots"][0]["group_id"] == grp3 and body["slots"][0]["escrow_id"] is None
    rows = sql('select presence_opt_in from "group".live_slots where itinerary_id = %s', itn3)
    assert rows == [(1,)]


def test_recompute_does_not_write_when_nothing_changed(sql):
    itn, *_ = make_itinerary(sql, [(True, True, "online"), (False, True, "online")])
    sql('select * from "group".recompute_live_slots(%s)', itn)
    xmin = sql('select xmin::text, updated_at from "group".live_slots where itinerary_id = %s', itn)
    rows = sql(
        'select presence_online from "group".recompute_live_slots(p_itinerary_id => %s)', itn
    )
    assert rows == [(1,)]
    assert (
        sql('select xmin::text, updated_at from "group".live_slots where itinerary_id = %s', itn)
        == xmin
    ), "an unchanged recompute must not update the row"
    with pytest.raises(psycopg2.Error, match="needs itinerary_id, group_id or escrow_id"):
        sql('select * from "group".recompute_live_slots()')


# --- (b) traveler-owned RLS -------------------------------------------------------------------


def test_travelers_see_and_write_only_their_own_presence(sql, as_user):
    itn, grp, _, (alice, bob) = make_itinerary(sql, [(True, True, "online"), (True, True, "away")])
    assert as_user(alice, "select traveler_id::text from concierge.presence") == [(alice,)]
    assert as_user(bob, "select traveler_id::text from concierge.presence") == [(bob,)]
    # writes to someone else's row touch nothing, or are refused
    assert (
        as_user(alice, "update concierge.presence set opt_in = false where traveler_id = %s", bob)
        == 0
    )
    assert as_user(alice, "delete from concierge.presence where traveler_id = %s", bob) == 0
    with pytest.raises(psycopg2.Error, match="row-level security"):
        as_user(
            alice,
            "insert into concierge.presence (traveler_id, itinerary_id, group_id) "
            "values (%s, 'itn-elsewhere', %s)",
            bob,
            grp,
        )
    assert sql(
        "select opt_in from concierge.presence where traveler_id = %s and itinerary_id = %s",
        bob,
        itn,
    ) == [(True,)]
    # a traveler may insert their own row on another itinerary
    assert (
        as_user(
            alice,
            "insert into concierge.presence (traveler_id, itinerary_id, group_id) "
            "values (%s, %s, %s)",
            alice,
            itn + "-b",
            grp,
        )
        == 1
    )
    with pytest.raises(psycopg2.Error, match="permission denied"):
        as_user(None, "select * from concierge.presence", role="anon")
    rows = as_user(None, "select count(*) from concierge.presence", role="service_role")
    assert rows[0][0] >= 3, "service_role bypasses RLS"
    # everyone may read the aggregate counters, nobody but the recompute writes them
    assert as_user(None, 'select count(*) from "group".live_slots', role="anon")[0][0] >= 1
    with pytest.raises(psycopg2.Error, match="permission denied"):
        as_user(alice, 'update "group".live_slots set presence_online = 99')


async def test_presence_changes_reach_only_the_owning_traveler(sandbox, sql, mint):
    itn, alice, bob = new_itinerary_id(), str(uuid.uuid4()), str(uuid.uuid4())
    binding = {
        "event": "*",
        "schema": "concierge",
        "table": "presence",
        "filter": f"itinerary_id=eq.{itn}",
    }
    config = {**PC_CONFIG, "postgres_changes": [binding]}
    sockets = []
    try:
        for token in (mint("authenticated", sub=alice), sandbox.service_role_key):
            w = await Wire.open(sandbox.url, sandbox.anon_key)
            sockets.append(w)
            _, reply = await w.join("concierge-presence", config, access_token=token)
            assert reply["payload"]["status"] == "ok", reply
            system = await w.recv_event("system", timeout=10)
            assert system["payload"]["status"] == "ok", system
        alice_ws, service_ws = sockets
        make_itinerary(
            sql, [(True, True, "online"), (True, True, "away")], itn=itn, travelers=[alice, bob]
        )
        sql("update concierge.presence set status = 'offline' where traveler_id = %s", bob)
        sql("update concierge.presence set status = 'away' where traveler_id = %s", alice)

        def seen(frame: dict[str, Any]) -> tuple[str, str, str]:
            data = frame["payload"]["data"]
            return data["type"], data["record"]["traveler_id"], data["record"]["status"]

        got = [seen(await alice_ws.recv_event("postgres_changes", 10)) for _ in range(2)]
        assert got == [("INSERT", alice, "online"), ("UPDATE", alice, "away")]
        await alice_ws.silent(0.8)  # bob's insert and update never arrive

        got = [seen(await service_ws.recv_event("postgres_changes", 10)) for _ in range(4)]
        assert got == [
            ("INSERT", alice, "online"),
            ("INSERT", bob, "away"),
            ("UPDATE", bob, "offline"),
            ("UPDATE", alice, "away"),
        ], "service_role sees every traveler's change"
    finally:
        for w in sockets:
            await w.close()


# --- (c) the function's refusals --------------------------------------------------------------


async def test_function_refusals(sandbox, mint):
    url = sandbox.url
    status, body, _ = await call(url, None, {"itinerary_id": "x"})
    assert (status, body) == (401, {"msg": "Error: Missing authorization header"})
    status, body, _ = await call(
        url, None, {"itinerary_id": "x"}, headers={"Authorization": sandbox.anon_key}
    )
    assert (status, body) == (401, {"msg": "Error: Auth header is not 'Bearer {token}'"})
    for bad in (
        "not-a-jwt",
        mint("anon", ttl=-60),  # expired
        sandbox.anon_key[:-4] + "AAAA",  # bad signature
    ):
        status, body, _ = await call(url, bad, {"itinerary_id": "x"})
        assert (status, body) == (401, {"msg": "Invalid JWT"}), bad

    token = sandbox.anon_key
    for payload in ({}, {"itinerary": "x"}, {"itinerary_id": ""}, [1, 2], "text"):
        status, body, _ = await call(url, token, payload)
        assert status == 400, payload
        for key in ("itinerary_id", "group_id", "escrow_id"):
            assert key in body["error"], body
    status, body, _ = await call(url, token, raw=b"{not json")
    assert status == 400 and "itinerary_id" in body["error"]
    status, body, _ = await call(url, token, {"itinerary_id": 42})
    assert status == 400 and "`itinerary_id` must be a string" in body["error"]
    status, body, _ = await call(url, token, {"itinerary_id": f"itn-missing-{uuid.uuid4().hex}"})
    assert status == 404 and "no itinerary matches" in body["error"]
    status, body, _ = await call(url, token, method="GET")
    assert status == 405

    status, body, headers = await call(
        url,
        None,
        method="OPTIONS",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-client-info, apikey, content-type",
        },
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-client-info", "apikey", "content-type"} <= allowed
    assert "POST" in headers["Access-Control-Allow-Methods"]


# --- the seed's own client snippet under Node (supabase-js, unchanged but for URL and key) ----

SEED_SNIPPET = r"""
import { createClient } from '@supabase/supabase-js'
import WebSocket from 'ws'

const { url, key, itineraryId } = JSON.parse(process.argv[1])
const supabase = createClient(url, key, { realtime: { transport: WebSocket } })
const payloads = []
setTimeout(() => { console.error('deadline'); process.exit(1) }, 10000)
const subscribed = new Promise((resolve) => {
  const channel = supabase
    .channel("group-live-slots")
    .on(
      "postgres_changes",
      {
        event: "*",
        schema: "group",
        table: "live_slots",
        filter: `itinerary_id=eq.${itineraryId}`,
      },
      (payload) => {
        payloads.push(payload)
      },
    )
    .subscribe((status) => { if (status === "SUBSCRIBED") resolve() })
})
await subscribed
await new Promise((r) => setTimeout(r, 300))
const { data, error } = await supabase.functions.invoke("live-slots-update", {
  body: { itinerary_id: itineraryId },
})
while (payloads.length === 0) await new Promise((r) => setTimeout(r, 20))
await new Promise((r) => setTimeout(r, 700))
console.log('RESULT ' + JSON.stringify({ data, error: error ? String(error) : null, payloads }))
process.exit(0)
"""


@pytest.mark.js
async def test_seed_snippet_under_supabase_js(node, sandbox, sql, as_user):
    itn = new_itinerary_id()
    # a barrier: once it has seen the set-up's last change, every earlier change has been
    # dispatched, so the snippet's subscription can only see what happens after it joins
    client = AsyncRealtimeClient(sandbox.ws_url, sandbox.anon_key, max_retries=2)
    await client.connect()
    barrier: list[dict[str, Any]] = []
    try:
        await subscribe_live_slots(client, itn, barrier)
        _, _, _, travelers = make_itinerary(
            sql, [(True, True, "online"), (True, True, "online"), (True, True, "away")], itn=itn
        )
        sql('select from "group".recompute_live_slots(%s)', itn)
        await wait_for(lambda: len(barrier) == 2, 10, f"set-up events missing: {barrier}")
    finally:
        await client.close()
    changed = as_user(
        travelers[0], "update concierge.presence set opt_in = false where itinerary_id = %s", itn
    )
    assert changed == 1
    cfg = {"url": sandbox.url, "key": sandbox.anon_key, "itineraryId": itn}
    result = await asyncio.to_thread(
        run_node_script,
        node,
        ["--input-type=module", "-e", SEED_SNIPPET, json.dumps(cfg)],
        on_line=lambda line, stdin: None,
        timeout=30,
        label="the seed's live-slots snippet",
    )
    assert result["error"] is None
    expected = direct_count(sql, itn)
    assert expected == {"presence_opt_in": 2, "presence_visible": 2, "presence_online": 1}
    assert {k: result["data"]["slots"][0][k] for k in COUNTERS} == expected
    assert len(result["payloads"]) == 1, result["payloads"]
    payload = result["payloads"][0]
    assert payload["eventType"] == "UPDATE"
    assert payload["schema"] == "group" and payload["table"] == "live_slots"
    assert {k: payload["new"][k] for k in COUNTERS} == expected


# --- (d) the demo scenario --------------------------------------------------------------------


def test_roster_is_fixed_and_readable():
    first, second = roster(), roster()
    assert first == second
    assert [i.itinerary_id for i in first] == [
        "itn-andes-01",
        "itn-fjords-02",
        "itn-atlas-03",
        "itn-borneo-04",
    ]
    for itinerary in first:
        assert 6 <= len(itinerary.travelers) <= 10
        assert itinerary.group_id.startswith("grp-") and itinerary.escrow_id.startswith("esc-")
    ids = [t.traveler_id for i in first for t in i.travelers]
    assert len(set(ids)) == len(ids)


async def test_demo_ecotrips_moves_live_slots(fresh_sandbox):
    sb = fresh_sandbox("--demo", "--scenario", "ecotrips")
    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key, max_retries=2)
    await client.connect()
    changes: list[dict[str, Any]] = []
    known = {i.itinerary_id: len(i.travelers) for i in roster()}

    def traveler_driven() -> list[dict[str, Any]]:
        """Events whose counters a traveler's own invocation (not the start-up one) wrote."""
        audits = [
            (a["itinerary_id"], tuple(a[k] for k in COUNTERS))
            for itn in known
            for a in audit_lines(sb.log(), itn)
            if a["role"] == "authenticated" and a["changed"]
        ]
        return [
            c
            for c in changes
            if (
                c["data"]["record"]["itinerary_id"],
                tuple(c["data"]["record"][k] for k in COUNTERS),
            )
            in audits
        ]

    try:
        channel = client.channel("group-live-slots", {"config": PC_CONFIG})
        channel.on_postgres_changes("*", changes.append, schema="group", table="live_slots")
        await channel.subscribe()
        deadline = time.monotonic() + 10
        while not traveler_driven():
            assert time.monotonic() < deadline, (
                f"no traveler-driven group.live_slots change within 10 s ({len(changes)} events)"
            )
            await asyncio.sleep(0.2)
    finally:
        await client.close()
    for change in changes:
        record = change["data"]["record"]
        assert record["itinerary_id"] in known
        assert (
            known[record["itinerary_id"]]
            >= record["presence_opt_in"]
            >= record["presence_visible"]
            >= record["presence_online"]
            >= 0
        )
    conn = psycopg2.connect(sb.db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select count(*) from concierge.presence where itinerary_id = any(%s)",
                (list(known),),
            )
            assert cur.fetchone()[0] == sum(known.values())
    finally:
        conn.close()
    assert "Traceback" not in sb.log()
    assert sb.proc.poll() is None
