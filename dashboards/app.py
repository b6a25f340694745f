"""The pages: one template, a page per `?page=` (overview, incidents, slots, presence,
inspector), and the wall at `/wall` or `?view=wall`. Each page builds only its own view, so a
session costs what its page needs and nothing more.

Nothing here starts anything: the composition root (`monitor`) hands in the shared snapshots,
the dashboard settings and, if it can send, the test-broadcast command. A notebook calls
`view()` for a single view without the template.

Several projects: the root hands in a mapping name -> SharedSnapshots (and name -> send). A
session reads ONE project's snapshots, chosen by `?project=NAME` (the first when absent or
unknown), so a link or a bookmark opens that project; the sidebar lists the projects as links
that keep the page, and the title names the project. With one project nothing of this shows:
the pages are the single-project pages. The wall shows `?project=NAME` alone, else cycles
through the projects or tiles them (`?layout=cycle|tile`, default `[dashboard] wall_layout`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import panel as pn
from panel.theme.fast import Fast

from metrics.shared import SharedSnapshots

from .incidents import IncidentsView
from .inspector import Inspector
from .live import LiveView
from .markup import esc
from .overview import Overview
from .presence import Presence
from .slots import Slots
from .wall import Wall, WallGrid

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
Projects = Mapping[str, SharedSnapshots]
WALL_LAYOUTS = ("cycle", "tile")

NAV_CSS = """
.rm-nav a { display: block; padding: 10px 14px; margin: 2px 0; border-radius: 8px;
  text-decoration: none; color: inherit; font-weight: 600; }
.rm-nav a:hover { background: rgba(127,127,127,0.15); }
.rm-nav a.active { background: rgba(37,99,235,0.18); color: #2563eb; }
.rm-nav .wall { margin-top: 18px; opacity: .8; }
.rm-nav .heading { margin: 22px 14px 6px; font-size: 12px; text-transform: uppercase;
  letter-spacing: .06em; opacity: .65; }
.rm-nav a.project { font-weight: 500; padding: 7px 14px; }
.rm-nav a.project.active { font-weight: 700; }
"""


def _arg(name: str) -> str | None:
    values = pn.state.session_args.get(name) if pn.state.session_args else None
    return values[0].decode() if values else None


def _query(**params: str | None) -> str:
    """A page link's query: the given parameters and the session's theme, none left empty."""
    params = {**params, "theme": _arg("theme")}
    return "?" + "&".join(f"{k}={quote(v)}" for k, v in params.items() if v)


def nav(
    active: str,
    project: str | None = None,
    projects: list[str] | None = None,
    user: str | None = None,
) -> pn.pane.HTML:
    """The page links, and with several projects the project links (each keeps the page); with
    Panel's login on (`monitor serve --basic-auth`/OAuth), who is signed in and Panel's logout."""
    links = "".join(
        f'<a href="{_query(project=project, page=key)}" '
        f'class="{"active" if key == active else ""}" data-testid="nav-{key}">{label}</a>'
        for key, (label, _) in PAGES.items()
    )
    wall = _query(project=project, view="wall")
    links += f'<a class="wall" href="{wall}">Wall display ↗</a>'
    if projects and len(projects) > 1:
        links += '<div class="heading">Projects</div>' + "".join(
            f'<a href="{_query(project=name, page=active)}" data-testid="project-{esc(name)}" '
            f'class="project{" active" if name == project else ""}">{esc(name)}</a>'
            for name in projects
        )
    if user:
        links += (
            '<div class="heading" data-testid="signed-in">Signed in as '
            f'<span style="text-transform: none">{esc(user)}</span></div>'
            '<a href="./logout" data-testid="logout">Log out</a>'
        )
    return pn.pane.HTML(
        f'<nav class="rm-nav" data-testid="nav">{links}</nav>',
        stylesheets=[NAV_CSS],
        sizing_mode="stretch_width",
    )


def signed_in() -> str | None:
    """The user of Panel's login cookie, None without a login (or for OAuth's guests)."""
    user = pn.state.user
    return None if user == "guest" else user


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


def choose(
    data: SharedSnapshots | Projects, send: Send | Mapping[str, Send] | None
) -> tuple[str | None, SharedSnapshots, Send | None]:
    """The project this session shows: `?project=` if it names one, else the first. `None`
    as its name means a single project (nothing to name or select)."""
    if isinstance(data, SharedSnapshots):
        return None, data, send if not isinstance(send, Mapping) else None
    names = list(data)
    asked = _arg("project")
    name = asked if asked in data else names[0]
    chosen_send = send.get(name) if isinstance(send, Mapping) else send
    return (name if len(names) > 1 else None), data[name], chosen_send


def wall(data: SharedSnapshots | Projects, settings: Any) -> pn.viewable.Viewable:
    """The wall of one project (`?project=` or the only one), or of all: cycled or tiled."""
    common: dict[str, Any] = {
        "title": settings.title,
        "stale_after_s": settings.stale_after_s,
        "update_ms": settings.update_ms,
        "chart_ms": settings.chart_ms,
    }
    if isinstance(data, SharedSnapshots) or len(data) == 1:
        return Wall(data=choose(data, None)[1], **common)
    if _arg("project") in data:
        name = _arg("project")
        return Wall(data=data[name], project=name, **common)
    layout = _arg("layout") or getattr(settings, "wall_layout", "cycle")
    if layout == "tile":
        return WallGrid(projects=dict(data), **common)
    return Wall(projects=dict(data), cycle_s=getattr(settings, "wall_cycle_s", 15.0), **common)


def build(
    data: SharedSnapshots | Projects,
    settings: Any,
    send: Send | Mapping[str, Send] | None = None,
    page: str | None = None,
) -> pn.viewable.Viewable:
    """The page a browser session asked for (`?page=` / `?view=wall`, `?project=`), in the
    template. `data` is one project's snapshots, or several projects' by name."""
    page = page or _arg("view") or _arg("page") or "overview"
    if page == "wall":
        return wall(data, settings)
    if page not in PAGES:
        page = "overview"
    project, shared, chosen_send = choose(data, send)
    label = PAGES[page][0]
    heading: pn.viewable.Viewable = pn.pane.Markdown(f"## {label}")
    title = settings.title
    if project is not None:
        heading = pn.pane.HTML(
            f'<h2 class="rm-page-title">{esc(label)} · <span data-testid="project-name">'
            f"{esc(project)}</span></h2>",
            sizing_mode="stretch_width",
        )
        title = f"{settings.title} · {project}"
    body = pn.Column(
        heading, view(page, shared, settings, chosen_send), sizing_mode="stretch_width"
    )
    return pn.template.FastListTemplate(
        title=title,
        sidebar=[nav(page, project, list(data) if project is not None else None, signed_in())],
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
