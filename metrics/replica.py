"""A client-side replica of one table's latest rows, built from its postgres_changes.

The live-slot counters (`group.live_slots`: presence_opt_in / presence_visible / presence_online
per itinerary) are what the apps animate, so the monitor shows the same numbers. Realtime can
deliver a change twice (two matching bindings, a rejoin) or late (a slow RLS check for one
subscriber); an app that applies them blindly shows a counter jumping back. The replica orders
changes by (commit timestamp, record `updated_at`): a change older than the row it would replace
is dropped (`stale_ignored`), an identical one is dropped (`duplicates_ignored`), so a late or
repeated event never moves a counter backwards. Two different changes with the same order key
(same millisecond and no `updated_at`) are applied in arrival order: nothing better is known, and
Realtime sends one table's changes in commit order.

A DELETE leaves a tombstone carrying its order key, so an older UPDATE arriving after the delete
does not bring the row back. Keys and tombstones are bounded (least recently updated evicted), and
each key keeps a bounded history of counter values for sparklines.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from feeds.events import Event, parse_commit_timestamp

DEFAULT_COUNTERS = ("presence_opt_in", "presence_visible", "presence_online")
DEFAULT_EXTRAS = ("group_id", "escrow_id", "updated_at")

APPLIED = "applied"
DELETED = "deleted"
STALE = "stale"
DUPLICATE = "duplicate"
UNKEYED = "unkeyed"
IGNORED = "ignored"  # another table, or not a postgres_changes event

_NEG_INF = float("-inf")
_NAN = float("nan")


def parse_time(value: Any) -> float | None:
    """A record timestamp (ISO 8601 text or epoch number) to epoch seconds; None if unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        ts = parse_commit_timestamp(value)
        if ts is None and " " in value:  # Postgres text form: "2026-01-01 10:00:00.123+00"
            ts = parse_commit_timestamp(value.replace(" ", "T", 1))
        return ts
    return None


def as_float(value: Any) -> float:
    """A counter value as float, NaN when missing or not a number (one dtype for charts)."""
    if value is None or isinstance(value, bool):
        return _NAN
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return _NAN
    return _NAN


class CounterHistory:
    """A fixed ring of (time, counter...) rows for one key, in one float64 array.

    A NumPy block instead of a deque of tuples: ~10 KB per key at 300 entries instead of ~45 KB,
    and a window of it is one slice, so a snapshot concatenates blocks instead of walking tuples.
    """

    __slots__ = ("_data", "_n", "_next")

    def __init__(self, maxlen: int, width: int) -> None:
        self._data = np.empty((maxlen, width), dtype=float)
        self._n = 0
        self._next = 0

    def __len__(self) -> int:
        return self._n

    def append(self, row: Sequence[float]) -> None:
        self._data[self._next] = row
        self._next = (self._next + 1) % self._data.shape[0]
        if self._n < self._data.shape[0]:
            self._n += 1

    def ordered(self) -> np.ndarray:
        """A copy of the rows, oldest first."""
        if self._n < self._data.shape[0]:
            return self._data[: self._n].copy()
        return np.concatenate([self._data[self._next :], self._data[: self._next]])

    def since(self, start: float) -> np.ndarray:
        """Rows at or after `start`, led by the last row before it (times are non-decreasing)."""
        rows = self.ordered()
        i = int(np.searchsorted(rows[:, 0], start, side="left"))
        return rows[max(0, i - 1) :] if i else rows


@dataclass(slots=True)
class SlotRow:
    """The latest known state of one key."""

    key: Any
    record: dict[str, Any]
    order: tuple[float, float]
    commit_ts: float | None
    updated_ts: float | None
    received_at: float
    event: str

    def value(self, column: str) -> Any:
        return self.record.get(column)


class LiveSlotReplica:
    """Latest row per key for one (schema, table), never moved backwards by late events."""

    def __init__(
        self,
        schema: str = "group",
        table: str = "live_slots",
        key: str = "itinerary_id",
        counters: Sequence[str] = DEFAULT_COUNTERS,
        extras: Sequence[str] = DEFAULT_EXTRAS,
        max_keys: int = 5_000,
        history_len: int = 300,
    ) -> None:
        self.schema = schema
        self.table = table
        self.key = key
        self.counters = tuple(counters)
        self.extras = tuple(c for c in extras if c != key and c not in counters)
        self.max_keys = int(max_keys)
        self.history_len = int(history_len)
        self.clear()

    def clear(self) -> None:
        self._rows: OrderedDict[Any, SlotRow] = OrderedDict()
        self._tombstones: OrderedDict[Any, tuple[float, float]] = OrderedDict()
        self._history: dict[Any, CounterHistory] = {}
        self.applied = 0
        self.deleted = 0
        self.stale_ignored = 0
        self.duplicates_ignored = 0
        self.unkeyed = 0
        self.evicted = 0

    def matches(self, event: Event) -> bool:
        return (
            event.kind == "postgres_changes"
            and event.table == self.table
            and event.schema == self.schema
        )

    def apply(self, event: Event) -> str:
        """Apply one change; returns what happened (APPLIED, DELETED, STALE, DUPLICATE, ...)."""
        if not self.matches(event):
            return IGNORED
        data = event.payload.get("data") if isinstance(event.payload, dict) else None
        if not isinstance(data, dict):
            self.unkeyed += 1
            return UNKEYED
        is_delete = event.event == "DELETE"
        record = data.get("old_record" if is_delete else "record")
        if not isinstance(record, dict):
            self.unkeyed += 1
            return UNKEYED
        key = record.get(self.key)
        if key is None and is_delete:
            key = self._find_key(record)
        if key is None or isinstance(key, dict | list):
            self.unkeyed += 1
            return UNKEYED
        commit = event.commit_ts if event.commit_ts is not None else event.received_at
        updated = parse_time(record.get("updated_at"))
        order = (commit, updated if updated is not None else _NEG_INF)

        current = self._rows.get(key)
        previous = current.order if current is not None else self._tombstones.get(key)
        if previous is not None:
            if order < previous:
                self.stale_ignored += 1
                return STALE
            if order == previous and (
                (current is None and is_delete)
                or (current is not None and not is_delete and current.record == record)
            ):
                self.duplicates_ignored += 1
                return DUPLICATE

        if is_delete:
            return self._delete(key, order)
        return self._upsert(key, record, order, updated, event)

    def _delete(self, key: Any, order: tuple[float, float]) -> str:
        if self._rows.pop(key, None) is not None:
            self._history.pop(key, None)
        # the tombstone stops an older change that arrives late from resurrecting the row
        self._tombstones.pop(key, None)
        self._tombstones[key] = order
        while len(self._tombstones) > self.max_keys:
            self._tombstones.popitem(last=False)
        self.deleted += 1
        return DELETED

    def _upsert(
        self,
        key: Any,
        record: dict[str, Any],
        order: tuple[float, float],
        updated: float | None,
        event: Event,
    ) -> str:
        if key in self._rows:
            self._rows.move_to_end(key)
        else:
            self._tombstones.pop(key, None)
        self._rows[key] = SlotRow(
            key, record, order, event.commit_ts, updated, event.received_at, event.event
        )
        hist = self._history.get(key)
        if hist is None:
            hist = self._history[key] = CounterHistory(self.history_len, 1 + len(self.counters))
        hist.append([order[0], *[as_float(record.get(c)) for c in self.counters]])
        while len(self._rows) > self.max_keys:
            old, _ = self._rows.popitem(last=False)
            self._history.pop(old, None)
            self.evicted += 1
        self.applied += 1
        return APPLIED

    def _find_key(self, old_record: dict[str, Any]) -> Any:
        """A DELETE's old_record holds only the primary key unless REPLICA IDENTITY FULL: find
        the row whose stored record agrees on every column it does carry (rare, so a scan)."""
        if not old_record:
            return None
        items = old_record.items()
        for key, row in self._rows.items():
            rec = row.record
            if all(c in rec and rec[c] == v for c, v in items):
                return key
        return None

    # ---- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: Any) -> SlotRow | None:
        return self._rows.get(key)

    def rows(self) -> Iterator[SlotRow]:
        """Rows, least recently updated first."""
        return iter(self._rows.values())

    def history(self, key: Any) -> np.ndarray:
        """Rows of (commit time, *counters as float) for one key, oldest first."""
        hist = self._history.get(key)
        if hist is None:
            return np.empty((0, 1 + len(self.counters)))
        return hist.ordered()

    def history_since(self, start: float) -> list[tuple[Any, np.ndarray]]:
        """Per key, the rows at or after `start` led by the last one before it (the level in
        force when the window opens, so a step chart starts at the right height)."""
        return [(key, hist.since(start)) for key, hist in self._history.items() if len(hist)]

    def stats(self) -> dict[str, int]:
        return {
            "rows": len(self._rows),
            "applied": self.applied,
            "deleted": self.deleted,
            "stale_ignored": self.stale_ignored,
            "duplicates_ignored": self.duplicates_ignored,
            "unkeyed": self.unkeyed,
            "evicted": self.evicted,
        }
