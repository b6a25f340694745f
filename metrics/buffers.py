"""The per-event state of a store: bounded containers that `ingest` touches in O(1).

This is a plain class (not `param.Parameterized`) on purpose: reading a Parameter costs ~2 us and
setting any attribute on a Parameterized ~90 ns, which alone would cap ingest well under the
300k events/s the store must sustain. `metrics.store.Store` owns one `Buffers`, guards it with its
lock and turns it into pandas frames once per UI tick.

What one event updates:

* the raw ring (`deque(maxlen)`) of recent Event objects; an event's `seq` is implicit: the ring
  holds consecutive seqs, so seq -> position is arithmetic and no tuple is allocated per event;
* totals since start by (channel, kind, event) -> [count, bytes], probes in their own dict;
* the 1-second buckets (user traffic counts, latency histograms, member counts);
* exact latency samples (time, source, channel, ms) in four parallel deques, for exact
  percentiles (per source, and per channel) while they still cover the window; a channel is kept
  as a small integer (`channel_ids`), so a sample allocates nothing;
* a cumulative latency histogram per (channel, source) since start (`cum_hist`: counts per
  `stats.hist_slot`, then the sum in ms): what a Prometheus histogram exposes, which must never
  go down. It reuses the slot the 1-second buckets compute anyway, so a sample costs two list
  lookups and two additions more (about 4 % of a row change's ingest, benchmarks/README.md);
  channels that carry latency are the watched ones, so it stays small (HIST_SLOTS + 1 numbers
  per channel and source);
* the presence roster and the live-slot replica;
* first-seen time and last user-message time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from feeds.events import Event
from metrics.buckets import SecondBuckets
from metrics.replica import LiveSlotReplica
from metrics.roster import PresenceRoster
from metrics.stats import HIST_SLOTS, LATENCY_SOURCES, hist_slot

PROBE = "probe"
POSTGRES = "postgres_changes"
SYSTEM = "system"
PRESENCE = "presence"
# (kind, event) -> latency source index in LATENCY_SOURCES
_PROBE_SOURCE = {"rtt": LATENCY_SOURCES.index("probe_rtt"), "db": LATENCY_SOURCES.index("probe_db")}
_COMMIT_SOURCE = LATENCY_SOURCES.index("commit")


class Buffers:
    """Bounded per-event state; not thread-safe by itself (the Store holds the lock)."""

    def __init__(
        self,
        raw_events: int,
        history_s: int,
        latency_samples: int,
        roster: PresenceRoster,
        replica: LiveSlotReplica,
    ) -> None:
        self.ring: deque[Event] = deque(maxlen=int(raw_events))
        self.seq = 0  # seq of the newest event; the ring holds seq-len(ring)+1 .. seq
        self.totals: dict[tuple[str, str, str], list[int]] = {}
        self.probe_totals: dict[tuple[str, str, str], list[int]] = {}
        self.buckets = SecondBuckets(history_s)
        n = int(latency_samples)
        self.sample_t: deque[float] = deque(maxlen=n)
        self.sample_src: deque[int] = deque(maxlen=n)
        self.sample_ch: deque[int] = deque(maxlen=n)
        self.sample_ms: deque[float] = deque(maxlen=n)
        # channel name -> its number in `sample_ch`; as many as the channels that carried latency
        self.channel_ids: dict[str, int] = {}
        # Since start, [channel number][source]: counts per histogram slot, then the sum of the
        # samples in ms at index HIST_SLOTS (one list per pair: two lookups on the hot path;
        # a non-negative constant index keeps CPython's fast list path). Prometheus histograms
        # are cumulative counters; the 1-second buckets are not.
        self.cum_hist: list[list[list[Any]]] = []
        # Receive time of the newest sample pushed out of the deques: samples are exact for any
        # window that starts after it.
        self.samples_evicted_t = float("-inf")
        self.roster = roster
        self.replica = replica
        self.first_at: float | None = None
        self.last_message_at = float("-inf")  # -inf until the first user message
        self.user_messages = 0
        self.user_bytes = 0
        # called with each `system` event (the incidents watch for "Subscribed to PostgreSQL");
        # a hook here costs the hot path one comparison, a pass of its own would cost a loop
        self.on_system: Callable[[Event], None] | None = None

    def ingest(self, ev: Event) -> None:
        """Record one event. Hot path: every line cheap, the totals key the only allocation."""
        self.seq += 1
        self.ring.append(ev)
        t = ev.received_at
        kind = ev.kind
        size = ev.size
        if self.first_at is None:
            self.first_at = t
        key = (ev.channel, kind, ev.event)
        if kind == PROBE:
            tot = self.probe_totals
            src = _PROBE_SOURCE.get(ev.event)
        else:
            tot = self.totals
            self.buckets.add_message(t, ev.channel, kind, size)
            self.user_messages += 1
            self.user_bytes += size
            if t > self.last_message_at:
                self.last_message_at = t
            src = _COMMIT_SOURCE if kind == POSTGRES else None
        c = tot.get(key)
        if c is None:
            tot[key] = [1, size]
        else:
            c[0] += 1
            c[1] += size
        if src is not None:
            ms = ev.latency_ms
            if ms is not None and ms == ms:  # NaN would poison the per-second sums
                st = self.sample_t
                if len(st) == st.maxlen:
                    self.samples_evicted_t = st[0]
                st.append(t)
                self.sample_src.append(src)
                ids = self.channel_ids
                cid = ids.get(ev.channel)
                if cid is None:
                    cid = ids[ev.channel] = len(ids)
                    self.cum_hist.append([[0] * HIST_SLOTS + [0.0] for _ in LATENCY_SOURCES])
                self.sample_ch.append(cid)
                self.sample_ms.append(ms)
                slot = hist_slot(ms)
                self.buckets.add_latency(t, src, ms, slot)
                h = self.cum_hist[cid][src]
                h[slot] += 1
                h[HIST_SLOTS] += ms
        if kind == POSTGRES:
            self.replica.apply(ev)
        elif kind == PRESENCE:
            if self.roster.apply(ev):
                self.buckets.set_members(t, ev.channel, self.roster.count(ev.channel))
        elif kind == SYSTEM and self.on_system is not None:
            self.on_system(ev)

    def ingest_many(self, events: Iterable[Event]) -> int:
        n = 0
        ingest = self.ingest
        for ev in events:
            ingest(ev)
            n += 1
        return n

    @property
    def first_seq(self) -> int:
        """The seq of the oldest event still in the ring (seq + 1 when the ring is empty)."""
        return self.seq - len(self.ring) + 1

    def event(self, seq: int) -> Event | None:
        i = seq - self.first_seq
        if 0 <= i < len(self.ring):
            return self.ring[i]
        return None

    def events_since(self, seq: int) -> list[Event]:
        """Events with a seq greater than `seq` still in the ring, oldest first."""
        first = self.first_seq
        skip = max(0, seq + 1 - first)
        n = len(self.ring)
        if skip >= n:
            return []
        if skip == 0:
            return list(self.ring)
        # Walk from the right: a delta is usually the newest few events.
        out = [self.ring[i] for i in range(n - 1, skip - 1, -1)] if n - skip < 512 else None
        if out is not None:
            out.reverse()
            return out
        return list(self.ring)[skip:]
