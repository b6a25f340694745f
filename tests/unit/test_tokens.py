"""`feeds.tokens` without a server: reading `exp`, when a refresh is due, and the `command` and
`service_role` methods (real `sh -c` commands). The GoTrue method is in
`tests/integration/test_token_refresh.py`, against the sandbox's real refresh-token grant."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import jwt
import pytest

from feeds.settings import AuthConfig
from feeds.tokens import TokenKeeper, TokenRefreshError, expires_at, project_base

NOW = 1_700_000_000.0
SECRET = "a-secret-of-32-bytes-or-more-for-hs256"  # pyjwt warns below 32


def token(**claims) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


def keeper(token_: str = "", **cfg) -> TokenKeeper:
    return TokenKeeper(AuthConfig(**cfg), url="http://127.0.0.1:1", key="anon", token=token_)


def sh(script: str) -> str:
    return "sh -c " + shlex.quote(script)


# --- expires_at ---------------------------------------------------------------------------------


def test_expires_at_reads_exp_without_verifying():
    assert expires_at(token(exp=1234567890, sub="u")) == 1234567890.0
    assert expires_at(jwt.encode({"exp": 99}, SECRET[::-1], algorithm="HS256")) == 99.0
    # the payload needs no padding to be read, whatever its length
    for n in range(4):
        assert expires_at(token(exp=5, pad="x" * n)) == 5.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "x.!!!.y",
        "x." + base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("=") + ".y",  # not an object
        "x." + base64.urlsafe_b64encode(b"{nope").decode().rstrip("=") + ".y",  # not JSON
        token(sub="no exp"),
        token(exp="soon"),
        token(exp=True),
    ],
)
def test_expires_at_is_none_without_a_jwt_exp(text):
    assert expires_at(text) is None


def test_expires_at_takes_a_fractional_exp():
    payload = base64.urlsafe_b64encode(json.dumps({"exp": 10.5}).encode()).decode().rstrip("=")
    assert expires_at(f"h.{payload}.s") == 10.5


@pytest.mark.parametrize(
    "url, base",
    [
        ("https://abc.supabase.co", "https://abc.supabase.co"),
        ("https://abc.supabase.co/", "https://abc.supabase.co"),
        ("http://127.0.0.1:5432", "http://127.0.0.1:5432"),
        (
            "wss://abc.supabase.co/realtime/v1/websocket?apikey=k&vsn=1.0.0",
            "https://abc.supabase.co",
        ),
        ("ws://127.0.0.1:9/realtime/v1", "http://127.0.0.1:9"),
        ("https://proxy.example/supabase/realtime/v1/", "https://proxy.example/supabase"),
    ],
)
def test_project_base(url, base):
    assert project_base(url) == base


# --- due_in -------------------------------------------------------------------------------------


def test_an_hours_token_is_renewed_refresh_before_s_before_exp():
    k = keeper(token(iat=NOW, exp=NOW + 3600), refresh="command", command="true")
    assert k.due_in(NOW) == pytest.approx(3540)
    assert k.due_in(NOW + 3000) == pytest.approx(540)
    k.cfg.refresh_before_s = 300
    assert k.due_in(NOW) == pytest.approx(3300)


def test_a_short_token_is_renewed_at_80_percent_of_its_life():
    """refresh_before_s (60) is more than the 20% left at 80%: renew at 80% instead, not at once."""
    k = keeper(token(iat=NOW, exp=NOW + 120), refresh="command", command="true")
    assert k.due_in(NOW) == pytest.approx(96)
    k = keeper(token(iat=NOW, exp=NOW + 6), refresh="command", command="true")
    assert k.due_in(NOW) == pytest.approx(4.8)
    assert k.due_in(NOW + 4) == pytest.approx(0.8)
    # the boundary: 60 s is exactly 20% of 300 s
    k = keeper(token(iat=NOW, exp=NOW + 300), refresh="command", command="true")
    assert k.due_in(NOW) == pytest.approx(240)


def test_due_now_when_late_expired_or_without_a_token():
    k = keeper(token(iat=NOW, exp=NOW + 3600), refresh="command", command="true")
    assert k.due_in(NOW + 3590) == 0
    assert k.due_in(NOW + 7200) == 0
    assert keeper("", refresh="command", command="true").due_in(NOW) == 0
    assert keeper("", refresh="gotrue", refresh_token="rt").due_in(NOW) == 0


def test_without_iat_the_life_counts_from_when_the_keeper_took_the_token():
    taken = time.time()
    k = keeper(token(exp=taken + 100), refresh="command", command="true")
    assert k.due_in(taken) == pytest.approx(80, abs=0.5)


def test_never_due_without_a_method_or_an_exp():
    assert keeper(token(iat=NOW, exp=NOW + 10), refresh="none").due_in(NOW) is None
    assert keeper(token(sub="forever"), refresh="command", command="true").due_in(NOW) is None
    assert keeper("opaque", refresh="command", command="true").due_in(NOW) is None


def test_service_role_is_applied_once_then_never_due():
    user = token(iat=NOW, exp=NOW + 60)
    k = keeper(user, refresh="service_role", service_role_key="service-key")
    assert k.due_in(NOW) == 0
    assert asyncio.run(k.fresh()) == "service-key" == k.token
    assert k.due_in(NOW) is None


def test_run_applies_the_service_role_key_and_returns():
    applied: list[str] = []
    reports: list[str] = []

    async def apply(t: str) -> None:
        applied.append(t)

    k = keeper("", refresh="service_role", service_role_key="service-key")
    asyncio.run(asyncio.wait_for(k.run(apply, reports.append), 5))
    assert applied == ["service-key"] and reports == []


def test_run_returns_at_once_when_nothing_is_refreshed():
    async def apply(t: str) -> None:
        raise AssertionError("nothing to apply")

    asyncio.run(asyncio.wait_for(keeper("t", refresh="none").run(apply, print), 1))


# --- the command method ---------------------------------------------------------------------------


def test_command_prints_the_token():
    fresh = token(iat=NOW, exp=NOW + 60)
    k = keeper("old", refresh="command", command=sh(f"echo 'noise' >&2; printf '  {fresh}\\n\\n'"))
    assert asyncio.run(k.fresh()) == fresh == k.token


def test_command_runs_in_a_shell_with_the_environment(monkeypatch):
    monkeypatch.setenv("TOKEN_FOR_TEST", "abc.def.ghi")
    k = keeper(refresh="command", command="echo $TOKEN_FOR_TEST | tr a-z a-z")
    assert asyncio.run(k.fresh()) == "abc.def.ghi"


@pytest.mark.parametrize(
    "script, message",
    [
        (
            "echo starting >&2; echo 'error: no session for user 42' >&2; exit 3",
            "token command exited with 3: error: no session for user 42",
        ),
        ("exit 1", "token command exited with 1"),
        ("echo 'vault: sealed' >&2", "token command printed nothing on stdout: vault: sealed"),
        ("printf '\\n  \\n'", "token command printed nothing on stdout"),
        ("echo one; echo two", "token command printed more than the token on stdout"),
    ],
)
def test_command_failures_say_why(script, message):
    k = keeper("old", refresh="command", command=sh(script))
    with pytest.raises(TokenRefreshError) as info:
        asyncio.run(k.fresh())
    assert info.value.message == message or info.value.message.startswith(message)
    assert str(info.value) == info.value.message
    assert k.token == "old"  # a failed refresh keeps the token it had


def test_a_missing_command_is_reported_with_the_shells_words():
    k = keeper(refresh="command", command="no-such-token-tool-xyz --print")
    with pytest.raises(TokenRefreshError, match=r"exited with 127: .*no-such-token-tool-xyz"):
        asyncio.run(k.fresh())


def test_a_hung_command_is_killed_with_what_it_started(tmp_path):
    """A grandchild holding stdout open must not keep the refresh waiting past the timeout."""
    pidfile = tmp_path / "pid"
    command = f"sleep 30 & echo $! > {pidfile}; wait"
    k = keeper(refresh="command", command=command)
    k.command_timeout_s = 0.3
    with pytest.raises(TokenRefreshError, match=r"did not finish within 0.3 s: sleep …") as hung:
        asyncio.run(asyncio.wait_for(k.fresh(), 5))
    assert str(pidfile) not in str(hung.value)  # the program's name, not its command line
    sleeper = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{sleeper}").exists() and "Z" not in proc_state(sleeper):
        assert time.monotonic() < deadline, "the command's child is still running"
        time.sleep(0.05)


def test_stopping_the_watch_stops_a_running_command(tmp_path):
    """Whenever the stop lands, nothing the command started lives on: once it runs (the pid file
    is written), and at each of the first loop steps, while the shell is still being spawned."""

    async def stop_after(pidfile: Path, steps: int | None) -> None:
        k = keeper(refresh="command", command=f"sleep 30 & echo $! > {pidfile}; wait")
        task = asyncio.create_task(k.run(lambda t: asyncio.sleep(0), print))
        if steps is None:
            while not pidfile.exists() or not pidfile.read_text().strip():
                await asyncio.sleep(0.01)
        for _ in range(steps or 0):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.05)  # a shell that survived would write its pid file by now

    async def main() -> list[Path]:
        pidfiles = [tmp_path / f"pid-{steps}" for steps in [None, *range(30)]]
        for pidfile, steps in zip(pidfiles, [None, *range(30)], strict=True):
            await stop_after(pidfile, steps)
        return pidfiles

    pidfiles = asyncio.run(asyncio.wait_for(main(), 60))
    assert pidfiles[0].exists()
    for pidfile in pidfiles:
        if pidfile.exists() and pidfile.read_text().strip():
            pid = int(pidfile.read_text())
            if proc_state(pid) != "Z":  # gone (or a zombie of init's)
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"{pidfile.name}: the command's child {pid} is still running")


def proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


def test_the_sandbox_token_tool_as_the_command(tmp_path):
    """The documented example: `python -m sandbox.token` prints a JWT with the asked lifetime."""
    command = (
        f"{shlex.quote(sys.executable)} -m sandbox.token --sub 00000000-0000-0000-0000-000000000001"
        f" --ttl 2m --jwt-secret {SECRET}"
    )
    k = keeper(refresh="command", command=command)
    fresh = asyncio.run(k.fresh())
    claims = jwt.decode(fresh, SECRET, algorithms=["HS256"], audience="authenticated")
    assert claims["exp"] - claims["iat"] == 120
    assert k.due_in(claims["iat"]) == pytest.approx(96)


def minting_command(ttl: float) -> str:
    """A command that prints a new JWT living `ttl` seconds from now, as a token tool would."""
    code = (
        "import jwt, time; now = time.time(); "
        f"print(jwt.encode({{'iat': now, 'exp': now + {ttl}}}, {SECRET!r}, algorithm='HS256'))"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def test_run_reports_a_failure_retries_then_applies(tmp_path):
    """The first run of the command fails, the retry after retry_s prints a token."""
    state = tmp_path / "tried"
    first = f"touch {state}; echo down >&2; exit 1"
    script = f"if [ -e {state} ]; then {minting_command(3600)}; else {first}; fi"
    k = keeper("", refresh="command", command=sh(script), retry_s=0.05)
    applied: list[str] = []
    reports: list[str] = []

    async def apply(t: str) -> None:
        applied.append(t)

    async def main() -> None:
        task = asyncio.create_task(k.run(apply, reports.append))
        while not applied:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # an hour's token: nothing more is due
        task.cancel()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert reports == ["token command exited with 1: down"]
    assert applied == [k.token] and expires_at(k.token) > NOW


def test_run_renews_again_after_a_failing_apply_and_awaits_an_async_report():
    """`apply` raising does not stop the renewals (logged); an async `report` is awaited."""
    k = keeper("", refresh="command", command=minting_command(1.0), retry_s=0.05)
    applied: list[str] = []

    async def apply(t: str) -> None:
        applied.append(t)
        if len(applied) == 1:
            raise RuntimeError("socket closed while sending")

    async def main() -> None:
        task = asyncio.create_task(k.run(apply, print))
        while len(applied) < 3:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(main(), 20))
    assert len(set(applied)) == 3
    exps = [expires_at(t) for t in applied]
    assert exps == sorted(exps)

    seen: list[str] = []

    async def report(message: str) -> None:
        await asyncio.sleep(0)
        seen.append(message)

    async def failing() -> None:
        k = keeper("", refresh="command", command="exit 2", retry_s=0.01)
        task = asyncio.create_task(k.run(apply, report))
        while len(seen) < 3:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(failing(), 20))
    assert seen[:3] == ["token command exited with 2"] * 3


def test_a_token_due_at_once_is_reported_not_renewed_in_a_busy_loop():
    """A command whose tokens are already (nearly) expired, e.g. a clock far ahead of the
    issuer's: each one is applied, the problem reported, and the next try waits retry_s."""
    k = keeper("", refresh="command", command=minting_command(-30), retry_s=0.3)
    applied: list[float] = []  # when each token was applied
    reports: list[str] = []

    async def apply(t: str) -> None:
        applied.append(time.monotonic())

    async def main() -> None:
        task = asyncio.create_task(k.run(apply, reports.append))
        # three rounds, however slowly a loaded machine runs the command
        while len(applied) < 3:
            await asyncio.sleep(0.02)
        task.cancel()

    asyncio.run(asyncio.wait_for(main(), 20))
    gaps = [b - a for a, b in zip(applied, applied[1:], strict=False)]
    assert min(gaps) >= 0.3, gaps  # each retry waited retry_s: not a busy loop
    assert len(reports) >= 2
    assert reports[0].startswith("the renewed token is due for renewal at once (-30 s left)")
