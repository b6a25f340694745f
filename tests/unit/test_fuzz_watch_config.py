"""Hostile watch configs: whatever a watch.toml holds, loading it gives a WatchConfig or one
ConfigError whose problems each name what is wrong, never a traceback.

The files are written from random TOML-ish tables (the real section and key names mixed with
made-up ones, any value type in any place), plus arbitrary bytes. Found inputs are `@example`s.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.config import ConfigError, WatchConfig, load_config

FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KEYS = [
    "connection", "url", "key", "access_token", "timeout_s", "heartbeat_s", "backoff_max_s",
    "auth", "refresh", "sandbox", "demo", "rate", "scenarios", "channels", "topic", "presence",
    "broadcast", "postgres_changes", "event", "schema", "table", "filter", "probes", "database",
    "enabled", "interval_s", "db_url", "alerts", "uptime_min", "buffers", "dashboard",
    "live_slots", "counters", "quota", "plan", "projects", "name", "notify", "webhooks", "source",
]  # fmt: skip

scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["${HOME}", "${NOT_SET_ANYWHERE_42}", "*", "INSERT", "pro", "<script>"])
)
keys = st.sampled_from(KEYS) | st.text(min_size=1, max_size=8)
tables = st.recursive(
    st.dictionaries(keys, scalars, max_size=4),
    lambda inner: st.dictionaries(
        keys,
        scalars | inner | st.lists(inner, max_size=2) | st.lists(scalars, max_size=3),
        max_size=4,
    ),
    max_leaves=12,
)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return (
            "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        )
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string, mostly
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{toml_value(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def toml(table: dict) -> str:
    return "".join(f"{toml_value(k)} = {toml_value(v)}\n" for k, v in table.items())


def keys_in(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_in(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_in(v)}
    return set()


def load(text: str | bytes, names: set[str] | None = None) -> None:
    """Load `text` as a watch.toml; a refusal must be a ConfigError whose every problem names
    one of `names` (the file's keys), or says the file is not TOML at all."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "watch.toml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        try:
            config = load_config(path)
        except ConfigError as err:
            assert err.problems and all(isinstance(p, str) and p for p in err.problems)
            assert str(path) in str(err)
            for problem in err.problems if names is not None else ():
                whole_file = problem.startswith(("not valid TOML", "the file"))
                assert whole_file or any(k in problem for k in names), problem
            return
    assert isinstance(config, WatchConfig)


@pytest.fixture(autouse=True)
def _no_project_from_the_environment(monkeypatch):
    for var in ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_KEY", "REALTIME_MONITOR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    assert "NOT_SET_ANYWHERE_42" not in os.environ


@FUZZ
@given(tables)
@example({"channels": [{"topic": "a", "postgres_changes": [{"event": 5}]}]})
@example({"projects": [{"name": "a", "connection": {"url": "x"}}], "connection": {"url": 1}})
@example({"projects": "nope", "auth": {"refresh": "gotrue"}})
@example({"connection": {"url": "${NOT_SET_ANYWHERE_42}"}, "source": "x"})
@example({"projects": [{"name": "a", "channels": [{"topic": {}}]}], "channels": [1]})
def test_any_table_loads_or_names_its_problems(table: dict) -> None:
    load(toml(table), keys_in(table))


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_load_or_are_refused(raw: bytes) -> None:
    load(raw)


@pytest.mark.parametrize(
    "raw",
    [b'[connection]\nurl = "\xff"\n', b"a = " + b"[" * 500 + b"]" * 500],
    ids=["not-utf8", "500-levels"],
)
def test_files_tomllib_cannot_read_are_config_errors(raw: bytes) -> None:
    """Found by the fuzzing: each raised UnicodeDecodeError or RecursionError at start."""
    load(raw)


def test_a_path_that_cannot_be_read_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path)  # a directory
