"""The bundled sandbox as a child process, for when no Supabase project is configured.

The monitor and the sandbox meet only over the network, as with a hosted project: this module
starts `python -m sandbox serve` on a free port, reads its `SANDBOX READY {json}` line, and stops
it with the parent (atexit and explicit `stop()`; and, for a parent killed outright, the sandbox
watches for its parent to go).

The sandbox also says what is worth watching on it (`watch`: channels in the shape of a config's
[[channels]] tables), so the demo's topics live with the demo and not here. A sandbox whose READY
line predates that key is asked at `GET /sandbox/v1/watch` instead.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

READY = "SANDBOX READY "
log = logging.getLogger("feeds.sandbox_child")


class SandboxStartError(RuntimeError):
    pass


@dataclass
class SandboxChild:
    proc: subprocess.Popen[str]
    url: str
    anon_key: str
    service_role_key: str
    jwt_secret: str
    db_url: str
    # what the sandbox suggests watching: [[channels]] tables as plain data, unchecked
    watch: list[dict[str, Any]] = field(default_factory=list)

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sandbox_child(
    *,
    demo: bool = True,
    scenarios: list[str] | None = None,
    rate: float = 1.0,
    data_dir: str | Path | None = None,
    port: int = 0,
    timeout: float = 60,
    log_path: str | Path | None = None,
    changes: str = "poll",
) -> SandboxChild:
    """`changes`: "poll" delivers postgres_changes with Supabase's latency, "stream" at once."""
    args = [sys.executable, "-m", "sandbox", "serve", "--port", str(port), "--changes", changes]
    args += ["--parent-pid", str(os.getpid())]  # it stops itself if we die without stopping it
    if demo:
        args += ["--demo", "--rate", str(rate)]
        for name in scenarios or []:
            args += ["--scenario", name]
    if data_dir:
        args += ["--data-dir", str(data_dir)]
    stderr = open(log_path, "a") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=Path(__file__).resolve().parents[1],
    )
    info: dict[str, Any] = {}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY):
                info.update(json.loads(line[len(READY) :]))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not info:
        code = None
        if not reader.is_alive():  # the reader saw the end of stdout: the child is exiting
            try:
                code = proc.wait(timeout=10)  # its status comes a moment after its stdout closes
            except subprocess.TimeoutExpired:
                code = None
        proc.kill()
        proc.wait()
        where = f" (see {log_path})" if log_path else ""
        if code is None:
            raise SandboxStartError(
                f"the sandbox did not become ready within {timeout:.0f} s{where}"
            )
        raise SandboxStartError(
            f"the sandbox exited with code {code} before it was ready{where}"
            + _last_words(log_path)
        )
    watch = info.get("watch")
    child = SandboxChild(
        proc,
        info["url"],
        info["anon_key"],
        info["service_role_key"],
        info["jwt_secret"],
        info["db_url"],
        watch if watch is not None else fetch_watch(info["url"]),
    )
    atexit.register(child.stop)
    return child


def fetch_watch(url: str, timeout: float = 5) -> list[dict[str, Any]]:
    """The sandbox's suggested channels from `GET /sandbox/v1/watch`; [] from a sandbox that
    cannot say (the monitor then joins only its probe channel, and says so in its log)."""
    try:
        with urllib.request.urlopen(f"{url}/sandbox/v1/watch", timeout=timeout) as resp:
            body = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("the sandbox did not say which channels to watch (%s)", exc)
        return []
    if not isinstance(body, list):
        log.warning("GET /sandbox/v1/watch returned %s, not a list", type(body).__name__)
        return []
    return body


def _last_words(log_path: str | Path | None, lines: int = 3) -> str:
    """The end of the child's log, which says why it stopped (e.g. no PostgreSQL to start)."""
    if not log_path:
        return ""
    try:
        tail = Path(log_path).read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return (": " + " / ".join(line.strip() for line in tail)) if tail else ""
