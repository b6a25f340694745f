"""The sandbox's own endpoints, `/sandbox/v1/*`, which a hosted project does not have.

* `GET /sandbox/v1/health` (and `/`): whether changes are streaming from the WAL.
* `GET /sandbox/v1/stats`: the hub's counters, the tenant's rates and every refusal by kind
  (`refusals`, see `sandbox.quotas`), and the limits in force.
* `GET /sandbox/v1/watch`: the channels a monitor should watch on the demo (see
  `sandbox.scenarios.watch`), the same list the READY line carries.
* Fault hooks (service_role key), to show a client the server's own failures:
  * `POST /sandbox/v1/disconnect`: drains every socket. By default like `UserSocket.disconnect`
    (a tenant restart): "Server requested disconnect" on every channel, then close 1012. With
    `{"mode": "deploy"}`, like a node shutting down: close 1012 without a word. With
    `"restarting_ms": N`, joins are refused with `RealtimeRestarting` for N ms afterwards.
  * `POST /sandbox/v1/phx_error` with `{"topic": "room1"}` (or no topic: every channel): the
    channel crashes, its socket gets `phx_error` (ref = join_ref) and the client rejoins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from . import limits, middleware
from .endpoints import API_TOKENS
from .hub import Hub
from .lifecycle import Lifecycle

Replication = Callable[[], tuple[str, str | None]]
"""The replication stream's status ("streaming", "reconnecting", ...; "off") and last error."""


class Admin:
    def __init__(
        self,
        hub: Hub,
        lifecycle: Lifecycle,
        replication: Replication,
        watch: list[dict[str, Any]],
        started_at: float,
    ) -> None:
        self.hub = hub
        self.lifecycle = lifecycle
        self.replication = replication
        self.watch_channels = watch
        self.started_at = started_at

    def add_routes(self, app: web.Application, policies: middleware.Policies) -> None:
        app.router.add_get("/sandbox/v1/health", self.health)
        app.router.add_get("/sandbox/v1/stats", self.stats)
        app.router.add_get("/sandbox/v1/watch", self.watch)
        for path, handler in (
            ("/sandbox/v1/disconnect", self.disconnect_all),
            ("/sandbox/v1/phx_error", self.phx_error),
        ):
            policies.route(app.router.add_post(path, handler), token=API_TOKENS)
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
        body.update(self.hub.quotas.stats())
        body["limits"] = limits.describe(self.hub.quotas.limits)
        return web.json_response(body)

    async def watch(self, request: web.Request) -> web.Response:
        return web.json_response(self.watch_channels)

    async def disconnect_all(self, request: web.Request) -> web.Response:
        """Fault hook: drain every socket like a tenant restart, or a deploy (see above)."""
        if middleware.claims(request).role != "service_role":
            return web.json_response({"message": "service_role key required"}, status=403)
        body = await _body(request)
        mode = body.get("mode", "tenant")
        if mode not in ("tenant", "deploy"):
            return web.json_response({"message": "mode is tenant or deploy"}, status=422)
        restarting_ms = body.get("restarting_ms", 0)
        if restarting_ms:
            self.lifecycle.restart(float(restarting_ms) / 1000)
        conns = list(self.hub.connections)
        announce = mode == "tenant"
        await asyncio.gather(*(c.drain(announce) for c in conns), return_exceptions=True)
        return web.json_response({"disconnected": len(conns)})

    async def phx_error(self, request: web.Request) -> web.Response:
        """Fault hook: crash the channels of a topic (all channels without one)."""
        if middleware.claims(request).role != "service_role":
            return web.json_response({"message": "service_role key required"}, status=403)
        topic = (await _body(request)).get("topic")
        crashed = 0
        for conn in list(self.hub.connections):
            for ch in list(conn.channels.values()):
                if topic is None or ch.sub_topic == topic:
                    conn.close_channel(ch, "phx_error")
                    crashed += 1
        return web.json_response({"errored": crashed})


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}
