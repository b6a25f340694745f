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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
import websockets
from pydantic import ValidationError
from realtime import AsyncRealtimeClient
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
DropTap = Callable[[str], None]


class MonitoredClient(AsyncRealtimeClient):
    def __init__(
        self,
        url: str,
        token: str,
        *,
        on_frame: FrameTap,
        on_malformed: MalformedTap,
        on_drop: DropTap,
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
        self._joins_in_flight: dict[str, float] = {}  # join ref -> when it was sent (monotonic)

    async def send(self, message: Message | dict[str, Any]) -> None:
        msg = message if isinstance(message, Message) else Message(**message)
        if msg.event == "phx_join" and msg.ref:
            self._joins_in_flight[msg.ref] = time.monotonic()
        await super().send(msg)

    def joining(self, within_s: float = JOIN_STALL_S) -> bool:
        """Whether a join sent less than `within_s` ago is still unanswered."""
        now = time.monotonic()
        for ref, sent in list(self._joins_in_flight.items()):
            if now - sent > within_s:
                del self._joins_in_flight[ref]
        return bool(self._joins_in_flight)

    async def _listen(self) -> None:
        ws = self._ws_connection
        if not ws:
            raise NotConnectedError("_listen")
        error: Exception
        try:
            async for raw in ws:
                received = time.time()
                try:
                    frame = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    self._on_malformed(raw, "not JSON")
                    continue
                if not isinstance(frame, dict):
                    self._on_malformed(raw, "not a JSON object")
                    continue
                if frame.get("event") in DATA_EVENTS:
                    self._on_frame(frame, len(raw), received)
                    continue
                if frame.get("event") == "system":
                    self._on_frame(frame, len(raw), received)
                try:
                    message = ServerMessageAdapter.validate_python(frame)
                except ValidationError as exc:
                    if frame.get("event") == "system":
                        continue  # e.g. "Server requested disconnect": no `channel`, ours anyway
                    self._on_malformed(raw, f"not a Realtime message: {exc.errors()[0]['msg']}")
                    continue
                if frame.get("event") == "phx_reply":
                    self._joins_in_flight.pop(str(frame.get("ref")), None)
                if channel := self.channels.get(message.topic):
                    channel._handle_message(message)
        except websockets.exceptions.ConnectionClosedError as exc:
            error = exc
            reason = f"connection lost (code {exc.rcvd.code if exc.rcvd else 1006})"
            if exc.rcvd and exc.rcvd.reason:
                reason += f": {exc.rcvd.reason}"
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
        self._on_drop(reason)

    def forget_channels(self) -> None:
        """Stop the old session's channels from scheduling rejoins of their own."""
        for channel in self.channels.values():
            channel.rejoin_timer.reset()
            channel._release_subscribe_waiter()
        self.channels.clear()
