"""`python -m monitor check [--config FILE] [--for 30s] [--json-out FILE] [--metrics-port N]`.

A synthetic check: watch for a while, print the JSON report, exit 1 if an alert threshold was
crossed (2 if it could not run at all): for CI or cron, with the same alert rules as the
dashboard's tiles. With `--metrics-port`, Prometheus can scrape the run meanwhile. With
`[notify]` webhooks, alerts are delivered while it runs (`monitor.notify`).

A config of several [[projects]] is checked whole (unless `--project NAME` picks one): every
project is watched at once, each with its own store, and the output is
`{"ok": ..., "projects": {name: report}}`, each report the one a single project gets; the exit
code is 1 if an alert fired in any of them, and /metrics has every project's series.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from monitor.config import WatchConfig, store_params
from monitor.headless import add_metrics_option, add_watch_options, duration, with_config
from monitor.report import dumps, report


def register(commands: Any) -> None:
    """Add `check` to the subparsers `commands`."""
    p = commands.add_parser("check", help="watch for a while, report, exit 1 on an alert")
    add_watch_options(p)
    p.add_argument("--for", dest="for_", type=duration, default=duration("30s"))
    p.add_argument("--json-out", help="also write the summary here")
    add_metrics_option(p)
    p.set_defaults(handler=with_config(run_check, every=True))


class Watch:
    """One project's part of a check: a store windowed to the check, the feed, the notifier,
    and the collector that labels its series with the project."""

    def __init__(self, args: argparse.Namespace, config: WatchConfig, several: bool) -> None:
        from feeds.monitor import Monitor
        from metrics.shared import SharedSnapshots
        from metrics.store import Store
        from monitor import notify, prometheus

        self.config = config
        self.name = prometheus.project_label(config)
        # The window is the check's own duration: alerts judge what this run saw, not 5 minutes.
        window_s = min(config.buffers.window_s, max(args.for_, 1))
        self.store = Store(**store_params(config, window_s=window_s))
        log = args.sandbox_log
        if several and log and config.uses_sandbox:  # a sandbox each, a log each
            log = str(Path(log).with_name(f"{Path(log).stem}-{self.name}{Path(log).suffix}"))
        self.monitor = Monitor(config, [self.store], sandbox_log=log)
        shared = SharedSnapshots(store=self.store, alerts=config.alerts, quota=config.quota)
        self.notifier = notify.Notifier(self.name, notify.shared_checks(shared), config.notify)
        self.collector = prometheus.collector_for(self.store, config, self.monitor)
        self.collector.extra.append(lambda: notify.families([self.notifier]))

    async def start(self) -> None:
        await self.monitor.start()
        self.notifier.start()

    def report(self, seconds: float) -> tuple[dict[str, Any], bool]:
        body, ok = report(self.store.snapshot(), self.config, self.monitor.target, seconds)
        if self.monitor.supervisor is not None:
            body["summary"]["malformed_frames"] = self.monitor.supervisor.malformed_frames
        return body, ok

    async def stop(self) -> None:
        await self.notifier.stop()  # before the feed: our own shutdown is no recovery to send
        await self.monitor.stop()


async def run_check(args: argparse.Namespace, config: WatchConfig) -> int:
    from monitor import prometheus

    configs = config.per_project()
    watches = [Watch(args, c, several=len(configs) > 1) for c in configs]
    stop_metrics: Any = lambda: None  # noqa: E731
    if args.metrics_port is not None:
        reg = prometheus.registry(*(w.collector for w in watches))
        stop_metrics = prometheus.serve(reg, args.metrics_port)
    started = time.monotonic()
    try:
        try:
            await asyncio.gather(*(w.start() for w in watches))
            await asyncio.sleep(args.for_)
            # Report before stopping: our own shutdown is not an outage of the watched service.
            reports = {w.name: w.report(time.monotonic() - started) for w in watches}
        finally:
            stop_metrics()  # first, so no scrape sees our own shutdown as an outage either
            await asyncio.gather(*(w.stop() for w in watches), return_exceptions=True)
    finally:
        stop_metrics()
    ok = all(good for _, good in reports.values())
    if len(watches) == 1:
        body = next(iter(reports.values()))[0]
    else:
        body = {"ok": ok, "projects": {name: b for name, (b, _) in reports.items()}}
    text = dumps(body)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)
    for name, (b, _) in reports.items():
        where = f" [{name}]" if len(watches) > 1 else ""
        for check in b["alerts"]:
            if check["level"] == "alert":
                print(f"ALERT{where} {check['name']}: {check['message']}", file=sys.stderr)
    return 0 if ok else 1
