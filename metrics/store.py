"""`Store`: the one shared metrics store per process.

Events go in one at a time, from the feed's task (`ingest`, O(1), no pandas); frames come out
once per UI tick (`snapshot`), shared by every browser session and notebook cell. Everything in
between is bounded, so the process can stay up for weeks on an ops wall.

Threading: `ingest` and `snapshot` may run on different threads (a notebook's feed thread and its
kernel). One `threading.Lock` guards all mutable state. `snapshot` holds it only while copying
raw data out of the buffers (deques to lists, small NumPy slices), then builds the frames with
the lock released so ingest is never blocked behind pandas.

Windows: rates and latency use whole 1-second buckets, from the second containing the window
start up to now; counts are divided by the time those seconds actually span within the watched
period (never less than 1 s, so the first event after start-up is not read as a huge rate).
Uptime, outages and reconnects use exact times. "Watched period" starts at the first status or
event recorded: a monitor that started 10 s ago reports rates over 10 s, not 300.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import param

from feeds.events import Event, StatusChange, SubscriptionChange
from metrics.buffers import Buffers
from metrics.connection import ConnectionLog
from metrics.replica import DEFAULT_COUNTERS, DEFAULT_EXTRAS, LiveSlotReplica, as_float
from metrics.roster import PresenceRoster
from metrics.snapshot import (
    EMPTY_COLUMNS,
    CurrentStatus,
    LatencyStats,
    Snapshot,
    frame,
    opt_floats,
    rows_frame,
)
from metrics.stats import (
    LATENCY_SOURCES,
    effective_window,
    grouped_percentiles,
    hist_percentiles,
    hist_percentiles_rows,
    outages,
    percentiles,
    uptime_fraction,
)

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
    """Bounded buffers for one monitor, and the per-tick frames built from them.

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

    @classmethod
    def from_watch(cls, config: Any, **overrides: Any) -> Store:
        """A store sized by a watch config's [buffers] and [live_slots] sections."""
        b, ls = config.buffers, config.live_slots
        params: dict[str, Any] = dict(
            raw_events=b.raw_events,
            window_s=b.window_s,
            history_s=b.history_s,
            latency_samples=b.latency_samples,
            log_size=b.log_size,
            replica_schema=ls.schema,
            replica_table=ls.table,
            replica_key=ls.key,
            replica_counters=list(ls.counters),
        )
        params.update(overrides)
        return cls(**params)

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
        self._conn_changes = 0

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
            self._conn_changes += 1

    def record_subscription(self, change: SubscriptionChange) -> None:
        with self._lock:
            self._conn.record_subscription(change)
            self._conn_changes += 1

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

    # ---- raw access --------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        """Seq of the newest event (0 before any)."""
        return self._buf.seq

    @property
    def first_seq(self) -> int:
        """Seq of the oldest event still in the raw ring."""
        with self._lock:
            return self._buf.first_seq

    def event(self, seq: int) -> Event | None:
        """The Event (with payload) of a seq still in the raw ring, else None."""
        with self._lock:
            return self._buf.event(seq)

    def events_since(self, seq: int) -> list[Event]:
        """Events after `seq` still in the ring, oldest first; their seqs run up to `last_seq`.

        The first returned event has seq max(seq + 1, first_seq): a view that fell behind by more
        than the ring gets what is left, not an error.
        """
        with self._lock:
            return self._buf.events_since(seq)

    @property
    def roster(self) -> PresenceRoster:
        """The live roster (read it under `locked()` if the feed runs on another thread)."""
        return self._roster

    @property
    def replica(self) -> LiveSlotReplica:
        return self._replica

    def locked(self) -> threading.Lock:
        """The store's lock, for callers that read `roster`/`replica` directly across threads."""
        return self._lock

    # ---- snapshot ----------------------------------------------------------------------------

    def snapshot(
        self, now: float | None = None, window_s: float | None = None, detail: bool = True
    ) -> Snapshot:
        """Frames and aggregates for [now - effective window, now]; build once per UI tick.

        `detail=False` leaves out the per-event and per-row frames (`events`, `replica`,
        `replica_history`, empty in the result): the largest copies made under the lock, which
        views that read the log (`events_since`) and the replica directly do not need."""
        now = float(self.clock() if now is None else now)
        window = float(self.window_s if window_s is None else window_s)
        with self._lock:
            raw = self._collect(now, window, detail)
        return self._assemble(raw, now, window)

    def _collect(self, now: float, window: float, detail: bool = True) -> dict[str, Any]:
        """Copy what the snapshot needs out of the buffers; runs under the lock, keep it lean."""
        buf, conn, buckets = self._buf, self._conn, self._buf.buckets
        buckets.advance(now)
        starts = [t for t in (buf.first_at, conn.first_at) if t is not None]
        started_at = min(starts) if starts else None
        eff = effective_window(now, window, started_at)
        first_sec = math.floor(now - eff)
        last_sec = math.floor(now)
        n = len(buf.sample_t)
        replica = self._replica
        extras = replica.extras
        return {
            "started_at": started_at,
            "eff": eff,
            "first_sec": first_sec,
            "last_sec": last_sec,
            "seq": buf.seq,
            "ring": list(buf.ring) if detail else [],
            "messages": buckets.messages(first_sec, last_sec),
            "latency_rows": buckets.latency(first_sec, last_sec),
            "members": buckets.members(first_sec, last_sec),
            "sample_t": np.fromiter(buf.sample_t, dtype=float, count=n),
            "sample_src": np.fromiter(buf.sample_src, dtype=np.int64, count=n),
            "sample_ms": np.fromiter(buf.sample_ms, dtype=float, count=n),
            "samples_evicted_t": buf.samples_evicted_t,
            "timeline": conn.timeline(),
            "connected_before": conn.connected_before,
            "current_since": conn.current_since(),
            "reconnects_total": conn.reconnects_total,
            "channels": [
                (s.channel, s.state, s.since, s.error, s.last_error, s.last_error_at)
                for s in conn.channels.values()
            ],
            "last_message_at": (
                buf.last_message_at if math.isfinite(buf.last_message_at) else None
            ),
            "totals": {k: tuple(v) for k, v in buf.totals.items()},
            "probe_totals": {k: tuple(v) for k, v in buf.probe_totals.items()},
            "user_messages": buf.user_messages,
            "user_bytes": buf.user_bytes,
            "late_events": buckets.late_events,
            "replica_rows": [
                (
                    row.key,
                    row.event,
                    [row.record.get(c) for c in extras],
                    [row.record.get(c) for c in replica.counters],
                    row.updated_ts,
                    row.commit_ts,
                    row.received_at,
                )
                for row in (replica.rows() if detail else ())
            ],
            "replica_history": replica.history_since(now - eff) if detail else [],
            "replica_stats": replica.stats(),
            "roster_rows": [
                (ch, m.key, len(m.metas), m.summary, m.joined_at, m.updated_at)
                for ch, m in self._roster.iter_members()
            ],
            "roster_counts": self._roster.counts(),
            "roster_stats": self._roster.stats(),
            "presence_log": list(self._roster.log),
        }

    def _assemble(self, raw: dict[str, Any], now: float, window: float) -> Snapshot:
        eff = raw["eff"]
        started_at = raw["started_at"]
        win_start = now - eff
        # Time the counted whole seconds span inside the watched period (see module docstring).
        span = 0.0
        if started_at is not None:
            span = max(1.0, now - max(float(raw["first_sec"]), started_at))

        rates, rate_total, by_channel, by_kind, bytes_rate = self._rates(raw["messages"], span)
        latency, latency_series = self._latency(raw)

        timeline = raw["timeline"]
        outage_list = outages(timeline, now, raw["connected_before"])
        in_window = [o for o in outage_list if o.end is not None and o.end >= win_start]
        current = timeline[-1] if timeline else None
        last_msg = raw["last_message_at"]
        return Snapshot(
            now=now,
            window_s=window,
            effective_window_s=eff,
            started_at=started_at,
            seq=raw["seq"],
            events=self._events_frame(raw["ring"], raw["seq"]),
            rates=rates,
            rate_total=rate_total,
            rate_by_channel=by_channel,
            rate_by_kind=by_kind,
            bytes_rate=bytes_rate,
            latency=latency,
            latency_series=latency_series,
            subscriptions=self._subscriptions_frame(raw["channels"]),
            subscription_counts=self._subscription_counts(raw["channels"]),
            status=CurrentStatus(
                current.status if current else None,
                current.reason if current else None,
                raw["current_since"],
            ),
            timeline=self._timeline_frame(timeline),
            uptime=uptime_fraction(timeline, win_start, now) if eff > 0 else float("nan"),
            outages=frame(
                {
                    "start": [o.start for o in outage_list],
                    "end": opt_floats([o.end for o in outage_list]),
                    "duration_s": [o.duration_s for o in outage_list],
                    "reason": [o.reason for o in outage_list],
                },
                EMPTY_COLUMNS["outages"],
            ),
            reconnects=len(in_window),
            reconnects_total=raw["reconnects_total"],
            reconnect_durations=[o.duration_s for o in in_window],
            last_message_at=last_msg,
            message_age_s=(now - last_msg) if last_msg is not None else None,
            replica=self._replica_frame(raw["replica_rows"]),
            replica_history=self._replica_history_frame(raw["replica_history"]),
            roster=self._roster_frame(raw["roster_rows"]),
            member_counts=frame(
                {
                    "time": [float(r[0]) for r in raw["members"]],
                    "channel": [r[1] for r in raw["members"]],
                    "members": [r[2] for r in raw["members"]],
                },
                EMPTY_COLUMNS["member_counts"],
            ),
            presence_log=frame(
                {
                    "time": [c.at for c in raw["presence_log"]],
                    "channel": [c.channel for c in raw["presence_log"]],
                    "key": [c.key for c in raw["presence_log"]],
                    "action": [c.action for c in raw["presence_log"]],
                    "meta": [c.meta for c in raw["presence_log"]],
                },
                EMPTY_COLUMNS["presence_log"],
            ),
            totals=self._totals(raw),
        )

    # ---- frame builders (no lock held) -------------------------------------------------------

    @staticmethod
    def _events_frame(ring: list[Event], seq: int) -> pd.DataFrame:
        n = len(ring)
        return frame(
            {
                "seq": np.arange(seq - n + 1, seq + 1, dtype=np.int64),
                "received_at": np.fromiter((e.received_at for e in ring), float, n),
                "channel": [e.channel for e in ring],
                "kind": [e.kind for e in ring],
                "event": [e.event for e in ring],
                "schema": [e.schema for e in ring],
                "table": [e.table for e in ring],
                "commit_ts": opt_floats([e.commit_ts for e in ring]),
                "latency_ms": opt_floats([e.latency_ms for e in ring]),
                "size": np.fromiter((e.size for e in ring), np.int64, n),
            },
            EMPTY_COLUMNS["events"],
        )

    @staticmethod
    def _rates(
        msgs: Any, span: float
    ) -> tuple[pd.DataFrame, float, dict[str, float], dict[str, float], float]:
        rates = frame(
            {
                "time": msgs.sec.astype(float),
                "channel": msgs.channel,
                "kind": msgs.kind,
                "count": msgs.count,
                "bytes": msgs.bytes,
            },
            EMPTY_COLUMNS["rates"],
        )
        if span <= 0:
            nan = float("nan")
            return rates, nan, {}, {}, nan
        by_channel: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        for ch, kind, c in zip(msgs.channel, msgs.kind, msgs.count.tolist(), strict=True):
            by_channel[ch] = by_channel.get(ch, 0) + c
            by_kind[kind] = by_kind.get(kind, 0) + c
        total = int(msgs.count.sum())
        return (
            rates,
            total / span,
            {k: v / span for k, v in by_channel.items()},
            {k: v / span for k, v in by_kind.items()},
            float(msgs.bytes.sum()) / span,
        )

    @staticmethod
    def _latency(raw: dict[str, Any]) -> tuple[dict[str, LatencyStats], pd.DataFrame]:
        """Window stats and per-second series per source: exact where the samples still reach,
        from the 1-second histograms before that."""
        first_sec = raw["first_sec"]
        end = float(raw["last_sec"] + 1)  # whole seconds, like the buckets
        t, src, ms = raw["sample_t"], raw["sample_src"], raw["sample_ms"]
        evicted = raw["samples_evicted_t"]
        rows = raw["latency_rows"]
        exact_from = math.floor(evicted) + 1 if math.isfinite(evicted) else -(2**62)
        sel = (t >= first_sec) & (t < end)

        stats: dict[str, LatencyStats] = {}
        exact = exact_from <= first_sec
        for i, source in enumerate(LATENCY_SOURCES):
            if exact:
                vals = ms[sel & (src == i)]
                if vals.size:
                    p50, p95, p99 = percentiles(vals)
                    stats[source] = LatencyStats(
                        p50, p95, p99, float(vals.mean()), float(vals.max()), int(vals.size), True
                    )
                else:
                    stats[source] = LatencyStats()
            else:
                hist = rows.hist[:, i, :].sum(axis=0)
                count = int(hist.sum())
                if count:
                    p50, p95, p99 = hist_percentiles(hist)
                    stats[source] = LatencyStats(
                        p50,
                        p95,
                        p99,
                        float(rows.total[:, i].sum()) / count,
                        float(np.nanmax(rows.max[:, i])),
                        count,
                        False,
                    )
                else:
                    stats[source] = LatencyStats(exact=False)

        # Series: exact per (second, source) from the samples, histograms for older seconds.
        n_src = len(LATENCY_SOURCES)
        exact_sel = sel & (t >= exact_from)
        secs = np.floor(t[exact_sel]).astype(np.int64)
        groups, counts, pcts = grouped_percentiles(secs * n_src + src[exact_sel], ms[exact_sel])
        parts_sec = [groups // n_src]
        parts_src = [groups % n_src]
        parts_cnt = [counts]
        parts_pct = [pcts]
        old = rows.sec < max(exact_from, first_sec)
        if old.any():
            h = rows.hist[old]  # (n, S, slots)
            hc = h.sum(axis=2)  # (n, S)
            keep = hc > 0
            r_idx, s_idx = np.nonzero(keep)
            parts_sec.insert(0, rows.sec[old][r_idx])
            parts_src.insert(0, s_idx.astype(np.int64))
            parts_cnt.insert(0, hc[r_idx, s_idx])
            parts_pct.insert(0, hist_percentiles_rows(h[r_idx, s_idx, :]))
        sec_all = np.concatenate(parts_sec)
        src_all = np.concatenate(parts_src)
        order = np.lexsort((src_all, sec_all))
        pct_all = np.concatenate(parts_pct)[order]
        names = np.asarray(LATENCY_SOURCES, dtype=object)
        series = frame(
            {
                "time": sec_all[order].astype(float),
                "source": names[src_all[order]].tolist(),
                "p50": pct_all[:, 0],
                "p95": pct_all[:, 1],
                "p99": pct_all[:, 2],
                "count": np.concatenate(parts_cnt)[order],
            },
            EMPTY_COLUMNS["latency_series"],
        )
        return stats, series

    @staticmethod
    def _timeline_frame(timeline: list[StatusChange]) -> pd.DataFrame:
        starts = [c.at for c in timeline]
        ends: list[float | None] = starts[1:] + [None] if starts else []
        return frame(
            {
                "start": starts,
                "end": opt_floats(ends),
                "status": [c.status for c in timeline],
                "reason": [c.reason for c in timeline],
            },
            EMPTY_COLUMNS["timeline"],
        )

    @staticmethod
    def _subscriptions_frame(channels: list[tuple]) -> pd.DataFrame:
        return rows_frame(channels, EMPTY_COLUMNS["subscriptions"])

    @staticmethod
    def _subscription_counts(channels: list[tuple]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in channels:
            counts[c[1]] = counts.get(c[1], 0) + 1
        return counts

    def _replica_frame(self, rows: list[tuple]) -> pd.DataFrame:
        replica = self._replica
        cols: dict[str, Any] = {"key": [str(r[0]) for r in rows], "event": [r[1] for r in rows]}
        for j, name in enumerate(replica.extras):
            if name == "updated_at":
                continue
            # Ids are labels: text keeps one dtype whether a project uses uuids or integers.
            cols[name] = pd.array([_text(r[2][j]) for r in rows], dtype="str")
        for j, name in enumerate(replica.counters):
            cols[name] = np.array([as_float(r[3][j]) for r in rows], dtype=float)
        cols["updated_at"] = opt_floats([r[4] for r in rows])
        cols["commit_ts"] = opt_floats([r[5] for r in rows])
        cols["received_at"] = [r[6] for r in rows]
        df = frame(cols, EMPTY_COLUMNS["replica"])
        order = ["key", *[c for c in cols if c not in EMPTY_COLUMNS["replica"]]]
        order += ["event", "updated_at", "commit_ts", "received_at"]
        return df[order]

    def _replica_history_frame(self, per_key: list[tuple[Any, np.ndarray]]) -> pd.DataFrame:
        counters = self._replica.counters
        keys: list[str] = []
        for key, rows in per_key:
            keys.extend([str(key)] * rows.shape[0])
        arr = (
            np.concatenate([rows for _, rows in per_key])
            if per_key
            else np.empty((0, 1 + len(counters)))
        )
        cols: dict[str, Any] = {"key": keys, "time": arr[:, 0]}
        for j, name in enumerate(counters):
            cols[name] = arr[:, 1 + j]
        return frame(cols, EMPTY_COLUMNS["replica_history"])

    @staticmethod
    def _roster_frame(rows: list[tuple]) -> pd.DataFrame:
        return rows_frame(rows, EMPTY_COLUMNS["roster"])

    @staticmethod
    def _totals(raw: dict[str, Any]) -> dict[str, Any]:
        by_channel: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        bytes_by_channel: dict[str, int] = {}
        for (ch, kind, _ev), (count, size) in raw["totals"].items():
            by_channel[ch] = by_channel.get(ch, 0) + count
            by_kind[kind] = by_kind.get(kind, 0) + count
            bytes_by_channel[ch] = bytes_by_channel.get(ch, 0) + size
        return {
            "seq": raw["seq"],
            "messages": raw["user_messages"],
            "bytes": raw["user_bytes"],
            "by_channel": by_channel,
            "by_kind": by_kind,
            "bytes_by_channel": bytes_by_channel,
            "by_event": {k: v[0] for k, v in raw["totals"].items()},
            "probes": sum(v[0] for v in raw["probe_totals"].values()),
            "probe_by_event": {k: v[0] for k, v in raw["probe_totals"].items()},
            "late_events": raw["late_events"],
            "presence": raw["roster_counts"],
            "roster": raw["roster_stats"],
            "replica": raw["replica_stats"],
        }

    # ---- headless summary --------------------------------------------------------------------

    def summary(self, now: float | None = None, snap: Snapshot | None = None) -> dict[str, Any]:
        """A JSON-serialisable digest for `python -m feeds check` (NaN becomes None), of `snap`
        if the caller has already taken one."""
        snap = snap if snap is not None else self.snapshot(now)
        replica_rows = []
        for rec in snap.replica.to_dict("records"):
            replica_rows.append({k: _plain(v) for k, v in rec.items()})
        subs = {
            rec["channel"]: {
                "state": rec["state"],
                "since": _plain(rec["since"]),
                "error": _plain(rec["error"]),
                "last_error": _plain(rec["last_error"]),
            }
            for rec in snap.subscriptions.to_dict("records")
        }
        outage_rows = [
            {k: _plain(v) for k, v in rec.items()} for rec in snap.outages.to_dict("records")
        ]
        totals = snap.totals
        detail: dict[str, dict[str, dict[str, int]]] = {}
        for (ch, kind, ev), n in totals["by_event"].items():
            detail.setdefault(ch, {}).setdefault(kind, {})[ev] = n
        return json_safe(
            {
                "now": snap.now,
                "started_at": snap.started_at,
                "window_s": snap.window_s,
                "effective_window_s": snap.effective_window_s,
                "connection": {
                    "status": snap.status.status,
                    "reason": snap.status.reason,
                    "since": snap.status.since,
                    "uptime": snap.uptime,
                    "reconnects": snap.reconnects,
                    "reconnects_total": snap.reconnects_total,
                    "reconnect_durations_s": snap.reconnect_durations,
                    "outages": outage_rows,
                },
                "channels": subs,
                "messages": {
                    "total": totals["messages"],
                    "bytes": totals["bytes"],
                    "by_channel": totals["by_channel"],
                    "by_kind": totals["by_kind"],
                    "by_channel_kind_event": detail,
                    "probes": totals["probes"],
                },
                "rates": {
                    "total": snap.rate_total,
                    "by_channel": snap.rate_by_channel,
                    "by_kind": snap.rate_by_kind,
                },
                "latency_ms": {k: v.as_dict() for k, v in snap.latency.items()},
                "replica": replica_rows,
                "presence": totals["presence"],
                "last_message_at": snap.last_message_at,
                "message_age_s": snap.message_age_s,
            }
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _plain(value: Any) -> Any:
    """A frame cell to a JSON value: timestamps to epoch seconds, NA/NaT/NaN to None."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.timestamp()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def json_safe(obj: Any) -> Any:
    """Recursively replace NaN/inf with None and make keys strings, so json.dumps is strict."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
