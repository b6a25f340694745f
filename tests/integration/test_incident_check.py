"""The headline must not say healthy while every watched channel is dead (issue 12).

TripSage's profile watches three private channels with a user's token. With a short-lived token
and no refresh method, `python -m monitor check` must name an `auth.expired` incident on each of
the three channels and exit 1, while the socket itself stays up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANA = "20000000-0000-4000-8000-000000000001"


def test_an_expired_user_token_fails_the_check_with_auth_expired_on_every_channel(
    fresh_sandbox, tmp_path
):
    # The test starts the sandbox itself and mints the token once it is up: the token must
    # expire while the channels are joined. Minted before a bundled sandbox's start, a loaded
    # machine spent its 6 s starting PostgreSQL, every join was refused at once, and those
    # refusals (held 5 s each, as Supabase holds them) outlasted the check.
    sb = fresh_sandbox("--demo", "--scenario", "tripsage")
    profile = (ROOT / "profiles" / "tripsage.toml").read_text()
    token = subprocess.run(
        [sys.executable, "-m", "sandbox.token", "--sub", ANA, "--ttl", "6s"]
        + ["--jwt-secret", sb.jwt_secret],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    config = tmp_path / "tripsage.toml"
    config.write_text(
        profile.replace(
            "[connection]\n", f'[connection]\nurl = "{sb.url}"\nkey = "{sb.anon_key}"\n', 1
        )
    )
    # The check runs 20 s: the token dies at most 6 s in, so its channels are down for 14 s or
    # more, past the 10 s grace the headline uptime forgives a channel (`metrics.health`). With
    # 15 s a quick start left them down 10 s, forgiven, and the uptime read 1.0.
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(config), "--for", "20s"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TRIPSAGE_USER_JWT": token},
    )
    body = json.loads(result.stdout)
    assert result.returncode == 1, result.stderr
    expired = {
        i["channel"] for i in body["incidents"] if i["class"] == "auth.expired" and i["open"]
    }
    watched = {c["topic"] for c in _channels(profile)}
    seen = [(i["channel"], i["class"], i["open"], i.get("message")) for i in body["incidents"]]
    assert expired == watched and len(watched) == 3, seen
    assert "ALERT incidents: 3 open incident(s): auth.expired" in result.stderr
    connection = body["summary"]["connection"]
    assert connection["status"] == "connected" and connection["reconnects_total"] == 0
    assert connection["uptime"] < connection["socket_uptime"]
    assert all(ch["state"] != "SUBSCRIBED" for ch in body["summary"]["channels"].values())


def _channels(profile: str) -> list[dict]:
    import tomllib

    return tomllib.loads(profile)["channels"]
