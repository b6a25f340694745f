"""What the seed client-flow tests share, and the tests of what the seeds share: the watch
profiles (`profiles/*.toml`) and the token CLI (`python -m sandbox.token`).

Helpers (imported by `test_seed_*.py`):

* `run_flow(node, script, flow, cfg, steps=...)` runs one flow of `tests/js/<script>` under Node
  with supabase-js; at each `STEP <name>` line it calls `steps[name]()` and answers on stdin.
* `cli_token(sb, sub)` mints a JWT with `python -m sandbox.token` for a sandbox's data dir.
* `run_as(db_url, sub, query, ...)` runs one statement as a user (role, claims), like PostgREST.
* `check_profile(sb, name, env)` runs `python -m monitor check --config profiles/<name>.toml`
  against a running sandbox and returns its summary.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt as pyjwt
import psycopg2
import pytest
from node_process import run_node_script
from wire import Wire

from monitor.config import load_config
from sandbox.filters import parse_filter
from sandbox.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
REST_AVAILABLE = (ROOT / "sandbox" / "rest" / "__init__.py").exists()
needs_rest = pytest.mark.skipif(
    not REST_AVAILABLE, reason="needs the sandbox's PostgREST subset (sandbox/rest/)"
)
PC_CONFIG = {
    "broadcast": {"ack": False, "self": False},
    "presence": {"key": "", "enabled": False},
    "private": False,
}
# the env variables the profiles read their user's JWT from, and whose JWT that is
PROFILE_TOKENS = {
    "ecotrips": {},
    "layer5": {"LAYER5_USER_JWT": "50000000-0000-4000-8000-000000000001"},
    "tripsage": {"TRIPSAGE_USER_JWT": "20000000-0000-4000-8000-000000000001"},
    "homeser": {"HOMESER_CUSTOMER_JWT": "30000000-0000-4000-8000-000000000001"},
    "organiser": {},
}


# --- helpers ----------------------------------------------------------------------------------


def run_flow(
    node: str,
    script: str,
    flow: str,
    cfg: dict[str, Any],
    *,
    steps: dict[str, Callable[[], None]] | None = None,
    timeout: float = 40,
) -> dict[str, Any]:
    """Run `node <script> <flow> <cfg>`; act at each STEP line; return the RESULT object."""
    steps = steps or {}
    done: list[str] = []

    def on_line(line: str, stdin) -> None:
        if line.startswith("STEP "):
            name = line[len("STEP ") :]
            steps[name]()
            done.append(name)
            stdin.write("done\n")
            stdin.flush()

    result = run_node_script(
        node,
        [script, flow, json.dumps(cfg)],
        on_line=on_line,
        timeout=timeout,
        label=f"{script} {flow}",
    )
    assert sorted(done) == sorted(steps), f"steps run {done}, expected {sorted(steps)}"
    return result


def data_dir(sb) -> str:
    return sb.args[sb.args.index("--data-dir") + 1]


def cli_token(sb, sub: str | None = None, *extra: str) -> str:
    """A JWT from `python -m sandbox.token` for this sandbox (its data dir holds the secret)."""
    args = [sys.executable, "-m", "sandbox.token", "--data-dir", data_dir(sb)]
    if sub:
        args += ["--sub", sub]
    out = subprocess.run(args + list(extra), cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_as(db_url: str, sub: str | None, query: str, *args: Any, role: str = "authenticated"):
    """One statement as a JWT's role and claims (PostgREST's settings); commits; rows or count."""
    claims = {"role": role, **({"sub": sub} if sub else {})}
    conn = psycopg2.connect(db_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "select set_config('request.jwt.claims', %s, true), "
                "set_config('request.jwt.claim.sub', %s, true)",
                (json.dumps(claims), sub or ""),
            )
            cur.execute(f"set local role {role}")
            cur.execute(query, args or None)
            return cur.fetchall() if cur.description else cur.rowcount
    finally:
        conn.close()


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


def new_id() -> str:
    return str(uuid.uuid4())


def check_profile(sb, name: str, seconds: float = 10, env: dict[str, str] | None = None):
    """`python -m monitor check --config profiles/<name>.toml` against `sb`; returns the body."""
    full_env = {
        **os.environ,
        "SUPABASE_URL": sb.url,
        "SUPABASE_ANON_KEY": sb.anon_key,
        **(env or {}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "summary.json"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor",
                "check",
                "--config",
                str(PROFILES / f"{name}.toml"),
                "--for",
                f"{seconds}s",
                "--json-out",
                str(out),
            ],
            cwd=ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        assert out.exists(), f"monitor check exited {proc.returncode}:\n{proc.stderr[-3000:]}"
        body = json.loads(out.read_text())
    body["returncode"] = proc.returncode
    body["stderr"] = proc.stderr
    return body


def record_profile(
    sb,
    name: str,
    seconds: float = 10,
    env: dict[str, str] | None = None,
    during: Callable[[], None] | None = None,
    after: float = 4.0,
) -> list[dict[str, Any]]:
    """`python -m monitor record --config profiles/<name>.toml` against `sb`: every record the
    monitor took in (events, status and subscription changes). `during()` runs `after` seconds
    in, once the monitor has joined its channels."""
    full_env = {**os.environ, "SUPABASE_URL": sb.url, "SUPABASE_ANON_KEY": sb.anon_key}
    full_env.update(env or {})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "events.jsonl"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "record",
                "--config",
                str(PROFILES / f"{name}.toml"),
                "--out",
                str(out),
                "--for",
                f"{seconds}s",
            ],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            if during is not None:
                time.sleep(after)
                during()
            _, stderr = proc.communicate(timeout=seconds + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0 and out.exists(), f"monitor record failed:\n{stderr[-3000:]}"
        return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def profile_env(sb, name: str) -> dict[str, str]:
    """The profile's token variables, minted with the CLI for `sb`'s users."""
    return {var: cli_token(sb, sub) for var, sub in PROFILE_TOKENS[name].items()}


def channel_kinds(body: dict[str, Any], channel: str) -> dict[str, dict[str, int]]:
    return body["summary"]["messages"]["by_channel_kind_event"].get(channel, {})


def assert_all_subscribed(body: dict[str, Any], name: str) -> None:
    topics = [
        c["topic"] for c in tomllib.loads((PROFILES / f"{name}.toml").read_text())["channels"]
    ]
    states = body["summary"]["channels"]
    for topic in topics:
        assert states.get(topic, {}).get("state") == "SUBSCRIBED", (
            topic,
            states.get(topic),
            body["stderr"][-2000:],
        )
    assert body["summary"]["connection"]["status"] == "connected", body["summary"]["connection"]


# --- the profiles -----------------------------------------------------------------------------


@pytest.fixture
def profile_tokens(monkeypatch, mint):
    """Export every profile's token variable, minted for the session sandbox."""
    for variables in PROFILE_TOKENS.values():
        for var, sub in variables.items():
            monkeypatch.setenv(var, mint("authenticated", sub=sub, aud="authenticated"))


@pytest.mark.parametrize("name", sorted(PROFILE_TOKENS))
def test_profile_is_a_valid_watch_config_of_published_tables(name, profile_tokens, sql):
    config = load_config(PROFILES / f"{name}.toml")
    assert config.uses_sandbox, "profiles leave [connection] url to the environment"
    assert config.sandbox.scenarios == [name]
    assert name in {s.name for s in SCENARIOS}
    assert config.channels, "a profile names its channels"
    for var in PROFILE_TOKENS[name]:
        assert config.connection.access_token == os.environ[var]
    published = {
        (s, t)
        for s, t in sql(
            "select schemaname, tablename from pg_publication_tables "
            "where pubname = 'supabase_realtime'"
        )
    }
    for channel in config.channels:
        for binding in channel.postgres_changes:
            assert (binding.schema, binding.table) in published, (channel.topic, binding)
            parse_filter(binding.filter or None)  # the sandbox's parser accepts it
        if channel.private:
            assert PROFILE_TOKENS[name], "a private channel needs a user's token"
    replica = config.live_slots
    columns = {
        r[0]
        for r in sql(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            replica.schema,
            replica.table,
        )
    }
    assert {replica.key, *replica.counters} <= columns, (replica, columns)


def test_profiles_without_their_token_say_what_to_export(monkeypatch):
    from monitor.config import ConfigError

    monkeypatch.delenv("TRIPSAGE_USER_JWT", raising=False)
    with pytest.raises(ConfigError, match=r"TRIPSAGE_USER_JWT.*export TRIPSAGE_USER_JWT"):
        load_config(PROFILES / "tripsage.toml")


def test_profiles_readme_names_every_profile_and_token():
    readme = (PROFILES / "README.md").read_text()
    for name, variables in PROFILE_TOKENS.items():
        assert f"profiles/{name}.toml" in readme
        for var, sub in variables.items():
            assert var in readme and sub in readme


# --- the token CLI ----------------------------------------------------------------------------


async def test_token_cli_mints_what_the_sandbox_accepts(sandbox):
    sub = "20000000-0000-4000-8000-000000000001"
    token = cli_token(sandbox, sub, "--ttl", "2h")
    claims = pyjwt.decode(token, sandbox.jwt_secret, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == sub and claims["role"] == "authenticated"
    assert 7190 <= claims["exp"] - claims["iat"] <= 7200
    service = pyjwt.decode(
        cli_token(sandbox, None, "--role", "service_role"),
        sandbox.jwt_secret,
        algorithms=["HS256"],
    )
    assert service["role"] == "service_role" and "sub" not in service
    # the token opens the subject's private TripSage topic, and only theirs
    w = await Wire.open(sandbox.url, sandbox.anon_key)
    try:
        _, ok = await w.join(f"user:{sub}", {"private": True}, access_token=token)
        assert ok["payload"]["status"] == "ok", ok
        other = "user:20000000-0000-4000-8000-000000000002"
        _, refused = await w.join(other, {"private": True}, access_token=token)
        assert refused["payload"] == {
            "status": "error",
            "response": {
                "reason": "Unauthorized: You do not have permissions to read from this "
                f"Channel topic: {other}"
            },
        }
    finally:
        await w.close()


def test_token_cli_refuses_a_user_token_without_sub_and_creates_a_missing_secret(tmp_path):
    args = [sys.executable, "-m", "sandbox.token", "--data-dir", str(tmp_path / "new")]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "--sub is required" in proc.stderr
    token = subprocess.run(
        [*args, "--sub", "u1"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    secret = json.loads((tmp_path / "new" / "sandbox.json").read_text())["jwt_secret"]
    assert (
        pyjwt.decode(token, secret, algorithms=["HS256"], audience="authenticated")["sub"] == "u1"
    )
    again = subprocess.run(
        [*args, "--sub", "u2"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert (
        pyjwt.decode(again, secret, algorithms=["HS256"], audience="authenticated")["sub"] == "u2"
    )


# --- the EcoTrips profile (EcoTrips' own flows are in test_ecotrips.py) ------------------------


async def test_ecotrips_profile_shows_live_slot_counters(fresh_sandbox):
    sb = fresh_sandbox("--demo", "--scenario", "ecotrips")
    body = check_profile(sb, "ecotrips", 10)
    assert_all_subscribed(body, "ecotrips")
    changes = channel_kinds(body, "group-live-slots").get("postgres_changes", {})
    assert changes.get("UPDATE", 0) >= 1, body["summary"]["messages"]
    replica = body["summary"]["replica"]
    assert replica and {r["key"] for r in replica} <= {
        "itn-andes-01",
        "itn-fjords-02",
        "itn-atlas-03",
        "itn-borneo-04",
    }
    assert all(
        r["presence_opt_in"] >= r["presence_visible"] >= r["presence_online"] for r in replica
    )
    assert body["returncode"] == 0, [a for a in body["alerts"] if a["level"] == "alert"]
    assert "Traceback" not in sb.log()


# --- the four seed scenarios together, through a server restart -------------------------------


async def test_seed_scenarios_run_together_and_recover_from_a_drain(fresh_sandbox):
    """All four seed scenarios at once: a drain (every socket closed, like a restart) does not
    crash them, and their simulated users come back on their own."""
    sb = fresh_sandbox(
        "--demo",
        *("--scenario", "layer5", "--scenario", "tripsage"),
        *("--scenario", "homeser", "--scenario", "organiser"),
    )
    await asyncio.sleep(3)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            sb.url + "/sandbox/v1/disconnect", headers={"apikey": sb.service_role_key}
        ) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["disconnected"] >= 8, "the scenarios' users were connected"
    drained_at = time.monotonic()

    async def stats() -> dict[str, int]:
        async with aiohttp.ClientSession() as http, http.get(sb.url + "/sandbox/v1/stats") as r:
            return await r.json()

    # Layer 5 and the organisers each keep at least two people online; TripSage reopens on send
    deadline = drained_at + 25
    while (await stats())["presence_members"] < 4:
        assert time.monotonic() < deadline, f"presence not back within 25 s: {await stats()}"
        await asyncio.sleep(0.5)
    before = (await stats())["broadcasts_in"]
    await asyncio.sleep(3)
    assert (await stats())["broadcasts_in"] > before, "cursors and chat flow again"
    log = sb.log()
    assert "Traceback" not in log and "failed; restarting" not in log, log[-3000:]
    assert sb.proc.poll() is None
