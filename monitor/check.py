"""`python -m monitor check [--config FILE] [--for 30s] [--json-out FILE] [--metrics-port N]`.

A synthetic check: watch for a while, print the JSON report, exit 1 if an alert threshold was
crossed (2 if it could not run at all): for CI or cron, with the same alert rules as the
dashboard's tiles. With `--metrics-port`, Prometheus can scrape the run meanwhile. With
`[notify]` webhooks, alerts are delivered while it runs (`monitor.notify`).
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
    p.set_defaults(handler=with_config(run_check))


async def run_check(args: argparse.Namespace, config: WatchConfig) -> int:
    from feeds.monitor import Monitor
    from metrics.shared import SharedSnapshots
    from metrics.store import Store
    from monitor import notify, prometheus

    # The window is the check's own duration: alerts judge what this run saw, not five minutes.
    store = Store(**store_params(config, window_s=min(config.buffers.window_s, max(args.for_, 1))))
    monitor = Monitor(config, [store], sandbox_log=args.sandbox_log)
    shared = SharedSnapshots(store=store, alerts=config.alerts, quota=config.quota)
    notifier = notify.Notifier(
        prometheus.project_label(config), notify.shared_checks(shared), config.notify
    )
    stop_metrics = prometheus.serve_run(
        args.metrics_port, store, config, monitor, [lambda: notify.families([notifier])]
    )
    started = time.monotonic()
    try:
        await monitor.start()
        notifier.start()
        try:
            await asyncio.sleep(args.for_)
            # Report before stopping: our own shutdown is not an outage of the watched service.
            body, ok = report(store.snapshot(), config, monitor.target, time.monotonic() - started)
            if monitor.supervisor is not None:
                body["summary"]["malformed_frames"] = monitor.supervisor.malformed_frames
        finally:
            stop_metrics()  # first, so no scrape sees our own shutdown as an outage either
            await notifier.stop()  # nor a webhook
            await monitor.stop()
    finally:
        stop_metrics()
    text = dumps(body)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)
    for check in body["alerts"]:
        if check["level"] == "alert":
            print(f"ALERT {check['name']}: {check['message']}", file=sys.stderr)
    return 0 if ok else 1
