"""`python -m feeds check|record|replay`: the monitor without a browser.

* `check [--config FILE] [--for 30s] [--json-out FILE]`: watch for a while, print a JSON summary,
  exit 1 if an alert threshold was crossed (2 if it could not run at all). A synthetic check for
  CI or cron.
* `record --out FILE.parquet|FILE.jsonl [--for 60s]`: record the event stream.
* `replay FILE [--speed 10 | --speed max]`: feed a recording through the metrics and print the
  same summary as `check`.

This module is an entry point, so it may compose feeds with the metrics store; feeds' library
modules never import metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

from .config import ConfigError, WatchConfig, load_config
from .monitor import Monitor, RecorderSink
from .recording import Recorder, replay

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def duration(text: str) -> float:
    m = DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 2m or 1h")
    scale = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]
    return float(m.group(1)) * scale


def make_store(config: WatchConfig, **overrides: Any):
    from metrics.store import Store

    return Store.from_watch(config, **overrides)


def report(
    store: Any, config: WatchConfig, target: str, seconds: float, now: float | None = None
) -> tuple[dict[str, Any], bool]:
    from metrics.alerts import breaches, evaluate

    snapshot = store.snapshot(now=now)
    checks = evaluate(snapshot, config.alerts)
    bad = breaches(checks)
    body = {
        "target": target,
        "config": config.source,
        "duration_s": round(seconds, 2),
        "ok": not bad,
        "alerts": [c.to_dict() for c in checks],
        "summary": store.summary(now=now, snap=snapshot),
    }
    return body, not bad


def _dump(body: dict[str, Any]) -> str:
    from metrics.store import json_safe

    return json.dumps(json_safe(body), indent=2, default=str)


async def run_check(args: argparse.Namespace, config: WatchConfig) -> int:
    store = make_store(config, window_s=min(config.buffers.window_s, max(args.for_, 1.0)))
    monitor = Monitor(config, [store], sandbox_log=args.sandbox_log)
    started = time.monotonic()
    await monitor.start()
    try:
        await asyncio.sleep(args.for_)
        # Report before stopping: our own shutdown is not an outage of the watched service.
        body, ok = report(store, config, monitor.target, time.monotonic() - started)
        if monitor.supervisor is not None:
            body["summary"]["malformed_frames"] = monitor.supervisor.malformed_frames
    finally:
        await monitor.stop()
    text = _dump(body)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)
    for check in body["alerts"]:
        if check["level"] == "alert":
            print(f"ALERT {check['name']}: {check['message']}", file=sys.stderr)
    return 0 if ok else 1


async def run_record(args: argparse.Namespace, config: WatchConfig) -> int:
    with Recorder(args.out) as recorder:
        monitor = Monitor(config, [RecorderSink(recorder)], sandbox_log=args.sandbox_log)
        await monitor.start()
        try:
            await asyncio.sleep(args.for_)
        finally:
            await monitor.stop()
    print(f"recorded {recorder.count} records to {args.out}", file=sys.stderr)
    return 0


async def run_replay(args: argparse.Namespace, config: WatchConfig) -> int:
    speed = None if args.speed == "max" else float(args.speed)
    store = make_store(config)
    last = time.time()

    class Tracking:
        def ingest(self, e):
            nonlocal last
            last = e.received_at
            store.ingest(e)

        def record_status(self, c):
            store.record_status(c)

        def record_subscription(self, c):
            store.record_subscription(c)

    started = time.monotonic()
    count = await replay(args.file, Tracking(), speed=speed)
    body, ok = report(
        store,
        config,
        f"recording {args.file}",
        time.monotonic() - started,
        now=last if speed is None else None,
    )
    body["records"] = count
    print(_dump(body))
    return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m feeds", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("check", "record", "replay"):
        p = sub.add_parser(name)
        p.add_argument(
            "--config",
            help="watch.toml (default: $REALTIME_MONITOR_CONFIG, "
            "./watch.toml, or the sandbox demo)",
        )
        p.add_argument("--log-level", default="WARNING")
        p.add_argument("--sandbox-log", help="where the bundled sandbox writes its log")
        if name in ("check", "record"):
            p.add_argument(
                "--for",
                dest="for_",
                type=duration,
                default=duration("30s" if name == "check" else "60s"),
            )
        if name == "check":
            p.add_argument("--json-out", help="also write the summary here")
        if name == "record":
            p.add_argument("--out", required=True, help="FILE.parquet or FILE.jsonl")
        if name == "replay":
            p.add_argument("file")
            p.add_argument("--speed", default="max", help="playback speed, or 'max'")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # realtime-py logs every failed attempt at ERROR; the status timeline carries those reasons.
    logging.getLogger("realtime").setLevel(logging.CRITICAL)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    runner = {"check": run_check, "record": run_record, "replay": run_replay}[args.command]
    try:
        return asyncio.run(runner(args, config))
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
