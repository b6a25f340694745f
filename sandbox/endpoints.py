"""The Realtime service's HTTP surface: the websocket upgrade and the REST API.

`/realtime/v1/websocket` (and `/socket/websocket`) upgrade to the Realtime protocol, one
`Connection` per socket: a `vsn` Phoenix cannot serve is an empty 403 at once; a refused key or a
tenant over its user or join limit is refused after the connect backoff
(`UserSocket.connect/3` and `handle_error/2`, user_socket.ex); a socket that sends nothing for
the idle timeout is closed. `/realtime/v1/api/broadcast` (and `/api/broadcast`) take a batch of
messages, `/realtime/v1/api/broadcast/{topic}/events/{event}` one raw body; both answer CORS
preflights from any origin, 429 over the tenant's message rate, and the single one 403 on a
private topic the caller may not write (batch_broadcast.ex, single_broadcast.ex).
`/realtime/v1/api/ping` answers `{"message": "Success"}` (ping_controller.ex). The REST API's
tokens are read and verified by the token middleware (`sandbox.middleware`); refusals keep
Realtime's wording for each surface.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from . import auth, middleware
from .connection import Connection, SocketDeps
from .lifecycle import negotiate_vsn

log = logging.getLogger("sandbox")

WS_PATHS = ("/realtime/v1/websocket", "/socket/websocket")
API_PREFIXES = ("/realtime/v1/api", "/api")
MAX_FRAME = 5_000_000  # the server's websocket max_frame_size (reference §1.1)
CORS = middleware.Cors(
    {"Access-Control-Allow-Origin": "*"},
    lambda request: web.Response(
        status=200,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": request.headers.get(
                "Access-Control-Request-Headers", "authorization, apikey, content-type"
            ),
            "Access-Control-Max-Age": "86400",
        },
    ),
)


def api_refusal(request: web.Request, err: auth.TokenError) -> web.StreamResponse:
    """How Realtime's REST API (and the sandbox's own endpoints) refuse a token."""
    return web.json_response({"message": auth.connect_error(err)}, status=401)


API_TOKENS = middleware.TokenRule(middleware.API, api_refusal)


class RealtimeEndpoints:
    def __init__(self, deps: SocketDeps) -> None:
        self.deps = deps
        self.hub = deps.hub
        self.max_payload = deps.limits.max_payload_bytes

    def add_routes(self, app: web.Application, policies: middleware.Policies) -> None:
        for path in WS_PATHS:
            app.router.add_get(path, self.websocket)  # tokens checked by `connect`
        for prefix in API_PREFIXES:
            for path, handler in (
                (f"{prefix}/broadcast", self.broadcast_batch),
                (f"{prefix}/broadcast/{{topic}}/events/{{event}}", self.broadcast_one),
            ):
                policies.route(app.router.add_post(path, handler), token=API_TOKENS, cors=CORS)
                app.router.add_route("OPTIONS", path, handler)  # answered by the CORS policy
            app.router.add_get(f"{prefix}/ping", self.ping)

    # --- websocket ----------------------------------------------------------------------------

    async def connect(self, request: web.Request) -> auth.Claims | web.Response:
        """UserSocket.connect/3: the token, then the tenant's user and join limits; each refusal
        comes after the connect backoff (`connect_error/1`)."""
        try:
            claims = self.deps.tokens.verify(middleware.find_token(request, middleware.SOCKET))
        except auth.TokenError as err:
            status, text = 401, auth.connect_error(err)
        else:
            over = self.hub.quotas.connect_refusal()
            if over is None:
                return claims
            self.hub.quotas.refusals[over[0]] += 1
            status, text = 429, over[1]
        self.hub.stats.connections_refused += 1
        await asyncio.sleep(self.deps.lifecycle.timing.connect_error_delay_s)
        return web.json_response({"error": text}, status=status)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        vsn = negotiate_vsn(request.query.get("vsn", "1.0.0"))
        if vsn is None:  # Phoenix.Socket negotiate_serializer/2 -> :error: an empty 403
            self.hub.stats.connections_refused += 1
            return web.Response(status=403)
        claims = await self.connect(request)
        if isinstance(claims, web.Response):
            return claims
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_FRAME, autoping=True)
        await ws.prepare(request)
        conn = Connection(self.deps, ws, request.transport, vsn, claims)
        hub = self.hub
        hub.connections.add(conn)
        hub.stats.connections_total += 1
        try:
            await self.serve(conn, ws)
        finally:
            conn.cleanup()
            hub.connections.discard(conn)
        return ws

    async def serve(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        """Frames in arrival order until the socket closes, or sends nothing (not even a ping)
        for the idle timeout, after which the server closes it (code 1000, cowboy's timeout)."""
        idle = self.deps.lifecycle.timing.idle_timeout_s
        while True:
            try:
                msg = await ws.receive(timeout=idle)
            except TimeoutError:
                self.hub.stats.idle_closed += 1
                await ws.close(code=1000)
                return
            if msg.type == WSMsgType.TEXT:
                await conn.receive(msg.data, False)
            elif msg.type == WSMsgType.BINARY:
                await conn.receive(msg.data, True)
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                return

    # --- REST broadcast -----------------------------------------------------------------------

    async def broadcast_batch(self, request: web.Request) -> web.Response:
        claims = middleware.claims(request)
        try:
            body = await request.json(loads=orjson.loads)
        except (ValueError, orjson.JSONDecodeError):
            return web.json_response({"errors": {"messages": ["invalid JSON body"]}}, status=422)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            return web.json_response({"errors": {"messages": ["can't be blank"]}}, status=422)
        errors = self._batch_errors(messages)
        if errors:
            return web.json_response({"errors": {"messages": errors}}, status=422)
        refused = self.hub.quotas.rest_refusal(len(messages))
        if refused is not None:
            return web.json_response({"message": refused}, status=429)
        allowed: dict[str, bool] = {}  # one policy check per private topic, not per message
        for m in messages:
            private = bool(m.get("private", False))
            topic = str(m["topic"])
            if private:
                if topic not in allowed:
                    allowed[topic] = await self.deps.authorizer.can_write_broadcast(topic, claims)
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
            self.hub.quotas.events.add()
            self.hub.broadcast((private, topic), payload)
        return web.Response(status=202)

    def _batch_errors(self, messages: list[Any]) -> dict[str, Any]:
        """Per-message validation errors, keyed by index, in Realtime's changeset shape."""
        errors: dict[str, Any] = {}
        for i, m in enumerate(messages):
            missing = [
                k for k in ("topic", "event", "payload") if not isinstance(m, dict) or k not in m
            ]
            if missing:
                errors[str(i)] = {k: ["can't be blank"] for k in missing}
            elif len(orjson.dumps(m["payload"])) > self.max_payload:
                errors[str(i)] = {"payload": ["Payload size exceeds tenant limit"]}
        return errors

    async def broadcast_one(self, request: web.Request) -> web.Response:
        claims = middleware.claims(request)
        topic = request.match_info["topic"]
        event = request.match_info["event"]
        private = request.query.get("private", "false").lower() == "true"
        raw = await request.read()
        if len(raw) > self.max_payload:
            return web.json_response({"message": "Payload size exceeds tenant limit"}, status=422)
        binary = request.content_type == "application/octet-stream"
        if not binary:
            try:
                orjson.loads(raw or b"{}")
            except orjson.JSONDecodeError:
                return web.json_response({"message": "body is not valid JSON"}, status=422)
        refused = self.hub.quotas.rest_refusal(None)
        if refused is not None:
            return web.json_response({"message": refused}, status=429)
        if private and not await self.deps.authorizer.can_write_broadcast(topic, claims):
            return web.json_response({"message": "Unauthorized"}, status=403)
        self.hub.stats.broadcasts_in += 1
        self.hub.quotas.events.add()
        if binary:
            self.hub.user_broadcast((private, topic), event, raw, 0)
        else:
            self.hub.user_broadcast((private, topic), event, raw or b"{}", 1)
        return web.Response(status=202)

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({"message": "Success"})
