"""The one ingest of a server process, shared by every browser session.

`get_runtime()` returns the process-wide `Runtime` (kept in `pn.state.cache`): the watch config,
the metrics `Store`, and the `Monitor` that feeds it (starting the sandbox when nothing else is
configured). Sessions only read: the store's O(1) `pulse()` to decide whether anything changed,
and `snapshot()`, which is cached briefly so twenty sessions refreshing in the same second build
one snapshot, not twenty. Nothing here touches a session's Bokeh models.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from feeds.config import WatchConfig, load_config
from feeds.monitor import Monitor
from metrics.snapshot import Snapshot
from metrics.store import Store

log = logging.getLogger("dashboards.runtime")
CACHE_KEY = "realtime-monitor-runtime"


class Runtime:
    def __init__(self, config: WatchConfig) -> None:
        self.config = config
        self.store = Store.from_watch(config)
        self.sandbox_log = Path(tempfile.gettempdir()) / "realtime-monitor-sandbox.log"
        self.monitor = Monitor(config, [self.store], sandbox_log=self.sandbox_log)
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._snapshot: Snapshot | None = None
        self._snapshot_at = 0.0

    def ensure_started(self) -> None:
        """Start ingest on the running event loop, once."""
        if self._task is not None:
            return
        loop = asyncio.get_event_loop()
        self._task = loop.create_task(self._start())

    async def _start(self) -> None:
        try:
            await self.monitor.start()
        except Exception as exc:  # shown on every page rather than lost in a log
            self.error = f"could not start monitoring: {exc}"
            log.exception("monitor failed to start")

    async def stop(self) -> None:
        await self.monitor.stop()

    @property
    def target(self) -> str:
        return self.monitor.target if self.monitor.url else "starting…"

    @property
    def channels(self) -> list[str]:
        return [c.topic for c in self.config.channels]

    def snapshot(self, max_age: float = 0.25) -> Snapshot:
        """A snapshot at most `max_age` seconds old, shared by the sessions that ask for it."""
        now = time.monotonic()
        if self._snapshot is None or now - self._snapshot_at > max_age:
            self._snapshot = self.store.snapshot()
            self._snapshot_at = now
        return self._snapshot

    async def send_broadcast(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        sup = self.monitor.supervisor
        if sup is None:
            raise RuntimeError("not connected yet")
        await sup.send_broadcast(topic, event, payload)


def get_runtime(config: WatchConfig | None = None) -> Runtime:
    import panel as pn

    runtime = pn.state.cache.get(CACHE_KEY)
    if runtime is None:
        logging.getLogger("realtime").setLevel(logging.CRITICAL)  # the timeline has the reasons
        runtime = Runtime(config or load_config())
        pn.state.cache[CACHE_KEY] = runtime
    runtime.ensure_started()
    return runtime
