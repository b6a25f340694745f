"""What the seed scenarios share: writing as a user, simulated users on sockets, moving cursors.

* `acting_as(conn, sub)`: a transaction as a JWT's role with its claims, the settings PostgREST
  makes (`sandbox.as_role`), so RLS applies to a scenario's write exactly as to a supabase-js
  client's.
* `SimUser`: one simulated user on one websocket of their own (their JWT as the key), joined to
  some topics and optionally tracked on a presence topic once per connection: the sandbox allows
  5 presence calls per connection per 30 s, so presence changes come from connecting and
  disconnecting, and a re-track (`retrack`) is refused if it came sooner than `RETRACK_MIN_S`.
  A socket the server dropped is noticed on the next send; the user is then offline until the
  scenario connects them again, and nothing raises.
* `Cursor`: a smooth random walk over a screen, for `cursor-move` broadcasts.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg

from ..as_role import API_ROLES, as_role
from .base import DemoClient, ScenarioContext

log = logging.getLogger("sandbox.demo")

RETRACK_MIN_S = 30.0
SEND_ERRORS = (ConnectionError, aiohttp.ClientError, RuntimeError, TimeoutError)


def acting_as(
    conn: asyncpg.Connection, sub: str, role: str = "authenticated"
) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """A transaction in which `conn` is the user `sub` (role, claims, auth.uid()); RLS applies."""
    if role not in API_ROLES:
        raise ValueError(f"role must be one of {API_ROLES}, got {role!r}")
    return as_role(conn, role, {"sub": sub, "role": role, "aud": "authenticated"})


def iso_now() -> str:
    """Now as JavaScript's `new Date().toISOString()` writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimUser:
    """One simulated user with a socket of their own while online."""

    def __init__(
        self,
        ctx: ScenarioContext,
        user_id: str,
        *,
        topics: Sequence[str] = (),
        presence_topic: str | None = None,
        private: bool = False,
        name: str = "",
    ) -> None:
        self.ctx = ctx
        self.user_id = user_id
        self.name = name or user_id
        self.topics = list(topics)
        self.presence_topic = presence_topic
        self.private = private
        self.client: DemoClient | None = None
        self.tracked_at = 0.0

    @property
    def online(self) -> bool:
        return self.client is not None and not self.client.ws.closed

    def token(self) -> str:
        """A fresh access token, as a signed-in session would hold (rotated on every connect)."""
        return self.ctx.user_token(self.user_id, aud="authenticated")

    async def connect(self, meta: dict[str, Any] | None = None) -> None:
        """Open a socket, join the topics, and track `meta` on the presence topic."""
        await self.disconnect()
        client = await self.ctx.client(self.token())
        try:
            for topic in self.topics:
                await client.join(topic, private=self.private)
            if self.presence_topic is not None:
                topic = await client.join(
                    self.presence_topic, presence_key=self.user_id, private=self.private
                )
                if meta is not None:
                    await client.track(topic, meta)
                    self.tracked_at = time.monotonic()
        except BaseException:
            await self._drop(client)
            raise
        self.client = client

    async def try_connect(self, meta: dict[str, Any] | None = None) -> bool:
        """`connect`, but a server that cannot be reached leaves the user offline, not raising."""
        try:
            await self.connect(meta)
        except SEND_ERRORS as exc:
            log.info("%s could not connect: %s", self.name, exc)
            return False
        return True

    async def retrack(self, meta: dict[str, Any]) -> bool:
        """Update the presence meta, at most once per RETRACK_MIN_S; False if not sent."""
        if self.presence_topic is None or not self.online:
            return False
        if time.monotonic() - self.tracked_at < RETRACK_MIN_S:
            return False
        client = self.client
        assert client is not None
        try:
            await client.track(f"realtime:{self.presence_topic}", meta)
        except SEND_ERRORS as exc:
            await self._lost(client, exc)
            return False
        self.tracked_at = time.monotonic()
        return True

    async def broadcast(self, sub_topic: str, event: str, payload: dict[str, Any]) -> bool:
        """Send a broadcast on a joined topic; False (and offline) if the socket is gone."""
        if not self.online:
            await self.disconnect()
            return False
        client = self.client
        assert client is not None
        try:
            await client.broadcast(f"realtime:{sub_topic}", event, payload)
        except SEND_ERRORS as exc:
            await self._lost(client, exc)
            return False
        return True

    async def _lost(self, client: DemoClient, exc: BaseException) -> None:
        """A send failed: drop that socket (and go offline, unless it was already replaced)."""
        log.info("%s lost their socket: %s", self.name, exc)
        if self.client is client:
            self.client = None
        await self._drop(client)

    async def disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await self._drop(client)

    async def _drop(self, client: DemoClient) -> None:
        try:
            await client.close()
        except SEND_ERRORS:
            pass
        finally:
            if client in self.ctx.clients:  # keep the context's list from growing with churn
                self.ctx.clients.remove(client)


class Cursor:
    """A pointer drifting over a screen with some momentum, in whole pixels."""

    def __init__(self, rng: random.Random, width: int = 1440, height: int = 900) -> None:
        self.rng = rng
        self.width, self.height = width, height
        self.x = rng.uniform(0, width)
        self.y = rng.uniform(0, height)
        self.vx = self.vy = 0.0

    def step(self) -> dict[str, int]:
        self.vx = 0.7 * self.vx + self.rng.gauss(0, 40)
        self.vy = 0.7 * self.vy + self.rng.gauss(0, 30)
        self.x = min(max(self.x + self.vx, 0.0), self.width)
        self.y = min(max(self.y + self.vy, 0.0), self.height)
        return {"x": round(self.x), "y": round(self.y)}


def weighted(rng: random.Random, items: Sequence[Any], weights: Sequence[float]) -> Any:
    return rng.choices(list(items), list(weights))[0]
