"""Ingest throughput: sandbox → Supervisor → metrics Store, against two baselines in one run.

Method (also in benchmarks/README.md):
* One sandbox process. The load generator (in this process) posts broadcasts through the REST
  batch endpoint, 1,000 messages per request, on one topic, in a closed loop: it keeps at most
  20,000 messages in flight (sent minus received by the consumer under test). The consumer is
  therefore always busy, never dropped by the server for reading too slowly, and the rate
  measured is the consumer's own: messages received ÷ time from first to last.
* Consumers, each on a fresh connection, one after another:
  (a) `raw`: realtime-py's AsyncRealtimeClient with an `on_broadcast("*")` callback that only
      counts, the ceiling for anything built on the official client;
  (b) `naive`: the same client with a callback that appends each event to a pandas DataFrame
      (`df.loc[len(df)] = row`), what a first dashboard prototype does;
  (c) `store`: our Supervisor (MonitoredClient tap + Event normalisation) into metrics.Store,
      with a snapshot built every 250 ms as a dashboard would.
* Memory: the store path runs for 1,000,000 events; RSS is read after 100,000 (buffers full) and
  at the end. Bounded buffers mean the two should match.

Run: `.venv/bin/python benchmarks/ingest.py [--events N] [--naive-events N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from sandbox_process import start_sandbox  # noqa: E402

TOPIC = "ingest-bench"
BATCH = 1_000
WINDOW = 20_000


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class Counter:
    def __init__(self) -> None:
        self.n = 0
        self.first = 0.0
        self.last = 0.0

    def hit(self) -> None:
        now = time.perf_counter()
        if self.n == 0:
            self.first = now
        self.n += 1
        self.last = now

    def rate(self) -> float:
        return (self.n - 1) / (self.last - self.first) if self.n > 1 else 0.0


async def generate(sb, total: int, counter: Counter, on_progress=None) -> None:
    """Closed-loop load: post batches while fewer than WINDOW messages are in flight."""
    headers = {"apikey": sb.service_role_key, "Authorization": f"Bearer {sb.service_role_key}"}
    url = sb.url + "/realtime/v1/api/broadcast"
    sent = 0
    async with aiohttp.ClientSession() as session:
        while sent < total:
            if sent - counter.n >= WINDOW:
                await asyncio.sleep(0.001)
                continue
            n = min(BATCH, total - sent)
            msgs = [
                {"topic": TOPIC, "event": "load", "payload": {"i": sent + i, "v": "x" * 40}}
                for i in range(n)
            ]
            async with session.post(url, json={"messages": msgs}, headers=headers) as r:
                assert r.status == 202, await r.text()
            sent += n
            if on_progress:
                on_progress(sent)
        deadline = time.monotonic() + 30
        while counter.n < total and time.monotonic() < deadline:
            await asyncio.sleep(0.01)


async def run_realtime_py(sb, total: int, naive: bool) -> tuple[Counter, float]:
    from realtime import AsyncRealtimeClient

    counter = Counter()
    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key)
    await client.connect()
    ch = client.channel(
        TOPIC,
        {
            "config": {
                "broadcast": {"ack": False, "self": False},
                "presence": {"key": "", "enabled": False},
                "private": False,
            }
        },
    )
    if naive:
        import pandas as pd

        frame = pd.DataFrame(
            {
                "received_at": pd.Series(dtype="float64"),
                "event": pd.Series(dtype="object"),
                "payload": pd.Series(dtype="object"),
            }
        )

        def on(msg):
            frame.loc[len(frame)] = [time.time(), msg["event"], msg["payload"]]
            counter.hit()
    else:

        def on(msg):
            counter.hit()

    ch.on_broadcast("*", on)
    await ch.subscribe()
    await generate(sb, total, counter)
    await client.close()
    return counter, 0.0


async def run_store(sb, total: int) -> tuple[Counter, dict]:
    from feeds.settings import ChannelConfig
    from feeds.supervisor import Supervisor
    from metrics.store import Store
    from monitor.config import WatchConfig

    counter = Counter()
    store = Store()
    cfg = WatchConfig(channels=[ChannelConfig(topic=TOPIC)])
    cfg.probes.broadcast.enabled = False

    def ingest(event):
        store.ingest(event)
        counter.hit()

    sup = Supervisor(
        cfg,
        url=sb.url,
        key=sb.anon_key,
        on_event=ingest,
        on_status=store.record_status,
        on_subscription=store.record_subscription,
    )
    sup.start()
    while not any(s == "SUBSCRIBED" for s in [v for v in _states(store)]):
        await asyncio.sleep(0.05)
    memory: dict = {}
    snapshots = []

    async def tick():
        while True:
            t = time.perf_counter()
            store.snapshot()
            snapshots.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.25)

    ticker = asyncio.create_task(tick())

    def progress(sent: int) -> None:
        if "after_100k" not in memory and counter.n >= 100_000:
            memory["after_100k"] = rss_mb()

    await generate(sb, total, counter, on_progress=progress)
    memory["end"] = rss_mb()
    ticker.cancel()
    await sup.stop()
    snapshots.sort()
    memory["snapshot_ms_p50"] = snapshots[len(snapshots) // 2] if snapshots else None
    memory["snapshot_ms_max"] = snapshots[-1] if snapshots else None
    return counter, memory


def _states(store) -> list[str]:
    snap = store.snapshot()
    frame = snap.subscriptions
    return list(frame["state"]) if len(frame) else []


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=200_000, help="events for raw and store runs")
    ap.add_argument("--naive-events", type=int, default=20_000)
    ap.add_argument("--memory-events", type=int, default=1_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ingest-"))
    sb = start_sandbox(tmp / "data")
    try:
        print(f"ingest: broadcasts through the sandbox, closed loop ({WINDOW:,} in flight)")
        raw, _ = await run_realtime_py(sb, args.events, naive=False)
        print(f"  raw realtime-py, counting      {raw.n:>9,} events  {raw.rate():>9,.0f} ev/s")
        store, _ = await run_store(sb, args.events)
        print(f"  Supervisor -> Store + ticks    {store.n:>9,} events  {store.rate():>9,.0f} ev/s")
        naive, _ = await run_realtime_py(sb, args.naive_events, naive=True)
        print(f"  naive DataFrame append         {naive.n:>9,} events  {naive.rate():>9,.0f} ev/s")
        print(f"  store / raw   = {store.rate() / raw.rate():.2f}   (bar: >= 0.80)")
        print(f"  store / naive = {store.rate() / naive.rate():.1f}x  (bar: >= 10x)")
        big, mem = await run_store(sb, args.memory_events)
        print(
            f"memory: {big.n:,} events through the store at {big.rate():,.0f} ev/s; RSS "
            f"{mem['after_100k']:.1f} MB after 100k, {mem['end']:.1f} MB at the end "
            f"({(mem['end'] / mem['after_100k'] - 1) * 100:+.1f}%); snapshot p50 "
            f"{mem['snapshot_ms_p50']:.1f} ms, max {mem['snapshot_ms_max']:.1f} ms"
        )
    finally:
        sb.stop()


if __name__ == "__main__":
    asyncio.run(main())
