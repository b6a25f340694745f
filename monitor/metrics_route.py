"""`panel serve --plugins monitor.metrics_route`: `/metrics` on the dashboard server.

Panel's documented way to add an endpoint (how_to/server/endpoints): a plugin module whose
`ROUTES` lists Tornado handlers, served next to the apps. The handler reads the process's one
`Runtime` (made by `--setup monitor/setup.py`) and writes its registry in the format the scraper
asks for (`prometheus_client.exposition.choose_encoder`: Prometheus text, or OpenMetrics).

A scrape takes one store snapshot and builds the families (a few ms, benchmarks/scrape.py); it
runs on a worker thread so the event loop that carries ingest and every session's websocket is
not held for it.
"""

from __future__ import annotations

import asyncio

from prometheus_client.exposition import choose_encoder
from tornado.web import RequestHandler


class MetricsHandler(RequestHandler):
    async def get(self) -> None:
        import panel as pn

        from monitor.runtime import CACHE_KEY

        runtime = pn.state.cache.get(CACHE_KEY)
        if runtime is None:  # the setup module has not run yet
            self.set_status(503)
            self.write("monitor not started\n")
            return
        encoder, content_type = choose_encoder(self.request.headers.get("Accept", ""))
        body = await asyncio.get_running_loop().run_in_executor(
            None, encoder, runtime.metrics_registry
        )
        self.set_header("Content-Type", content_type)
        self.write(body)


ROUTES = [("/metrics", MetricsHandler, {})]
