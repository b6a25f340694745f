"""`Capture`: what a snapshot copies out of the store's buffers while it holds the ingest lock.

Everything a view, a notebook or the CLI shows is derived from one Capture, so the copy is the
only moment a reader and the feed contend. It is kept lean: references to immutable objects
(events, status changes, replica rows, which ingest replaces rather than mutates), NumPy copies
of the latency samples and 1-second buckets, and small tuples. pandas work happens later, outside
the lock (`metrics.frames`, `metrics.latency`), and only for the parts a reader asks for.

Measured with a full store (5,000 events in the ring, 20,000 latency samples, 300 s of buckets):
about 2.5 ms, so the shared snapshot can be taken at the fast (100 ms) cadence when something a
page shows at once (status, live-slot counters) has changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from feeds.events import Event, StatusChange
from metrics.buckets import LatencyRows, MessageRows
from metrics.quota import QuotaInputs
from metrics.replica import SlotRow
from metrics.roster import PresenceChange
from metrics.stats import effective_window

if TYPE_CHECKING:
    from metrics.buffers import Buffers
    from metrics.connection import ConnectionLog
    from metrics.incidents import Incident, IncidentLog

# Live-slot cards show at most this many of the most recently updated rows, each with a
# sparkline of its last CARD_HISTORY updates; the capture copies just that much history.
CARD_ROWS = 60
CARD_HISTORY = 60


@dataclass(frozen=True, slots=True)
class ReplicaLayout:
    """Which table the live-slot replica follows and which of its columns it keeps."""

    schema: str
    table: str
    key: str
    counters: tuple[str, ...]
    extras: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Capture:
    """The raw material of one snapshot for the window [now - eff, now]."""

    now: float
    window: float
    eff: float  # effective window: min(window, watched time)
    started_at: float | None
    first_sec: int
    last_sec: int
    seq: int  # newest event's seq; ring holds seq - len(ring) + 1 .. seq
    ring: tuple[Event, ...]
    messages: MessageRows
    latency_rows: LatencyRows
    members: list[tuple[int, str, int]]
    sample_t: np.ndarray
    sample_src: np.ndarray
    sample_ch: np.ndarray  # numbers into `sample_channels`
    sample_channels: tuple[str, ...]
    sample_ms: np.ndarray
    samples_evicted_t: float
    timeline: tuple[StatusChange, ...]
    connected_before: bool
    current_since: float | None
    reconnects_total: int
    channels: tuple[tuple[Any, ...], ...]  # (channel, state, since, error, last_error, at)
    last_message_at: float | None
    totals: dict[tuple[str, str, str], tuple[int, int]]
    probe_totals: dict[tuple[str, str, str], tuple[int, int]]
    user_messages: int
    user_bytes: int
    late_events: int
    replica: ReplicaLayout
    replica_rows: tuple[SlotRow, ...]  # least recently updated first
    card_history: dict[Any, np.ndarray]  # key -> last CARD_HISTORY rows (time, *counters)
    replica_history: list[tuple[Any, np.ndarray]]  # per key, rows in the window
    replica_stats: dict[str, int]
    roster_rows: tuple[tuple[Any, ...], ...]  # (channel, key, metas, summary, joined, updated)
    roster_counts: dict[str, int]
    roster_stats: dict[str, int]
    presence_log: tuple[PresenceChange, ...]
    quota: QuotaInputs = QuotaInputs()  # the tenant's usage, the monitor's joins (Store adds)
    incidents: tuple[Incident, ...] = ()  # open ones first, latest first
    incidents_total: int = 0
    channel_downs: tuple[tuple[str, float, float | None], ...] = ()
    # since start, [channel number in `sample_channels`][source]: counts per histogram slot,
    # then the sum in ms (metrics.buffers `cum_hist`); copies of small lists
    latency_hist: tuple[tuple[list[Any], ...], ...] = ()


def capture(
    buf: Buffers,
    conn: ConnectionLog,
    now: float,
    window: float,
    incidents: IncidentLog | None = None,
) -> Capture:
    """Copy what a snapshot needs; the caller holds the store's lock, so keep it lean."""
    buckets, replica, roster = buf.buckets, buf.replica, buf.roster
    buckets.advance(now)
    starts = [t for t in (buf.first_at, conn.first_at) if t is not None]
    started_at = min(starts) if starts else None
    eff = effective_window(now, window, started_at)
    first_sec, last_sec = math.floor(now - eff), math.floor(now)
    n = len(buf.sample_t)
    rows = tuple(replica.rows())
    return Capture(
        now=now,
        window=window,
        eff=eff,
        started_at=started_at,
        first_sec=first_sec,
        last_sec=last_sec,
        seq=buf.seq,
        ring=tuple(buf.ring),
        messages=buckets.messages(first_sec, last_sec),
        latency_rows=buckets.latency(first_sec, last_sec),
        members=buckets.members(first_sec, last_sec),
        sample_t=np.fromiter(buf.sample_t, dtype=float, count=n),
        sample_src=np.fromiter(buf.sample_src, dtype=np.int64, count=n),
        sample_ch=np.fromiter(buf.sample_ch, dtype=np.int64, count=n),
        sample_channels=tuple(buf.channel_ids),
        sample_ms=np.fromiter(buf.sample_ms, dtype=float, count=n),
        samples_evicted_t=buf.samples_evicted_t,
        timeline=tuple(conn.timeline()),
        connected_before=conn.connected_before,
        current_since=conn.current_since(),
        reconnects_total=conn.reconnects_total,
        channels=tuple(
            (s.channel, s.state, s.since, s.error, s.last_error, s.last_error_at)
            for s in conn.channels.values()
        ),
        last_message_at=buf.last_message_at if math.isfinite(buf.last_message_at) else None,
        totals={k: (v[0], v[1]) for k, v in buf.totals.items()},
        probe_totals={k: (v[0], v[1]) for k, v in buf.probe_totals.items()},
        user_messages=buf.user_messages,
        user_bytes=buf.user_bytes,
        late_events=buckets.late_events,
        replica=ReplicaLayout(
            replica.schema, replica.table, replica.key, replica.counters, replica.extras
        ),
        replica_rows=rows,
        card_history={r.key: replica.history(r.key)[-CARD_HISTORY:] for r in rows[-CARD_ROWS:]},
        replica_history=replica.history_since(now - eff),
        replica_stats=replica.stats(),
        roster_rows=tuple(
            (ch, m.key, len(m.metas), m.summary, m.joined_at, m.updated_at)
            for ch, m in roster.iter_members()
        ),
        roster_counts=roster.counts(),
        roster_stats=roster.stats(),
        presence_log=tuple(roster.log),
        incidents=incidents.items() if incidents is not None else (),
        incidents_total=incidents.total if incidents is not None else 0,
        channel_downs=tuple(conn.downs()),
        latency_hist=tuple(tuple(h.copy() for h in per) for per in buf.cum_hist),
    )
