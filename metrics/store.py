"""`Store`: the one shared metrics store per process.

Events go in one at a time, from the feed's task (`ingest`, O(1), no pandas); a `Snapshot` comes
out per UI tick and is the only way anything reads the store. Everything in between is bounded,
so the process can stay up for weeks on an ops wall.

Threading: `ingest` and `snapshot` may run on different threads (a notebook's feed thread and its
kernel). One `threading.Lock` guards all mutable state. `snapshot` holds it only while copying
raw data out of the buffers (`metrics.capture`); frames and statistics are derived from the copy
with the lock released (`metrics.frames`, `metrics.latency`), so ingest is never blocked behind
pandas and no reader ever takes the lock itself.

Windows: rates and latency use whole 1-second buckets, from the second containing the window
start up to now; counts are divided by the time those seconds actually span within the watched
period (never less than 1 s, so the first event after start-up is not read as a huge rate).
Uptime, outages and reconnects use exact times. "Watched period" starts at the first status or
event recorded: a monitor that started 10 s ago reports rates over 10 s, not 300.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import param

from feeds.events import JOINING, Event, StatusChange, SubscriptionChange
from feeds.problems import Problem
from feeds.usage import TenantUsage
from metrics.buffers import Buffers
from metrics.capture import capture
from metrics.connection import ConnectionLog
from metrics.incidents import IncidentLog
from metrics.quota import JOINS_KEPT, QuotaInputs
from metrics.replica import DEFAULT_COUNTERS, DEFAULT_EXTRAS, LiveSlotReplica
from metrics.roster import PresenceRoster
from metrics.snapshot import Snapshot

_REBUILD_ON = (
    "raw_events",
    "history_s",
    "latency_samples",
    "log_size",
    "replica_schema",
    "replica_table",
    "replica_key",
    "replica_counters",
    "replica_extras",
    "replica_max_keys",
    "replica_history",
    "roster_max_channels",
    "roster_max_keys",
)


@dataclass(frozen=True, slots=True)
class Pulse:
    """Change counters of a store; equal pulses mean nothing new to show."""

    seq: int
    replica_changes: int
    connection_changes: int
    status: str | None
    last_message_at: float


class Store(param.Parameterized):
    """Bounded buffers for one monitor, and the snapshots taken from them.

    Changing a size or replica parameter rebuilds the buffers empty (it is configuration, set
    before the feed starts); `window_s` and `clock` can change at any time.
    """

    raw_events = param.Integer(5_000, bounds=(1, None), doc="Recent raw events kept (the log).")
    window_s = param.Number(300.0, bounds=(1, None), doc="Default window of a snapshot, s.")
    history_s = param.Integer(
        6 * 3600, bounds=(2, None), doc="Seconds of 1-second buckets kept for long windows."
    )
    latency_samples = param.Integer(
        20_000, bounds=(1, None), doc="Exact latency samples kept (time, source, ms)."
    )
    log_size = param.Integer(
        2_000, bounds=(1, None), doc="Bound of the status, subscription and presence logs."
    )
    replica_schema = param.String("group", doc="Schema of the replicated table.")
    replica_table = param.String("live_slots", doc="Table replicated from postgres_changes.")
    replica_key = param.String("itinerary_id", doc="Column identifying a replica row.")
    replica_counters = param.List(
        list(DEFAULT_COUNTERS), item_type=str, doc="Counter columns (history kept per key)."
    )
    replica_extras = param.List(
        list(DEFAULT_EXTRAS), item_type=str, doc="Other columns shown with each replica row."
    )
    replica_max_keys = param.Integer(5_000, bounds=(1, None), doc="Replica rows kept.")
    replica_history = param.Integer(300, bounds=(1, None), doc="Counter history per key.")
    roster_max_channels = param.Integer(100, bounds=(1, None), doc="Presence channels kept.")
    roster_max_keys = param.Integer(10_000, bounds=(1, None), doc="Presence keys per channel.")
    clock = param.Callable(time.time, doc="Epoch-seconds clock; replay passes its own.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._lock = threading.Lock()
        self._build()

    # ---- lifecycle ---------------------------------------------------------------------------

    def _build(self) -> None:
        self._roster = PresenceRoster(
            max_channels=self.roster_max_channels,
            max_keys=self.roster_max_keys,
            log_size=self.log_size,
        )
        self._replica = LiveSlotReplica(
            schema=self.replica_schema,
            table=self.replica_table,
            key=self.replica_key,
            counters=self.replica_counters,
            extras=self.replica_extras,
            max_keys=self.replica_max_keys,
            history_len=self.replica_history,
        )
        self._buf = Buffers(
            self.raw_events, self.history_s, self.latency_samples, self._roster, self._replica
        )
        self._conn = ConnectionLog(self.log_size)
        self._incidents = IncidentLog(max_closed=min(500, self.log_size))
        self._buf.on_system = self._incidents.recover_bindings
        self._conn_changes = 0
        self._usage: TenantUsage | None = None  # the tenant's latest usage reading
        self._joins: deque[float] = deque(maxlen=JOINS_KEPT)  # when the monitor joined

    def reset(self) -> None:
        """Forget everything recorded (configuration is kept)."""
        with self._lock:
            self._build()

    @param.depends(*_REBUILD_ON, watch=True)
    def _config_changed(self) -> None:
        self.reset()

    # ---- input -------------------------------------------------------------------------------

    def ingest(self, event: Event) -> None:
        """Record one event: O(1) amortised; assigns the next `seq`."""
        with self._lock:
            self._buf.ingest(event)

    def ingest_many(self, events: Iterable[Event]) -> int:
        """Record a batch under one lock acquisition (replay, recorded streams); returns count."""
        with self._lock:
            return self._buf.ingest_many(events)

    def record_status(self, change: StatusChange) -> None:
        with self._lock:
            self._conn.record_status(change)
            self._incidents.recover_socket(change)
            self._conn_changes += 1

    def record_subscription(self, change: SubscriptionChange) -> None:
        with self._lock:
            self._conn.record_subscription(change)
            if change.state == JOINING:
                self._joins.append(change.at)
            self._incidents.recover_channel(change)
            self._conn_changes += 1

    def record_problem(self, problem: Problem) -> None:
        """One refusal, close or error (feeds.problems): folded into incidents."""
        with self._lock:
            self._incidents.record(problem)
            self._conn_changes += 1

    def record_usage(self, usage: TenantUsage) -> None:
        """The tenant's latest usage reading (`feeds.usage`); only the latest is kept."""
        with self._lock:
            self._usage = usage

    def pulse(self) -> Pulse:
        """What changed, in O(1) and without the lock: views poll this every ~100 ms and do
        nothing at all when it is the same as last time."""
        replica = self._replica
        current = self._conn.current
        return Pulse(
            seq=self._buf.seq,
            replica_changes=replica.applied + replica.deleted,
            connection_changes=self._conn_changes,
            status=current.status if current else None,
            last_message_at=self._buf.last_message_at,
        )

    # ---- output ------------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """Seq of the newest event (0 before any)."""
        return self._buf.seq

    def snapshot(self, now: float | None = None, window_s: float | None = None) -> Snapshot:
        """The immutable view of [now - effective window, now] that every reader uses."""
        now = float(self.clock() if now is None else now)
        window = float(self.window_s if window_s is None else window_s)
        with self._lock:
            cap = capture(self._buf, self._conn, now, window, self._incidents)
            quota = QuotaInputs(self._usage, tuple(self._joins))
        return Snapshot(replace(cap, quota=quota))
