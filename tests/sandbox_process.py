"""Start `python -m sandbox serve` as a child process and read its READY line.

Used by the tests (and the benchmarks): a real server process on a free port, stopped when done.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# As root, pgserver runs PostgreSQL as a separate `pgserver` user, which must be able to walk
# down to the data directory. pytest makes /tmp/pytest-of-<user> private (0700) at the start of
# every session, so a second pytest run on the machine would lock out the first one's servers.
# Data directories therefore live under a world-traversable scratch root, one per test path.
SCRATCH = Path(tempfile.gettempdir()) / "realtime-monitor-tests"
# Supabase waits 5 s before a join error and 2 s before a refused upgrade; tests that expect
# refusals would spend most of their time waiting, so sandboxes started here wait 50 ms.
QUICK_ERRORS = ("--join-error-delay-ms", "50", "--connect-error-delay-ms", "50")
_created: list[Path] = []


def traversable(data_dir: Path) -> Path:
    if os.geteuid() != 0:
        return data_dir
    SCRATCH.mkdir(exist_ok=True)
    SCRATCH.chmod(0o755)
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]
    target = SCRATCH / f"{data_dir.name}-{digest}"
    if not target.exists():
        target.mkdir()
        target.chmod(0o755)
        _created.append(target)
    return target


@atexit.register
def _cleanup() -> None:
    for path in _created:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class SandboxProcess:
    proc: subprocess.Popen[str]
    info: dict[str, Any]
    log_path: Path
    args: list[str] = field(default_factory=list)
    log_file: Any = None

    @property
    def url(self) -> str:
        return self.info["url"]

    @property
    def anon_key(self) -> str:
        return self.info["anon_key"]

    @property
    def service_role_key(self) -> str:
        return self.info["service_role_key"]

    @property
    def jwt_secret(self) -> str:
        return self.info["jwt_secret"]

    @property
    def db_url(self) -> str:
        return self.info["db_url"]

    @property
    def watch(self) -> list[dict[str, Any]]:
        """The channels the sandbox says a monitor should watch on its demo."""
        return self.info["watch"]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/realtime/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def fault(self, hook: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST one of the sandbox's fault hooks (`/sandbox/v1/<hook>`: `disconnect`,
        `phx_error`) with the service role key; returns its JSON answer."""
        import urllib.request

        request = urllib.request.Request(
            f"{self.url}/sandbox/v1/{hook}",
            data=json.dumps(body or {}).encode(),
            method="POST",
            headers={
                "apikey": self.service_role_key,
                "Authorization": f"Bearer {self.service_role_key}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.load(resp)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log_file is not None and self.proc.poll() is not None:
            self.log_file.close()


def start_sandbox(
    data_dir: Path,
    *extra: str,
    port: int = 0,
    timeout: float = 60,
    changes: str | None = None,
) -> SandboxProcess:
    """`changes`: "stream" (changes at once, for timing), "poll" (Supabase's 100-600 ms) or None
    (the sandbox's default, poll). Callers that measure or wait on changes should say which."""
    log_path = data_dir.parent / f"{data_dir.name}-sandbox.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    data_dir = traversable(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        sys.executable,
        "-m",
        "sandbox",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *(["--changes", changes] if changes else []),
        *QUICK_ERRORS,  # a test that times the server's own backoffs passes them explicitly
        *extra,
    ]
    log_file = open(log_path, "a")  # noqa: SIM115 - closed when the process exits
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    found: dict[str, Any] = {}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("SANDBOX READY "):
                found.update(json.loads(line[len("SANDBOX READY ") :]))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        proc.kill()
        proc.wait()
        raise RuntimeError(
            f"sandbox did not print READY within {timeout}s:\n"
            + log_path.read_text(errors="replace")[-4000:]
        )
    return SandboxProcess(proc, found, log_path, args, log_file)


async def until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """The asyncio twin of `wait_until`: poll `predicate()` without blocking the loop."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = ""):
    """Poll until `predicate()` is truthy; return its value or fail with `message`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s")
        time.sleep(interval)
