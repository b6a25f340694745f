"""The store's own ingest cost per event kind, without a network: what one event costs inside
`Store.ingest_many`, row changes (which carry a latency sample) against broadcasts (which don't).

Method (also in benchmarks/README.md):
* 200,000 pre-built Events per kind, ingested in batches of 1,000 into a fresh `Store` with the
  default bounds (so the rings and the 20,000 latency samples fill and roll over).
* Kinds: `broadcast` (counts and buckets only: the baseline of this run) and `postgres_changes`
  on 6 channels (also a latency sample and a live-slot replica check per event).
* Each kind is run `--rounds` times, alternating; the median rate is reported, and the ratio of
  the row-change rate to the broadcast rate.

Run: `.venv/bin/python benchmarks/store_ingest.py [--events N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.events import Event  # noqa: E402
from metrics.store import Store  # noqa: E402

CHANNELS = [f"table-{i}" for i in range(6)]


def broadcasts(n: int, t0: float) -> list[Event]:
    return [
        Event(t0 + i / 1000, CHANNELS[i % 6], "broadcast", "tick", size=120, payload={})
        for i in range(n)
    ]


def row_changes(n: int, t0: float) -> list[Event]:
    data = {"schema": "public", "table": "items", "type": "UPDATE", "record": {"id": 1}}
    return [
        Event(
            t0 + i / 1000,
            CHANNELS[i % 6],
            "postgres_changes",
            "UPDATE",
            "public",
            "items",
            commit_ts=t0 + i / 1000 - 0.004,
            latency_ms=4.0 + (i % 97) / 10,
            size=300,
            payload={"data": data},
        )
        for i in range(n)
    ]


def rate(events: list[Event]) -> float:
    """Events per second through a fresh store's ingest_many, in batches of 1,000."""
    store = Store()
    started = time.perf_counter()
    for i in range(0, len(events), 1_000):
        store.ingest_many(events[i : i + 1_000])
    return len(events) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    t0 = time.time()
    kinds = {
        "broadcast": broadcasts(args.events, t0),
        "postgres_changes": row_changes(args.events, t0),
    }
    rates: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(args.rounds):
        for kind, events in kinds.items():
            rates[kind].append(rate(events))
    medians = {k: statistics.median(v) for k, v in rates.items()}
    for kind, median in medians.items():
        print(f"{kind:17s} {median:>10,.0f} events/s (median of {args.rounds})")
    ratio = medians["postgres_changes"] / medians["broadcast"]
    print(f"row changes / broadcasts: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
