"""The watch config: what to connect to, which channels to join, probes, alerts, buffer sizes.

Read from TOML (`watch.toml`; `watch.example.toml` documents every key). String values may say
`${VAR}` to take an environment variable, and the connection falls back to `SUPABASE_URL` and
`SUPABASE_ANON_KEY` (or `SUPABASE_KEY`). With no URL at all the monitor starts the bundled sandbox.

A bad config fails at start with one message per problem naming the key, what is wrong, and the
fix; unknown keys are errors (a typo must not silently disable an alert).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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


@dataclass
class ConnectionConfig:
    url: str = ""  # https://<ref>.supabase.co or the sandbox URL; empty = start the sandbox
    key: str = ""  # anon (or service_role) key, sent as apikey
    access_token: str = ""  # optional user JWT used for joins (RLS, private channels)
    timeout_s: float = 10.0  # connect and join timeout
    backoff_initial_s: float = 0.1  # first retry delay after a drop
    backoff_max_s: float = 1.2  # retry delay cap (jittered ±25%)
    heartbeat_s: int = 15  # Phoenix heartbeat interval (realtime-py's minimum is 15)


@dataclass
class SandboxConfig:
    demo: bool = True
    scenarios: list[str] = field(default_factory=list)
    rate: float = 1.0
    data_dir: str = ""


@dataclass
class BindingConfig:
    table: str = ""
    schema: str = "public"
    event: str = "*"
    filter: str = ""


@dataclass
class ChannelConfig:
    topic: str = ""
    private: bool = False
    presence: bool = False
    presence_key: str = ""
    broadcast: list[str] = field(default_factory=lambda: ["*"])
    postgres_changes: list[BindingConfig] = field(default_factory=list)


@dataclass
class BroadcastProbeConfig:
    enabled: bool = True
    interval_s: float = 1.0
    timeout_s: float = 5.0
    reconnect_after_timeouts: int = 3  # consecutive lost probes that mean the socket is dead


@dataclass
class DatabaseProbeConfig:
    enabled: bool = True  # runs whenever a database URL is known (configured, or the sandbox's)
    db_url: str = ""  # direct PostgreSQL URL for the probe's inserts; the sandbox's by default
    interval_s: float = 5.0
    timeout_s: float = 10.0
    table: str = "monitor_probe"


@dataclass
class ProbesConfig:
    broadcast: BroadcastProbeConfig = field(default_factory=BroadcastProbeConfig)
    database: DatabaseProbeConfig = field(default_factory=DatabaseProbeConfig)


@dataclass
class AlertsConfig:
    uptime_min: float = 0.99  # fraction of the window connected
    latency_p95_ms_max: float = 500.0  # commit-to-receive p95
    probe_rtt_p95_ms_max: float = 500.0
    message_age_s_max: float = 0.0  # 0 = off; seconds since the last user message
    reconnects_max: int = 10  # in the window
    rate_min: float = 0.0  # user messages/s over the window; 0 = off


@dataclass
class BuffersConfig:
    raw_events: int = 5_000
    window_s: float = 300.0
    history_s: int = 6 * 3600
    latency_samples: int = 20_000
    log_size: int = 2_000


@dataclass
class LiveSlotsConfig:
    schema: str = "group"
    table: str = "live_slots"
    key: str = "itinerary_id"
    counters: list[str] = field(
        default_factory=lambda: ["presence_opt_in", "presence_visible", "presence_online"]
    )


@dataclass
class DashboardConfig:
    update_ms: int = 100  # a session applies new data at most this often
    chart_ms: int = 1000  # charts, tables and ages refresh at this cadence
    stale_after_s: float = 10.0  # no event at all (probes included) for this long = stale
    title: str = "Realtime Monitor"


@dataclass
class WatchConfig:
    connection: ConnectionConfig = field(default_factory=ConnectionConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    channels: list[ChannelConfig] = field(default_factory=list)
    probes: ProbesConfig = field(default_factory=ProbesConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    buffers: BuffersConfig = field(default_factory=BuffersConfig)
    live_slots: LiveSlotsConfig = field(default_factory=LiveSlotsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    source: str = "defaults"

    @property
    def uses_sandbox(self) -> bool:
        return not self.connection.url


# --- loading ----------------------------------------------------------------------------------


def _expand(value: str, path: str, problems: list[str]) -> str:
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


def _build(cls: type, data: Any, path: str, problems: list[str]) -> Any:
    """Instantiate dataclass `cls` from TOML data, checking keys and types."""
    if not isinstance(data, dict):
        problems.append(f"{path or 'the file'} must be a table, got {type(data).__name__}")
        return cls()
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.name != "source"}
    for key in data:
        if key not in known:
            where = f"[{path}]" if path else "the top level"
            problems.append(f"unknown key '{key}' in {where}; allowed: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data or f.name == "source":
            continue
        kwargs[f.name] = _value(
            hints[f.name], data[f.name], f"{path}.{f.name}" if path else f.name, problems, f
        )
    return cls(**kwargs)


def _value(tp: Any, raw: Any, path: str, problems: list[str], f: Any = None) -> Any:
    origin = get_origin(tp)
    if origin is list:
        (item,) = get_args(tp)
        if not isinstance(raw, list):
            problems.append(f"{path} must be a list, got {raw!r}")
            return []
        return [_value(item, v, f"{path}[{i}]", problems) for i, v in enumerate(raw)]
    if isinstance(tp, type) and hasattr(tp, "__dataclass_fields__"):
        return _build(tp, raw, path, problems)
    if tp is bool:
        if not isinstance(raw, bool):
            problems.append(f"{path} must be true or false, got {raw!r}")
            return _default(f)
        return raw
    if tp in (int, float):
        if (
            isinstance(raw, bool)
            or not isinstance(raw, (int, float))
            or (tp is int and not isinstance(raw, int))
        ):
            problems.append(
                f"{path} must be a{'n integer' if tp is int else ' number'}, got {raw!r}"
            )
            return _default(f)
        if raw < 0:
            problems.append(f"{path} must not be negative, got {raw!r}")
        return tp(raw)
    if tp is str:
        if not isinstance(raw, str):
            problems.append(f"{path} must be a string, got {raw!r}")
            return _default(f)
        return _expand(raw, path, problems)
    return raw


def _default(f: Any) -> Any:
    if f is None:
        return None
    if f.default is not MISSING:
        return f.default
    return f.default_factory()


def _check(cfg: WatchConfig, problems: list[str]) -> None:
    conn = cfg.connection
    if not conn.url:
        conn.url = os.environ.get("SUPABASE_URL", "")
    if not conn.key:
        conn.key = os.environ.get("SUPABASE_ANON_KEY") or os.environ.get("SUPABASE_KEY", "")
    if conn.url:
        if not re.match(r"^(https?|wss?)://", conn.url):
            problems.append(
                f"connection.url must start with https://, http://, wss:// or ws://, "
                f"got {conn.url!r}"
            )
        if not conn.key:
            problems.append(
                "connection.key is missing: set it in the file or export SUPABASE_ANON_KEY"
            )
    if conn.backoff_max_s < conn.backoff_initial_s:
        problems.append("connection.backoff_max_s must be at least connection.backoff_initial_s")
    if conn.timeout_s <= 0:
        problems.append("connection.timeout_s must be greater than 0")
    seen: set[str] = set()
    for i, ch in enumerate(cfg.channels):
        where = f"channels[{i}]"
        if not ch.topic:
            problems.append(f'{where}.topic is missing: name the channel, e.g. topic = "room1"')
        elif ch.topic.startswith("realtime:"):
            problems.append(f"{where}.topic must not start with 'realtime:' (it is added for you)")
        elif ch.topic in seen:
            problems.append(
                f"{where}.topic {ch.topic!r} is listed twice; one connection joins a topic once"
            )
        seen.add(ch.topic)
        for j, b in enumerate(ch.postgres_changes):
            if b.event.upper() not in ("*", "INSERT", "UPDATE", "DELETE"):
                problems.append(
                    f"{where}.postgres_changes[{j}].event must be one of *, INSERT, "
                    f"UPDATE, DELETE, got {b.event!r}"
                )
            b.event = b.event.upper()
            if not b.table and not b.schema:
                problems.append(f"{where}.postgres_changes[{j}] needs a table or a schema")
    if len(cfg.channels) > 99:
        problems.append(
            "channels: at most 99 channels (Realtime allows 100 per connection and "
            "the probe uses one)"
        )
    for name in ("interval_s", "timeout_s"):
        if getattr(cfg.probes.broadcast, name) == 0:
            problems.append(f"probes.broadcast.{name} must be greater than 0")
    if cfg.buffers.raw_events < 10 or cfg.buffers.window_s < 1:
        problems.append("buffers.raw_events must be at least 10 and buffers.window_s at least 1")
    if cfg.dashboard.update_ms < 20 or cfg.dashboard.chart_ms < cfg.dashboard.update_ms:
        problems.append(
            "dashboard.update_ms must be at least 20 and dashboard.chart_ms at least "
            "dashboard.update_ms"
        )
    if not 0 <= cfg.alerts.uptime_min <= 1:
        problems.append(
            f"alerts.uptime_min is a fraction between 0 and 1, got {cfg.alerts.uptime_min!r}"
        )


def load_config(path: str | Path | None = None) -> WatchConfig:
    """Load and validate; with no path, use $REALTIME_MONITOR_CONFIG, ./watch.toml, or defaults."""
    if path is None:
        env = os.environ.get("REALTIME_MONITOR_CONFIG")
        if env:
            path = env
        elif Path("watch.toml").exists():
            path = "watch.toml"
    problems: list[str] = []
    if path is None:
        cfg = WatchConfig()
        source = "defaults"
    else:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(source, ["file not found"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
        cfg = _build(WatchConfig, data, "", problems)
    _check(cfg, problems)
    if problems:
        raise ConfigError(source, problems)
    cfg.source = source
    if not cfg.channels and cfg.uses_sandbox:
        cfg.channels = demo_channels()
    return cfg


def demo_channels() -> list[ChannelConfig]:
    """What the monitor watches on the sandbox's demo when nothing else is configured: a few
    channels of each seed system (profiles/ has each system's full set)."""

    def changes(topic: str, schema: str, table: str) -> ChannelConfig:
        return ChannelConfig(
            topic=topic, broadcast=[], postgres_changes=[BindingConfig(table=table, schema=schema)]
        )

    return [
        ChannelConfig(topic="demo", broadcast=["*"]),
        ChannelConfig(topic="demo-presence", presence=True, presence_key="realtime-monitor"),
        ChannelConfig(
            topic="demo-rows", postgres_changes=[BindingConfig(table="demo_items", schema="public")]
        ),
        ChannelConfig(
            topic="group-live-slots",
            postgres_changes=[BindingConfig(table="live_slots", schema="group")],
        ),
        # Layer 5: the task board and who is viewing what
        changes("task-updates", "public", "project_tasks"),
        ChannelConfig(topic="user-presence", presence=True, presence_key="realtime-monitor"),
        # HomeSer: bookings moving through their statuses
        changes("bookings-changes", "homeser", "bookings"),
        # Organiser dashboard: trips edited by several organisers, and who is online
        changes("trips-changes", "public", "trips"),
        ChannelConfig(topic="organisers", presence=True, presence_key="realtime-monitor"),
        # TripSage: a private chat session (the sandbox's service role may read it)
        ChannelConfig(
            topic="session:20000000-0000-4000-9000-000000000001",
            private=True,
            broadcast=["chat:message", "chat:typing"],
        ),
    ]
