"""Run one of the Node scripts under `tests/js/` (the official supabase-js client) and talk to it
over its stdout: the script prints marker lines while it runs, then `RESULT <json>` at the end."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

JS_DIR = Path(__file__).resolve().parent / "js"


def run_node_script(
    node: str,
    args: list[str],
    *,
    on_line: Callable[[str, IO[str]], None],
    timeout: float,
    label: str,
) -> dict[str, Any]:
    """`node <args...>` in `tests/js`; every stdout line but the RESULT goes to `on_line` with the
    script's stdin (to answer it). Returns the RESULT object; fails if the script did not exit 0
    with one, showing the end of its stderr."""
    result = None
    # stderr goes to a file so a chatty client can never block on a full pipe
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [node, *args],
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        watchdog = threading.Timer(timeout, proc.kill)  # the scripts have their own deadlines
        watchdog.start()
        try:
            assert proc.stdout is not None and proc.stdin is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                if line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT ") :])
                else:
                    on_line(line, proc.stdin)
            rc = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read()
    assert rc == 0 and result is not None, f"{label} exited {rc}:\n{stderr[-4000:]}"
    return result
