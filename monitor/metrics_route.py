"""`panel serve --plugins monitor.metrics_route`: `/metrics` on the dashboard server.

Panel's documented way to add an endpoint (how_to/server/endpoints): a plugin module whose
`ROUTES` lists Tornado handlers, served next to the apps. The handler reads the process's one
`Runtime` (made by `--setup monitor/setup.py`) and writes its registry in the format the scraper
asks for (`prometheus_client.exposition.choose_encoder`: Prometheus text, or OpenMetrics).

A scrape takes one store snapshot and builds the families (a few ms, benchmarks/scrape.py); it
runs on a worker thread so the event loop that carries ingest and every session's websocket is
not held for it.

Who may scrape (`monitor.auth`): Panel's login guards only the apps' own routes, not a plugin's,
so the handler checks it itself, with the server's own auth provider (`get_user`, which reads the
signed `user` cookie of Panel's login); a request with `Authorization: Bearer` is judged on the
metrics token instead.
"""

from __future__ import annotations

import asyncio
import inspect

from prometheus_client.exposition import choose_encoder
from tornado.web import RequestHandler

from monitor import auth


class MetricsHandler(RequestHandler):
    async def allowed(self) -> bool:
        """The rules of `monitor.auth`; `self.application` is Bokeh's, with Panel's provider."""
        token = auth.metrics_token()
        header = self.request.headers.get("Authorization")
        if token and auth.bearer(header) is not None:
            return auth.token_matches(header, token)
        provider = self.application.auth_provider
        if provider.get_user_async is not None:
            return bool(await provider.get_user_async(self))
        if provider.get_user is not None:
            user = provider.get_user(self)
            return bool(await user if inspect.isawaitable(user) else user)
        return not token  # no login on the pages: open unless a token is set

    async def get(self) -> None:
        import panel as pn

        from monitor.runtime import CACHE_KEY

        if not await self.allowed():
            status, headers, body = auth.refusal(auth.metrics_token())
            self.set_status(status)
            for name, value in headers.items():
                self.set_header(name, value)
            self.write(body)
            return

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
