"""Tests for sandbox.pgoutput: hand-built protocol messages, value converters, and a
round trip through a real embedded PostgreSQL compared against ``to_jsonb()``. One module, long
as it is: the hand-built messages and the real round trip check the same decoder, type by type."""

from __future__ import annotations

import json
import re
import select
import struct
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sandbox.pgoutput import (
    Change,
    Column,
    PgOutputDecoder,
    PgOutputError,
    Relation,
    converter_for,
    format_commit_timestamp,
    parse_array,
    pg_epoch_us_to_datetime,
)

# --------------------------------------------------------------------------
# Message builders (pgoutput protocol v1, big-endian)
# --------------------------------------------------------------------------

UNCHANGED = object()  # marker for an unchanged-TOAST ('u') tuple value

TYPE_OIDS = {
    16: "bool",
    20: "int8",
    23: "int4",
    25: "text",
    114: "json",
    1009: "_text",
    1184: "timestamptz",
    1700: "numeric",
    3802: "jsonb",
    1007: "_int4",
    701: "float8",
    26: "oid",
}
TS_2026_US = int(
    (datetime(2026, 11, 22, 8, 5, 53, 123456, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=UTC))
    / timedelta(microseconds=1)
)


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def begin(ts_us: int = TS_2026_US, xid: int = 700) -> bytes:
    return b"B" + struct.pack("!QqI", 0x16B3748, ts_us, xid)


def commit(ts_us: int = TS_2026_US) -> bytes:
    return b"C" + struct.pack("!bQQq", 0, 0x16B3748, 0x16B3778, ts_us)


def relation(
    oid: int, schema: str, table: str, cols: list[tuple[str, int, bool]], ident: bytes = b"d"
) -> bytes:
    body = (
        struct.pack("!I", oid) + cstr(schema) + cstr(table) + ident + struct.pack("!h", len(cols))
    )
    for name, type_oid, is_key in cols:
        body += bytes([1 if is_key else 0]) + cstr(name) + struct.pack("!Ii", type_oid, -1)
    return b"R" + body


def tuple_data(values: list[Any]) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is UNCHANGED:
            out += b"u"
        else:
            raw = v.encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


def insert(oid: int, values: list[Any]) -> bytes:
    return b"I" + struct.pack("!I", oid) + b"N" + tuple_data(values)


def update(oid: int, new: list[Any], old: list[Any] | None = None, old_kind: bytes = b"K") -> bytes:
    head = b"U" + struct.pack("!I", oid)
    if old is not None:
        head += old_kind + tuple_data(old)
    return head + b"N" + tuple_data(new)


def delete(oid: int, old: list[Any], old_kind: bytes = b"K") -> bytes:
    return b"D" + struct.pack("!I", oid) + old_kind + tuple_data(old)


ITEMS_OID = 16400
ITEMS_COLS = [
    ("id", 23, True),
    ("name", 25, False),
    ("ok", 16, False),
    ("tags", 1009, False),
    ("doc", 3802, False),
    ("at", 1184, False),
]


def decoder_with_items(*extra: bytes) -> PgOutputDecoder:
    dec = PgOutputDecoder(TYPE_OIDS.__getitem__)
    for msg in (begin(), relation(ITEMS_OID, "public", "items", ITEMS_COLS), *extra):
        assert dec.feed(msg) == []
    return dec


ROW1 = ["1", "one", "t", '{a,"b c",NULL}', '{"k": [1, 2]}', "2026-11-22 08:05:53.123456+00"]
REC1 = {
    "id": 1,
    "name": "one",
    "ok": True,
    "tags": ["a", "b c", None],
    "doc": {"k": [1, 2]},
    "at": "2026-11-22T08:05:53.123456+00:00",
}

# --------------------------------------------------------------------------
# Decoder unit tests
# --------------------------------------------------------------------------


def test_insert_is_buffered_until_commit_and_typed() -> None:
    dec = decoder_with_items()
    assert dec.feed(insert(ITEMS_OID, ROW1)) == []
    assert dec.feed(insert(ITEMS_OID, ["2", None, "f", "{}", "null", None])) == []
    changes = dec.feed(commit())
    commit_ts = datetime(2026, 11, 22, 8, 5, 53, 123456, tzinfo=UTC)
    assert changes == [
        Change(
            "public",
            "items",
            "INSERT",
            commit_ts,
            [{"name": n, "type": TYPE_OIDS[t]} for n, t, _ in ITEMS_COLS],
            REC1,
            None,
            ITEMS_OID,
            ("id",),
            700,  # the xid of its Begin
        ),
        Change(
            "public",
            "items",
            "INSERT",
            commit_ts,
            [{"name": n, "type": TYPE_OIDS[t]} for n, t, _ in ITEMS_COLS],
            {"id": 2, "name": None, "ok": False, "tags": [], "doc": None, "at": None},
            None,
            ITEMS_OID,
            ("id",),
            700,
        ),
    ]
    assert dec.relation(ITEMS_OID) == Relation(
        ITEMS_OID,
        "public",
        "items",
        "d",
        [Column(n, t, TYPE_OIDS[t], k) for n, t, k in ITEMS_COLS],
    )
    assert dec.feed(begin()) == [] and dec.feed(commit()) == []  # empty transaction


def test_order_is_preserved_within_and_across_transactions() -> None:
    dec = decoder_with_items()
    seen: list[list[int]] = []
    for tx in ([1, 2, 3], [4], [5, 6]):
        dec.feed(begin())
        for i in tx:
            dec.feed(insert(ITEMS_OID, [str(i), None, None, None, None, None]))
        seen.append([c.record["id"] for c in dec.feed(commit()) if c.record])
    assert seen == [[1, 2, 3], [4], [5, 6]]


def test_update_without_old_tuple_reports_key_and_omits_unchanged_toast() -> None:
    dec = decoder_with_items(update(ITEMS_OID, ["1", UNCHANGED, "t", None, None, None]))
    (change,) = dec.feed(commit())
    assert change.type == "UPDATE"
    assert change.record == {"id": 1, "ok": True, "tags": None, "doc": None, "at": None}
    assert change.old_record == {"id": 1}


def test_update_with_key_tuple_when_primary_key_changes() -> None:
    dec = decoder_with_items(
        update(
            ITEMS_OID,
            ["9", "x", None, None, None, None],
            old=["1", None, None, None, None, None],
            old_kind=b"K",
        )
    )
    (change,) = dec.feed(commit())
    assert change.old_record == {"id": 1}
    assert change.record == {
        "id": 9,
        "name": "x",
        "ok": None,
        "tags": None,
        "doc": None,
        "at": None,
    }


def test_update_with_full_old_tuple_fills_unchanged_toast_from_old() -> None:
    old = ["1", "long text", "f", None, None, None]
    dec = decoder_with_items(
        update(ITEMS_OID, ["1", UNCHANGED, "t", None, None, None], old=old, old_kind=b"O")
    )
    (change,) = dec.feed(commit())
    assert change.old_record == {
        "id": 1,
        "name": "long text",
        "ok": False,
        "tags": None,
        "doc": None,
        "at": None,
    }
    assert change.record == {
        "id": 1,
        "name": "long text",
        "ok": True,
        "tags": None,
        "doc": None,
        "at": None,
    }
    assert list(change.record) == [n for n, _, _ in ITEMS_COLS]  # attnum order kept


def test_delete_key_tuple_omits_null_placeholders_and_full_tuple_keeps_nulls() -> None:
    dec = decoder_with_items(
        delete(ITEMS_OID, ["1", None, None, None, None, None], b"K"),
        delete(ITEMS_OID, ["2", "two", None, None, None, None], b"O"),
    )
    key_delete, full_delete = dec.feed(commit())
    assert (key_delete.type, key_delete.record, key_delete.old_record) == (
        "DELETE",
        None,
        {"id": 1},
    )
    assert full_delete.old_record == {
        "id": 2,
        "name": "two",
        "ok": None,
        "tags": None,
        "doc": None,
        "at": None,
    }


def test_relation_resend_invalidates_cached_layout() -> None:
    dec = decoder_with_items(insert(ITEMS_OID, ROW1))
    dec.feed(relation(ITEMS_OID, "public", "items", [("id", 23, True), ("big", 20, False)], b"f"))
    dec.feed(insert(ITEMS_OID, ["2", "9007199254740993"]))
    first, second = dec.feed(commit())
    assert first.record == REC1
    assert second.record == {"id": 2, "big": 9007199254740993}
    assert second.columns == [{"name": "id", "type": "int4"}, {"name": "big", "type": "int8"}]
    assert dec.relation(ITEMS_OID).replica_identity == "f"


def test_ignored_messages_and_catalog_namespace() -> None:
    dec = PgOutputDecoder(TYPE_OIDS.__getitem__)
    ignored = [
        b"Y" + struct.pack("!I", 90001) + cstr("public") + cstr("mood"),
        b"O" + struct.pack("!Q", 0x1234) + cstr("origin_a"),
        b"T" + struct.pack("!IbI", 1, 0, ITEMS_OID),
        b"M" + struct.pack("!bQ", 1, 0x99) + cstr("prefix") + struct.pack("!i", 3) + b"abc",
    ]
    dec.feed(begin())
    for msg in ignored:
        assert dec.feed(msg) == []
    dec.feed(relation(1262, "", "pg_database", [("oid", 26, True)]))
    dec.feed(insert(1262, ["5"]))
    (change,) = dec.feed(commit())
    assert (change.schema, change.table) == ("pg_catalog", "pg_database")
    assert change.record == {"oid": "5"}  # to_jsonb() renders oid as a string


def test_begin_discards_a_cut_off_transaction() -> None:
    dec = decoder_with_items(insert(ITEMS_OID, ROW1))
    dec.feed(begin())
    dec.feed(insert(ITEMS_OID, ["2", None, None, None, None, None]))
    assert [c.record["id"] for c in dec.feed(commit()) if c.record] == [2]


def test_accepts_memoryview_and_bytearray_payloads() -> None:
    dec = PgOutputDecoder(TYPE_OIDS.__getitem__)
    dec.feed(memoryview(begin()))
    dec.feed(bytearray(relation(ITEMS_OID, "public", "items", ITEMS_COLS)))
    dec.feed(memoryview(insert(ITEMS_OID, ROW1)))
    assert dec.feed(bytearray(commit()))[0].record == REC1


def test_protocol_errors() -> None:
    dec = PgOutputDecoder(TYPE_OIDS.__getitem__)
    with pytest.raises(PgOutputError, match="before its Relation"):
        dec.feed(insert(ITEMS_OID, ROW1))
    with pytest.raises(PgOutputError, match="unsupported pgoutput message"):
        dec.feed(b"S" + struct.pack("!Ib", 1, 1))  # protocol v2 stream start
    with pytest.raises(PgOutputError, match="empty"):
        dec.feed(b"")
    dec.feed(relation(ITEMS_OID, "public", "items", ITEMS_COLS))
    with pytest.raises(PgOutputError, match="tuple has 1 columns"):
        dec.feed(insert(ITEMS_OID, ["1"]))
    binary = insert(ITEMS_OID, ROW1).replace(b"t\x00\x00\x00\x011", b"b\x00\x00\x00\x011", 1)
    with pytest.raises(PgOutputError, match="value kind 'b'"):
        dec.feed(binary)


# --------------------------------------------------------------------------
# Converter unit tests
# --------------------------------------------------------------------------


def convert(type_name: str, text: str) -> Any:
    conv = converter_for(type_name)
    return text if conv is None else conv(text)


@pytest.mark.parametrize(
    ("type_name", "text", "expected"),
    [
        ("bool", "t", True),
        ("bool", "f", False),
        ("int2", "-32768", -32768),
        ("int4", "42", 42),
        ("int8", "9223372036854775807", 2**63 - 1),
        ("oid", "16384", "16384"),
        ("float4", "1.5", 1.5),
        ("float8", "-1e+300", -1e300),
        ("float8", "NaN", "NaN"),
        ("float8", "Infinity", "Infinity"),
        ("float8", "-Infinity", "-Infinity"),
        ("numeric", "12345678901234567890", 12345678901234567890),
        ("numeric", "1.50", 1.5),
        ("numeric", "-0.0000001", -1e-7),
        ("numeric", "NaN", "NaN"),
        ("numeric", "Infinity", "Infinity"),
        ("json", '{"a": [1, null]}', {"a": [1, None]}),
        ("jsonb", '"s"', "s"),
        ("jsonb", "null", None),
        ("timestamptz", "2026-11-22 08:05:53.123456+00", "2026-11-22T08:05:53.123456+00:00"),
        ("timestamptz", "2026-11-22 08:05:53-03", "2026-11-22T08:05:53-03:00"),
        ("timestamptz", "2026-11-22 08:05:53+05:30", "2026-11-22T08:05:53+05:30"),
        ("timestamptz", "1850-01-01 00:00:00+00:53:28", "1850-01-01T00:00:00+00:53:28"),
        ("timestamptz", "0044-03-15 12:00:00+00 BC", "0044-03-15T12:00:00+00:00 BC"),
        ("timestamptz", "infinity", "infinity"),
        ("timestamptz", "-infinity", "-infinity"),
        ("timestamp", "2026-11-22 08:05:53.12", "2026-11-22T08:05:53.12"),
        ("timestamp", "0044-03-15 12:00:00 BC", "0044-03-15T12:00:00 BC"),
        ("date", "2026-11-22", "2026-11-22"),
        ("timetz", "08:05:53+00", "08:05:53+00"),
        ("interval", "1 day 02:00:00", "1 day 02:00:00"),
        ("bytea", "\\x0102", "\\x0102"),
        ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("mood_enum", "happy", "happy"),
        ("text", "", ""),
    ],
)
def test_scalar_converters(type_name: str, text: str, expected: Any) -> None:
    assert convert(type_name, text) == expected
    assert type(convert(type_name, text)) is type(expected)


@pytest.mark.parametrize(
    ("type_name", "text", "expected"),
    [
        ("_int4", "{1,2,3}", [1, 2, 3]),
        ("_int4", "{}", []),
        ("_int4", "{{1,2},{3,NULL}}", [[1, 2], [3, None]]),
        ("_int4", "[0:2]={1,2,3}", [1, 2, 3]),
        ("_int4", "[1:2][1:1]={{1},{2}}", [[1], [2]]),
        (
            "_text",
            '{"a b","c\\"d",NULL,"NULL","","back\\\\slash",plain}',
            ["a b", 'c"d', None, "NULL", "", "back\\slash", "plain"],
        ),
        ("_text", '{"{braces}","with,comma"," lead"}', ["{braces}", "with,comma", " lead"]),
        ("_bool", "{t,f,NULL}", [True, False, None]),
        ("_numeric", "{1,2.5,NaN}", [1, 2.5, "NaN"]),
        ("_jsonb", '{"{\\"a\\": null}","null","\\"s\\"",1}', [{"a": None}, None, "s", 1]),
        (
            "_timestamptz",
            '{"2026-11-22 08:05:53.5+00",infinity}',
            ["2026-11-22T08:05:53.5+00:00", "infinity"],
        ),
        (
            "_uuid",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
        ),
        ("_box", "{(1,1),(0,0);(2,2),(1,1)}", ["(1,1),(0,0)", "(2,2),(1,1)"]),
        ("_mood", "{happy,sad}", ["happy", "sad"]),
    ],
)
def test_array_converters(type_name: str, text: str, expected: Any) -> None:
    assert convert(type_name, text) == expected


def test_parse_array_rejects_malformed_literal() -> None:
    with pytest.raises(PgOutputError):
        parse_array("{1,2")
    with pytest.raises(PgOutputError):
        parse_array("not an array")
    with pytest.raises(PgOutputError):
        parse_array("{1}}")
    with pytest.raises(PgOutputError):
        parse_array("{1}{2}")


def test_commit_timestamp_helpers() -> None:
    assert pg_epoch_us_to_datetime(0) == datetime(2000, 1, 1, tzinfo=UTC)
    dt = pg_epoch_us_to_datetime(TS_2026_US)
    assert dt == datetime(
        2026, 11, 22, 8, 5, 53, 123456, tzinfo=UTC
    ) and dt.utcoffset() == timedelta(0)
    assert format_commit_timestamp(dt) == "2026-11-22T08:05:53.123Z"
    assert (
        format_commit_timestamp(datetime(2026, 1, 2, 3, 4, 5, 999999)) == "2026-01-02T03:04:05.999Z"
    )
    plus2 = timezone(timedelta(hours=2))
    assert (
        format_commit_timestamp(datetime(2026, 1, 2, 0, 30, tzinfo=plus2))
        == "2026-01-01T22:30:00.000Z"
    )


# --------------------------------------------------------------------------
# Integration: real PostgreSQL, real pgoutput stream vs. to_jsonb()
# --------------------------------------------------------------------------

SCHEMA_SQL = """
create type mood as enum ('happy', 'sad');
create table pgo_items (
    id int4 primary key, big int8, label text, flag bool, ratio float8, amount numeric,
    doc jsonb, at timestamptz, tags text[], nums int4[], uid uuid, note text, gone int4,
    small int2, f4 float4, day date, local_ts timestamp, span interval, grid int4[],
    docs jsonb[], stamps timestamptz[], raw bytea, feeling mood, blob text
);
alter table pgo_items drop column gone;
alter table pgo_items alter column blob set storage external;
create table pgo_full (id int4 primary key, label text, at timestamptz, blob text);
alter table pgo_full replica identity full;
alter table pgo_full alter column blob set storage external;
create publication pgo_pub for table pgo_items, pgo_full;
"""
# Longer than the TOAST threshold and (storage external) kept out of line uncompressed.
BLOB = "".join(chr(0x41 + (i * 7) % 26) for i in range(6000))
ROWS_SQL = """
insert into pgo_items values
 (1, 9007199254740993, 'plain', true, 1.25, 12345678901234567890.5, '{"a": {"b": [1, "x", null]}}',
  '2026-11-22 08:05:53.123456+00', '{"a b","c\\"d",NULL,"NULL",""}', '{1,2,3}',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'note', -5, 1.0000001, '2026-11-22',
  '2026-11-22 08:05:53.12', '1 day 02:00', '{{1,2},{3,4}}', array['{"k": 1}', 'null']::jsonb[],
  array['2026-01-01 00:00:00+00', 'infinity']::timestamptz[], '\\x0102ff', 'happy', %(blob)s);
insert into pgo_items (id) values (2);
insert into pgo_items values
 (3, -1, 'ünïcødé ✓', false, 'NaN', 'Infinity', '[1, 2.5, "s"]', '-infinity', '{}',
  '[0:1]={7,NULL}', null, null, 0, '-Infinity', '0044-03-15 BC', '0044-03-15 12:00 BC',
  '-3 mons', '{}', '{}', '{}', '', 'sad', null);
insert into pgo_full values (10, 'full', '2026-11-22 08:05:53+00', %(blob)s);
"""
# (sql, params, rows read back as expected records after commit, rows read before)
STEPS: list[tuple[str, dict[str, str], list[tuple[str, int]], list[tuple[str, int]]]] = [
    (
        ROWS_SQL,
        {"blob": BLOB},
        [("pgo_items", 1), ("pgo_items", 2), ("pgo_items", 3), ("pgo_full", 10)],
        [],
    ),
    ("update pgo_items set label = 'renamed' where id = 1", {}, [("pgo_items", 1)], []),
    (
        "update pgo_full set label = 'full-renamed' where id = 10",
        {},
        [("pgo_full", 10)],
        [("pgo_full", 10)],
    ),
    ("update pgo_items set id = 30 where id = 3", {}, [("pgo_items", 30)], []),
    (
        "delete from pgo_items where id = 2; delete from pgo_full where id = 10",
        {},
        [],
        [("pgo_items", 2), ("pgo_full", 10)],
    ),
    ("insert into pgo_full values (11, 'gone soon', null, null); truncate pgo_full", {}, [], []),
    ("alter table pgo_items add column extra int4 default 7", {}, [], []),
    ("insert into pgo_items (id) values (4)", {}, [("pgo_items", 4)], []),
]


@pytest.fixture(scope="module")
def pg_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded PostgreSQL with wal_level=logical (restarted once if needed)."""
    pgserver = pytest.importorskip("pgserver")
    import sys

    import psycopg2
    from pgserver._commands import pg_ctl

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sandbox_process import traversable  # pgserver's user must reach it (see there)

    srv = pgserver.get_server(
        traversable(Path(tmp_path_factory.mktemp("pgoutput"))) / "pg", cleanup_mode="stop"
    )
    try:
        conn = psycopg2.connect(srv.get_uri())
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("show wal_level")
            needs_restart = cur.fetchone()[0] != "logical"
            if needs_restart:
                cur.execute("alter system set wal_level = 'logical'")
        conn.close()
        if needs_restart:
            pg_ctl(
                ["-w", "restart", "-m", "fast"], pgdata=srv.pgdata, user=srv.system_user, timeout=30
            )
            srv._postmaster_info = None
            srv.ensure_postgres_running()
        yield srv.get_uri()
    finally:
        srv.cleanup()


def _fetch_rows(cur: Any, refs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    rows = []
    for table, row_id in refs:
        cur.execute(f"select to_jsonb(t)::text from {table} t where id = %s", (row_id,))
        rows.append(json.loads(cur.fetchone()[0]))
    return rows


def _column_types(cur: Any, table: str) -> list[dict[str, str]]:
    cur.execute(
        "select a.attname, t.typname from pg_attribute a join pg_type t on t.oid = a.atttypid"
        " where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped"
        " order by a.attnum",
        (table,),
    )
    return [{"name": name, "type": typ} for name, typ in cur.fetchall()]


def _drain(
    repl_conn: Any, decoder: PgOutputDecoder, want: int, timeout: float = 8.0
) -> list[list[Change]]:
    """Read the stream until ``want`` non-empty transactions were decoded."""
    txs: list[list[Change]] = []
    deadline = time.monotonic() + timeout
    cur = repl_conn.cursor()
    while len(txs) < want and time.monotonic() < deadline:
        msg = cur.read_message()
        if msg is None:
            select.select([repl_conn], [], [], 0.1)
            continue
        changes = decoder.feed(msg.payload)
        if changes:
            txs.append(changes)
        msg.cursor.send_feedback(flush_lsn=msg.data_start)
    return txs


def test_real_pgoutput_stream_matches_to_jsonb(pg_uri: str) -> None:
    import psycopg2
    import psycopg2.extras

    session = "-c timezone=UTC -c datestyle=ISO"
    conn = psycopg2.connect(pg_uri, options=session)
    repl = psycopg2.connect(
        pg_uri, options=session, connection_factory=psycopg2.extras.LogicalReplicationConnection
    )
    try:
        cur = conn.cursor()
        cur.execute(SCHEMA_SQL)
        conn.commit()
        cur.execute("select oid, typname from pg_type")
        type_names = dict(cur.fetchall())
        conn.commit()
        item_columns = _column_types(cur, "pgo_items")
        full_columns = _column_types(cur, "pgo_full")
        relids = {}
        for table in ("pgo_items", "pgo_full"):
            cur.execute("select %s::regclass::oid", (table,))
            relids[table] = cur.fetchone()[0]

        repl_cur = repl.cursor()
        repl_cur.execute("CREATE_REPLICATION_SLOT pgo_slot TEMPORARY LOGICAL pgoutput")
        repl_cur.start_replication(
            slot_name="pgo_slot",
            decode=False,
            options={"proto_version": "1", "publication_names": "pgo_pub"},
        )

        expected_after: list[list[dict[str, Any]]] = []
        expected_before: list[list[dict[str, Any]]] = []
        started = datetime.now(UTC)
        for sql, params, after, before in STEPS:
            expected_before.append(_fetch_rows(cur, before))
            cur.execute(sql, params or None)
            conn.commit()
            expected_after.append(_fetch_rows(cur, after))
        conn.commit()

        decoder = PgOutputDecoder(type_names.__getitem__)
        txs = _drain(repl, decoder, want=7)
    finally:
        repl.close()
        conn.close()

    assert [[(c.table, c.type) for c in tx] for tx in txs] == [
        [("pgo_items", "INSERT")] * 3 + [("pgo_full", "INSERT")],
        [("pgo_items", "UPDATE")],
        [("pgo_full", "UPDATE")],
        [("pgo_items", "UPDATE")],
        [("pgo_items", "DELETE"), ("pgo_full", "DELETE")],
        [("pgo_full", "INSERT")],  # the TRUNCATE in the same transaction is ignored
        [("pgo_items", "INSERT")],  # the ALTER TABLE transaction carries no rows
    ]
    inserted, upd_default, upd_full, upd_pk, deletes, _, last_insert = txs

    # 1. Multi-row insert: order kept, every value typed exactly as to_jsonb() renders it.
    assert [c.record for c in inserted] == expected_after[0]
    assert all(c.old_record is None for c in inserted)
    assert [c.columns for c in inserted] == [item_columns] * 3 + [full_columns]
    assert [c.relation_oid for c in inserted] == [relids["pgo_items"]] * 3 + [relids["pgo_full"]]
    assert all(c.schema == "public" for tx in txs for c in tx)

    # 2. Default replica identity: old_record is the key; unchanged TOAST (blob) is omitted.
    (change,) = upd_default
    assert change.old_record == {"id": 1}
    assert change.record == {k: v for k, v in expected_after[1][0].items() if k != "blob"}

    # 3. REPLICA IDENTITY FULL: full old row; unchanged TOAST value recovered from it.
    (change,) = upd_full
    assert change.old_record == expected_before[2][0]
    assert change.record == expected_after[2][0]

    # 4. Primary key change: pgoutput sends a 'K' old tuple with only the old key.
    (change,) = upd_pk
    assert change.old_record == {"id": 3}
    assert change.record == expected_after[3][0]

    # 5. Deletes: key only for default identity, the whole row for FULL.
    assert [c.old_record for c in deletes] == [{"id": 2}, expected_before[4][1]]
    assert all(c.record is None for c in deletes)

    # 6. After ALTER TABLE a new Relation message arrives and the new column shows up.
    (change,) = last_insert
    assert change.record == expected_after[7][0] and change.record["extra"] == 7
    assert change.columns == item_columns + [{"name": "extra", "type": "int4"}]

    # Commit timestamps: aware UTC, shared within a transaction, non-decreasing.
    stamps = [tx[0].commit_ts for tx in txs]
    assert all(c.commit_ts == tx[0].commit_ts for tx in txs for c in tx)
    assert stamps == sorted(stamps)
    assert all(ts is not None and ts.utcoffset() == timedelta(0) for ts in stamps)
    assert started - timedelta(seconds=5) <= stamps[0] <= datetime.now(UTC)
    formatted = format_commit_timestamp(stamps[0])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", formatted)
