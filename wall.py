"""`panel serve app.py wall.py`: the wall display at /wall (also /app?view=wall)."""

from dashboards.app import build
from monitor.runtime import get_runtime

runtime = get_runtime()
build(runtime.shared, runtime.config.dashboard, page="wall").servable()
