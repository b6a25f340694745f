"""A real `panel serve` of the dashboard, watching a real sandbox, driven by Debian's Chromium."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch_toml(sb, path: Path) -> Path:
    path.write_text(f"""
[connection]
url = "{sb.url}"
key = "{sb.anon_key}"

[[channels]]
topic = "demo"
[[channels]]
topic = "demo-presence"
presence = true
presence_key = "realtime-monitor"
[[channels]]
topic = "demo-rows"
[[channels.postgres_changes]]
table = "demo_items"
[[channels]]
topic = "group-live-slots"
[[channels.postgres_changes]]
schema = "group"
table = "live_slots"

[probes.database]
db_url = "{sb.db_url}"

[dashboard]
stale_after_s = 4
""")
    return path


class Dashboard:
    def __init__(self, sandbox, tmp: Path) -> None:
        self.sandbox = sandbox
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = watch_toml(sandbox, tmp / "watch.toml")
        self.log_path = tmp / "panel.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dashboards",
                "serve",
                "--port",
                str(self.port),
                "--config",
                str(config),
                "--",
                "--rest-session-info",
                "--session-history",
                "-1",
            ],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/liveness", timeout=2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "panel serve did not start:\n" + self.log_path.read_text()
                    ) from None
                time.sleep(0.3)
        # the first session triggers nothing: ingest was started by --setup; wait for data
        time.sleep(1.0)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


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
    sys.path.insert(0, str(ROOT / "tests"))
    from sandbox_process import start_sandbox

    sb = start_sandbox(tmp_path_factory.mktemp("dash-sb") / "data", "--demo")
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
