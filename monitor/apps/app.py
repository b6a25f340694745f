"""`panel serve`'s /app: the Realtime Monitor dashboard; `realtime-monitor serve` runs it with the
right flags. The composition root hands the process's projects to the pages (dashboards/app.py):
each project's shared snapshots and test-broadcast command by name; a session shows one."""

from dashboards.app import build
from monitor.runtime import get_fleet

fleet = get_fleet()
build(fleet.shared, fleet.config.dashboard, send=fleet.send).servable()
