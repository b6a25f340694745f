"""postgres_changes messages: which subscribers get one WAL change, and in what shape.

The steps follow `realtime.apply_rls` (supabase/realtime
priv/repo/tenant_schema/realtime/functions/apply_rls.sql) and the poller that sends its rows
(lib/extensions/postgres_cdc_rls/replication_poller.ex, replications.ex):

1. `match`: the bindings a change concerns (relation and event), and whether each one's filter
   passes. Filters are evaluated here, in Python (`filters`); everything about who may see the
   row is decided by PostgreSQL.
2. `Visibility.judge`: one SQL call per change for every group of subscribers that share a role
   and claims.
3. `Shapes`: one payload per set of columns a group may see (column privileges, `select`), encoded
   once and shared by every subscriber with that set. An Error 400/401 replaces the row for every
   subscription of the group, filters or not, with `columns: []`, `record: {}` and
   `commit_timestamp: null`, as the poller fills in what apply_rls leaves out. A DELETE on a table
   with RLS keeps only the primary key in `old_record`.
4. One frame per (wire format, topic, ids, payload): subscribers of one topic share its bytes.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from . import serializers as s
from .access import Verdict, Visibility
from .channels import Binding, Channel
from .hub import Hub
from .pgoutput import Change, format_commit_timestamp

log = logging.getLogger("sandbox.pgchanges")

PG_PAYLOAD_LIMIT = 1024 * 1024  # Postgres change payload limit (reference §9.1)
PG_SMALL_VALUE = 64

Candidates = dict[Channel, list[tuple[Binding, bool]]]


def match(hub: Hub, change: Change) -> Candidates:
    """Per channel, its bindings on this change's relation and event, each with whether its
    filter passes (DELETEs are filtered on `old_record`, the rest on `record`)."""
    row = (change.old_record if change.type == "DELETE" else change.record) or {}
    types = {c["name"]: c["type"] for c in change.columns}
    found: Candidates = {}
    # wildcard bindings were expanded to their tables at subscribe time (`subscriptions`)
    for ch, bindings in hub.pg_index.get((change.schema, change.table), {}).items():
        for b in bindings:
            if b.wants(change.type):
                found.setdefault(ch, []).append((b, b.filter.matches(row, types)))
    return found


class Shapes:
    """The `data` objects of one change, encoded once per distinct column set."""

    def __init__(self, change: Change) -> None:
        self.change = change
        self._encoded: dict[Any, bytes] = {}

    def error(self, message: str) -> tuple[Any, bytes]:
        key = ("error", message)
        data = self._encoded.get(key)
        if data is None:
            data = self._encoded[key] = orjson.dumps(self._error_data(message))
        return key, data

    def rows(self, verdict: Verdict, select: tuple[str, ...] | None) -> tuple[Any, bytes]:
        """The row as a role with `verdict` sees it, trimmed to `select` plus the primary key."""
        kept = verdict.selectable
        if select is not None:
            kept = kept & (frozenset(select) | frozenset(verdict.pkey))
        key = (kept, verdict.rls)
        data = self._encoded.get(key)
        if data is None:
            data = self._encoded[key] = pg_data(self._row_data(kept, verdict))
        return key, data

    def _error_data(self, message: str) -> dict[str, Any]:
        change = self.change
        data: dict[str, Any] = {
            "schema": change.schema,
            "table": change.table,
            "commit_timestamp": None,
            "type": change.type,
            "columns": [],
            "errors": [message],
            "record": {},
        }
        if change.type == "UPDATE":
            data["old_record"] = {}
        return data

    def _row_data(self, kept: frozenset[str], verdict: Verdict) -> dict[str, Any]:
        change = self.change
        ts = change.commit_ts
        data: dict[str, Any] = {
            "schema": change.schema,
            "table": change.table,
            "commit_timestamp": format_commit_timestamp(ts) if ts else None,
            "type": change.type,
            "columns": [c for c in change.columns if c["name"] in kept],
            "errors": None,
        }
        if change.type != "DELETE":
            data["record"] = _only(change.record, kept)
        if change.type != "INSERT":
            old_kept = kept
            if change.type == "DELETE" and verdict.rls:
                old_kept = kept & frozenset(verdict.pkey)  # a gone row cannot be checked
            data["old_record"] = _only(change.old_record, old_kept)
        return data


def _only(row: dict[str, Any] | None, kept: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in (row or {}).items() if k in kept}


def _by_select(bindings: list[Binding]) -> dict[tuple[str, ...] | None, list[int]]:
    """Binding ids grouped by their `select`: the server sends one message per column set."""
    out: dict[tuple[str, ...] | None, list[int]] = {}
    for b in bindings:
        out.setdefault(b.select, []).append(b.id)
    return out


class ChangeDispatcher:
    """Sends each change to the subscribers that may see it, in the shape each may see."""

    def __init__(self, hub: Hub, visibility: Visibility) -> None:
        self.hub = hub
        self.visibility = visibility

    async def dispatch(self, change: Change) -> int:
        """Frames written for this change (0 when nobody was subscribed to it or may see it)."""
        self.hub.stats.db_changes += 1
        found = match(self.hub, change)
        if not found:
            return 0
        groups: dict[str, int] = {}
        claims = []
        for ch in found:
            if ch.claims.token not in groups:
                groups[ch.claims.token] = len(claims)
                claims.append(ch.claims)
        verdicts = await self.visibility.judge(change, claims)
        shapes = Shapes(change)
        frames: dict[tuple[Any, ...], bytes] = {}
        n = 0
        for ch, bindings in found.items():
            verdict = verdicts[groups[ch.claims.token]]
            for key, ids, data in _messages(shapes, verdict, bindings):
                n += self._write(frames, ch, key, ids, data)
        self.hub.stats.db_messages_delivered += n
        return n

    @staticmethod
    def _write(
        frames: dict[tuple[Any, ...], bytes], ch: Channel, key: Any, ids: list[int], data: bytes
    ) -> int:
        # the frame names no join_ref, so channels of one topic, vsn, ids and shape share it
        fkey = (ch.conn.vsn, ch.topic, tuple(ids), key)
        frame = frames.get(fkey)
        if frame is None:
            frame = frames[fkey] = s.ws_frame(pg_text(ch.conn.vsn, ch.topic, ids, data), s.OP_TEXT)
        return int(ch.conn.write(frame))


def _messages(
    shapes: Shapes, verdict: Verdict | None, bindings: list[tuple[Binding, bool]]
) -> list[tuple[Any, list[int], bytes]]:
    """The messages one channel gets: (shape key, binding ids, encoded data) each."""
    if verdict is None:
        return []
    if verdict.error is not None:  # every subscription of the role, filters or not
        key, data = shapes.error(verdict.error)
        return [(key, ids, data) for ids in _by_select([b for b, _ in bindings]).values()]
    if not verdict.visible:
        return []
    out = []
    for select, ids in _by_select([b for b, ok in bindings if ok]).items():
        key, data = shapes.rows(verdict, select)
        out.append((key, ids, data))
    return out


def pg_text(vsn: int, topic: str, ids: list[int], data: bytes) -> bytes:
    """One postgres_changes message around the encoded `data`, in the channel's wire format."""
    ids_json = orjson.dumps(ids)
    if vsn == 1:
        return (
            b'{"topic":'
            + orjson.dumps(topic)
            + b',"event":"postgres_changes","payload":{"ids":'
            + ids_json
            + b',"data":'
            + data
            + b'},"ref":null}'
        )
    return (
        b"[null,null,"
        + orjson.dumps(topic)
        + b',"postgres_changes",{"ids":'
        + ids_json
        + b',"data":'
        + data
        + b"}]"
    )


def pg_data(data: dict[str, Any]) -> bytes:
    """`data` encoded; past the payload limit only values of at most 64 bytes are kept, and
    `errors` says so (reference §3.1)."""
    encoded = orjson.dumps(data)
    if len(encoded) <= PG_PAYLOAD_LIMIT:
        return encoded
    for key in ("record", "old_record"):
        if data.get(key):
            data[key] = {
                k: v for k, v in data[key].items() if len(orjson.dumps(v)) <= PG_SMALL_VALUE
            }
    data["errors"] = ["Error 413: Payload Too Large"]
    return orjson.dumps(data)
