"""Who sees the dashboard (issue 13, scope 6), without starting it: the warning for serving
beyond this machine with no login, what `serve` hands to `panel serve` (secrets in its
environment, never its argv), the bearer-token rule, and the headless `--metrics-port` server
refusing scrapers without the token."""

from __future__ import annotations

import argparse
import os
import urllib.error
import urllib.request

import pytest

from feeds.monitor import Monitor, shown_url
from metrics.store import Store
from monitor import auth, prometheus, serve
from monitor.cli import build_parser
from monitor.config import WatchConfig, store_params
from monitor.headless import with_config

SECRET_VARS = (
    auth.BASIC_AUTH_ENV,
    auth.COOKIE_SECRET_ENV,
    auth.METRICS_TOKEN_ENV,
    "PANEL_BASIC_AUTH",
    "PANEL_COOKIE_SECRET",
    "BOKEH_COOKIE_SECRET",
    *auth.OAUTH_ENV.values(),
    "PANEL_OAUTH_OPTIONAL",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """The developer's own shell may have any of these set."""
    for var in SECRET_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("10.0.0.5", False),
        ("fe80::1", False),
        ("monitor.example.com", False),  # not resolved: a name counts as reachable
    ],
)
def test_loopback_or_not(host, loopback):
    assert auth.is_loopback(host) is loopback
    warning = auth.exposure_warning(host, protected=False)
    assert (warning is None) is loopback
    assert auth.exposure_warning(host, protected=True) is None
    if warning:
        assert "--basic-auth" in warning and "--oauth-provider" in warning
        assert "--metrics-token" in warning


def serve_command(*argv: str) -> tuple[list[str], dict[str, str], list[str]]:
    """The real parser and command builder of `python -m monitor serve ARGV`."""
    args = build_parser().parse_args(["serve", *argv])
    said: list[str] = []
    cmd, env = serve.command(args, said.append)
    return cmd, env, said


def test_the_cli_warns_on_stderr_when_serving_every_interface_without_a_login(capsys):
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "5999"])
    serve.command(args)  # the default reporter: stderr
    err = capsys.readouterr().err
    assert "WARNING" in err and "every interface" in err
    assert "--basic-auth" in err and "REALTIME_MONITOR_BASIC_AUTH" in err
    _, _, said = serve_command("--host", "192.168.1.20")
    assert len(said) == 1 and "192.168.1.20" in said[0]
    _, _, said = serve_command("--host", "127.0.0.1")
    assert said == []


def test_a_login_silences_the_warning_and_its_secrets_go_by_environment():
    cmd, env, said = serve_command(
        "--host", "0.0.0.0", "--basic-auth", "Pass-Word", "--metrics-token", "tok-123"
    )
    assert not any("WARNING" in s for s in said)
    assert any("cookie secret" in s and "generated" in s for s in said)
    assert env[auth.BASIC_AUTH_ENV] == "Pass-Word"  # read by monitor.auth_launch, as given
    assert env[auth.METRICS_TOKEN_ENV] == "tok-123"
    assert len(env["PANEL_COOKIE_SECRET"]) >= 32
    assert cmd[1:3] == ["-m", "monitor.auth_launch"]
    argv = " ".join(cmd)
    assert "Pass-Word" not in argv and "tok-123" not in argv
    assert env["PANEL_COOKIE_SECRET"] not in argv


def test_panels_rest_endpoints_are_named_as_outside_the_login():
    _, _, said = serve_command("--basic-auth", "pw", "--", "--rest-session-info")
    assert any("/rest/" in s for s in said)
    _, _, said = serve_command("--", "--rest-session-info")  # no login: nothing is behind one
    assert not any("/rest/" in s for s in said)


def test_secrets_from_the_environment(monkeypatch):
    monkeypatch.setenv(auth.BASIC_AUTH_ENV, "From-Env")
    monkeypatch.setenv(auth.COOKIE_SECRET_ENV, "kept-cookie-secret")
    cmd, env, said = serve_command("--host", "0.0.0.0")
    assert said == []  # protected, and no secret to generate
    assert env[auth.BASIC_AUTH_ENV] == "From-Env"
    assert env["PANEL_COOKIE_SECRET"] == "kept-cookie-secret"
    # Panel's own PANEL_BASIC_AUTH is taken over: Panel would lower-case it
    monkeypatch.delenv(auth.BASIC_AUTH_ENV)
    monkeypatch.setenv("PANEL_BASIC_AUTH", "Mixed-Case")
    _, env, _ = serve_command()
    assert env[auth.BASIC_AUTH_ENV] == "Mixed-Case" and "PANEL_BASIC_AUTH" not in env


def test_oauth_options_become_panels_environment():
    cmd, env, said = serve_command(
        "--host",
        "0.0.0.0",
        "--oauth-provider",
        "github",
        "--oauth-key",
        "client-id",
        "--oauth-secret",
        "client-secret",
        "--oauth-refresh-tokens",
    )
    assert env["PANEL_OAUTH_PROVIDER"] == "github"
    assert env["PANEL_OAUTH_SECRET"] == "client-secret"
    assert env["PANEL_OAUTH_REFRESH_TOKENS"] == "true"
    assert "client-secret" not in " ".join(cmd)
    assert not any("WARNING" in s for s in said)
    # OAuth made optional lets guests in: that is not a login
    _, _, said = serve_command(
        "--host", "0.0.0.0", "--oauth-provider", "github", "--", "--oauth-optional"
    )
    assert any("WARNING" in s for s in said)


def test_bearer_rule():
    assert auth.token_matches("Bearer abc", "abc")
    assert auth.token_matches("bearer  abc ", "abc")
    assert not auth.token_matches("Bearer abcd", "abc")
    assert not auth.token_matches("Basic abc", "abc")
    assert not auth.token_matches(None, "abc")
    assert not auth.token_matches("Bearer", "abc")


def test_pages_show_the_target_without_credentials():
    assert shown_url("https://u:pw@ref.supabase.co/realtime/v1?apikey=k") == (
        "https://ref.supabase.co/realtime/v1"
    )
    assert shown_url("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_headless_metrics_server_needs_the_token():
    from dashboard_process import free_port

    config = WatchConfig()
    store = Store(**store_params(config))
    reg = prometheus.registry(prometheus.collector_for(store, config, Monitor(config, [store])))
    port = free_port()
    stop = prometheus.serve(reg, port, token="scrape-token")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert get(url)[0] == 401
        assert get(url, "wrong")[0] == 401
        status, body = get(url, "scrape-token")
        assert status == 200 and "realtime_monitor_" in body
    finally:
        stop()


def test_metrics_token_flag_reaches_the_headless_server(monkeypatch):
    """`check|record --metrics-token` puts the token where `prometheus.serve` reads it."""
    args = build_parser().parse_args(["check", "--metrics-port", "1", "--metrics-token", "t-1"])
    seen: list[str | None] = []

    async def runner(args: argparse.Namespace, config: WatchConfig) -> int:
        seen.append(auth.metrics_token())
        return 0

    monkeypatch.setenv(auth.METRICS_TOKEN_ENV, "")  # restored after the test
    assert with_config(runner)(args) == 0
    assert seen == ["t-1"]
    assert os.environ[auth.METRICS_TOKEN_ENV] == "t-1"
