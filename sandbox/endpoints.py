"""The Realtime service's HTTP surface: the websocket upgrade and the REST broadcast API.

`/realtime/v1/websocket` (and `/socket/websocket`) upgrade to the Realtime protocol, one
`Connection` per socket. `/realtime/v1/api/broadcast` (and `/api/broadcast`) take a batch of
messages; `/realtime/v1/api/broadcast/{topic}/events/{event}` takes one raw body. Callers' tokens
are read and verified by the token middleware (`sandbox.middleware`); refusals keep Realtime's
wording for each surface.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from . import auth, middleware
from .connection import Connection, SocketDeps

log = logging.getLogger("sandbox")

WS_PATHS = ("/realtime/v1/websocket", "/socket/websocket")
API_PREFIXES = ("/realtime/v1/api", "/api")
MAX_FRAME = 5_000_000  # the server's websocket max_frame_size (reference §1.1)
VSNS = {"1.0.0": 1, "2.0.0": 2}


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
        sockets = middleware.TokenRule(middleware.SOCKET, self.refuse_socket)
        for path in WS_PATHS:
            policies.route(app.router.add_get(path, self.websocket), token=sockets)
        for prefix in API_PREFIXES:
            routes = (
                app.router.add_post(f"{prefix}/broadcast", self.broadcast_batch),
                app.router.add_post(
                    f"{prefix}/broadcast/{{topic}}/events/{{event}}", self.broadcast_one
                ),
            )
            for route in routes:
                policies.route(route, token=API_TOKENS)

    # --- websocket ----------------------------------------------------------------------------

    def _bad_vsn(self, request: web.Request) -> web.Response | None:
        vsn = request.query.get("vsn", "1.0.0")
        if vsn in VSNS:
            return None
        self.hub.stats.connections_refused += 1
        return web.json_response({"error": f"Unsupported vsn: {vsn}"}, status=400)

    def refuse_socket(self, request: web.Request, err: auth.TokenError) -> web.StreamResponse:
        """A bad `vsn` is answered first, as Phoenix checks it before the socket's connect."""
        bad = self._bad_vsn(request)
        if bad is not None:
            return bad
        self.hub.stats.connections_refused += 1
        return web.json_response({"error": auth.connect_error(err)}, status=401)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        bad = self._bad_vsn(request)
        if bad is not None:
            return bad
        vsn = VSNS[request.query.get("vsn", "1.0.0")]
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_FRAME, autoping=True)
        await ws.prepare(request)
        conn = Connection(self.deps, ws, request.transport, vsn, middleware.claims(request))
        hub = self.hub
        hub.connections.add(conn)
        hub.stats.connections_total += 1
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
            hub.connections.discard(conn)
        return ws

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
        if private and not await self.deps.authorizer.can_write_broadcast(topic, claims):
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
