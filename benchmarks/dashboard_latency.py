"""Commit-to-screen latency: a database commit to the new counter value in a browser's DOM,
against a plain realtime-py subscriber to the same changes in the same run.

Method (also in benchmarks/README.md):
* A sandbox with only the `basic` demo scenario (`--demo --scenario basic`): background traffic
  flows, but nothing else writes `group.live_slots`, so the row under test is quiet.
* A dashboard server with default settings (`python -m monitor serve`), whose watch config
  joins `group-live-slots` with postgres_changes on `group.live_slots` (as the browser tests do).
* One Chromium page on `/app?page=slots`. A row for a test itinerary is inserted and the bench
  waits until its card shows.
* An observer inside the page (MutationObserver on the document and on every shadow root, since
  Panel renders each pane in one) records `performance.timeOrigin + performance.now()` the moment
  the `presence_online` counter's text changes, and the time of the next animation frame after
  it (the frame that paints it). No Playwright round trip is on the timed path.
* The page's clock is tied to Python's `time.time()` by round trips (`page.evaluate` bracketed by
  `time.time()`); the offset from the shortest round trip is used, and its half-RTT is the error
  bound. It is measured before and after the run to show drift.
* N times (default 50), one UPDATE of `presence_online` to a new value, direct SQL over psycopg2
  in autocommit mode; t0 = wall clock right after `execute` returns (the commit has been
  acknowledged). The transaction's commit time is also recorded from the change event
  (`commit_timestamp`, millisecond precision). The bench waits for both arrivals, then 250–600 ms
  (random, so changes do not phase-lock with the dashboard's 100 ms tick) before the next.
* Baseline, same changes: a realtime-py `AsyncRealtimeClient` subscriber in this process, bound to
  the same table and row, records its receive time. That is what the network and sandbox path
  costs; the DOM time minus it is the dashboard's own share (server tick, render, Bokeh patch over
  the websocket, browser DOM update).

Run: `.venv/bin/python benchmarks/dashboard_latency.py [--changes 50] [--json-out FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_harness import (  # noqa: E402
    DashboardServer,
    launch_chromium,
    open_page,
    pct,
    run_benchmark,
    watch_toml,
)
from sandbox_process import start_sandbox  # noqa: E402

KEY = "bench-latency"
COUNTER = "presence_online"
BAR_P95_MS = 200.0
UPSERT = (
    'insert into "group".live_slots (itinerary_id, group_id, presence_opt_in, presence_visible, '
    "presence_online) values (%s, 'bench-group', 9999, 9999, %s) on conflict (itinerary_id) "
    "do update set presence_online = excluded.presence_online, updated_at = now()"
)

OBSERVER_JS = """
(sel) => {
  const B = (window.__bench = { changes: [], frames: [], last: null, roots: new WeakSet() });
  const now = () => performance.timeOrigin + performance.now();
  const deepFind = (root) => {
    const el = root.querySelector(sel);
    if (el) return el;
    for (const n of root.querySelectorAll('*')) {
      if (n.shadowRoot) { const r = deepFind(n.shadowRoot); if (r) return r; }
    }
    return null;
  };
  const check = () => {
    const t = now();
    const el = deepFind(document);
    const v = el ? el.textContent : null;
    if (v !== B.last) {
      B.last = v;
      B.changes.push([v, t]);
      requestAnimationFrame(() => B.frames.push([v, now()]));
    }
  };
  const observe = (root) => {
    if (!B.roots.has(root)) {
      B.roots.add(root);
      mo.observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
    }
    for (const n of root.querySelectorAll('*')) if (n.shadowRoot) observe(n.shadowRoot);
  };
  const mo = new MutationObserver(() => { check(); observe(document); });
  observe(document);
  check();
  return B.last;
}
"""

# Installed before the page's own scripts: timestamps every websocket text frame that carries a
# slot card, as the page's JS receives it (before Bokeh parses it), to split the dashboard's share
# into server + transport and browser.
WS_TAP_JS = """
(() => {
  const Native = window.WebSocket;
  window.__wsframes = [];
  function Tapped(...args) {
    const ws = new Native(...args);
    ws.addEventListener('message', (e) => {
      if (typeof e.data === 'string' && e.data.includes('presence_online')) {
        window.__wsframes.push([performance.timeOrigin + performance.now(), e.data]);
      }
    });
    return ws;
  }
  Tapped.prototype = Native.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Tapped[k] = Native[k];
  window.WebSocket = Tapped;
})();
"""


async def clock_offset(page, rounds: int = 30) -> tuple[float, float]:
    """(page clock − time.time()) in ms from the shortest of `rounds` round trips, and ±bound."""
    best = None
    for _ in range(rounds):
        t1 = time.time()
        js = await page.evaluate("() => performance.timeOrigin + performance.now()")
        t2 = time.time()
        rtt = (t2 - t1) * 1000
        offset = js - (t1 + t2) / 2 * 1000
        if best is None or rtt < best[1]:
            best = (offset, rtt)
    assert best is not None
    return best[0], best[1] / 2


async def subscriber(sb, arrivals: dict[str, tuple[float, float]]):
    """A plain realtime-py client on the same row: value -> (receive time, commit time)."""
    from realtime import AsyncRealtimeClient

    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key)
    await client.connect()
    joined = asyncio.Event()

    def on_change(payload):
        got = time.time()
        data = payload["data"]
        record = data.get("record") or {}
        if record.get("itinerary_id") != KEY:
            return
        committed = datetime.fromisoformat(data["commit_timestamp"].replace("Z", "+00:00"))
        arrivals.setdefault(str(record.get(COUNTER)), (got, committed.timestamp()))

    ch = client.channel(
        "bench-latency-baseline",
        {
            "config": {
                "broadcast": {"ack": False, "self": False},
                "presence": {"key": "", "enabled": False},
                "private": False,
            }
        },
    )
    ch.on_postgres_changes(
        "*", on_change, schema="group", table="live_slots", filter=f"itinerary_id=eq.{KEY}"
    )
    ch.on_system(lambda _m: joined.set())
    await ch.subscribe()
    await asyncio.wait_for(joined.wait(), 10)
    return client


def run_sql(conn, sql: str, args: tuple) -> tuple[float, float]:
    t1 = time.time()
    with conn.cursor() as cur:
        cur.execute(sql, args)
    return t1, time.time()


async def dom_value_time(page, value: str, timeout: float = 10.0) -> tuple[float, float]:
    """Page-clock times (ms) when `value` appeared in the DOM and the frame that painted it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await page.evaluate(
            """(v) => {
              const c = window.__bench.changes.find(x => x[0] === v);
              const f = window.__bench.frames.find(x => x[0] === v);
              return c && f ? [c[1], f[1]] : null;
            }""",
            value,
        )
        if got:
            return got[0], got[1]
        await asyncio.sleep(0.05)
    raise TimeoutError(f"value {value} never reached the DOM")


SLOT_SEL = f'[data-testid=slot-counter][data-key="{KEY}"][data-counter="{COUNTER}"]'
# the element matching a selector anywhere, shadow roots included, has the given text
SHOWS_JS = (
    "([s, v]) => { const f = (r) => { const e = r.querySelector(s); if (e) "
    "return e; for (const n of r.querySelectorAll('*')) if (n.shadowRoot) "
    "{ const x = f(n.shadowRoot); if (x) return x; } return null; }; "
    "const e = f(document); return e && e.textContent === v; }"
)
UPDATE = (
    'update "group".live_slots set presence_online = %s, updated_at = now() where itinerary_id = %s'
)


async def show_card(page, conn, start: int) -> None:
    """Write the test row until its card shows (the dashboard may still be joining), then
    install the observer."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    for attempt in range(20):
        run_sql(conn, UPSERT, (KEY, start))
        try:
            await page.locator(SLOT_SEL).wait_for(timeout=3_000)
            break
        except PlaywrightTimeout:
            if attempt == 19:
                raise
    await page.wait_for_function(SHOWS_JS, arg=[SLOT_SEL, str(start)], timeout=10_000)
    first = await page.evaluate(OBSERVER_JS, SLOT_SEL)
    assert first == str(start), (first, start)


async def one_change(page, conn, arrivals: dict, value: int, offset_ms: float) -> dict:
    """One UPDATE, and when the subscriber, the DOM and the next frame saw it."""
    t_before, t0 = await asyncio.to_thread(run_sql, conn, UPDATE, (value, KEY))
    dom_js, frame_js = await dom_value_time(page, str(value))
    deadline = time.monotonic() + 10
    while str(value) not in arrivals and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    sub_t, commit_t = arrivals.get(str(value), (float("nan"), float("nan")))
    dom_t = (dom_js - offset_ms) / 1000
    frame_t = (frame_js - offset_ms) / 1000
    return {
        "value": value,
        "execute_ms": (t0 - t_before) * 1000,
        "commit_ts": commit_t,
        "t0": t0,
        "subscriber_ms": (sub_t - t0) * 1000,
        "dom_ms": (dom_t - t0) * 1000,
        "frame_ms": (frame_t - t0) * 1000,
        "dom_from_commit_ms": (dom_t - commit_t) * 1000,
        "subscriber_from_commit_ms": (sub_t - commit_t) * 1000,
        "dashboard_share_ms": (dom_t - sub_t) * 1000,
    }


async def drive(args, page, conn, arrivals: dict) -> dict:
    """The timed changes on an open Live slots page."""
    start = 1000 * random.randint(1, 9)
    await show_card(page, conn, start)
    await asyncio.sleep(2)  # let the page settle (first slow ticks, chart loads)
    off_before, err_before = await clock_offset(page)
    rows = []
    for i in range(args.changes):
        rows.append(await one_change(page, conn, arrivals, start + i + 1, off_before))
        if args.verbose:
            r = rows[-1]
            print(
                f"  {i + 1:>3}  sub {r['subscriber_ms']:7.1f}  dom {r['dom_ms']:7.1f}"
                f"  frame {r['frame_ms']:7.1f} ms"
            )
        await asyncio.sleep(random.uniform(0.25, 0.6))
    off_after, err_after = await clock_offset(page)
    return {
        "rows": rows,
        "clock": {
            "offset_before_ms": off_before,
            "bound_before_ms": err_before,
            "offset_after_ms": off_after,
            "bound_after_ms": err_after,
        },
        "frames": await page.evaluate("() => window.__wsframes"),
        "errors": list(page.bench_errors),
    }


def add_frame_times(rows: list[dict], frames: list, offset_ms: float) -> None:
    """When the websocket frame carrying each new value reached the page's JS."""
    for r in rows:
        needle = f"data-counter=&quot;{COUNTER}&quot;&gt;{r['value']}&lt;"
        ws_js = next((t for t, text in frames if needle in text), float("nan"))
        ws_t = (ws_js - offset_ms) / 1000
        r["ws_frame_ms"] = (ws_t - r["t0"]) * 1000
        r["server_share_ms"] = r["ws_frame_ms"] - r["subscriber_ms"]
        r["browser_share_ms"] = r["dom_ms"] - r["ws_frame_ms"]


async def measure(args) -> dict:
    from playwright.async_api import async_playwright

    tmp = Path(tempfile.mkdtemp(prefix="dash-latency-"))
    # streamed changes: the figure is the dashboard's own cost, not the server's polling
    sb = start_sandbox(tmp / "data", "--demo", "--scenario", "basic", changes="stream")
    server = conn = client = None
    try:
        server = DashboardServer(watch_toml(sb, tmp / "watch.toml"), tmp / "panel.log")
        conn = psycopg2.connect(sb.db_url)
        conn.autocommit = True
        arrivals: dict[str, tuple[float, float]] = {}
        client = await subscriber(sb, arrivals)
        async with async_playwright() as p:
            browser = await launch_chromium(p)
            try:
                page = await open_page(
                    browser, server.base + "/app?page=slots", init_script=WS_TAP_JS
                )
                run = await drive(args, page, conn, arrivals)
            finally:
                await browser.close()
    finally:
        if client is not None:
            await client.close()
        if conn is not None:
            conn.close()
        if server is not None:
            server.stop()
        sb.stop()
    rows = run["rows"]
    add_frame_times(rows, run["frames"], run["clock"]["offset_before_ms"])
    names = ["execute_ms", "subscriber_ms", "dom_ms", "frame_ms", "dashboard_share_ms"]
    names += ["ws_frame_ms", "server_share_ms", "browser_share_ms"]
    names += ["subscriber_from_commit_ms", "dom_from_commit_ms"]
    return {
        "changes": len(rows),
        "clock": run["clock"],
        **{name: pct([r[name] for r in rows]) for name in names},
        "console_errors": run["errors"],
        "rows": rows,
    }


def report(res: dict) -> None:
    c = res["clock"]
    print(
        f"page clock offset {c['offset_before_ms']:+.2f} ms (±{c['bound_before_ms']:.2f}) before, "
        f"{c['offset_after_ms']:+.2f} ms (±{c['bound_after_ms']:.2f}) after"
    )
    print(f"{res['changes']} UPDATEs of presence_online, latency after execute() returned (ms):")
    print(f"  {'path':<46} {'p50':>7} {'p95':>7} {'max':>7}")
    for label, key in [
        ("realtime-py subscriber (baseline)", "subscriber_ms"),
        ("dashboard: Bokeh patch frame reaches the page", "ws_frame_ms"),
        ("dashboard: value in the DOM", "dom_ms"),
        ("dashboard: next animation frame", "frame_ms"),
        ("dashboard's own share (DOM - subscriber)", "dashboard_share_ms"),
        ("  of which server: tick wait, render, send", "server_share_ms"),
        ("  of which browser: parse, apply, DOM", "browser_share_ms"),
        ("from commit_timestamp: subscriber", "subscriber_from_commit_ms"),
        ("from commit_timestamp: DOM", "dom_from_commit_ms"),
        ("execute() itself (UPDATE + commit)", "execute_ms"),
    ]:
        s = res[key]
        print(f"  {label:<46} {s['p50']:>7.1f} {s['p95']:>7.1f} {s['max']:>7.1f}")
    dom, sub = res["dom_ms"], res["subscriber_ms"]
    print(
        f"  DOM / subscriber (p50) = {dom['p50'] / sub['p50']:.1f}x; "
        f"bar: DOM p95 <= {BAR_P95_MS:.0f} ms -> "
        f"{'MET' if dom['p95'] <= BAR_P95_MS else 'NOT MET'} ({dom['p95']:.1f} ms)"
    )
    if res["console_errors"]:
        print(f"  console errors: {res['console_errors']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--verbose", action="store_true", help="print every change")
    args = ap.parse_args()
    run_benchmark(args, measure, report)


if __name__ == "__main__":
    main()
