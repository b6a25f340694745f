"""`python -m monitor serve [--host H] [--port N] [--config FILE] [LOGIN] [-- PANEL_FLAGS]`.

Runs `panel serve app.py wall.py` with the flags this app relies on, in one place for `make serve`
and the tests:
* ingest starts with the server (`--setup monitor/setup.py`), so the first page has history;
* closed tabs are reclaimed within about two seconds (their callbacks and models go with them);
* `/liveness` for health checks, `/metrics` for Prometheus (`--plugins monitor.metrics_route`);
* Panel never reaches for its CDN. Some stylesheet URLs point at cdn.holoviz.org; `PANEL_CDN_ROOT`
  makes them point at this server instead, which serves Panel's own files there
  (`monitor.auth_assets`). A monitor must work on a closed network, and a failed request is a
  console error on every page.

LOGIN is Panel's own (`monitor.auth` has the rules): `--basic-auth`, `--cookie-secret`, the OAuth
options, and `--metrics-token` for scrapers. Each secret can come from the environment instead;
all of them reach `panel serve` through its environment, none through its argv.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from monitor import auth

# where the pages find Panel's files (PANEL_CDN_ROOT); monitor.auth_assets serves them there.
# Kept here, not there: that plugin imports Panel, and `--help` should not wait for it.
CDN_ROUTE = "panel-cdn"

# Absolute paths inside the package, so an installed `realtime-monitor serve` runs from any
# directory (and reads that directory's ./watch.toml), not only from a checkout's root.
HERE = Path(__file__).resolve().parent
LOGIN_HELP = """\
Protected pages (README, "Protected pages"): with --basic-auth or --oauth-provider every page
and /metrics needs a login (Panel's login page, /logout to sign out); /liveness stays open.
Secrets are best given in the environment, which other users cannot read, unlike argv:
  REALTIME_MONITOR_BASIC_AUTH, REALTIME_MONITOR_COOKIE_SECRET, REALTIME_MONITOR_METRICS_TOKEN,
  and Panel's own PANEL_OAUTH_KEY, PANEL_OAUTH_SECRET, PANEL_OAUTH_ENCRYPTION.
Serving beyond loopback (--host 0.0.0.0) without a login prints a warning."""


def command(args: argparse.Namespace, say: Any = None) -> tuple[list[str], dict[str, str]]:
    """The `panel serve` command line and its environment; warnings and notes go to `say`
    (stderr by default), so an operator sees them before the server's own log."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    env = {**os.environ, "PANEL_CDN_ROOT": f"/{CDN_ROUTE}/"}
    protected = auth.auth_environment(args, env, say)
    warning = auth.exposure_warning(args.host, protected)
    if warning:
        say(warning)
    cmd = [
        sys.executable,
        "-m",
        "monitor.auth_launch",  # `panel serve`, with the basic-auth secret read from env
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
        "--plugins",
        "monitor.auth_assets",  # Panel's files at PANEL_CDN_ROOT, open even with a login
        *args.extra,
    ]
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
    serve = commands.add_parser(
        "serve",
        help="serve the dashboard (panel serve)",
        epilog=LOGIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "5006")))
    serve.add_argument(
        "--config",
        help="watch.toml (default: $REALTIME_MONITOR_CONFIG, ./watch.toml, or the sandbox demo)",
    )
    serve.add_argument("--session-check-ms", type=int, default=1000)
    serve.add_argument("--session-lifetime-ms", type=int, default=1000)
    login = serve.add_argument_group("login (Panel's own; see below)")
    login.add_argument(
        "--basic-auth",
        metavar="PASSWORD|FILE",
        help="a password for any user name, or a JSON file of {user: password} "
        f"(default: ${auth.BASIC_AUTH_ENV})",
    )
    login.add_argument(
        "--cookie-secret",
        help="signs the login cookie; keep it to keep logins across restarts "
        f"(default: ${auth.COOKIE_SECRET_ENV}, or one generated per run)",
    )
    login.add_argument(
        "--metrics-token",
        default=None,
        help="/metrics also accepts 'Authorization: Bearer TOKEN' (for Prometheus); without "
        f"a login, it then requires it (default: ${auth.METRICS_TOKEN_ENV})",
    )
    login.add_argument(
        "--oauth-provider", help="Panel's OAuth provider: github, google, azure, okta, generic, ..."
    )
    login.add_argument("--oauth-key", help="the OAuth client id (or $PANEL_OAUTH_KEY)")
    login.add_argument("--oauth-secret", help="the OAuth client secret (or $PANEL_OAUTH_SECRET)")
    login.add_argument("--oauth-redirect-uri", help="where the provider sends the user back")
    login.add_argument(
        "--oauth-extra-params", help="a Python dict literal of provider settings, e.g. tenant"
    )
    login.add_argument(
        "--oauth-encryption-key",
        help="encrypts the OAuth tokens in cookies; `panel oauth-secret` makes one "
        "(or $PANEL_OAUTH_ENCRYPTION)",
    )
    login.add_argument("--oauth-jwt-user", help="the ID token's claim that names the user")
    login.add_argument("--oauth-expiry-days", type=float, help="how long a login lasts (days)")
    login.add_argument(
        "--oauth-refresh-tokens", action="store_true", help="refresh OAuth access tokens"
    )
    serve.add_argument("extra", nargs="*", help="more `panel serve` flags, after --")
    serve.set_defaults(handler=run)
