"""Several projects in one watch config (issue 13, scope 5): [[projects]] parse into one complete
config each, inherit the top level's per-project sections key by key but never a project's
identity, and every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.store import Store
from monitor import prometheus
from monitor.config import ConfigError, WatchConfig, load_config, store_params

TWO = """
[connection]
timeout_s = 4
[quota]
plan = "pro"
[probes.broadcast]
interval_s = 2.0
[[channels]]
topic = "orders"
[alerts]
uptime_min = 0.95
[dashboard]
title = "Ops"

[[projects]]
name = "production"
[projects.connection]
url = "https://prod.supabase.co"
key = "prod-key"

[[projects]]
name = "staging"
[projects.connection]
url = "https://staging.supabase.co"
key = "staging-key"
backoff_max_s = 3
[projects.quota]
plan = "free"
[[projects.channels]]
topic = "orders-staging"
[[projects.channels]]
topic = "chat"
private = true
"""


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    for var in ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_KEY", "REALTIME_MONITOR_CONFIG"):
        monkeypatch.delenv(var, raising=False)


def load(tmp_path: Path, text: str) -> WatchConfig:
    path = tmp_path / "watch.toml"
    path.write_text(text)
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value.problems


def test_each_project_is_a_complete_config_with_the_shared_sections(tmp_path):
    config = load(tmp_path, TWO)
    prod, staging = config.per_project()
    assert (prod.project, staging.project) == ("production", "staging")
    assert (prod.connection.url, prod.connection.key) == ("https://prod.supabase.co", "prod-key")
    assert staging.connection.key == "staging-key"
    # inherited key by key: staging's own backoff_max_s, the top level's timeout_s
    assert prod.connection.timeout_s == staging.connection.timeout_s == 4
    assert (prod.connection.backoff_max_s, staging.connection.backoff_max_s) == (1.2, 3)
    assert prod.probes.broadcast.interval_s == staging.probes.broadcast.interval_s == 2.0
    # a list is replaced whole, a table merged
    assert [c.topic for c in prod.channels] == ["orders"]
    assert [c.topic for c in staging.channels] == ["orders-staging", "chat"]
    assert (prod.quota.plan, staging.quota.plan) == ("pro", "free")
    # shared: the same alerts and dashboard for both; each per-project config has no projects
    assert prod.alerts.uptime_min == staging.alerts.uptime_min == 0.95
    assert prod.dashboard.title == staging.dashboard.title == "Ops"
    assert prod.projects == staging.projects == []
    assert not prod.uses_sandbox and not staging.uses_sandbox
    # each labels its own series and sizes its own store
    assert [prometheus.project_label(c) for c in (prod, staging)] == ["production", "staging"]
    assert Store(**store_params(staging)).window_s == staging.buffers.window_s
    assert config.source == prod.source == str(tmp_path / "watch.toml")


def test_without_projects_the_file_is_its_own_single_project(tmp_path, monkeypatch):
    config = load(tmp_path, "[connection]\nurl = 'https://abc.supabase.co'\nkey = 'k'\n")
    assert config.per_project() == [config]
    assert config.project == ""
    assert prometheus.project_label(config) == "abc.supabase.co"  # the label it always had
    monkeypatch.chdir(tmp_path / "..")
    zero = load_config()  # no file at all: the sandbox, labelled as before
    assert zero.per_project() == [zero] and prometheus.project_label(zero) == "sandbox"


def test_a_project_without_a_url_gets_a_sandbox_and_the_environment_is_not_read(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("SUPABASE_URL", "https://from-env.supabase.co")
    monkeypatch.setenv("SUPABASE_ANON_KEY", "env-key")
    config = load(tmp_path, "[[projects]]\nname = 'demo-a'\n[[projects]]\nname = 'demo-b'\n")
    a, b = config.per_project()
    assert a.uses_sandbox and b.uses_sandbox
    assert a.connection.key == b.connection.key == ""


def test_environment_references_work_inside_projects(tmp_path, monkeypatch):
    monkeypatch.setenv("PROD_KEY", "secret")
    config = load(
        tmp_path,
        "[[projects]]\nname = 'p'\n[projects.connection]\n"
        "url = 'https://p.supabase.co'\nkey = '${PROD_KEY}'\n",
    )
    assert config.per_project()[0].connection.key == "secret"


def test_duplicate_names_are_refused_with_the_fix(tmp_path):
    found = problems(
        tmp_path,
        "[[projects]]\nname = 'eu'\n[[projects]]\nname = 'us'\n[[projects]]\nname = 'EU'\n",
    )
    assert found == [
        "projects[2].name 'EU' is already the name of projects[0]: give each project its own "
        "name (it selects the project in ?project= and in /metrics)"
    ]


def test_two_sandboxes_may_not_share_a_data_dir(tmp_path):
    found = problems(
        tmp_path,
        "[sandbox]\ndata_dir = '/var/lib/sb'\n[[projects]]\nname = 'a'\n[[projects]]\nname = 'b'\n",
    )
    assert len(found) == 1 and found[0].startswith(
        "projects[1].sandbox.data_dir '/var/lib/sb' is also the sandbox directory of projects[0]"
    ), found
    ok = load(
        tmp_path,
        "[[projects]]\nname = 'a'\n[projects.sandbox]\ndata_dir = '/a'\n"
        "[[projects]]\nname = 'b'\n[projects.sandbox]\ndata_dir = '/b'\n",
    )
    assert [c.sandbox.data_dir for c in ok.per_project()] == ["/a", "/b"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[[projects]]\n", ["projects[0].name is missing: name the project"]),
        ("[[projects]]\nname = 'a b'\n", ["projects[0].name must be 1-40 letters, digits"]),
        (
            "[[projects]]\nname = 'a'\n[projects.connection]\nurl = 'ftp://x'\nkey = 'k'\n",
            ["projects[0].connection.url must start with https://"],
        ),
        (
            "[[projects]]\nname = 'a'\n[[projects]]\nname = 'b'\n"
            "[projects.connection]\nurl = 'https://b.supabase.co'\n",
            ["projects[1].connection.key is missing"],
        ),
        (
            "[[projects]]\nname = 'a'\n[projects.probes.broadcast]\nintervall = 1\n",
            [
                "unknown key 'intervall' in [projects[0].probes.broadcast]; allowed: enabled, "
                "interval_s, reconnect_after_timeouts, timeout_s (did you mean 'interval_s'?)"
            ],
        ),
        (
            "[[projects]]\nname = 'a'\n[projects.alerts]\nuptime_min = 0.9\n",
            ["projects[0].alerts: [alerts] is shared by every project; write it at the top level"],
        ),
        (
            "[[projects]]\nname = 'a'\ntitle = 'x'\n",
            ["unknown key 'title' in [projects[0]]; allowed: auth, channels, connection"],
        ),
        (
            "[[projects]]\nname = 'a'\n[[projects.channels]]\ntopic = 'x'\n"
            "[[projects.channels]]\ntopic = 'x'\n",
            ["projects[0].channels[1].topic 'x' is listed twice"],
        ),
        ("projects = 'a'\n", ["projects must be a list"]),
    ],
)
def test_errors_name_the_key_inside_the_project(tmp_path, text, expected):
    found = problems(tmp_path, text)
    assert len(found) == len(expected), found
    for want, got in zip(expected, found, strict=True):
        assert got.startswith(want), (want, got)


def test_an_inherited_mistake_is_reported_once_where_it_is_written(tmp_path):
    """Three projects inherit [connection] timeout_s = 0: one problem, at the top-level key the
    user wrote, not three under paths the file does not have."""
    text = "[connection]\ntimeout_s = 0\n" + "".join(
        f"[[projects]]\nname = 'p{i}'\n" for i in range(3)
    )
    assert problems(tmp_path, text) == ["connection.timeout_s must be greater than 0, got 0"]


@pytest.mark.parametrize(
    "top, key",
    [
        ("[connection]\nurl = 'https://x.supabase.co'\nkey = 'k'\n", "connection.url"),
        ("[connection]\naccess_token = 'jwt'\n", "connection.access_token"),
        ("[probes.database]\ndb_url = 'postgresql://x'\n", "probes.database.db_url"),
        ("[auth]\nrefresh = 'command'\ncommand = 'x'\n", "[auth]"),
    ],
)
def test_a_projects_identity_at_the_top_level_is_refused(tmp_path, top, key):
    """Inheriting a URL, a key or a token would watch one project under another's name or send
    one project's secret to another; next to [[projects]] they are refused with the fix."""
    found = problems(tmp_path, top + "[[projects]]\nname = 'a'\n")
    assert found[0].startswith(f"{key} is set at the top level, but"), found
    assert "[[projects]]" in found[0]


def test_the_watch_example_documents_a_projects_list_that_loads(tmp_path, monkeypatch):
    """The commented [[projects]] example in watch.example.toml, uncommented, is valid."""
    for var in ("PROD_SUPABASE_URL", "STAGING_SUPABASE_URL"):
        monkeypatch.setenv(var, f"https://{var[:4].lower()}.supabase.co")
    for var in ("PROD_SUPABASE_ANON_KEY", "STAGING_SUPABASE_ANON_KEY"):
        monkeypatch.setenv(var, "k")
    example = (Path(__file__).resolve().parents[2] / "watch.example.toml").read_text()
    lines = example[example.index("# [[projects]]") :].splitlines()
    block = []
    for line in lines:  # the example runs to the first line that is not a comment
        if not line.startswith("# "):
            break
        block.append(line[2:])
    shared = "[alerts]\nuptime_min = 0.99\n"
    config = load(tmp_path, shared + "\n".join(block) + "\n")
    names = [c.project for c in config.per_project()]
    assert len(names) >= 2 and len(set(names)) == len(names)


def test_a_headless_command_watches_the_project_it_is_given(tmp_path):
    """record and replay keep one project: the only one, or --project NAME; check takes them
    all unless --project picks one."""
    from monitor.headless import one_project

    config = load(tmp_path, TWO)
    assert one_project(config, "staging").connection.key == "staging-key"
    with pytest.raises(ConfigError, match=r"lists 2 projects \(production, staging\): choose one"):
        one_project(config, None)  # record and replay keep one project's stream
    assert one_project(config, None, every=True) is config  # check watches them all
    assert one_project(config, "production", every=True).project == "production"
    with pytest.raises(ConfigError, match="--project nope: no such project; its projects are"):
        one_project(config, "nope")
    single = load(tmp_path, "[[channels]]\ntopic = 'a'\n")
    assert one_project(single, None) is single
    with pytest.raises(ConfigError, match="it has no \\[\\[projects\\]\\]"):
        one_project(single, "x")
