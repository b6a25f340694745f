"""One join of one topic by one socket, and the join config as the server parses it.

Booleans are "flexible" (`true`, `"TRUE"`, `"false"`), a bad config never fails the join
(reference §2.2), and postgres_changes bindings are echoed back unchanged, in order, with a stable
integer id (reference §2.3): both official clients match them by position.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from .auth import Claims
from .filters import Filter


class Socket(Protocol):
    """What a channel needs of the socket it was joined on: its wire format and a way to write.
    (`Connection` is the one implementation; naming only this keeps channels, presence and the
    hub free of the protocol handling.)"""

    vsn: int

    def write(self, frame: bytes) -> bool: ...


def flexible_bool(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return default


def binding_id(binding: dict[str, Any]) -> int:
    """Same binding, same id, on every join and every server (the server uses `phash2`)."""
    return zlib.crc32(orjson.dumps(binding, option=orjson.OPT_SORT_KEYS)) & 0x7FFFFFF


@dataclass(slots=True)
class Binding:
    """A postgres_changes subscription after the server's param rules (reference §3.3)."""

    id: int
    event: str  # INSERT | UPDATE | DELETE | *
    schema: str
    table: str
    filter: Filter
    filter_text: str | None
    select: tuple[str, ...] | None = None  # columns kept besides the primary key; None: all

    def wants(self, change_type: str) -> bool:
        return self.event == "*" or self.event == change_type


@dataclass(slots=True)
class Policies:
    """What a JWT may do on a private topic, as RLS on realtime.messages decides."""

    broadcast_read: bool = True
    broadcast_write: bool = True
    presence_read: bool = True
    presence_write: bool = True

    @property
    def can_join(self) -> bool:
        return self.broadcast_read or self.presence_read


@dataclass(eq=False, slots=True)
class Channel:
    """State of one joined topic on one socket. Identity equality: each join is its own object."""

    conn: Socket
    topic: str
    join_ref: str | None
    private: bool
    claims: Claims
    broadcast_self: bool = False
    broadcast_ack: bool = False
    presence_enabled: bool = False
    presence_key: str = ""
    raw_bindings: list[dict[str, Any]] = field(default_factory=list)
    bindings: list[Binding] = field(default_factory=list)
    policies: Policies = field(default_factory=Policies)
    presence_ref: str | None = None
    presence_payload: dict[str, Any] | None = None
    expiry_timer: Any = None
    presence_window: list[float] = field(default_factory=lambda: [0, 0.0])  # [calls, reset_at]
    replayed: frozenset[str] = frozenset()  # ids of the messages replayed at join

    @property
    def sub_topic(self) -> str:
        return self.topic[len("realtime:") :]

    @property
    def key(self) -> tuple[bool, str]:
        """Public and private channels of the same name are separate namespaces."""
        return (self.private, self.sub_topic)


def parse_join_config(payload: Any) -> dict[str, Any]:
    """Normalise a phx_join payload's `config`, defaulting everything that is missing or bad."""
    config = payload.get("config") if isinstance(payload, dict) else None
    if not isinstance(config, dict):
        config = {}
    broadcast = config.get("broadcast") if isinstance(config.get("broadcast"), dict) else {}
    presence = config.get("presence") if isinstance(config.get("presence"), dict) else {}
    pg = config.get("postgres_changes")
    bindings = [b for b in pg if isinstance(b, dict)] if isinstance(pg, list) else []
    key = presence.get("key")
    return {
        "self": flexible_bool(broadcast.get("self")),
        "ack": flexible_bool(broadcast.get("ack")),
        "presence_enabled": flexible_bool(presence.get("enabled")),
        "presence_key": key if isinstance(key, str) and key else str(uuid.uuid1()),
        "private": flexible_bool(config.get("private")),
        "bindings": bindings,
    }


def channel_token(payload: Any) -> str | None:
    """The join's own token, if any; `sb_` keys are ignored in favour of the socket's apikey."""
    if not isinstance(payload, dict):
        return None
    token = payload.get("access_token") or payload.get("user_token")
    if not isinstance(token, str) or not token or token.startswith("sb_"):
        return None
    return token
