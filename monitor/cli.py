"""`realtime-monitor <command>` (or `python -m monitor <command>`): the monitor's commands.

Each command lives in a small module with `register(commands)`, which adds its parser to the
`add_subparsers()` object and sets `handler`: a function of the parsed arguments that returns the
exit code. A new command is one module and one entry in `COMMANDS`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from monitor import check, record, serve

COMMANDS = (check, record, serve)


def build_parser() -> argparse.ArgumentParser:
    # Usage lines name the command as it was typed: the console script, or `python -m monitor`.
    script = Path(sys.argv[0]).name == "realtime-monitor"
    parser = argparse.ArgumentParser(
        prog="realtime-monitor" if script else "python -m monitor",
        description="Watch Supabase Realtime: the dashboard, a headless check, recording, replay.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "WARNING").upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # realtime-py logs every failed attempt at ERROR; the status timeline carries those reasons.
    logging.getLogger("realtime").setLevel(logging.CRITICAL)
    return args.handler(args)
