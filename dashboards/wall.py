"""The wall display: no controls, large type, high contrast, safe to leave up for weeks.

From top to bottom: a header (title, status, clock); a STALE banner with the data's age whenever
the feed is down or nothing (not even the monitor's own probe) has arrived for `stale_after_s`;
the latest open incident in large type (its class, channel, age and fix), only while one is open,
with the status in the alert colour while channels are down or incidents open;
the five numbers that matter, coloured exactly as on the Overview (`headline`); the last
minutes of message rate and latency as large sparklines; every channel's state; and up to eight
live-slot cards. Sizes are in a unit tied to the viewport (see `WALL_STYLES`), so the same page
fits 1280×720, 1920×1080 and 3840×2160 without scrolling.

The header is a pure function of the snapshot and the settings, so it is built once per
snapshot for every wall that is open; staleness comes from the snapshot (its newest event),
not from each session's own clock. Everything it shows is bounded.

Several projects: a `Wall` given `projects` shows them in turn, each for `cycle_s`, by swapping
its `data` (the one view and its panes are kept, so a wall that cycles for weeks holds what a
single wall holds). The turn comes from the clock, not from when the wall opened, so every wall
in the room shows the same project at the same time. `WallGrid` tiles them instead: one compact
wall (header, stale banner, incident, tiles, trends, chips; no slot cards) per project, scaled
so that all fit one screen.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import panel as pn
import param

from metrics.shared import SharedSnapshots
from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .charts import latency_columns, rate_columns
from .headline import channel_flags, headline, health
from .live import LiveView, set_if_changed
from .markup import esc, fmt_duration, fmt_ms, fmt_number, sparkline, tile
from .slots import SlotCards
from .theme import LEVEL_COLORS, STATUS_COLORS, STYLES, SUBSCRIBE_COLORS, WALL_STYLES

WALL_CARDS = 8
WALL_CHIPS = 8
WALL_TILES = ("uptime", "rate", "p95", "subs", "reconnects")
TREND_SECONDS = 300
# The open incident, under the header: its class in the largest type after the status, then
# where, how long and the fix; two lines at most, so the tiles and the cards keep their places.
INCIDENT_STYLES = """
.rm-wall-incident { margin: calc(var(--u) * 0.3) calc(var(--u) * 1.4);
  padding: calc(var(--u) * 0.5) calc(var(--u) * 1.1); border-radius: calc(var(--u) * 0.7);
  background: #450a0a; border-left: calc(var(--u) * 0.6) solid #dc2626; color: #fff; }
.rm-wall-incident .what { font-size: calc(var(--u) * 2.2); font-weight: 800; line-height: 1.15;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.rm-wall-incident .cls { color: #fca5a5; }
.rm-wall-incident .meta { font-weight: 600; color: #fecaca; font-size: calc(var(--u) * 1.5); }
.rm-wall-incident .fix { font-size: calc(var(--u) * 1.3); line-height: 1.25; color: #f1f5f9;
  margin-top: calc(var(--u) * 0.2); display: -webkit-box; -webkit-line-clamp: 2;
  -webkit-box-orient: vertical; overflow: hidden; }
"""


def stale_for(snap: Snapshot, stale_after_s: float) -> float | None:
    """Seconds the data has been stale, or None while it is fresh."""
    last = snap.last_event_at
    quiet = snap.now - last if last is not None else snap.now - (snap.started_at or snap.now)
    if snap.status.status != "connected":
        since = snap.status.since or snap.now
        return max(quiet, snap.now - since)
    return quiet if quiet > stale_after_s else None


def _trend(label: str, t: np.ndarray, v: np.ndarray, now_text: str, test_id: str) -> str:
    recent = t >= (t[-1] - TREND_SECONDS * 1000) if len(t) else t.astype(bool)
    line = sparkline(t[recent].tolist(), v[recent].tolist(), width=600, height=90)
    return (
        f'<div class="rm-wall-trend" data-testid="{test_id}"><div class="label">{esc(label)}'
        f'<span class="now">{esc(now_text)}</span></div>{line}</div>'
    )


def trends_markup(snap: Snapshot) -> str:
    """Messages/s and commit p95 over the last minutes, as two large sparklines."""
    rate = rate_columns(snap.rates, "kind", ["broadcast", "postgres_changes", "presence", "system"])
    total = sum((rate[k] for k in rate if k != "t"), np.zeros(len(rate["t"])))
    lat = latency_columns(snap.latency_series)
    commit = snap.latency.get("commit")
    return (
        '<div class="rm-wall-trends">'
        + _trend("Messages/s", rate["t"], total, fmt_number(snap.rate_total), "wall-trend-rate")
        + _trend(
            "Latency p95",
            lat["t"],
            lat["p95"],
            fmt_ms(commit.p95 if commit else None),
            "wall-trend-latency",
        )
        + "</div>"
    )


def channels_markup(snap: Snapshot) -> str:
    """Up to WALL_CHIPS channel chips, the ones not subscribed or with an open incident first
    (named by its class, in the alert colour); the subscribed rest as one count, so a wall
    watching many channels still shows every failure and nothing is cut."""
    flags = channel_flags(snap)
    states = sorted(
        snap.channel_states, key=lambda row: row[1] == "SUBSCRIBED" and row[0] not in flags
    )
    shown = states if len(states) <= WALL_CHIPS else states[: WALL_CHIPS - 1]
    rest = len(states) - len(shown)
    chips = "".join(
        f'<span class="rm-wall-chip" style="--st:{LEVEL_COLORS["alert"]}" '
        f'title="{esc(flags[channel][1])}">{esc(channel)} · {esc(flags[channel][0])}</span>'
        if channel in flags
        else f'<span class="rm-wall-chip" style="--st:{SUBSCRIBE_COLORS.get(state, "#64748b")}" '
        f'title="{esc(channel)}">{esc(channel)} · {esc(state)}</span>'
        for channel, state, *_ in shown
    )
    if rest:
        chips += (
            f'<span class="rm-wall-chip" style="--st:{SUBSCRIBE_COLORS["SUBSCRIBED"]}">'
            f"+{rest} more subscribed</span>"
        )
    return f'<div class="rm-wall-chips" data-testid="wall-channels">{chips}</div>'


def incident_markup(snap: Snapshot) -> str:
    """The latest open incident in large type (class, where, for how long, the fix); nothing
    when none is open."""
    opened = snap.open_incidents
    if not opened:
        return ""
    inc = opened[0]
    times = f" · ×{inc.count}" if inc.count > 1 else ""
    more = f" · +{len(opened) - 1} more open" if len(opened) > 1 else ""
    return (
        f'<div class="rm-wall-incident" data-testid="wall-incident" data-class="{esc(inc.cls)}">'
        f'<div class="what"><span class="cls">{esc(inc.cls)}</span> on {esc(inc.where)} '
        f'<span class="meta">for {fmt_duration(snap.now - inc.opened_at)}{times}{more}</span>'
        f'</div><div class="fix">What to do: {esc(inc.fix)}</div></div>'
    )


def head_markup(
    snap: Snapshot, checks: dict[str, Any], title: str, stale_after_s: float, project: str = ""
) -> str:
    st = snap.status.status or "connecting"
    color = LEVEL_COLORS["alert"] if health(snap).alert else STATUS_COLORS.get(st, "#64748b")
    banner = ""
    stale = stale_for(snap, stale_after_s)
    if stale is not None:
        why = snap.status.reason or ("no data" if st == "connected" else st)
        banner = (
            f'<div class="rm-stale" data-testid="stale-banner">STALE · data is '
            f"{fmt_duration(stale)} old · {esc(st.upper())}: {esc(why)}</div>"
        )
    tiles = headline(snap, checks)
    cells = "".join(
        tile(t.label, t.value, t.level, t.sub, f"wall-{t.key}", css_class="rm-wall-tile")
        for t in (tiles[k] for k in WALL_TILES)
    )
    clock = time.strftime("%H:%M:%S UTC", time.gmtime(snap.now))
    named = (
        f'<span class="rm-wall-project" data-testid="wall-project"> · {esc(project)}</span>'
        if project
        else ""
    )
    return (
        f'<div class="rm-wall"><div class="rm-wall-head"><div class="rm-wall-title">'
        f'{esc(title)}{named}</div><div class="rm-wall-status" style="--st:{color}" '
        f'data-testid="wall-status">{esc(st.upper())}</div><div class="rm-wall-clock">{clock}'
        f'</div></div>{banner}{incident_markup(snap)}<div class="rm-wall-tiles">{cells}</div>'
        f"{trends_markup(snap)}"
        f"{channels_markup(snap)}</div>"
    )


class Wall(LiveView):
    title = param.String("Realtime Monitor")
    stale_after_s = param.Number(10.0, bounds=(0, None))
    project = param.String("", doc="The project shown, named in the header ('' for the only one).")
    projects = param.Dict(
        {}, doc="Project name -> SharedSnapshots to show in turn; empty shows `data` alone."
    )
    cycle_s = param.Number(15.0, bounds=(1, None), doc="How long each project is shown.")

    def __init__(self, **params: Any) -> None:
        projects = params.get("projects") or {}
        if projects and "data" not in params:
            name = self.turn(list(projects), params.get("cycle_s", 15.0))
            params.update(data=projects[name], project=self._label(name, projects))
        super().__init__(**params)

    @staticmethod
    def turn(names: list[str], cycle_s: float, now: float | None = None) -> str:
        """The project shown at `now`: the same on every wall, whenever it was opened."""
        return names[int((time.time() if now is None else now) // cycle_s) % len(names)]

    @staticmethod
    def _label(name: str, projects: dict[str, Any]) -> str:
        return f"{name} ({list(projects).index(name) + 1}/{len(projects)})"

    def tick(self, force: bool = False) -> None:
        if self.projects:
            name = self.turn(list(self.projects), self.cycle_s)
            if self.projects[name] is not self.data:
                # the same panes show the next project: its data, its name, no old card deltas
                self.param.update(
                    data=self.projects[name], project=self._label(name, self.projects)
                )
                self.cards.reset()
                force = True
        super().tick(force)

    def layout(self) -> pn.viewable.Viewable:
        styles = [STYLES, WALL_STYLES, INCIDENT_STYLES]
        self.head = pn.pane.HTML("", stylesheets=styles, sizing_mode="stretch_width", margin=0)
        self.cards = SlotCards(
            max_cards=WALL_CARDS, styles=styles, css_class="rm-wall-slots", wrapper="rm-wall"
        )
        self.cards.pane.margin = 0
        return pn.Column(
            self.head,
            self.cards.pane,
            sizing_mode="stretch_both",
            margin=0,
            styles={"background": "#000", "height": "100vh", "overflow": "hidden"},
            css_classes=["rm-wall"],
        )

    def fast_key(self, pulse: Pulse) -> object:
        return (pulse.replica_changes, pulse.connection_changes)

    def refresh_fast(self, snap: Snapshot) -> None:
        self.cards.render(snap)
        self._head(snap)

    def refresh_slow(self, snap: Snapshot) -> None:
        self._head(snap)

    def _head(self, snap: Snapshot) -> None:
        data, project = self.data, self.project
        markup = data.derived(
            snap,
            ("wall-head", self.title, self.stale_after_s, project),
            lambda: head_markup(snap, data.checks(snap), self.title, self.stale_after_s, project),
        )
        set_if_changed(self.head, markup)


# A tile's unit: the wall's, scaled to the tile's share of the screen (WallGrid).
TILE_STYLES = """
.rm-wall-cell { height: 100%; border: 1px solid #1e293b; overflow: hidden; background: #000; }
.rm-wall-cell .rm-wall { --u: var(--tile-u); }
"""


# A tile is the wall's width (100 units) and at most this many units high (header, tiles, trends,
# chips, with a stale banner and an incident shown): its type unit is the largest that fits.
TILE_HEIGHT_U = 34


def grid(n: int, aspect: float = 16 / 9) -> tuple[int, int]:
    """(columns, rows) for `n` tiles on a screen of `aspect` that give the largest type: two
    projects stack (each full width, half the height), four make a 2x2."""

    def unit(cols: int) -> float:
        rows = math.ceil(n / cols)
        return min(aspect * 100 / (100 * cols), 100 / (TILE_HEIGHT_U * rows))

    cols = max(range(1, n + 1), key=unit)
    return cols, math.ceil(n / cols)


class WallTile(LiveView):
    """One project's compact wall inside a `WallGrid`: the wall's header without the cards."""

    title = param.String("")
    stale_after_s = param.Number(10.0, bounds=(0, None))
    unit = param.String("min(1vw, 1.7778vh)", doc="CSS length of the tile's type unit.")

    def layout(self) -> pn.viewable.Viewable:
        styles = [STYLES, WALL_STYLES, INCIDENT_STYLES, TILE_STYLES]
        self.pane = pn.pane.HTML("", stylesheets=styles, sizing_mode="stretch_both", margin=0)
        return self.pane

    def refresh_fast(self, snap: Snapshot) -> None:
        self._render(snap)

    def refresh_slow(self, snap: Snapshot) -> None:
        self._render(snap)

    def fast_key(self, pulse: Pulse) -> object:
        return pulse.connection_changes

    def _render(self, snap: Snapshot) -> None:
        data = self.data
        head = data.derived(
            snap,
            ("wall-tile", self.title, self.stale_after_s),
            lambda: head_markup(snap, data.checks(snap), self.title, self.stale_after_s),
        )
        set_if_changed(
            self.pane,
            f'<div class="rm-wall-cell" data-testid="wall-cell" data-project="{esc(self.title)}" '
            f'style="--tile-u: {self.unit}">{head}</div>',
        )


class WallGrid(pn.viewable.Viewer):
    """Every project at once, one `WallTile` each, in a grid that fills the screen."""

    projects = param.Dict({}, doc="Project name -> SharedSnapshots, in display order.")
    title = param.String("Realtime Monitor")
    stale_after_s = param.Number(10.0, bounds=(0, None))
    update_ms = param.Integer(100, bounds=(20, None))
    chart_ms = param.Integer(1000, bounds=(100, None))

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        cols, rows = grid(max(len(self.projects), 1))
        unit = f"min(calc(1vw / {cols}), calc(100vh / {TILE_HEIGHT_U * rows}))"
        self.tiles = [
            WallTile(
                data=shared,
                title=name,
                unit=unit,
                stale_after_s=self.stale_after_s,
                update_ms=self.update_ms,
                chart_ms=self.chart_ms,
            )
            for name, shared in self.projects.items()
            if isinstance(shared, SharedSnapshots)
        ]
        self._panel = pn.GridBox(
            *self.tiles,
            ncols=cols,
            sizing_mode="stretch_both",
            margin=0,
            styles={"background": "#000", "height": "100vh", "overflow": "hidden"},
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._panel
