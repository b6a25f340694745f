"""The watch config: defaults, env references, and errors that name the key and the fix."""

from pathlib import Path

import pytest

from feeds.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "watch.toml"
    p.write_text(text)
    return p


def test_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("SUPABASE_URL", "https://abc.supabase.co")
    monkeypatch.setenv("SUPABASE_ANON_KEY", "k")
    cfg = load_config(ROOT / "watch.example.toml")
    assert cfg.connection.url == "https://abc.supabase.co" and cfg.connection.key == "k"
    assert [c.topic for c in cfg.channels] == [
        "group-live-slots",
        "user-presence",
        "document:roadmap",
    ]
    assert cfg.channels[0].postgres_changes[0].schema == "group"
    assert cfg.channels[2].broadcast == ["cursor-move"]
    assert not cfg.uses_sandbox


def test_no_config_means_the_sandbox_demo(monkeypatch, tmp_path):
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.delenv("REALTIME_MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.uses_sandbox and cfg.source == "defaults"
    topics = {c.topic for c in cfg.channels}
    assert {
        "demo",
        "demo-presence",
        "demo-rows",
        "group-live-slots",
        "task-updates",
        "user-presence",
        "bookings-changes",
        "trips-changes",
        "organisers",
    } <= topics
    assert any(c.private for c in cfg.channels)  # a TripSage session


def test_environment_fallbacks(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPABASE_URL", "https://x.supabase.co")
    monkeypatch.setenv("SUPABASE_ANON_KEY", "anon")
    cfg = load_config(write(tmp_path, "[[channels]]\ntopic = 'a'\n"))
    assert (cfg.connection.url, cfg.connection.key) == ("https://x.supabase.co", "anon")


@pytest.mark.parametrize(
    "text, message",
    [
        ("[connection]\nurll = 'x'\n", "unknown key 'urll' in [connection]; allowed: access_token"),
        (
            "[[channels]]\ntopic = 'a'\nprivate = 'yes'\n",
            "channels[0].private must be true or false",
        ),
        ("[[channels]]\nprivate = true\n", "channels[0].topic is missing"),
        ("[[channels]]\ntopic = 'realtime:a'\n", "must not start with 'realtime:'"),
        ("[[channels]]\ntopic = 'a'\n[[channels]]\ntopic = 'a'\n", "is listed twice"),
        (
            "[[channels]]\ntopic = 'a'\n"
            "[[channels.postgres_changes]]\nevent = 'UPSERT'\ntable = 't'\n",
            "channels[0].postgres_changes[0].event must be one of",
        ),
        ("[connection]\nurl = 'https://x.supabase.co'\n", "connection.key is missing"),
        ("[connection]\nurl = 'ftp://x'\nkey = 'k'\n", "connection.url must start with"),
        ("[alerts]\nuptime_min = 99\n", "alerts.uptime_min is a fraction between 0 and 1"),
        ("[buffers]\nraw_events = 'many'\n", "buffers.raw_events must be an integer"),
        ("[connection]\nkey = '${NOPE_NOT_SET}'\n", "refers to ${NOPE_NOT_SET}, which is not set"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_configs_name_the_key(monkeypatch, tmp_path, text, message):
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.delenv("SUPABASE_ANON_KEY", raising=False)
    monkeypatch.delenv("SUPABASE_KEY", raising=False)
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)
    assert str(tmp_path / "watch.toml") in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml")
