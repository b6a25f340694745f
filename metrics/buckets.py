"""One-second buckets for long windows (hours) at a memory cost set by `history_s`, not by traffic.

The raw event ring holds only the last few thousand events; at 1,000 msg/s that is five seconds.
Charts of the last hour (and rates over a 6 h window) come from these buckets instead:

* message counts and bytes per second by (channel, kind): user traffic only, never probes;
* a latency histogram per second per source (commit, probe_rtt, probe_db), plus the exact sum
  and max per second so means and maxima over long windows stay exact;
* presence member counts per channel, sampled as the last value in each second it changed.

The second being filled lives in plain Python dicts and lists (cheap to bump per event). When time
moves on to a new second it is frozen into compact storage: a small int64 array per second for the
counts, rows of fixed NumPy arrays (one per second of history, reused round the ring) for the
latency histograms. Seconds older than `history_s` are dropped as time advances, so the footprint
is bounded by history_s x (channels x kinds) and history_s x sources x bins whatever the event rate.

An event stamped earlier than the second being filled (a probe that measured a little before the
socket reader's latest frame) is counted in the current second: the buckets never reopen a frozen
second, which keeps the per-event path O(1). Exact totals are kept elsewhere (the store).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from metrics.stats import HIST_SLOTS, LATENCY_SOURCES

OTHER_CHANNEL = "(other)"


@dataclass(slots=True)
class MessageRows:
    """Per-second message counts in a range of seconds, one row per (second, series)."""

    sec: np.ndarray  # int64 epoch second
    channel: list[str]
    kind: list[str]
    count: np.ndarray  # int64
    bytes: np.ndarray  # int64


@dataclass(slots=True)
class LatencyRows:
    """Per-second latency aggregates in a range of seconds (only seconds that had samples)."""

    sec: np.ndarray  # int64, shape (n,)
    hist: np.ndarray  # int64, shape (n, n_sources, HIST_SLOTS)
    total: np.ndarray  # float64 sum of ms, shape (n, n_sources)
    max: np.ndarray  # float64 max ms, shape (n, n_sources); NaN where no sample


class SecondBuckets:
    """A ring of 1-second buckets covering the last `history_s` seconds."""

    def __init__(
        self,
        history_s: int = 6 * 3600,
        sources: tuple[str, ...] = LATENCY_SOURCES,
        max_series: int = 1024,
    ) -> None:
        if history_s < 2:
            raise ValueError("history_s must be at least 2 seconds")
        self.history_s = int(history_s)
        self.sources = tuple(sources)
        self.max_series = int(max_series)
        self.clear()

    def clear(self) -> None:
        """Forget everything (the arrays are re-allocated lazily-zeroed by the OS)."""
        h, s = self.history_s, len(self.sources)
        self._cur_sec: int | None = None
        self._cur_counts: dict[tuple[str, str], list[int]] = {}
        self._cur_hist: list[list[int]] = [[0] * HIST_SLOTS for _ in range(s)]
        self._cur_sum: list[float] = [0.0] * s
        self._cur_max: list[float] = [float("-inf")] * s
        self._cur_has_latency = False
        self._cur_members: dict[str, int] = {}
        # Frozen seconds with traffic: (sec, int64 array [[series_id, count, bytes], ...]).
        self._msg: deque[tuple[int, np.ndarray]] = deque()
        self._series: dict[tuple[str, str], int] = {}
        self._series_names: list[tuple[str, str]] = []
        # Dense latency ring: row = sec % history_s, valid only where _lat_sec[row] == sec.
        self._lat_sec = np.full(h, -1, dtype=np.int64)
        self._lat_hist = np.zeros((h, s, HIST_SLOTS), dtype=np.uint32)
        self._lat_sum = np.zeros((h, s), dtype=np.float64)
        self._lat_max = np.full((h, s), np.nan, dtype=np.float64)
        # Member counts: change points (sec, channel, members), plus the value in force before
        # the oldest retained point so a window that starts earlier still knows the count.
        self._members: deque[tuple[int, str, int]] = deque()
        self._members_base: dict[str, int] = {}
        self._members_last: dict[str, int] = {}
        self.late_events = 0

    # ---- per-event path ---------------------------------------------------------------------

    def add_message(self, t: float, channel: str, kind: str, size: int) -> None:
        """Count one user message of `size` bytes received at `t`."""
        sec = int(t)
        if sec != self._cur_sec:
            self._advance(sec)
        c = self._cur_counts.get((channel, kind))
        if c is None:
            self._cur_counts[(channel, kind)] = [1, size]
        else:
            c[0] += 1
            c[1] += size

    def add_latency(self, t: float, source: int, ms: float, slot: int) -> None:
        """Add one latency sample (`slot` from `stats.hist_slot`) for source index `source`."""
        sec = int(t)
        if sec != self._cur_sec:
            self._advance(sec)
        self._cur_hist[source][slot] += 1
        self._cur_sum[source] += ms
        if ms > self._cur_max[source]:
            self._cur_max[source] = ms
        self._cur_has_latency = True

    def set_members(self, t: float, channel: str, members: int) -> None:
        """Record a channel's member count after a presence event (last value per second wins)."""
        sec = int(t)
        if sec != self._cur_sec:
            self._advance(sec)
        if channel not in self._members_last and len(self._members_last) >= self.max_series:
            return  # bounded: a flood of channel names must not grow memory
        self._cur_members[channel] = members
        self._members_last[channel] = members

    def advance(self, now: float) -> None:
        """Move time on without an event (a quiet system still ages its old seconds out)."""
        sec = int(now)
        if self._cur_sec is None or sec > self._cur_sec:
            self._advance(sec)

    # ---- second roll-over ----------------------------------------------------------------------

    def _advance(self, sec: int) -> None:
        cur = self._cur_sec
        if cur is not None and sec < cur:
            self.late_events += 1  # counted in the current second, see the module docstring
            return
        if cur is not None:
            self._freeze(cur)
        self._cur_sec = sec
        self._evict(sec)

    def _series_id(self, key: tuple[str, str]) -> int:
        sid = self._series.get(key)
        if sid is None:
            if len(self._series_names) >= self.max_series:
                key = (OTHER_CHANNEL, key[1])
                sid = self._series.get(key)
                if sid is not None:
                    return sid
            sid = len(self._series_names)
            self._series[key] = sid
            self._series_names.append(key)
        return sid

    def _freeze(self, sec: int) -> None:
        if self._cur_counts:
            rows = np.array(
                [(self._series_id(k), v[0], v[1]) for k, v in self._cur_counts.items()],
                dtype=np.int64,
            )
            self._msg.append((sec, rows))
            self._cur_counts = {}
        if self._cur_has_latency:
            row = sec % self.history_s
            self._lat_sec[row] = sec
            self._lat_hist[row] = self._cur_hist
            self._lat_sum[row] = self._cur_sum
            mx = np.asarray(self._cur_max)
            self._lat_max[row] = np.where(np.isfinite(mx), mx, np.nan)
            s = len(self.sources)
            self._cur_hist = [[0] * HIST_SLOTS for _ in range(s)]
            self._cur_sum = [0.0] * s
            self._cur_max = [float("-inf")] * s
            self._cur_has_latency = False
        if self._cur_members:
            for channel, n in self._cur_members.items():
                self._members.append((sec, channel, n))
            self._cur_members = {}

    def _evict(self, sec: int) -> None:
        oldest = sec - self.history_s + 1  # the ring keeps seconds [sec - history_s + 1, sec]
        msg = self._msg
        while msg and msg[0][0] < oldest:
            msg.popleft()
        members = self._members
        while members and members[0][0] < oldest:
            _, channel, n = members.popleft()
            self._members_base[channel] = n
        # Latency rows need no eviction: a row is valid only while its stamp is in range.

    # ---- queries ---------------------------------------------------------------------------

    @property
    def current_second(self) -> int | None:
        return self._cur_sec

    def _range(self, first: int, last: int) -> tuple[int, int]:
        """Clamp a query to the seconds the ring still holds."""
        if self._cur_sec is not None:
            first = max(first, self._cur_sec - self.history_s + 1)
            last = min(last, self._cur_sec)
        return first, last

    def messages(self, first: int, last: int) -> MessageRows:
        """Rows for seconds first..last inclusive, including the second being filled."""
        first, last = self._range(first, last)
        secs: list[np.ndarray] = []
        blocks: list[np.ndarray] = []
        for sec, rows in reversed(self._msg):
            if sec < first:
                break
            if sec <= last:
                blocks.append(rows)
                secs.append(np.full(rows.shape[0], sec, dtype=np.int64))
        cur = self._cur_sec
        if cur is not None and self._cur_counts and first <= cur <= last:
            rows = np.array(
                [(self._series_id(k), v[0], v[1]) for k, v in self._cur_counts.items()],
                dtype=np.int64,
            )
            blocks.insert(0, rows)
            secs.insert(0, np.full(rows.shape[0], cur, dtype=np.int64))
        if not blocks:
            empty = np.empty(0, dtype=np.int64)
            return MessageRows(empty, [], [], empty.copy(), empty.copy())
        blocks.reverse()
        secs.reverse()
        data = np.concatenate(blocks)
        names = self._series_names
        ids = data[:, 0].tolist()
        return MessageRows(
            np.concatenate(secs),
            [names[i][0] for i in ids],
            [names[i][1] for i in ids],
            data[:, 1].copy(),
            data[:, 2].copy(),
        )

    def latency(self, first: int, last: int) -> LatencyRows:
        """Per-second latency aggregates for seconds first..last, in time order."""
        first, last = self._range(first, last)
        s = len(self.sources)
        if last < first:
            return LatencyRows(
                np.empty(0, np.int64),
                np.empty((0, s, HIST_SLOTS), np.int64),
                np.empty((0, s)),
                np.empty((0, s)),
            )
        stamps = self._lat_sec
        rows = np.flatnonzero((stamps >= first) & (stamps <= last))
        rows = rows[np.argsort(stamps[rows], kind="stable")]
        sec = stamps[rows]
        hist = self._lat_hist[rows].astype(np.int64)
        total = self._lat_sum[rows]
        mx = self._lat_max[rows]
        cur = self._cur_sec
        if cur is not None and self._cur_has_latency and first <= cur <= last:
            sec = np.r_[sec, cur]
            hist = np.concatenate([hist, np.asarray(self._cur_hist, np.int64)[None]])
            total = np.concatenate([total, np.asarray(self._cur_sum)[None]])
            cmx = np.asarray(self._cur_max)
            mx = np.concatenate([mx, np.where(np.isfinite(cmx), cmx, np.nan)[None]])
        return LatencyRows(sec, hist, total, mx)

    def members(self, first: int, last: int) -> list[tuple[int, str, int]]:
        """Member-count change points in first..last, each channel led by its value at `first`.

        A step chart needs the level at the left edge, not only the changes inside the window.
        """
        first, last = self._range(first, last)
        at_start: dict[str, int] = dict(self._members_base)
        inside: list[tuple[int, str, int]] = []
        for sec, channel, n in self._members:
            if sec < first:
                at_start[channel] = n
            elif sec <= last:
                inside.append((sec, channel, n))
        cur = self._cur_sec
        if cur is not None and first <= cur <= last:
            inside.extend((cur, ch, n) for ch, n in self._cur_members.items())
        elif cur is not None and cur < first:
            at_start.update(self._cur_members)
        lead = [(first, ch, n) for ch, n in at_start.items()]
        starts = {ch for sec, ch, _ in inside if sec == first}
        return [row for row in lead if row[1] not in starts] + inside

    def memory_rows(self) -> dict[str, int]:
        """Sizes of the growing parts, for tests and the admin page."""
        return {
            "message_seconds": len(self._msg),
            "message_rows": sum(r.shape[0] for _, r in self._msg),
            "member_points": len(self._members),
            "series": len(self._series_names),
            "latency_ring_rows": int(self._lat_sec.shape[0]),
        }
