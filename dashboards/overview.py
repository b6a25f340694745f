"""Overview: is realtime healthy, how late, how busy? Status, tiles, the plan's quota bars,
three charts, and the slowest channels."""

from __future__ import annotations

import math
import time
from typing import Any

import panel as pn
import param

from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .charts import LatencyChart, RateChart, TimelineChart, following_range, latency_columns
from .headline import headline, status_markup
from .live import LiveView, set_if_changed
from .markup import channel_latency, esc, tile
from .quota import QuotaView
from .theme import STYLES


def html(**kw: Any) -> pn.pane.HTML:
    return pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width", **kw)


class Overview(LiveView):
    stack_by = param.Selector(default="kind", objects=["kind", "channel"], doc="Rate chart groups.")
    latency_max_ms = param.Number(0.0, doc="The latency rule's threshold, drawn as a line.")

    def layout(self) -> pn.viewable.Viewable:
        window = self.data.store.window_s
        self.x_range = following_range(window)
        self.status = html(margin=(5, 10))
        self.chips = html(margin=(0, 10))
        self.tiles = html(margin=(5, 10))
        # the plan's quota bars, refreshed from this view's tick (no callback of their own)
        self.quotas = QuotaView(data=self.data, update_ms=self.update_ms, chart_ms=self.chart_ms)
        self.error = html(margin=(5, 10))
        self.by_channel = html(margin=(5, 10))
        self.latency = LatencyChart(self.x_range, window, self.latency_max_ms)
        self.timeline = TimelineChart(self.x_range)
        self.rate = RateChart(self.x_range, window)
        self.rate_pane = pn.pane.Bokeh(self.rate.figure, sizing_mode="stretch_width")
        self.x_range.renderers = self.latency.renderers + self.rate.renderers
        stack = pn.widgets.RadioButtonGroup.from_param(
            self.param.stack_by, color="light", width=200, label=""
        )
        return pn.Column(
            self.error,
            self.status,
            self.chips,
            self.tiles,
            self.quotas.pane,
            pn.pane.Bokeh(self.timeline.figure, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.latency.figure, sizing_mode="stretch_width"),
            self.by_channel,
            pn.Row(pn.pane.HTML("<b>Stack by</b>", margin=(12, 10)), stack),
            self.rate_pane,
            sizing_mode="stretch_width",
        )

    @param.depends("stack_by", watch=True)
    def _restack(self) -> None:
        self.rate = RateChart(
            self.x_range, self.data.store.window_s, by=self.stack_by, channels=self.data.channels
        )
        self.x_range.renderers = self.latency.renderers + self.rate.renderers
        self._update_rate(self.data.latest())
        self.rate_pane.object = self.rate.figure

    def fast_key(self, pulse: Pulse) -> object:
        return pulse.connection_changes

    def refresh_fast(self, snap: Snapshot) -> None:
        badge, chips = status_markup(snap, self.data.target)
        set_if_changed(self.status, badge)
        set_if_changed(self.chips, chips)

    def refresh_slow(self, snap: Snapshot) -> None:
        err = self.data.error
        # an exception's text: it may quote a server's answer or a config value
        set_if_changed(self.error, f'<div class="rm-alert">{esc(err)}</div>' if err else "")
        self.refresh_fast(snap)
        data = self.data
        tiles = data.derived(snap, "overview-tiles", lambda: tiles_markup(snap, data))
        set_if_changed(self.tiles, tiles)
        self.quotas.refresh_slow(snap)
        latency = data.derived(snap, "latency", lambda: latency_columns(snap.latency_series))
        self.latency.update(latency, math.floor(snap.now))
        limit = self.latency_max_ms
        table = data.derived(snap, "channel-latency", lambda: slow_channels(snap, limit))
        set_if_changed(self.by_channel, table)
        self._update_rate(snap)
        self.timeline.update(snap.timeline, time.time())

    def _update_rate(self, snap: Snapshot) -> None:
        rate = self.rate
        cols = self.data.derived(snap, rate.memo_key, lambda: rate.columns(snap.rates))
        rate.update(cols, math.floor(snap.now))


def tiles_markup(snap: Snapshot, data: Any) -> str:
    cells = [
        tile(t.label, t.value, t.level, t.sub, f"tile-{t.key}")
        for t in headline(snap, data.checks(snap)).values()
    ]
    return '<div class="rm-tiles">' + "".join(cells) + "</div>"


def slow_channels(snap: Snapshot, limit_ms: float) -> str:
    """The table of commit latency per channel, slowest p95 first."""
    table = snap.latency_by_channel
    commit = table[table["source"] == "commit"]
    rows = list(
        zip(
            commit["channel"].tolist(),
            commit["p50"].tolist(),
            commit["p95"].tolist(),
            commit["p99"].tolist(),
            commit["count"].tolist(),
            strict=True,
        )
    )
    return channel_latency(rows, limit_ms)
