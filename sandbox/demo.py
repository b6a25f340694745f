"""Demo traffic: pluggable scenarios that make the sandbox look like a busy project.

A scenario is a class with a `name`, optional SQL it needs, and `async run(ctx)` that loops until
cancelled. Simulated users reach the server over a real websocket (`DemoClient`), so demo traffic
takes exactly the path a real client's does; database changes are committed by SQL and arrive via
logical decoding. A scenario that crashes is logged and restarted with backoff: the sandbox is
never silent for long.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
import asyncpg
import orjson

from . import auth

if TYPE_CHECKING:
    from .server import Sandbox

log = logging.getLogger("sandbox.demo")


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


class ScenarioContext:
    """What a scenario may use: the database, keys for made-up users, clients, time, chance."""

    def __init__(self, sandbox: Sandbox, rate: float, rng: random.Random) -> None:
        self.sandbox = sandbox
        self.rate = max(rate, 0.01)
        self.rng = rng
        self.clients: list[DemoClient] = []

    @property
    def db(self) -> asyncpg.Pool:
        assert self.sandbox.pool is not None
        return self.sandbox.pool

    @property
    def base_url(self) -> str:
        return self.sandbox.base_url

    def user_token(self, sub: str, role: str = "authenticated", **claims: Any) -> str:
        return auth.mint(self.sandbox.secret, role, sub=sub, **claims)

    async def client(self, token: str | None = None) -> DemoClient:
        c = await DemoClient.connect(self.base_url, token or self.sandbox.anon_key)
        self.clients.append(c)
        return c

    async def sleep(self, seconds: float) -> None:
        """Sleep for `seconds / rate`, jittered ±30% so traffic does not arrive in lockstep."""
        await asyncio.sleep(seconds / self.rate * self.rng.uniform(0.7, 1.3))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients), return_exceptions=True)
        self.clients.clear()


class Scenario(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    sql: ClassVar[list[Path]] = []

    @abstractmethod
    async def run(self, ctx: ScenarioContext) -> None:
        """Generate traffic until cancelled."""


def registry() -> dict[str, type[Scenario]]:
    from .scenarios import SCENARIOS

    return {s.name: s for s in SCENARIOS}


class DemoRunner:
    def __init__(self, sandbox: Sandbox, names: list[str], rate: float, seed: int) -> None:
        known = registry()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown scenario(s) {unknown}; choose from {sorted(known)}")
        self.sandbox = sandbox
        self.scenarios = [known[n]() for n in (names or sorted(known))]
        self.rate = rate
        self.seed = seed

    async def run(self) -> None:
        await asyncio.gather(*(self._supervise(i, s) for i, s in enumerate(self.scenarios)))

    async def _supervise(self, index: int, scenario: Scenario) -> None:
        delay = 1.0
        attempt = 0
        while True:
            ctx = ScenarioContext(
                self.sandbox, self.rate, random.Random(self.seed * 1000 + index + attempt)
            )
            try:
                for path in scenario.sql:
                    async with self.sandbox.pool.acquire() as conn:  # type: ignore[union-attr]
                        await conn.execute(path.read_text())
                await scenario.run(ctx)
            except asyncio.CancelledError:
                await ctx.close()
                raise
            except Exception:
                log.exception("demo scenario %s failed; restarting in %.0fs", scenario.name, delay)
            await ctx.close()
            attempt += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)
