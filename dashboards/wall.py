"""The wall display: no controls, large type, high contrast, safe to leave up for weeks.

A header (title, status, clock), a STALE banner with the data's age whenever the feed is down or
nothing (not even the monitor's own probe) has arrived for `stale_after_s`, the five numbers that
matter, and up to eight live-slot cards. It fits 1920×1080 without scrolling. Everything it shows
is bounded, so it can run indefinitely.
"""

from __future__ import annotations

import math
import time
from typing import Any

import panel as pn

from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .live import LiveView, set_if_changed
from .markup import esc, fmt_duration, fmt_ms, fmt_number, tile
from .slots import SlotCards
from .theme import STATUS_COLORS, STYLES, WALL_STYLES

WALL_CARDS = 8


def wall_tile(label: str, value: str, level: str, sub: str, test_id: str) -> str:
    return tile(label, value, level, sub, test_id, css_class="rm-wall-tile")


class Wall(LiveView):
    def __init__(self, runtime: Any, **params: Any) -> None:
        super().__init__(runtime, **params)
        self._seen_seq = -1
        self._seen_at = time.monotonic()

    def layout(self) -> pn.viewable.Viewable:
        styles = [STYLES, WALL_STYLES]
        self.head = pn.pane.HTML("", stylesheets=styles, sizing_mode="stretch_width", margin=0)
        self.cards = SlotCards(
            self.store,
            max_cards=WALL_CARDS,
            styles=styles,
            css_class="rm-wall-slots",
            wrapper="rm-wall",
        )
        self.cards.pane.margin = 0
        return pn.Column(
            pn.pane.HTML('<div class="rm-wall"></div>', stylesheets=styles, height=0, margin=0),
            self.head,
            self.cards.pane,
            sizing_mode="stretch_both",
            margin=0,
            styles={"background": "#000", "min-height": "100vh"},
            css_classes=["rm-wall"],
        )

    def observe(self, pulse: Pulse) -> None:
        if pulse.seq != self._seen_seq:
            self._seen_seq = pulse.seq
            self._seen_at = time.monotonic()

    def fast_key(self, pulse: Pulse) -> object:
        return (pulse.replica_changes, pulse.connection_changes)

    def refresh_fast(self, pulse: Pulse, previous: Pulse | None) -> None:
        if previous is None or pulse.replica_changes != previous.replica_changes:
            self.cards.render()
        if previous is None or pulse.connection_changes != previous.connection_changes:
            self._head(self.runtime.snapshot(max_age=1, covering=pulse))

    def refresh_slow(self, snap: Snapshot) -> None:
        self._head(snap)

    def stale_for(self, snap: Snapshot) -> float | None:
        """Seconds the data has been stale, or None while it is fresh."""
        quiet = time.monotonic() - self._seen_at
        limit = self.runtime.config.dashboard.stale_after_s
        if snap.status.status != "connected":
            since = snap.status.since or snap.now
            return max(quiet, snap.now - since)
        return quiet if quiet > limit else None

    def _head(self, snap: Snapshot) -> None:
        st = snap.status.status or "connecting"
        color = STATUS_COLORS.get(st, "#64748b")
        checks = {name: c.level for name, c in self.runtime.checks(snap).items()}
        commit = snap.latency.get("commit")
        subs = snap.subscription_counts
        joined, total = subs.get("SUBSCRIBED", 0), sum(subs.values())
        stale = self.stale_for(snap)
        banner = ""
        if stale is not None:
            why = snap.status.reason or ("no data" if st == "connected" else st)
            banner = (
                f'<div class="rm-stale" data-testid="stale-banner">STALE · data is '
                f"{fmt_duration(stale)} old · {esc(st.upper())}: {esc(why)}</div>"
            )
        uptime = snap.uptime
        tiles = "".join(
            [
                wall_tile(
                    "Uptime",
                    "–" if math.isnan(uptime) else f"{uptime * 100:.2f}%",
                    checks.get("uptime", "nodata"),
                    f"last {snap.effective_window_s / 60:.0f} min",
                    "wall-uptime",
                ),
                wall_tile(
                    "Messages/s",
                    fmt_number(snap.rate_total),
                    checks.get("rate", "info"),
                    f"{snap.totals.get('messages', 0):,} total",
                    "wall-rate",
                ),
                wall_tile(
                    "Latency p95",
                    fmt_ms(commit.p95 if commit else None),
                    checks.get("latency_p95_ms", "nodata"),
                    f"p50 {fmt_ms(commit.p50 if commit else None)}",
                    "wall-p95",
                ),
                wall_tile(
                    "Channels",
                    f"{joined}/{total}",
                    "ok" if total and joined == total else "alert",
                    "subscribed",
                    "wall-subs",
                ),
                wall_tile(
                    "Reconnects",
                    str(snap.reconnects),
                    checks.get("reconnects", "nodata"),
                    f"{snap.reconnects_total} since start",
                    "wall-reconnects",
                ),
            ]
        )
        clock = time.strftime("%H:%M:%S UTC", time.gmtime(snap.now))
        title = esc(self.runtime.config.dashboard.title)
        markup = (
            f'<div class="rm-wall"><div class="rm-wall-head"><div class="rm-wall-title">{title}'
            f'</div><div class="rm-wall-status" style="--st:{color}" data-testid="wall-status">'
            f'{esc(st.upper())}</div><div class="rm-wall-clock">{clock}</div></div>{banner}'
            f'<div class="rm-wall-tiles">{tiles}</div></div>'
        )
        set_if_changed(self.head, markup)
