"""The one ingest of a server process, shared by every browser session.

`get_runtime()` returns the process-wide `Runtime` (kept in `pn.state.cache`): the watch config,
the metrics `Store`, and the `Monitor` that feeds it (starting the sandbox when nothing else is
configured). Sessions only read: the store's O(1) `pulse()` to decide whether anything changed,
and `snapshot()`, which is cached briefly so twenty sessions refreshing in the same second build
one snapshot, not twenty, and `derived()`, which computes what every session would otherwise
compute from that snapshot by itself (chart columns, tile markup) once. Nothing here touches a
session's Bokeh models.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from feeds.config import WatchConfig, load_config
from feeds.monitor import Monitor
from metrics.alerts import Check, evaluate
from metrics.snapshot import Snapshot
from metrics.store import Pulse, Store

log = logging.getLogger("dashboards.runtime")
CACHE_KEY = "realtime-monitor-runtime"
T = TypeVar("T")


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
        self._snapshot_pulse: Pulse | None = None
        self._derived_from: Snapshot | None = None
        self._derived: dict[Any, Any] = {}

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

    def snapshot(self, max_age: float = 0.25, covering: Pulse | None = None) -> Snapshot:
        """A snapshot at most `max_age` seconds old, shared by the sessions that ask for it. With
        `covering`, one that already includes that pulse's connection changes: when the status
        changes, every session's fast path asks for it at once and all but the first reuse it."""
        now = time.monotonic()
        stale = self._snapshot is None or now - self._snapshot_at > max_age
        if not stale and covering is not None and self._snapshot_pulse is not None:
            stale = self._snapshot_pulse.connection_changes < covering.connection_changes
        if stale:
            self._snapshot_pulse = self.store.pulse()
            # pages read the log and the replica from the store itself, not from the snapshot
            self._snapshot = self.store.snapshot(detail=False)
            self._snapshot_at = now
        return self._snapshot

    def derived(self, snap: Snapshot, key: Any, build: Callable[[], T]) -> T:
        """`build()`, computed once per snapshot and `key` and shared by every session that asks.
        Only the latest snapshot's values are kept."""
        if self._derived_from is not snap:
            self._derived_from, self._derived = snap, {}
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    def checks(self, snap: Snapshot) -> dict[str, Check]:
        """The alert rules evaluated on `snap`, by rule name (once per snapshot)."""
        return self.derived(
            snap, "checks", lambda: {c.name: c for c in evaluate(snap, self.config.alerts)}
        )

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
