"""The sandbox server: the composition root that starts every part and wires them together.

One aiohttp app on one port, laid out like a Supabase project's URL: Realtime (`endpoints`),
PostgREST (`rest`), Edge Functions (`functions`) and the sandbox's own `/sandbox/v1/*` (`admin`).
`Sandbox.start` brings up the database, builds the shared `Services` once, and hands each part only
the services it uses; the middlewares (`middleware`) read callers' tokens and answer CORS for
every part alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from . import auth, database, functions, gotrue, rest
from .admin import Admin
from .changes import ChangeFeed
from .endpoints import MAX_FRAME, RealtimeEndpoints
from .lifecycle import Lifecycle, Timing
from .limits import Limits
from .middleware import Policies
from .quotas import TICK_S
from .replication import ReplicationStream
from .scenarios.base import Project
from .scenarios.runner import DemoRunner
from .scenarios.watch import watch_channels
from .services import Services

log = logging.getLogger("sandbox")


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 54321
    data_dir: Path | None = None
    db_url: str | None = None
    jwt_secret: str | None = None
    limits: Limits = field(default_factory=Limits)  # see `limits` for the plans and flags
    rate_tick_s: float = TICK_S  # the tenant's rate counters' tick (`--rate-tick-ms`)
    timing: Timing = field(default_factory=Timing)  # error backoffs and the idle timeout
    changes: str = "poll"  # postgres_changes polled like Supabase's, or "stream"ed at once
    jwt_exp: int = gotrue.ACCESS_TTL  # seconds GoTrue's access tokens live (GOTRUE_JWT_EXP)
    demo: bool = False
    scenarios: list[str] = field(default_factory=list)
    rate: float = 1.0
    seed: int = 7


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir or database.default_data_dir()
        self.keys: auth.ProjectKeys | None = None
        self.db_url = ""
        self.pool: asyncpg.Pool | None = None
        self.services: Services | None = None
        self.lifecycle = Lifecycle(config.timing, lambda: self.replication_status()[0])
        self.replication: ReplicationStream | None = None
        self.watch: list[dict[str, Any]] = []
        self.started_at = time.time()
        self._pg_handle: object | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        self.watch = watch_channels(self.config.scenarios)  # also refuses unknown scenario names
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.keys = keys = auth.ProjectKeys.create(
            self.config.jwt_secret or auth.load_secret(self.data_dir)
        )
        pool = await self._start_database()
        self.services = services = Services.build(
            pool, keys.secret, self.config.limits, self.lifecycle, self.config.rate_tick_s
        )
        feed = ChangeFeed(services.hub, pool, self.config.changes)
        await self._start_replication(feed)
        self._tasks.append(asyncio.create_task(feed.run(), name="dispatch"))
        self._tasks.append(asyncio.create_task(feed.prune(), name="prune"))
        await self._serve(self.build_app(services))
        if self.config.demo:
            project = Project(self.base_url, pool, keys)
            demo = DemoRunner(project, self.config.scenarios, self.config.rate, self.config.seed)
            await demo.prepare()  # the READY line comes after start(): the seed rows are there
            self._tasks.append(asyncio.create_task(demo.run(), name="demo"))

    async def _start_database(self) -> asyncpg.Pool:
        if self.config.db_url:
            self.db_url = self.config.db_url
            await database.check_external(self.db_url)
        else:
            loop = asyncio.get_running_loop()
            self.db_url, self._pg_handle = await loop.run_in_executor(
                None, database.start_embedded, self.data_dir / "pg"
            )
        self.pool = pool = await asyncpg.create_pool(self.db_url, min_size=1, max_size=8)
        await database.bootstrap(pool)
        return pool

    async def _start_replication(self, feed: ChangeFeed) -> None:
        loop = asyncio.get_running_loop()
        self.replication = ReplicationStream(self.db_url, loop, feed.on_transaction)
        self.replication.start()
        if not await loop.run_in_executor(None, self.replication.ready.wait, 15):
            raise database.DatabaseError(
                f"logical replication did not start: {self.replication.last_error}"
            )

    async def _serve(self, app: web.Application) -> None:
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{self.config.host}:{port}"

    def replication_status(self) -> tuple[str, str | None]:
        repl = self.replication
        return (repl.status, repl.last_error) if repl is not None else ("off", None)

    def build_app(self, services: Services) -> web.Application:
        policies = Policies(services.tokens)
        app = web.Application(client_max_size=MAX_FRAME, middlewares=policies.middlewares())
        RealtimeEndpoints(services.sockets()).add_routes(app, policies)
        admin = Admin(
            services.hub, self.lifecycle, self.replication_status, self.watch, self.started_at
        )
        admin.add_routes(app, policies)
        functions.add_routes(app, services.pool, policies)  # /functions/v1/{name}
        rest.add_routes(app, services.pool, policies)  # /rest/v1/{table}, /rest/v1/rpc/{fn}
        gotrue.add_routes(  # /auth/v1/*
            app, services.pool, services.tokens.secret, policies, self.config.jwt_exp
        )
        return app

    def ready_info(self) -> dict[str, Any]:
        keys = self.keys
        assert keys is not None
        return {
            "url": self.base_url,
            "anon_key": keys.anon,
            "service_role_key": keys.service_role,
            "jwt_secret": keys.secret,
            "db_url": self.db_url,
            "watch": self.watch,
        }

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        services = self.services
        if services is not None:  # a deploy drain: joins refused, sockets closed 1012, no word
            self.lifecycle.restart()
            conns = list(services.hub.connections)
            await asyncio.gather(*(c.drain(announce=False) for c in conns), return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.replication is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.replication.stop)
        if self.pool is not None:
            await self.pool.close()
