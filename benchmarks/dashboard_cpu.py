"""Dashboard server CPU at 1,000 events/s input, with 0, 1 and up to 20 browser sessions.

Method (also in benchmarks/README.md):
* A sandbox with its demo traffic (a few events/s, so every page has something to show) and a
  dashboard server with default settings (`python -m monitor serve`), watching the browser
  tests' channels (demo broadcasts, presence, rows, `group.live_slots` changes) plus
  `bench-load`, with both probes on, as by default.
* Load: a separate process (`dashboard_harness.py load`) posts 100 broadcasts to `bench-load`
  every 100 ms through the sandbox's REST batch endpoint (1,000 events/s), so the generator's CPU
  is neither the server's nor this script's.
* The machine has 2 cores and the browser runs on it too. So that a busy browser cannot hide
  what the server needs, Chromium and Playwright's driver run at nice 10: they get whatever CPU
  the server (nice 0) leaves (`--no-nice` turns this off).
* CPU = utime + stime of the panel server process (all its threads; descendants, if any, added)
  from /proc/<pid>/stat, over a steady window (default 60 s) after a settle period, as % of one
  core. The sandbox, the load generator and the browser (Chromium + Playwright's driver) are
  measured the same way and reported, but are not the dashboard's. The server's run-queue wait
  (/proc/<pid>/task/*/schedstat) says whether it was held back: CPU + wait near 100% means its
  event loop never idled, so it was saturated and the CPU figure is a lower bound.
* Windows, one after another in one run, load running throughout: 0 sessions (ingest only, the
  baseline), then 1, 5, 10 and 20 Overview sessions (pages in one headless Chromium), then,
  unless `--no-mix`, 20 sessions of a mix of pages, then ingest only again.
* Each page counts the document patches it receives (a websocket tap installed before the page's
  scripts). A session is live if it got at least one patch per 5 s during the window; a page
  that stopped updating is reported.

Bars (issue 4): 20 sessions < 100% of a core; each additional session, (cpu20 − cpu1) / 19,
< 3% of a core.

Run: `.venv/bin/python benchmarks/dashboard_cpu.py [--window 60] [--rate 1000] [--json-out F]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_harness import (  # noqa: E402
    DashboardServer,
    LoadGenerator,
    cpu_seconds,
    launch_chromium,
    open_page,
    renice,
    rss_mb,
    run_benchmark,
    run_delay_seconds,
    threads,
    tree,
    watch_toml,
)
from sandbox_process import start_sandbox  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

TOPIC = "bench-load"
LIVE_PATCHES_PER_S = 0.2  # a live page gets several patches a second; a stalled one none
BROWSER_NICE = 10
SATURATED = 90.0  # server CPU + run-queue wait, % of one core
BAR_20 = 100.0
BAR_PER_SESSION = 3.0
# a realistic mix for 20 operators: most on the overview, some on each drill-down page
MIX = {"overview": 8, "slots": 4, "inspector": 4, "presence": 2, "wall": 2}
PATHS = {
    "overview": "/app?page=overview",
    "slots": "/app?page=slots",
    "inspector": "/app?page=inspector",
    "presence": "/app?page=presence",
    "wall": "/wall",
}
MARKERS = {
    "overview": "[data-testid=status-badge][data-status=connected]",
    "wall": "[data-testid=wall-status]",
}


# Installed before the page's scripts: counts the document patches the page receives, so a
# session that the server (or a starved browser) stopped updating shows up.
WS_TAP_JS = """
(() => {
  const Native = window.WebSocket;
  const S = (window.__wsstat = { patches: 0, bytes: 0 });
  function Tapped(...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (e) => {
      if (typeof e.data === 'string' && e.data.startsWith('{"events"')) {
        S.patches++;
        S.bytes += e.data.length;
      }
    });
    return ws;
  }
  Tapped.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Tapped[k] = Native[k];
  window.WebSocket = Tapped;
})();
"""


class TreeCpu:
    """CPU seconds of a changing set of processes, counted per pid so that a process started
    during the window counts from zero."""

    def __init__(self, pids) -> None:
        self.pids = pids  # callable returning the pids to count

    def read(self) -> dict[int, float]:
        return {p: cpu_seconds(p, descendants=False) for p in self.pids()}

    @staticmethod
    def delta(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(v - before.get(p, 0.0) for p, v in after.items())


def machine_busy() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return (sum(v[:8]) - idle) / CLK_TCK


async def ws_stats(pages) -> list[dict]:
    return [await p.evaluate("() => ({...window.__wsstat})") for _, p in pages]


async def window(label, server, sb, load, browser_pids, pages, seconds) -> dict:
    ws_before = await ws_stats(pages)
    meters = {
        "server": TreeCpu(lambda: tree(server.pid)),
        "sandbox": TreeCpu(lambda: tree(sb.proc.pid)),
        "load generator": TreeCpu(lambda: tree(load.pid)),
        "browser": TreeCpu(browser_pids),
    }
    start = {k: m.read() for k, m in meters.items()}
    wait0 = run_delay_seconds(server.pid)
    machine0 = machine_busy()
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    end = {k: m.read() for k, m in meters.items()}
    wait1 = run_delay_seconds(server.pid)
    machine1 = machine_busy()
    wall = time.monotonic() - t0
    ws_after = await ws_stats(pages)
    cpu = {k: TreeCpu.delta(start[k], end[k]) / wall * 100 for k in meters}
    cpu["machine"] = (machine1 - machine0) / wall * 100
    cpu["server_runqueue_wait"] = (wait1 - wait0) / wall * 100
    patches = [
        (b["patches"] - a["patches"]) / wall for a, b in zip(ws_before, ws_after, strict=True)
    ]
    kbs = [
        (b["bytes"] - a["bytes"]) / wall / 1024 for a, b in zip(ws_before, ws_after, strict=True)
    ]
    live = sum(r >= LIVE_PATCHES_PER_S for r in patches)
    errors = sum(len(p.bench_errors) for _, p in pages)
    row = {
        "label": label,
        "sessions": len(pages),
        "live": live,
        "wall_s": round(wall, 1),
        "cpu": {k: round(v, 1) for k, v in cpu.items()},
        "server_rss_mb": round(rss_mb(server.pid), 1),
        "server_threads": threads(server.pid),
        "console_errors": errors,
        "patches_per_s": [round(x, 2) for x in patches],
        "patch_kb_per_s": [round(x, 2) for x in kbs],
    }
    low = f"{min(patches):.2f}" if patches else "-"
    print(
        f"  {label:<24} {len(pages):>3} {live:>4} {low:>6} {cpu['server']:>7.1f}"
        f" {cpu['server_runqueue_wait']:>6.1f} {cpu['sandbox']:>7.1f} {cpu['load generator']:>7.1f}"
        f" {cpu['browser']:>7.1f} {cpu['machine']:>7.1f} {row['server_rss_mb']:>6.0f}",
        flush=True,
    )
    return row


async def open_pages(browser, base: str, counts: dict[str, int], after_each=None):
    pages = []
    for kind, n in counts.items():
        for _ in range(n):
            marker = MARKERS.get(kind, "[data-testid=nav-overview]")
            page = await open_page(
                browser, base + PATHS[kind], marker=marker, init_script=WS_TAP_JS, timeout_s=180
            )
            pages.append((kind, page))
            if after_each:
                after_each()
    return pages


class Rig:
    """The processes under measurement, and how to tell the browser's from the rest."""

    def __init__(self, server, sb, load, nice: bool) -> None:
        self.server, self.sb, self.load, self.nice = server, sb, load, nice
        self.me = os.getpid()

    def browser_pids(self) -> list[int]:
        skip = set(tree(self.server.pid)) | set(tree(self.sb.proc.pid)) | set(tree(self.load.pid))
        return [p for p in tree(self.me) if p not in skip and p != self.me]

    def deprioritise(self) -> None:
        if self.nice:  # again after every page opened: renderers start at nice 0
            renice(self.browser_pids(), BROWSER_NICE)

    async def window(self, label: str, pages: list, seconds: float) -> dict:
        return await window(
            label, self.server, self.sb, self.load, self.browser_pids, pages, seconds
        )


def print_header(args) -> None:
    nice = f"browser at nice {BROWSER_NICE}" if args.nice else "browser not niced"
    print(
        f"dashboard CPU at {args.rate:.0f} broadcasts/s in, {NCPU} cores, {nice}; windows of "
        f"{args.window:.0f} s after {args.settle:.0f} s settle; CPU in % of one core",
        flush=True,
    )
    print(
        f"  {'window':<24} {'ses':>3} {'live':>4} {'min/s':>6} {'server':>7} {'wait':>6}"
        f" {'sandbox':>7} {'loadgen':>7} {'browser':>7} {'machine':>7} {'RSS MB':>6}"
    )


async def overview_steps(args, rig: Rig, browser, rows: list) -> tuple[list, str | None]:
    """A window per step of Overview sessions; returns the open pages and why it stopped
    early, if it did."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    pages: list[tuple[str, object]] = []
    for n in args.steps:
        try:
            wanted = {"overview": n - len(pages)}
            pages += await open_pages(browser, rig.server.base, wanted, rig.deprioritise)
        except PlaywrightTimeout as exc:
            failed = f"could not open Overview session {len(pages) + 1}: {exc}"
            print(f"  {failed.splitlines()[0]}", flush=True)
            return pages, failed
        await asyncio.sleep(args.settle)
        rig.deprioritise()
        label = f"{n} Overview session" + ("s" if n > 1 else "")
        rows.append(await rig.window(label, pages, args.window))
    return pages, None


async def mixed_window(args, rig: Rig, browser, pages: list) -> dict:
    """The Overview pages closed, then as many sessions of a mix of pages."""
    sessions = args.steps[-1]
    for _, page in pages:
        await page.close()
    await asyncio.sleep(5)  # closed sessions are reclaimed within ~2 s
    mix = dict(MIX)
    mix["overview"] = max(0, mix["overview"] + sessions - sum(MIX.values()))
    pages = await open_pages(browser, rig.server.base, mix, rig.deprioritise)
    await asyncio.sleep(args.settle)
    rig.deprioritise()
    row = await rig.window(f"{sessions} mixed sessions", pages, args.window)
    row["mix"] = ", ".join(f"{n} {k}" for k, n in mix.items())
    return row


async def measure(args) -> dict:
    from playwright.async_api import async_playwright

    failed = None
    tmp = Path(tempfile.mkdtemp(prefix="dash-cpu-"))
    sb = start_sandbox(tmp / "data", "--demo")
    server = load = None
    rows = []
    try:
        server = DashboardServer(watch_toml(sb, tmp / "watch.toml", (TOPIC,)), tmp / "panel.log")
        load = LoadGenerator(sb, TOPIC, args.rate)
        rig = Rig(server, sb, load, args.nice)
        print_header(args)
        await asyncio.sleep(args.settle)
        rows.append(await rig.window("ingest only (baseline)", [], args.window))
        async with async_playwright() as p:
            browser = await launch_chromium(p)
            rig.deprioritise()
            try:
                pages, failed = await overview_steps(args, rig, browser, rows)
                if args.mix and failed is None:
                    rows.append(await mixed_window(args, rig, browser, pages))
            finally:
                await browser.close()
        # Bokeh notices a closed tab at once, but tearing 20 sessions down takes some seconds
        await asyncio.sleep(max(args.settle, 30))
        rows.append(await rig.window("ingest only, after", [], args.window / 2))
    finally:
        load_stats = load.stop() if load is not None else {}
        if server is not None:
            server.stop()
        sb.stop()
    return {
        "rate": args.rate,
        "cores": NCPU,
        "browser_nice": BROWSER_NICE if args.nice else 0,
        "windows": rows,
        "load": load_stats,
        "failed": failed,
    }


def saturated(row: dict) -> bool:
    """The server had no idle time (running or waiting for a CPU all the window), or a page
    stopped receiving updates: what it used is then a lower bound of what it needed."""
    c = row["cpu"]
    return c["server"] + c["server_runqueue_wait"] >= SATURATED or row["live"] < row["sessions"]


def report(res: dict) -> None:
    rows = res["windows"]
    ld = res["load"]
    print(
        f"load generator: {ld.get('sent', 0):,} sent in {ld.get('seconds', 0)} s = "
        f"{ld.get('rate', 0):,.0f}/s, {ld.get('errors', 0)} errors, {ld.get('late_ticks', 0)} "
        f"late ticks (max {ld.get('max_late_ms', 0)} ms)"
    )
    base = rows[0]["cpu"]["server"]
    steps = [r for r in rows if r["label"].endswith(("Overview session", "Overview sessions"))]
    one, many = steps[0], steps[-1]
    n = many["sessions"]
    print(f"server CPU (% of one core) over ingest only ({base:.1f}%):")
    prev = None
    for r in steps:
        extra = r["cpu"]["server"] - base
        step = ""
        if prev is not None:
            d = (r["cpu"]["server"] - prev["cpu"]["server"]) / (r["sessions"] - prev["sessions"])
            step = f", {d:.2f} per session added since {prev['sessions']}"
        flag = "  SATURATED" if saturated(r) else ""
        print(
            f"  {r['sessions']:>3} sessions: {r['cpu']['server']:6.1f}% (+{extra:.1f}{step}){flag}"
        )
        prev = r
    per = (many["cpu"]["server"] - one["cpu"]["server"]) / (n - one["sessions"])
    sat = saturated(many)
    note = " (saturated: the figure is a lower bound)" if sat else ""
    ok20 = many["cpu"]["server"] < BAR_20 and not sat
    okper = per < BAR_PER_SESSION and not sat
    print(
        f"  bar: {n} sessions < {BAR_20:.0f}% of a core -> {'MET' if ok20 else 'NOT MET'} "
        f"({many['cpu']['server']:.1f}%{note})"
    )
    print(
        f"  bar: per additional session (cpu{n} - cpu1)/{n - 1} < {BAR_PER_SESSION:.0f}% -> "
        f"{'MET' if okper else 'NOT MET'} ({per:.2f}%{note})"
    )
    mixed = next((r for r in rows if "mixed" in r["label"]), None)
    if mixed:
        m = mixed["cpu"]["server"]
        print(
            f"  mix ({mixed['mix']}): {m:.1f}%, per additional session "
            f"{(m - one['cpu']['server']) / (n - 1):.2f}%"
            + ("  SATURATED" if saturated(mixed) else "")
        )
    if res.get("failed"):
        print(f"  NOT MET: {res['failed'].splitlines()[0]}")
    not_live = [
        f"{r['label']} ({r['live']}/{r['sessions']})" for r in rows if r["live"] < r["sessions"]
    ]
    if not_live:
        print(f"  sessions that stopped updating: {not_live}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="broadcasts/s in")
    ap.add_argument("--window", type=float, default=60.0, help="seconds per measured window")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds before each window")
    ap.add_argument(
        "--steps", default="1,5,10,20", help="Overview session counts, ascending; the last is N"
    )
    ap.add_argument("--no-mix", dest="mix", action="store_false", help="skip the mixed window")
    ap.add_argument(
        "--no-nice", dest="nice", action="store_false", help="run the browser at normal priority"
    )
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    args.steps = [int(x) for x in args.steps.split(",")]
    run_benchmark(args, measure, report)


if __name__ == "__main__":
    main()
