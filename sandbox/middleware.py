"""aiohttp middlewares for what every HTTP surface of the sandbox needs: the caller's token, CORS.

A Supabase project's surfaces read the caller's key from different places and refuse bad keys in
different words: the Realtime socket reads `apikey` (query) or `x-api-key`; the Realtime REST API
and PostgREST also take `Authorization: Bearer`; the Edge runtime takes only a `Bearer` header.
Each route says once, when it is added, which places it reads (`TokenRule.sources`) and how it
refuses (`TokenRule.refuse`); the token middleware reads and verifies, so handlers get verified
claims from `claims(request)` and never parse headers. Routes that browsers call say which CORS
headers go on every response and how a preflight is answered (`Cors`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from .auth import Claims, TokenError, TokenVerifier

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CLAIMS_KEY: Final = "sandbox.claims"

# Where a token may be found, by name (see `find_token`).
SOCKET: Final = ("x-api-key", "query")  # the websocket upgrade, as Realtime reads it
API: Final = ("bearer", "apikey", "x-api-key", "query")  # Realtime's REST API
REST: Final = ("bearer", "apikey", "query")  # PostgREST behind Supabase's gateway
EDGE: Final = ("edge",)  # the Edge runtime: `Authorization: Bearer <token>`, nothing else


@dataclass(frozen=True)
class TokenRule:
    """Where a route finds the caller's token, and its answer when the token is refused."""

    sources: tuple[str, ...]
    refuse: Callable[[web.Request, TokenError], web.StreamResponse]


@dataclass(frozen=True)
class Cors:
    """Headers added to every response of a route, and its answer to a preflight."""

    headers: Mapping[str, str]
    preflight: Callable[[web.Request], web.StreamResponse]


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _edge_bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme == "Bearer" else None


_SOURCES: Final[Mapping[str, Callable[[web.Request], str | None]]] = {
    "bearer": _bearer,
    "edge": _edge_bearer,
    "apikey": lambda request: request.headers.get("apikey"),
    "x-api-key": lambda request: request.headers.get("x-api-key"),
    "query": lambda request: request.query.get("apikey"),
}


def find_token(request: web.Request, sources: tuple[str, ...]) -> str | None:
    """The first non-empty token among `sources`, in order."""
    for name in sources:
        token = _SOURCES[name](request)
        if token:
            return token
    return None


def claims(request: web.Request) -> Claims:
    """The verified claims of a request whose route has a token rule."""
    return request[CLAIMS_KEY]


class Policies:
    """The token rule and CORS policy of each route, and the two middlewares that apply them."""

    def __init__(self, tokens: TokenVerifier) -> None:
        self.tokens = tokens
        self._rules: dict[web.AbstractResource, TokenRule] = {}
        self._cors: dict[web.AbstractResource, Cors] = {}

    def route(
        self,
        route: web.AbstractRoute,
        *,
        token: TokenRule | None = None,
        cors: Cors | None = None,
    ) -> None:
        """Attach policies to the route's resource (so its HEAD twin shares them)."""
        resource = route.resource
        assert resource is not None
        if token is not None:
            self._rules[resource] = token
        if cors is not None:
            self._cors[resource] = cors

    def middlewares(self) -> list[Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]]:
        """CORS outermost, so preflights need no token and refusals carry CORS headers too."""
        rules, cors_policies, tokens = self._rules, self._cors, self.tokens

        @web.middleware
        async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
            policy = cors_policies.get(request.match_info.route.resource)  # type: ignore[arg-type]
            if policy is None:
                return await handler(request)
            if request.method == "OPTIONS":
                return policy.preflight(request)
            response = await handler(request)
            response.headers.update(policy.headers)
            return response

        @web.middleware
        async def token(request: web.Request, handler: Handler) -> web.StreamResponse:
            rule = rules.get(request.match_info.route.resource)  # type: ignore[arg-type]
            if rule is not None:
                try:
                    request[CLAIMS_KEY] = tokens.verify(find_token(request, rule.sources))
                except TokenError as err:
                    return rule.refuse(request, err)
            return await handler(request)

        return [cors, token]
