"""`panel serve --setup monitor/setup.py`: once per server process, before any session.

Loads Panel's extensions here rather than in app.py, which runs once per session: calling
`pn.extension` again inside each session resets per-process settings while other sessions are
rendering. Starts ingest with the server, not with the first browser, so the first page opened
already has history to show."""

import panel as pn

from monitor.runtime import get_runtime

pn.extension("tabulator", notifications=False)
get_runtime()
