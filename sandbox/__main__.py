"""`python -m sandbox serve [--host H] [--port N] [--data-dir DIR] [--db-url URL] [--demo]`.

Prints exactly one line `SANDBOX READY {json}` on stdout once clients can connect; everything else
goes to stderr, so a parent process can read stdout line by line until it sees READY. The JSON
has the project's `url`, `anon_key`, `service_role_key`, `jwt_secret` and `db_url`, and `watch`:
the channels a monitor should watch on the demo (the same list as `GET /sandbox/v1/watch`).

`--jwt-exp SECONDS` sets how long the access tokens of the GoTrue subset (`/auth/v1`) live, as
GOTRUE_JWT_EXP does on a Supabase project (default 3600): `--jwt-exp 6` gives sessions whose
tokens expire within seconds, to watch a client renew them with the refresh-token grant.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import signal
import sys
from pathlib import Path

from . import gotrue, lifecycle, limits
from .database import DatabaseError
from .server import Sandbox, SandboxConfig


def positive_seconds(text: str) -> int:
    """A whole number of seconds above 0 (GoTrue's JWT exp is whole seconds)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds above 0, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the local Realtime server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=54321, help="0 picks a free port")
    serve.add_argument("--data-dir", type=Path, help="state directory (default: user cache dir)")
    serve.add_argument(
        "--db-url", help="use this PostgreSQL (wal_level=logical) instead of pgserver"
    )
    serve.add_argument(
        "--jwt-secret", help="sign keys with this secret (default: kept in data dir)"
    )
    serve.add_argument(
        "--changes",
        choices=("poll", "stream"),
        default="poll",
        help="postgres_changes delivery: polled every 100-500 ms like Supabase (default), or "
        "streamed at once (benchmarks, fast tests)",
    )
    serve.add_argument(
        "--jwt-exp",
        type=positive_seconds,
        default=gotrue.ACCESS_TTL,
        metavar="SECONDS",
        help="lifetime of GoTrue's access tokens, like GOTRUE_JWT_EXP (default: %(default)s)",
    )
    serve.add_argument("--demo", action="store_true", help="generate demo traffic")
    serve.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="demo scenario to run (repeatable; default: all)",
    )
    serve.add_argument("--rate", type=float, default=1.0, help="demo traffic multiplier")
    serve.add_argument("--seed", type=int, default=7, help="demo random seed")
    limits.add_arguments(serve)  # --plan, one --max-... flag per limit, --rate-tick-ms
    lifecycle.add_arguments(serve)  # error backoffs, idle timeout
    serve.add_argument(
        "--parent-pid",
        type=int,
        help="stop when this process is gone (a parent killed before it could stop us)",
    )
    serve.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    config = SandboxConfig(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        db_url=args.db_url,
        jwt_secret=args.jwt_secret,
        limits=limits.from_args(args),
        rate_tick_s=limits.tick_from_args(args),
        timing=lifecycle.timing_from_args(args),
        changes=args.changes,
        jwt_exp=args.jwt_exp,
        demo=args.demo,
        scenarios=args.scenario,
        rate=args.rate,
        seed=args.seed,
    )
    sandbox = Sandbox(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sandbox.start()
    except (DatabaseError, OSError, ValueError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        await sandbox.stop()
        return 2
    print("SANDBOX READY " + json.dumps(sandbox.ready_info()), flush=True)
    logging.getLogger("sandbox").info("serving %s", sandbox.base_url)
    watch = (
        asyncio.create_task(stop_when_orphaned(args.parent_pid, stop)) if args.parent_pid else None
    )
    await stop.wait()
    if watch is not None:
        watch.cancel()
    await sandbox.stop()
    return 0


async def stop_when_orphaned(parent_pid: int, stop: asyncio.Event, every_s: float = 1.0) -> None:
    """Set `stop` once `parent_pid` is no longer our parent: a Jupyter kernel or monitor killed
    with SIGKILL runs no atexit, and its sandbox (and embedded PostgreSQL) would live on."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(every_s)
    logging.getLogger("sandbox").warning("parent %d is gone: stopping", parent_pid)
    stop.set()


def main(argv: list[str] | None = None) -> int:
    """`python -m sandbox` and the `realtime-sandbox` console script."""
    args = parse_args(argv)
    if args.db_url is None and importlib.util.find_spec("pgserver") is None:
        # pgserver's last release has no wheel for Python 3.13, so installs there go without it.
        print(
            "sandbox: the embedded PostgreSQL (pgserver) is not installed on Python "
            f"{sys.version_info.major}.{sys.version_info.minor}; pass --db-url with a PostgreSQL "
            "that has wal_level=logical, or use Python 3.11 or 3.12",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
