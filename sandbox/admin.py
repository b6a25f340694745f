"""The sandbox's own endpoints, `/sandbox/v1/*`, which a hosted project does not have.

* `GET /sandbox/v1/health` (and `/`): whether changes are streaming from the WAL.
* `GET /sandbox/v1/stats`: the hub's counters, for tests and for the monitor.
* `GET /sandbox/v1/watch`: the channels a monitor should watch on the demo (see
  `sandbox.scenarios.watch`), the same list the READY line carries.
* `POST /sandbox/v1/disconnect` (service_role key): a fault hook that drains every socket like a
  tenant restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import middleware
from .endpoints import API_TOKENS
from .hub import Hub

Replication = Callable[[], tuple[str, str | None]]
"""The replication stream's status ("streaming", "reconnecting", ...; "off") and last error."""


class Admin:
    def __init__(
        self,
        hub: Hub,
        replication: Replication,
        watch: list[dict[str, Any]],
        started_at: float,
    ) -> None:
        self.hub = hub
        self.replication = replication
        self.watch_channels = watch
        self.started_at = started_at

    def add_routes(self, app: web.Application, policies: middleware.Policies) -> None:
        app.router.add_get("/sandbox/v1/health", self.health)
        app.router.add_get("/sandbox/v1/stats", self.stats)
        app.router.add_get("/sandbox/v1/watch", self.watch)
        route = app.router.add_post("/sandbox/v1/disconnect", self.disconnect_all)
        policies.route(route, token=API_TOKENS)
        app.router.add_get("/", self.health)

    async def health(self, request: web.Request) -> web.Response:
        status, error = self.replication()
        return web.json_response(
            {
                "status": "ok" if status == "streaming" else "degraded",
                "replication": status,
                "replication_error": error,
                "uptime_s": round(time.time() - self.started_at, 1),
            }
        )

    async def stats(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = self.hub.stats.as_dict()
        body.update(
            connections=len(self.hub.connections),
            channels=self.hub.channel_count(),
            presence_members=sum(len(p) for p in self.hub.presence.values()),
        )
        return web.json_response(body)

    async def watch(self, request: web.Request) -> web.Response:
        return web.json_response(self.watch_channels)

    async def disconnect_all(self, request: web.Request) -> web.Response:
        """Fault hook: drain every socket like a tenant restart (system message, close 1012)."""
        if middleware.claims(request).role != "service_role":
            return web.json_response({"message": "service_role key required"}, status=403)
        conns = list(self.hub.connections)
        await asyncio.gather(*(c.drain() for c in conns), return_exceptions=True)
        return web.json_response({"disconnected": len(conns)})
