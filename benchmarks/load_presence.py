"""200 supabase-js clients with presence and broadcast on the sandbox while the monitor watches.

Issue 14, item 5: seed 004 (the organiser dashboard) asks for "100+ concurrent users"; this runs
twice that. Method (also in benchmarks/README.md):

* A sandbox (`python -m sandbox serve`, default limits, changes polled as Supabase polls them)
  and, in this process, the monitor as `monitor` runs it: `feeds.monitor.Monitor` feeding a
  `metrics.Store`, watching `load-room` (presence and broadcast) and `load-rows` (a
  postgres_changes INSERT binding on `public.load_rows`).
* A writer (asyncpg, autocommit) inserts one row per transaction at a steady rate for the whole
  run; the monitor's commit-to-receive latency (`Event.latency_ms`, what the store records) is
  kept with the phase it fell in.
* One Node process (`benchmarks/js/load_clients.mjs`) holds up to 200 supabase-js clients, each
  its own `createClient` and websocket. Driven step by step from here: join (subscribe, then
  track), leave (three ways: leave the channel, untrack and stay, close the socket), re-track
  with a new payload. Every tracked client broadcasts a `cursor-move` about every 5 s. The Node
  side prints the truth (`TRUTH <ms> <tracked>`) each time the number of tracked clients changes.
* Phases: baseline (no clients) / ramp to 200 in steps of 50 / churn at 200 / ramp down to 0,
  twice, then a third baseline. Every step is followed by a settle period.
* Every 0.5 s the monitor's roster count for `load-room` is read from a snapshot (the contract
  the pages read), with the sandbox's own count of presence metas. A sample is *settled* when the
  truth did not change in the `--settle` seconds (default 1.0) before it; a settled sample must
  equal the truth exactly. A sample within `--settle` of a change is *in transition* and is
  checked only to lie between the lowest and highest truth of that window. Every sample is
  written to the JSON output.
* Commit-to-receive under load is compared with the baselines of the same run. Its normal range:
  p50 and p95 at most 1.5 times the baselines' (median of the baseline phases), and p99 at most
  600 ms, the top of the 100-600 ms Supabase's polling gives (reference §13.2).

Run: `make bench` or `.venv/bin/python benchmarks/load_presence.py [--clients 200]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from dashboard_harness import cpu_seconds, rss_mb  # noqa: E402
from sandbox_process import start_sandbox  # noqa: E402

from feeds.events import SUBSCRIBED, Event  # noqa: E402
from feeds.monitor import Monitor  # noqa: E402
from feeds.settings import FeedConfig  # noqa: E402
from metrics.store import Store  # noqa: E402

ROOM = "load-room"
ROWS = "load-rows"
NODE_SCRIPT = ROOT / "benchmarks" / "js" / "load_clients.mjs"
NORMAL_RATIO = 1.5  # p50/p95 under load at most this times the baseline's
POLL_CEILING_MS = 600.0  # the top of Supabase's 100-600 ms (reference §13.2)


def pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return {
        "n": len(values),
        "p50": round(float(p50), 1),
        "p95": round(float(p95), 1),
        "p99": round(float(p99), 1),
    }


class LatencySink:
    """A second sink beside the store: keeps each postgres_changes latency with its phase."""

    def __init__(self) -> None:
        self.phase = "warm-up"
        self.step = "start"
        self.samples: list[tuple[str, float]] = []
        self.detail: list[tuple[float, str, float]] = []  # (received at, step, ms)

    def ingest(self, event: Event) -> None:
        if event.kind == "postgres_changes" and event.latency_ms is not None:
            self.samples.append((self.phase, float(event.latency_ms)))
            self.detail.append((event.received_at, self.step, float(event.latency_ms)))

    def record_status(self, change: Any) -> None:
        pass

    def record_subscription(self, change: Any) -> None:
        pass


@dataclass
class Clients:
    """The Node process: commands in, truth and step results out."""

    proc: asyncio.subprocess.Process
    truth: list[tuple[float, int]] = field(default_factory=list)  # (epoch s, tracked)
    done: dict[int, dict] = field(default_factory=dict)
    result: dict | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    next_id: int = 0

    async def read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().rstrip("\n")
            if line.startswith("TRUTH "):
                _, ms, n = line.split()
                self.truth.append((int(ms) / 1000, int(n)))
            elif line.startswith("DONE "):
                _, cid, body = line.split(" ", 2)
                self.done[int(cid)] = json.loads(body)
            elif line.startswith("RESULT "):
                self.result = json.loads(line[7:])
            elif line == "READY":
                self.ready.set()

    async def do(self, op: str, n: int = 0, how: str = "") -> dict:
        self.next_id += 1
        cid = self.next_id
        cmd = {"id": cid, "op": op, "n": n, "how": how}
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        if op == "quit":  # answered by RESULT and the exit
            return {}
        deadline = time.monotonic() + 60
        while cid not in self.done:
            if time.monotonic() > deadline or self.proc.returncode is not None:
                raise RuntimeError(f"node did not finish {cmd}")
            await asyncio.sleep(0.02)
        return self.done[cid]

    def truth_at(self, t: float) -> int:
        n = 0
        for at, count in self.truth:
            if at > t:
                break
            n = count
        return n


@dataclass
class Sample:
    at: float
    phase: str
    step: str
    roster: int
    server: int | None
    server_ms: float  # round trip of the sandbox's stats request: is the server responsive?
    late_ms: float  # how late this sample was taken: is the monitor's event loop responsive?
    # % of one core since the last sample: monitor, sandbox, node, and the whole machine (of 200)
    cpu: tuple[float, float, float, float]


async def server_stats(session: aiohttp.ClientSession, sb) -> dict:
    async with session.get(
        f"{sb.url}/sandbox/v1/stats",
        headers={
            "apikey": sb.service_role_key,
            "Authorization": f"Bearer {sb.service_role_key}",
        },
    ) as resp:
        return await resp.json()


async def server_members(session: aiohttp.ClientSession, sb) -> tuple[int | None, dict]:
    """The sandbox's own count of presence metas, and its tenant rates (60 s averages)."""
    try:
        stats = await server_stats(session, sb)
        return int(stats["presence_members"]), stats.get("rates", {})
    except (aiohttp.ClientError, KeyError, ValueError):
        return None, {}


def proc_cpu(pid: int) -> float:
    return cpu_seconds(pid, descendants=False)


def machine_cpu() -> float:
    """CPU seconds the whole machine spent busy (all cores; idle and iowait excluded)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


async def measure(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    sb = start_sandbox(tmp / "sandbox", *(["--plan", args.plan] if args.plan else []))
    import asyncpg

    db = await asyncpg.connect(sb.db_url)
    await db.execute(
        "create table if not exists public.load_rows (id bigserial primary key, body text,"
        " created_at timestamptz default now()); select seed.publish('public', array['load_rows'])"
    )
    store, lat = Store(), LatencySink()
    config = FeedConfig.model_validate(
        {
            # the monitor watches as the Inspector does: the service role
            "connection": {"url": sb.url, "key": sb.service_role_key},
            "channels": [
                {"topic": ROOM, "presence": True},
                {
                    "topic": ROWS,
                    "broadcast": [],
                    "postgres_changes": [{"table": "load_rows", "event": "INSERT"}],
                },
            ],
            "probes": {"database": {"enabled": False}},
        }
    )
    monitor = Monitor(config, [store, lat], poll_usage=False)
    # The clients stand in for 200 browsers on other machines: at nice 10 they get the CPU the
    # sandbox and the monitor leave, so a busy Node cannot slow the server it is measuring.
    node = await asyncio.create_subprocess_exec(
        "nice",
        "-n",
        str(args.node_nice),
        "node",
        str(NODE_SCRIPT),
        json.dumps(
            {
                "url": sb.url,
                "key": sb.anon_key,
                "topic": ROOM,
                "clients": args.clients,
                "broadcast_every_ms": args.broadcast_every_ms,
            }
        ),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=open(tmp / "node.log", "w"),  # noqa: SIM115 - lives as long as the process
        cwd=ROOT,
    )
    clients = Clients(node)
    reader = asyncio.create_task(clients.read())
    samples: list[Sample] = []
    steps: list[dict] = []
    phases: list[dict] = []
    state: dict[str, Any] = {"phase": "warm-up", "step": "start"}
    me = os.getpid()
    stop = asyncio.Event()

    async def sampler(session: aiohttp.ClientSession) -> None:
        nxt = time.monotonic()
        pids = (me, sb.proc.pid, node.pid)
        last_cpu, last_t = [*map(proc_cpu, pids), machine_cpu()], time.monotonic()
        while not stop.is_set():
            late = (time.monotonic() - nxt) * 1000
            at = time.time()
            snap = store.snapshot()
            roster = sum(1 for row in snap.roster_rows if row[0] == ROOM)
            t0 = time.monotonic()
            server, rates = await server_members(session, sb)
            peaks = state.setdefault("peak_rates", {})
            for k, v in rates.items():
                peaks[k] = max(peaks.get(k, 0), v)
            server_ms = (time.monotonic() - t0) * 1000
            cpu_now, t_now = [*map(proc_cpu, pids), machine_cpu()], time.monotonic()
            cpu = tuple(
                round(100 * (b - a) / (t_now - last_t), 1)
                for a, b in zip(last_cpu, cpu_now, strict=True)
            )
            last_cpu, last_t = cpu_now, t_now
            samples.append(
                Sample(
                    at,
                    state["phase"],
                    state["step"],
                    roster,
                    server,
                    round(server_ms, 1),
                    round(late, 1),
                    cpu,
                )
            )
            nxt += args.sample_s
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))

    async def writer() -> int:
        n = 0
        start = time.monotonic()
        while not stop.is_set():
            await db.execute("insert into public.load_rows (body) values ($1)", f"row {n}")
            n += 1
            await asyncio.sleep(max(0.0, start + n / args.rows_per_s - time.monotonic()))
        return n

    def begin_phase(name: str) -> dict:
        state["phase"] = lat.phase = name
        ph = {
            "phase": name,
            "t0": time.time(),
            "cpu0": proc_cpu(me),
            "node_cpu0": proc_cpu(node.pid),
            "sb_cpu0": proc_cpu(sb.proc.pid),
            "machine_cpu0": machine_cpu(),
        }
        phases.append(ph)
        return ph

    def end_phase(ph: dict) -> None:
        dt = time.time() - ph["t0"]
        ph.update(
            seconds=round(dt, 1),
            monitor_cpu_pct=round(100 * (proc_cpu(me) - ph.pop("cpu0")) / dt, 1),
            node_cpu_pct=round(100 * (proc_cpu(node.pid) - ph.pop("node_cpu0")) / dt, 1),
            sandbox_cpu_pct=round(100 * (proc_cpu(sb.proc.pid) - ph.pop("sb_cpu0")) / dt, 1),
            machine_cpu_pct=round(100 * (machine_cpu() - ph.pop("machine_cpu0")) / dt, 1),
            monitor_rss_mb=round(rss_mb(me), 1),
        )

    async def step(label: str, op: str, n: int = 0, how: str = "") -> None:
        label = f"{len(steps) + 1:>2} {label}"
        before = clients.truth[-1][1] if clients.truth else 0
        sent_at = time.time()
        state["step"] = lat.step = label
        res = await clients.do(op, n, how)
        # every client of the step has the server's answer: the truth holds from here
        steps.append(
            {
                "phase": state["phase"],
                "step": label,
                "sent_at": sent_at,
                "done_at": time.time(),
                **{k: res.get(k) for k in ("ok", "failed", "ms")},
                "before": before,
                "truth": clients.truth[-1][1],
            }
        )
        await asyncio.sleep(args.settle_period)

    async def load_cycle(k: int) -> None:
        ph = begin_phase(f"ramp up {k}")
        per = args.clients // 4
        for i in range(4):
            await step(f"join {per} (to {per * (i + 1)})", "join", per)
        end_phase(ph)
        ph = begin_phase(f"load {k}")
        churn = max(1, args.clients // 10)
        for how in ("unsubscribe", "untrack", "disconnect"):
            await step(f"{churn} leave ({how})", "leave", churn, how)
            await step(f"{churn} rejoin", "join", churn)
        await step(f"{args.clients // 4} re-track (update)", "update", args.clients // 4)
        await step(f"{churn} leave (disconnect)", "leave", churn, "disconnect")
        await step(f"+ {churn} leave (unsubscribe)", "leave", churn, "unsubscribe")
        await step(f"{churn * 2} rejoin", "join", churn * 2)
        end_phase(ph)
        ph = begin_phase(f"ramp down {k}")
        per = args.clients // 2
        await step(f"{per} leave (unsubscribe)", "leave", per, "unsubscribe")
        await step(f"{per} leave (disconnect)", "leave", args.clients - per, "disconnect")
        end_phase(ph)

    async def baseline(k: int) -> None:
        ph = begin_phase(f"baseline {k}")
        state["step"] = lat.step = "no clients"
        await asyncio.sleep(args.baseline_s)
        end_phase(ph)

    load_avg_before = os.getloadavg()
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        try:
            await asyncio.wait_for(clients.ready.wait(), 30)
            await monitor.start()
            deadline = time.monotonic() + 20
            while True:
                states = {r[0]: r[1] for r in store.snapshot().channel_states}
                if states.get(ROOM) == SUBSCRIBED and states.get(ROWS) == SUBSCRIBED:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"monitor not subscribed: {states}")
                await asyncio.sleep(0.1)
            tasks = [asyncio.create_task(sampler(session)), asyncio.create_task(writer())]
            await asyncio.sleep(3)  # "Subscribed to PostgreSQL", first polls
            for k in range(1, args.cycles + 1):
                await baseline(k)
                await load_cycle(k)
            await baseline(args.cycles + 1)
            stop.set()
            rows = await tasks[1]
            await tasks[0]
            await asyncio.sleep(1.0)  # the last rows' polls
            final_stats = await server_stats(session, sb)
            await clients.do("quit")
        finally:
            stop.set()
            try:
                await asyncio.wait_for(node.wait(), 20)
            except TimeoutError:
                node.kill()
            reader.cancel()
            snap = store.snapshot()
            await monitor.stop()
            await db.close()
            sb.stop()
    runtime = time.monotonic() - started

    # ---- judge every sample against the truth ----
    # A step (say 50 joins at once) is in flight from its command until every client in it has
    # the server's answer (DONE). A sample is settled when no step was in flight in the `settle`
    # seconds before it: then the roster must equal the truth exactly. Otherwise it must lie
    # between the counts before and after the step. The Node side's own TRUTH timestamps are not
    # used to judge: with 200 clients on one event loop it reads some answers late.
    settle = args.settle
    judged = []
    for s in samples:
        last = None
        for st in steps:
            if st["sent_at"] <= s.at:
                last = st
        if last is None:  # before the first step: nobody is tracked
            truth, lo, hi, settled = 0, 0, 0, True
        else:
            truth = last["truth"]
            settled = s.at - last["done_at"] >= settle
            lo, hi = sorted((last["before"], last["truth"]))
        ok = s.roster == truth if settled else lo <= s.roster <= hi
        judged.append(
            {
                **s.__dict__,
                "truth": truth,
                "settled": settled,
                "lo": lo,
                "hi": hi,
                "ok": ok,
                "server_ok": s.server is None or not settled or s.server == truth,
            }
        )

    by_phase: dict[str, list[float]] = {}
    for ph, ms in lat.samples:
        by_phase.setdefault(ph, []).append(ms)
    lat_rows = {ph: pct(v) for ph, v in by_phase.items()}
    base = [lat_rows[p["phase"]] for p in phases if p["phase"].startswith("baseline")]
    load = [lat_rows[p["phase"]] for p in phases if p["phase"].startswith("load")]

    def med(rows: list[dict], key: str) -> float:
        vals = [r[key] for r in rows if r["n"]]
        return round(statistics.median(vals), 1) if vals else float("nan")

    base_all = [ms for ph, ms in lat.samples if ph.startswith("baseline")]
    load_all = [ms for ph, ms in lat.samples if ph.startswith(("load", "ramp"))]
    summary = {
        "baseline_median_of_phases": {k: med(base, k) for k in ("p50", "p95", "p99")},
        "load_median_of_phases": {k: med(load, k) for k in ("p50", "p95", "p99")},
        "baseline_pooled": pct(base_all),
        "load_and_ramps_pooled": pct(load_all),
    }
    b, lo_ = summary["baseline_median_of_phases"], summary["load_median_of_phases"]
    summary["within_normal_range"] = bool(
        lo_["p50"] <= NORMAL_RATIO * b["p50"]
        and lo_["p95"] <= NORMAL_RATIO * b["p95"]
        and lo_["p99"] <= POLL_CEILING_MS
    )
    return {
        "clients": args.clients,
        "settle_s": settle,
        "sample_s": args.sample_s,
        "rows_per_s": args.rows_per_s,
        "rows_written": rows,
        "rows_received": len(lat.samples),
        "load_average_before": [round(x, 2) for x in load_avg_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "runtime_s": round(runtime, 1),
        "samples": judged,
        "steps": steps,
        "phases": phases,
        "latency_by_phase": lat_rows,
        "latency_samples": lat.detail,
        "latency": summary,
        "node": clients.result,
        "monitor_broadcasts": snap.event_totals
        and {f"{k}": v for k, v in snap.event_totals.items() if k[0] == ROOM},
        "roster_stats": snap.cap.roster_stats,
        "sandbox_stats": final_stats,
        "sandbox_peak_rates": state.get("peak_rates", {}),
        "open_incidents": [str(i) for i in snap.open_incidents],
        "incidents_total": snap.incidents_total,
        "sandbox_log": str(sb.log_path),
    }


def report(res: dict) -> None:
    samples = res["samples"]
    settled = [s for s in samples if s["settled"]]
    trans = [s for s in samples if not s["settled"]]
    bad = [s for s in samples if not s["ok"]]
    print(
        f"\n{res['clients']} supabase-js clients, presence + broadcast; monitor sampled every "
        f"{res['sample_s']} s; settled = no step in flight for {res['settle_s']} s before the "
        "sample"
    )
    print(f"load average before {res['load_average_before']}, after {res['load_average_after']}")
    print(
        f"\n{'phase':<12} {'step':<30} {'step ms':>7} {'samples':>7} {'settled':>7} "
        f"{'truth':>11} {'roster':>11} {'server':>11} {'mismatch':>8}"
    )
    took = {st["step"]: st["ms"] for st in res["steps"]}
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in samples:
        groups.setdefault((s["phase"], s["step"]), []).append(s)

    def span(vals: list[int | None]) -> str:
        vals = [v for v in vals if v is not None]
        if not vals:
            return "-"
        lo, hi = min(vals), max(vals)
        return f"{lo}" if lo == hi else f"{lo}-{hi}"

    for (phase, step), group in groups.items():
        st = [s for s in group if s["settled"]]
        ms = took.get(step)
        print(
            f"{phase:<12} {step:<30} {'-' if ms is None else ms:>7} {len(group):>7} {len(st):>7} "
            f"{span([s['truth'] for s in st]):>11} {span([s['roster'] for s in st]):>11} "
            f"{span([s['server'] for s in st]):>11} "
            f"{sum(1 for s in group if not s['ok']):>8}"
        )
    print(
        f"\nsamples {len(samples)}: settled {len(settled)} (roster == truth: "
        f"{sum(s['ok'] for s in settled)}), in transition {len(trans)} (between the window's "
        f"truths: {sum(s['ok'] for s in trans)}); mismatches {len(bad)}; sandbox's own count "
        f"off the truth in {sum(not s['server_ok'] for s in settled)} settled samples"
    )
    for s in bad[:20]:
        print(
            f"  MISMATCH at {s['at']:.2f} {s['phase']} / {s['step']}: roster {s['roster']}, "
            f"truth {s['truth']} (window {s['lo']}-{s['hi']}), server {s['server']}"
        )

    print(
        f"\ncommit-to-receive (monitor), {res['rows_received']}/{res['rows_written']} rows at "
        f"{res['rows_per_s']}/s, ms:"
    )
    print(f"{'phase':<14} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8}")
    for ph, row in res["latency_by_phase"].items():
        print(f"{ph:<14} {row['n']:>5} {row['p50']:>8} {row['p95']:>8} {row['p99']:>8}")
    lat = res["latency"]
    b, lo = lat["baseline_median_of_phases"], lat["load_median_of_phases"]
    print(
        f"median of phases: baseline p50 {b['p50']} p95 {b['p95']} p99 {b['p99']}; "
        f"load p50 {lo['p50']} p95 {lo['p95']} p99 {lo['p99']}; ratio p50 "
        f"{lo['p50'] / b['p50']:.2f}, p95 {lo['p95'] / b['p95']:.2f}"
    )
    print(
        f"within the normal range (p50, p95 <= {NORMAL_RATIO} x baseline, p99 <= "
        f"{POLL_CEILING_MS:.0f} ms): {lat['within_normal_range']}"
    )

    print(
        f"\n{'phase':<14} {'s':>6} {'monitor CPU %':>13} {'RSS MB':>7} {'node CPU %':>10} "
        f"{'sandbox CPU %':>13} {'others %':>8} {'sample late max ms':>18} "
        f"{'stats rtt max ms':>16}"
    )
    for ph in res["phases"]:
        mine = [s for s in samples if s["phase"] == ph["phase"]]
        late = max((s["late_ms"] for s in mine), default=float("nan"))
        rtt = max((s["server_ms"] for s in mine), default=float("nan"))
        others = ph["machine_cpu_pct"] - sum(
            ph[k] for k in ("monitor_cpu_pct", "node_cpu_pct", "sandbox_cpu_pct")
        )
        print(
            f"{ph['phase']:<14} {ph['seconds']:>6} {ph['monitor_cpu_pct']:>13} "
            f"{ph['monitor_rss_mb']:>7} {ph['node_cpu_pct']:>10} {ph['sandbox_cpu_pct']:>13} "
            f"{others:>8.1f} {late:>18.0f} {rtt:>16.0f}"
        )
    node = res["node"] or {}
    print(
        f"\nnode: {node.get('clients_created')} clients created, {node.get('joins')} tracks, "
        f"leaves {node.get('leaves')}, {node.get('updates')} re-tracks, broadcasts sent "
        f"{node.get('sent')} (errors {node.get('send_errors')}), received "
        f"{node.get('received')}; errors {node.get('errors')}"
    )
    print(f"monitor: {res['monitor_broadcasts']}; roster {res['roster_stats']}")
    print(f"monitor incidents: {res['incidents_total']}, open {res['open_incidents']}")
    print(f"sandbox peak tenant rates (its 60 s averages): {res['sandbox_peak_rates']}")
    sbs = res["sandbox_stats"]
    print(
        f"sandbox: limits {sbs.get('limits')}; refusals "
        f"{ {k: v for k, v in (sbs.get('refusals') or {}).items() if v} }"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--cycles", type=int, default=2, help="load cycles (each between baselines)")
    ap.add_argument("--baseline-s", type=float, default=12.0)
    ap.add_argument("--settle-period", type=float, default=2.5, help="wait after each step, s")
    ap.add_argument(
        "--settle",
        type=float,
        default=1.0,
        help="a sample is settled when the truth did not change for this long, s",
    )
    ap.add_argument("--sample-s", type=float, default=0.5)
    ap.add_argument("--rows-per-s", type=float, default=10.0)
    ap.add_argument("--broadcast-every-ms", type=int, default=5000)
    ap.add_argument("--node-nice", type=int, default=10, help="niceness of the Node clients")
    ap.add_argument(
        "--plan",
        choices=("free", "pro", "team"),
        help="the sandbox's limits for this Supabase plan (default: its own defaults)",
    )
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    started = time.monotonic()
    res = asyncio.run(measure(args))
    report(res)
    print(f"runtime {time.monotonic() - started:.0f} s")
    if args.json_out:
        args.json_out.write_text(json.dumps(res, indent=1, default=str))
    bad = sum(not s["ok"] for s in res["samples"])
    sys.exit(1 if bad or not res["latency"]["within_normal_range"] else 0)


if __name__ == "__main__":
    main()
