"""What the headless commands (`check`, `record`, `replay`) share: their options, durations, and
how a command runs with a loaded config and turns failures into exit codes.

Exit codes: 0 fine, 1 an alert fired (check, replay), 2 could not run at all (bad config, the
sandbox or the project unreachable), 130 interrupted. Scripts and cron rely on them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable

from monitor.auth import METRICS_TOKEN_ENV
from monitor.config import ConfigError, WatchConfig, load_config

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
Runner = Callable[[argparse.Namespace, WatchConfig], Awaitable[int]]


def duration(text: str) -> float:
    """`30s`, `2m`, `1h`, `250ms` or bare seconds, as seconds."""
    m = DURATION.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 2m or 1h")
    scale = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]
    return float(m.group(1)) * scale


def add_watch_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that reads the watch config."""
    parser.add_argument(
        "--config",
        help="watch.toml (default: $REALTIME_MONITOR_CONFIG, ./watch.toml, or the sandbox demo)",
    )
    parser.add_argument(
        "--project",
        metavar="NAME",
        help="with [[projects]] in the config: the project to watch (check watches every "
        "project without it; record and replay need it when the config lists several)",
    )
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--sandbox-log", help="where the bundled sandbox writes its log")


def add_metrics_option(parser: argparse.ArgumentParser) -> None:
    """`--metrics-port`: Prometheus metrics of the run on 127.0.0.1 (`monitor.prometheus`);
    `--metrics-token`: only for scrapers that send it as `Authorization: Bearer`."""
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="N",
        help="serve Prometheus metrics on http://127.0.0.1:N/metrics while running",
    )
    parser.add_argument(
        "--metrics-token",
        default=None,
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on /metrics (default: "
        "$REALTIME_MONITOR_METRICS_TOKEN, which keeps it out of the process listing)",
    )


def one_project(config: WatchConfig, name: str | None, every: bool = False) -> WatchConfig:
    """The project a headless command watches: the config's only one, or `--project NAME` of
    its [[projects]]. `record` and `replay` keep one project's stream, so they need one; with
    `every`, a config of several and no --project is returned whole (`check` watches them all
    and reports each)."""
    projects = config.per_project()
    names = [p.project for p in projects]
    if name is None:
        if len(projects) == 1:
            return projects[0]
        if every:
            return config
        raise ConfigError(
            config.source,
            [f"it lists {len(names)} projects ({', '.join(names)}): choose one with --project"],
        )
    for project in projects:
        if project.project == name:
            return project
    known = f"its projects are {', '.join(names)}" if config.projects else "it has no [[projects]]"
    raise ConfigError(config.source, [f"--project {name}: no such project; {known}"])


def with_config(runner: Runner, every: bool = False) -> Callable[[argparse.Namespace], int]:
    """A command handler that loads the config, then runs `runner` on a fresh event loop.
    `every`: the runner takes a config of several projects whole (`one_project`)."""

    def handler(args: argparse.Namespace) -> int:
        if getattr(args, "metrics_token", None):  # where the metrics server looks for it
            os.environ[METRICS_TOKEN_ENV] = args.metrics_token
        try:
            config = one_project(load_config(args.config), getattr(args, "project", None), every)
        except ConfigError as exc:
            print(f"config error: {exc}", file=sys.stderr)
            return 2
        try:
            return asyncio.run(runner(args, config))
        except KeyboardInterrupt:
            return 130
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return handler
