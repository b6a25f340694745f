"""`panel serve --setup monitor/setup.py`: once per server process, before any session.

Loads Panel's extensions here rather than in app.py, which runs once per session: calling
`pn.extension` again inside each session resets per-process settings while other sessions are
rendering. Keeps each new session until its browser connects (`monitor.sessions`). Starts ingest
of every project with the server, not with the first browser, so the first page opened already
has history."""

import panel as pn

from monitor.runtime import get_fleet
from monitor.sessions import hold_until_connected

pn.extension("tabulator", notifications=False)
pn.state.on_session_created(hold_until_connected)
get_fleet()
