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
  `commit_timestamp` (millisecond precision), the same measure Supabase's Inspector shows. Once
  with `--changes stream` (each change sent as it is decoded) and once with `--changes poll`
  (the default: polled as Supabase polls).
* postgres_changes fan-out, streamed: N subscribers (default 100) of one table, rows inserted
  one per transaction at a steady rate; every row reaches every subscriber. Two tables: one
  without RLS (all subscribers anon: one role and claims), one with RLS (a policy every row
  passes) where each subscriber has its own user JWT, so each change is checked for N different
  claims. Reports delivered messages/s and commit-to-client p50/p95/p99.

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
import uuid
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


PG_FANOUT_TABLES = (
    "create table if not exists public.bench_open (id bigserial primary key, owner uuid,"
    " body text, created_at timestamptz default now());"
    "create table if not exists public.bench_rls (id bigserial primary key, owner uuid,"
    " body text, created_at timestamptz default now());"
    "alter table public.bench_rls enable row level security;"
    "drop policy if exists everyone on public.bench_rls;"
    "create policy everyone on public.bench_rls for select to authenticated using (true);"
    "select seed.publish('public', array['bench_open', 'bench_rls'])"
)


async def pg_subscribers(sb, table: str, tokens: list[str], session, lat: list[float]):
    """One socket per token, each subscribed to INSERTs on `table`; readers append latencies."""
    url = sb.url.replace("http", "ws", 1) + f"/realtime/v1/websocket?apikey={sb.anon_key}"
    binding = {"event": "INSERT", "schema": "public", "table": table}
    socks = []
    for token in tokens:
        ws = await session.ws_connect(url, max_msg_size=0)
        join = {
            "topic": "realtime:bench-pg-fan",
            "event": "phx_join",
            "ref": "1",
            "join_ref": "1",
            "payload": {"config": {"postgres_changes": [binding]}, "access_token": token},
        }
        await ws.send_str(json.dumps(join))
        while (m := json.loads((await ws.receive(timeout=10)).data))["event"] != "system":
            pass
        assert m["payload"]["status"] == "ok", m
        socks.append(ws)

    async def read(ws) -> None:
        async for msg in ws:
            got = time.time()
            m = orjson.loads(msg.data)
            if m["event"] == "postgres_changes":
                ts = m["payload"]["data"]["commit_timestamp"]
                committed = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
                lat.append((got - committed) * 1000)

    return socks, [asyncio.create_task(read(ws)) for ws in socks]


async def pg_fanout(sb, subscribers: int, rate: float, seconds: float) -> list[dict]:
    """postgres_changes to `subscribers` sockets, without RLS (anon) and with RLS (a JWT each)."""
    import asyncpg
    import jwt

    db = await asyncpg.connect(sb.db_url)
    await db.execute(PG_FANOUT_TABLES)
    now = int(time.time())
    users = [
        jwt.encode(
            {"role": "authenticated", "sub": str(uuid.uuid4()), "iat": now, "exp": now + 3600},
            sb.jwt_secret,
            algorithm="HS256",
        )
        for _ in range(subscribers)
    ]
    results = []
    for table, tokens in (("bench_open", [sb.anon_key] * subscribers), ("bench_rls", users)):
        lat: list[float] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            socks, readers = await pg_subscribers(sb, table, tokens, session, lat)
            sent = 0
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                while sent < int(elapsed * rate) + 1:
                    await db.execute(f"insert into public.{table} (body) values ($1)", str(sent))
                    sent += 1
                await asyncio.sleep(max(0.0, sent / rate - (time.monotonic() - start)))
            await asyncio.sleep(2.0)  # let the tail arrive
            for t in readers:
                t.cancel()
            for ws in socks:
                await ws.close()
        results.append(
            {
                "table": table,
                "rls": table == "bench_rls",
                "subscribers": subscribers,
                "rows_per_s": rate,
                "sent": sent,
                "delivered": len(lat),
                "lost": sent * subscribers - len(lat),
                "delivered_per_s": round(len(lat) / seconds),
                **pct(lat),
            }
        )
    await db.close()
    return results


async def broadcast_fanout(sb, args) -> dict:
    """The broadcast steps against the sandbox and against the bare relay, printed side by side."""
    rates = [int(r) for r in args.rates.split(",")]
    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "bare_relay.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    relay_port = int(relay.stdout.readline().split()[-1])

    async def open_sandbox(session, n):
        return await sandbox_sockets(sb.url, sb.anon_key, n, session)

    async def open_relay(session, n):
        return [
            await session.ws_connect(f"ws://127.0.0.1:{relay_port}/ws", max_msg_size=0)
            for _ in range(n)
        ]

    try:
        print(f"fan-out: 1 sender -> {args.receivers} receivers, {args.seconds:.0f} s per step")
        sandbox_res = await run_steps(
            open_sandbox, sandbox_frame, args.receivers, rates, args.seconds
        )
        relay_res = await run_steps(open_relay, relay_frame, args.receivers, rates, args.seconds)
    finally:
        relay.kill()
    print(
        f"{'rate in':>8} {'server':>8} {'deliv/s':>9} {'lost':>6} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'p99 ms':>8}"
    )
    for s_row, r_row in zip(sandbox_res, relay_res, strict=True):
        for name, row in (("sandbox", s_row), ("bare", r_row)):
            print(
                f"{row['rate_in']:>8} {name:>8} {row['delivered_per_s']:>9} {row['lost']:>6} "
                f"{row['p50']:>8} {row['p95']:>8} {row['p99']:>8}"
            )
        ratio = s_row["delivered_per_s"] / max(r_row["delivered_per_s"], 1)
        print(f"{'':>8} {'ratio':>8} {ratio:>9.2f}")
    return {"fanout": sandbox_res, "bare_relay": relay_res}


async def postgres_changes(sb, args, mode: str) -> dict:
    """Commit-to-client for one subscriber, then postgres_changes fan-out with and without RLS."""
    pg = await commit_latency(sb, args.changes, rate=50)
    print(
        f"commit-to-client, --changes {mode} (postgres_changes INSERT, {pg['received']}/"
        f"{pg['changes']} received): p50 {pg['p50']} ms, p95 {pg['p95']} ms, p99 {pg['p99']} ms"
    )
    if mode != "stream":
        return {"commit_to_client": pg}
    fan = []
    for rate in [float(r) for r in args.pg_rates.split(",")]:
        fan += await pg_fanout(sb, args.pg_subscribers, rate, args.seconds)
    print(f"postgres_changes fan-out: {args.pg_subscribers} subscribers, {args.seconds:.0f} s each")
    print(f"{'table':>11} {'rows/s':>7} {'deliv/s':>8} {'lost':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for row in fan:
        print(
            f"{row['table']:>11} {row['rows_per_s']:>7.0f} {row['delivered_per_s']:>8} "
            f"{row['lost']:>6} {row['p50']:>8} {row['p99']:>8}"
        )
    return {"commit_to_client": pg, "pg_fanout": fan}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--receivers", type=int, default=100)
    ap.add_argument("--rates", default="200,400,600,800,1000", help="broadcasts/s per step")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each step")
    ap.add_argument("--changes", type=int, default=300)
    ap.add_argument("--pg-subscribers", type=int, default=100)
    ap.add_argument("--pg-rates", default="50,200", help="rows/s per postgres_changes step")
    ap.add_argument("--skip-broadcast", action="store_true", help="only the postgres_changes parts")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    out: dict = {}
    for mode in ("stream", "poll"):  # fan-out on streamed changes; commit-to-client in both
        sb = start_sandbox(tmp / mode, changes=mode)
        try:
            if mode == "stream" and not args.skip_broadcast:
                out.update(await broadcast_fanout(sb, args))
            out[mode] = await postgres_changes(sb, args, mode)
        finally:
            sb.stop()
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
