"""The watch config: every layer's sections in one file, loaded and checked once at start.

`WatchConfig` stacks the sections each layer owns (feeds: connection, sandbox, channels, probes;
metrics: alerts, buffers, live_slots, quota; dashboards: dashboard) so that each layer reads only
its own and the layering stays one-way. `watch.example.toml` documents every key.

Loading is a file concern, so it lives here and not on the models: the lookup
($REALTIME_MONITOR_CONFIG, ./watch.toml, defaults), `${VAR}` references, and the fallbacks to
SUPABASE_URL and SUPABASE_ANON_KEY (or SUPABASE_KEY). With no URL at all the monitor starts the
bundled sandbox, which also names the channels to watch when the file lists none.

A bad config fails at start with one `ConfigError` listing every problem, each naming the key as a
dotted path (`channels[1].postgres_changes[0].event`), what is wrong and the fix. Pydantic finds
them in one pass; `describe()` puts its errors in a user's words.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, Field, ValidationError

from dashboards.settings import DashboardConfig
from feeds.settings import FeedConfig, Problems
from metrics.settings import AlertsConfig, BuffersConfig, LiveSlotsConfig, QuotaConfig

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
NOT_IN_FILE = frozenset({"source"})  # fields the loader fills, never read from a file


class ConfigError(ValueError):
    """Every problem found in a config file, each naming its key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            f"{source}: " + "; ".join(problems)
            if len(problems) == 1
            else f"{source}:\n  - " + "\n  - ".join(problems)
        )


class WatchConfig(FeedConfig):
    """The whole watch config: the feed's sections plus the metrics' and the dashboards'."""

    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    buffers: BuffersConfig = Field(default_factory=BuffersConfig)
    live_slots: LiveSlotsConfig = Field(default_factory=LiveSlotsConfig)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    source: str = "defaults"  # the file it came from, for messages and the report


def store_params(config: WatchConfig, **overrides: Any) -> dict[str, Any]:
    """The metrics `Store`'s constructor parameters from [buffers] and [live_slots]; `overrides`
    win (the check command narrows the window to its own duration)."""
    b, ls = config.buffers, config.live_slots
    params: dict[str, Any] = {
        "raw_events": b.raw_events,
        "window_s": b.window_s,
        "history_s": b.history_s,
        "latency_samples": b.latency_samples,
        "log_size": b.log_size,
        "replica_schema": ls.schema,
        "replica_table": ls.table,
        "replica_key": ls.key,
        "replica_counters": list(ls.counters),
    }
    params.update(overrides)
    return params


# --- loading ----------------------------------------------------------------------------------


def load_config(path: str | Path | None = None) -> WatchConfig:
    """Load and validate; with no path, use $REALTIME_MONITOR_CONFIG, ./watch.toml, or defaults."""
    if path is None:
        path = os.environ.get("REALTIME_MONITOR_CONFIG") or (
            "watch.toml" if Path("watch.toml").exists() else None
        )
    source = "defaults" if path is None else str(path)
    data = {} if path is None else _read(Path(path), source)
    problems: list[str] = []
    data = _expand(data, "", problems)
    for key in NOT_IN_FILE & data.keys():
        problems.append(_unknown(WatchConfig, key, ()))
        del data[key]
    _environment_fallbacks(data)
    try:
        config = WatchConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        problems += [p for error in exc.errors() for p in describe(error)]
    if problems:
        raise ConfigError(source, problems)
    return config


def _read(path: Path, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from None


def _expand(value: Any, path: str, problems: list[str]) -> Any:
    """Replace `${VAR}` in every string of the file, naming the key of an unset variable."""
    if isinstance(value, dict):
        return {k: _expand(v, f"{path}.{k}" if path else k, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        var = m.group(1)
        if var not in os.environ:
            problems.append(
                f"{path} refers to ${{{var}}}, which is not set: export {var} or "
                "write the value in the file"
            )
            return ""
        return os.environ[var]

    return ENV_REF.sub(sub, value)


def _environment_fallbacks(data: dict[str, Any]) -> None:
    """An empty url or key takes SUPABASE_URL / SUPABASE_ANON_KEY (or SUPABASE_KEY), the names
    Supabase's own tools use, so a project can be watched without any file."""
    conn = data.setdefault("connection", {})
    if not isinstance(conn, dict):
        return  # reported as "must be a table"
    if conn.get("url", "") == "" and os.environ.get("SUPABASE_URL"):
        conn["url"] = os.environ["SUPABASE_URL"]
    key = os.environ.get("SUPABASE_ANON_KEY") or os.environ.get("SUPABASE_KEY")
    if conn.get("key", "") == "" and key:
        conn["key"] = key


# --- pydantic's errors in the user's words ----------------------------------------------------

_TYPES = {
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "list_type": "must be a list",
}
_TABLE_TYPES = ("model_type", "model_attributes_type", "dict_type")


def dotted(loc: tuple[str | int, ...]) -> str:
    """('channels', 1, 'postgres_changes', 0, 'event') -> 'channels[1].postgres_changes[0].event'"""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(error: Any) -> list[str]:
    """One pydantic error as the problems it stands for, each led by the key's dotted path."""
    loc, kind, got = tuple(error["loc"]), error["type"], error.get("input")
    ctx = error.get("ctx") or {}
    path = dotted(loc)
    if kind == "extra_forbidden":
        return [_unknown(WatchConfig, str(loc[-1]), loc[:-1])]
    if kind in _TYPES:
        return [f"{path} {_TYPES[kind]}, got {_shown(got)}"]
    if kind in _TABLE_TYPES:
        return [f"{path or 'the file'} must be a table, got {type(got).__name__}"]
    if kind == "greater_than_equal":
        bound = ctx["ge"]
        what = "must not be negative" if bound == 0 else f"must be at least {bound:g}"
        return [f"{path} {what}, got {_shown(got)}"]
    if kind == "greater_than":
        return [f"{path} must be greater than {ctx['gt']:g}, got {_shown(got)}"]
    if kind == "value_error":
        exc = ctx.get("error")
        if isinstance(exc, Problems):
            return [f"{path}{at} {what}" for at, what in exc.items]
        return [f"{path} {exc}"]
    return [f"{path or 'the file'}: {error['msg']}"]


def _shown(value: Any) -> str:
    """A value as TOML spells it, so `got true` reads like the line in the file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _unknown(root: type[BaseModel], key: str, table: tuple[str | int, ...]) -> str:
    """An unknown key, with the keys its table allows and the nearest one to a typo."""
    model = _model_at(root, table)
    allowed = sorted(name for name in model.model_fields if name not in NOT_IN_FILE)
    where = f"[{dotted(table)}]" if table else "the top level"
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown key '{key}' in {where}; allowed: {', '.join(allowed)}{hint}"


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel]:
    """The model class of the table at `loc`, following list items for integer parts."""
    tp: Any = root
    for part in loc:
        tp = get_args(tp)[0] if isinstance(part, int) else tp.model_fields[part].annotation
    return tp
