"""The scripts `panel serve` runs, one per page route (`app.py` is /app, `wall.py` is /wall).

They live inside the package so an installed `realtime-monitor serve` finds them next to the code
(monitor/serve.py passes their paths); the app.py and wall.py at a checkout's root run these. Panel
runs each once per browser session, so they are scripts, never imported.
"""
