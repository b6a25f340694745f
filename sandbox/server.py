"""The sandbox server: one aiohttp app on one port, laid out like a Supabase project's URL.

`/realtime/v1/websocket` (and `/socket/websocket`) speak the Realtime protocol;
`/realtime/v1/api/broadcast` (and `/api/broadcast`) are the REST broadcast endpoints;
`/sandbox/v1/*` are the sandbox's own: health, counters, and fault hooks for tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiohttp import WSMsgType, web

from . import auth, database, functions, rest
from .access import Authorizer, Catalog, Visibility
from .connection import Connection
from .hub import Hub
from .pgoutput import Change
from .replication import ReplicationStream

log = logging.getLogger("sandbox")

WS_PATHS = ("/realtime/v1/websocket", "/socket/websocket")
MAX_FRAME = 5_000_000  # the server's websocket max_frame_size (reference §1.1)
MESSAGES_RETENTION = "10 minutes"


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 54321
    data_dir: Path | None = None
    db_url: str | None = None
    jwt_secret: str | None = None
    max_channels: int = 100
    max_payload_bytes: int = 256 * 1024  # Free plan broadcast payload limit
    presence_calls_per_30s: int = 5
    max_buffer: int = 8 * 1024 * 1024
    demo: bool = False
    scenarios: list[str] = field(default_factory=list)
    rate: float = 1.0
    seed: int = 7


class Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir or database.default_data_dir()
        self.secret = ""
        self.anon_key = ""
        self.service_role_key = ""
        self.db_url = ""
        self.pool: asyncpg.Pool | None = None
        self.hub = Hub()
        self.authorizer: Authorizer
        self.catalog: Catalog
        self.replication: ReplicationStream | None = None
        self.started_at = time.time()
        self._pg_handle: object | None = None
        self._changes: asyncio.Queue[list[Change]] = asyncio.Queue(maxsize=10_000)
        self._tasks: list[asyncio.Task[Any]] = []
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    # --- start / stop -------------------------------------------------------------------------

    def _load_secret(self) -> str:
        return self.config.jwt_secret or auth.load_secret(self.data_dir)

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.secret = self._load_secret()
        self.anon_key = auth.mint(self.secret, "anon")
        self.service_role_key = auth.mint(self.secret, "service_role")
        if self.config.db_url:
            self.db_url = self.config.db_url
            await database.check_external(self.db_url)
        else:
            loop = asyncio.get_running_loop()
            self.db_url, self._pg_handle = await loop.run_in_executor(
                None, database.start_embedded, self.data_dir / "pg"
            )
        self.pool = await asyncpg.create_pool(self.db_url, min_size=1, max_size=8)
        await database.bootstrap(self.pool)
        self.authorizer = Authorizer(self.pool)
        self.catalog = Catalog(self.pool)
        self.hub.visibility = Visibility(self.pool)

        loop = asyncio.get_running_loop()
        self.replication = ReplicationStream(self.db_url, loop, self._on_transaction)
        self.replication.start()
        if not await loop.run_in_executor(None, self.replication.ready.wait, 15):
            raise database.DatabaseError(
                f"logical replication did not start: {self.replication.last_error}"
            )
        self._tasks.append(asyncio.create_task(self._dispatch_changes(), name="dispatch"))
        self._tasks.append(asyncio.create_task(self._prune_messages(), name="prune"))

        app = self.build_app()
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{self.config.host}:{port}"

        if self.config.demo:
            from .demo import DemoRunner

            demo = DemoRunner(
                self, self.config.scenarios, rate=self.config.rate, seed=self.config.seed
            )
            self._tasks.append(asyncio.create_task(demo.run(), name="demo"))

    def ready_info(self) -> dict[str, str]:
        return {
            "url": self.base_url,
            "anon_key": self.anon_key,
            "service_role_key": self.service_role_key,
            "jwt_secret": self.secret,
            "db_url": self.db_url,
        }

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in list(self.hub.connections):
            await conn.ws.close(code=1001, message=b"sandbox stopping")
        if self.runner is not None:
            await self.runner.cleanup()
        if self.replication is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.replication.stop)
        if self.pool is not None:
            await self.pool.close()

    # --- changes ------------------------------------------------------------------------------

    def _on_transaction(self, changes: list[Change]) -> None:
        try:
            self._changes.put_nowait(changes)
        except asyncio.QueueFull:
            log.error("change queue full; dropping a transaction of %d changes", len(changes))

    async def _dispatch_changes(self) -> None:
        """One consumer, so changes go out in commit order (as Realtime's single CDC thread)."""
        while True:
            changes = await self._changes.get()
            for change in changes:
                try:
                    if change.schema == "realtime" and change.table == "messages":
                        self._deliver_db_broadcast(change)
                    else:
                        await self.hub.dispatch_change(change)
                except Exception:
                    log.exception(
                        "failed to dispatch a change on %s.%s", change.schema, change.table
                    )

    def _deliver_db_broadcast(self, change: Change) -> None:
        row = change.record or {}
        if change.type != "INSERT" or row.get("extension") != "broadcast":
            return
        if row.get("event") == "authorization_check":
            return
        key = (bool(row.get("private")), str(row.get("topic")))
        body = orjson.dumps(row.get("payload"))
        self.hub.user_broadcast(key, str(row.get("event") or ""), body, 1, {"id": row.get("id")})

    async def _prune_messages(self) -> None:
        """realtime.send rows are only a transport here; keep the table from growing forever."""
        assert self.pool is not None
        while True:
            await asyncio.sleep(60)
            try:
                await self.pool.execute(
                    "delete from realtime.messages where inserted_at < now() - interval "
                    f"'{MESSAGES_RETENTION}'"
                )
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("pruning realtime.messages failed: %s", exc)

    # --- HTTP ---------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_FRAME)
        for path in WS_PATHS:
            app.router.add_get(path, self.websocket)
        for prefix in ("/realtime/v1/api", "/api"):
            app.router.add_post(f"{prefix}/broadcast", self.rest_broadcast)
            app.router.add_post(f"{prefix}/broadcast/{{topic}}/events/{{event}}", self.rest_single)
        app.router.add_get("/sandbox/v1/health", self.health)
        app.router.add_get("/sandbox/v1/stats", self.stats)
        app.router.add_post("/sandbox/v1/disconnect", self.disconnect_all)
        functions.add_routes(app, self)  # Edge Functions: /functions/v1/{name}
        rest.add_routes(app, self)  # PostgREST subset: /rest/v1/{table}, /rest/v1/rpc/{fn}
        app.router.add_get("/", self.health)
        return app

    def _request_claims(self, request: web.Request) -> auth.Claims:
        token = request.headers.get("x-api-key") or request.query.get("apikey")
        bearer = request.headers.get("Authorization", "")
        if bearer.lower().startswith("bearer "):
            token = bearer[7:].strip() or token
        elif request.headers.get("apikey"):
            token = request.headers["apikey"]
        return auth.verify(token, self.secret)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        stats = self.hub.stats
        vsn_param = request.query.get("vsn", "1.0.0")
        if vsn_param not in ("1.0.0", "2.0.0"):
            stats.connections_refused += 1
            return web.json_response({"error": f"Unsupported vsn: {vsn_param}"}, status=400)
        token = request.headers.get("x-api-key") or request.query.get("apikey")
        try:
            claims = auth.verify(token, self.secret)
        except auth.TokenError as err:
            stats.connections_refused += 1
            return web.json_response({"error": auth.connect_error(err)}, status=401)
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_FRAME, autoping=True)
        await ws.prepare(request)
        conn = Connection(self, ws, request.transport, 1 if vsn_param == "1.0.0" else 2, claims)
        self.hub.connections.add(conn)
        stats.connections_total += 1
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await conn.receive(msg.data, False)
                elif msg.type == WSMsgType.BINARY:
                    await conn.receive(msg.data, True)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            conn.cleanup()
            self.hub.connections.discard(conn)
        return ws

    async def rest_broadcast(self, request: web.Request) -> web.Response:
        try:
            claims = self._request_claims(request)
        except auth.TokenError as err:
            return web.json_response({"message": auth.connect_error(err)}, status=401)
        try:
            body = await request.json(loads=orjson.loads)
        except (ValueError, orjson.JSONDecodeError):
            return web.json_response({"errors": {"messages": ["invalid JSON body"]}}, status=422)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            return web.json_response({"errors": {"messages": ["can't be blank"]}}, status=422)
        errors = {}
        for i, m in enumerate(messages):
            missing = [
                k for k in ("topic", "event", "payload") if not isinstance(m, dict) or k not in m
            ]
            if missing:
                errors[str(i)] = {k: ["can't be blank"] for k in missing}
            elif len(orjson.dumps(m["payload"])) > self.config.max_payload_bytes:
                errors[str(i)] = {"payload": ["Payload size exceeds tenant limit"]}
        if errors:
            return web.json_response({"errors": {"messages": errors}}, status=422)
        allowed: dict[str, bool] = {}  # one policy check per private topic, not per message
        for m in messages:
            private = bool(m.get("private", False))
            topic = str(m["topic"])
            if private:
                if topic not in allowed:
                    allowed[topic] = await self.authorizer.can_write_broadcast(topic, claims)
                if not allowed[topic]:
                    continue
            payload: dict[str, Any] = {
                "event": m["event"],
                "payload": m["payload"],
                "type": "broadcast",
            }
            if m.get("id"):
                payload["meta"] = {"id": m["id"]}
            self.hub.stats.broadcasts_in += 1
            self.hub.broadcast((private, topic), payload)
        return web.Response(status=202)

    async def rest_single(self, request: web.Request) -> web.Response:
        try:
            claims = self._request_claims(request)
        except auth.TokenError as err:
            return web.json_response({"message": auth.connect_error(err)}, status=401)
        topic = request.match_info["topic"]
        event = request.match_info["event"]
        private = request.query.get("private", "false").lower() == "true"
        raw = await request.read()
        if len(raw) > self.config.max_payload_bytes:
            return web.json_response({"message": "Payload size exceeds tenant limit"}, status=422)
        if private and not await self.authorizer.can_write_broadcast(topic, claims):
            return web.Response(status=202)
        self.hub.stats.broadcasts_in += 1
        if request.content_type == "application/octet-stream":
            self.hub.user_broadcast((private, topic), event, raw, 0)
        else:
            try:
                orjson.loads(raw or b"{}")
            except orjson.JSONDecodeError:
                return web.json_response({"message": "body is not valid JSON"}, status=422)
            self.hub.user_broadcast((private, topic), event, raw or b"{}", 1)
        return web.Response(status=202)

    async def health(self, request: web.Request) -> web.Response:
        repl = self.replication
        return web.json_response(
            {
                "status": "ok" if repl and repl.status == "streaming" else "degraded",
                "replication": repl.status if repl else "off",
                "replication_error": repl.last_error if repl else None,
                "uptime_s": round(time.time() - self.started_at, 1),
            }
        )

    async def stats(self, request: web.Request) -> web.Response:
        body = self.hub.stats.as_dict()
        body.update(
            connections=len(self.hub.connections),
            channels=self.hub.channel_count(),
            presence_members=sum(len(p) for p in self.hub.presence.values()),
        )
        return web.json_response(body)

    async def disconnect_all(self, request: web.Request) -> web.Response:
        """Fault hook: drain every socket like a tenant restart (system message, close 1012)."""
        try:
            claims = self._request_claims(request)
        except auth.TokenError as err:
            return web.json_response({"message": auth.connect_error(err)}, status=401)
        if claims.role != "service_role":
            return web.json_response({"message": "service_role key required"}, status=403)
        conns = list(self.hub.connections)
        await asyncio.gather(*(c.drain() for c in conns), return_exceptions=True)
        return web.json_response({"disconnected": len(conns)})
