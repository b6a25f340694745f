"""Server and browser memory over long streaming: does anything grow?

Method (also in benchmarks/README.md):
* A sandbox with all demo scenarios (`--demo`) plus ~200 broadcasts/s from a separate load
  process (`dashboard_harness.py load`, 20 every 100 ms on `bench-load`).
* A dashboard server with default settings watching the demo channels, `group.live_slots` and
  `bench-load`.
* One headless Chromium with one page of each kind: Overview, Inspector, Live slots, Presence
  and the wall.
* Every 30 s: the server's RSS (/proc/<pid>/statm) and, for each page after a forced collection
  (CDP `HeapProfiler.collectGarbage`, then `Performance.getMetrics`): the JS heap in use
  (`JSHeapUsedSize`), the DOM nodes the page holds (`Nodes`, detached ones included, so a subtree
  kept alive by a stale reference counts) and its event listeners (`JSEventListeners`). The
  Chromium processes' total RSS is recorded too.
* Warm-up 2 minutes (buffers and the inspector's log fill, charts reach steady traffic), then
  `--minutes` (default 10) of measurement. Reported per series: the start and the end of the
  measured span, each the median of 5 samples (so a sample taken mid-refresh does not decide
  it), the change between them, and the maximum. The server's RSS with ingest only (before any
  page opened) is printed for reference.

Bar (issue 4): memory stays flat after warm-up, read as: no series (server RSS; each page's
heap, DOM nodes and listeners) grows by more than 10% from start to end. A fall is shown but is
not a leak.

Run: `.venv/bin/python benchmarks/dashboard_memory.py [--minutes 10] [--json-out FILE]`
(about `--minutes` + 3 minutes in all; use `--minutes 2` while developing).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_harness import (  # noqa: E402
    DashboardServer,
    LoadGenerator,
    chromium_pids,
    launch_chromium,
    open_page,
    rss_mb,
    run_benchmark,
    watch_toml,
)
from sandbox_process import start_sandbox  # noqa: E402

TOPIC = "bench-load"
PAGES = {
    "overview": "/app?page=overview",
    "inspector": "/app?page=inspector",
    "slots": "/app?page=slots",
    "presence": "/app?page=presence",
    "wall": "/wall",
}
MARKERS = {"wall": "[data-testid=wall-status]"}
BAR_PCT = 10.0
EDGE = 5  # samples (2.5 minutes) whose median is the start, and the end, of the span


async def page_memory(cdp) -> tuple[float, int, int]:
    """After a full collection: JS heap in use (MB), DOM nodes (attached or not, so a detached
    subtree kept alive counts) and event listeners."""
    await cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in (await cdp.send("Performance.getMetrics"))["metrics"]}
    return (
        metrics["JSHeapUsedSize"] / 2**20,
        int(metrics.get("Nodes", 0)),
        int(metrics.get("JSEventListeners", 0)),
    )


def summary(values: list[float], first_index: int, edge: int = EDGE) -> dict[str, float]:
    """Start and end of the measured span, each the median of `edge` samples so that one sample
    taken mid-refresh (a table re-rendering, a roster that just grew) does not decide it."""
    after = values[first_index:]
    first = statistics.median(after[:edge])
    last = statistics.median(after[-edge:])
    peak = max(after)
    return {
        "first": first,
        "last": last,
        "change_pct": (last / first - 1) * 100,
        "max": peak,
        "max_pct": (peak / first - 1) * 100,
    }


async def open_pages(browser, base: str) -> dict:
    """Every page, each with a CDP session that reads its memory."""
    pages = {}
    for name, path in PAGES.items():
        marker = MARKERS.get(name, "[data-testid=nav-overview]")
        page = await open_page(browser, base + path, marker=marker)
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        pages[name] = (page, cdp)
    return pages


async def sample(pages: dict, pid: int, t: float) -> dict:
    """One row: server RSS, each page's heap, nodes and listeners, Chromium's RSS."""
    row = {"t": round(t), "server_rss": rss_mb(pid)}
    for name, (_, cdp) in pages.items():
        for key, value in zip(("heap", "nodes", "listeners"), await page_memory(cdp), strict=True):
            row[f"{name}_{key}"] = value
    row["chromium_rss"] = sum(rss_mb(pid) for pid in chromium_pids())
    return row


def print_row(row: dict, pages: dict, warming: bool) -> None:
    cells = "  ".join(
        f"{row[n + '_heap']:>14.1f} {row[n + '_nodes']:>6} {row[n + '_listeners']:>5}"
        for n in pages
    )
    mark = " warm-up" if warming else ""
    print(
        f"  {row['t']:>5} {row['server_rss']:>10.1f}  {cells}  {row['chromium_rss']:>12.0f}{mark}",
        flush=True,
    )


async def stream_and_sample(args, pages: dict, pid: int) -> list[dict]:
    """Sample every `interval` s through the warm-up and the measured minutes."""
    warmup_s = args.warmup * 60
    total_s = warmup_s + args.minutes * 60
    print(
        f"streaming: demo + {args.rate:.0f} broadcasts/s; sampling every "
        f"{args.interval:.0f} s for {total_s / 60:.0f} min ({args.warmup:g} min warm-up); MB",
        flush=True,
    )
    head = "  ".join(f"{n + ' heap':>14} {'nodes':>6} {'lsnrs':>5}" for n in pages)
    print(f"  {'t s':>5} {'server RSS':>10}  {head}  {'chromium RSS':>12}")
    samples: list[dict] = []
    started = time.monotonic()
    for k in itertools.count():
        await asyncio.sleep(max(0.0, started + k * args.interval - time.monotonic()))
        t = time.monotonic() - started
        row = await sample(pages, pid, t)
        samples.append(row)
        print_row(row, pages, t < warmup_s - 1)
        if t >= total_s - 1:
            return samples
    return samples


async def measure(args) -> dict:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix="dash-memory-"))
    sb = start_sandbox(tmp / "data", "--demo")
    server = load = None
    try:
        server = DashboardServer(watch_toml(sb, tmp / "watch.toml", (TOPIC,)), tmp / "panel.log")
        load = LoadGenerator(sb, TOPIC, args.rate)
        await asyncio.sleep(10)
        ingest_only_rss = rss_mb(server.pid)
        async with async_playwright() as p:
            browser = await launch_chromium(p)
            try:
                pages = await open_pages(browser, server.base)
                samples = await stream_and_sample(args, pages, server.pid)
                errors = {n: list(pg.bench_errors) for n, (pg, _) in pages.items()}
            finally:
                await browser.close()
    finally:
        load_stats = load.stop() if load is not None else {}
        if server is not None:
            server.stop()
        sb.stop()
    first = next(i for i, s in enumerate(samples) if s["t"] >= args.warmup * 60 - 1)
    series = [
        "server_rss",
        *(f"{n}_{k}" for n in PAGES for k in ("heap", "nodes", "listeners")),
        "chromium_rss",
    ]
    return {
        "ingest_only_server_rss": ingest_only_rss,
        "samples": samples,
        "first_after_warmup_t": samples[first]["t"],
        "summary": {s: summary([r[s] for r in samples], first) for s in series},
        "console_errors": errors,
        "load": load_stats,
    }


def report(res: dict) -> None:
    ld = res["load"]
    print(
        f"load generator: {ld.get('sent', 0):,} broadcasts at {ld.get('rate', 0):,.0f}/s, "
        f"{ld.get('errors', 0)} errors; server RSS with ingest only, before any page: "
        f"{res['ingest_only_server_rss']:.1f} MB"
    )
    print(f"after warm-up (from t = {res['first_after_warmup_t']} s) to the end:")
    print(
        f"  {'series':<22} {'first':>8} {'last':>8} {'change':>8} {'max':>8} {'max vs first':>12}"
    )
    ok = True
    for name, s in res["summary"].items():
        bar = name != "chromium_rss"  # Chromium's RSS is mostly its own caches: shown only
        within = s["change_pct"] <= BAR_PCT
        ok &= within or not bar
        verdict = ("ok" if within else "GROWS") if bar else "(info)"
        print(
            f"  {name:<22} {s['first']:>8.1f} {s['last']:>8.1f} {s['change_pct']:>+7.1f}% "
            f"{s['max']:>8.1f} {s['max_pct']:>+11.1f}%  {verdict}"
        )
    print(f"  bar: nothing grows by more than {BAR_PCT:.0f}% -> {'MET' if ok else 'NOT MET'}")
    errs = {k: v for k, v in res["console_errors"].items() if v}
    if errs:
        print(f"  console errors: {errs}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="measured minutes after warm-up")
    ap.add_argument("--warmup", type=float, default=2.0, help="warm-up minutes")
    ap.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    ap.add_argument("--rate", type=float, default=200.0, help="extra broadcasts/s")
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    run_benchmark(args, measure, report)


if __name__ == "__main__":
    main()
