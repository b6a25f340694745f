"""Presence: who is in each channel (one row per key, however many connections), how many over
time, and the join/leave log reconciled from presence_state and presence_diff.

A roster is only as current as the channel's subscription: while a channel is not SUBSCRIBED
(shut by the server, refused, rejoining) the monitor hears no presence_diff, and the members it
shows are the last it knew, which may be far from the truth (seen in the 200-client load: 113
shown, 1 left). The official clients keep that state too, until the next presence_state; a
monitor must say so, so each such channel's count is marked "last known" with its state.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, Legend
from bokeh.plotting import figure

from metrics.snapshot import Snapshot

from .charts import Columns, following_range, ms, stream_new
from .live import LiveView, set_if_changed
from .markup import esc
from .tables import paged_table
from .theme import PALETTE, STYLES


class MemberChart:
    """Members per channel over time: one step line per channel, rebuilt when channels change."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.channels: list[str] = []
        self.pane = pn.pane.Bokeh(self._figure([]), sizing_mode="stretch_width")

    def _figure(self, channels: list[str]):
        fig = figure(
            title="Members per channel",
            x_axis_type="datetime",
            x_range=following_range(self.window_s),
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

    def update(self, channels: list[str], cols: Columns, complete_before: float) -> None:
        """Stream the complete seconds of `cols` (see `member_columns`) not sent yet; a new set of
        channels means a new figure."""
        if channels != self.channels:
            self.channels = channels
            self.pane.object = self._figure(channels)
        self.last = stream_new(
            self.source, cols, self.last, complete_before * 1000, int(self.window_s) + 5
        )


def member_columns(counts: pd.DataFrame, limit: int = 10) -> tuple[list[str], Columns]:
    """Members per second of the first `limit` channels (by name): `c0`, `c1`, … in that order,
    each carried forward over the seconds it did not change."""
    channels = sorted(counts["channel"].unique())[:limit] if not counts.empty else []
    if not channels:
        return [], {"t": np.empty(0)}
    wide = counts.pivot_table(
        index="time", columns="channel", values="members", aggfunc="last"
    ).ffill()
    n = len(wide)
    cols: Columns = {"t": ms(wide.index)}
    for i, ch in enumerate(channels):
        cols[f"c{i}"] = wide[ch].to_numpy(float) if ch in wide.columns else np.full(n, np.nan)
    return channels, cols


def member_chip(channel: str, members: int, state: str | None) -> str:
    """A channel's member count; marked as last known while the channel is not subscribed."""
    chip = f"<b>{esc(channel)}</b> {members}"
    if state is None or state == "SUBSCRIBED":
        return chip
    return (
        f'{chip} <span class="rm-stale" data-testid="presence-stale">(last known: the '
        f"channel is {esc(state)})</span>"
    )


class Presence(LiveView):
    def layout(self) -> pn.viewable.Viewable:
        self.summary = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        self.chart = MemberChart(self.data.store.window_s)
        # One above the other at full width: side by side, a roster's meta column and the log's
        # were clipped at 1440 px.
        self.roster = paged_table(groupby=["channel"], layout="fit_data_fill")
        self.log = paged_table(layout="fit_data_fill")
        self._roster_key: object = None
        self._log_key: object = None
        return pn.Column(
            self.summary,
            self.chart.pane,
            pn.pane.Markdown("### Roster", margin=(0, 10)),
            self.roster,
            pn.pane.Markdown("### Joins and leaves", margin=(0, 10)),
            self.log,
            sizing_mode="stretch_width",
        )

    def refresh_slow(self, snap: Snapshot) -> None:
        counts = {c: n for c, n in snap.totals["presence"].items() if n}
        states = {row[0]: row[1] for row in snap.channel_states}
        chips = " · ".join(member_chip(c, n, states.get(c)) for c, n in sorted(counts.items()))
        set_if_changed(
            self.summary,
            f'<div class="rm-note" data-testid="presence-summary">'
            f"Members by channel: {chips or 'nobody present yet'}</div>",
        )
        channels, cols = self.data.derived(
            snap, "members", lambda: member_columns(snap.member_counts)
        )
        self.chart.update(channels, cols, math.floor(snap.now))
        self._roster(snap)
        self._log(snap)

    def _roster(self, snap: Snapshot) -> None:
        rows = snap.roster_rows
        key = (len(rows), tuple(r[1] for r in rows) if len(rows) < 500 else snap.seq)
        if key == self._roster_key:
            return
        self._roster_key = key
        roster = snap.roster
        # `meta` is already the roster's one-line summary of the latest meta
        self.roster.value = (
            roster[["channel", "key", "metas", "joined_at", "meta"]].rename(
                columns={"metas": "connections"}
            )
            if not roster.empty
            else roster
        )

    def _log(self, snap: Snapshot) -> None:
        log = snap.presence_changes
        key = (len(log), log[-1].at if log else None)
        if key == self._log_key:
            return
        self._log_key = key
        self.log.value = snap.presence_log.iloc[::-1].head(500).reset_index(drop=True)
