"""`panel serve app.py` in a checkout: the dashboard. Its code is monitor/apps/app.py, which the
installed `realtime-monitor serve` runs; this file runs that one, so there is one copy."""

import runpy

runpy.run_module("monitor.apps.app")
