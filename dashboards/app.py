"""The pages: one template, a page per `?page=` (overview, incidents, slots, presence,
inspector), and the wall at `/wall` or `?view=wall`. Each page builds only its own view, so a
session costs what its page needs and nothing more.

Nothing here starts anything: the composition root (`monitor`) hands in the shared snapshots,
the dashboard settings and, if it can send, the test-broadcast command. A notebook calls
`view()` for a single view without the template.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import panel as pn
from panel.theme.fast import Fast

from metrics.shared import SharedSnapshots

from .incidents import IncidentsView
from .inspector import Inspector
from .live import LiveView
from .overview import Overview
from .presence import Presence
from .slots import Slots
from .wall import Wall

# The Fast design lists Google's Open Sans as a page resource. Monitoring often runs where there
# is no internet (this sandbox, an ops network), and a failed font request is a console error on
# every page; the system font stack below reads just as well.
Fast._resources = {**Fast._resources, "font": {}}

PAGES: dict[str, tuple[str, type[LiveView]]] = {
    "overview": ("Overview", Overview),
    "incidents": ("Incidents", IncidentsView),
    "slots": ("Live slots", Slots),
    "presence": ("Presence", Presence),
    "inspector": ("Inspector", Inspector),
}
Send = Callable[[str, str, dict[str, Any]], Awaitable[None]]

NAV_CSS = """
.rm-nav a { display: block; padding: 10px 14px; margin: 2px 0; border-radius: 8px;
  text-decoration: none; color: inherit; font-weight: 600; }
.rm-nav a:hover { background: rgba(127,127,127,0.15); }
.rm-nav a.active { background: rgba(37,99,235,0.18); color: #2563eb; }
.rm-nav .wall { margin-top: 18px; opacity: .8; }
"""


def _arg(name: str) -> str | None:
    values = pn.state.session_args.get(name) if pn.state.session_args else None
    return values[0].decode() if values else None


def nav(active: str) -> pn.pane.HTML:
    theme = _arg("theme")
    suffix = f"&theme={theme}" if theme else ""
    links = "".join(
        f'<a href="?page={key}{suffix}" class="{"active" if key == active else ""}" '
        f'data-testid="nav-{key}">{label}</a>'
        for key, (label, _) in PAGES.items()
    )
    links += '<a class="wall" href="?view=wall">Wall display ↗</a>'
    return pn.pane.HTML(
        f'<nav class="rm-nav">{links}</nav>', stylesheets=[NAV_CSS], sizing_mode="stretch_width"
    )


def view(page: str, data: SharedSnapshots, settings: Any, send: Send | None = None) -> LiveView:
    """One page's view: `settings` is the [dashboard] section (update_ms, chart_ms, title,
    stale_after_s)."""
    common: dict[str, Any] = {
        "data": data,
        "update_ms": settings.update_ms,
        "chart_ms": settings.chart_ms,
    }
    if page == "wall":
        return Wall(title=settings.title, stale_after_s=settings.stale_after_s, **common)
    if page == "overview":
        limit = getattr(data.alerts, "latency_p95_ms_max", 0.0) or 0.0
        return Overview(latency_max_ms=limit, **common)
    if page == "inspector":
        return Inspector(send=send, status_strip=True, **common)
    return PAGES[page][1](status_strip=page not in ("incidents",), **common)


def build(
    data: SharedSnapshots, settings: Any, send: Send | None = None, page: str | None = None
) -> pn.viewable.Viewable:
    """The page a browser session asked for (`?page=` / `?view=wall`), in the template."""
    page = page or _arg("view") or _arg("page") or "overview"
    if page == "wall":
        return view("wall", data, settings)
    if page not in PAGES:
        page = "overview"
    label = PAGES[page][0]
    body = pn.Column(f"## {label}", view(page, data, settings, send), sizing_mode="stretch_width")
    return pn.template.FastListTemplate(
        title=settings.title,
        sidebar=[nav(page)],
        main=[body],
        sidebar_width=210,
        accent="#2563eb",
        theme_toggle=True,
        # no web fonts: the machine may have no internet, and a failed font load is a console
        # error on every page
        font="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        font_url="",
        main_layout=None,
    )
