"""The tenant's own usage figures, polled from the bundled sandbox's `GET /sandbox/v1/stats`.

Supabase meters a whole project (tenant) against its plan: messages per second, channel joins per
second, concurrent connections, presence messages per second (reference §9.1, §13.3). A monitor
sees only its own share of that traffic. The bundled sandbox, which enforces the same quotas,
also says what it counts, so when the monitor watches it the quota gauges can show the tenant's
real figures next to the monitor's own. A hosted Supabase project has no such endpoint: the
poller is started only for the sandbox (`feeds.monitor.Monitor`), and the gauges fall back to
the monitor's own traffic elsewhere.

A failed poll (the sandbox restarting, a slow answer) is logged once and retried every interval:
usage figures are a nicety of the gauges, never a reason for the feed to stop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("feeds.usage")

STATS_PATH = "/sandbox/v1/stats"
POLL_INTERVAL_S = 2.0
# Supabase's Realtime.RateCounter: a 5 s tick, an average over the last 12 ticks (60 s).
SUPABASE_TICK_S = 5.0
SUPABASE_BUCKETS = 12


@dataclass(frozen=True, slots=True)
class TenantUsage:
    """One reading of the tenant's counters, as the server counts them.

    The rates are the server's own averages (over `window_s`, the last `buckets` ticks of
    `tick_s`), which is what its limits are checked against; `at` is when the monitor read them
    (epoch seconds), so a reader can tell a fresh reading from a stale one.
    """

    at: float
    messages_per_s: float
    joins_per_s: float
    presence_messages_per_s: float
    connections: int  # sockets that joined a channel (Supabase's "concurrent users")
    refusals: dict[str, int] = field(default_factory=dict)  # refusals so far, by kind
    limits: dict[str, int] = field(default_factory=dict)  # the limits the server enforces
    tick_s: float = SUPABASE_TICK_S  # the rate counters' tick
    window_s: float = SUPABASE_TICK_S * SUPABASE_BUCKETS  # what the rates average over


def parse_stats(body: Any, at: float) -> TenantUsage:
    """A `/sandbox/v1/stats` body as a TenantUsage; ValueError if it is not shaped like one."""
    if not isinstance(body, dict) or not isinstance(body.get("rates"), dict):
        raise ValueError("stats without a `rates` object")
    rates = body["rates"]
    clock = body.get("rate_counter") if isinstance(body.get("rate_counter"), dict) else {}
    try:
        tick = float(clock.get("tick_s", SUPABASE_TICK_S))
        buckets = int(clock.get("buckets", SUPABASE_BUCKETS))
        return TenantUsage(
            at=at,
            messages_per_s=float(rates["events_per_second"]),
            joins_per_s=float(rates["joins_per_second"]),
            presence_messages_per_s=float(rates["presence_events_per_second"]),
            connections=int(rates["concurrent_users"]),
            refusals={str(k): int(v) for k, v in (body.get("refusals") or {}).items()},
            limits={str(k): int(v) for k, v in (body.get("limits") or {}).items()},
            tick_s=tick,
            window_s=tick * buckets,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"stats not shaped as expected: {exc!r}") from None


class UsagePoller:
    """Reads the tenant's usage every `interval_s` and hands each reading to `on_usage`."""

    def __init__(
        self,
        url: str,
        key: str,
        on_usage: Callable[[TenantUsage], None],
        interval_s: float = POLL_INTERVAL_S,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/") + STATS_PATH
        self.key = key
        self.on_usage = on_usage
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.polls = 0  # successful polls, for tests and the log
        self.failures = 0  # consecutive failed polls
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="tenant-usage")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        import aiohttp  # here, not at the top: readers of TenantUsage need no HTTP client

        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        headers = {"apikey": self.key}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
            while True:
                await self.poll(session)
                await asyncio.sleep(self.interval_s)

    async def poll(self, session: aiohttp.ClientSession) -> TenantUsage | None:
        """One reading; a failure is logged on the first of a run of failures only."""
        try:
            async with session.get(self.url) as resp:
                resp.raise_for_status()
                usage = parse_stats(await resp.json(), time.time())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a nicety: never let it end the feed
            self.failures += 1
            if self.failures == 1:
                log.warning("tenant usage unavailable from %s (%s); retrying", self.url, exc)
            return None
        if self.failures:
            log.info("tenant usage available again after %d failed polls", self.failures)
        self.failures = 0
        self.polls += 1
        try:
            self.on_usage(usage)
        except Exception:
            log.exception("a sink failed to record tenant usage")
        return usage
