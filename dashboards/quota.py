"""Quota gauges: how much of each of the plan's Realtime limits the project uses, one bar each.

A bar is the limit's full width; its fill is what is used, coloured by level (ok, warn from the
[quota] `alert_pct`, alert at the limit), and the monitor's own share of it is the hatched part
at its start: the monitor's probes, joins and socket spend the same quota as the app's clients.
A tick marks where the quota checks alert. Over the limit the bar stays full and says by how much.

`QuotaView` is a `LiveView` like every page, so it refreshes itself when shown alone (a notebook
cell); the Overview shows its pane and refreshes it from its own tick, so a session still costs
one periodic callback. The markup is derived once per snapshot for every session
(`SharedSnapshots.derived`), and the view holds nothing but its one pane: its memory does not grow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import panel as pn

from metrics.quota import Gauge, probe_messages_per_s
from metrics.snapshot import Snapshot

from .live import LiveView, set_if_changed
from .markup import esc, fmt_number
from .theme import LEVEL_COLORS, STYLES

QUOTA_STYLES = """
.rm-quota { display: grid; grid-template-columns: minmax(140px, max-content) 1fr max-content;
  gap: 6px 12px; align-items: center; width: 100%; font-size: 13px; }
.rm-quota .title { grid-column: 1 / -1; font-weight: 700; font-size: 14px; }
.rm-quota .title .meta { font-weight: 400; font-size: 12px; opacity: var(--rm-muted); }
.rm-quota .label { white-space: nowrap; }
.rm-quota .track { position: relative; height: 14px; border-radius: 7px; overflow: hidden;
  background: rgba(127,127,127,0.18); }
.rm-quota .fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--lvl); }
.rm-quota .own { position: absolute; left: 0; top: 0; bottom: 0;
  background: repeating-linear-gradient(135deg, rgba(255,255,255,.55) 0 3px, transparent 3px 6px),
  var(--lvl); filter: brightness(.8); }
.rm-quota .mark { position: absolute; top: 0; bottom: 0; width: 2px;
  background: currentColor; opacity: .45; }
.rm-quota .figure { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.rm-quota .figure .pct { font-weight: 700; color: var(--lvl); }
.rm-quota .figure .own-note { opacity: var(--rm-muted); font-size: 12px; }
.rm-quota .legend { grid-column: 1 / -1; font-size: 12px; opacity: var(--rm-muted); }
"""


def _width(value: float, limit: float) -> float:
    """Share of the track, 0-100, for `value` of `limit`."""
    if limit <= 0 or math.isnan(value):
        return 0.0
    return max(0.0, min(100.0, value / limit * 100))


def gauge_row(g: Gauge) -> str:
    color = LEVEL_COLORS.get(g.level, LEVEL_COLORS["nodata"])
    used_w = _width(g.used, g.limit)
    own_w = min(used_w, _width(g.own, g.limit))
    mark = min(100.0, g.alert_pct)
    digits = {" KB": 2, "": 0}.get(g.unit, 1)  # counts are whole, payloads small
    used = fmt_number(g.used, digits)
    limit = fmt_number(g.limit, 0)
    pct = "–" if math.isnan(g.pct) else f"{math.floor(g.pct)} %"  # 99.8 is not yet 100
    own = fmt_number(g.own, digits)
    whose = "project" if g.source == "tenant" else "seen by the monitor"
    title = f"{g.label}: {used} of {limit}{g.unit} ({pct}, {whose}); the monitor's own {own}"
    return (
        f'<div class="label" title="{esc(title)}">{esc(g.label)}</div>'
        f'<div class="track" style="--lvl:{color}" data-quota="{esc(g.name)}" '
        f'data-level="{esc(g.level)}" role="meter" aria-valuemin="0" '
        f'aria-valuemax="{g.limit:g}" aria-valuenow="{0 if math.isnan(g.used) else g.used:g}">'
        f'<div class="fill" style="width:{used_w:.1f}%"></div>'
        f'<div class="own" style="width:{own_w:.1f}%"></div>'
        f'<div class="mark" style="left:{mark:.1f}%"></div></div>'
        f'<div class="figure" style="--lvl:{color}">{esc(used)} / {esc(limit)}{esc(g.unit)} '
        f'<span class="pct">{esc(pct)}</span> '
        f'<span class="own-note">· monitor {esc(own)}</span></div>'
    )


def quota_markup(gauges: Sequence[Gauge], plan: str, probes_per_s: float = 0.0) -> str:
    """The whole block: a title naming the plan and whose figures these are, one row a gauge."""
    if not gauges:
        return ""
    tenant = any(g.source == "tenant" for g in gauges)
    whose = (
        "the project's figures, as the server counts them"
        if tenant
        else "what the monitor sees: its own traffic (a hosted project reports no more)"
    )
    alert_pct = gauges[0].alert_pct
    rows = "".join(gauge_row(g) for g in gauges)
    return (
        f'<div class="rm-quota" data-testid="quota">'
        f'<div class="title">Quotas · {esc(plan)} plan <span class="meta">{esc(whose)}</span>'
        f"</div>{rows}"
        f'<div class="legend">hatched: the monitor\'s own share · tick: alert at '
        f"{alert_pct:g} % · rates: the larger of the server's average and the last tick · "
        f"the monitor's probes cost {fmt_number(probes_per_s, 1)} msgs/s ([probes] interval_s)"
        "</div>"
        "</div>"
    )


class QuotaView(LiveView):
    """One bar per quota of the configured plan (`SharedSnapshots.quota`)."""

    def layout(self) -> pn.viewable.Viewable:
        self.pane = pn.pane.HTML(
            "", stylesheets=[STYLES, QUOTA_STYLES], sizing_mode="stretch_width", margin=(5, 10)
        )
        return self.pane

    def refresh_slow(self, snap: Snapshot) -> None:
        data = self.data
        plan = getattr(data.quota, "plan", "")
        markup = data.derived(
            snap,
            "quota-markup",
            lambda: quota_markup(data.quota_gauges(snap), plan, probe_messages_per_s(snap)),
        )
        set_if_changed(self.pane, markup)
