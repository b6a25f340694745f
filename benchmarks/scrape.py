"""The cost of one Prometheus scrape of the monitor at 1,000 events/s on 50 channels.

Method (also in benchmarks/README.md):
* A `Store` with the default bounds is filled with 300 s (the default window) of traffic at
  1,000 events/s on 50 channels, each channel carrying each kind: 600/s broadcasts (3 event
  names), 300/s row changes (INSERT/UPDATE/DELETE, log-normal commit latency around 250 ms, a
  tenth of them on the live-slot table with 300 keys), 100/s presence diffs on 10 of the
  channels; the monitor's probes (2 round trips and 0.5 database probes a second); every
  channel SUBSCRIBED.
* Measured, interleaved, `--rounds` times each (median reported), all in this process:
  - baseline: `store.snapshot()` alone, what a scrape cannot do without;
  - a scrape as served: `generate_latest` of the registry `/metrics` uses (one snapshot, the
    families from it, the text format), with and without the process collector;
  - the same over HTTP from `prometheus_client`'s own server (`--metrics-port`), request included.
* Also printed: the exposition's size and series count.

Run: `.venv/bin/python benchmarks/scrape.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from prometheus_client import generate_latest  # noqa: E402

from feeds.events import CONNECTED, SUBSCRIBED, Event, StatusChange, SubscriptionChange  # noqa: E402
from metrics.settings import QuotaConfig  # noqa: E402
from metrics.store import Store  # noqa: E402
from monitor.prometheus import SnapshotCollector, registry, serve  # noqa: E402

CHANNELS = [f"ch-{i:02d}" for i in range(50)]
SECONDS = 300
RATE = 1_000


def row_change(t: float, ch: str, i: int, rnd: random.Random) -> Event:
    ms = rnd.lognormvariate(math.log(250), 0.5)
    if i % 30 == 6:  # a tenth of the row changes: the live-slot table
        schema, table = "group", "live_slots"
        record = {"itinerary_id": rnd.randrange(300), "presence_online": i % 7}
    else:
        schema, table, record = "public", "items", {}
    data = {"schema": schema, "table": table, "type": "UPDATE", "record": record}
    kind = ("INSERT", "UPDATE", "DELETE")[i % 3]
    return Event(
        t, ch, "postgres_changes", kind, schema, table, t - ms / 1000, ms, 300, {"data": data}
    )


def presence_diff(t: float, ch: str, i: int, rnd: random.Random) -> Event:
    member = {f"user-{rnd.randrange(40)}": {"metas": [{"phx_ref": str(i)}]}}
    diff = (
        {"joins": member, "leaves": {}} if rnd.random() < 0.5 else {"joins": {}, "leaves": member}
    )
    return Event(t, ch, "presence", "presence_diff", size=90, payload=diff)


def probe(t: float, which: str, ms: float) -> Event:
    return Event(t, "monitor-probe", "probe", which, latency_ms=ms, size=140)


def events(t0: float) -> list[Event]:
    """SECONDS of traffic at RATE events/s, oldest first (see the module doc)."""
    rnd = random.Random(13)
    out: list[Event] = []
    for s in range(SECONDS):
        for i in range(RATE):
            t = t0 + s + i / RATE
            r, ch = i % 10, CHANNELS[(i // 10) % 50]  # every channel carries every kind
            if r < 6:
                out.append(Event(t, ch, "broadcast", ("tick", "move", "chat")[r % 3], size=120))
            elif r < 9:
                out.append(row_change(t, ch, i, rnd))
            else:
                out.append(presence_diff(t, CHANNELS[(i // 10) % 10], i, rnd))
        for k in range(2):
            out.append(probe(t0 + s + k / 2, "rtt", rnd.lognormvariate(math.log(3), 0.3)))
        if s % 2 == 0:
            out.append(probe(t0 + s + 0.25, "db", rnd.lognormvariate(math.log(250), 0.4)))
    return out


def filled_store() -> Store:
    now = time.time()
    t0 = now - SECONDS
    store = Store()
    store.record_status(StatusChange(t0 - 1, CONNECTED))
    for ch in CHANNELS:
        store.record_subscription(SubscriptionChange(t0 - 1, ch, SUBSCRIBED))
    evs = events(t0)
    for i in range(0, len(evs), 1_000):
        store.ingest_many(evs[i : i + 1_000])
    return store


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--port", type=int, default=0, help="for the HTTP server (0: any free)")
    args = parser.parse_args()
    print("filling the store ...", file=sys.stderr)
    store = filled_store()
    collector = SnapshotCollector(store.snapshot, "bench", QuotaConfig(), lambda: 0)
    served = registry(collector)  # what /metrics serves: the collector and the process's
    bare = registry(SnapshotCollector(store.snapshot, "bench", QuotaConfig(), lambda: 0), False)
    import socket

    port = args.port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    stop = serve(served, port)
    url = f"http://127.0.0.1:{port}/metrics"

    def http() -> None:
        with urllib.request.urlopen(url, timeout=10) as r:
            r.read()

    cases = {
        "snapshot alone (baseline)": store.snapshot,
        "scrape, monitor families only": lambda: generate_latest(bare),
        "scrape as served (+ process collector)": lambda: generate_latest(served),
        "scrape over HTTP (--metrics-port)": http,
    }
    for fn in cases.values():  # warm up
        fn()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            times[name].append(timed(fn))
    stop()
    text = generate_latest(served).decode()
    series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"store: {SECONDS} s at {RATE:,} events/s on {len(CHANNELS)} channels")
    print(f"exposition: {len(text.encode()):,} bytes, {series:,} series")
    base = statistics.median(times["snapshot alone (baseline)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:42s} {median:8.2f} ms (median of {len(values)})  {median / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
