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


def test_an_expired_user_token_fails_the_check_with_auth_expired_on_every_channel(tmp_path):
    data = tmp_path / "sandbox"
    profile = (ROOT / "profiles" / "tripsage.toml").read_text()
    profile = profile.replace("[sandbox]\n", f'[sandbox]\ndata_dir = "{data}"\n', 1)
    config = tmp_path / "tripsage.toml"
    config.write_text(profile)
    token = subprocess.run(
        [sys.executable, "-m", "sandbox.token", "--sub", ANA, "--ttl", "6s", "--data-dir", data],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "--config", str(config), "--for", "15s"],
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
    assert expired == watched and len(watched) == 3
    assert "ALERT incidents: 3 open incident(s): auth.expired" in result.stderr
    connection = body["summary"]["connection"]
    assert connection["status"] == "connected" and connection["reconnects_total"] == 0
    assert connection["uptime"] < connection["socket_uptime"]
    assert all(ch["state"] != "SUBSCRIBED" for ch in body["summary"]["channels"].values())


def _channels(profile: str) -> list[dict]:
    import tomllib

    return tomllib.loads(profile)["channels"]
