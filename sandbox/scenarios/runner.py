"""Runs the chosen demo scenarios side by side, restarting any that crash.

A scenario that crashes is logged and restarted with backoff and a fresh random stream: the
sandbox is never silent for long. Each scenario's random seed depends only on `--seed`, its
place among the chosen scenarios (in the order named, or by name when none is named) and its
restart count, so a run is repeatable.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

from .base import Project, Scenario, ScenarioContext
from .registry import select

log = logging.getLogger("sandbox.demo")


class DemoRunner:
    def __init__(self, project: Project, names: Sequence[str], rate: float, seed: int) -> None:
        known = {s.name: s for s in select(names)}
        self.project = project
        self.scenarios = [known[name]() for name in (names or sorted(known))]
        self.rate = rate
        self.seed = seed
        self._prepared: set[str] = set()  # scenarios whose SQL prepare() has applied

    async def prepare(self) -> None:
        """Apply every scenario's schema and seed rows, before the sandbox says it is ready: a
        client that joins at once must find the rows its RLS policies read (a TripSage owner
        was refused her own session when the demo task had not yet run the SQL)."""
        for scenario in self.scenarios:
            try:
                for path in scenario.sql:
                    async with self.project.db.acquire() as conn:
                        await conn.execute(path.read_text())
            except Exception:  # its supervisor logs it, applies it again and restarts it
                continue
            self._prepared.add(scenario.name)

    async def run(self) -> None:
        await asyncio.gather(*(self._supervise(i, s) for i, s in enumerate(self.scenarios)))

    async def _supervise(self, index: int, scenario: Scenario) -> None:
        delay = 1.0
        attempt = 0
        while True:
            ctx = ScenarioContext(
                self.project, self.rate, random.Random(self.seed * 1000 + index + attempt)
            )
            try:
                if attempt or scenario.name not in self._prepared:
                    for path in scenario.sql:
                        async with self.project.db.acquire() as conn:
                            await conn.execute(path.read_text())
                await scenario.run(ctx)
            except asyncio.CancelledError:
                await ctx.close()
                raise
            except Exception:
                log.exception("demo scenario %s failed; restarting in %.0fs", scenario.name, delay)
            await ctx.close()
            attempt += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)
