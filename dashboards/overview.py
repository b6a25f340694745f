"""Overview: is realtime healthy, how late, how busy? Status, tiles, and three charts."""

from __future__ import annotations

import math
import time
from typing import Any

import panel as pn

from metrics.alerts import Check
from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .charts import (
    LatencyChart,
    RateChart,
    TimelineChart,
    latency_columns,
    move_range,
    shared_range,
)
from .live import LiveView, set_if_changed
from .markup import fmt_ms, fmt_number, status_badge, subscription_chips, tile
from .theme import STYLES


def html(**kw: Any) -> pn.pane.HTML:
    return pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width", **kw)


def tiles_markup(snap: Snapshot, checks: dict[str, Check]) -> str:
    """The headline numbers, each coloured by its alert rule (blue when it has none)."""

    def level(name: str) -> str:
        check = checks.get(name)
        return check.level if check else "info"

    commit = snap.latency.get("commit")
    rtt = snap.latency.get("probe_rtt")
    subs = snap.subscription_counts
    joined = subs.get("SUBSCRIBED", 0)
    total = sum(subs.values())
    bad = sum(n for s, n in subs.items() if s in ("CHANNEL_ERROR", "TIMED_OUT", "CLOSED"))
    sub_level = "alert" if bad else ("ok" if joined == total and total else "warn")
    uptime = snap.uptime
    window = f"last {snap.effective_window_s:.0f} s"
    cells = [
        tile(
            "Uptime",
            "–" if math.isnan(uptime) else f"{uptime * 100:.2f}%",
            level("uptime"),
            window,
            "tile-uptime",
        ),
        tile(
            "Messages/s",
            fmt_number(snap.rate_total),
            level("rate"),
            f"{snap.totals.get('messages', 0):,} total",
            "tile-rate",
        ),
        tile(
            "Latency p50",
            fmt_ms(commit.p50 if commit else None),
            level("latency_p95_ms"),
            "commit → receive",
            "tile-p50",
        ),
        tile(
            "Latency p95",
            fmt_ms(commit.p95 if commit else None),
            level("latency_p95_ms"),
            f"p99 {fmt_ms(commit.p99 if commit else None)}",
            "tile-p95",
        ),
        tile(
            "Probe RTT p95",
            fmt_ms(rtt.p95 if rtt else None),
            level("probe_rtt_p95_ms"),
            f"{rtt.count if rtt else 0} probes",
            "tile-rtt",
        ),
        tile(
            "Subscriptions",
            f"{joined}/{total}",
            sub_level,
            f"{bad} failing" if bad else "all joined" if total else "none",
            "tile-subs",
        ),
        tile(
            "Reconnects",
            str(snap.reconnects),
            level("reconnects"),
            f"{snap.reconnects_total} since start",
            "tile-reconnects",
        ),
    ]
    return '<div class="rm-tiles">' + "".join(cells) + "</div>"


class Overview(LiveView):
    def layout(self) -> pn.viewable.Viewable:
        snap = self.runtime.snapshot()
        window = self.store.window_s
        self.x_range = shared_range(snap.now, window, snap.started_at)
        alerts = self.runtime.config.alerts
        self.status = html(margin=(5, 10))
        self.chips = html(margin=(0, 10))
        self.tiles = html(margin=(5, 10))
        self.latency = LatencyChart(self.x_range, window, alerts.latency_p95_ms_max)
        self.rate_by = pn.widgets.RadioButtonGroup(
            options=["kind", "channel"], value="kind", button_type="light", width=200
        )
        self.rate = RateChart(self.x_range, window)
        self.rate_pane = pn.pane.Bokeh(self.rate.figure, sizing_mode="stretch_width")
        self.timeline = TimelineChart(self.x_range)
        self.rate_by.param.watch(self._restack, "value")
        self.error = html(margin=(5, 10))
        return pn.Column(
            self.error,
            self.status,
            self.chips,
            self.tiles,
            pn.pane.Bokeh(self.timeline.figure, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.latency.figure, sizing_mode="stretch_width"),
            pn.Row(pn.pane.HTML("<b>Stack by</b>", margin=(12, 10)), self.rate_by),
            self.rate_pane,
            sizing_mode="stretch_width",
        )

    def _restack(self, event: Any) -> None:
        snap = self.runtime.snapshot()
        self.rate = RateChart(
            self.x_range, self.store.window_s, by=event.new, channels=self.runtime.channels
        )
        self._update_rate(snap)
        self.rate_pane.object = self.rate.figure

    def fast_key(self, pulse: Pulse) -> object:
        return pulse.connection_changes

    def refresh_fast(self, pulse: Pulse, previous: Pulse | None) -> None:
        if previous is None or pulse.connection_changes != previous.connection_changes:
            self._status(self.runtime.snapshot(max_age=1, covering=pulse))

    def _status(self, snap: Snapshot) -> None:
        st = snap.status
        set_if_changed(
            self.status,
            status_badge(st.status, st.reason, st.since, snap.message_age_s, self.runtime.target),
        )
        rows = [
            (r.channel, r.state, r.last_error if isinstance(r.last_error, str) else None)
            for r in snap.subscriptions.itertuples()
        ]
        set_if_changed(self.chips, subscription_chips(rows))

    def refresh_slow(self, snap: Snapshot) -> None:
        err = self.runtime.error
        set_if_changed(self.error, f'<div class="rm-alert">{err}</div>' if err else "")
        self._status(snap)
        tiles = self.runtime.derived(
            snap, "tiles", lambda: tiles_markup(snap, self.runtime.checks(snap))
        )
        set_if_changed(self.tiles, tiles)
        latency = self.runtime.derived(
            snap, "latency", lambda: latency_columns(snap.latency_series)
        )
        self.latency.update(latency, math.floor(snap.now))
        self._update_rate(snap)
        self.timeline.update(snap.timeline, time.time())
        move_range(self.x_range, snap.now, self.store.window_s, snap.started_at)

    def _update_rate(self, snap: Snapshot) -> None:
        rate = self.rate
        cols = self.runtime.derived(snap, rate.memo_key, lambda: rate.columns(snap.rates))
        rate.update(cols, math.floor(snap.now))
