"""`SharedSnapshots`: one snapshot per tick, shared by every view of a process.

Twenty browser sessions (or a notebook's three live views) refreshing in the same second read one
`Snapshot` and what is derived from it (chart columns, tile markup, alert checks), built once.
This is the one Parameterized object views receive (`param.ClassSelector`), in the manner of
Panel's DataStore tutorial: it holds the store and what the composition root tells the views
about the feed (where it points, which channels it joins, an error starting it), and it knows
nothing of Panel.

Two ways to ask, matching a view's two paths:
* `covering(pulse)`: the fast path, when something shown at once changed (status, live-slot
  counters); a snapshot already taken since that change is reused.
* `since(t)`: the slow path, once per clock-aligned second: the first session of the second
  takes a snapshot, the others reuse it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import param

from metrics.alerts import Check, evaluate
from metrics.quota import Gauge, gauges, quota_checks
from metrics.snapshot import Snapshot
from metrics.store import Pulse, Store

T = TypeVar("T")


class SharedSnapshots(param.Parameterized):
    store = param.ClassSelector(class_=Store, doc="The process's metrics store.")
    alerts = param.Parameter(None, doc="The [alerts] thresholds (metrics.settings.AlertsConfig).")
    quota = param.Parameter(None, doc="The [quota] plan (metrics.settings.QuotaConfig).")
    target = param.String("starting…", doc="Where the feed points, for headers (never a key).")
    channels = param.List([], item_type=str, doc="Topics the feed joins, in config order.")
    error = param.String(None, allow_None=True, doc="Why the feed could not start, if it failed.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._latest: Snapshot | None = None
        self._latest_at = float("-inf")
        self._latest_pulse: Pulse | None = None
        self._derived_from: Snapshot | None = None
        self._derived: dict[Any, Any] = {}

    def pulse(self) -> Pulse:
        """The store's O(1) change counters; equal pulses mean nothing new."""
        return self.store.pulse()

    def _take(self) -> Snapshot:
        self._latest_pulse = self.store.pulse()
        self._latest = self.store.snapshot()
        self._latest_at = time.time()
        return self._latest

    def since(self, t: float) -> Snapshot:
        """A snapshot taken at or after wall-clock time `t`."""
        if self._latest is None or self._latest_at < t:
            return self._take()
        return self._latest

    def covering(self, pulse: Pulse) -> Snapshot:
        """A snapshot that already shows the replica and connection changes of `pulse`."""
        seen = self._latest_pulse
        if (
            self._latest is None
            or seen is None
            or seen.replica_changes < pulse.replica_changes
            or seen.connection_changes < pulse.connection_changes
        ):
            return self._take()
        return self._latest

    def latest(self, max_age: float = 0.25) -> Snapshot:
        """The newest snapshot if it is at most `max_age` seconds old, else a new one."""
        return self.since(time.time() - max_age)

    def derived(self, snap: Snapshot, key: Any, build: Callable[[], T]) -> T:
        """`build()`, computed once per snapshot and `key` for everyone who asks. Only the
        newest snapshot's values are kept."""
        if self._derived_from is not snap:
            self._derived_from, self._derived = snap, {}
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    def checks(self, snap: Snapshot) -> dict[str, Check]:
        """The alert rules and the quota checks evaluated on `snap`, by rule name (once per
        snapshot): the tiles, the badge and the wall colour from the same rules as the check."""
        if self.alerts is None:
            return {}

        def build() -> dict[str, Check]:
            found = evaluate(snap, self.alerts) + quota_checks(self.quota_gauges(snap))
            return {c.name: c for c in found}

        return self.derived(snap, "checks", build)

    def quota_gauges(self, snap: Snapshot) -> list[Gauge]:
        """The plan's quota gauges on `snap` (once per snapshot); none without a [quota]."""
        if self.quota is None:
            return []
        return self.derived(snap, "quota-gauges", lambda: gauges(snap, self.quota))
