"""Protected pages: who may see the dashboard and its `/metrics`, and how secrets reach Panel.

The login itself is Panel's (`--basic-auth`, or OAuth with `--oauth-provider`); this module only
decides what `python -m monitor serve` hands to `panel serve`, and the rules for `/metrics`:

* Secrets travel in the environment, never in argv: `/proc/<pid>/cmdline` (ps, top) is readable
  by every user of the machine, a process's environment only by its owner. `serve` execs
  `panel serve`, so our own argv (which may hold `--basic-auth ...`) is replaced by Panel's, which
  holds none. Panel reads PANEL_COOKIE_SECRET and PANEL_OAUTH_* itself; the basic-auth secret
  goes through REALTIME_MONITOR_BASIC_AUTH and `python -m monitor.auth_launch`, because Panel
  lower-cases PANEL_BASIC_AUTH (panel/config.py `basic_auth`): a password with a capital letter,
  or a users file under a path with one, would never match.
* A login needs a cookie secret (the `user` cookie is signed with it). Without one given, a random
  one is made for this run, and we say so: logins then end when the server restarts.
* `/metrics`: with a metrics token, a request carrying `Authorization: Bearer <token>` is judged
  on that token alone (Prometheus's `authorization: credentials`); without the header, or with
  no token configured, it needs the page login when the pages need one (the same `user` cookie,
  read by Panel's own `get_user`), and is open when they are open and no token is set.
  `/liveness` stays open: it answers only whether the apps are up.
* Binding beyond loopback with no login prints a warning naming the flags (not a refusal: a
  closed LAN or a reverse proxy that authenticates is a legitimate setup).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

BASIC_AUTH_ENV = "REALTIME_MONITOR_BASIC_AUTH"
COOKIE_SECRET_ENV = "REALTIME_MONITOR_COOKIE_SECRET"
METRICS_TOKEN_ENV = "REALTIME_MONITOR_METRICS_TOKEN"
# Panel's own names, read by `panel serve` itself (panel/config.py)
PANEL_COOKIE_SECRET = "PANEL_COOKIE_SECRET"
COOKIE_SECRET_ENVS = (COOKIE_SECRET_ENV, PANEL_COOKIE_SECRET, "BOKEH_COOKIE_SECRET")
# `serve` option (argparse dest) -> the variable Panel reads it from
OAUTH_ENV = {
    "oauth_provider": "PANEL_OAUTH_PROVIDER",
    "oauth_key": "PANEL_OAUTH_KEY",
    "oauth_secret": "PANEL_OAUTH_SECRET",
    "oauth_redirect_uri": "PANEL_OAUTH_REDIRECT_URI",
    "oauth_extra_params": "PANEL_OAUTH_EXTRA_PARAMS",
    "oauth_encryption_key": "PANEL_OAUTH_ENCRYPTION",
    "oauth_jwt_user": "PANEL_OAUTH_JWT_USER",
    "oauth_expiry_days": "PANEL_OAUTH_EXPIRY",
    "oauth_refresh_tokens": "PANEL_OAUTH_REFRESH_TOKENS",
}
AUTH_FLAGS = "--basic-auth (or REALTIME_MONITOR_BASIC_AUTH) or --oauth-provider"
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


# --- who is exposed ---------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server on this machine. Names other than localhost
    are not resolved (a name may resolve differently tomorrow); they count as reachable."""
    name = host.strip().strip("[]").lower()
    if name in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, protected: bool) -> str | None:
    """The warning for serving pages beyond this machine with no login, or None."""
    if protected or is_loopback(host):
        return None
    where = "every interface" if host.strip("[]") in ("", "0.0.0.0", "::") else host
    return (
        f"WARNING: serving on {where} without a login: anyone who can reach this port sees "
        f"every page and /metrics. Turn on a login with {AUTH_FLAGS} (with --cookie-secret or "
        f"REALTIME_MONITOR_COOKIE_SECRET), and give scrapers --metrics-token; or bind to "
        "127.0.0.1 behind a proxy that authenticates."
    )


# --- what `serve` hands to `panel serve` ------------------------------------------------------


def _given(extra: Iterable[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in extra)


def protected(
    basic_auth: str | None, oauth_provider: str | None, extra: Iterable[str], env: Mapping[str, str]
) -> bool:
    """Whether Panel will ask for a login: basic auth or OAuth from our flags, the environment
    (ours or Panel's), or Panel flags passed after `--`; OAuth made optional lets guests in."""
    extra = list(extra)
    on = bool(
        basic_auth
        or oauth_provider
        or env.get("PANEL_BASIC_AUTH")
        or env.get("PANEL_OAUTH_PROVIDER")
        or _given(extra, "--basic-auth")
        or _given(extra, "--oauth-provider")
    )
    optional_env = env.get("PANEL_OAUTH_OPTIONAL", "").lower() in ("1", "true")
    optional = _given(extra, "--oauth-optional") or optional_env
    return on and not optional


def auth_environment(args: Any, env: MutableMapping[str, str], say: Callable[[str], None]) -> bool:
    """Put the login's settings into `env` (the environment of `panel serve`) and return whether
    pages are protected. `args` are `serve`'s parsed options; `say` reports to the operator."""
    # PANEL_BASIC_AUTH is taken over rather than left to Panel, which lower-cases it
    basic = args.basic_auth or env.get(BASIC_AUTH_ENV) or env.get("PANEL_BASIC_AUTH")
    env.pop("PANEL_BASIC_AUTH", None)
    if basic:
        env[BASIC_AUTH_ENV] = basic
    cookie_secret = args.cookie_secret or env.pop(COOKIE_SECRET_ENV, None)
    if cookie_secret:  # ours wins over the names Panel and Bokeh read
        for name in COOKIE_SECRET_ENVS[1:]:
            env.pop(name, None)
    for dest, var in OAUTH_ENV.items():
        value = getattr(args, dest, None)
        if value is True:
            env[var] = "true"
        elif value not in (None, False, ""):
            env[var] = str(value)
    if cookie_secret:
        env[PANEL_COOKIE_SECRET] = cookie_secret
    if args.metrics_token:
        env[METRICS_TOKEN_ENV] = args.metrics_token
    is_protected = protected(basic, env.get("PANEL_OAUTH_PROVIDER"), args.extra, env)
    has_secret = any(env.get(v) for v in COOKIE_SECRET_ENVS[1:]) or _given(
        args.extra, "--cookie-secret"
    )
    if is_protected and (
        _given(args.extra, "--rest-session-info") or _given(args.extra, "--rest-provider")
    ):
        say(
            "WARNING: Panel's REST endpoints (/rest/...) are not behind its login: with "
            "--rest-session-info anyone who reaches the port can read the session list."
        )
    if is_protected and not has_secret:
        env[PANEL_COOKIE_SECRET] = secrets.token_urlsafe(32)
        say(
            "Realtime Monitor: no cookie secret given, so one was generated for this run: "
            "logins end when the server restarts. Pass --cookie-secret or "
            f"{COOKIE_SECRET_ENV} to keep them."
        )
    return is_protected


# --- /metrics ---------------------------------------------------------------------------------


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def token_matches(header: str | None, token: str) -> bool:
    """Whether the header carries `token`, compared in constant time."""
    given = bearer(header)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def metrics_token(env: Mapping[str, str] | None = None) -> str | None:
    """The token `/metrics` accepts, from REALTIME_MONITOR_METRICS_TOKEN (None when unset)."""
    return (env if env is not None else os.environ).get(METRICS_TOKEN_ENV) or None


def refusal(token: str | None) -> tuple[int, dict[str, str], str]:
    """Status, headers and body of a refused scrape: 401 with a Bearer challenge when a token
    would do, else 403 (only the page login would)."""
    if token:
        return (
            401,
            {"WWW-Authenticate": 'Bearer realm="realtime-monitor"'},
            "a metrics token is required: Authorization: Bearer <token>\n",
        )
    return 403, {}, "log in first (/login), or start the server with --metrics-token\n"


def bearer_only(app: Callable[..., Any], token: str) -> Callable[..., Any]:
    """A WSGI app that passes only requests carrying `token` on to `app` (the headless runners'
    `--metrics-port` server, which has no login to fall back on)."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if token_matches(environ.get("HTTP_AUTHORIZATION"), token):
            return app(environ, start_response)
        status, headers, body = refusal(token)
        start_response(f"{status} Unauthorized", [*headers.items(), ("Content-Type", "text/plain")])
        return [body.encode()]

    return guarded


def serve_wsgi(app: Callable[..., Any], port: int, host: str) -> tuple[Any, threading.Thread]:
    """`app` on host:port in a daemon thread, a thread per request and no request log, as
    `prometheus_client.start_http_server` serves its own app."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client.exposition import ThreadingWSGIServer

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            pass

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="metrics-http")
    thread.start()
    return server, thread
