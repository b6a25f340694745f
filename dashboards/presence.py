"""Presence: who is in each channel (one row per key, however many connections), how many over
time, and the join/leave log reconciled from presence_state and presence_diff."""

from __future__ import annotations

import math

import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, Legend
from bokeh.plotting import figure

from metrics.snapshot import Snapshot

from .charts import move_range, ms, shared_range
from .live import LiveView, set_if_changed
from .markup import esc
from .theme import PALETTE, STYLES


class MemberChart:
    """Members per channel over time: one step line per channel, rebuilt when channels change."""

    def __init__(self, x_range, window_s: float) -> None:
        self.x_range = x_range
        self.window_s = window_s
        self.channels: list[str] = []
        self.pane = pn.pane.Bokeh(self._figure([]), sizing_mode="stretch_width")

    def _figure(self, channels: list[str]):
        fig = figure(
            title="Members per channel",
            x_axis_type="datetime",
            x_range=self.x_range,
            height=240,
            sizing_mode="stretch_width",
            toolbar_location=None,
            tools="",
        )
        fig.grid.grid_line_alpha = 0.3
        self.source = ColumnDataSource({"t": [], **{f"c{i}": [] for i in range(len(channels))}})
        items = []
        for i, ch in enumerate(channels):
            r = fig.step(
                x="t",
                y=f"c{i}",
                source=self.source,
                line_width=2,
                mode="after",
                color=PALETTE[i % len(PALETTE)],
            )
            items.append((ch, [r]))
        if items:
            fig.add_layout(
                Legend(
                    items=items,
                    location="top_left",
                    orientation="horizontal",
                    background_fill_alpha=0.2,
                ),
                "above",
            )
        self.last = -math.inf
        return fig

    def update(self, counts: pd.DataFrame, complete_before: float) -> None:
        if counts.empty:
            return
        channels = sorted(counts["channel"].unique())[:10]
        if channels != self.channels:
            self.channels = channels
            self.pane.object = self._figure(channels)
        t = ms(counts["time"])
        fresh = counts[(t > self.last) & (t < complete_before * 1000)]
        if fresh.empty:
            return
        wide = fresh.pivot_table(
            index="time", columns="channel", values="members", aggfunc="last"
        ).ffill()
        data = {"t": list(ms(wide.index))}
        for i, ch in enumerate(self.channels):
            data[f"c{i}"] = (
                list(wide[ch].to_numpy(float)) if ch in wide.columns else [math.nan] * len(wide)
            )
        self.last = data["t"][-1]
        self.source.stream(data, rollover=int(self.window_s) + 5)


def _table(**kw) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        pd.DataFrame(),
        pagination="remote",
        page_size=12,
        show_index=False,
        disabled=True,
        sizing_mode="stretch_width",
        layout="fit_data_stretch",
        **kw,
    )


class Presence(LiveView):
    def layout(self) -> pn.viewable.Viewable:
        snap = self.runtime.snapshot(max_age=0)
        self.x_range = shared_range(snap.now, self.store.window_s, snap.started_at)
        self.summary = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        self.chart = MemberChart(self.x_range, self.store.window_s)
        self.roster = _table(groupby=["channel"])
        self.log = _table()
        self._roster_key = None
        self._log_key = None
        return pn.Column(
            self.summary,
            self.chart.pane,
            pn.Row(
                pn.Column("### Roster", self.roster, sizing_mode="stretch_width"),
                pn.Column("### Joins and leaves", self.log, sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )

    def fast_key(self, pulse: object) -> object:
        return None  # roster, chart and log all refresh with the slow tick

    def refresh_slow(self, snap: Snapshot) -> None:
        roster = snap.roster
        counts = roster.groupby("channel").size().to_dict() if not roster.empty else {}
        chips = " · ".join(f"<b>{esc(c)}</b> {n}" for c, n in sorted(counts.items()))
        set_if_changed(
            self.summary,
            f'<div class="rm-note" data-testid="presence-summary">'
            f"Members by channel: {chips or 'nobody present yet'}</div>",
        )
        self.chart.update(snap.member_counts, math.floor(snap.now))
        move_range(self.x_range, snap.now, self.store.window_s, snap.started_at)
        key = (len(roster), tuple(roster["key"]) if len(roster) < 500 else snap.seq)
        if key != self._roster_key:
            self._roster_key = key
            view = (
                roster[["channel", "key", "metas", "joined_at"]]
                .rename(columns={"metas": "connections"})
                .copy()
                if not roster.empty
                else roster
            )
            if not roster.empty:
                view["meta"] = [_summary(m) for m in roster["meta"]]
            self.roster.value = view
        log = snap.presence_log
        key = (len(log), None if log.empty else log.iloc[-1]["time"])
        if key != self._log_key:
            self._log_key = key
            self.log.value = log.iloc[::-1].head(500).reset_index(drop=True)


def _summary(meta: object) -> str:
    if isinstance(meta, str):
        return meta
    if not isinstance(meta, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in meta.items() if k not in ("phx_ref", "phx_ref_prev"))
