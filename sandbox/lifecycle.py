"""A socket's life as the server lives it: admission of joins, how refusals are paced, restarts.

* `Timing`: Realtime's backoffs (`CHANNEL_ERROR_BACKOFF_MS` 5 s before a join error,
  `CONNECT_ERROR_BACKOFF_MS` 2 s before a refused upgrade; config/runtime.exs) and Phoenix's
  60 s idle timeout (reference §13.1.6-7). Tests shorten them with flags.
* `negotiate_vsn`: Phoenix's serializer choice (`Version.match?` against "~> 1.0.0" and
  "~> 2.0.0"); anything else is refused with an empty HTTP 403.
* `admit`: the checks of `RealtimeChannel.join/3`, in its order (realtime_channel.ex): shutdown
  in progress, concurrent users, joins per second, channels per socket, the token (re-verified at
  every join, so an expired socket token is refused), private-channel policies, replay.
* `refuse_join`: the join error after the backoff, during which the socket does nothing else
  (the socket process waits on the channel's join): its other channels' traffic is held back and
  follows the reply, as does the old join's `phx_close` when this was a duplicate join
  (Phoenix.Socket handle_in for a joined topic); a join refused for the join rate also closes
  the socket.
* `Lifecycle`: the server's own state: restarting (joins refused with `RealtimeRestarting`,
  signal_handler.ex), and whether the replication connection is up.
* `resubscribe_later`: an `access_token` refresh subscribes postgres_changes again after the
  server's 1-3 s backoff (`postgres_subscribe/2`), so a second "Subscribed to PostgreSQL" comes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import replay
from .auth import TokenError
from .channels import Channel, binding_id, channel_token, parse_join_config

if TYPE_CHECKING:
    from . import serializers as s
    from .auth import Claims
    from .hub import Hub

RESTARTING = "RealtimeRestarting: Realtime is restarting, please standby"
TOO_MANY_CHANNELS = "ChannelRateLimitReached: Too many channels"
TOPIC_REQUIRED = "TopicNameRequired: You must provide a topic name"


class Socket(replay.Socket, Protocol):
    """What joins need of a socket (`connection.Connection`, which imports this module)."""

    hub: Hub
    claims: Claims
    ws: Any

    def reply(self, msg: s.Inbound, payload: dict[str, Any]) -> None: ...
    def closed_frame(self, ch: Channel, event: str = "phx_close") -> None: ...
    def hold(self) -> list[bytes]: ...
    def release(self) -> None: ...
    async def subscribe_changes(self, ch: Channel, echoed: list[dict[str, Any]]) -> None: ...


_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True, slots=True)
class Timing:
    join_error_delay_s: float = 5.0
    connect_error_delay_s: float = 2.0
    idle_timeout_s: float = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--join-error-delay-ms",
        type=int,
        default=5000,
        help="delay before every join error, the socket stalled meanwhile (Supabase: 5000)",
    )
    parser.add_argument(
        "--connect-error-delay-ms",
        type=int,
        default=2000,
        help="delay before a refused websocket upgrade (Supabase: 2000)",
    )
    parser.add_argument(
        "--idle-timeout-ms",
        type=int,
        default=60_000,
        help="close a socket that sends nothing for this long (Phoenix: 60000)",
    )


def timing_from_args(args: argparse.Namespace) -> Timing:
    return Timing(
        join_error_delay_s=args.join_error_delay_ms / 1000,
        connect_error_delay_s=args.connect_error_delay_ms / 1000,
        idle_timeout_s=args.idle_timeout_ms / 1000,
    )


def negotiate_vsn(vsn: str) -> int | None:
    """1 or 2 for a version matching "~> 1.0.0" or "~> 2.0.0" (2.0.1 does), else None."""
    m = _VERSION.match(vsn)
    if m is None:
        return None
    major, minor, patch, pre = int(m[1]), int(m[2]), int(m[3]), m[4]
    if major not in (1, 2) or minor != 0 or (patch == 0 and pre):
        return None  # ~> X.0.0 is >= X.0.0 and < X.1.0; X.0.0-rc is below X.0.0
    return major


class Lifecycle:
    """Server-wide state a socket consults: timings, a restart in progress, replication."""

    def __init__(self, timing: Timing, replication: Callable[[], str] = lambda: "streaming"):
        self.timing = timing
        self.replication = replication
        self._restarting_until = 0.0

    @property
    def restarting(self) -> bool:
        return time.monotonic() < self._restarting_until

    def restart(self, seconds: float = float("inf")) -> None:
        """Refuse joins as a node shutting down does, for `seconds` (or until the end)."""
        self._restarting_until = time.monotonic() + seconds


async def admit(conn: Socket, msg: s.Inbound) -> tuple[Channel, list[Any]] | str:
    """The new channel and the messages to replay to it, or the join's refusal reason."""
    topic = msg.topic
    if topic == "realtime:":
        return TOPIC_REQUIRED
    deps, quotas = conn.deps, conn.hub.quotas
    if deps.lifecycle.restarting:
        return quotas.refuse("restarting", RESTARTING)
    refused = quotas.join_refusal(id(conn))
    if refused is not None:
        return refused
    if len(conn.channels) >= deps.limits.max_channels:
        return quotas.refuse("too_many_channels", TOO_MANY_CHANNELS)
    cfg = parse_join_config(msg.payload)
    try:  # confirm_token/1: the join's token, else the socket's, checked again now
        claims = deps.tokens.verify(channel_token(msg.payload) or conn.claims.token)
    except TokenError as err:
        return err.join_reason
    ch = Channel(
        conn=conn,
        topic=topic,
        join_ref=msg.join_ref or msg.ref,
        private=cfg["private"],
        claims=claims,
        broadcast_self=cfg["self"],
        broadcast_ack=cfg["ack"],
        presence_enabled=cfg["presence_enabled"],
        presence_key=cfg["presence_key"],
        raw_bindings=cfg["bindings"],
    )
    if ch.private:
        ch.policies = await deps.authorizer.read_policies(ch.sub_topic, claims)
        if not ch.policies.can_join:
            return (
                "Unauthorized: You do not have permissions to read from this Channel "
                f"topic: {ch.sub_topic}"
            )
    rows = await replay.fetch(deps.authorizer.pool, ch, msg.payload)
    if isinstance(rows, str):
        return rows
    return ch, rows


async def refuse_join(conn: Socket, msg: s.Inbound, reason: str, old: Channel | None) -> None:
    """The join error, `join_error_delay_s` late, with the socket's output held meanwhile."""
    conn.hub.stats.join_errors += 1
    held = conn.hold()
    try:
        await asyncio.sleep(conn.deps.lifecycle.timing.join_error_delay_s)
    finally:
        conn.release()
    conn.reply(msg, {"status": "error", "response": {"reason": reason}})
    if old is not None:
        conn.closed_frame(old)
    for frame in held:
        conn.write(frame)
    if reason.startswith("ClientJoinRateLimitReached"):
        await conn.ws.close(code=1000)  # the "disconnect" broadcast to the transport


def resubscribe_later(conn: Socket, ch: Channel) -> None:
    """After an `access_token` refresh: postgres_changes subscribed again with the new claims,
    1-3 s later (realtime_channel.ex handle_in("access_token") -> postgres_subscribe())."""
    if not ch.raw_bindings:
        return

    async def again() -> None:
        await asyncio.sleep(random.uniform(1.0, 3.0))
        if conn.channels.get(ch.topic) is not ch:
            return
        conn.hub.remove_bindings(ch)
        ch.bindings = []
        echoed = [{**raw, "id": binding_id(raw)} for raw in ch.raw_bindings]
        await conn.subscribe_changes(ch, echoed)

    conn.spawn(again())
