"""Shared pieces of the dashboard benchmarks: a real sandbox, a real `python -m monitor serve`,
Debian's Chromium through Playwright, /proc readings, and a paced broadcast load generator.

The load generator runs as its own process (`python benchmarks/dashboard_harness.py load ...`),
so its CPU is neither the dashboard's nor the benchmark driver's. It posts batches through the
sandbox's REST endpoint on a fixed schedule (e.g. 100 messages every 100 ms); a tick that falls
behind is sent late rather than skipped, and the totals it prints on exit say how late it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

# the dashboard server and its watch config are the browser tests' own
from dashboard_process import (  # noqa: E402, F401 - re-exported for the benchmarks
    CHROMIUM,
    CHROMIUM_FLAGS,
    DashboardServer,
    watch_toml,
)

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def pct(values: list[float] | np.ndarray, qs: tuple[int, ...] = (50, 95)) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    out = {f"p{q}": float(np.percentile(arr, q)) if arr.size else float("nan") for q in qs}
    out["max"] = float(arr.max()) if arr.size else float("nan")
    out["n"] = int(arr.size)
    return out


def run_benchmark(args, measure, report) -> None:
    """`measure(args)` (a coroutine function), then `report` its result, say how long it all
    took, and write the result as JSON to `args.json_out` if given."""
    started = time.monotonic()
    res = asyncio.run(measure(args))
    report(res)
    print(f"runtime {time.monotonic() - started:.0f} s")
    if args.json_out:
        args.json_out.write_text(json.dumps(res, indent=1))


# --- /proc ------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """utime + stime of a process (all its threads), plus its live descendants if asked."""
    total = 0.0
    for p in tree(pid) if descendants else [pid]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14, 15 of stat(5)
    return total


def run_delay_seconds(pid: int) -> float:
    """Time the process's threads spent runnable but waiting for a CPU (/proc/<pid>/task/*/
    schedstat, second field): how much a busy machine held the process back."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def rss_mb(pid: int, descendants: bool = False) -> float:
    total = 0
    for p in tree(pid) if descendants else [pid]:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1])
        except OSError:
            continue
    return total * PAGE_SIZE / 2**20


def renice(pids: list[int], niceness: int) -> None:
    """Lower the priority of every thread of `pids` (Linux niceness is per thread)."""
    for p in pids:
        try:
            tids = [int(t) for t in os.listdir(f"/proc/{p}/task")]
        except OSError:
            continue
        for tid in tids:
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                    os.setpriority(os.PRIO_PROCESS, tid, niceness)
            except OSError:
                pass


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


@dataclass
class CpuMeter:
    """CPU of several process trees over one window, as % of one core."""

    pids: dict[str, int]
    start_wall: float = 0.0
    start: dict[str, float] = field(default_factory=dict)

    def begin(self) -> None:
        self.start = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self.start_wall = time.monotonic()

    def end(self) -> dict[str, float]:
        wall = time.monotonic() - self.start_wall
        out = {k: (cpu_seconds(p) - self.start[k]) / wall * 100 for k, p in self.pids.items()}
        out["wall_s"] = wall
        return out


# --- load generator ---------------------------------------------------------------------------


class LoadProcess:
    """A load child, `python SCRIPT load ARGS...`: it prints `LOAD READY` once it runs and
    `LOAD STATS {json}` when it stops on SIGTERM."""

    def __init__(self, script: Path, args: list[str], stop_timeout: float = 15) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), "load", *args], stdout=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline()
        if not line.startswith("LOAD READY"):
            raise RuntimeError(f"load generator failed to start: {line!r}")
        self.stats: dict = {}
        self.stop_timeout = stop_timeout

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> dict:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        for line in out.splitlines():
            if line.startswith("LOAD STATS "):
                self.stats = json.loads(line[len("LOAD STATS ") :])
        return self.stats


class LoadGenerator(LoadProcess):
    """The paced broadcast generator as a child process (see `_load_main`)."""

    def __init__(self, sb, topic: str, rate: float, batch_ms: int = 100) -> None:
        super().__init__(
            Path(__file__).resolve(),
            ["--url", sb.url, "--key", sb.service_role_key, "--topic", topic]
            + ["--rate", str(rate), "--batch-ms", str(batch_ms)],
        )


async def _load(url: str, key: str, topic: str, rate: float, batch_ms: int) -> dict:
    import aiohttp

    headers = {"apikey": key, "Authorization": f"Bearer {key}"}
    endpoint = url + "/realtime/v1/api/broadcast"
    per_batch = max(1, round(rate * batch_ms / 1000))
    period = batch_ms / 1000
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    sent = errors = late = 0
    max_late_ms = 0.0
    seq = 0
    print("LOAD READY", flush=True)
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        next_at = time.monotonic()
        while not stop.is_set():
            msgs = []
            for _ in range(per_batch):
                seq += 1
                msgs.append(
                    {
                        "topic": topic,
                        "event": "reading",
                        "payload": {"seq": seq, "sent_at": time.time(), "value": seq % 97},
                    }
                )
            try:
                async with session.post(endpoint, json={"messages": msgs}, headers=headers) as resp:
                    if resp.status == 202:
                        sent += len(msgs)
                    else:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            next_at += period
            delay = next_at - time.monotonic()
            if delay < 0:
                late += 1
                max_late_ms = max(max_late_ms, -delay * 1000)
                if delay < -1.0:  # more than a second behind: re-anchor rather than burst
                    next_at = time.monotonic()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    elapsed = time.monotonic() - started
    return {
        "sent": sent,
        "seconds": round(elapsed, 2),
        "rate": round(sent / elapsed, 1) if elapsed else 0.0,
        "errors": errors,
        "late_ticks": late,
        "max_late_ms": round(max_late_ms, 1),
        "per_batch": per_batch,
    }


def _load_main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="dashboard_harness.py load")
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--batch-ms", type=int, default=100)
    a = ap.parse_args(argv)
    stats = asyncio.run(_load(a.url, a.key, a.topic, a.rate, a.batch_ms))
    print("LOAD STATS " + json.dumps(stats), flush=True)


# --- browser ----------------------------------------------------------------------------------


async def launch_chromium(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


def chromium_pids(exclude: set[int] | None = None) -> list[int]:
    """Chromium processes started by this benchmark (children of Playwright's driver)."""
    me = os.getpid()
    out = []
    for p in tree(me):
        try:
            with open(f"/proc/{p}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if "chrom" in name and (not exclude or p not in exclude):
            out.append(p)
    return out


def chromium_cpu_seconds() -> float:
    return sum(cpu_seconds(p, descendants=False) for p in chromium_pids())


async def open_page(
    browser_or_context,
    url: str,
    marker: str = "[data-testid=nav-overview]",
    init_script: str | None = None,
    timeout_s: float = 30,
):
    """A new page on `url`, waiting until `marker` is in its DOM; console errors collect in
    `page.bench_errors`."""
    page = await browser_or_context.new_page(viewport={"width": 1440, "height": 1000})
    if init_script:
        await page.add_init_script(init_script)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.bench_errors = errors  # type: ignore[attr-defined]
    await page.goto(url, timeout=timeout_s * 1000)
    await page.locator(marker).first.wait_for(state="attached", timeout=timeout_s * 1000)
    return page


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        _load_main(sys.argv[2:])
    else:
        sys.exit("usage: dashboard_harness.py load --url URL --key KEY --topic T [--rate N]")
