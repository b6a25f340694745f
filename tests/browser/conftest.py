"""A real `panel serve` of the dashboard, watching a real sandbox, driven by Debian's Chromium."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from dashboard_process import CHROMIUM, CHROMIUM_FLAGS, DashboardServer, watch_toml  # noqa: E402


class Dashboard(DashboardServer):
    """The dashboard the browser tests drive: default settings but a 4 s stale limit, and Panel's
    session REST endpoint on, so tests can count live sessions."""

    def __init__(self, sandbox, tmp: Path) -> None:
        self.sandbox = sandbox
        super().__init__(
            watch_toml(sandbox, tmp / "watch.toml", dashboard={"stale_after_s": 4}),
            tmp / "panel.log",
            panel_args=("--rest-session-info", "--session-history", "-1"),
        )
        # the first session triggers nothing: ingest was started by --setup; wait for data
        time.sleep(1.0)


@pytest.fixture(scope="module")
def browser():
    """Module-scoped on purpose: Playwright's sync API keeps an event loop on the main thread
    while it is open, which would break every asyncio test that runs after it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for browser tests (make test installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def demo_sandbox(tmp_path_factory):
    from sandbox_process import start_sandbox

    # the demo as an operator sees it: postgres_changes with Supabase's polling latency
    sb = start_sandbox(tmp_path_factory.mktemp("dash-sb") / "data", "--demo", changes="poll")
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def dashboard(demo_sandbox, tmp_path_factory):
    d = Dashboard(demo_sandbox, tmp_path_factory.mktemp("dash"))
    yield d
    d.stop()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser, width: int = 1440, height: int = 1000) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url}"))

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def open_page(browser):
    pages: list[Page] = []

    def make(url: str, width: int = 1440, height: int = 1000) -> Page:
        p = Page(browser, width, height)
        pages.append(p)
        p.page.goto(url)
        return p

    yield make
    for p in pages:
        p.close()
