"""realtime-py's AsyncRealtimeClient with the monitor's tap on its read loop.

The official client keeps doing what it is for: the socket, heartbeats, joins, pushes, replies,
channel errors and closes. Data frames (broadcast, postgres_changes, presence_state,
presence_diff) go to the monitor instead: each is parsed once with orjson and becomes one Event.
They skip the client's per-frame pydantic validation, its dominant per-message cost and of no use
to a monitor that validates what it reads itself; a data frame the monitor cannot read is counted
and logged, never fatal.

The client is built with `auto_reconnect=False, max_retries=1`: realtime-py gives up after five
attempts (reference §8), so reconnecting is the Supervisor's job, forever.

It also keeps the joins in flight (sent, not yet answered): Supabase answers a refused join only
after 5 s and reads nothing else on that socket meanwhile (reference §13.1.6), so while a join is
in flight a quiet socket is a stalled one, not a dead one.

Control frames (a refused join, `system`, `phx_error`, `phx_close`) are shown to `on_control`
before the channel handles them, with the topic of the join a reply answers; it returns whether
the channel may handle the frame. The Supervisor keeps a rejected postgres_changes binding from
the channel: realtime-py would otherwise take it for a channel error and rejoin forever, while the
server keeps the channel joined for its broadcasts and presence (reference §2.5).

Each watched channel can join with its own token (`channel(..., token=...)`): the user's token
for the watched channels, the project key for the monitor's probe, so a user's expired token
leaves the probe, and the socket's health, alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
import websockets
from pydantic import ValidationError
from realtime import AsyncRealtimeChannel, AsyncRealtimeClient
from realtime._async.timer import AsyncTimer
from realtime.exceptions import NotConnectedError
from realtime.message import Message, ServerMessageAdapter

log = logging.getLogger("feeds.client")

DATA_EVENTS = frozenset({"broadcast", "postgres_changes", "presence_state", "presence_diff"})
# How long an unanswered join may explain a quiet socket: realtime-py rejoins refused channels
# one after another and each refusal holds the socket 5 s, so a few of them chain; past this, an
# unanswered join is taken for lost with the socket.
JOIN_STALL_S = 30.0

FrameTap = Callable[[dict[str, Any], int, float], None]
MalformedTap = Callable[[Any, str], None]
DropTap = Callable[[str, "int | None"], None]
ControlTap = Callable[[dict[str, Any], "str | None"], bool]
CONTROL_EVENTS = frozenset({"phx_reply", "phx_error", "phx_close", "system"})
# orjson reads JSON nested up to 1024 levels but writes only 254 (and the stdlib's json, which
# the roster uses, overflows Python's stack near 1000): a frame deeper than this would be read,
# then break whatever writes it again (the Inspector, a recording, the roster), on every tick.
MAX_DEPTH = 255
# websockets refuses frames over 1 MiB by default, and realtime-py keeps that default; Supabase
# sends broadcasts of up to 3,000 KB (Pro, reference §9.1) and presence_state as large as the
# roster, and a refused frame fails the socket (1009): every such broadcast would cost a
# reconnect and the events around it. This bounds what one frame may cost instead.
MAX_FRAME = 16 * 2**20


def decode(raw: str | bytes) -> tuple[dict[str, Any] | None, str]:
    """One websocket frame's JSON object, or None and why it cannot be one (reference §1.3).

    Anything may arrive: a binary frame, invalid UTF-8 inside one, a number past a double
    (orjson refuses `1e400`; integers past 64 bits become floats, which is all a monitor needs),
    a megabyte of nesting. None of it may reach the store, and none of it may stop the read loop.
    """
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(frame, dict):
        return None, "not a JSON object"
    if _brackets(raw) > MAX_DEPTH:  # cheap: only frames with many brackets are walked
        try:
            orjson.dumps(frame)
        except orjson.JSONEncodeError:
            return None, f"nested deeper than {MAX_DEPTH} levels"
    return frame, ""


def _brackets(raw: str | bytes) -> int:
    """An upper bound of the nesting depth (brackets in strings count too), counted in C."""
    if isinstance(raw, str):
        return raw.count("{") + raw.count("[")
    return raw.count(b"{") + raw.count(b"[")


def _deliver(frame: dict[str, Any], join_topic: str | None) -> bool:
    return True


class MonitoredClient(AsyncRealtimeClient):
    def __init__(
        self,
        url: str,
        token: str,
        *,
        on_frame: FrameTap,
        on_malformed: MalformedTap,
        on_drop: DropTap,
        on_control: ControlTap = _deliver,
        timeout: int = 10,
        hb_interval: int = 15,
    ) -> None:
        super().__init__(
            url,
            token,
            auto_reconnect=False,
            max_retries=1,
            timeout=timeout,
            hb_interval=hb_interval,
        )
        self._on_frame = on_frame
        self._on_malformed = on_malformed
        self._on_drop = on_drop
        self._on_control = on_control
        # join ref -> (when it was sent (monotonic), its topic)
        self._joins_in_flight: dict[str, tuple[float, str]] = {}

    def channel(
        self, topic: str, params: Any = None, *, token: str | None = None
    ) -> AsyncRealtimeChannel:
        """A channel that joins with `token` (None: the client's), rejoins included."""
        chan = super().channel(topic, params)
        if token is not None:
            prepare = chan._prepare_join

            def prepare_with_token(callback: Any) -> None:
                prepare(callback)
                chan.join_push.update_payload({"access_token": token})

            chan._prepare_join = prepare_with_token  # type: ignore[method-assign]
        return chan

    async def send(self, message: Message | dict[str, Any]) -> None:
        msg = message if isinstance(message, Message) else Message(**message)
        if msg.event == "phx_join" and msg.ref:
            topic = msg.topic[9:] if msg.topic.startswith("realtime:") else msg.topic
            self._joins_in_flight[msg.ref] = (time.monotonic(), topic)
        await super().send(msg)

    def joining(self, within_s: float = JOIN_STALL_S) -> bool:
        """Whether a join sent less than `within_s` ago is still unanswered."""
        now = time.monotonic()
        for ref, (sent, _) in list(self._joins_in_flight.items()):
            if now - sent > within_s:
                del self._joins_in_flight[ref]
        return bool(self._joins_in_flight)

    async def _on_connect(self) -> None:
        if self._ws_connection is not None:  # read before anything can arrive: nothing is joined
            self._ws_connection.protocol.max_size = MAX_FRAME
        await super()._on_connect()

    def take(self, raw: str | bytes, received: float) -> None:
        """One frame read off the socket: data to `on_frame`, control frames to `on_control`
        and then to their channel, anything unreadable to `on_malformed`."""
        frame, why = decode(raw)
        if frame is None:
            self._on_malformed(raw, why)
            return
        event = frame.get("event")
        if not isinstance(event, str):  # `[] in DATA_EVENTS` raises: the loop used to end here
            self._on_malformed(raw, "no string event")
            return
        if event in DATA_EVENTS:
            self._on_frame(frame, len(raw), received)
            return
        if event == "system":
            self._on_frame(frame, len(raw), received)
        join_topic = None
        if event == "phx_reply":
            join = self._joins_in_flight.pop(str(frame.get("ref")), None)
            join_topic = join[1] if join else None
        if event in CONTROL_EVENTS and not self._on_control(frame, join_topic):
            return
        try:
            message = ServerMessageAdapter.validate_python(frame)
        except ValidationError as exc:
            if event == "system":
                return  # e.g. "Server requested disconnect": no `channel`, ours anyway
            self._on_malformed(raw, f"not a Realtime message: {exc.errors()[0]['msg']}")
            return
        if channel := self.channels.get(message.topic):
            channel._handle_message(message)

    async def _listen(self) -> None:
        ws = self._ws_connection
        if not ws:
            raise NotConnectedError("_listen")
        # `close()` (and so `abort()`) counts up the generation; a failed send does not, though
        # it clears `_ws_connection` too (realtime-py's `_on_connect_error`)
        generation = self._close_generation
        error: Exception
        try:
            async for raw in ws:
                try:
                    self.take(raw, time.time())
                except Exception as exc:
                    # whatever a frame does to the code after it, the read loop goes on: a
                    # loop that stopped would leave the socket open and deaf until the probe
                    # noticed, and the same frame again would do it again
                    self._on_malformed(raw, f"not handled: {type(exc).__name__}: {exc}")
        except websockets.exceptions.ConnectionClosedError as exc:
            if self._close_generation != generation:
                return  # we dropped it ourselves (`abort`): not the server's doing
            error = exc
            code: int | None = exc.rcvd.code if exc.rcvd else 1006
            reason = f"connection lost (code {code})"
            if exc.rcvd and exc.rcvd.reason:
                reason += f": {exc.rcvd.reason}"
            elif exc.sent and exc.sent.code == 1007:
                # RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection, so the
                # websockets library closed it (1007); the frame is malformed input all the same
                code = 1007
                reason = f"connection failed by the monitor (code 1007): {exc.sent.reason}"
                self._on_malformed(b"", "a text frame that is not UTF-8")
            elif exc.sent and exc.sent.code == 1009:
                code = 1009
                reason = f"connection failed by the monitor (code 1009): {exc.sent.reason}"
                self._on_malformed(b"", f"a frame over {MAX_FRAME} bytes")
        else:
            if self._ws_connection is not ws:
                return  # we closed it ourselves
            error = ws.protocol.close_exc
            code = ws.close_code
            reason = f"closed by server (code {code})"
            if ws.close_reason:
                reason += f": {ws.close_reason}"
        self._ws_connection = None
        self._set_channels_errored(error)
        self._on_drop(reason, code)

    async def abort(self) -> None:
        """Close without the closing handshake. A socket the probe found silent (a stalled
        path, a half-open connection, a frozen server) never answers a close frame, and
        websockets would wait its `close_timeout` (10 s) for one: the reconnect, and the status
        that says so, would wait with it. RFC 6455 §7.1.1 lets a client close the TCP connection
        itself when the server's close does not come; the server sees a network failure."""
        ws = self._ws_connection
        if ws is not None:
            ws.transport.abort()
        await self.close()

    async def close(self) -> None:
        """realtime-py's close, which waits for the server's closing handshake and only then
        stops the read loop and the heartbeat. When that wait is cut short (the Supervisor
        gives a polite close 2 s), the socket is aborted and both stopped all the same: a
        half-open socket that still delivers would otherwise go on feeding the sinks after the
        monitor stopped, or next to the new session's socket, every event twice."""
        ws = self._ws_connection
        try:
            await super().close()
        except BaseException:
            if ws is not None:
                ws.transport.abort()
            for task in (self._listen_task, self._heartbeat_task):
                if task is not None:
                    task.cancel()
            raise

    def forget_channels(self) -> None:
        """Stop the old session's channels from scheduling rejoins of their own."""
        for channel in self.channels.values():
            channel.rejoin_timer.reset()
            channel._release_subscribe_waiter()
        self.channels.clear()


class PlannedRejoin(AsyncTimer):
    """realtime-py's rejoin timer, asking the Supervisor how long to wait, or whether to rejoin
    at all: `planner(tries)` gives the delay, or None to stop rejoining (the timer resets)."""

    def __init__(self, callback: Callable[[], Any], planner: Callable[[int], float | None]):
        super().__init__(callback, lambda _tries: 0.0)
        self.planner = planner

    def schedule_timeout(self, delay: float | None = None) -> None:
        planned = self.planner(self.tries + 1)
        if planned is None:
            self.reset()
            return
        super().schedule_timeout(planned)
