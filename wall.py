"""`panel serve app.py wall.py` in a checkout: the wall display at /wall. Its code is
monitor/apps/wall.py (see app.py)."""

import runpy

runpy.run_module("monitor.apps.wall")
