"""`panel serve`'s /wall: the wall display (also /app?view=wall); `?project=` shows one project,
otherwise several projects are cycled or tiled (dashboards/app.py)."""

from dashboards.app import build
from monitor.runtime import get_fleet

fleet = get_fleet()
build(fleet.shared, fleet.config.dashboard, page="wall").servable()
