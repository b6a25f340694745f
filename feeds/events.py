"""The records the monitor is built on: one `Event` per received message, plus status changes.

Events are normalised exactly once, here, from the raw frame, so every consumer (the metrics store,
recordings, the inspector, notebooks) sees the same fields. Kinds:

* `broadcast`: a broadcast message (`event` = the broadcast's event name)
* `postgres_changes`: a row change (`event` = INSERT | UPDATE | DELETE, with schema, table,
  commit time and commit-to-receive latency)
* `presence`: `presence_state` or `presence_diff` (the `event`), payload as on the wire
* `system`: a `system` push (`event` = ok | error)
* `probe`: the monitor's own synthetic traffic (`event` = `rtt` for the broadcast probe,
  `db` for the database probe), with its measured latency; never counted as user traffic
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

KINDS = ("broadcast", "postgres_changes", "presence", "system", "probe")

# Connection statuses on the status timeline (the seeds' vocabulary, plus `error`).
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
DISCONNECTED = "disconnected"
ERROR = "error"
STATUSES = (CONNECTING, CONNECTED, RECONNECTING, DISCONNECTED, ERROR)
STOPPED = "stopped"  # the reason of the `disconnected` a deliberate stop records

# Per-channel subscribe states, as both official clients name them.
SUBSCRIBED = "SUBSCRIBED"
CHANNEL_ERROR = "CHANNEL_ERROR"
TIMED_OUT = "TIMED_OUT"
CLOSED = "CLOSED"
JOINING = "JOINING"  # ours: a join was sent and has no answer yet
SUBSCRIBE_STATES = (JOINING, SUBSCRIBED, CHANNEL_ERROR, TIMED_OUT, CLOSED)


@dataclass(slots=True)
class Event:
    received_at: float  # epoch seconds, when the frame was read off the socket
    channel: str  # the sub-topic, without "realtime:"
    kind: str  # one of KINDS
    event: str
    schema: str | None = None
    table: str | None = None
    commit_ts: float | None = None  # epoch seconds, from commit_timestamp
    latency_ms: float | None = None  # commit-to-receive (postgres_changes) or probe latency
    size: int = 0  # bytes on the wire
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        def opt(v: Any) -> Any:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

        return cls(
            received_at=float(d["received_at"]),
            channel=str(d["channel"]),
            kind=str(d["kind"]),
            event=str(d["event"]),
            schema=opt(d.get("schema")),
            table=opt(d.get("table")),
            commit_ts=opt(d.get("commit_ts")),
            latency_ms=opt(d.get("latency_ms")),
            size=int(d.get("size") or 0),
            payload=d.get("payload") or {},
        )


@dataclass(slots=True, frozen=True)
class StatusChange:
    at: float
    status: str  # one of STATUSES
    reason: str | None = None


@dataclass(slots=True, frozen=True)
class SubscriptionChange:
    at: float
    channel: str
    state: str  # one of SUBSCRIBE_STATES
    error: str | None = None


def parse_commit_timestamp(value: Any) -> float | None:
    """`2026-11-22T08:05:53.123Z` (Realtime's format) or any ISO 8601 string, to epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def normalise(frame: dict[str, Any], size: int, received_at: float) -> Event | None:
    """One server frame (vsn 1.0.0 object) to one Event; None for frames that are not data.

    Raises ValueError for a data frame whose payload is not shaped as the protocol says, so the
    caller can count and log it.
    """
    event = frame.get("event")
    topic = frame.get("topic")
    payload = frame.get("payload")
    if not isinstance(topic, str) or not isinstance(payload, dict):
        raise ValueError("frame without a string topic and an object payload")
    channel = topic[9:] if topic.startswith("realtime:") else topic
    if event == "broadcast":
        name = payload.get("event")
        return Event(received_at, channel, "broadcast", str(name), size=size, payload=payload)
    if event == "postgres_changes":
        data = payload.get("data")
        if not isinstance(data, dict) or "type" not in data:
            raise ValueError("postgres_changes without data.type")
        commit = parse_commit_timestamp(data.get("commit_timestamp"))
        latency = (received_at - commit) * 1000.0 if commit is not None else None
        return Event(
            received_at,
            channel,
            "postgres_changes",
            str(data["type"]),
            schema=data.get("schema"),
            table=data.get("table"),
            commit_ts=commit,
            latency_ms=latency,
            size=size,
            payload=payload,
        )
    if event in ("presence_state", "presence_diff"):
        return Event(received_at, channel, "presence", event, size=size, payload=payload)
    if event == "system":
        status = payload.get("status")
        return Event(received_at, channel, "system", str(status), size=size, payload=payload)
    return None
