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

Several projects (`[[projects]]`, issue 13): each entry has a `name` and the sections that belong
to one project (connection, auth, sandbox, channels, probes, quota, live_slots); alerts, buffers
and dashboard stay shared at the top level. Without `[[projects]]` the top-level sections are
the one project, as before, so every existing file and the zero-config sandbox are unchanged.
With them, the top-level per-project sections are *defaults* every project inherits, key by key
(tables merge, a list such as `channels` is replaced whole): staging and production of one app
share their channels and plan and differ only in URL and key. What names a project's identity
is never inherited, because sending one project's key to another's URL would be a leak and a
silent mis-watch: `connection.url`, `.key`, `.access_token`, `probes.database.db_url` and the
whole `[auth]` table. Written at the top level next to `[[projects]]` they are refused with the
fix, and SUPABASE_URL / SUPABASE_ANON_KEY are not consulted (they cannot name several
projects). `WatchConfig.per_project()` gives one complete WatchConfig per project, so everything
that takes a WatchConfig (the feed, the store, the report, the collector) works per project.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, Field, ValidationError, field_validator

from dashboards.settings import DashboardConfig
from feeds.settings import FeedConfig, Problems
from metrics.settings import AlertsConfig, BuffersConfig, LiveSlotsConfig, QuotaConfig

from .notify_settings import NotifyConfig

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
NOT_IN_FILE = frozenset({"source", "project"})  # fields the loader fills, never read from a file
# A project's name goes into URLs (?project=), page titles and the Prometheus `project` label.
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
PER_PROJECT = ("connection", "auth", "sandbox", "channels", "probes", "quota", "live_slots")
SHARED = ("alerts", "buffers", "dashboard", "notify")
ENV_KEY_HINT = "set it in the file or export SUPABASE_ANON_KEY"
PROJECT_KEY_HINT = 'set it in this [[projects]] entry, e.g. key = "${PROD_ANON_KEY}"'
# Keys that identify one project: never inherited from the top level (module doc).
OWN_KEYS: tuple[tuple[str, ...], ...] = (
    ("connection", "url"),
    ("connection", "key"),
    ("connection", "access_token"),
    ("probes", "database", "db_url"),
)


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


class ProjectConfig(FeedConfig):
    """One `[[projects]]` entry: its name and the sections of one project, after the loader has
    merged in what it inherits from the top level. The feed's own checks (a topic twice, an
    [auth] secret its method never reads) come with `FeedConfig`."""

    name: str = Field("", validate_default=True)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    live_slots: LiveSlotsConfig = Field(default_factory=LiveSlotsConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not name:
            raise ValueError(
                'is missing: name the project, e.g. name = "production"; the name labels its '
                "pages (?project=...), its wall and its /metrics series"
            )
        if not PROJECT_NAME.match(name):
            raise ValueError(
                f"must be 1-40 letters, digits, '-', '_' or '.', starting with a letter or "
                f"digit (it goes into URLs and Prometheus labels), got {name!r}"
            )
        return name


class WatchConfig(FeedConfig):
    """The whole watch config: the feed's sections plus the metrics' and the dashboards', and
    optionally several projects (module doc); `per_project()` is what the runtime watches."""

    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    buffers: BuffersConfig = Field(default_factory=BuffersConfig)
    live_slots: LiveSlotsConfig = Field(default_factory=LiveSlotsConfig)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    dashboard: DashboardConfig = Field(default_factory=DashboardConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)  # alert delivery by webhook
    projects: list[ProjectConfig] = Field(default_factory=list)
    source: str = "defaults"  # the file it came from, for messages and the report
    # the [[projects]] name this config is for (per_project() fills it); "" for the one project
    # of a file without [[projects]], which keeps its old label (monitor.prometheus.project_name)
    project: str = ""

    @field_validator("projects")
    @classmethod
    def _unique_names(cls, projects: list[ProjectConfig]) -> list[ProjectConfig]:
        """Names are told apart in URLs, where `Prod` and `prod` look like one: compared
        without case."""
        problems: list[tuple[str, str]] = []
        first: dict[str, int] = {}
        data_dirs: dict[str, int] = {}
        for i, p in enumerate(projects):
            j = first.setdefault(p.name.lower(), i)
            if j != i:
                problems.append(
                    (
                        f"[{i}].name",
                        f"{p.name!r} is already the name of projects[{j}]: give each project "
                        "its own name (it selects the project in ?project= and in /metrics)",
                    )
                )
            # each project without a url starts a sandbox, and two cannot share one database
            if p.uses_sandbox and p.sandbox.data_dir:
                j = data_dirs.setdefault(p.sandbox.data_dir, i)
                if j != i:
                    problems.append(
                        (
                            f"[{i}].sandbox.data_dir",
                            f"{p.sandbox.data_dir!r} is also the sandbox directory of "
                            f"projects[{j}] (inherited from [sandbox]?): two sandboxes cannot "
                            "share a database; give each project its own, or none (a temporary "
                            "one each)",
                        )
                    )
        if problems:
            raise Problems(*problems)
        return projects

    def per_project(self) -> list[WatchConfig]:
        """One complete config per project: the project's own sections with the shared ones.
        A file without [[projects]] is its own single project."""
        if not self.projects:
            return [self]
        return [
            self.model_copy(
                update={
                    **{key: getattr(p, key) for key in PER_PROJECT},
                    "projects": [],
                    "project": p.name,
                }
            )
            for p in self.projects
        ]


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
    own: list[Any] = []  # each project's entry as written, to tell its keys from inherited ones
    if "projects" in data:
        own = list(data["projects"]) if isinstance(data["projects"], list) else []
        problems += _inherit(data)
    else:
        _environment_fallbacks(data)
    try:
        config = WatchConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        problems += [p for error in _once(exc.errors(), own) for p in describe(error)]
    if problems:
        raise ConfigError(source, problems)
    return config


def _inherit(data: dict[str, Any]) -> list[str]:
    """Give each [[projects]] entry the top-level per-project sections it does not write itself
    (module doc); the keys that identify a project are refused at the top level instead."""
    problems: list[str] = []
    projects = data["projects"]
    if not isinstance(projects, list):
        return problems  # reported by validation: "projects must be a list"
    for path in OWN_KEYS:
        table: Any = data
        for part in path[:-1]:
            table = table.get(part) if isinstance(table, dict) else None
        if isinstance(table, dict) and table.get(path[-1]):
            key = ".".join(path)
            problems.append(
                f"{key} is set at the top level, but [[projects]] lists the projects to watch: "
                f"move it into the [[projects]] entry it belongs to (as {key} there); the top "
                "level holds only what every project shares"
            )
            del table[path[-1]]
    if data.get("auth"):
        problems.append(
            "[auth] is set at the top level, but it renews one project's token: with "
            "[[projects]], write it in the entry whose access_token it keeps fresh, as "
            "[projects.auth]"
        )
    defaults = {k: data.pop(k) for k in PER_PROJECT if k in data and k != "auth"}
    data["projects"] = [
        _merge(defaults, project) if isinstance(project, dict) else project for project in projects
    ]
    return problems


def _merge(base: Any, over: Any) -> Any:
    """`over` on top of `base`: tables merge key by key, anything else (lists too) replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    return over


def _once(errors: list[Any], own: list[Any]) -> list[Any]:
    """An inherited value's error, reported once where it is written (the top level), not once
    per project under a path the user never wrote. Errors on what a project wrote itself keep
    their `projects[i].` path."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for error in errors:
        loc = tuple(error["loc"])
        if len(loc) > 2 and loc[0] == "projects" and isinstance(loc[1], int):
            identity = any(loc[2 : 2 + len(k)] == k for k in OWN_KEYS)
            inherited = loc[2] in PER_PROJECT and not identity and loc[1] < len(own)
            if inherited and not _written(own[loc[1]], loc[2:]):
                key = (loc[2:], error["type"], error["msg"])
                if key in seen:
                    continue
                seen.add(key)
                error = {**error, "loc": loc[2:]}
        out.append(error)
    return out


def _written(entry: Any, loc: tuple[Any, ...]) -> bool:
    """Whether the raw `[[projects]]` entry itself holds the value at `loc`."""
    for part in loc:
        in_list = isinstance(part, int) and isinstance(entry, list) and part < len(entry)
        in_table = isinstance(part, str) and isinstance(entry, dict) and part in entry
        if not (in_list or in_table):
            return False
        entry = entry[part]
    return True


def _read(path: Path, source: str) -> dict[str, Any]:
    """The file's tables; anything that keeps it from being read is a ConfigError, never a
    traceback at start (each of these was one, found by tests/unit/test_fuzz_watch_config.py)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))  # TOML is UTF-8 by definition
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: not UTF-8 ({exc.reason})"]) from None
    except RecursionError:  # tomllib recurses per nested array: ~500 levels end Python's stack
        raise ConfigError(source, ["not valid TOML: nested too deeply"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
    except OSError as exc:  # a directory, no permission
        raise ConfigError(source, [f"cannot be read: {exc.strerror or exc}"]) from None


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
        if loc[:1] == ("projects",) and len(loc) == 3 and loc[2] in SHARED:
            return [
                f"{path}: [{loc[2]}] is shared by every project; write it at the top level, "
                "not in a [[projects]] entry"
            ]
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
        if loc[:1] == ("projects",):  # the environment names one project only (module doc)
            return [f"{path} {str(exc).replace(ENV_KEY_HINT, PROJECT_KEY_HINT)}"]
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
