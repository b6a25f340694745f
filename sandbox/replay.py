"""Broadcasts kept in `realtime.messages`: delivered live as they are inserted, replayed at join.

* `deliver`: a row that `realtime.send`, `realtime.send_binary` or `realtime.broadcast_changes`
  inserted, as the replication connection turns it into a user broadcast
  (supabase/realtime lib/realtime/tenants/replication_connection.ex): `binary_payload` wins over
  `payload`, the message carries `meta: {id}`, and rows are dropped while the tenant is over its
  messages-per-second limit.
* `fetch` / `push_replayed`: `config.broadcast.replay = {since, limit}` on a private channel
  (realtime_channel.ex maybe_replay_messages, lib/realtime/messages.ex replay/5): the newest
  `limit` (at most 25, default 25) private broadcasts of the topic inserted since `since` (ms
  epoch), oldest first, each with `meta: {id, replayed: true}`, pushed before live traffic; a
  replayed id is not delivered again live (the hub skips it). A public channel, or params that
  are not integers, refuse the join.
* `replication_ready`: `config.broadcast.replication_ready` asks for a system message once the
  replication connection is up ("Replication connection established"), or the channel is shut
  down after a minute without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
import orjson

from . import serializers as s
from .channels import Channel

if TYPE_CHECKING:
    from .hub import Hub

HARD_LIMIT = 25  # Realtime.Messages @hard_limit
READY_CHECK_S = 0.5  # @replication_ready_check_interval
READY_TIMEOUT_S = 60.0  # replication_ready_timeout: :timer.minutes(1)
PUBLIC_REPLAY = "UnableToReplayMessages: Replay is not allowed for public channels"
BAD_PARAMS = "UnableToReplayMessages: Replay params are not valid"


class Socket(Protocol):
    """What replays need of a socket (`connection.Connection`, which imports this module)."""

    vsn: int
    deps: Any
    channels: dict[str, Channel]

    def write(self, frame: bytes) -> bool: ...
    def push(self, ch: Channel, event: str, payload: Any) -> None: ...
    def system(self, ch: Channel, extension: str, status: str, message: str) -> None: ...
    def shutdown_channel(self, ch: Channel, message: str) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...


SINCE_RANGE = (-62_135_596_800_000, 253_402_300_799_999)  # what DateTime.from_unix/2 takes
# `inserted_at` is a `timestamp` filled by now(): compare in the same session time zone
REPLAY_SQL = """
select id::text, event, payload::text, binary_payload from realtime.messages
where topic = $1 and private is true and extension = 'broadcast'
  and inserted_at >= to_timestamp($2::float8 / 1000)::timestamp
  and inserted_at < (now() + interval '1 minute')::timestamp
order by inserted_at desc limit $3
"""


def deliver(hub: Hub, row: dict[str, Any]) -> None:
    """Send one inserted `realtime.messages` row to the topic's subscribers."""
    if row.get("extension") != "broadcast" or row.get("event") == "authorization_check":
        return
    if not hub.quotas.db_broadcast_allowed():
        return
    binary = row.get("binary_payload")  # bytea in the WAL's text form, \\x<hex>
    if isinstance(binary, str) and binary.startswith("\\x"):
        body, encoding = bytes.fromhex(binary[2:]), s.ENCODING_BINARY
    elif row.get("payload") is not None:
        body, encoding = orjson.dumps(row.get("payload")), s.ENCODING_JSON
    else:
        return  # pick_payload: neither payload is set
    key = (bool(row.get("private")), str(row.get("topic")))
    hub.user_broadcast(key, str(row.get("event") or ""), body, encoding, {"id": row.get("id")})


def _replay_params(payload: Any) -> Any:
    config = payload.get("config") if isinstance(payload, dict) else None
    broadcast = config.get("broadcast") if isinstance(config, dict) else None
    if isinstance(broadcast, dict) and "replay" in broadcast:
        return broadcast["replay"]
    return ...


async def fetch(pool: asyncpg.Pool, ch: Channel, payload: Any) -> list[asyncpg.Record] | str:
    """The messages to replay to a joining channel (maybe none), or the join's refusal."""
    params = _replay_params(payload)
    if params is ...:
        return []
    if not ch.policies.broadcast_read:  # can_replay?/3
        return (
            "Unauthorized: You do not have permissions to read from this Channel "
            f"topic: {ch.sub_topic}"
        )
    if not ch.private:
        return PUBLIC_REPLAY
    if not isinstance(params, dict):
        return []  # not a map: no replay, and no error either
    since, limit = params.get("since"), params.get("limit")
    if limit is None or limit is False:
        limit = HARD_LIMIT  # replay_params["limit"] || 25
    if type(since) is not int or type(limit) is not int:
        return BAD_PARAMS
    if not SINCE_RANGE[0] <= since <= SINCE_RANGE[1]:
        return BAD_PARAMS
    limit = max(min(limit, HARD_LIMIT), 1)
    rows = await pool.fetch(REPLAY_SQL, ch.sub_topic, since, limit)
    ch.replayed = frozenset(r["id"] for r in rows)
    return list(reversed(rows))


def push_replayed(conn: Socket, ch: Channel, rows: list[asyncpg.Record]) -> None:
    """Replayed messages are channel pushes (`push/3`), so vsn 2 frames carry the join_ref;
    binary payloads go to vsn 2 sockets only."""
    for r in rows:
        meta = {"id": r["id"], "replayed": True}
        if r["binary_payload"] is not None:
            if conn.vsn == 2:
                body = bytes(r["binary_payload"])
                frame = s.v2_user_broadcast(ch.topic, r["event"], body, s.ENCODING_BINARY, meta)
                conn.write(s.ws_frame(frame, s.OP_BINARY))
            continue
        payload = orjson.loads(r["payload"]) if r["payload"] is not None else None
        body = {"event": r["event"], "meta": meta, "payload": payload, "type": "broadcast"}
        conn.push(ch, "broadcast", body)


def replication_ready(conn: Socket, ch: Channel, payload: Any) -> None:
    """`config.broadcast.replication_ready` (any value but false and null opts in)."""
    config = payload.get("config") if isinstance(payload, dict) else None
    broadcast = config.get("broadcast") if isinstance(config, dict) else None
    wanted = broadcast.get("replication_ready") if isinstance(broadcast, dict) else None
    if wanted is None or wanted is False:
        return
    deadline = time.monotonic() + READY_TIMEOUT_S

    def check() -> bool:
        """handle_info(:notify_replication_ready): True once the channel was answered."""
        if conn.deps.lifecycle.replication() == "streaming":
            conn.system(ch, "system", "ok", "Replication connection established")
            return True
        if time.monotonic() >= deadline:
            conn.shutdown_channel(ch, "Replication connection was not established in time")
            return True
        return False

    async def poll() -> None:
        while conn.channels.get(ch.topic) is ch and not check():
            await asyncio.sleep(READY_CHECK_S)

    if not check():
        conn.spawn(poll())
