"""The served app: one template, a page per `?page=` (overview, slots, presence, inspector), and
the wall at `/wall` or `?view=wall`. Each page builds only its own views, so a session costs what
its page needs and nothing more."""

from __future__ import annotations

import panel as pn
from panel.theme.fast import Fast

from .inspector import Inspector
from .live import LiveView
from .overview import Overview
from .presence import Presence
from .runtime import Runtime, get_runtime
from .slots import Slots
from .wall import Wall

# The Fast design lists Google's Open Sans as a page resource. Monitoring often runs where there
# is no internet (this sandbox, an ops network), and a failed font request is a console error on
# every page; the system font stack below reads just as well.
Fast._resources = {**Fast._resources, "font": {}}

# Once per process, at import: calling pn.extension again inside each session resets
# per-process settings while other sessions are rendering.
pn.extension("tabulator", notifications=False)

PAGES: dict[str, tuple[str, type[LiveView]]] = {
    "overview": ("Overview", Overview),
    "slots": ("Live slots", Slots),
    "presence": ("Presence", Presence),
    "inspector": ("Inspector", Inspector),
}

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


def build(page: str | None = None, runtime: Runtime | None = None) -> pn.viewable.Viewable:
    runtime = runtime or get_runtime()
    page = page or _arg("view") or _arg("page") or "overview"
    if page == "wall":
        return Wall(runtime).__panel__()
    if page not in PAGES:
        page = "overview"
    label, view_cls = PAGES[page]
    view = view_cls(runtime)
    template = pn.template.FastListTemplate(
        title=runtime.config.dashboard.title,
        sidebar=[nav(page)],
        main=[pn.Column(f"## {label}", view, sizing_mode="stretch_width")],
        sidebar_width=210,
        accent="#2563eb",
        theme_toggle=True,
        # no web fonts: the machine may have no internet, and a failed font load is a console
        # error on every page
        font="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        font_url="",
        main_layout=None,
    )
    return template
