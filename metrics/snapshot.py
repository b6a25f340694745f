"""`Snapshot`: the one contract between the store and everything that shows or reports it.

A snapshot is immutable and self-contained: it holds a `Capture` (what was copied out of the
buffers under the store's lock) and derives everything else from it without the lock. Views,
notebooks, the headless report and the alert rules read snapshots and nothing else of the store.

Cheap facts (status, counts, the live-slot rows, the events delta for the Inspector) are plain
attributes; pandas frames and window statistics are built on first read and then kept, so a
snapshot taken for the fast path (a status change, a live-slot counter) costs only its capture,
and twenty sessions reading the same snapshot's frames build them once.

Frames are documented in `metrics.schema.EMPTY_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from feeds.events import Event
from feeds.usage import TenantUsage
from metrics import frames, health, latency
from metrics.capture import Capture, ReplicaLayout
from metrics.incidents import Incident
from metrics.latency import LatencyStats
from metrics.replica import SlotRow
from metrics.stats import HIST_SLOTS, LATENCY_SOURCES, Outage, outages, uptime_fraction

__all__ = ["CurrentStatus", "LatencyHistogram", "LatencyStats", "Snapshot"]


@dataclass(frozen=True, slots=True)
class CurrentStatus:
    """The socket's status now, the reason it gave, and since when (None before any status)."""

    status: str | None = None
    reason: str | None = None
    since: float | None = None


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Every latency sample of one (source, channel) since the store started, binned.

    `counts[i]` is the number of samples in slot i of `metrics.stats.HIST_EDGES` (slot 0: below
    the first edge, the last: at or above the last edge; each bin closed below, open above), so
    the counts only ever grow: the shape of a Prometheus histogram."""

    counts: np.ndarray  # int64, length HIST_SLOTS
    sum_ms: float

    @property
    def count(self) -> int:
        return int(self.counts.sum())


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything a tick reads, for the window [now - effective_window_s, now]."""

    cap: Capture = field(repr=False)

    # ---- plain facts -------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.cap.now

    @property
    def window_s(self) -> float:
        return self.cap.window

    @property
    def effective_window_s(self) -> float:
        """min(window_s, time watched); 0 before anything was recorded."""
        return self.cap.eff

    @property
    def started_at(self) -> float | None:
        """The first status or event recorded."""
        return self.cap.started_at

    @property
    def seq(self) -> int:
        """The newest event's seq; pass it to `events_after` of a later snapshot."""
        return self.cap.seq

    @cached_property
    def status(self) -> CurrentStatus:
        timeline = self.cap.timeline
        current = timeline[-1] if timeline else None
        if current is None:
            return CurrentStatus()
        return CurrentStatus(current.status, current.reason, self.cap.current_since)

    @property
    def channel_states(self) -> tuple[tuple[Any, ...], ...]:
        """(channel, state, since, error, last_error, last_error_at) per joined channel."""
        return self.cap.channels

    @cached_property
    def subscription_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.cap.channels:
            counts[row[1]] = counts.get(row[1], 0) + 1
        return counts

    @property
    def reconnects_total(self) -> int:
        return self.cap.reconnects_total

    @property
    def last_message_at(self) -> float | None:
        return self.cap.last_message_at

    @property
    def message_age_s(self) -> float | None:
        last = self.cap.last_message_at
        return None if last is None else self.cap.now - last

    @cached_property
    def totals(self) -> dict[str, Any]:
        return frames.totals(self.cap)

    @property
    def event_totals(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        """User traffic since start: (channel, kind, event) -> (messages, bytes), in the order
        each key was first seen (an exporter can keep a stable, bounded subset)."""
        return self.cap.totals

    @property
    def probe_totals(self) -> dict[tuple[str, str, str], tuple[int, int]]:
        """The monitor's own probe messages since start: (channel, kind, event) -> (n, bytes)."""
        return self.cap.probe_totals

    # ---- the live-slot replica, the roster and the raw events, as they are -------------------

    @property
    def replica_layout(self) -> ReplicaLayout:
        return self.cap.replica

    @property
    def replica_rows(self) -> tuple[SlotRow, ...]:
        """Latest row per key, least recently updated first."""
        return self.cap.replica_rows

    @property
    def card_history(self) -> dict[Any, Any]:
        """Recent (time, *counters) rows of the most recently updated keys, for sparklines."""
        return self.cap.card_history

    @property
    def replica_stats(self) -> dict[str, int]:
        return self.cap.replica_stats

    @property
    def last_event_at(self) -> float | None:
        """When the newest held event (probes included) was received: the feed's heartbeat."""
        ring = self.cap.ring
        return ring[-1].received_at if ring else None

    @property
    def roster_rows(self) -> tuple[tuple[Any, ...], ...]:
        """(channel, key, connections, meta summary, joined_at, updated_at) per member."""
        return self.cap.roster_rows

    @property
    def presence_changes(self) -> tuple[Any, ...]:
        """The join/leave log (`metrics.roster.PresenceChange`), oldest first."""
        return self.cap.presence_log

    @property
    def first_seq(self) -> int:
        """The seq of the oldest event this snapshot still holds."""
        return self.cap.seq - len(self.cap.ring) + 1

    def events_after(self, seq: int) -> tuple[tuple[int, Event], ...]:
        """(seq, event) for the held events newer than `seq`, oldest first: the Inspector's
        delta. A reader that fell behind by more than the ring gets what is left."""
        ring = self.cap.ring
        skip = max(0, seq + 1 - self.first_seq)
        first = self.first_seq
        return tuple((first + i, ring[i]) for i in range(skip, len(ring)))

    def event(self, seq: int) -> Event | None:
        i = seq - self.first_seq
        return self.cap.ring[i] if 0 <= i < len(self.cap.ring) else None

    # ---- quotas --------------------------------------------------------------------------------

    @property
    def tenant_usage(self) -> TenantUsage | None:
        """The tenant's latest usage reading as the server counts it (only the bundled sandbox
        says it), however old: `metrics.quota` decides whether it is recent enough."""
        return self.cap.quota.usage

    @property
    def join_times(self) -> tuple[float, ...]:
        """When the monitor sent its recent joins (epoch seconds, oldest first, bounded)."""
        return self.cap.quota.joins

    # ---- rates and latency over the window ---------------------------------------------------

    @cached_property
    def rates(self) -> pd.DataFrame:
        """Per second and (channel, kind): count, bytes; user traffic only."""
        return frames.rates_frame(self.cap)

    @cached_property
    def _span(self) -> float:
        """Seconds the counted whole seconds span inside the watched period: rates are counts
        over this, never less than 1 s (the first event after start-up is not a huge rate)."""
        started = self.cap.started_at
        if started is None:
            return 0.0
        return max(1.0, self.cap.now - max(float(self.cap.first_sec), started))

    @cached_property
    def _rate_sums(self) -> tuple[dict[str, int], dict[str, int]]:
        msgs = self.cap.messages
        by_channel: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        for ch, kind, c in zip(msgs.channel, msgs.kind, msgs.count.tolist(), strict=True):
            by_channel[ch] = by_channel.get(ch, 0) + c
            by_kind[kind] = by_kind.get(kind, 0) + c
        return by_channel, by_kind

    @cached_property
    def rate_total(self) -> float:
        """User messages/s over the effective window."""
        span = self._span
        return int(self.cap.messages.count.sum()) / span if span > 0 else float("nan")

    @cached_property
    def rate_by_channel(self) -> dict[str, float]:
        span = self._span
        return {k: v / span for k, v in self._rate_sums[0].items()} if span > 0 else {}

    @cached_property
    def rate_by_kind(self) -> dict[str, float]:
        span = self._span
        return {k: v / span for k, v in self._rate_sums[1].items()} if span > 0 else {}

    @cached_property
    def bytes_rate(self) -> float:
        span = self._span
        return float(self.cap.messages.bytes.sum()) / span if span > 0 else float("nan")

    @cached_property
    def latency(self) -> dict[str, LatencyStats]:
        """By source (commit, probe_rtt, probe_db)."""
        return latency.window_stats(self.cap)

    @cached_property
    def latency_by_channel(self) -> pd.DataFrame:
        """Per (channel, source), from the exact samples; slowest p95 first."""
        return latency.by_channel(self.cap)

    @cached_property
    def latency_series(self) -> pd.DataFrame:
        return latency.series(self.cap)

    @cached_property
    def latency_histograms(self) -> dict[tuple[str, str], LatencyHistogram]:
        """Since start, per (source, channel) that had samples: every latency binned on the
        store's fixed edges. Unlike the window's figures these never go down (until the store
        is reset), which is what a Prometheus histogram must expose."""
        out: dict[tuple[str, str], LatencyHistogram] = {}
        for channel, per in zip(self.cap.sample_channels, self.cap.latency_hist, strict=False):
            for source, h in zip(LATENCY_SOURCES, per, strict=True):
                counts = np.asarray(h[:HIST_SLOTS], dtype=np.int64)
                if counts.any():
                    out[(source, channel)] = LatencyHistogram(counts, float(h[HIST_SLOTS]))
        return out

    # ---- connection ----------------------------------------------------------------------------

    @cached_property
    def subscriptions(self) -> pd.DataFrame:
        return frames.subscriptions_frame(self.cap)

    @cached_property
    def timeline(self) -> pd.DataFrame:
        """Every retained status change; end is NaT for the current one."""
        return frames.timeline_frame(self.cap)

    @cached_property
    def uptime(self) -> float:
        """Fraction of the effective window with the socket connected and every watched channel
        subscribed (`metrics.health`); NaN if no status was recorded."""
        cap = self.cap
        if cap.eff <= 0:
            return float("nan")
        return health.healthy_fraction(cap.timeline, cap.channel_downs, cap.now - cap.eff, cap.now)

    @cached_property
    def socket_uptime(self) -> float:
        """Fraction of the effective window the socket was connected, channels aside."""
        cap = self.cap
        if cap.eff <= 0:
            return float("nan")
        return uptime_fraction(cap.timeline, cap.now - cap.eff, cap.now)

    def channels_down(self, longer_than: float = health.GRACE_S) -> list[tuple[str, float]]:
        """(channel, since) for each watched channel not SUBSCRIBED for over `longer_than` s."""
        return health.channels_down(self.cap.channel_downs, self.cap.now, longer_than)

    # ---- incidents ----------------------------------------------------------------------------

    @property
    def incidents(self) -> tuple[Incident, ...]:
        """Open incidents (latest first), then recently closed ones (latest first)."""
        return self.cap.incidents

    @cached_property
    def open_incidents(self) -> tuple[Incident, ...]:
        return tuple(i for i in self.cap.incidents if i.open)

    @property
    def incidents_total(self) -> int:
        return self.cap.incidents_total

    def channel_incidents(self) -> dict[str, Incident]:
        """The latest open incident per channel ("" for the socket): what a chip names."""
        out: dict[str, Incident] = {}
        for inc in self.open_incidents:
            out.setdefault(inc.channel, inc)
        return out

    @cached_property
    def incidents_frame(self) -> pd.DataFrame:
        return frames.incidents_frame(self.cap.incidents)

    @cached_property
    def _outages(self) -> list[Outage]:
        return outages(self.cap.timeline, self.cap.now, self.cap.connected_before)

    @cached_property
    def _outages_in_window(self) -> list[Outage]:
        start = self.cap.now - self.cap.eff
        return [o for o in self._outages if o.end is not None and o.end >= start]

    @cached_property
    def outages(self) -> pd.DataFrame:
        """Every retained outage (not only the window's); end NaT = ongoing."""
        return frames.outages_frame(self._outages)

    @property
    def reconnects(self) -> int:
        """Regained connections within the window."""
        return len(self._outages_in_window)

    @property
    def reconnect_durations(self) -> list[float]:
        """Seconds, for reconnects completed within the window."""
        return [o.duration_s for o in self._outages_in_window]

    # ---- frames of the rest ------------------------------------------------------------------

    @cached_property
    def events(self) -> pd.DataFrame:
        """The raw ring (all retained events, oldest first), payload left out."""
        return frames.events_frame(self.cap)

    @cached_property
    def replica(self) -> pd.DataFrame:
        return frames.replica_frame(self.cap)

    @cached_property
    def replica_history(self) -> pd.DataFrame:
        """Counters per key in the window, led by the level before it."""
        return frames.replica_history_frame(self.cap)

    @cached_property
    def roster(self) -> pd.DataFrame:
        return frames.roster_frame(self.cap)

    @cached_property
    def member_counts(self) -> pd.DataFrame:
        return frames.member_counts_frame(self.cap)

    @cached_property
    def presence_log(self) -> pd.DataFrame:
        return frames.presence_log_frame(self.cap)
