"""Dashboard server CPU at 1,000 events/s input, with 0, 1 and 20 browser sessions.

Method (also in benchmarks/README.md):
* A sandbox (no demo traffic) and a dashboard server with default settings
  (`python -m dashboards serve`), watching the browser tests' channels (demo channels, which stay
  quiet, and `group.live_slots` changes) plus `bench-load`, with both probes on as by default.
* Load: a separate process (`dashboard_harness.py load`) posts 100 broadcasts to `bench-load`
  every 100 ms through the sandbox's REST batch endpoint (1,000 events/s), so the generator's CPU
  is neither the server's nor this script's.
* CPU = utime + stime of the panel server process (all its threads; descendants, if any, added)
  from /proc/<pid>/stat, over a steady window (default 60 s) after a settle period, as % of one
  core. The sandbox, the load generator and the browser (Chromium + Playwright's driver) are
  measured the same way and reported, but are not the dashboard's.
* Windows, one after another in one run, load running throughout:
  0 sessions (ingest only, the baseline), 1 Overview session, 20 Overview sessions (20 pages in
  one headless Chromium), and, unless `--no-mix`, 20 sessions of a mix of pages.
* A session counts as live if its message total (Overview tile) or its page content moved during
  the window; the figures are only quoted when every session was live.
* The machine has 2 cores and the browser runs on it too, so server, sandbox and browser compete.

Bars (issue 4): 20 sessions < 100% of a core; each additional session, (cpu20 − cpu1) / 19,
< 3% of a core.

Run: `.venv/bin/python benchmarks/dashboard_cpu.py [--window 60] [--rate 1000] [--json-out F]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    rss_mb,
    threads,
    tree,
    watch_toml,
)
from sandbox_process import start_sandbox  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

TOPIC = "bench-load"
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


async def page_signature(page, kind: str) -> str:
    """Something on the page that changes while data flows."""
    if kind == "overview":
        return await page.locator("[data-testid=tile-rate] .sub").inner_text()
    return await page.evaluate(
        """() => { let n = 0; const walk = (r) => { n += r.querySelectorAll('*').length;
             for (const e of r.querySelectorAll('*')) if (e.shadowRoot) walk(e.shadowRoot); };
             walk(document); const t = []; const text = (r) => { for (const e of
             r.querySelectorAll('*')) { if (e.shadowRoot) text(e.shadowRoot); } t.push(
             r.textContent || ''); }; text(document.body || document); return t.join('|'); }"""
    )


async def window(label, server, sb, load, browser_pids, pages, seconds) -> dict:
    before_sig = [await page_signature(p, k) for k, p in pages]
    meters = {
        "server": TreeCpu(lambda: tree(server.pid)),
        "sandbox": TreeCpu(lambda: tree(sb.proc.pid)),
        "load generator": TreeCpu(lambda: tree(load.pid)),
        "browser": TreeCpu(browser_pids),
    }
    start = {k: m.read() for k, m in meters.items()}
    machine0 = machine_busy()
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    end = {k: m.read() for k, m in meters.items()}
    machine1 = machine_busy()
    wall = time.monotonic() - t0
    after_sig = [await page_signature(p, k) for k, p in pages]
    cpu = {k: TreeCpu.delta(start[k], end[k]) / wall * 100 for k in meters}
    cpu["machine"] = (machine1 - machine0) / wall * 100
    live = sum(a != b for a, b in zip(before_sig, after_sig, strict=True))
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
    }
    print(
        f"  {label:<34} sessions {len(pages):>2} (live {live:>2})  server {cpu['server']:6.1f}%"
        f"  sandbox {cpu['sandbox']:5.1f}%  loadgen {cpu['load generator']:5.1f}%"
        f"  browser {cpu['browser']:6.1f}%  machine {cpu['machine']:5.1f}/{NCPU * 100}%"
        f"  rss {row['server_rss_mb']:.0f} MB",
        flush=True,
    )
    return row


async def open_pages(browser, base: str, counts: dict[str, int]) -> list[tuple[str, object]]:
    pages = []
    for kind, n in counts.items():
        for _ in range(n):
            marker = MARKERS.get(kind, "[data-testid=nav-overview]")
            pages.append((kind, await open_page(browser, base + PATHS[kind], marker=marker)))
    return pages


async def measure(args) -> dict:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix="dash-cpu-"))
    sb = start_sandbox(tmp / "data", "--demo")
    server = load = None
    rows = []
    me = os.getpid()
    try:
        server = DashboardServer(watch_toml(sb, tmp / "watch.toml", (TOPIC,)), tmp / "panel.log")
        load = LoadGenerator(sb, TOPIC, args.rate)
        others = {me}

        def browser_pids() -> list[int]:
            skip = set(tree(server.pid)) | set(tree(sb.proc.pid)) | set(tree(load.pid)) | others
            return [p for p in tree(me) if p not in skip]

        print(
            f"dashboard CPU at {args.rate:.0f} broadcasts/s in; windows of {args.window:.0f} s "
            f"after {args.settle:.0f} s settle; % of one core (2 cores on this machine)",
            flush=True,
        )
        await asyncio.sleep(args.settle)
        rows.append(
            await window("ingest only (baseline)", server, sb, load, browser_pids, [], args.window)
        )
        async with async_playwright() as p:
            browser = await launch_chromium(p)
            try:
                pages = await open_pages(browser, server.base, {"overview": 1})
                await asyncio.sleep(args.settle)
                rows.append(
                    await window(
                        "1 Overview session", server, sb, load, browser_pids, pages, args.window
                    )
                )
                pages += await open_pages(browser, server.base, {"overview": args.sessions - 1})
                await asyncio.sleep(args.settle)
                rows.append(
                    await window(
                        f"{args.sessions} Overview sessions",
                        server,
                        sb,
                        load,
                        browser_pids,
                        pages,
                        args.window,
                    )
                )
                if args.mix:
                    for _, page in pages:
                        await page.close()
                    await asyncio.sleep(5)  # closed sessions are reclaimed within ~2 s
                    mix = dict(MIX)
                    mix["overview"] = max(0, mix["overview"] + args.sessions - sum(MIX.values()))
                    pages = await open_pages(browser, server.base, mix)
                    await asyncio.sleep(args.settle)
                    label = ", ".join(f"{n} {k}" for k, n in mix.items())
                    rows.append(
                        await window(
                            f"{args.sessions} mixed sessions",
                            server,
                            sb,
                            load,
                            browser_pids,
                            pages,
                            args.window,
                        )
                    )
                    rows[-1]["mix"] = label
            finally:
                await browser.close()
        await asyncio.sleep(args.settle)  # closed sessions are torn down within a few seconds
        rows.append(
            await window("ingest only, after", server, sb, load, browser_pids, [], args.window / 2)
        )
    finally:
        load_stats = load.stop() if load is not None else {}
        if server is not None:
            server.stop()
        sb.stop()
    return {"rate": args.rate, "windows": rows, "load": load_stats}


def report(res: dict, sessions: int) -> None:
    rows = {r["label"]: r for r in res["windows"]}
    base = res["windows"][0]["cpu"]["server"]
    one = rows["1 Overview session"]["cpu"]["server"]
    many = rows[f"{sessions} Overview sessions"]["cpu"]["server"]
    per = (many - one) / (sessions - 1)
    ld = res["load"]
    print(
        f"load generator: {ld.get('sent', 0):,} sent in {ld.get('seconds', 0)} s = "
        f"{ld.get('rate', 0):,.0f}/s, {ld.get('errors', 0)} errors, {ld.get('late_ticks', 0)} "
        f"late ticks (max {ld.get('max_late_ms', 0)} ms)"
    )
    print(f"server CPU, % of one core: ingest only {base:.1f}, 1 session {one:.1f}, ", end="")
    print(f"{sessions} sessions {many:.1f}")
    print(f"  1 session over ingest only: {one - base:+.1f} points")
    print(
        f"  bar: {sessions} sessions < {BAR_20:.0f}% -> "
        f"{'MET' if many < BAR_20 else 'NOT MET'} ({many:.1f}%)"
    )
    print(
        f"  per additional session (cpu{sessions} - cpu1)/{sessions - 1} = {per:.2f}% -> "
        f"{'MET' if per < BAR_PER_SESSION else 'NOT MET'} (bar < {BAR_PER_SESSION:.0f}%)"
    )
    mixed = rows.get(f"{sessions} mixed sessions")
    if mixed:
        m = mixed["cpu"]["server"]
        print(
            f"  mix ({mixed['mix']}): {m:.1f}%, per additional session "
            f"{(m - one) / (sessions - 1):.2f}%"
        )
    not_live = [r["label"] for r in res["windows"] if r["live"] < r["sessions"]]
    if not_live:
        print(f"  WARNING: not every session updated during: {not_live}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="broadcasts/s in")
    ap.add_argument("--window", type=float, default=60.0, help="seconds per measured window")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds before each window")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--no-mix", dest="mix", action="store_false", help="skip the mixed window")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    started = time.monotonic()
    res = asyncio.run(measure(args))
    report(res, args.sessions)
    print(f"runtime {time.monotonic() - started:.0f} s")
    if args.json_out:
        args.json_out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
