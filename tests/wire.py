"""A raw websocket peer for wire-level tests: exact frames in, exact frames out."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

# The headers of a websocket upgrade, for tests that send one by hand and read the HTTP answer.
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def event_of(frame: Any) -> str:
    """A received frame's event, whichever serializer sent it (binary broadcasts: "binary")."""
    if isinstance(frame, dict):
        return frame["event"]
    return frame[3] if isinstance(frame, list) else "binary"


def payload_of(frame: Any) -> Any:
    return frame["payload"] if isinstance(frame, dict) else frame[4]


class Wire:
    def __init__(
        self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, vsn: int
    ):
        self.session = session
        self.ws = ws
        self.vsn = vsn
        self.ref = 0

    @classmethod
    async def open(cls, base_url: str, key: str, vsn: str = "1.0.0") -> Wire:
        session = aiohttp.ClientSession()
        url = base_url.replace("http", "ws", 1) + f"/realtime/v1/websocket?apikey={key}&vsn={vsn}"
        ws = await session.ws_connect(url)
        return cls(session, ws, 1 if vsn == "1.0.0" else 2)

    def next_ref(self) -> str:
        self.ref += 1
        return str(self.ref)

    async def send(
        self,
        topic: str,
        event: str,
        payload: Any,
        ref: str | None = None,
        join_ref: str | None = None,
    ) -> str:
        ref = ref or self.next_ref()
        if self.vsn == 1:
            await self.ws.send_str(
                json.dumps(
                    {
                        "topic": topic,
                        "event": event,
                        "payload": payload,
                        "ref": ref,
                        "join_ref": join_ref,
                    }
                )
            )
        else:
            await self.ws.send_str(json.dumps([join_ref, ref, topic, event, payload]))
        return ref

    async def recv(self, timeout: float = 5.0) -> Any:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return json.loads(msg.data)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return msg.data
        raise AssertionError(f"socket closed or errored: {msg.type} {msg.data!r} {msg.extra!r}")

    async def recv_event(self, event: str, timeout: float = 5.0) -> Any:
        """Skip frames until one with this event arrives (heartbeats and the like in between)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            name = (
                frame.get("event")
                if isinstance(frame, dict)
                else (frame[3] if isinstance(frame, list) else "binary")
            )
            if name == event:
                return frame

    async def silent(self, seconds: float = 0.3) -> None:
        """Assert nothing arrives for a while."""
        try:
            msg = await self.ws.receive(timeout=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {msg.data!r}")

    async def join(
        self, sub_topic: str, config: dict[str, Any] | None = None, **extra: Any
    ) -> tuple[str, Any]:
        topic = f"realtime:{sub_topic}"
        ref = self.next_ref()
        await self.send(topic, "phx_join", {"config": config or {}, **extra}, ref=ref, join_ref=ref)
        reply = await self.recv_event("phx_reply")
        return ref, reply

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()
