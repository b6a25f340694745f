"""One process's ingest: the feed config, the sandbox if needed, the Supervisor, and its sinks.

Everything the Supervisor observes goes to every sink (a metrics store, a recorder, a test's
list): anything with `ingest(event)`, `record_status(change)` and `record_subscription(change)`,
and `record_problem(problem)` if it wants the problems (feeds.problems).
feeds never imports metrics; the composition root (`monitor`, app.py, notebooks) brings the store.

With no channels configured and the bundled sandbox in use, the channels come from the sandbox
(`SandboxChild.watch`): the demo knows its own topics, the monitor does not hard-code them.

Watching the bundled sandbox, the monitor also reads the tenant's usage (`feeds.usage`: what the
server counts against the plan's quotas) every 2 s and hands each reading to the sinks that have
`record_usage(usage)`; a hosted project has no such endpoint, so nothing is polled there.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from .events import Event, StatusChange, SubscriptionChange
from .problems import Problem
from .recording import Recorder
from .sandbox_child import SandboxChild, start_sandbox_child
from .settings import ChannelConfig, FeedConfig, feed_channels
from .supervisor import Supervisor
from .usage import TenantUsage, UsagePoller

log = logging.getLogger("feeds.monitor")


class RecorderSink:
    """Adapts a Recorder to the sink interface."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def ingest(self, event: Event) -> None:
        self.recorder.event(event)

    def record_status(self, change: StatusChange) -> None:
        self.recorder.status(change)

    def record_subscription(self, change: SubscriptionChange) -> None:
        self.recorder.subscription(change)

    def record_problem(self, problem: Problem) -> None:
        self.recorder.problem(problem)


def sandbox_channels(sandbox: SandboxChild) -> list[ChannelConfig]:
    """The sandbox's suggested channels, checked like a config file's [[channels]]: a sandbox
    that suggests something invalid is a bug there, reported rather than half-joined."""
    try:
        channels = feed_channels(sandbox.watch)
    except ValidationError as exc:
        raise ValueError(f"the sandbox suggested channels that are not valid: {exc}") from None
    if not channels:
        log.warning("no channels configured and the sandbox suggested none: probes only")
    return channels


def shown_url(url: str) -> str:
    """`url` as a page may show it: without user:password@, query or fragment."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class Monitor:
    """Starts the sandbox when the config names no project, then one Supervisor feeding `sinks`.

    `channels` is what is watched: the config's channels, or after `start()` the sandbox's when
    the config lists none. The config itself is never changed.

    `poll_usage`: read the tenant's usage from `/sandbox/v1/stats`. None (the default) does so
    only for the sandbox it started itself; True also for a sandbox started elsewhere and given
    as the config's url (the tests start theirs with their own flags).
    """

    def __init__(
        self,
        config: FeedConfig,
        sinks: list[Any],
        sandbox_log: str | Path | None = None,
        poll_usage: bool | None = None,
    ) -> None:
        self.config = config
        self.sinks = list(sinks)
        self.sandbox_log = sandbox_log
        self.sandbox: SandboxChild | None = None
        self.supervisor: Supervisor | None = None
        self.url = config.connection.url
        self.key = config.connection.key
        self.channels: list[ChannelConfig] = list(config.channels)
        self.poll_usage = poll_usage
        self.usage: UsagePoller | None = None

    @property
    def target(self) -> str:
        """Where we are watching, for headers and summaries: every page shows it, so never the
        key, nor a password or query (`?apikey=`) someone wrote into the URL."""
        url = shown_url(self.url)
        return f"sandbox at {url}" if self.sandbox else url

    async def start(self) -> None:
        cfg = self.config
        db_url = cfg.probes.database.db_url or None
        if cfg.uses_sandbox:
            loop = asyncio.get_running_loop()
            sb = cfg.sandbox
            self.sandbox = await loop.run_in_executor(
                None,
                lambda: start_sandbox_child(
                    demo=sb.demo,
                    scenarios=sb.scenarios,
                    rate=sb.rate,
                    data_dir=sb.data_dir or None,
                    log_path=self.sandbox_log,
                    changes=sb.changes,
                ),
            )
            # Watching its own sandbox, the monitor uses the service role, like Supabase's
            # Inspector: every user's rows and private channels are visible to it.
            self.url, self.key = self.sandbox.url, self.sandbox.service_role_key
            db_url = db_url or self.sandbox.db_url
            log.info("watching the bundled sandbox at %s", self.url)
            if not cfg.channels:
                try:
                    self.channels = sandbox_channels(self.sandbox)
                except ValueError:
                    await loop.run_in_executor(None, self.sandbox.stop)
                    raise
                cfg = cfg.model_copy(update={"channels": self.channels})
        if not cfg.probes.database.enabled:
            db_url = None
        self.supervisor = Supervisor(
            cfg,
            url=self.url,
            key=self.key,
            db_url=db_url,
            on_event=self._event,
            on_status=self._status,
            on_subscription=self._subscription,
            on_problem=self._problem,
        )
        self.supervisor.start()
        poll = self.sandbox is not None if self.poll_usage is None else self.poll_usage
        if poll:
            self.usage = UsagePoller(self.url, self.key, self._usage)
            self.usage.start()

    async def stop(self) -> None:
        if self.usage is not None:
            await self.usage.stop()
        if self.supervisor is not None:
            await self.supervisor.stop()
        if self.sandbox is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.sandbox.stop)

    def _event(self, event: Event) -> None:
        for sink in self.sinks:
            sink.ingest(event)

    def _status(self, change: StatusChange) -> None:
        for sink in self.sinks:
            sink.record_status(change)

    def _subscription(self, change: SubscriptionChange) -> None:
        for sink in self.sinks:
            sink.record_subscription(change)

    def _usage(self, usage: TenantUsage) -> None:
        for sink in self.sinks:
            record = getattr(sink, "record_usage", None)  # sinks without it do not want it
            if record is not None:
                record(usage)

    def _problem(self, problem: Problem) -> None:
        for sink in self.sinks:
            record = getattr(sink, "record_problem", None)
            if record is not None:
                record(problem)
