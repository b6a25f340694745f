"""Take the README's screenshots: every page of a live `make serve`, light and dark.

Usage: .venv/bin/python scripts/screenshots.py [--wait 40] [--out docs] [--only NAME ...]
Starts `python -m monitor serve` with no watch config (so it runs the sandbox with all demo
scenarios), waits for traffic, then captures each page with Debian's Chromium.

The Incidents page (and the wall with an incident open) needs things to go wrong, which the demo
does not: for those a sandbox with the demo is started apart (the tests' launcher) and watched
with the anon key, the demo's channels plus a private channel the anon role may not read and a
filter on a column that does not exist (both stay open); then the sandbox's fault hooks crash a
channel and drain the socket (both close again once the monitor has rejoined and reconnected).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ("overview", "/app?page=overview", 1440, 1300),
    ("overview-dark", "/app?page=overview&theme=dark", 1440, 1300),
    ("slots", "/app?page=slots", 1440, 900),
    ("presence", "/app?page=presence", 1440, 1000),
    ("inspector", "/app?page=inspector", 1440, 1100),
    ("wall", "/wall", 1920, 1080),
]
FAULT_PAGES = [
    ("incidents", "/app?page=incidents", 1440, 900),
    ("wall-incident", "/wall", 1920, 1080),
]
FAULTS = """
[[channels]]
topic = "private:ops-room"
private = true

[[channels]]
topic = "demo-rows-filtered"
[[channels.postgres_changes]]
table = "demo_items"
filter = "nosuch=eq.1"
"""
# Two projects in one server (README, "Several projects"): the Overview with its project list,
# and the tiled wall.
PROJECT_PAGES = [
    ("projects-overview", "/app?project=production&page=overview", 1440, 1300),
    ("wall-tiled", "/wall?layout=tile", 1920, 1080),
]
PROJECT_CHANNELS = """
[[projects.channels]]
topic = "demo"
[[projects.channels]]
topic = "demo-presence"
presence = true
presence_key = "realtime-monitor"
[[projects.channels]]
topic = "demo-rows"
[[projects.channels.postgres_changes]]
table = "demo_items"
[[projects.channels]]
topic = "group-live-slots"
[[projects.channels.postgres_changes]]
schema = "group"
table = "live_slots"
"""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def open_incident_row(page) -> None:
    """The Incidents page with the refused private channel's row opened to its detail."""
    row = page.locator(".tabulator-row", has_text="policy.denied").first
    row.locator(".tabulator-cell", has_text="►").first.click()
    page.mouse.move(0, 0)  # no hover highlight on the row
    page.get_by_text("Incidents", exact=True).last.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)


def select_inspector_row(page) -> None:
    page.locator(".tabulator-row").nth(2).click()
    page.mouse.move(0, 0)  # only the selected row highlighted, not the one under the pointer
    page.wait_for_timeout(1200)


BEFORE_SHOT = {"incidents": open_incident_row, "inspector": select_inspector_row}


def shoot(base: str, pages: list, names: set[str], out: Path, settle_ms: int) -> None:
    """Each page of `pages` whose name is in `names`, in a new tab of Debian's Chromium, given
    `settle_ms` to render its streams (and its BEFORE_SHOT step), saved as out/NAME.png."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        for name, path, width, height in pages:
            if name not in names:
                continue
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(base + path)
            page.wait_for_timeout(settle_ms)
            if name in BEFORE_SHOT:
                BEFORE_SHOT[name](page)
            page.screenshot(path=str(out / f"{name}.png"))
            page.close()
            print(out / f"{name}.png")
        browser.close()


def fault_shots(out: Path, names: set[str], wait: float) -> None:
    """The pages that show incidents, from a watch that goes wrong on purpose."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from dashboard_process import DashboardServer, watch_toml
    from sandbox_process import start_sandbox

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        sb = start_sandbox(tmp / "data", "--demo", changes="poll")
        config = watch_toml(sb, tmp / "watch.toml")
        with config.open("a") as f:
            f.write(FAULTS)
        server = DashboardServer(config, tmp / "panel.log")
        try:
            time.sleep(wait)
            sb.fault("phx_error", {"topic": "demo"})
            time.sleep(3)
            sb.fault("disconnect", {})
            time.sleep(6)
            shoot(server.base, FAULT_PAGES, names, out, 5000)
        finally:
            server.stop()
            sb.stop()


def project_shots(out: Path, names: set[str], wait: float) -> None:
    """Two demo sandboxes watched as the projects "production" and "staging"."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from dashboard_process import DashboardServer
    from sandbox_process import start_sandbox

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        sandboxes = {
            n: start_sandbox(tmp / n, "--demo", changes="poll") for n in ("production", "staging")
        }
        config = tmp / "watch.toml"
        config.write_text(
            "".join(
                f'[[projects]]\nname = "{n}"\n[projects.connection]\nurl = "{sb.url}"\n'
                f'key = "{sb.anon_key}"\n[projects.probes.database]\ndb_url = "{sb.db_url}"\n'
                + PROJECT_CHANNELS
                for n, sb in sandboxes.items()
            )
        )
        server = DashboardServer(config, tmp / "panel.log")
        try:
            time.sleep(wait)
            shoot(server.base, PROJECT_PAGES, names, out, 6000)
        finally:
            server.stop()
            for sb in sandboxes.values():
                sb.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wait", type=float, default=40.0, help="seconds of traffic before shots")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="only these shots (file stems)")
    args = ap.parse_args()
    every = {name for name, *_ in PAGES + FAULT_PAGES + PROJECT_PAGES}
    names = set(args.only or every)
    if names - every:
        raise SystemExit(f"no such shot: {', '.join(sorted(names - every))}")
    args.out.mkdir(exist_ok=True)
    if names & {name for name, *_ in FAULT_PAGES}:
        fault_shots(args.out, names, min(args.wait, 15.0))
    if names & {name for name, *_ in PROJECT_PAGES}:
        project_shots(args.out, names, min(args.wait, 20.0))
    if not names & {name for name, *_ in PAGES}:
        return 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "monitor", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/liveness", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("dashboard did not start") from None
                time.sleep(0.5)
        time.sleep(args.wait)
        shoot(base, PAGES, names, args.out, 6000)
    finally:
        server.terminate()
        server.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
