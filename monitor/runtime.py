"""The one ingest of a process, composed from the watch config.

`Runtime` wires the layers together: the feed (`feeds.Monitor`, which starts the sandbox when no
project is configured) writes into one metrics `Store`; `SharedSnapshots` is what every view
reads; `send_broadcast` is the one write path (the Inspector's test broadcast), handed to the
views as a command; `metrics_registry` is what `/metrics` exposes (`monitor.prometheus`). A
server keeps one Runtime in `pn.state.cache` (`get_runtime`), so every browser session shares
it; a notebook makes its own with `Runtime(load_config())`.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any

from feeds.monitor import Monitor
from metrics.shared import SharedSnapshots
from metrics.store import Store

from .config import WatchConfig, load_config, store_params
from .prometheus import collector_for, registry

log = logging.getLogger("monitor.runtime")
CACHE_KEY = "realtime-monitor-runtime"


class Runtime:
    def __init__(self, config: WatchConfig, sandbox_log: str | Path | None = None) -> None:
        self.config = config
        self.store = Store(**store_params(config))
        self.sandbox_log = sandbox_log or (
            Path(tempfile.gettempdir()) / "realtime-monitor-sandbox.log"
        )
        self.monitor = Monitor(config, [self.store], sandbox_log=self.sandbox_log)
        self.shared = SharedSnapshots(
            store=self.store,
            alerts=config.alerts,
            quota=config.quota,
            channels=[c.topic for c in config.channels],
        )
        # /metrics of the server (monitor.metrics_route): one snapshot per scrape, none between
        self.metrics_registry = registry(collector_for(self.store, config, self.monitor))
        self._task: asyncio.Task[None] | None = None

    def start_soon(self) -> None:
        """Start ingest on the running event loop, once (for callers that cannot await)."""
        if self._task is None:
            self._task = asyncio.get_event_loop().create_task(self.start())

    async def start(self) -> None:
        """Start the feed; a failure is shown on every page rather than lost in a log."""
        try:
            await self.monitor.start()
        except Exception as exc:
            self.shared.error = f"could not start monitoring: {exc}"
            log.exception("monitor failed to start")
            return
        self.shared.param.update(
            target=self.monitor.target, channels=[c.topic for c in self.monitor.channels]
        )

    async def stop(self) -> None:
        await self.monitor.stop()

    async def send_broadcast(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        """Send a broadcast on a joined channel, as the monitor's own connection."""
        sup = self.monitor.supervisor
        if sup is None:
            raise RuntimeError("not connected yet")
        await sup.send_broadcast(topic, event, payload)


def get_runtime(config: WatchConfig | None = None) -> Runtime:
    """The server process's Runtime, started on first use."""
    import panel as pn

    runtime = pn.state.cache.get(CACHE_KEY)
    if runtime is None:
        logging.getLogger("realtime").setLevel(logging.CRITICAL)  # the timeline has the reasons
        runtime = Runtime(config or load_config())
        pn.state.cache[CACHE_KEY] = runtime
    runtime.start_soon()
    return runtime
