"""`panel serve app.py wall.py`: the wall display at /wall (also /app?view=wall)."""

from dashboards.app import build

build("wall").servable()
