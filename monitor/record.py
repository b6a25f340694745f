"""`python -m monitor record|replay`: keep an event stream, and feed it back through the metrics.

* `record --out FILE.parquet|FILE.jsonl [--for 60s] [--metrics-port N]`: record what the feed
  observes (and, with `--metrics-port` or `[notify]` webhooks, keep a store of it for
  Prometheus to scrape and the alert rules to judge meanwhile).
* `replay FILE [--speed 10 | --speed max]`: play a recording into a fresh store and print the
  same report as `check` (and its exit code), so a recorded incident can be judged later.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from monitor.config import WatchConfig, store_params
from monitor.headless import add_metrics_option, add_watch_options, duration, with_config
from monitor.report import dumps, report


def register(commands: Any) -> None:
    """Add `record` and `replay` to the subparsers `commands`."""
    rec = commands.add_parser("record", help="record the event stream to a file")
    add_watch_options(rec)
    rec.add_argument("--for", dest="for_", type=duration, default=duration("60s"))
    rec.add_argument("--out", required=True, help="FILE.parquet or FILE.jsonl")
    add_metrics_option(rec)
    rec.set_defaults(handler=with_config(run_record))
    rep = commands.add_parser("replay", help="feed a recording through the metrics and report")
    add_watch_options(rep)
    rep.add_argument("file")
    rep.add_argument("--speed", default="max", help="playback speed, or 'max'")
    rep.set_defaults(handler=with_config(run_replay))


async def run_record(args: argparse.Namespace, config: WatchConfig) -> int:
    from feeds.monitor import Monitor, RecorderSink
    from feeds.recording import Recorder
    from metrics.shared import SharedSnapshots
    from metrics.store import Store
    from monitor import notify, prometheus

    with Recorder(args.out) as recorder:
        sinks: list[Any] = [RecorderSink(recorder)]
        store = None
        notifier = None
        # the metrics and the alert rules need a store; a plain recording doesn't
        if args.metrics_port is not None or config.notify.webhooks:
            store = Store(**store_params(config))
            sinks.append(store)
        monitor = Monitor(config, sinks, sandbox_log=args.sandbox_log)
        if store is not None and config.notify.webhooks:
            shared = SharedSnapshots(store=store, alerts=config.alerts, quota=config.quota)
            notifier = notify.Notifier(
                prometheus.project_label(config), notify.shared_checks(shared), config.notify
            )
        stop_metrics = (
            prometheus.serve_run(
                args.metrics_port,
                store,
                config,
                monitor,
                [lambda: notify.families([notifier])] if notifier is not None else [],
            )
            if store is not None
            else (lambda: None)
        )
        try:
            await monitor.start()
            if notifier is not None:
                notifier.start()
            try:
                await asyncio.sleep(args.for_)
            finally:
                stop_metrics()
                if notifier is not None:
                    await notifier.stop()
                await monitor.stop()
        finally:
            stop_metrics()
    print(f"recorded {recorder.count} records to {args.out}", file=sys.stderr)
    return 0


class _Tracking:
    """A sink in front of the store that remembers the last event's time: at `--speed max` the
    report is taken at the recording's end, not at the wall-clock time of the replay."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.last = time.time()

    def ingest(self, event: Any) -> None:
        self.last = event.received_at
        self.store.ingest(event)

    def record_status(self, change: Any) -> None:
        self.store.record_status(change)

    def record_subscription(self, change: Any) -> None:
        self.store.record_subscription(change)


async def run_replay(args: argparse.Namespace, config: WatchConfig) -> int:
    from feeds.recording import replay
    from metrics.store import Store

    speed = None if args.speed == "max" else float(args.speed)
    store = Store(**store_params(config))
    sink = _Tracking(store)
    started = time.monotonic()
    count = await replay(args.file, sink, speed=speed)
    snap = store.snapshot(now=sink.last if speed is None else None)
    body, ok = report(snap, config, f"recording {args.file}", time.monotonic() - started)
    body["records"] = count
    print(dumps(body))
    return 0 if ok else 1
