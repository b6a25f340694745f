"""Soak: the dashboard under sustained load for an hour (issue 14, item 3), with browser tabs
opened and closed every minute and the sandbox restarted every ten minutes.

Method (also in benchmarks/README.md, "Soak"):
* A sandbox WITHOUT demo traffic on a fixed port and data directory, so it can be stopped and
  started again where the monitor expects it, and so that every message it delivers goes to the
  monitor (no demo client subscribes to anything): its `/sandbox/v1/stats` counters are then the
  monitor's own deliveries.
* Load from one process of its own (`soak.py load`): `--rate` broadcasts/s (default 2,000) posted
  in batches every 100 ms to the REST endpoint `/realtime/v1/api/broadcast` on `soak-load`, plus
  `--pg-rate` row updates/s (default 50) on `public.demo_items` (postgres_changes, polled by the
  sandbox like Supabase). It counts what was acknowledged (202; a committed UPDATE's rows) and
  what failed, per second. SIGUSR1 pauses it, SIGUSR2 resumes; its counters are written to a
  JSON file every second.
* The dashboard server (`python -m monitor serve -- --rest-session-info`, as the browser tests
  start it) on a free port, watching the sandbox's demo channels, `demo_items`, `group.live_slots`
  and `soak-load`.
* Debian's Chromium with 5 tabs over the 6 pages (overview, incidents, slots, presence,
  inspector, wall). Every minute the oldest tab is closed and a new tab opens on the next page
  in the cycle, so each tab lives 5 minutes and every page comes round every 6 minutes.
* Every `--restart-every` minutes (10 by default; half the run when shorter), 40 s past the
  minute: the load pauses, 3 s later the sandbox's counters are read, the sandbox is stopped
  (SIGTERM and kill -9 in turn), the load resumes (its posts now fail), and the sandbox starts
  again on the same port and data directory. The window is timed: down (stop to READY), and
  READY until the monitor has joined `soak-load` again and its count moves. Broadcasts are not
  stored, so what the sandbox accepted in that window, with no subscriber, is delivered to no
  one; it is measured, not hidden.
* Every minute, 30 s past the minute: the server's RSS, the sandbox's (its Python process and,
  separately, its PostgreSQL), Chromium's, each tab's JS heap, DOM nodes and listeners after a
  forced collection (CDP `HeapProfiler.collectGarbage`, `Performance.getMetrics`), the live
  sessions (`/rest/session_info`), the monitor's counts (`/metrics`: `events_total` by kind and
  channel, `probe_messages_total`) against the load's, and the load average.

Results: RSS slope (MB/hour, least squares over the samples after `--warmup` minutes) next to
the slope and level of the first 10 minutes; per page, the heap each tab held at its last sample
before it closed, and that figure's slope over the run; the most live sessions seen (must be the
5 open tabs) and the count after the last tab closed (must be 0); per sandbox lifetime, the
monitor's counts against the sandbox's delivered counters (must be equal) and against what the
load had acknowledged (the difference is what was accepted in a restart window).

Run: `.venv/bin/python benchmarks/soak.py [--minutes 10] [--rate 2000] [--json-out FILE]`
(`make bench-soak SOAK_MIN=60` or `make bench-soak-hour` for the hour).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_harness import (  # noqa: E402
    DashboardServer,
    LoadProcess,
    chromium_pids,
    cpu_seconds,
    launch_chromium,
    open_page,
    rss_mb,
    run_benchmark,
    watch_toml,
)
from dashboard_process import ROOT, free_port  # noqa: E402
from sandbox_process import start_sandbox, traversable  # noqa: E402

TOPIC = "soak-load"
KINDS = ["overview", "incidents", "slots", "presence", "inspector", "wall"]
TABS = 5
ITEMS = 8  # demo_items rows the load updates in turn


def path_of(kind: str) -> str:
    return "/wall" if kind == "wall" else f"/app?page={kind}"


def marker_of(kind: str) -> str:
    return "[data-testid=wall-status]" if kind == "wall" else "[data-testid=nav-overview]"


def bracket_diff(counted: int, counted_during_read: int, delivered: int) -> int:
    """0 when `delivered` lies between the monitor's counts read just before and just after the
    sandbox's counters; otherwise how far the monitor was ahead (+) or behind (-)."""
    if delivered < counted:
        return counted - delivered
    if delivered > counted + counted_during_read:
        return counted + counted_during_read - delivered
    return 0


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, in value units per hour."""
    if len(points) < 3:
        return float("nan")
    ts = [p[0] for p in points]
    vs = [p[1] for p in points]
    mt, mv = statistics.fmean(ts), statistics.fmean(vs)
    den = sum((t - mt) ** 2 for t in ts)
    return (
        sum((t - mt) * (v - mv) for t, v in zip(ts, vs, strict=True)) / den * 3600 if den else 0.0
    )


# --- the load process -------------------------------------------------------------------------


async def _load(a: argparse.Namespace) -> None:
    import aiohttp
    import asyncpg

    headers = {"apikey": a.key, "Authorization": f"Bearer {a.key}"}
    endpoint = a.url + "/realtime/v1/api/broadcast"
    period = a.batch_ms / 1000
    per_batch = max(1, round(a.rate * period))
    pg_per_batch = round(a.pg_rate * period)
    stop = asyncio.Event()
    paused = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, paused.set)
    loop.add_signal_handler(signal.SIGUSR2, paused.clear)
    c = {
        "acked": 0,  # broadcasts the sandbox answered 202 for
        "failed": 0,  # broadcasts in batches that failed (refused connection, non-202)
        "failed_batches": 0,
        "pg_committed": 0,  # demo_items rows updated in committed statements
        "pg_failed": 0,
        "late_ticks": 0,
        "max_late_ms": 0.0,
    }
    per_second: dict[int, list[int]] = {}  # unix second -> [acked, failed, pg_committed]
    seq = 0
    item = 0
    db = None
    started = time.monotonic()
    last_write = 0.0

    def write_state(force: bool = False) -> None:
        nonlocal last_write
        now = time.monotonic()
        if not force and now - last_write < 1.0:
            return
        last_write = now
        state = {
            **c,
            "paused": paused.is_set(),
            "seconds": round(now - started, 2),
            "wall": time.time(),
        }
        tmp = a.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, a.state)

    async def pg_tick() -> None:
        nonlocal db, item
        if pg_per_batch <= 0:
            return
        ids = [(item + k) % ITEMS + 1 for k in range(pg_per_batch)]
        item += pg_per_batch
        try:
            if db is None or db.is_closed():
                db = await asyncio.wait_for(asyncpg.connect(a.db_url), 5)
            status = await asyncio.wait_for(
                db.execute(
                    "update public.demo_items set value = value + 1, updated_at = now() "
                    "where id = any($1::int[])",
                    ids,
                ),
                5,
            )
            n = int(status.split()[-1])
            c["pg_committed"] += n
            per_second.setdefault(int(time.time()), [0, 0, 0])[2] += n
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            c["pg_failed"] += pg_per_batch
            if db is not None:
                with contextlib.suppress(Exception):
                    db.terminate()
            db = None

    print("LOAD READY", flush=True)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        next_at = time.monotonic()
        while not stop.is_set():
            if paused.is_set():
                write_state(force=True)
                while paused.is_set() and not stop.is_set():
                    await asyncio.sleep(0.05)
                write_state(force=True)
                next_at = time.monotonic()
                continue
            msgs = []
            for _ in range(per_batch):
                seq += 1
                msgs.append(
                    {"topic": TOPIC, "event": "reading", "payload": {"seq": seq, "v": seq % 97}}
                )
            ok = False
            try:
                async with session.post(endpoint, json={"messages": msgs}, headers=headers) as r:
                    await r.read()
                    ok = r.status == 202
            except (aiohttp.ClientError, TimeoutError, OSError):
                ok = False
            sec = per_second.setdefault(int(time.time()), [0, 0, 0])
            if ok:
                c["acked"] += len(msgs)
                sec[0] += len(msgs)
            else:
                c["failed"] += len(msgs)
                c["failed_batches"] += 1
                sec[1] += len(msgs)
            await pg_tick()
            write_state()
            next_at += period
            delay = next_at - time.monotonic()
            if delay < 0:
                c["late_ticks"] += 1
                c["max_late_ms"] = max(c["max_late_ms"], round(-delay * 1000, 1))
                if delay < -1.0:  # more than a second behind: re-anchor rather than burst
                    next_at = time.monotonic()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    if db is not None:
        with contextlib.suppress(Exception):
            await db.close()
    write_state(force=True)
    elapsed = time.monotonic() - started
    out = {
        **c,
        "seconds": round(elapsed, 2),
        "rate": round(c["acked"] / elapsed, 1) if elapsed else 0.0,
        "per_batch": per_batch,
        "per_second": {str(k): v for k, v in sorted(per_second.items())},
    }
    print("LOAD STATS " + json.dumps(out), flush=True)


class Load(LoadProcess):
    """The load process, paused and resumed by signal, its counters read from its state file."""

    def __init__(self, sb, db_url: str, rate: float, pg_rate: float, state: Path) -> None:
        self.state = state
        super().__init__(
            Path(__file__).resolve(),
            ["--url", sb.url, "--key", sb.service_role_key, "--db-url", db_url]
            + ["--rate", str(rate), "--pg-rate", str(pg_rate), "--state", str(state)],
            stop_timeout=30,
        )

    def read(self) -> dict:
        try:
            return json.loads(self.state.read_text())
        except (OSError, ValueError):
            return {}

    async def pause(self) -> dict:
        """Pause, and return the counters once the load says it is paused (the batch in flight
        has been answered)."""
        before = self.read().get("wall", 0)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            s = self.read()
            if s.get("paused") and s.get("wall", 0) > before:
                return s
            await asyncio.sleep(0.05)
        raise RuntimeError("the load did not pause")

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGUSR2)


def _load_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="soak.py load")
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--rate", type=float, default=2000)
    ap.add_argument("--pg-rate", type=float, default=50)
    ap.add_argument("--batch-ms", type=int, default=100)
    ap.add_argument("--state", required=True)
    asyncio.run(_load(ap.parse_args(argv)))


# --- readings ---------------------------------------------------------------------------------


def http_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def monitor_counts(base: str) -> dict:
    """The monitor's own counters from its /metrics: user events by kind, the load's channel,
    probe replies, whether `soak-load` is joined, reconnects."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {
        "broadcast": 0.0,
        "postgres_changes": 0.0,
        "soak": 0.0,
        "probe": 0.0,
        "subscribed": 0.0,
        "reconnects": 0.0,
        "connected": 0.0,
    }
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "realtime_monitor_events_total":
                kind = s.labels.get("kind", "")
                out[kind] = out.get(kind, 0.0) + s.value
                if s.labels.get("channel") == TOPIC:
                    out["soak"] += s.value
            elif s.name == "realtime_monitor_probe_messages_total":
                out["probe"] += s.value
                out[f"probe_{s.labels.get('event', '')}"] = s.value
            elif (
                s.name == "realtime_monitor_channel_subscribed" and s.labels.get("channel") == TOPIC
            ):
                out["subscribed"] = s.value
            elif s.name == "realtime_monitor_reconnects_total":
                out["reconnects"] = s.value
            elif s.name == "realtime_monitor_connected":
                out["connected"] = s.value
    return {k: int(v) for k, v in out.items()}


def live_sessions(base: str) -> int:
    return int(http_json(base + "/rest/session_info")["session_info"]["live"])


def postgres_rss(data_dir: Path) -> float:
    """The sandbox's PostgreSQL: every postgres process whose command line names its data
    directory, and their children (the backends)."""
    total = 0.0
    key = str(data_dir)
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if "postgres" in cmd and key in cmd and "-D" in cmd.replace("\0", " "):
            total += rss_mb(int(p), descendants=True)
    return total


async def page_memory(cdp) -> tuple[float, int, int]:
    await cdp.send("HeapProfiler.collectGarbage")
    m = {x["name"]: x["value"] for x in (await cdp.send("Performance.getMetrics"))["metrics"]}
    return m["JSHeapUsedSize"] / 2**20, int(m.get("Nodes", 0)), int(m.get("JSEventListeners", 0))


# --- the run ----------------------------------------------------------------------------------


class Soak:
    def __init__(self, args, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.port = free_port()
        self.data_dir = tmp / "data"
        self.sb = None
        self.sb_pid = 0
        self.server = None
        self.load = None
        self.browser = None
        self.tabs: list[dict] = []  # {kind, page, cdp, opened_t, n}
        self.opened = 0
        self.closed_tabs: list[dict] = []
        self.samples: list[dict] = []
        self.restarts: list[dict] = []
        self.epochs: list[dict] = []
        self.t0 = 0.0
        self.errors: dict[str, list[str]] = {}
        self.epoch_start_monitor: dict = {}
        self.epoch_start_load: dict = {}
        self.epoch_started_t = 0.0
        self.last_cpu = (0.0, 0.0)

    def t(self) -> float:
        return time.monotonic() - self.t0

    def start_sandbox(self):
        for attempt in range(3):
            try:
                sb = start_sandbox(self.data_dir, port=self.port)
                break
            except RuntimeError as exc:  # e.g. the port not yet free: try again, say so
                self.errors.setdefault("sandbox_start", []).append(repr(exc)[:500])
                if attempt == 2:
                    raise
                time.sleep(2)
        self.sb_pid = sb.proc.pid
        return sb

    async def setup_rows(self) -> None:
        import asyncpg

        db = await asyncpg.connect(self.sb.db_url)
        try:
            await db.execute((ROOT / "sandbox" / "scenarios" / "basic.sql").read_text())
            have = await db.fetchval("select count(*) from public.demo_items")
            if have < ITEMS:
                await db.executemany(
                    "insert into public.demo_items (name, value) values ($1, 0)",
                    [(f"soak-{i}",) for i in range(have, ITEMS)],
                )
        finally:
            await db.close()

    async def open_tab(self) -> None:
        kind = KINDS[self.opened % len(KINDS)]
        self.opened += 1
        n = self.opened
        page = await open_page(
            self.browser, self.server.base + path_of(kind), marker=marker_of(kind), timeout_s=60
        )
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        self.tabs.append(
            {"kind": kind, "page": page, "cdp": cdp, "opened_t": self.t(), "n": n, "last": None}
        )

    async def close_oldest(self) -> None:
        tab = self.tabs.pop(0)
        errs = list(tab["page"].bench_errors)
        if errs:
            self.errors[f"{tab['n']}:{tab['kind']}"] = errs[:20]
        await tab["page"].close()
        self.closed_tabs.append(
            {
                "n": tab["n"],
                "kind": tab["kind"],
                "opened_t": round(tab["opened_t"]),
                "closed_t": round(self.t()),
                "last": tab["last"],
            }
        )

    async def sample(self, minute: int) -> dict:
        row: dict = {"minute": minute, "t": round(self.t(), 1), "wall": time.time()}
        row["load1"], row["load5"], _ = os.getloadavg()
        cpu = cpu_seconds(self.server.pid, descendants=False)
        now = time.monotonic()
        if self.last_cpu[1]:
            row["server_cpu_pct"] = round(
                (cpu - self.last_cpu[0]) / (now - self.last_cpu[1]) * 100, 1
            )
        self.last_cpu = (cpu, now)
        row["server_rss"] = round(rss_mb(self.server.pid), 1)
        row["sandbox_rss"] = round(rss_mb(self.sb_pid), 1)
        row["postgres_rss"] = round(postgres_rss(traversable(self.data_dir)), 1)
        row["chromium_rss"] = round(sum(rss_mb(p) for p in chromium_pids()), 1)
        pages = []
        for tab in self.tabs:
            try:
                heap, nodes, listeners = await asyncio.wait_for(page_memory(tab["cdp"]), 30)
            except Exception as exc:  # a page that cannot answer is a finding, not a crash
                pages.append({"n": tab["n"], "kind": tab["kind"], "error": repr(exc)})
                continue
            rec = {
                "n": tab["n"],
                "kind": tab["kind"],
                "age_s": round(self.t() - tab["opened_t"]),
                "heap": round(heap, 2),
                "nodes": nodes,
                "listeners": listeners,
            }
            tab["last"] = {**rec, "t": row["t"]}
            pages.append(rec)
        row["pages"] = pages
        row["live_sessions"] = live_sessions(self.server.base)
        row["open_tabs"] = len(self.tabs)
        row["monitor"] = monitor_counts(self.server.base)
        row["load"] = self.load.read()
        try:  # this sandbox lifetime's counters
            st = http_json(self.sb.url + "/sandbox/v1/stats")
            row["sandbox"] = {
                k: st.get(k)
                for k in (
                    "broadcasts_in",
                    "broadcasts_delivered",
                    "db_messages_delivered",
                    "slow_consumers_dropped",
                    "connections",
                )
            }
        except OSError as exc:
            row["sandbox"] = {"error": repr(exc)}
        return row

    def print_row(self, row: dict) -> None:
        m, ld = row["monitor"], row["load"]
        heaps = " ".join(f"{p['kind'][:4]}{p.get('heap', float('nan')):5.1f}" for p in row["pages"])
        print(
            f"  {row['minute']:>3} {row['t']:>6.0f} {row['server_rss']:>7.1f} "
            f"{row['sandbox_rss']:>6.1f} "
            f"{row['postgres_rss']:>6.1f} {row['chromium_rss']:>7.0f} {row['live_sessions']:>4}/"
            f"{row['open_tabs']} {m['soak']:>10,} {ld.get('acked', 0):>10,} "
            f"{row.get('server_cpu_pct', 0):>5.1f} {row['load1']:>5.2f}  {heaps}",
            flush=True,
        )

    async def restart(self, k: int) -> None:
        """Pause, read both sides' counters, stop the sandbox, resume the load, start it again,
        and time until the monitor counts the load's messages again."""
        mode = "SIGTERM" if k % 2 == 0 else "SIGKILL"
        rec: dict = {"k": k + 1, "mode": mode, "t": round(self.t(), 1)}
        paused = await self.load.pause()
        await asyncio.sleep(3)
        await self.close_epoch(paused)
        t_stop = time.monotonic()
        rec["wall_stop"] = time.time()
        sig = signal.SIGTERM if mode == "SIGTERM" else signal.SIGKILL
        await asyncio.to_thread(self.sb.stop, sig)
        t_down = time.monotonic()
        rec["stop_s"] = round(t_down - t_stop, 2)
        # The next lifetime's baseline, read while no sandbox runs: nothing can be delivered
        # now, so whatever the old one delivered after its last stats read (a probe echo) falls
        # in neither lifetime's comparison.
        await asyncio.sleep(0.5)
        self.epoch_start_monitor = await asyncio.to_thread(monitor_counts, self.server.base)
        self.load.resume()
        self.sb = await asyncio.to_thread(self.start_sandbox)
        t_ready = time.monotonic()
        rec["wall_ready"] = time.time()
        rec["down_s"] = round(t_ready - t_down, 2)
        at_ready = monitor_counts(self.server.base)
        t_joined = t_counting = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and t_counting is None:
            await asyncio.sleep(0.1)
            m = await asyncio.to_thread(monitor_counts, self.server.base)
            if t_joined is None and m["subscribed"] and m["connected"]:
                t_joined = time.monotonic()
            if m["soak"] > at_ready["soak"]:
                t_counting = time.monotonic()
                t_joined = t_joined or t_counting
        rec["wall_counting"] = time.time() - (time.monotonic() - t_counting) if t_counting else None
        rec["ready_to_joined_s"] = round(t_joined - t_ready, 2) if t_joined else None
        rec["ready_to_counting_s"] = round(t_counting - t_ready, 2) if t_counting else None
        rec["window_s"] = round(t_counting - t_stop, 2) if t_counting else None  # stop -> counting
        rec["reconnects"] = m["reconnects"]
        self.epoch_started_t = self.t()
        self.restarts.append(rec)
        print(
            f"  restart {rec['k']} ({mode}): stopped in {rec['stop_s']} s, down {rec['down_s']} s,"
            f" READY -> joined {rec['ready_to_joined_s']} s -> counting "
            f"{rec['ready_to_counting_s']} s",
            flush=True,
        )

    async def close_epoch(self, load_state: dict) -> None:
        """One sandbox lifetime: what it delivered, what the monitor counted in it, what the load
        had acknowledged in it. Called with the load paused and drained.

        The probes do not pause, so the sandbox's counters are read between two readings of the
        monitor's (the second 0.5 s later, when what was delivered by then has been counted):
        no loss and no double count means the sandbox's figure lies between the two."""
        before = await asyncio.to_thread(monitor_counts, self.server.base)
        sb_stats = await asyncio.to_thread(http_json, self.sb.url + "/sandbox/v1/stats")
        await asyncio.sleep(0.5)
        mon = await asyncio.to_thread(monitor_counts, self.server.base)
        m0, l0 = self.epoch_start_monitor, self.epoch_start_load
        keys = ("broadcast", "postgres_changes", "soak", "probe_rtt", "probe_db")
        d = {k: before.get(k, 0) - m0.get(k, 0) for k in keys}
        late = {k: mon.get(k, 0) - before.get(k, 0) for k in keys}  # counted during the read
        acked = load_state.get("acked", 0) - l0.get("acked", 0)
        pg = load_state.get("pg_committed", 0) - l0.get("pg_committed", 0)
        ep = {
            "epoch": len(self.epochs) + 1,
            "from_t": round(self.epoch_started_t, 1),
            "to_t": round(self.t(), 1),
            "sandbox": {
                k: sb_stats.get(k)
                for k in (
                    "broadcasts_in",
                    "broadcasts_delivered",
                    "db_changes",
                    "db_messages_delivered",
                    "slow_consumers_dropped",
                    "connections_total",
                    "joins",
                    "join_errors",
                )
            },
            "monitor": d,
            "load_acked": acked,
            "load_pg_committed": pg,
        }
        # Everything the sandbox delivered went to the monitor: broadcasts are the load's and the
        # broadcast probe's echoes ("rtt"), changes are the load's updates and the database
        # probe's inserts ("db"). A probe in flight at the boundary may land in the next lifetime.
        sb_b = sb_stats.get("broadcasts_delivered", 0)
        sb_c = sb_stats.get("db_messages_delivered", 0)
        ep["broadcast_diff"] = bracket_diff(d["soak"] + d["probe_rtt"], late["probe_rtt"], sb_b)
        ep["pg_diff"] = bracket_diff(d["postgres_changes"] + d["probe_db"], late["probe_db"], sb_c)
        ep["broadcast_equal"] = ep["broadcast_diff"] == 0 and late["soak"] == 0
        ep["pg_equal"] = ep["pg_diff"] == 0 and late["postgres_changes"] == 0
        ep["soak_delivered"] = sb_b - d["probe_rtt"]
        ep["pg_delivered"] = sb_c - d["probe_db"]
        ep["acked_not_delivered"] = acked - d["soak"]
        ep["pg_committed_not_delivered"] = pg - d["postgres_changes"]
        self.epochs.append(ep)
        self.epoch_start_monitor, self.epoch_start_load = mon, load_state  # restart() re-reads
        print(
            f"  sandbox lifetime {ep['epoch']}: load acked {acked:,}, sandbox delivered "
            f"{sb_b:,} broadcasts (monitor: {d['soak']:,} load + {d['probe_rtt']:,} probe) and "
            f"{sb_c:,} changes (monitor: {d['postgres_changes']:,} + {d['probe_db']:,} probe); "
            f"committed {pg:,}",
            flush=True,
        )

    async def run(self) -> dict:
        from playwright.async_api import async_playwright

        a = self.args
        self.sb = await asyncio.to_thread(self.start_sandbox)
        await self.setup_rows()
        db_url = self.sb.db_url
        watch = watch_toml(self.sb, self.tmp / "watch.toml", (TOPIC,))
        if a.history_s:  # the 1-second buckets' retention (6 h by default, still filling here)
            watch.write_text(watch.read_text() + f"\n[buffers]\nhistory_s = {a.history_s}\n")
        self.server = DashboardServer(
            watch,
            self.tmp / "panel.log",
            panel_args=("--rest-session-info", "--session-history", "20"),
        )
        await asyncio.sleep(5)
        ingest_only = rss_mb(self.server.pid)
        # the monitor started after the sandbox: everything it counts is in the first lifetime
        self.epoch_start_monitor = {}
        self.load = Load(self.sb, db_url, a.rate, a.pg_rate, self.tmp / "load.json")
        self.epoch_start_load = {}
        restart_every = a.restart_every or max(1, min(10, int(a.minutes // 2)))
        try:
            async with async_playwright() as p:
                self.browser = await launch_chromium(p)
                try:
                    self.t0 = time.monotonic()  # the clock starts as the first tab opens
                    for _ in range(TABS):
                        await self.open_tab()
                    print(
                        f"soak: {a.minutes:g} min, {a.rate:,.0f} broadcasts/s + {a.pg_rate:g} row "
                        f"updates/s, {TABS} tabs (one replaced a minute), sandbox restarted every "
                        f"{restart_every} min; server RSS with ingest only {ingest_only:.1f} MB",
                        flush=True,
                    )
                    print(
                        f"  {'min':>3} {'t s':>6} {'srv RSS':>7} {'sb RSS':>6} {'pg RSS':>6} "
                        f"{'chrom':>7} {'live':>6} {'mon soak':>10} {'acked':>10} {'cpu%':>5} "
                        f"{'load1':>5}  heaps MB",
                        flush=True,
                    )
                    restarts = 0
                    for minute in range(int(a.minutes)):
                        if minute > 0:
                            await self.sleep_until(minute * 60)
                            try:
                                await self.close_oldest()
                                await self.open_tab()
                            except Exception as exc:  # noted, and the run goes on
                                self.errors.setdefault("rotation", []).append(
                                    f"minute {minute}: {exc!r}"
                                )
                                print(f"  rotation failed: {exc!r}", flush=True)
                        await self.sleep_until(minute * 60 + 30)
                        try:
                            row = await self.sample(minute)
                        except Exception as exc:  # a reading that timed out: noted, go on
                            self.errors.setdefault("sample", []).append(f"{minute}: {exc!r}")
                            print(f"  sample failed: {exc!r}", flush=True)
                        else:
                            self.samples.append(row)
                            self.print_row(row)
                            self.write_partial()
                        if minute > 0 and minute % restart_every == 0 and minute < a.minutes - 1:
                            await self.sleep_until(minute * 60 + 40)
                            await self.restart(restarts)
                            restarts += 1
                    await self.sleep_until(a.minutes * 60)
                    row = await self.sample(int(a.minutes))
                    self.samples.append(row)
                    self.print_row(row)
                    paused = await self.load.pause()
                    await asyncio.sleep(3)
                    await self.close_epoch(paused)
                    while self.tabs:
                        await self.close_oldest()
                    await asyncio.sleep(5)
                    after_close = live_sessions(self.server.base)
                finally:
                    await self.browser.close()
        finally:
            load_stats = self.load.stop() if self.load else {}
            if self.server is not None:
                self.server.stop()
            if self.sb is not None:
                self.sb.stop()
        return self.result(ingest_only, after_close, load_stats, restart_every)

    def write_partial(self) -> None:
        """Everything so far, next to the final JSON, so a run cut short still has its data."""
        if not self.args.json_out:
            return
        part = {
            "samples": self.samples,
            "restarts": self.restarts,
            "epochs": self.epochs,
            "closed_tabs": self.closed_tabs,
            "console_errors": self.errors,
        }
        self.args.json_out.with_suffix(".partial.json").write_text(json.dumps(part, indent=1))

    async def sleep_until(self, t: float) -> None:
        await asyncio.sleep(max(0.0, t - self.t()))

    def result(
        self, ingest_only: float, after_close: int, load_stats: dict, restart_every: int
    ) -> dict:
        a = self.args
        warm = a.warmup * 60
        after = [s for s in self.samples if s["t"] >= warm]
        first10 = [s for s in after if s["t"] <= 600]

        def series(key: str, rows: list[dict]) -> list[tuple[float, float]]:
            return [(s["t"], s[key]) for s in rows]

        rss = {
            "ingest_only": round(ingest_only, 1),
            "slope_mb_per_h": slope_per_hour(series("server_rss", after)),
            "first10_slope_mb_per_h": slope_per_hour(series("server_rss", first10)),
            "first10_median": statistics.median([s["server_rss"] for s in first10])
            if first10
            else None,
            "last5_median": statistics.median([s["server_rss"] for s in self.samples[-5:]]),
            "max": max(s["server_rss"] for s in self.samples),
            "chromium_slope_mb_per_h": slope_per_hour(series("chromium_rss", after)),
            "chromium_first10_median": statistics.median([s["chromium_rss"] for s in first10])
            if first10
            else None,
            "chromium_last5_median": statistics.median(
                [s["chromium_rss"] for s in self.samples[-5:]]
            ),
            "sandbox_max": max(s["sandbox_rss"] for s in self.samples),
            "postgres_max": max(s["postgres_rss"] for s in self.samples),
        }
        heaps: dict[str, dict] = {}
        by_tab: dict[int, list[tuple[float, float]]] = {}  # each tab's (age, heap) samples
        for row in self.samples:
            for pg in row["pages"]:
                if "heap" in pg:
                    by_tab.setdefault(pg["n"], []).append((pg["age_s"], pg["heap"]))
        for kind in KINDS:
            ends = [c["last"] for c in self.closed_tabs if c["kind"] == kind and c["last"]]
            pts = [(e["t"], e["heap"]) for e in ends if e["t"] >= warm]
            within = [
                slope_per_hour(by_tab[c["n"]])
                for c in self.closed_tabs
                if c["kind"] == kind and len(by_tab.get(c["n"], [])) >= 4
            ]
            heaps[kind] = {
                "tabs": len(ends),
                "end_heaps": [e["heap"] for e in ends],
                "end_nodes": [e["nodes"] for e in ends],
                "end_listeners": [e["listeners"] for e in ends],
                "slope_mb_per_h": slope_per_hour(pts),
                # how a tab's own heap moves over its 5 minutes (median over this page's tabs)
                "within_tab_slope_mb_per_h": statistics.median(within) if within else None,
            }
        lives = [s["live_sessions"] for s in self.samples]
        tot = {
            k: sum(e[k] for e in self.epochs)
            for k in (
                "load_acked",
                "load_pg_committed",
                "soak_delivered",
                "acked_not_delivered",
                "pg_committed_not_delivered",
            )
        }
        tot["monitor_soak"] = sum(e["monitor"]["soak"] for e in self.epochs)
        tot["monitor_pg"] = sum(e["monitor"]["postgres_changes"] for e in self.epochs)
        tot["sandbox_pg_delivered"] = sum(
            e["sandbox"]["db_messages_delivered"] or 0 for e in self.epochs
        )
        tot["all_broadcast_equal"] = all(e["broadcast_equal"] for e in self.epochs)
        tot["all_pg_equal"] = all(e["pg_equal"] for e in self.epochs)
        tot["slow_consumers_dropped"] = sum(
            e["sandbox"]["slow_consumers_dropped"] or 0 for e in self.epochs
        )
        per_second = {int(k): v for k, v in load_stats.get("per_second", {}).items()}
        for x in self.restarts:
            # the load's own per-second log, over the whole seconds from the stop to READY
            secs = range(int(x["wall_stop"]), int(x["wall_ready"]) + 1)
            x["failed_while_down"] = sum(per_second.get(t, [0, 0, 0])[1] for t in secs)
        return {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
            "restart_every_min": restart_every,
            "rss": rss,
            "heaps": heaps,
            "sessions": {
                "max_live": max(lives),
                "min_live": min(lives),
                "tabs": TABS,
                "after_close": after_close,
            },
            "events": tot,
            "epochs": self.epochs,
            "restarts": self.restarts,
            "closed_tabs": self.closed_tabs,
            "load": {k: v for k, v in load_stats.items() if k != "per_second"},
            "load_per_second": load_stats.get("per_second", {}),
            "load_avg": {
                "median_load1": statistics.median([s["load1"] for s in self.samples]),
                "max_load1": max(s["load1"] for s in self.samples),
            },
            "console_errors": self.errors,
            "samples": self.samples,
        }


async def measure(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    return await Soak(args, tmp).run()


def report(res: dict) -> None:
    r, s, e, ld = res["rss"], res["sessions"], res["events"], res["load"]
    print()
    print(
        f"load: {ld.get('acked', 0):,} broadcasts acknowledged at {ld.get('rate', 0):,.0f}/s, "
        f"{ld.get('failed', 0):,} failed ({ld.get('failed_batches', 0)} batches), "
        f"{ld.get('pg_committed', 0):,} row updates committed; "
        f"{ld.get('late_ticks', 0)} late ticks (max {ld.get('max_late_ms', 0)} ms)"
    )
    print(
        f"load average: median {res['load_avg']['median_load1']:.2f}, "
        f"max {res['load_avg']['max_load1']:.2f}"
    )
    print("server RSS (MB):")
    print(
        f"  ingest only {r['ingest_only']}; first 10 min median {r['first10_median']}, slope "
        f"{r['first10_slope_mb_per_h']:+.1f} MB/h; last 5 samples median {r['last5_median']}; "
        f"max {r['max']}; slope after warm-up {r['slope_mb_per_h']:+.1f} MB/h"
    )
    print(
        f"  Chromium RSS: first 10 min median {r['chromium_first10_median']}, last 5 "
        f"{r['chromium_last5_median']}, slope {r['chromium_slope_mb_per_h']:+.0f} MB/h; sandbox "
        f"max {r['sandbox_max']} MB, its PostgreSQL max {r['postgres_max']} MB"
    )
    print("JS heap at each tab's last sample before it closed (MB), and its slope:")
    for kind, h in res["heaps"].items():
        heaps = ", ".join(f"{x:.1f}" for x in h["end_heaps"])
        w = h["within_tab_slope_mb_per_h"]
        print(
            f"  {kind:<10} {h['tabs']:>2} tabs: {heaps}  slope {h['slope_mb_per_h']:+.2f} MB/h"
            + (f"; within a tab (median) {w:+.1f} MB/h" if w is not None else "")
        )
    print(
        f"live sessions: max {s['max_live']}, min {s['min_live']} with {s['tabs']} tabs open; "
        f"{s['after_close']} after the last tab closed"
    )
    print("restarts:")
    for x in res["restarts"]:
        print(
            f"  {x['k']} {x['mode']}: stop {x['stop_s']} s, down {x['down_s']} s, READY -> "
            f"joined {x['ready_to_joined_s']} s -> counting {x['ready_to_counting_s']} s; "
            f"{x['failed_while_down']:,} broadcasts refused while down"
        )
    print("per sandbox lifetime: load acked | sandbox delivered (load) | monitor counted | equal")
    for ep in res["epochs"]:
        print(
            f"  {ep['epoch']}: {ep['load_acked']:,} | {ep['soak_delivered']:,} | "
            f"{ep['monitor']['soak']:,} | {ep['broadcast_equal']};  changes: committed "
            f"{ep['load_pg_committed']:,} | delivered {ep['pg_delivered']:,} | "
            f"counted {ep['monitor']['postgres_changes']:,} | {ep['pg_equal']}"
        )
    print(
        f"  total: acked {e['load_acked']:,}, monitor counted {e['monitor_soak']:,}; acked but not "
        f"delivered (restart windows) {e['acked_not_delivered']:,}; every delivery counted: "
        f"broadcasts {e['all_broadcast_equal']}, changes {e['all_pg_equal']}; slow consumers "
        f"dropped {e['slow_consumers_dropped']}"
    )
    if res["console_errors"]:
        print(f"console errors: {json.dumps(res['console_errors'])[:2000]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes left out of the slopes")
    ap.add_argument("--rate", type=float, default=2000.0, help="broadcasts/s")
    ap.add_argument("--pg-rate", type=float, default=50.0, help="row updates/s")
    ap.add_argument(
        "--restart-every", type=int, default=0, help="minutes (default 10, or half a shorter run)"
    )
    ap.add_argument(
        "--history-s",
        type=int,
        default=0,
        help="[buffers] history_s for the monitor (default: its own, 6 h; see history_memory.py)",
    )
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    run_benchmark(args, measure, report)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        _load_main(sys.argv[2:])
    else:
        main()
