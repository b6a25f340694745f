"""supabase-js conformance: the official client (@supabase/supabase-js 2.119.0 under Node) against
the sandbox, with realtime-js's default protocol (vsn 2.0.0, binary broadcasts) and with vsn 1.0.0.

Each test runs one scenario of `tests/js/scenarios.mjs` in a subprocess. The script prints
`RESULT {...}` with what the client saw; scenarios that need the database to change first print
`SUBSCRIBED`, and the test then writes rows (or calls `realtime.send`) with SQL. One module, long
as it is: every test shares the Node fixture and the scenario runner, and splitting it would only
scatter one client's conformance over files.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import jwt as pyjwt
import pytest
from node_process import run_node_script

VSNS = ["2.0.0", "1.0.0"]
COMMIT_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

pytestmark = [pytest.mark.js, pytest.mark.parametrize("vsn", VSNS)]


def run_scenario(
    node: str,
    sandbox,
    scenario: str,
    vsn: str,
    *,
    on_subscribed: Callable[[], None] | None = None,
    timeout: float = 20,
    **config: Any,
) -> dict[str, Any]:
    """Run `node scenarios.mjs <scenario> <config>`; call `on_subscribed` at its SUBSCRIBED line."""
    cfg = {"url": sandbox.url, "key": sandbox.anon_key, "vsn": vsn, **config}
    acted = False

    def on_line(line: str, _stdin) -> None:
        nonlocal acted
        if line == "SUBSCRIBED" and on_subscribed is not None and not acted:
            acted = True
            on_subscribed()

    result = run_node_script(
        node,
        ["scenarios.mjs", scenario, json.dumps(cfg)],
        on_line=on_line,
        timeout=timeout,
        label=f"scenario {scenario} (vsn {vsn})",
    )
    if on_subscribed is not None:
        assert acted, "the scenario never printed SUBSCRIBED"
    assert result["vsn"] == vsn  # the client really spoke the protocol version under test
    return result


def unique(prefix: str, vsn: str) -> str:
    return f"{prefix}_{vsn.replace('.', '')}_{uuid.uuid4().hex[:8]}"


def messages(wire: list[dict], direction: str) -> list[dict]:
    """Text frames of a wire log as {event, payload, ref}, for both envelopes."""
    out = []
    for frame in wire:
        if frame["dir"] == direction and "text" in frame:
            t = frame["text"]
            out.append(
                {"event": t[3], "payload": t[4], "ref": t[1]}
                if isinstance(t, list)
                else {"event": t["event"], "payload": t["payload"], "ref": t["ref"]}
            )
    return out


# --------------------------------------------------------------------------------------------
# subscribe / leave
# --------------------------------------------------------------------------------------------


def test_subscribe_reports_subscribed_then_closed(node, sandbox, vsn):
    topic = unique("js-sub", vsn)
    r = run_scenario(node, sandbox, "subscribe", vsn, topic=topic)
    assert r["topic"] == f"realtime:{topic}"
    assert r["statuses"] == ["SUBSCRIBED"] and r["errors"] == []
    assert r["state"] == "joined"
    assert r["removed"] == ["ok"]
    assert r["statuses_after_remove"] == ["SUBSCRIBED", "CLOSED"]
    replies = [m for m in messages(r["wire"], "in") if m["event"] == "phx_reply"]
    assert replies[0]["payload"] == {"status": "ok", "response": {"postgres_changes": []}}


def test_remove_channel_resolves_ok_and_reports_closed_once(node, sandbox, vsn):
    r = run_scenario(node, sandbox, "leave", vsn, topic=unique("js-leave", vsn))
    assert r["removed"] == "ok"
    assert r["statuses"] == ["SUBSCRIBED", "CLOSED"]
    assert r["state"] == "closed" and r["channels_left"] == 0
    # on the wire: phx_leave answered ok on its ref, then phx_close on the join ref
    out = messages(r["wire"], "out")
    join_ref = next(m["ref"] for m in out if m["event"] == "phx_join")
    leave_ref = next(m["ref"] for m in out if m["event"] == "phx_leave")
    after_join = messages(r["wire"], "in")[1:]
    assert after_join == [
        {"event": "phx_reply", "payload": {"status": "ok", "response": {}}, "ref": leave_ref},
        {"event": "phx_close", "payload": {}, "ref": join_ref},
    ]


# --------------------------------------------------------------------------------------------
# broadcast
# --------------------------------------------------------------------------------------------


def test_broadcast_self_ack_and_fan_out(node, sandbox, vsn):
    topic = unique("js-bc", vsn)
    r = run_scenario(node, sandbox, "broadcast", vsn, topic=topic)
    hello = {"type": "broadcast", "event": "hello", "payload": {"a": 1}}
    reply = {
        "type": "broadcast",
        "event": "reply",
        "payload": {"b": [1, "x", None], "nested": {"ok": True, "n": 2.5}, "text": "héllo ✓"},
    }
    assert r["statuses"] == {"A": ["SUBSCRIBED"], "B": ["SUBSCRIBED"]}
    assert r["send"] == {"A": "ok", "B": "ok"}
    # A (self: true) gets its own message back and B's; B (self: false) only A's
    assert r["received"] == {"A": [hello, reply], "B": [hello]}

    full_topic = f"realtime:{topic}"
    a_out = [f for f in r["wire"]["A"] if f["dir"] == "out"]
    b_in = [f for f in r["wire"]["B"] if f["dir"] == "in"]
    leave_ref = next(m["ref"] for m in messages(r["wire"]["A"], "out") if m["event"] == "phx_leave")
    a_acks = [
        m
        for m in messages(r["wire"]["A"], "in")
        if m["event"] == "phx_reply"
        and m["payload"] == {"status": "ok", "response": {}}
        and m["ref"] != leave_ref
    ]
    if vsn == "2.0.0":
        # realtime-js sends kind 3 (user broadcast push) and must get kind 4 frames back
        [push] = [f for f in a_out if f.get("binary")]
        assert (push["kind"], push["topic"], push["event"], push["payload"]) == (
            3,
            full_topic,
            "hello",
            '{"a":1}',
        )
        [delivered] = [f for f in b_in if f.get("binary")]
        assert (
            delivered["hex"]
            == (bytes([4, len(full_topic), 5, 0, 1]) + full_topic.encode() + b'hello{"a":1}').hex()
        )
        # the ack answers the kind-3 frame's own ref
        assert [m["ref"] for m in a_acks] == [push["ref"]]
    else:
        assert not any(f.get("binary") for f in r["wire"]["A"] + r["wire"]["B"])
        assert [m for m in messages(r["wire"]["B"], "in") if m["event"] == "broadcast"] == [
            {"event": "broadcast", "payload": hello, "ref": None}
        ]
        sent = next(m for m in messages(r["wire"]["A"], "out") if m["event"] == "broadcast")
        assert [m["ref"] for m in a_acks] == [sent["ref"]]


# --------------------------------------------------------------------------------------------
# presence
# --------------------------------------------------------------------------------------------


def test_presence_join_leave_and_sync(node, sandbox, vsn):
    r = run_scenario(node, sandbox, "presence", vsn, topic=unique("js-presence", vsn))
    assert r["statuses"] == {"A": ["SUBSCRIBED", "CLOSED"], "B": ["SUBSCRIBED"]}
    assert (r["track"], r["untrack"], r["retrack"], r["removed"]) == ("ok", "ok", "ok", "ok")
    alice = [{"user": "alice"}]
    alice2 = [{"user": "alice", "round": 2}]
    round_one = [
        {"event": "sync", "state": {}},
        {"event": "join", "key": "alice", "newPresences": alice, "currentPresences": []},
        {"event": "sync", "state": {"alice": alice}},
        {"event": "leave", "key": "alice", "leftPresences": alice, "currentPresences": []},
        {"event": "sync", "state": {}},
    ]
    round_two_join = [
        {"event": "join", "key": "alice", "newPresences": alice2, "currentPresences": []},
        {"event": "sync", "state": {"alice": alice2}},
    ]
    # B watches alice come, go (untrack), come back and go again (channel removed)
    assert r["events"]["B"] == round_one + round_two_join + [
        {"event": "leave", "key": "alice", "leftPresences": alice2, "currentPresences": []},
        {"event": "sync", "state": {}},
    ]
    # the tracker receives its own diffs too (until it removes its channel)
    assert r["events"]["A"] == round_one + round_two_join
    assert r["state_after_join"] == {"A": {"alice": alice}, "B": {"alice": alice}}
    assert r["state_after_leave"] == {"A": {}, "B": {}}
    assert r["final_state_B"] == {}


# --------------------------------------------------------------------------------------------
# postgres_changes
# --------------------------------------------------------------------------------------------

COLUMNS = [
    {"name": "id", "type": "int4"},
    {"name": "title", "type": "text"},
    {"name": "big", "type": "int8"},
    {"name": "flag", "type": "bool"},
    {"name": "doc", "type": "jsonb"},
    {"name": "tags", "type": "_text"},
    {"name": "ratio", "type": "float8"},
    {"name": "created", "type": "timestamptz"},
]


def make_table(sql, name: str, replica_full: bool = False) -> None:
    sql(
        f"create table public.{name} (id int primary key, title text, big bigint, flag boolean,"
        f" doc jsonb, tags text[], ratio double precision, created timestamptz default now())"
    )
    if replica_full:
        sql(f"alter table public.{name} replica identity full")
    sql(f"alter publication supabase_realtime add table public.{name}")


def insert(sql, table: str, id_: int, title: str, **over: Any) -> None:
    row = {
        "big": 5_000_000_000 + id_,
        "flag": True,
        "doc": {"k": {"n": id_}, "arr": [1, "two"]},
        "tags": ["a", "b"],
        "ratio": 0.25,
        **over,
    }
    sql(
        f"insert into public.{table} (id, title, big, flag, doc, tags, ratio)"
        f" values (%s, %s, %s, %s, %s::jsonb, %s, %s)",
        id_,
        title,
        row["big"],
        row["flag"],
        json.dumps(row["doc"]),
        row["tags"],
        row["ratio"],
    )


def expected_row(id_: int, title: str, **over: Any) -> dict[str, Any]:
    """A row as supabase-js hands it over, minus `created` (checked on its own)."""
    return {
        "id": id_,
        "title": title,
        "big": 5_000_000_000 + id_,
        "flag": True,
        "doc": {"k": {"n": id_}, "arr": [1, "two"]},
        "tags": ["a", "b"],
        "ratio": 0.25,
        **over,
    }


def without_created(record: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(record.get("created"), str) and record["created"], record
    return {k: v for k, v in record.items() if k != "created"}


def assert_typed(record: dict[str, Any]) -> None:
    """JSON types on the wire (before realtime-js converts strings): no stringly values."""
    assert type(record["id"]) is int and type(record["big"]) is int
    assert type(record["flag"]) is bool
    assert isinstance(record["doc"], dict) and isinstance(record["tags"], list)
    assert type(record["ratio"]) is float


def check_subscription(r: dict, topic: str, bindings: list[dict]) -> list[int]:
    """SUBSCRIBED, the echoed bindings with int ids, and the 'Subscribed to PostgreSQL' notice."""
    assert r["statuses"] == ["SUBSCRIBED"] and r["errors"] == []
    assert r["system"] == [
        {
            "message": "Subscribed to PostgreSQL",
            "status": "ok",
            "extension": "postgres_changes",
            "channel": topic,
        }
    ]
    echoed = r["join_response"]["response"]["postgres_changes"]
    assert r["join_response"]["status"] == "ok"
    assert [{k: v for k, v in b.items() if k != "id"} for b in echoed] == bindings
    ids = [b["id"] for b in echoed]
    assert all(type(i) is int for i in ids) and len(set(ids)) == len(ids)
    return ids


def test_postgres_changes_filter_insert_update_delete(node, sandbox, sql, vsn):
    table = unique("js_pg", vsn)
    make_table(sql, table)
    topic = unique("js-pg", vsn)
    bindings = [{"event": "*", "schema": "public", "table": table, "filter": "id=eq.1"}]

    def write() -> None:
        # rows with id 2 must not reach the client; each matching change comes after the
        # non-matching one before it, so a leak would arrive before the last expected change
        insert(sql, table, 2, "other")
        insert(sql, table, 1, "first")
        sql(f"update public.{table} set title = 'nope' where id = 2")
        sql(
            f"update public.{table} set title = 'second', flag = false, doc = %s::jsonb"
            f" where id = 1",
            json.dumps({"changed": True}),
        )
        sql(f"delete from public.{table} where id = 2")
        sql(f"delete from public.{table} where id = 1")

    r = run_scenario(
        node,
        sandbox,
        "postgres",
        vsn,
        on_subscribed=write,
        topic=topic,
        bindings=bindings,
        expect=3,
    )
    [binding_id] = check_subscription(r, topic, bindings)
    got = r["received"]
    assert [(c["binding"], c["eventType"]) for c in got] == [
        (0, "INSERT"),
        (0, "UPDATE"),
        (0, "DELETE"),
    ]
    for change in got:
        assert (change["schema"], change["table"], change["errors"]) == ("public", table, None)
        assert COMMIT_TS.match(change["commit_timestamp"]), change["commit_timestamp"]
    ins, upd, dele = got
    assert without_created(ins["new"]) == expected_row(1, "first") and ins["old"] == {}
    assert without_created(upd["new"]) == expected_row(
        1, "second", flag=False, doc={"changed": True}
    )
    assert upd["old"] == {"id": 1}  # default replica identity: the primary key only
    assert dele["new"] == {} and dele["old"] == {"id": 1}

    # the frames themselves: one per change, typed JSON, record/old_record per event type
    raw = r["raw"]
    assert [p["ids"] for p in raw] == [[binding_id]] * 3
    assert [p["data"]["type"] for p in raw] == ["INSERT", "UPDATE", "DELETE"]
    for p in raw:
        assert p["data"]["columns"] == COLUMNS
        assert p["data"]["errors"] is None
    assert "old_record" not in raw[0]["data"] and "record" not in raw[2]["data"]
    assert_typed(raw[0]["data"]["record"])
    assert_typed(raw[1]["data"]["record"])
    assert raw[1]["data"]["old_record"] == {"id": 1}


def test_postgres_changes_event_bindings_and_operators(node, sandbox, sql, vsn):
    table = unique("js_pg_ev", vsn)
    other = unique("js_pg_other", vsn)
    make_table(sql, table)
    make_table(sql, other)
    topic = unique("js-pg-ev", vsn)
    bindings = [
        {"event": "INSERT", "schema": "public", "table": table},
        {"event": "DELETE", "schema": "public", "table": table},
        {"event": "UPDATE", "schema": "public", "table": table, "filter": "id=in.(5,6)"},
        {"event": "INSERT", "schema": "public", "table": table, "filter": "big=gt.5000000004"},
    ]

    def write() -> None:
        insert(sql, other, 1, "another table")  # no binding for this table
        insert(sql, table, 1, "one")  # binding 0 (big is not > ...004)
        insert(sql, table, 5, "five")  # bindings 0 and 3, one frame
        sql(f"update public.{table} set title = 'x' where id = 1")  # not in (5,6)
        sql(f"update public.{table} set title = 'FIVE' where id = 5")  # binding 2
        sql(f"delete from public.{other} where id = 1")  # no binding for this table
        sql(f"delete from public.{table} where id = 1")  # binding 1

    r = run_scenario(
        node,
        sandbox,
        "postgres",
        vsn,
        on_subscribed=write,
        topic=topic,
        bindings=bindings,
        expect=5,
    )
    ids = check_subscription(r, topic, bindings)
    got = [
        (c["binding"], c["eventType"], c["new"].get("id"), c["old"].get("id"))
        for c in r["received"]
    ]
    assert got == [
        (0, "INSERT", 1, None),
        (0, "INSERT", 5, None),
        (3, "INSERT", 5, None),
        (2, "UPDATE", 5, 5),
        (1, "DELETE", None, 1),
    ]
    assert all(c["table"] == table for c in r["received"])
    assert without_created(r["received"][3]["new"]) == expected_row(5, "FIVE")
    # a change matching two bindings is one frame carrying both ids
    assert [sorted(p["ids"]) for p in r["raw"]] == [
        [ids[0]],
        sorted([ids[0], ids[3]]),
        [ids[2]],
        [ids[1]],
    ]


def test_postgres_changes_replica_identity_full_filters_old_rows(node, sandbox, sql, vsn):
    table = unique("js_pg_full", vsn)
    make_table(sql, table, replica_full=True)
    topic = unique("js-pg-full", vsn)
    bindings = [{"event": "*", "schema": "public", "table": table, "filter": "title=eq.alice"}]

    def write() -> None:
        insert(sql, table, 1, "bob")
        insert(sql, table, 2, "alice")
        sql(f"update public.{table} set ratio = 0.5 where id = 1")
        sql(f"update public.{table} set ratio = 0.75 where id = 2")
        sql(f"delete from public.{table} where id = 1")  # bob's old row does not match
        sql(f"delete from public.{table} where id = 2")  # the filter applies to the old row

    r = run_scenario(
        node,
        sandbox,
        "postgres",
        vsn,
        on_subscribed=write,
        topic=topic,
        bindings=bindings,
        expect=3,
    )
    check_subscription(r, topic, bindings)
    ins, upd, dele = r["received"]
    assert [c["eventType"] for c in (ins, upd, dele)] == ["INSERT", "UPDATE", "DELETE"]
    assert without_created(ins["new"]) == expected_row(2, "alice")
    assert without_created(upd["new"]) == expected_row(2, "alice", ratio=0.75)
    assert without_created(upd["old"]) == expected_row(2, "alice")  # the whole old row
    assert dele["new"] == {}
    assert without_created(dele["old"]) == expected_row(2, "alice", ratio=0.75)
    assert_typed(r["raw"][2]["data"]["old_record"])


# --------------------------------------------------------------------------------------------
# refused keys, malformed frames, private channels
# --------------------------------------------------------------------------------------------


def test_bad_key_never_subscribes_and_upgrades_are_refused(node, sandbox, mint, vsn):
    # a well-formed JWT signed with some other secret
    wrong_secret = pyjwt.encode(
        {"role": "anon", "exp": 4_102_444_800},
        "not-the-sandbox-secret-" + "x" * 32,
        algorithm="HS256",
    )
    r = run_scenario(
        node,
        sandbox,
        "bad_key",
        vsn,
        topic=unique("js-bad", vsn),
        bad_key=wrong_secret,
        observe_ms=2500,
        probe_keys=[None, "not-a-jwt", wrong_secret, mint("anon", ttl=-60), sandbox.anon_key],
    )
    client = r["client"]
    assert "SUBSCRIBED" not in client["statuses"]
    assert "CHANNEL_ERROR" in client["statuses"]
    assert set(client["statuses"]) <= {"CHANNEL_ERROR", "TIMED_OUT", "CLOSED"}
    assert client["state"] == "errored" and client["connected"] is False
    # the client retried at least once, and no upgrade ever succeeded
    assert client["attempts"] >= 2 and client["opened"] == 0 and client["frames_in"] == 0
    assert r["probes"] == [
        {"status": 401, "body": {"error": "API key is missing"}},
        {"status": 401, "body": {"error": "The token provided is not a valid JWT"}},
        {"status": 401, "body": {"error": "Failed to validate JWT signature"}},
        {"status": 401, "body": {"error": "Token has expired"}},
        {"status": 101, "body": None},  # the control: the real anon key is let in
    ]


def test_malformed_frames_are_ignored(node, sandbox, vsn):
    topic = unique("js-malformed", vsn)
    full = f"realtime:{topic}"
    r = run_scenario(node, sandbox, "malformed", vsn, topic=topic)
    assert r["heartbeat_reply"] == [
        None,
        "1",
        "phoenix",
        "phx_reply",
        {"status": "ok", "response": {}},
    ]
    assert r["join_reply"] == [
        "2",
        "2",
        full,
        "phx_reply",
        {"status": "ok", "response": {"postgres_changes": []}},
    ]
    assert r["statuses"] == ["SUBSCRIBED"] and r["send"] == "ok"
    if vsn == "2.0.0":  # from a kind-3 push: a kind-4 frame to the raw vsn 2 socket
        expected = {
            "binary": True,
            "kind": 4,
            "topic": full,
            "event": "after-garbage",
            "meta": "",
            "encoding": 1,
            "payload": '{"ok":1}',
        }
        assert {k: v for k, v in r["raw_broadcast"].items() if k != "hex"} == expected
    else:  # from a vsn 1 JSON push: a text array with null refs
        assert r["raw_broadcast"] == {
            "text": [
                None,
                None,
                full,
                "broadcast",
                {"type": "broadcast", "event": "after-garbage", "payload": {"ok": 1}},
            ]
        }
    # the garbage got no answer at all: three frames in, exactly the ones above
    assert len(r["raw_frames"]) == 3


def test_private_channel_needs_a_read_policy(node, sandbox, sql, mint, vsn):
    topic = unique("js-private", vsn)
    policy = unique("js_private_read", vsn)
    sql(
        f"create policy {policy} on realtime.messages for select to authenticated"
        f" using (realtime.topic() = '{topic}' and extension = 'broadcast')"
    )
    try:
        token = mint("authenticated", sub=str(uuid.uuid4()))

        def send() -> None:
            sql(
                "select realtime.send(%s::jsonb, 'chat:message', %s, true)",
                json.dumps({"text": "hi", "n": 1}),
                topic,
            )

        r = run_scenario(node, sandbox, "private", vsn, on_subscribed=send, topic=topic, jwt=token)
    finally:
        sql(f"drop policy if exists {policy} on realtime.messages")

    # anon key only: refused with the server's exact reason
    assert r["anon"]["statuses"] == ["CHANNEL_ERROR"]
    assert r["anon"]["errors"] == [
        f"Unauthorized: You do not have permissions to read from this Channel topic: {topic}"
    ]
    assert r["anon"]["state"] == "errored"

    user = r["user"]
    assert user["join_access_token_is_jwt"] is True
    assert user["statuses"] == ["SUBSCRIBED"] and user["errors"] == []
    assert user["system"] == [] and user["access_token_pushes"] in ([], ["jwt"])
    [msg] = user["received"]
    message_id = msg["meta"]["id"]
    assert UUID.match(message_id)
    assert msg == {
        "type": "broadcast",
        "event": "chat:message",
        "payload": {"text": "hi", "n": 1, "id": message_id},
        "meta": {"id": message_id},
    }


# --------------------------------------------------------------------------------------------
# postgres_changes visibility: realtime.apply_rls's rules (issue 11, reference §13.2)
# --------------------------------------------------------------------------------------------


def run_clients(node, sandbox, vsn, topic, bindings, clients, expect, write) -> dict[str, Any]:
    """`postgres_as`: each client of `clients` ({name: jwt or None}) subscribes with `bindings`;
    `write` runs once all are subscribed; returns each client's result by name."""
    r = run_scenario(
        node,
        sandbox,
        "postgres_as",
        vsn,
        on_subscribed=write,
        topic=topic,
        bindings=bindings,
        clients=[{"name": n, "jwt": jwt} for n, jwt in clients.items()],
        expect=expect,
    )
    for name, got in r["clients"].items():
        assert got["statuses"] == ["SUBSCRIBED"], (name, got)
        assert [s["status"] for s in got["system"]] == ["ok"], (name, got["system"])
    return r["clients"]


def test_rls_row_is_looked_up_by_primary_key_typed(node, sandbox, sql, mint, vsn):
    """An owner's INSERT with a NULL, a timestamptz and a numeric like 1.50, under REPLICA
    IDENTITY FULL, reaches the owner and nobody else; so does its UPDATE."""
    table = unique("js_rls", vsn)
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

    def write() -> None:
        sql(f"insert into public.{table} values (1, %s, 'theirs', now(), 3)", other)
        sql(
            f"insert into public.{table} values (2, %s, null, '2026-03-04 05:06:07.891+02', 1.50)",
            owner,
        )
        sql(f"update public.{table} set amount = 2.25 where id = 2")

    got = run_clients(
        node,
        sandbox,
        vsn,
        unique("js-rls", vsn),
        [{"event": "*", "schema": "public", "table": table}],
        {
            "owner": mint("authenticated", sub=owner),
            "other": mint("authenticated", sub=other),
            "anon": None,
        },
        {"owner": 2, "other": 1},
        write,
    )
    row = {"id": 2, "owner": owner, "note": None, "at": "2026-03-04T03:06:07.891+00:00"}
    ins, upd = got["owner"]["received"]
    assert (ins["eventType"], ins["new"], ins["errors"]) == ("INSERT", {**row, "amount": 1.5}, None)
    assert (upd["eventType"], upd["new"]) == ("UPDATE", {**row, "amount": 2.25})
    assert upd["old"] == {**row, "amount": 1.5}
    assert [c["new"]["id"] for c in got["other"]["received"]] == [1]
    assert got["anon"]["received"] == [] and got["anon"]["raw"] == []


def test_table_without_primary_key_sends_error_400_not_the_row(node, sandbox, sql, vsn):
    """INSERT/UPDATE: the Error 400 payload to every subscription of the table (filters or
    not), nothing of the row; a DELETE needs no key and goes out as usual."""
    table = unique("js_nopk", vsn)
    sql(
        f"create table public.{table} (a int, b text);"
        f"alter table public.{table} replica identity full;"
        f"alter publication supabase_realtime add table public.{table}"
    )
    bindings = [
        {"event": "*", "schema": "public", "table": table},
        {"event": "INSERT", "schema": "public", "table": table, "filter": "a=eq.99"},
    ]

    def write() -> None:
        sql(f"insert into public.{table} values (1, 'secret')")
        sql(f"update public.{table} set b = 'still secret'")
        sql(f"delete from public.{table}")

    got = run_clients(
        node, sandbox, vsn, unique("js-nopk", vsn), bindings, {"anon": None}, {"anon": 4}, write
    )["anon"]
    error = ["Error 400: Bad Request, no primary key"]
    base = {"schema": "public", "table": table, "commit_timestamp": None, "columns": []}
    ins, upd, dele = (p["data"] for p in got["raw"])
    assert len(got["raw"][0]["ids"]) == 2 and len(got["raw"][1]["ids"]) == 1
    assert ins == {**base, "type": "INSERT", "errors": error, "record": {}}
    assert upd == {**base, "type": "UPDATE", "errors": error, "record": {}, "old_record": {}}
    assert dele["errors"] is None and dele["old_record"] == {"a": 1, "b": "still secret"}
    assert [(c["binding"], c["eventType"], c["errors"]) for c in got["received"]] == [
        (0, "INSERT", error),
        (1, "INSERT", error),
        (0, "UPDATE", error),
        (0, "DELETE", None),
    ]
    assert got["received"][0]["new"] == {} and got["received"][0]["commit_timestamp"] is None


def test_column_privileges_trim_rows_and_an_unselectable_key_is_401(node, sandbox, sql, mint, vsn):
    """No RLS here: a column the role may not SELECT never leaves, in `record`, `old_record` or
    `columns`; a primary key it may not select gives Error 401. Other roles see everything."""
    table, keyless = unique("js_cols", vsn), unique("js_cols_key", vsn)
    sql(
        f"create table public.{table} (id int primary key, title text, secret text);"
        f"alter table public.{table} replica identity full;"
        f"revoke all on public.{table} from anon;"
        f"grant select (id, title) on public.{table} to anon;"
        f"create table public.{keyless} (id int primary key, title text);"
        f"revoke all on public.{keyless} from anon;"
        f"grant select (title) on public.{keyless} to anon;"
        f"alter publication supabase_realtime add table public.{table}, public.{keyless}"
    )
    bindings = [
        {"event": "*", "schema": "public", "table": table},
        {"event": "*", "schema": "public", "table": keyless},
    ]

    def write() -> None:
        sql(f"insert into public.{table} values (1, 'title', 'password')")
        sql(f"update public.{table} set secret = 'new password'")
        sql(f"insert into public.{keyless} values (1, 'visible?')")

    got = run_clients(
        node,
        sandbox,
        vsn,
        unique("js-cols", vsn),
        bindings,
        {"anon": None, "user": mint("authenticated", sub=str(uuid.uuid4()))},
        {"anon": 3, "user": 3},
        write,
    )
    ins, upd, other = (p["data"] for p in got["anon"]["raw"])
    assert ins["columns"] == [{"name": "id", "type": "int4"}, {"name": "title", "type": "text"}]
    assert ins["record"] == {"id": 1, "title": "title"}
    assert upd["record"] == upd["old_record"] == {"id": 1, "title": "title"}
    assert "password" not in json.dumps(got["anon"])
    assert other["errors"] == ["Error 401: Unauthorized"]
    assert (other["record"], other["columns"], other["commit_timestamp"]) == ({}, [], None)
    full = [p["data"] for p in got["user"]["raw"]]
    assert full[0]["record"] == {"id": 1, "title": "title", "secret": "password"}
    assert full[1]["old_record"]["secret"] == "password"
    assert full[2]["record"] == {"id": 1, "title": "visible?"} and full[2]["errors"] is None


# --------------------------------------------------------------------------------------------
# postgres_changes refused at subscribe time, `select`, wildcard sets (issue 11, §13.2)
# --------------------------------------------------------------------------------------------

UNABLE = "Unable to subscribe to changes with given parameters. "


def refusal(table: str, filters: str, exception: str) -> str:
    return (
        UNABLE + "An exception happened so please check your connect parameters: "
        f"[event: *, schema: public, table: {table}, filters: {filters}, select: nil]. "
        f"Exception: {exception}"
    )


def test_bindings_the_subscription_check_refuses(node, sandbox, sql, vsn):
    """Each refusal is a postgres_changes `system` error on a channel that stays joined (no
    phx_close, no "Subscribed to PostgreSQL"), and nothing of the table reaches it."""
    table = unique("js_refuse", vsn)
    sql(
        f"create table public.{table} (id int primary key, title text, flag bool, secret text);"
        f"revoke all on public.{table} from anon;"
        f"grant select (id, title, flag) on public.{table} to anon;"
        f"alter publication supabase_realtime add table public.{table}"
    )
    on = {"event": "*", "schema": "public", "table": table}
    many = ",".join(str(i) for i in range(101))
    cases = {
        "nope=eq.1": {**on, "filter": "nope=eq.1"},
        "secret=eq.x": {**on, "filter": "secret=eq.x"},
        "id=eq.abc": {**on, "filter": "id=eq.abc"},
        "id=in.(1,x)": {**on, "filter": "id=in.(1,x)"},
        "in101": {**on, "filter": f"id=in.({many})"},
        "id=is.true": {**on, "filter": "id=is.true"},
        "id=like.1%": {**on, "filter": "id=like.1%"},
        "title=match.([": {**on, "filter": "title=match.(["},
        "select-nope": {**on, "select": ["id", "nope"]},
        "select-string": {**on, "select": "id,title"},
        "wildcard-select": {"event": "*", "schema": "public", "table": "*", "select": ["id"]},
        "empty-schema": {"event": "*", "schema": unique("nothing_here", vsn)},
    }
    topics = {name: unique("js-refuse", vsn) for name in cases}
    r = run_scenario(
        node,
        sandbox,
        "postgres_cases",
        vsn,
        on_subscribed=lambda: sql(f"insert into public.{table} values (1, 'a', true, 's')"),
        cases=[{"topic": topics[n], "bindings": [b]} for n, b in cases.items()],
    )
    got = {}
    for name, topic in topics.items():
        c = r["cases"][topic]
        assert c["statuses"] == ["SUBSCRIBED"] and not c["closed"], (name, c)
        assert c["received"] == [] and c["raw"] == [], (name, c)
        [system] = c["system"]
        assert (system["extension"], system["status"], system["channel"]) == (
            "postgres_changes",
            "error",
            topic,
        ), (name, system)
        got[name] = system["message"]
    raised = "ERROR P0001 (raise_exception) "
    assert got["nope=eq.1"] == refusal(
        table, '[{"nope", "eq", "1", false}]', raised + "invalid column for filter nope"
    )
    assert got["secret=eq.x"] == refusal(
        table, '[{"secret", "eq", "x", false}]', raised + "invalid column for filter secret"
    )
    bad_int = "ERROR 22P02 (invalid_text_representation) invalid input syntax for type integer: "
    assert got["id=eq.abc"] == refusal(table, '[{"id", "eq", "abc", false}]', bad_int + '"abc"')
    assert got["id=in.(1,x)"] == refusal(table, '[{"id", "in", "{1,x}", false}]', bad_int + '"x"')
    assert got["in101"].endswith(raised + "too many values for `in` filter. Maximum 100")
    assert got["id=is.true"].endswith(
        raised + "is true filter requires a boolean column, got integer"
    )
    assert got["id=like.1%"].endswith(
        raised + "operator like requires a text-compatible column type, got integer"
    )
    assert got["title=match.(["].startswith(UNABLE)
    assert raised + "invalid regular expression for match filter: " in got["title=match.(["]
    assert got["select-nope"] == (
        UNABLE + "An exception happened so please check your connect parameters: "
        f'[event: *, schema: public, table: {table}, filters: [], select: ["id", "nope"]]. '
        f"Exception: {raised}invalid column for select nope"
    )
    assert got["select-string"] == (
        "Error parsing `select` params: expected a list of column name strings, e.g. "
        'select: ["col1", "col2"]'
    )
    assert got["wildcard-select"] == (
        "Column selection is not supported for wildcard subscriptions. Provide an explicit "
        "schema and table name."
    )
    empty = cases["empty-schema"]["schema"]
    assert got["empty-schema"] == (
        UNABLE + "Please check Realtime is enabled for the given connect parameters: "
        f"[event: *, schema: {empty}, table: *, filters: [], select: nil]"
    )


def test_select_trims_rows_and_wildcard_tables_are_fixed_at_subscribe(node, sandbox, sql, vsn):
    """`select` keeps the listed columns plus the primary key; a schema-wide binding covers the
    tables published when it subscribed, not one published after."""
    table = unique("js_select", vsn)
    schema = unique("js_wild", vsn)
    sql(
        f"create table public.{table} (id int primary key, title text, body text, n int);"
        f"alter table public.{table} replica identity full;"
        f"create schema {schema}; grant usage on schema {schema} to anon;"
        f"create table {schema}.before (id int primary key);"
        f"grant select on {schema}.before to anon;"
        f"alter publication supabase_realtime add table public.{table}, {schema}.before"
    )
    topics = {"select": unique("js-select", vsn), "wild": unique("js-wild", vsn)}

    def write() -> None:
        sql(
            f"create table {schema}.after (id int primary key);"
            f"grant select on {schema}.after to anon;"
            f"alter publication supabase_realtime add table {schema}.after"
        )
        sql(f"insert into {schema}.after values (1)")
        sql(f"insert into public.{table} values (1, 'kept', 'dropped', 7)")
        sql(f"update public.{table} set body = 'still dropped', n = 8")
        sql(f"insert into {schema}.before values (2)")

    r = run_scenario(
        node,
        sandbox,
        "postgres_cases",
        vsn,
        on_subscribed=write,
        cases=[
            {
                "topic": topics["select"],
                "bindings": [
                    {"event": "*", "schema": "public", "table": table, "select": ["title"]}
                ],
            },
            {"topic": topics["wild"], "bindings": [{"event": "INSERT", "schema": schema}]},
        ],
        expect={topics["select"]: 2, topics["wild"]: 1},
    )
    sel, wild = r["cases"][topics["select"]], r["cases"][topics["wild"]]
    for c in (sel, wild):
        assert [s["message"] for s in c["system"]] == ["Subscribed to PostgreSQL"]
    ins, upd = (p["data"] for p in sel["raw"])
    assert ins["columns"] == [{"name": "id", "type": "int4"}, {"name": "title", "type": "text"}]
    assert ins["record"] == upd["record"] == upd["old_record"] == {"id": 1, "title": "kept"}
    assert [c["new"] for c in sel["received"]] == [{"id": 1, "title": "kept"}] * 2
    assert [p["data"]["table"] for p in wild["raw"]] == ["before"]
