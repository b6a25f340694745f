"""`python -m monitor serve [--host H] [--port N] [--config FILE] [-- PANEL_FLAGS]`: the dashboard.

Runs `panel serve app.py wall.py` with the flags this app relies on, in one place for `make serve`
and the tests:
* ingest starts with the server (`--setup monitor/setup.py`), so the first page has history;
* closed tabs are reclaimed within about two seconds (their callbacks and models go with them);
* `/liveness` for health checks, `/metrics` for Prometheus (`--plugins monitor.metrics_route`);
* Panel never reaches for its CDN. Some stylesheet URLs point at cdn.holoviz.org; `PANEL_CDN_ROOT`
  makes them point at this server instead, which serves Panel's own files there. A monitor must
  work on a closed network, and a failed request is a console error on every page.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

# Absolute paths inside the package, so an installed `realtime-monitor serve` runs from any
# directory (and reads that directory's ./watch.toml), not only from a checkout's root.
HERE = Path(__file__).resolve().parent
CDN_ROUTE = "panel-cdn"


def command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    import panel

    panel_dir = Path(panel.__file__).resolve().parent
    cmd = [
        sys.executable,
        "-m",
        "panel",
        "serve",
        str(HERE / "apps" / "app.py"),
        str(HERE / "apps" / "wall.py"),
        "--index",
        "app",
        "--address",
        args.host,
        "--port",
        str(args.port),
        "--allow-websocket-origin",
        f"{args.host}:{args.port}",
        "--allow-websocket-origin",
        f"localhost:{args.port}",
        "--setup",
        str(HERE / "setup.py"),
        "--check-unused-sessions",
        str(args.session_check_ms),
        "--unused-session-lifetime",
        str(args.session_lifetime_ms),
        "--liveness",
        "--plugins",
        "monitor.metrics_route",
        "--static-dirs",
        f"{CDN_ROUTE}/{panel.__version__}={panel_dir}",
        *args.extra,
    ]
    env = {**os.environ, "PANEL_CDN_ROOT": f"/{CDN_ROUTE}/"}
    if args.config:
        env["REALTIME_MONITOR_CONFIG"] = str(Path(args.config).resolve())
    return cmd, env


def run(args: argparse.Namespace) -> int:
    cmd, env = command(args)
    print(
        f"Realtime Monitor: http://{args.host}:{args.port}/app   "
        f"wall display: http://{args.host}:{args.port}/wall   "
        f"Prometheus: http://{args.host}:{args.port}/metrics",
        flush=True,
    )
    os.execvpe(cmd[0], cmd, env)
    return 0


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve the dashboard (panel serve)")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5006")))
    serve.add_argument(
        "--config",
        help="watch.toml (default: $REALTIME_MONITOR_CONFIG, ./watch.toml, or the sandbox demo)",
    )
    serve.add_argument("--session-check-ms", type=int, default=1000)
    serve.add_argument("--session-lifetime-ms", type=int, default=1000)
    serve.add_argument("extra", nargs="*", help="more `panel serve` flags, after --")
    serve.set_defaults(handler=run)
