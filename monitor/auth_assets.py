"""`panel serve --plugins monitor.auth_assets`: Panel's own published files (its `dist/`, what
cdn.holoviz.org serves to anyone) at `/panel-cdn/<version>/dist/`, where `PANEL_CDN_ROOT` points
the pages (`monitor.serve`), without the login.

Why not `--static-dirs`: Panel guards those with the login (`AuthenticatedStaticFileHandler`),
and its own login page takes its logo and favicon from the CDN root. Each of those requests was
sent to the login page, which remembers where to go next in a cookie: the last one won, so after
signing in the browser landed on `favicon.ico` instead of the page it asked for. These files are
public, so serving them openly costs nothing; only `dist/` is served, not the package's source.
"""

from __future__ import annotations

from pathlib import Path

import panel
from tornado.web import StaticFileHandler

from monitor.serve import CDN_ROUTE

DIST = Path(panel.__file__).resolve().parent / "dist"

ROUTES = [
    (rf"/{CDN_ROUTE}/{panel.__version__}/dist/(.*)", StaticFileHandler, {"path": str(DIST)}),
]
