"""Small HTML builders: tiles, badges, sparklines, slot cards. Pure functions of their inputs,
so views can compare the new markup with the old and send nothing when it is the same."""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping, Sequence

from .theme import LEVEL_COLORS, STATUS_COLORS, SUBSCRIBE_COLORS

COUNTER_LABELS = {
    "presence_opt_in": "opted in",
    "presence_visible": "visible",
    "presence_online": "online",
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt_number(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    return f"{value:.{digits}f}{unit}"


def fmt_ms(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def fmt_age(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and (math.isnan(seconds) or seconds < 0)):
        return "never"
    if seconds < 1:
        return "just now"
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m {int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h {int(seconds % 3600 // 60):02d}m"


def tile(
    label: str,
    value: str,
    level: str = "nodata",
    sub: str = "",
    test_id: str = "",
    css_class: str | None = None,
) -> str:
    """A headline number coloured by its alert level; `css_class` restyles it (the wall's are
    larger)."""
    color = LEVEL_COLORS.get(level, LEVEL_COLORS["nodata"])
    tid = f' data-testid="{esc(test_id)}"' if test_id else ""
    cls = css_class or f"rm-tile rm-{esc(level)}"
    return (
        f'<div class="{cls}" style="--lvl:{color}"{tid}>'
        f'<div class="label">{esc(label)}</div><div class="value">{esc(value)}</div>'
        f'<div class="sub">{esc(sub)}</div></div>'
    )


def status_badge(
    status: str | None,
    reason: str | None,
    since: float | None,
    age_s: float | None,
    target: str,
    now: float | None = None,
    trouble: str = "",
    alert: bool = False,
) -> str:
    """The socket's status; `trouble` (headline.health) is added to it ("CONNECTED · 1 of 3
    channels down: policy.denied") and `alert` paints it in the alert colour."""
    now = time.time() if now is None else now
    status = status or "connecting"
    color = LEVEL_COLORS["alert"] if alert else STATUS_COLORS.get(status, "#64748b")
    held = fmt_duration(now - since) if since else "–"
    why = f'<span class="why"> · {esc(trouble)}</span>' if trouble else ""
    parts = [
        f'<span class="rm-badge" style="--st:{color}" data-testid="status-badge" '
        f'data-status="{esc(status)}" data-health="{"alert" if alert else "ok"}">'
        f'<span class="dot"></span><span>{esc(status.upper())}{why}</span></span>',
        f'<span class="detail">for {held}</span>',
        f'<span class="detail">last message {fmt_age(age_s)}</span>',
        f'<span class="detail">{esc(target)}</span>',
    ]
    if reason and status != "connected":
        parts.append(f'<span class="reason" data-testid="status-reason">{esc(reason)}</span>')
    return '<div class="rm-status">' + "".join(parts) + "</div>"


def subscription_chips(
    states: Sequence[tuple[str, str, str | None]],
    incidents: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """One chip per channel: "room · SUBSCRIBED", or with an open incident (`incidents`:
    channel -> (class, the server's words)) "room · auth.expired" in the alert colour, the
    server's words as its tooltip."""
    if not states:
        return '<div class="rm-empty">no channels joined yet</div>'
    chips = []
    for channel, state, error in states:
        color = SUBSCRIBE_COLORS.get(state, "#64748b")
        title = f' title="{esc(error)}"' if error else ""
        shown, cls = state, ""
        if incidents and channel in incidents:
            cls, words = incidents[channel]
            color, shown, title = LEVEL_COLORS["alert"], cls, f' title="{esc(words)}"'
        chips.append(
            f'<span class="rm-chip" style="--st:{color}"{title} data-testid="channel-chip" '
            f'data-channel="{esc(channel)}" data-state="{esc(state)}" data-class="{esc(cls)}">'
            f"{esc(channel)} · {esc(shown)}</span>"
        )
    return '<div class="rm-chips">' + "".join(chips) + "</div>"


def channel_latency(
    rows: Sequence[tuple[str, float, float, float, int]], limit_ms: float, shown: int = 6
) -> str:
    """The slowest channels' commit latency (channel, p50, p95, p99, count), slowest p95 first,
    each p95 coloured against the latency rule (`limit_ms`, 0 = no rule); the rest counted."""
    if not rows:
        return '<div class="rm-empty">no row changes with a latency in the window</div>'
    body = []
    for channel, p50, p95, p99, count in rows[:shown]:
        level = "info" if not limit_ms else "alert" if p95 > limit_ms else "ok"
        body.append(
            f'<tr data-testid="channel-latency-row"><td class="ch">{esc(channel)}</td>'
            f"<td>{fmt_ms(p50)}</td>"
            f'<td class="p95" style="--lvl:{LEVEL_COLORS[level]}">{fmt_ms(p95)}</td>'
            f"<td>{fmt_ms(p99)}</td><td>{count:,}</td></tr>"
        )
    more = len(rows) - shown
    foot = f'<div class="more">and {more} faster channels</div>' if more > 0 else ""
    return (
        '<div class="rm-chlat" data-testid="channel-latency"><div class="title">'
        "Commit latency by channel</div><table><thead><tr><th>channel</th><th>p50</th>"
        "<th>p95</th><th>p99</th><th>changes</th></tr></thead><tbody>"
        + "".join(body)
        + f"</tbody></table>{foot}</div>"
    )


def sparkline(
    times: Sequence[float],
    values: Sequence[float],
    width: int = 110,
    height: int = 26,
    color: str = "currentColor",
) -> str:
    """A step sparkline as inline SVG: cheap to send, no chart model per counter."""
    pts = [(t, v) for t, v in zip(times, values, strict=False) if not math.isnan(v)]
    if len(pts) < 2:
        return f'<svg width="{width}" height="{height}"></svg>'
    t0, t1 = pts[0][0], pts[-1][0]
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span_t = (t1 - t0) or 1.0
    span_v = (hi - lo) or 1.0

    def xy(t: float, v: float) -> str:
        x = (t - t0) / span_t * (width - 2) + 1
        y = height - 2 - (v - lo) / span_v * (height - 4)
        return f"{x:.1f},{y:.1f}"

    path = [xy(*pts[0])]
    for (_, prev), (t, v) in zip(pts, pts[1:], strict=False):
        path.append(xy(t, prev))
        path.append(xy(t, v))
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'preserveAspectRatio="none">'
        f'<polyline fill="none" stroke="{color}" stroke-width="1.6" opacity="0.8" '
        'vector-effect="non-scaling-stroke" '
        f'points="{" ".join(path)}"/></svg>'
    )


def slot_card(
    key: str,
    counters: dict[str, float],
    previous: dict[str, float] | None,
    history: Sequence[Sequence[float]],
    names: Sequence[str],
    note: str = "",
    meta: str = "",
) -> str:
    """One itinerary's card; a counter that changed since `previous` gets the bump animation."""
    cells = []
    times = [row[0] for row in history]
    for i, name in enumerate(names):
        value = counters.get(name, math.nan)
        before = (previous or {}).get(name)
        changed = previous is not None and before is not None and before != value
        direction = ""
        if changed and not (math.isnan(value) or math.isnan(before)):
            direction = " up" if value > before else " down"
        text = "–" if math.isnan(value) else f"{value:.0f}"
        cls = "num" + (" rm-bump" + direction if changed else "")
        spark = sparkline(times, [row[i + 1] for row in history])
        cells.append(
            f'<div class="rm-counter"><span class="{cls}" data-testid="slot-counter" '
            f'data-key="{esc(key)}" data-counter="{esc(name)}">{text}</span>'
            f'<div class="lbl">{esc(COUNTER_LABELS.get(name, name))}</div>{spark}</div>'
        )
    return (
        f'<div class="rm-slot" data-testid="slot-card" data-key="{esc(key)}">'
        f'<div class="title"><span>{esc(key)}</span><span class="meta">{esc(meta)}</span>'
        f'</div><div class="rm-counters">{"".join(cells)}</div>'
        f'<div class="rm-note">{esc(note)}</div></div>'
    )
