"""The one update loop of a browser session.

Each page is a `LiveView`. A session has one periodic callback (every `update_ms`, 100 ms by
default) that reads the store's O(1) pulse and returns at once when nothing changed. When the
pulse moved in a way the view shows (`fast_key`) it calls `refresh_fast` (cheap, latency-critical
parts: status, live-slot counters). Once per `chart_ms` (1 s) of wall-clock time it also calls
`refresh_slow` with the shared snapshot (charts, tiles, tables, ages). Slow refreshes are aligned
to the clock, not to when the session opened, so every session's refresh falls in the same 100 ms
after each second boundary and they all share one snapshot and what is derived from it. Both run
under `pn.io.hold()` so one tick is one websocket message. The callback belongs to the session
and stops with it; `on_session_destroyed` drops the view's references.
"""

from __future__ import annotations

import time
from typing import Any

import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .runtime import Runtime


class LiveView(pn.viewable.Viewer):
    update_ms = param.Integer(default=100, bounds=(20, None))
    chart_ms = param.Integer(default=1000, bounds=(100, None))

    def __init__(self, runtime: Runtime, **params: Any) -> None:
        dash = runtime.config.dashboard
        params.setdefault("update_ms", dash.update_ms)
        params.setdefault("chart_ms", dash.chart_ms)
        super().__init__(**params)
        self.runtime = runtime
        self.store = runtime.store
        self._pulse: Pulse | None = None
        self._fast_key: Any = object()
        self._slow_slot = -1
        self._callback: Any = None
        self.updates = 0  # ticks that changed something, for tests and benchmarks

    # --- to implement -------------------------------------------------------------------------

    def layout(self) -> pn.viewable.Viewable:
        raise NotImplementedError

    def fast_key(self, pulse: Pulse) -> Any:
        """The part of the pulse this view shows on its fast path; a tick whose key is unchanged
        costs nothing. Views with no fast path return a constant."""
        return pulse

    def observe(self, pulse: Pulse) -> None:
        """Called on every tick with the pulse, for bookkeeping that touches no model."""

    def refresh_fast(self, pulse: Pulse, previous: Pulse | None) -> None:
        """New data arrived (at most every update_ms). Keep it cheap."""

    def refresh_slow(self, snapshot: Snapshot) -> None:
        """Once per chart_ms: charts, tables, tiles, ages."""

    # --- loop ---------------------------------------------------------------------------------

    def __panel__(self) -> pn.viewable.Viewable:
        view = self.layout()
        self.tick(force=True)
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            # background=True: Panel would otherwise mark the session busy and idle around every
            # tick, ten times a second, and send those changes to the browser.
            self._callback = PeriodicCallback(
                callback=self.tick, period=self.update_ms, background=True
            )
            self._callback.start()
            pn.state.on_session_destroyed(self._destroyed)
        return view

    def tick(self, force: bool = False) -> None:
        pulse = self.store.pulse()
        self.observe(pulse)
        key = self.fast_key(pulse)
        fast = force or key != self._fast_key
        slot = int(time.time() * 1000) // self.chart_ms
        slow = force or slot != self._slow_slot
        if not (fast or slow):
            return
        with pn.io.hold():
            if fast:
                self._fast_key = key
                previous, self._pulse = self._pulse, pulse
                self.refresh_fast(pulse, previous)
            if slow:
                self._slow_slot = slot
                self.refresh_slow(self.runtime.snapshot())
        self.updates += 1

    def _destroyed(self, session_context: Any) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None


def set_if_changed(obj: Any, value: Any, attr: str = "object") -> bool:
    """Assign only when different, so an unchanged value costs no websocket traffic."""
    if getattr(obj, attr) == value:
        return False
    setattr(obj, attr, value)
    return True
