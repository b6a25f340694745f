"""The `[auth]` table: how the watch keeps its user token fresh, and the errors that name the key
and the fix when a method lacks what it needs or a secret is set for a method not chosen."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from feeds.settings import AuthConfig, FeedConfig
from monitor.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_project(monkeypatch):
    for var in ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_KEY", "REALTIME_MONITOR_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def load(tmp_path: Path, text: str):
    path = tmp_path / "watch.toml"
    path.write_text(text)
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value.problems


def test_defaults_refresh_nothing():
    auth = FeedConfig().auth
    assert auth == AuthConfig()
    assert (auth.refresh, auth.refresh_token, auth.command, auth.service_role_key) == (
        "none",
        "",
        "",
        "",
    )
    assert (auth.refresh_before_s, auth.retry_s) == (60.0, 5.0)


def test_example_documents_every_key():
    text = (ROOT / "watch.example.toml").read_text()
    section = text.split("\n[auth]", 1)[1].split("\n[", 1)[0]
    for key in AuthConfig.model_fields:
        assert f"{key} = " in section, key


@pytest.mark.parametrize(
    "table, expected",
    [
        ('refresh = "gotrue"\nrefresh_token = "rt-1"', ("gotrue", "rt-1", "", "")),
        ('refresh = "command"\ncommand = "echo x"', ("command", "", "echo x", "")),
        ('refresh = "service_role"\nservice_role_key = "srk"', ("service_role", "", "", "srk")),
    ],
)
def test_each_method_loads_with_its_key(tmp_path, table, expected):
    auth = load(tmp_path, f"[auth]\n{table}\nrefresh_before_s = 30\nretry_s = 0.5\n").auth
    assert (auth.refresh, auth.refresh_token, auth.command, auth.service_role_key) == expected
    assert (auth.refresh_before_s, auth.retry_s) == (30.0, 0.5)


def test_secrets_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_REFRESH", "from-env")
    auth = load(tmp_path, '[auth]\nrefresh = "gotrue"\nrefresh_token = "${MY_REFRESH}"\n').auth
    assert auth.refresh_token == "from-env"


@pytest.mark.parametrize(
    "table, message",
    [
        (
            'refresh = "gotrue"',
            'auth.refresh_token is missing: refresh = "gotrue" trades a session\'s refresh token',
        ),
        ('refresh = "command"', 'auth.command is missing: refresh = "command" runs it'),
        ('refresh = "command"\ncommand = "   "', "auth.command is missing"),
        (
            'refresh = "service_role"',
            'auth.service_role_key is missing: refresh = "service_role" uses it',
        ),
        (
            'refresh_token = "rt"',
            'auth.refresh_token is set, but refresh = "none" never reads it: write '
            'refresh = "gotrue" to use it, or remove refresh_token',
        ),
        (
            'refresh = "gotrue"\nrefresh_token = "rt"\nservice_role_key = "k"',
            'auth.service_role_key is set, but refresh = "gotrue" never reads it: write '
            'refresh = "service_role"',
        ),
        ('refresh = "oauth"', "auth.refresh: Input should be 'none', 'gotrue', 'command' or"),
        ("refresh_before_s = -1", "auth.refresh_before_s must not be negative, got -1"),
        ("retry_s = 0", "auth.retry_s must be greater than 0, got 0"),
        ("retry_s = '5'", "auth.retry_s must be a number, got '5'"),
        ("refresh_tokn = 'x'", "unknown key 'refresh_tokn' in [auth]; allowed: command, refresh"),
    ],
)
def test_bad_auth_names_the_key_and_the_fix(tmp_path, table, message):
    found = problems(tmp_path, f"[auth]\n{table}\n")
    assert len(found) == 1, found
    assert message in found[0], found


def test_every_stray_secret_is_listed(tmp_path):
    found = problems(tmp_path, '[auth]\ncommand = "echo"\nservice_role_key = "k"\n')
    assert [p.split(" is set")[0] for p in found] == ["auth.command", "auth.service_role_key"]


def test_the_method_and_its_key_can_be_assigned_one_after_the_other():
    """Like [connection] url and key: choosing the method first must not fail in between."""
    auth = AuthConfig()
    auth.refresh = "gotrue"
    auth.refresh_token = "rt"
    assert (auth.refresh, auth.refresh_token) == ("gotrue", "rt")
    with pytest.raises(ValidationError, match="is missing"):
        auth.refresh_token = ""
    with pytest.raises(ValidationError, match="is missing"):
        AuthConfig(refresh="command")
