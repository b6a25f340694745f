"""`LiveView`: a Panel Viewer that keeps itself current from the shared snapshots.

Every page is a `LiveView` whose only input is a `SharedSnapshots` (`data`, a ClassSelector, as
in Panel's DataStore tutorial). Its panes are built once, in the constructor; `__panel__` returns
them and starts one periodic callback, so the same object works under `panel serve`, in a
Jupyter cell and in a plain asyncio program:

* every `update_ms` (100 ms) the callback reads the store's O(1) pulse and returns at once when
  nothing this view shows has changed (`fast_key`);
* when something shown at once changed (status, live-slot counters) it calls `refresh_fast`
  with a snapshot covering that change;
* once per `chart_ms` (1 s) of wall-clock time it calls `refresh_slow` with the snapshot of that
  second. Slow refreshes are aligned to the clock, not to when a session opened, so all
  sessions' refreshes fall in the same 100 ms after each second boundary and share one snapshot
  and everything derived from it.

Both run under `pn.io.hold()`, so one tick is one websocket message. The callback is registered
with `pn.state.add_periodic_callback`, which ties it to the session: Panel stops it when the
session is destroyed, and `_release` then drops what the view held.

The callback runs in the background: Panel would otherwise mark the process busy around every
tick, ten times a second per session, and every session's busy indicator would hear of it.

In a notebook there is no server session to carry changes made to Bokeh objects directly (the
charts' sources): a tick that changed something pushes them itself (`pn.io.push_notebook`, as
Panel asks). Without it the rate chart stalled in JupyterLab while the tiles moved.
"""

from __future__ import annotations

import time
from typing import Any

import panel as pn
import param

from metrics.shared import SharedSnapshots
from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .headline import status_markup
from .theme import STYLES

_NEVER = object()


class LiveView(pn.viewable.Viewer):
    data = param.ClassSelector(class_=SharedSnapshots, doc="The process's shared snapshots.")
    update_ms = param.Integer(100, bounds=(20, None), doc="How often the pulse is read.")
    chart_ms = param.Integer(1000, bounds=(100, None), doc="How often charts and tables move.")
    status_strip = param.Boolean(
        False,
        doc="Show the status badge and the channel chips above the view (pages that do not show "
        "them themselves), refreshed by the view's own tick.",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._fast_key: Any = _NEVER
        self._slow_slot = -1
        self._callback: Any = None
        self.updates = 0  # ticks that changed something, for tests and benchmarks
        self._panel = self.layout()
        self._strip: tuple[pn.pane.HTML, pn.pane.HTML] | None = None
        if self.status_strip:
            self._strip = (
                pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width", margin=(5, 10)),
                pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width", margin=(0, 10)),
            )
            self._panel = pn.Column(*self._strip, self._panel, sizing_mode="stretch_width")
        self.tick(force=True)

    # --- to implement -------------------------------------------------------------------------

    def layout(self) -> pn.viewable.Viewable:
        """Build the panes, once."""
        raise NotImplementedError

    def fast_key(self, pulse: Pulse) -> Any:
        """The part of the pulse this view shows on its fast path; a tick whose key is unchanged
        costs nothing. Views with no fast path return a constant."""
        return None

    def observe(self, pulse: Pulse) -> None:
        """Called on every tick with the pulse, for bookkeeping that touches no model."""

    def refresh_fast(self, snap: Snapshot) -> None:
        """Something this view shows at once changed (at most every update_ms). Keep it cheap."""

    def refresh_slow(self, snap: Snapshot) -> None:
        """Once per chart_ms: charts, tables, tiles, ages."""

    # --- loop ---------------------------------------------------------------------------------

    def __panel__(self) -> pn.viewable.Viewable:
        self.start()
        return self._panel

    def start(self) -> None:
        """Start refreshing (idempotent): in a server session the callback belongs to it; in a
        notebook or a plain program it runs on the current asyncio loop."""
        if self._callback is not None:
            return
        cb = pn.state.add_periodic_callback(self.tick, period=self.update_ms, start=False)
        cb.log = False
        cb._background = True  # see the module docstring
        cb.start()
        self._callback = cb
        if _in_server_session():
            pn.state.on_session_destroyed(self._release)

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    def tick(self, force: bool = False) -> None:
        data = self.data
        pulse = data.pulse()
        self.observe(pulse)
        key = self.fast_key(pulse)
        fast = force or key != self._fast_key
        now = time.time()
        slot = int(now * 1000) // self.chart_ms
        slow = force or slot != self._slow_slot
        if not (fast or slow):
            return
        with pn.io.hold():
            if fast:
                self._fast_key = key
                snap = data.covering(pulse)
                self.refresh_fast(snap)
                self._refresh_strip(snap)
            if slow:
                self._slow_slot = slot
                snap = data.since(slot * self.chart_ms / 1000)
                self.refresh_slow(snap)
                self._refresh_strip(snap)
        self.updates += 1
        if self._panel is not None and not _in_server_session():
            pn.io.push_notebook(self._panel)  # a no-op where nothing was displayed

    def _refresh_strip(self, snap: Snapshot) -> None:
        """The status badge and chips, when this page shows them: the channels down on every
        page, not only on the Overview (issue 12)."""
        if self._strip is None:
            return
        target = self.data.target
        badge, chips = self.data.derived(
            snap, ("status-markup", target), lambda: status_markup(snap, target)
        )
        set_if_changed(self._strip[0], badge)
        set_if_changed(self._strip[1], chips)

    def _release(self, session_context: Any) -> None:
        self.stop()
        self._panel = None


def _in_server_session() -> bool:
    doc = pn.state.curdoc
    return doc is not None and doc.session_context is not None


def set_if_changed(obj: Any, value: Any, attr: str = "object") -> bool:
    """Assign only when different, so an unchanged value costs no websocket traffic."""
    if getattr(obj, attr) == value:
        return False
    setattr(obj, attr, value)
    return True
