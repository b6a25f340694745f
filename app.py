"""`panel serve app.py`: the Realtime Monitor dashboard; `python -m monitor serve` runs it with the
right flags. The composition root hands the process's runtime to the pages (dashboards/app.py)."""

from dashboards.app import build
from monitor.runtime import get_runtime

runtime = get_runtime()
build(runtime.shared, runtime.config.dashboard, send=runtime.send_broadcast).servable()
