"""Streaming Bokeh charts: each keeps its own ColumnDataSource and streams only new seconds.

Rows are streamed once their second is complete (the current second is still filling up), with
`rollover` bounding what the browser keeps to the window. Charts of one page share one
`DataRange1d(follow="end")`: the browser moves it as data arrives, so the charts scroll together
and the server sends no range updates at all.

The reshaping (long frame → one column per series) is a pure function of a snapshot, so it is
done once per snapshot for every session (`Runtime.derived`); what a session does per second is
a binary search for the seconds it has not streamed yet and one `stream()` call.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, Legend, Span
from bokeh.plotting import figure

from .theme import KIND_COLORS, PALETTE, STATUS_COLORS

KINDS = ["broadcast", "postgres_changes", "presence", "system"]
LATENCY_KEYS = ("t", "p50", "p95", "p99", "rtt50", "rtt95")


def ms(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Datetimes to epoch milliseconds, Bokeh's datetime axis unit."""
    values = pd.DatetimeIndex(times)
    return values.asi8 / 1e6 if values.tz is None else values.tz_convert("UTC").asi8 / 1e6


Columns = dict[str, np.ndarray]
"""Chart data: a sorted `t` (epoch ms, one row per second) and one array per plotted series."""


def stream_new(
    source: ColumnDataSource, cols: Columns, after: float, before_ms: float, rollover: int
) -> float:
    """Stream the rows with `after < t < before_ms` into `source`; returns the last `t` sent (or
    `after` when there was nothing new)."""
    t = cols["t"]
    lo = int(np.searchsorted(t, after, side="right"))
    hi = int(np.searchsorted(t, before_ms, side="left"))
    if hi <= lo:
        return after
    source.stream({k: v[lo:hi].tolist() for k, v in cols.items()}, rollover=rollover)
    return float(t[hi - 1])


def latency_columns(series: pd.DataFrame) -> Columns:
    """Per second: commit-to-receive p50/p95/p99 and the probe round trip's p50/p95."""
    if series.empty:
        return {k: np.empty(0) for k in LATENCY_KEYS}
    wide = series.pivot_table(index="time", columns="source", values=["p50", "p95", "p99"])
    n = len(wide)

    def col(stat: str, source: str) -> np.ndarray:
        key = (stat, source)
        return wide[key].to_numpy(float) if key in wide.columns else np.full(n, np.nan)

    return {
        "t": ms(wide.index),
        "p50": col("p50", "commit"),
        "p95": col("p95", "commit"),
        "p99": col("p99", "commit"),
        "rtt50": col("p50", "probe_rtt"),
        "rtt95": col("p95", "probe_rtt"),
    }


def rate_columns(rates: pd.DataFrame, column: str, groups: list[str]) -> Columns:
    """Messages per second per group (`g0`, `g1`, … in the order of `groups`; values of `column`
    outside `groups` count as `other`, if that is a group), with quiet seconds as zeros."""
    keys = [f"g{i}" for i in range(len(groups))]
    if rates.empty:
        return {"t": np.empty(0), **{k: np.empty(0) for k in keys}}
    values = rates[column].where(rates[column].isin(groups), "other")
    wide = rates.assign(group=values).pivot_table(
        index="time", columns="group", values="count", aggfunc="sum"
    )
    full = pd.date_range(wide.index.min(), wide.index.max(), freq="1s")
    wide = wide.reindex(full, fill_value=0).fillna(0)
    n = len(wide)
    out: Columns = {"t": ms(wide.index)}
    for key, group in zip(keys, groups, strict=True):
        out[key] = wide[group].to_numpy(float) if group in wide.columns else np.zeros(n)
    return out


def following_range(window_s: float) -> DataRange1d:
    """An x-range that shows the newest `window_s` of its renderers' data, moved by the browser.
    Set its `renderers` to the charts that define "now" (not the timeline, whose current period
    runs off the right edge)."""
    return DataRange1d(follow="end", follow_interval=window_s * 1000, range_padding=0)


def _figure(title: str, x_range: DataRange1d, height: int, y_label: str) -> Any:
    fig = figure(
        title=title,
        x_axis_type="datetime",
        x_range=x_range,
        height=height,
        sizing_mode="stretch_width",
        toolbar_location=None,
        tools="",
    )
    fig.yaxis.axis_label = y_label
    fig.min_border_left = 50
    fig.grid.grid_line_alpha = 0.3
    return fig


class LatencyChart:
    """p50–p95 band, p99 line for commit-to-receive; the probe's round trip as a line."""

    def __init__(self, x_range: DataRange1d, window_s: float, threshold_ms: float = 0.0) -> None:
        self.window_s = window_s
        self.source = ColumnDataSource({k: [] for k in LATENCY_KEYS}, name="latency")
        fig = _figure("Latency (ms): commit → receive, and probe round trip", x_range, 260, "ms")
        band = fig.varea(
            x="t", y1="p50", y2="p95", source=self.source, fill_alpha=0.3, fill_color="#16a34a"
        )
        p99 = fig.line(
            x="t", y="p99", source=self.source, line_dash="dashed", line_width=1.5, color="#16a34a"
        )
        p50 = fig.line(x="t", y="p50", source=self.source, line_width=2, color="#16a34a")
        rtt = fig.line(x="t", y="rtt50", source=self.source, line_width=2, color="#2563eb")
        legend = Legend(
            items=[
                ("commit p50", [p50]),
                ("p50–p95", [band]),
                ("p99", [p99]),
                ("probe RTT p50", [rtt]),
            ],
            location="top_left",
            orientation="horizontal",
            background_fill_alpha=0.2,
        )
        fig.add_layout(legend, "above")
        if threshold_ms:
            fig.add_layout(
                Span(
                    location=threshold_ms,
                    dimension="width",
                    line_color="#dc2626",
                    line_dash="dotted",
                    line_width=1,
                )
            )
        fig.add_tools(
            HoverTool(
                renderers=[p50],
                mode="vline",
                tooltips=[
                    ("p50", "@p50{0.0} ms"),
                    ("p95", "@p95{0.0} ms"),
                    ("p99", "@p99{0.0} ms"),
                    ("probe", "@rtt50{0.0} ms"),
                ],
                formatters={},
            )
        )
        self.figure = fig
        self.renderers = [band, p99, p50, rtt]
        self.last = -math.inf

    def update(self, cols: Columns, complete_before: float) -> None:
        """Stream the complete seconds of `cols` (see `latency_columns`) not sent yet."""
        self.last = stream_new(
            self.source, cols, self.last, complete_before * 1000, int(self.window_s) + 5
        )


class RateChart:
    """Messages per second, stacked by kind (or by channel: the top channels plus `other`)."""

    def __init__(
        self,
        x_range: DataRange1d,
        window_s: float,
        by: str = "kind",
        channels: list[str] | None = None,
    ) -> None:
        self.window_s = window_s
        self.by = by
        self.groups = KINDS if by == "kind" else (channels or [])[:9] + ["other"]
        colors = (
            [KIND_COLORS[k] for k in KINDS]
            if by == "kind"
            else [PALETTE[i % len(PALETTE)] for i in range(len(self.groups))]
        )
        self.keys = [f"g{i}" for i in range(len(self.groups))]
        self.source = ColumnDataSource({"t": [], **{k: [] for k in self.keys}}, name="rate")
        fig = _figure(f"Messages per second by {by}", x_range, 240, "msg/s")
        stack = fig.varea_stack(
            stackers=self.keys, x="t", source=self.source, color=colors, fill_alpha=0.8
        )
        legend = Legend(
            items=[(g, [r]) for g, r in zip(self.groups, stack, strict=True)],
            location="top_left",
            orientation="horizontal",
            background_fill_alpha=0.2,
        )
        fig.add_layout(legend, "above")
        self.figure = fig
        self.renderers = list(stack)
        self.last = -math.inf

    @property
    def memo_key(self) -> tuple[Any, ...]:
        """What `columns` depends on besides the snapshot, for sharing it between sessions."""
        return ("rates", self.by, tuple(self.groups))

    def columns(self, rates: pd.DataFrame) -> Columns:
        return rate_columns(rates, "kind" if self.by == "kind" else "channel", self.groups)

    def update(self, cols: Columns, complete_before: float) -> None:
        """Stream the complete seconds of `cols` (see `rate_columns`) not sent yet."""
        self.last = stream_new(
            self.source, cols, self.last, complete_before * 1000, int(self.window_s) + 5
        )


class TimelineChart:
    """Connection status over time: one coloured bar per status period, outages in red/amber."""

    def __init__(self, x_range: DataRange1d) -> None:
        self.source = ColumnDataSource(
            {k: [] for k in ("left", "right", "status", "reason", "color", "dur")}
        )
        fig = _figure("Connection", x_range, 110, "")
        fig.yaxis.visible = False
        fig.ygrid.visible = False
        fig.quad(
            left="left",
            right="right",
            bottom=0,
            top=1,
            color="color",
            source=self.source,
            line_color=None,
        )
        fig.add_tools(
            HoverTool(tooltips=[("status", "@status"), ("for", "@dur"), ("reason", "@reason")])
        )
        self.figure = fig
        self._key: Any = None

    def update(self, timeline: pd.DataFrame, now: float) -> None:
        key = (len(timeline), None if timeline.empty else timeline.iloc[-1]["start"])
        if key == self._key:
            return
        self._key = key
        if timeline.empty:
            return
        starts = ms(timeline["start"])
        ends = timeline["end"]
        # the current period runs off the right edge, so it needs no update while it lasts
        right = np.where(ends.isna(), (now + 3600) * 1000, ms(ends.fillna(timeline["start"])))
        durations = [
            (r - s) / 1000 if not pd.isna(e) else math.nan
            for s, r, e in zip(starts, right, ends, strict=True)
        ]
        self.source.data = {
            "left": list(starts),
            "right": list(right),
            "status": list(timeline["status"]),
            "reason": [r if isinstance(r, str) else "" for r in timeline["reason"]],
            "color": [STATUS_COLORS.get(s, "#64748b") for s in timeline["status"]],
            "dur": ["ongoing" if math.isnan(d) else f"{d:.1f} s" for d in durations],
        }
