"""The config sections feeds owns: what to connect to, how to keep its token fresh, which
channels to join, and the probes.

Each layer owns the sections it reads (`metrics.settings`, `dashboards.settings`); the composition
root (`monitor.config`) stacks them into the watch config and loads it from TOML. Keeping the
sections here means a feeds user (a test, a benchmark, a notebook) can build a `FeedConfig` without
anything above feeds.

The models are strict (TOML already has real booleans and numbers, so `"yes"` for a boolean is a
typo, not a value to coerce) and forbid unknown keys (a misspelt key must not silently disable a
probe). Validators raise `Problems`/`ValueError` with a message that reads after the key's path,
e.g. `channels[2].topic` + `is missing: ...`; `monitor.config` turns them into the user's words.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

NonNegFloat = Annotated[float, Field(ge=0)]
NonNegInt = Annotated[int, Field(ge=0)]
URL_SCHEME = re.compile(r"^(https?|wss?)://")
EVENTS = ("*", "INSERT", "UPDATE", "DELETE")
MAX_CHANNELS = 99


class Problems(ValueError):
    """Several problems found by one validator, each as (path below the validated value, what is
    wrong and the fix): pydantic keeps one error per validator, a file may have many."""

    def __init__(self, *items: tuple[str, str]) -> None:
        self.items = items
        super().__init__("; ".join(f"{at} {what}".strip() for at, what in items))


class Section(BaseModel):
    """A config table: strict types, unknown keys refused, assignments checked like the file."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


@contextmanager
def schema_field() -> Iterator[None]:
    """Allow a field named `schema`: pydantic warns that it shadows `BaseModel.schema` (a
    deprecated v1 classmethod), but `schema` is the key users write, as Supabase names it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r'Field name "schema" .* shadows', UserWarning)
        yield


class ConnectionConfig(Section):
    url: str = ""  # https://<ref>.supabase.co or the sandbox URL; empty = start the sandbox
    key: str = Field("", validate_default=True)  # anon (or service_role) key, sent as apikey
    access_token: str = ""  # optional user JWT used for joins (RLS, private channels)
    timeout_s: float = Field(10.0, gt=0)  # connect and join timeout
    backoff_initial_s: NonNegFloat = 0.1  # first retry delay after a drop
    backoff_max_s: NonNegFloat = 1.2  # retry delay cap (jittered ±25%)
    heartbeat_s: NonNegInt = 15  # Phoenix heartbeat interval (realtime-py's minimum is 15)

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        if url and not URL_SCHEME.match(url):
            raise ValueError(
                f"must start with https://, http://, wss:// or ws://, got {url!r}: write the "
                "project URL, e.g. https://<ref>.supabase.co"
            )
        return url

    # Checked on `key` (declared after `url`), not on the model: assigning url and then key one
    # after the other must not fail in between.
    @field_validator("key")
    @classmethod
    def _key_with_url(cls, key: str, info: ValidationInfo) -> str:
        if info.data.get("url") and not key:
            raise ValueError("is missing: set it in the file or export SUPABASE_ANON_KEY")
        return key

    @field_validator("backoff_max_s")
    @classmethod
    def _backoff(cls, cap: float, info: ValidationInfo) -> float:
        first = info.data.get("backoff_initial_s")
        if first is not None and cap < first:
            raise ValueError(
                f"must be at least backoff_initial_s ({first:g}), got {cap:g}: raise it or "
                "lower backoff_initial_s"
            )
        return cap


class SandboxConfig(Section):
    demo: bool = True
    scenarios: list[str] = Field(default_factory=list)
    rate: NonNegFloat = 1.0
    data_dir: str = ""
    # postgres_changes polled as Supabase polls them (commit to client in 100-600 ms), so the
    # demo's latency figures look like a real project's; "stream" delivers them at once
    changes: Literal["poll", "stream"] = "poll"


with schema_field():

    class BindingConfig(Section):
        table: str = ""
        schema: str = "public"
        event: str = "*"
        filter: str = ""

        @field_validator("event")
        @classmethod
        def _event(cls, event: str) -> str:
            if event.upper() not in EVENTS:
                raise ValueError(f"must be one of {', '.join(EVENTS)}, got {event!r}")
            return event.upper()

        @model_validator(mode="after")
        def _target(self) -> BindingConfig:
            if not self.table and not self.schema:
                raise ValueError('needs a table or a schema, e.g. table = "messages"')
            return self


class ChannelConfig(Section):
    topic: str = Field("", validate_default=True)
    private: bool = False
    presence: bool = False
    presence_key: str = ""
    broadcast: list[str] = Field(default_factory=lambda: ["*"])
    postgres_changes: list[BindingConfig] = Field(default_factory=list)

    @field_validator("topic")
    @classmethod
    def _topic(cls, topic: str) -> str:
        if not topic:
            raise ValueError('is missing: name the channel, e.g. topic = "room1"')
        if topic.startswith("realtime:"):
            raise ValueError(
                f"must not start with 'realtime:' (it is added for you): write {topic[9:]!r}"
            )
        return topic


class BroadcastProbeConfig(Section):
    enabled: bool = True
    interval_s: float = Field(1.0, gt=0)
    timeout_s: float = Field(5.0, gt=0)
    reconnect_after_timeouts: NonNegInt = 3  # consecutive lost probes that mean the socket is dead


class DatabaseProbeConfig(Section):
    enabled: bool = True  # runs whenever a database URL is known (configured, or the sandbox's)
    db_url: str = ""  # direct PostgreSQL URL for the probe's inserts; the sandbox's by default
    interval_s: NonNegFloat = 5.0
    timeout_s: NonNegFloat = 10.0
    table: str = "monitor_probe"


class ProbesConfig(Section):
    broadcast: BroadcastProbeConfig = Field(default_factory=BroadcastProbeConfig)
    database: DatabaseProbeConfig = Field(default_factory=DatabaseProbeConfig)


REFRESH_KEYS: dict[str, str] = {  # the method each [auth] secret belongs to
    "refresh_token": "gotrue",
    "command": "command",
    "service_role_key": "service_role",
}


class AuthConfig(Section):
    """How the user token of `[connection] access_token` is kept fresh (`feeds.tokens`): Realtime
    closes a private channel whose token expires, so a watch that must outlive its token renews it.

    Each method names the one key it needs; that key is checked on the key (not the model), so
    setting `refresh` and then its key one after the other does not fail in between. A key that
    the chosen method never reads is refused by `FeedConfig`, where the whole table is known."""

    # "none": the token is used as given; "gotrue": Supabase Auth's refresh-token grant; "command":
    # a shell command prints one; "service_role": the service_role key stands in for a user
    refresh: Literal["none", "gotrue", "command", "service_role"] = "none"
    # a session's refresh token; GoTrue rotates it, the newest is kept in memory only
    refresh_token: str = Field("", validate_default=True)
    command: str = Field("", validate_default=True)  # prints a fresh JWT on stdout
    service_role_key: str = Field("", validate_default=True)  # server-side watches; long-lived
    # renew this long before `exp`, but never before 80% of the token's lifetime has passed (a
    # 2-minute token is renewed after ~96 s, not at once)
    refresh_before_s: NonNegFloat = 60.0
    retry_s: float = Field(5.0, gt=0)  # wait after a failed refresh before trying again

    @field_validator("refresh_token")
    @classmethod
    def _refresh_token(cls, token: str, info: ValidationInfo) -> str:
        if info.data.get("refresh") == "gotrue" and not token:
            raise ValueError(
                'is missing: refresh = "gotrue" trades a session\'s refresh token for new access '
                "tokens; set it (the refresh_token of a sign-in, e.g. refresh_token = "
                '"${SUPABASE_REFRESH_TOKEN}") or choose another refresh'
            )
        return token

    @field_validator("command")
    @classmethod
    def _command(cls, command: str, info: ValidationInfo) -> str:
        if info.data.get("refresh") == "command" and not command.strip():
            raise ValueError(
                'is missing: refresh = "command" runs it for every new token; set a shell '
                "command that prints a fresh JWT, e.g. command = "
                '"python -m sandbox.token --sub <user id> --ttl 1h"'
            )
        return command

    @field_validator("service_role_key")
    @classmethod
    def _service_role_key(cls, key: str, info: ValidationInfo) -> str:
        if info.data.get("refresh") == "service_role" and not key:
            raise ValueError(
                'is missing: refresh = "service_role" uses it as the access token; set it '
                '(e.g. service_role_key = "${SUPABASE_SERVICE_ROLE_KEY}") or choose another '
                "refresh"
            )
        return key


class FeedConfig(Section):
    """What one ingest needs: the connection, the sandbox to start without one, the channels to
    join and the probes. The watch config (`monitor.config.WatchConfig`) extends it."""

    connection: ConnectionConfig = Field(default_factory=ConnectionConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    channels: list[ChannelConfig] = Field(default_factory=list)
    probes: ProbesConfig = Field(default_factory=ProbesConfig)

    @field_validator("channels")
    @classmethod
    def _one_connection(cls, channels: list[ChannelConfig]) -> list[ChannelConfig]:
        """One socket joins a topic once, and Realtime caps a socket's channels."""
        problems: list[tuple[str, str]] = []
        seen: set[str] = set()
        for i, ch in enumerate(channels):
            if ch.topic in seen:
                what = f"{ch.topic!r} is listed twice; one connection joins a topic once"
                problems.append((f"[{i}].topic", what + ": remove one of them"))
            seen.add(ch.topic)
        if len(channels) > MAX_CHANNELS:
            what = (
                f"lists {len(channels)}, at most {MAX_CHANNELS} are allowed (Realtime allows 100 "
                "per connection and the probe uses one): split them over two monitors"
            )
            problems.append(("", what))
        if problems:
            raise Problems(*problems)
        return channels

    @field_validator("auth")
    @classmethod
    def _auth_keys_used(cls, auth: AuthConfig) -> AuthConfig:
        """A secret the chosen method never reads is a mistake (most often a forgotten
        `refresh = ...`, which would let the token expire): say which method reads it."""
        problems: list[tuple[str, str]] = []
        for key, method in REFRESH_KEYS.items():
            if getattr(auth, key) and auth.refresh != method:
                what = (
                    f'is set, but refresh = "{auth.refresh}" never reads it: write '
                    f'refresh = "{method}" to use it, or remove {key}'
                )
                problems.append((f".{key}", what))
        if problems:
            raise Problems(*problems)
        return auth

    @property
    def uses_sandbox(self) -> bool:
        """No URL configured (nor in the environment): the monitor starts the bundled sandbox."""
        return not self.connection.url


def feed_channels(raw: list[dict[str, Any]]) -> list[ChannelConfig]:
    """Channels given as plain data (the sandbox's watch list), checked like a config file's."""
    return FeedConfig.model_validate({"channels": raw}).channels
