"""`panel serve --setup dashboards/setup.py`: start ingest with the server, not with the first
browser, so the first page opened already has history to show."""

from dashboards.runtime import get_runtime

get_runtime()
