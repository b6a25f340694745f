"""What every demo scenario builds on: a minimal client, the scenario's context, the base class.

A scenario is a class with a `name`, optional SQL it needs, the channels a monitor should watch
to see its traffic, and `async run(ctx)` that loops until cancelled. Simulated users reach the
server over a real websocket (`DemoClient`), so demo traffic takes exactly the path a real
client's does; database changes are committed by SQL and arrive via logical decoding.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import asyncpg
import orjson

from ..auth import ProjectKeys

MONITOR_KEY = "realtime-monitor"  # the presence key a monitor joins presence channels with


class DemoClient:
    """The smallest vsn 1.0.0 client that can join, broadcast and track; nothing else."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws
        self._refs = itertools.count(1)
        self._joins: dict[str, str] = {}
        self._reader = asyncio.create_task(self._drain())

    @classmethod
    async def connect(cls, base_url: str, token: str) -> DemoClient:
        session = aiohttp.ClientSession()
        url = base_url.replace("http", "ws", 1) + f"/realtime/v1/websocket?apikey={token}&vsn=1.0.0"
        try:
            ws = await session.ws_connect(url, heartbeat=20)
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def _drain(self) -> None:
        async for _ in self.ws:  # demo users do not look at what they receive
            pass

    async def _push(self, topic: str, event: str, payload: Any) -> None:
        ref = str(next(self._refs))
        frame = {
            "topic": topic,
            "event": event,
            "payload": payload,
            "ref": ref,
            "join_ref": self._joins.get(topic),
        }
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def join(
        self,
        sub_topic: str,
        *,
        presence_key: str = "",
        private: bool = False,
        token: str | None = None,
    ) -> str:
        topic = f"realtime:{sub_topic}"
        ref = str(next(self._refs))
        self._joins[topic] = ref
        config = {
            "broadcast": {"self": False, "ack": False},
            "presence": {"key": presence_key, "enabled": bool(presence_key)},
            "postgres_changes": [],
            "private": private,
        }
        payload: dict[str, Any] = {"config": config}
        if token:
            payload["access_token"] = token
        await self.ws.send_str(
            orjson.dumps(
                {
                    "topic": topic,
                    "event": "phx_join",
                    "payload": payload,
                    "ref": ref,
                    "join_ref": ref,
                }
            ).decode()
        )
        return topic

    async def broadcast(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        await self._push(
            topic, "broadcast", {"type": "broadcast", "event": event, "payload": payload}
        )

    async def track(self, topic: str, payload: dict[str, Any]) -> None:
        await self._push(
            topic, "presence", {"type": "presence", "event": "track", "payload": payload}
        )

    async def leave(self, topic: str) -> None:
        await self._push(topic, "phx_leave", {})
        self._joins.pop(topic, None)

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()
        await self.session.close()


@dataclass(frozen=True)
class Project:
    """What scenarios know of the sandbox: where it listens, its database, its keys."""

    base_url: str
    db: asyncpg.Pool
    keys: ProjectKeys


class ScenarioContext:
    """What a scenario may use: the database, keys for made-up users, clients, time, chance."""

    def __init__(self, project: Project, rate: float, rng: random.Random) -> None:
        self.project = project
        self.rate = max(rate, 0.01)
        self.rng = rng
        self.clients: list[DemoClient] = []

    @property
    def db(self) -> asyncpg.Pool:
        return self.project.db

    @property
    def base_url(self) -> str:
        return self.project.base_url

    @property
    def service_role_key(self) -> str:
        return self.project.keys.service_role

    def user_token(self, sub: str, role: str = "authenticated", **claims: Any) -> str:
        return self.project.keys.user_token(sub, role, **claims)

    async def client(self, token: str | None = None) -> DemoClient:
        c = await DemoClient.connect(self.base_url, token or self.project.keys.anon)
        self.clients.append(c)
        return c

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds / rate`, jittered ±30% so traffic does not arrive in lockstep."""
        await asyncio.sleep(seconds / self.rate * self.rng.uniform(0.7, 1.3))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        self.clients.clear()


class Scenario(ABC):
    """One kind of demo traffic. `watch` lists the channels a monitor should watch to see it, in
    the watch-config shape (`watch_channel` builds one)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    sql: ClassVar[list[Path]] = []
    watch: ClassVar[tuple[dict[str, Any], ...]] = ()

    @abstractmethod
    async def run(self, ctx: ScenarioContext) -> None:
        """Generate traffic until cancelled."""


def watch_channel(
    topic: str,
    *,
    private: bool = False,
    presence_key: str = "",
    broadcast: Sequence[str] = ("*",),
    changes: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """One channel of a watch config, as the monitor reads it: presence is watched when a
    presence key is given; `changes` are (schema, table) pairs, every event, no filter."""
    return {
        "topic": topic,
        "private": private,
        "presence": bool(presence_key),
        "presence_key": presence_key,
        "broadcast": list(broadcast),
        "postgres_changes": [
            {"schema": schema, "table": table, "event": "*", "filter": ""}
            for schema, table in changes
        ],
    }
