"""Take the README's screenshots: every page of a live `make serve`, light and dark.

Usage: .venv/bin/python scripts/screenshots.py [--wait 40] [--out docs]
Starts `python -m monitor serve` with no watch config (so it runs the sandbox with all demo
scenarios), waits for traffic, then captures each page with Debian's Chromium.
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wait", type=float, default=40.0, help="seconds of traffic before shots")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    args = ap.parse_args()
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
        from playwright.sync_api import sync_playwright

        args.out.mkdir(exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            for name, path, width, height in PAGES:
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(base + path)
                page.wait_for_timeout(6000)
                if name == "inspector":
                    page.locator(".tabulator-row").nth(2).click()
                    page.wait_for_timeout(1200)
                page.screenshot(path=str(args.out / f"{name}.png"))
                page.close()
                print(f"{args.out / (name + '.png')}")
            browser.close()
    finally:
        server.terminate()
        server.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
