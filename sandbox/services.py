"""The sandbox's shared services, built once at start and handed out piece by piece.

Every part of the server needs a few of these and none needs all of them: a socket needs the hub
(with the project's quotas), the token check, the limits, the private-channel policies, the
publication catalogue and the server's lifecycle; the PostgREST emulation needs only the pool;
an Edge Function only the pool. The composition root
(`server.Sandbox`) builds one `Services` once the database is up and gives each part just the
fields it uses, so no part can reach into the others or into the sandbox's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from .access import Authorizer, Publications
from .auth import TokenVerifier
from .connection import SocketDeps
from .hub import Hub
from .lifecycle import Lifecycle
from .limits import Limits
from .quotas import TICK_S, Quotas


@dataclass(frozen=True)
class Services:
    hub: Hub
    pool: asyncpg.Pool
    tokens: TokenVerifier
    limits: Limits
    authorizer: Authorizer
    publications: Publications
    lifecycle: Lifecycle

    @classmethod
    def build(
        cls,
        pool: asyncpg.Pool,
        secret: str,
        limits: Limits,
        lifecycle: Lifecycle,
        rate_tick_s: float = TICK_S,
    ) -> Services:
        hub = Hub()
        hub.quotas = Quotas(limits, tick_s=rate_tick_s)
        return cls(
            hub=hub,
            pool=pool,
            tokens=TokenVerifier(secret),
            limits=limits,
            authorizer=Authorizer(pool),
            publications=Publications(pool),
            lifecycle=lifecycle,
        )

    def sockets(self) -> SocketDeps:
        """The part every websocket connection shares."""
        return SocketDeps(
            self.hub, self.tokens, self.limits, self.authorizer, self.publications, self.lifecycle
        )
