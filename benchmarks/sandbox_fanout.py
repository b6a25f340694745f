"""Sandbox throughput and latency: broadcast fan-out and commit-to-client postgres_changes.

Method (also in benchmarks/README.md):
* Fan-out: one sender and N receivers (default 100), each its own websocket on loopback, vsn
  1.0.0 JSON frames as realtime-py speaks them, all joined to one topic. The sender paces
  broadcasts at a fixed rate per step; each payload carries the send time (CLOCK_MONOTONIC, shared
  by the processes on this machine); every receiver records receive-minus-send. A step reports
  delivered messages/s and p50/p95/p99 latency. The same steps run against `bare_relay.py` (aiohttp
  with no protocol at all) in the same run: the ratio shows what the Realtime layer costs.
* Commit-to-client: one subscriber with a postgres_changes binding; rows are inserted one per
  transaction at a steady rate; latency = receive wall-clock time minus the payload's
  `commit_timestamp` (millisecond precision), the same measure Supabase's Inspector shows.

Receivers run in the benchmark process on the machine's other core; the server is a separate
process. Run: `make bench` or `.venv/bin/python benchmarks/sandbox_fanout.py [--receivers N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sandbox_process import start_sandbox  # noqa: E402


def pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)}


class Receivers:
    """N sockets that time every frame they get; frames are parsed only for their timestamp."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.count = 0
        self.tasks: list[asyncio.Task] = []

    async def reader(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        now = time.monotonic
        lat = self.latencies
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            i = data.find('"t":')
            if i < 0:
                continue
            j = data.find("}", i)
            lat.append((now() - float(data[i + 4 : j])) * 1000)
            self.count += 1


async def sandbox_sockets(base: str, key: str, n: int, session: aiohttp.ClientSession):
    url = base.replace("http", "ws", 1) + f"/realtime/v1/websocket?apikey={key}&vsn=1.0.0"
    socks = []
    for _ in range(n):
        ws = await session.ws_connect(url, max_msg_size=0)
        join = {
            "topic": "realtime:bench",
            "event": "phx_join",
            "ref": "1",
            "join_ref": "1",
            "payload": {"config": {"broadcast": {"self": False}}},
        }
        await ws.send_str(json.dumps(join))
        reply = json.loads((await ws.receive(timeout=10)).data)
        assert reply["payload"]["status"] == "ok", reply
        socks.append(ws)
    return socks


def sandbox_frame(seq: int) -> str:
    payload = {"type": "broadcast", "event": "tick", "payload": {"seq": seq, "t": time.monotonic()}}
    return orjson.dumps(
        {
            "topic": "realtime:bench",
            "event": "broadcast",
            "payload": payload,
            "ref": None,
            "join_ref": "1",
        }
    ).decode()


def relay_frame(seq: int) -> str:
    return orjson.dumps({"seq": seq, "t": time.monotonic()}).decode()


async def run_steps(open_sockets, frame, receivers: int, rates: list[int], seconds: float):
    results = []
    # limit=0: the connector's default cap of 100 connections would stall the 101st socket
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        socks = await open_sockets(session, receivers + 1)
        sender, rx = socks[0], socks[1:]
        rec = Receivers()
        rec.tasks = [asyncio.create_task(rec.reader(ws)) for ws in rx]
        await asyncio.sleep(0.5)
        for rate in rates:
            rec.latencies.clear()
            rec.count = 0
            interval = 1.0 / rate
            sent = 0
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                due = int(elapsed / interval) + 1
                while sent < due:
                    await sender.send_str(frame(sent))
                    sent += 1
                await asyncio.sleep(max(0.0, (sent * interval) - (time.monotonic() - start)))
            await asyncio.sleep(0.5)  # let the tail arrive
            took = seconds
            expected = sent * receivers
            results.append(
                {
                    "rate_in": rate,
                    "sent": sent,
                    "delivered": rec.count,
                    "lost": expected - rec.count,
                    "delivered_per_s": round(rec.count / took),
                    **pct(rec.latencies),
                }
            )
        for t in rec.tasks:
            t.cancel()
        for ws in socks:
            await ws.close()
    return results


async def commit_latency(sb, changes: int, rate: float) -> dict:
    import asyncpg

    db = await asyncpg.connect(sb.db_url)
    await db.execute(
        "create table if not exists public.bench_rows (id bigserial primary key, "
        "body text, created_at timestamptz default now())"
    )
    await db.execute(
        "do $$ begin if not exists (select from pg_publication_tables where "
        "tablename = 'bench_rows') then alter publication supabase_realtime add table "
        "public.bench_rows; end if; end $$"
    )
    lat: list[float] = []
    async with aiohttp.ClientSession() as session:
        url = sb.url.replace("http", "ws", 1) + f"/realtime/v1/websocket?apikey={sb.anon_key}"
        ws = await session.ws_connect(url, max_msg_size=0)
        join = {
            "topic": "realtime:bench-pg",
            "event": "phx_join",
            "ref": "1",
            "join_ref": "1",
            "payload": {
                "config": {
                    "postgres_changes": [
                        {"event": "INSERT", "schema": "public", "table": "bench_rows"}
                    ]
                }
            },
        }
        await ws.send_str(json.dumps(join))
        while True:
            m = json.loads((await ws.receive(timeout=10)).data)
            if m["event"] == "system":
                assert m["payload"]["status"] == "ok", m
                break

        async def read() -> None:
            async for msg in ws:
                got = time.time()
                m = json.loads(msg.data)
                if m["event"] == "postgres_changes":
                    ts = m["payload"]["data"]["commit_timestamp"]
                    committed = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
                    lat.append((got - committed) * 1000)

        reader = asyncio.create_task(read())
        for i in range(changes):
            await db.execute("insert into public.bench_rows (body) values ($1)", f"row {i}")
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(0.5)
        reader.cancel()
        await ws.close()
    await db.close()
    return {
        "changes": changes,
        "received": len(lat),
        **pct(lat),
        "mean": round(statistics.fmean(lat), 2) if lat else None,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--receivers", type=int, default=100)
    ap.add_argument("--rates", default="200,400,600,800,1000", help="broadcasts/s per step")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each step")
    ap.add_argument("--changes", type=int, default=300)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    sb = start_sandbox(tmp / "data")
    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "bare_relay.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    relay_port = int(relay.stdout.readline().split()[-1])
    try:

        async def open_sandbox(session, n):
            return await sandbox_sockets(sb.url, sb.anon_key, n, session)

        async def open_relay(session, n):
            return [
                await session.ws_connect(f"ws://127.0.0.1:{relay_port}/ws", max_msg_size=0)
                for _ in range(n)
            ]

        print(f"fan-out: 1 sender -> {args.receivers} receivers, {args.seconds:.0f} s per step")
        sandbox_res = await run_steps(
            open_sandbox, sandbox_frame, args.receivers, rates, args.seconds
        )
        relay_res = await run_steps(open_relay, relay_frame, args.receivers, rates, args.seconds)
        header = (
            f"{'rate in':>8} {'server':>8} {'deliv/s':>9} {'lost':>6} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'p99 ms':>8}"
        )
        print(header)
        for s_row, r_row in zip(sandbox_res, relay_res, strict=True):
            for name, row in (("sandbox", s_row), ("bare", r_row)):
                print(
                    f"{row['rate_in']:>8} {name:>8} {row['delivered_per_s']:>9} {row['lost']:>6} "
                    f"{row['p50']:>8} {row['p95']:>8} {row['p99']:>8}"
                )
            ratio = s_row["delivered_per_s"] / max(r_row["delivered_per_s"], 1)
            print(f"{'':>8} {'ratio':>8} {ratio:>9.2f}")
        pg = await commit_latency(sb, args.changes, rate=50)
        print(
            f"commit-to-client (postgres_changes INSERT, {pg['received']}/{pg['changes']} "
            f"received): p50 {pg['p50']} ms, p95 {pg['p95']} ms, p99 {pg['p99']} ms"
        )
        if args.json_out:
            args.json_out.write_text(
                json.dumps(
                    {"fanout": sandbox_res, "bare_relay": relay_res, "commit_to_client": pg},
                    indent=2,
                )
            )
    finally:
        relay.kill()
        sb.stop()


if __name__ == "__main__":
    asyncio.run(main())
