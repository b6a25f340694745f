"""How much memory a store's retained history takes as it fills, in simulated time: the part of a
dashboard server's RSS that grows for `history_s` (6 hours by default) and then stays put.

The soak (`soak.py`) saw the server's RSS rise about +6 to +10 MB/hour over its hour. A store is
bounded by its `[buffers]` settings, but one bound is time, not events: the one-second buckets
keep `history_s` seconds, so the store is still filling for its first six hours. This benchmark
feeds a fresh `Store` the soak's traffic shape one simulated second at a time, far faster than
real time, and reads the process's RSS as the seconds go by.

Method (also in benchmarks/README.md):
* Per simulated second: `--broadcasts` broadcasts on `--channels` channels (1 by default; their
  number does not change the buckets' size, the number of channels with traffic in a second
  does), 50 row changes with a commit latency on one channel, one broadcast-probe and (every
  5 s) one database-probe sample: the soak's series.
* A snapshot of the default window every simulated 10 s, as a page's tick would take, dropped.
* RSS (`/proc/self/statm`) after a `gc.collect()` and glibc's `malloc_trim`, at the warm-up
  (5 min, the soak's) and then every simulated 30 minutes up to `--hours`.
* Baseline of the same run: a second store with `history_s = 600`, fed the same way; it is full
  after 10 minutes, so its line shows what the store costs once no bound is still filling.

Run: `.venv/bin/python benchmarks/history_memory.py [--hours 8] [--history-s 21600]
[--channels 1]`.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.events import Event  # noqa: E402
from metrics.store import Store  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
WARMUP_S = 300
STEP_S = 1800


def rss_mb() -> float:
    """Resident MB after handing freed heap back to the OS (glibc keeps it otherwise, which
    would make a step look like growth or hide one)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def second_of_traffic(t0: float, broadcasts: int, channels: int) -> list[Event]:
    """One second of the soak's shape, stamped within [t0, t0 + 1), its broadcasts spread over
    `channels` channels."""
    evs: list[Event] = []
    for i in range(broadcasts):
        channel = f"soak-load-{i % channels}" if channels > 1 else "soak-load"
        evs.append(Event(t0 + i / (broadcasts + 1), channel, "broadcast", "load", size=160))
    for i in range(50):
        t = t0 + (i + 0.5) / 51
        evs.append(
            Event(
                t,
                "demo-rows",
                "postgres_changes",
                "UPDATE",
                "public",
                "demo_items",
                commit_ts=t - 0.25,
                latency_ms=250.0 + (i % 37),
                size=420,
                payload={"data": {"type": "UPDATE", "record": {"id": i % 5, "n": i}}},
            )
        )
    evs.append(Event(t0 + 0.99, "realtime-monitor-probe", "probe", "rtt", latency_ms=3.0))
    if int(t0) % 5 == 0:
        evs.append(Event(t0 + 0.995, "realtime-monitor-probe", "probe", "db", latency_ms=40.0))
    evs.sort(key=lambda e: e.received_at)
    return evs


def fill(history_s: int, hours: float, broadcasts: int, channels: int) -> list[tuple[float, float]]:
    """(simulated minutes, RSS MB) for a store with `history_s`, fed for `hours`."""
    start = 1_800_000_000.0
    now = [start]
    store = Store(history_s=history_s, clock=lambda: now[0])
    points: list[tuple[float, float]] = []
    marks = [WARMUP_S] + list(range(STEP_S, int(hours * 3600) + 1, STEP_S))
    sec = 0
    for mark in marks:
        while sec < mark:
            t = start + sec
            store.ingest_many(second_of_traffic(t, broadcasts, channels))
            now[0] = t + 1
            if sec % 10 == 0:
                store.snapshot()
            sec += 1
        points.append((mark / 60, rss_mb()))
    del store
    gc.collect()
    return points


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--history-s", type=int, default=6 * 3600)
    ap.add_argument("--broadcasts", type=int, default=20, help="per simulated second")
    ap.add_argument(
        "--channels", type=int, default=1, help="channels with broadcasts in every second"
    )
    a = ap.parse_args()
    started = time.perf_counter()
    broadcasts = max(a.broadcasts, a.channels)
    base = fill(600, a.hours, broadcasts, a.channels)  # the baseline first: RSS rises after
    full = fill(a.history_s, a.hours, broadcasts, a.channels)
    took = time.perf_counter() - started
    b0, f0 = base[0][1], full[0][1]
    print(
        f"history_memory: RSS growth after the {WARMUP_S // 60}-minute warm-up, simulated "
        f"{a.hours:g} h of the soak's traffic shape, broadcasts on {a.channels} channel(s) "
        f"every second ({took:.0f} s)"
    )
    print(f"  {'minute':>6} {'history ' + str(a.history_s) + ' s':>18} {'baseline 600 s':>15}")
    for (m, fr), (_, br) in zip(full, base, strict=True):
        print(f"  {m:6.0f} {fr - f0:+15.1f} MB {br - b0:+12.1f} MB")
    hour = [r for m, r in full if m == 60]
    if hour:
        print(
            f"  first hour after warm-up: {hour[0] - f0:+.1f} MB with history_s={a.history_s}, "
            f"{[r for m, r in base if m == 60][0] - b0:+.1f} MB with 600 s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
