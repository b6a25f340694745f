"""Decoder for PostgreSQL ``pgoutput`` logical replication messages (protocol v1).

The emulator streams changes from a logical replication slot opened with
``START_REPLICATION ... (proto_version '1', publication_names '...')`` via
psycopg2's ``LogicalReplicationConnection`` with ``decode=False``; every
``msg.payload`` is one binary pgoutput message.  This module turns that stream
into :class:`Change` records shaped for Supabase's ``postgres_changes`` payload.

Why values are converted the way they are (the converters live in `pgtext`, next to the
array literal grammar the filters share): Supabase Realtime builds
``record``/``old_record`` with ``to_jsonb()``, so each column's text output is
mapped to the JSON value ``to_jsonb()`` would have produced for that type
(numbers for integer/float/numeric columns, booleans, parsed json/jsonb, ISO
8601 ``T``-separated timestamps, lists for arrays, the text for everything
else).  Two consequences worth knowing:

* ``oid`` (like ``xid``) is *not* a JSON number in ``to_jsonb()`` - it comes out
  as a string, so it is left as text here too.
* Text output depends on the replication session's settings; it must run with
  ``TimeZone=UTC`` and the default ``DateStyle=ISO`` (e.g. connection option
  ``-c timezone=UTC -c datestyle=ISO``) for timestamps to match Supabase.

Changes are buffered per transaction and only released at Commit, because the
commit timestamp every ``postgres_changes`` event carries is known only then and
because consumers must never see changes of a transaction that is not complete.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import pgtext
from .pgtext import Converter, converter_for

__all__ = [
    "Change",
    "Column",
    "Converter",
    "PgOutputDecoder",
    "PgOutputError",
    "Relation",
    "converter_for",
    "format_commit_timestamp",
    "parse_array",
    "pg_epoch_us_to_datetime",
]

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

_U32 = struct.Struct("!I")
_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
# Commit: flags (int8), commit LSN, end LSN, commit timestamp (µs since 2000).
_COMMIT = struct.Struct("!bQQq")
# Begin: final LSN, commit timestamp (µs since 2000), xid.
_BEGIN_MSG = struct.Struct("!QqI")

# Message tags and tuple markers as byte values (indexing bytes yields ints).
_BEGIN, _COMMIT_TAG, _RELATION = ord("B"), ord("C"), ord("R")
_INSERT, _UPDATE, _DELETE = ord("I"), ord("U"), ord("D")
_TYPE, _ORIGIN, _TRUNCATE, _MESSAGE = ord("Y"), ord("O"), ord("T"), ord("M")
_NEW_TUPLE, _KEY_TUPLE, _OLD_TUPLE = ord("N"), ord("K"), ord("O")
_TEXT_VALUE, _NULL_VALUE, _UNCHANGED_TOAST = ord("t"), ord("n"), ord("u")


class PgOutputError(ValueError):
    """The byte stream is not the pgoutput v1 protocol this decoder expects."""


@dataclass(slots=True)
class Column:
    """One published column as announced by a Relation message."""

    name: str
    type_oid: int
    type_name: str
    is_key: bool


@dataclass(slots=True)
class Relation:
    """A published table as announced by a Relation message."""

    oid: int
    schema: str
    table: str
    replica_identity: str
    columns: list[Column]


@dataclass(slots=True)
class Change:
    """One row change, shaped after Supabase's ``postgres_changes`` payload.

    ``columns`` is shared by all changes of the same relation version (it is
    built once per Relation message to keep the hot path allocation-free), so
    treat it as read-only.
    """

    schema: str
    table: str
    type: str
    commit_ts: datetime | None
    columns: list[dict[str, str]]
    record: dict[str, Any] | None
    old_record: dict[str, Any] | None
    relation_oid: int
    key_names: tuple[str, ...] = ()
    xid: int = 0  # the transaction's id (Begin message), to wait until it is visible


def pg_epoch_us_to_datetime(us: int) -> datetime:
    """Convert a PostgreSQL wire timestamp (µs since 2000-01-01 UTC) to an aware datetime."""
    return _PG_EPOCH + timedelta(microseconds=us)


def format_commit_timestamp(dt: datetime) -> str:
    """Format ``dt`` the way Supabase sends ``commit_timestamp``: ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    Naive datetimes are taken to be UTC.  Sub-millisecond digits are truncated
    rather than rounded so a timestamp never moves into the next second.
    """
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond // 1000:03d}Z"


def parse_array(text: str, convert: Converter | None = None, delimiter: str = ",") -> list[Any]:
    """`pgtext.parse_array`, failing with this module's error like the rest of the decoder."""
    try:
        return pgtext.parse_array(text, convert, delimiter)
    except pgtext.ArrayLiteralError as exc:
        raise PgOutputError(str(exc)) from None


# --------------------------------------------------------------------------
# Message decoding
# --------------------------------------------------------------------------


def _cstring(buf: bytes, off: int) -> tuple[str, int]:
    """Read a NUL-terminated string; return it and the offset just past the NUL."""
    end = buf.index(0, off)
    return buf[off:end].decode(), end + 1


class _RelationPlan:
    """Everything precomputed from a Relation message so row decoding is a tight loop."""

    __slots__ = ("columns", "fields", "key_names", "relation")

    def __init__(self, relation: Relation) -> None:
        self.relation = relation
        self.fields: tuple[tuple[str, Converter | None], ...] = tuple(
            (c.name, converter_for(c.type_name)) for c in relation.columns
        )
        self.columns = [{"name": c.name, "type": c.type_name} for c in relation.columns]
        self.key_names = tuple(c.name for c in relation.columns if c.is_key)


class PgOutputDecoder:
    """Stateful decoder for one replication stream.

    State is needed because row messages only reference relations by OID (the
    Relation message describing the columns is sent once per session and again
    after a schema change) and because changes are released per transaction.
    """

    def __init__(self, type_names: Callable[[int], str]) -> None:
        """``type_names`` maps a type OID to its ``typname``.

        It is called once per column for each Relation message (never per
        row), so a simple cached ``pg_type`` lookup is adequate.
        """
        self._type_names = type_names
        self._plans: dict[int, _RelationPlan] = {}
        self._pending: list[Change] = []
        self._xid = 0
        self._handlers: dict[int, Callable[[bytes], list[Change]]] = {
            _INSERT: self._on_insert,
            _UPDATE: self._on_update,
            _DELETE: self._on_delete,
            _BEGIN: self._on_begin,
            _COMMIT_TAG: self._on_commit,
            _RELATION: self._on_relation,
            _TYPE: self._ignore,
            _ORIGIN: self._ignore,
            _TRUNCATE: self._ignore,
            _MESSAGE: self._ignore,
        }

    def relation(self, oid: int) -> Relation | None:
        """The latest known description of relation ``oid``, if any was received."""
        plan = self._plans.get(oid)
        return plan.relation if plan else None

    def feed(self, payload: bytes | bytearray | memoryview) -> list[Change]:
        """Consume one pgoutput message.

        Returns the transaction's changes (in order) when a Commit message
        completes it, else ``[]``.  Raises :class:`PgOutputError` on messages
        outside protocol v1 or rows for a relation never announced.
        """
        buf = payload if isinstance(payload, bytes) else bytes(payload)
        if not buf:
            raise PgOutputError("empty pgoutput message")
        handler = self._handlers.get(buf[0])
        if handler is None:
            raise PgOutputError(f"unsupported pgoutput message type {chr(buf[0])!r}")
        return handler(buf)

    # -- transaction framing -------------------------------------------------

    def _on_begin(self, buf: bytes) -> list[Change]:
        # A Begin while changes are pending means the previous transaction was
        # cut off (stream restarted); the server will resend it, so drop it.
        self._pending = []
        self._xid = _BEGIN_MSG.unpack_from(buf, 1)[2]
        return []

    def _on_commit(self, buf: bytes) -> list[Change]:
        _flags, _commit_lsn, _end_lsn, ts = _COMMIT.unpack_from(buf, 1)
        commit_ts = pg_epoch_us_to_datetime(ts)
        changes, self._pending = self._pending, []
        for change in changes:
            change.commit_ts = commit_ts
        return changes

    def _ignore(self, buf: bytes) -> list[Change]:
        return []

    # -- schema --------------------------------------------------------------

    def _on_relation(self, buf: bytes) -> list[Change]:
        (oid,) = _U32.unpack_from(buf, 1)
        schema, off = _cstring(buf, 5)
        table, off = _cstring(buf, off)
        replica_identity = chr(buf[off])
        (ncols,) = _I16.unpack_from(buf, off + 1)
        off += 3
        columns: list[Column] = []
        for _ in range(ncols):
            flags = buf[off]
            name, off = _cstring(buf, off + 1)
            (type_oid,) = _U32.unpack_from(buf, off)
            off += 8  # type OID + atttypmod (unused: to_jsonb ignores typmods)
            columns.append(Column(name, type_oid, self._type_names(type_oid), bool(flags & 1)))
        relation = Relation(oid, schema or "pg_catalog", table, replica_identity, columns)
        # Replacing the plan is the invalidation: later rows use the new layout.
        self._plans[oid] = _RelationPlan(relation)
        return []

    def _plan(self, oid: int) -> _RelationPlan:
        plan = self._plans.get(oid)
        if plan is None:
            raise PgOutputError(f"row for relation {oid} before its Relation message")
        return plan

    # -- rows ----------------------------------------------------------------

    def _read_tuple(
        self, buf: bytes, off: int, plan: _RelationPlan, keep_nulls: bool
    ) -> tuple[dict[str, Any], int]:
        """Decode TupleData at ``off`` into a typed row; return it and the next offset.

        ``keep_nulls`` is False for 'K' tuples, where NULLs are mere
        placeholders for non-key columns rather than actual values.  Unchanged
        TOASTed values ('u') are omitted because their value is not sent.
        """
        (ncols,) = _I16.unpack_from(buf, off)
        off += 2
        fields = plan.fields
        if ncols != len(fields):
            raise PgOutputError(
                f"tuple has {ncols} columns, relation {plan.relation.oid} has {len(fields)}"
            )
        row: dict[str, Any] = {}
        read_len = _I32.unpack_from
        for name, convert in fields:
            kind = buf[off]
            off += 1
            if kind == _TEXT_VALUE:
                (size,) = read_len(buf, off)
                off += 4
                text = buf[off : off + size].decode()
                off += size
                row[name] = text if convert is None else convert(text)
            elif kind == _NULL_VALUE:
                if keep_nulls:
                    row[name] = None
            elif kind != _UNCHANGED_TOAST:
                raise PgOutputError(f"unsupported tuple value kind {chr(kind)!r}")
        return row, off

    def _change(
        self,
        plan: _RelationPlan,
        kind: str,
        record: dict[str, Any] | None,
        old_record: dict[str, Any] | None,
    ) -> None:
        relation = plan.relation
        self._pending.append(
            Change(
                relation.schema,
                relation.table,
                kind,
                None,
                plan.columns,
                record,
                old_record,
                relation.oid,
                plan.key_names,
                self._xid,
            )
        )

    def _on_insert(self, buf: bytes) -> list[Change]:
        (oid,) = _U32.unpack_from(buf, 1)
        plan = self._plan(oid)
        if buf[5] != _NEW_TUPLE:
            raise PgOutputError(f"Insert without new tuple for relation {oid}")
        record, _ = self._read_tuple(buf, 6, plan, keep_nulls=True)
        self._change(plan, "INSERT", record, None)
        return []

    def _on_update(self, buf: bytes) -> list[Change]:
        (oid,) = _U32.unpack_from(buf, 1)
        plan = self._plan(oid)
        off = 5
        old_kind = buf[off]
        old: dict[str, Any] | None = None
        if old_kind in (_KEY_TUPLE, _OLD_TUPLE):
            old, off = self._read_tuple(buf, off + 1, plan, keep_nulls=old_kind == _OLD_TUPLE)
        if buf[off] != _NEW_TUPLE:
            raise PgOutputError(f"Update without new tuple for relation {oid}")
        record, _ = self._read_tuple(buf, off + 1, plan, keep_nulls=True)
        if old is None:
            # No old tuple means the replica identity did not change, so the
            # key is what Supabase reports as old_record.
            old = {name: record[name] for name in plan.key_names if name in record}
        elif old_kind == _OLD_TUPLE and len(record) < len(plan.fields):
            # Unchanged TOASTed columns are missing from the new tuple but the
            # full old tuple (REPLICA IDENTITY FULL) holds their value.
            record = {
                name: record[name] if name in record else old[name]
                for name, _ in plan.fields
                if name in record or name in old
            }
        self._change(plan, "UPDATE", record, old)
        return []

    def _on_delete(self, buf: bytes) -> list[Change]:
        (oid,) = _U32.unpack_from(buf, 1)
        plan = self._plan(oid)
        old_kind = buf[5]
        if old_kind not in (_KEY_TUPLE, _OLD_TUPLE):
            raise PgOutputError(f"Delete without old tuple for relation {oid}")
        old, _ = self._read_tuple(buf, 6, plan, keep_nulls=old_kind == _OLD_TUPLE)
        self._change(plan, "DELETE", None, old)
        return []
