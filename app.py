"""`panel serve app.py`: the Realtime Monitor dashboard (see dashboards/app.py)."""

from dashboards.app import build

build().servable()
