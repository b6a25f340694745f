"""The watch config: defaults, env references, and errors that name the key and the fix."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from dashboards.settings import DashboardConfig
from feeds.monitor import sandbox_channels
from feeds.sandbox_child import fetch_watch
from feeds.settings import ChannelConfig, ConnectionConfig, FeedConfig, feed_channels
from metrics.settings import AlertsConfig, BuffersConfig
from metrics.store import Store
from monitor.config import ConfigError, WatchConfig, load_config, store_params

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


def test_no_config_means_the_sandbox_and_its_channels(monkeypatch, tmp_path):
    """No file, no URL: the sandbox is started, and the channels are the ones it suggests (the
    demo's topics belong to the sandbox; `Monitor.start()` adopts them)."""
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    monkeypatch.delenv("REALTIME_MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.uses_sandbox and cfg.source == "defaults"
    assert cfg.channels == []


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


def test_every_problem_is_listed_at_once_with_its_dotted_path(monkeypatch, tmp_path):
    monkeypatch.delenv("SUPABASE_URL", raising=False)
    text = (
        "[connection]\ntimeout_s = 0\n"
        "[[channels]]\ntopic = 'a'\n"
        "[[channels]]\ntopic = 'b'\n"
        "[[channels.postgres_changes]]\ntable = 't'\n"
        "[[channels.postgres_changes]]\nevent = 'upsert'\n"
        "[probes.broadcast]\nintervall = 1\n"
        "[dashboard]\nupdate_ms = 100\nchart_ms = 50\n"
        "[sandbox]\nrate = true\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    problems = info.value.problems
    assert len(problems) == 5, problems
    expected = [
        "connection.timeout_s must be greater than 0, got 0",
        "channels[1].postgres_changes[1].event must be one of *, INSERT, UPDATE, DELETE, "
        "got 'upsert'",
        "unknown key 'intervall' in [probes.broadcast]; allowed: enabled, interval_s, "
        "reconnect_after_timeouts, timeout_s (did you mean 'interval_s'?)",
        "dashboard.chart_ms must be at least update_ms (100), got 50",
        "sandbox.rate must be a number, got true",
    ]
    for want in expected:
        assert any(p.startswith(want) for p in problems), (want, problems)


def test_each_duplicate_topic_and_the_channel_cap_are_named(monkeypatch, tmp_path):
    text = "".join(f"[[channels]]\ntopic = '{t}'\n" for t in ["a", "b", "a", "b"])
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert [p.split(" ", 1)[0] for p in info.value.problems] == [
        "channels[2].topic",
        "channels[3].topic",
    ]
    many = "".join(f"[[channels]]\ntopic = 't{i}'\n" for i in range(100))
    with pytest.raises(ConfigError, match="channels lists 100, at most 99"):
        load_config(write(tmp_path, many))


def test_the_loader_fills_source_a_file_may_not(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'source' in the top level"):
        load_config(write(tmp_path, "source = 'x'\n"))


def test_sections_belong_to_their_layers_and_check_assignments():
    cfg = WatchConfig()
    assert isinstance(cfg, FeedConfig)
    assert isinstance(cfg.alerts, AlertsConfig) and isinstance(cfg.dashboard, DashboardConfig)
    # url then key, one after the other (as tests and notebooks do), must not fail in between
    cfg.connection.url, cfg.connection.key = "http://127.0.0.1:1", "k"
    cfg.probes.broadcast.interval_s = 1  # an integer is a number
    with pytest.raises(ValidationError):
        cfg.probes.broadcast.interval_s = 0
    with pytest.raises(ValidationError):
        cfg.channels = [ChannelConfig(topic="x"), ChannelConfig(topic="x")]
    with pytest.raises(ValidationError, match="is missing"):
        ConnectionConfig(url="https://x.supabase.co")
    assert (
        ChannelConfig(topic="t", postgres_changes=[{"event": "insert"}]).postgres_changes[0].event
        == "INSERT"
    )


def test_store_params_size_the_store_from_buffers_and_live_slots(tmp_path):
    cfg = load_config(
        write(
            tmp_path,
            "[buffers]\nraw_events = 50\nwindow_s = 60\n"
            "[live_slots]\nschema = 's'\ntable = 't'\nkey = 'k'\ncounters = ['c']\n",
        )
    )
    params = store_params(cfg, window_s=5.0)
    assert params["raw_events"] == 50 and params["window_s"] == 5.0
    store = Store(**params)
    assert (store.replica_schema, store.replica_table, store.replica_key) == ("s", "t", "k")
    assert store.replica_counters == ["c"]
    assert BuffersConfig().raw_events == Store(**store_params(WatchConfig())).raw_events


# --- the channels the sandbox suggests ----------------------------------------------------------

SUGGESTED = [
    {
        "topic": "demo",
        "private": False,
        "presence": False,
        "presence_key": "",
        "broadcast": ["*"],
        "postgres_changes": [],
    },
    {
        "topic": "demo-rows",
        "private": False,
        "presence": False,
        "presence_key": "",
        "broadcast": [],
        "postgres_changes": [
            {"schema": "public", "table": "demo_items", "event": "*", "filter": ""}
        ],
    },
]


def test_suggested_channels_are_checked_like_the_file():
    channels = sandbox_channels(SimpleNamespace(watch=SUGGESTED))
    assert [c.topic for c in channels] == ["demo", "demo-rows"]
    assert channels[1].postgres_changes[0].table == "demo_items"
    assert feed_channels([]) == []
    with pytest.raises(ValueError, match="not valid"):
        sandbox_channels(SimpleNamespace(watch=[{"topic": "a"}, {"topic": "a"}]))


def test_a_sandbox_without_the_ready_key_is_asked_over_http():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            found = self.path == "/sandbox/v1/watch"
            body = json.dumps(SUGGESTED if found else {"error": "no"}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert fetch_watch(url) == SUGGESTED
        assert fetch_watch(url + "/elsewhere") == []  # 404: no suggestion, not a crash
    finally:
        server.shutdown()
        server.server_close()
