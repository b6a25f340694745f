"""The ingest of a process, composed from the watch config: one `Runtime` per watched project,
held together by a `Fleet`.

`Runtime` wires the layers together for one project: the feed (`feeds.Monitor`, which starts the
sandbox when the project names no URL) writes into one metrics `Store`; `SharedSnapshots` is what
every view of that project reads; `send_broadcast` is the one write path (the Inspector's test
broadcast), handed to the views as a command; `collector` is the project's part of `/metrics`
(`monitor.prometheus`), and `metrics_registry` what the process's `/metrics` exposes.

`Fleet` is the process's set of Runtimes, one per `WatchConfig.per_project()`: a file without
[[projects]] is one project, exactly as before. Projects share nothing but the event loop: each
has its own connection, store, snapshots and (without a URL) its own sandbox child, so one
project's outage or flood never shows in another's numbers. The fleet hands the pages a mapping
name -> SharedSnapshots (and name -> send command) and keeps one Prometheus registry in which
each project's collector labels its series with the project's name.

A server keeps the Fleet in `pn.state.cache` (`get_fleet`), so every browser session shares it;
`get_runtime()` is its first (default) project, for callers that know only one. A notebook makes
its own with `Runtime(load_config())` or `Fleet(load_config())`.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from feeds.monitor import Monitor
from metrics.shared import SharedSnapshots
from metrics.store import Store

from .config import WatchConfig, load_config, store_params
from .notify import Notifier, shared_checks
from .notify import families as notify_families
from .prometheus import collector_for, project_label, registry

log = logging.getLogger("monitor.runtime")
CACHE_KEY = "realtime-monitor-runtime"  # the default project's Runtime (monitor.metrics_route)
FLEET_KEY = "realtime-monitor-fleet"
SANDBOX_LOG = Path(tempfile.gettempdir()) / "realtime-monitor-sandbox.log"


class Runtime:
    """One project's ingest: its feed, its store, its shared snapshots, its collector, its
    alert delivery (`notifier`, started once the feed is)."""

    def __init__(self, config: WatchConfig, sandbox_log: str | Path | None = None) -> None:
        self.config = config
        self.name = project_label(config)
        self.store = Store(**store_params(config))
        self.sandbox_log = sandbox_log or SANDBOX_LOG
        self.monitor = Monitor(config, [self.store], sandbox_log=self.sandbox_log)
        self.shared = SharedSnapshots(
            store=self.store,
            alerts=config.alerts,
            quota=config.quota,
            channels=[c.topic for c in config.channels],
        )
        # /metrics (monitor.metrics_route): one snapshot per scrape, none between. Alone, the
        # registry holds this project; a Fleet replaces it with the one of all its projects.
        self.collector = collector_for(self.store, config, self.monitor)
        self.metrics_registry = registry(self.collector)
        # alert delivery by webhook ([notify], monitor.notify): the tiles' rules, started with
        # the feed; its counters go into this project's /metrics
        self.notifier = Notifier(self.name, shared_checks(self.shared), config.notify)
        self.collector.extra.append(lambda: notify_families([self.notifier]))
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
            log.exception("monitor of %s failed to start", self.name)
            return
        self.shared.param.update(
            target=self.monitor.target, channels=[c.topic for c in self.monitor.channels]
        )
        self.notifier.start()

    async def stop(self) -> None:
        await self.notifier.stop()
        await self.monitor.stop()

    async def send_broadcast(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        """Send a broadcast on a joined channel, as the monitor's own connection."""
        sup = self.monitor.supervisor
        if sup is None:
            raise RuntimeError("not connected yet")
        await sup.send_broadcast(topic, event, payload)


class Fleet:
    """Every project the process watches, in config order; the first is the default."""

    def __init__(self, config: WatchConfig, sandbox_log: str | Path | None = None) -> None:
        self.config = config
        configs = config.per_project()
        self.runtimes: dict[str, Runtime] = {}
        for cfg in configs:
            log_path = sandbox_log
            if len(configs) > 1 and cfg.uses_sandbox:  # a sandbox child each, a log each
                base = Path(sandbox_log or SANDBOX_LOG)
                log_path = base.with_name(f"{base.stem}-{cfg.project}{base.suffix}")
            runtime = Runtime(cfg, sandbox_log=log_path)
            self.runtimes[runtime.name] = runtime
        self.metrics_registry = registry(*(r.collector for r in self.runtimes.values()))
        for runtime in self.runtimes.values():
            runtime.metrics_registry = self.metrics_registry

    @property
    def default(self) -> Runtime:
        return next(iter(self.runtimes.values()))

    @property
    def shared(self) -> dict[str, SharedSnapshots]:
        """What the pages read: project name -> its shared snapshots, in config order."""
        return {name: r.shared for name, r in self.runtimes.items()}

    @property
    def send(self) -> dict[str, Callable[[str, str, dict[str, Any]], Awaitable[None]]]:
        """Each project's test-broadcast command, by name."""
        return {name: r.send_broadcast for name, r in self.runtimes.items()}

    def start_soon(self) -> None:
        for runtime in self.runtimes.values():
            runtime.start_soon()

    async def start(self) -> None:
        await asyncio.gather(*(r.start() for r in self.runtimes.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(r.stop() for r in self.runtimes.values()))


def get_fleet(config: WatchConfig | None = None) -> Fleet:
    """The server process's Fleet, started on first use."""
    import panel as pn

    fleet = pn.state.cache.get(FLEET_KEY)
    if fleet is None:
        logging.getLogger("realtime").setLevel(logging.CRITICAL)  # the timeline has the reasons
        fleet = Fleet(config or load_config())
        pn.state.cache[FLEET_KEY] = fleet
        # the default project's Runtime where callers of one project look for it; its
        # metrics_registry is the fleet's, so /metrics has every project
        pn.state.cache[CACHE_KEY] = fleet.default
    fleet.start_soon()
    return fleet


def get_runtime(config: WatchConfig | None = None) -> Runtime:
    """The server process's default (first) project's Runtime, started on first use."""
    return get_fleet(config).default
