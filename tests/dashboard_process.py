"""A real dashboard server (`python -m monitor serve`, as `make serve` runs it) on a free port,
watching a sandbox, for the browser tests and the dashboard benchmarks alike."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch_toml(
    sb,
    path: Path,
    extra_topics: tuple[str, ...] = (),
    dashboard: dict[str, object] | None = None,
) -> Path:
    """Demo broadcasts and presence, `demo_items` rows, `group.live_slots` changes and the
    database probe, plus `extra_topics` as broadcast channels. Dashboard settings stay at their
    defaults unless `dashboard` overrides them."""
    parts = [
        f'[connection]\nurl = "{sb.url}"\nkey = "{sb.anon_key}"\n',
        '[[channels]]\ntopic = "demo"\n',
        '[[channels]]\ntopic = "demo-presence"\npresence = true\n'
        'presence_key = "realtime-monitor"\n',
        '[[channels]]\ntopic = "demo-rows"\n[[channels.postgres_changes]]\ntable = "demo_items"\n',
        '[[channels]]\ntopic = "group-live-slots"\n[[channels.postgres_changes]]\n'
        'schema = "group"\ntable = "live_slots"\n',
    ]
    parts += [f'[[channels]]\ntopic = "{t}"\n' for t in extra_topics]
    parts.append(f'[probes.database]\ndb_url = "{sb.db_url}"\n')
    if dashboard:
        parts.append(
            "[dashboard]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in dashboard.items())
        )
    path.write_text("\n".join(parts))
    return path


class DashboardServer:
    """`python -m monitor serve --config CONFIG SERVE_ARGS -- PANEL_ARGS`. That command execs
    `panel serve`, so the Popen pid is the panel server process itself. `cpus` pins it (and every
    thread it starts) to those cores. `serve_args` are the monitor's own serve options (the login,
    `--metrics-token`)."""

    def __init__(
        self,
        config: Path,
        log_path: Path,
        panel_args: tuple[str, ...] = (),
        timeout: float = 60,
        cpus: set[int] | None = None,
        env: dict[str, str] | None = None,
        serve_args: tuple[str, ...] = (),
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        args = ["--port", str(self.port), "--config", str(config), *serve_args]
        if panel_args:
            args += ["--", *panel_args]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "serve", *args],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.base + "/liveness", timeout=2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        "panel serve did not start:\n" + log_path.read_text()[-4000:]
                    ) from None
                time.sleep(0.3)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
