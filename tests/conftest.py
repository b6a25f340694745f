"""Shared fixtures: a real sandbox process per test session, on a free port; and how `make test`
splits the suite between its two pytest-xdist workers.

Most of the suite's time is spent waiting on real servers (a serial run takes ~15 min of wall time
and under 8 min of CPU), so two workers nearly halve it. Each test file stays on one worker
(`pytest_xdist_make_scheduler` below), so a module's shared server starts once. The files
that drive Chromium or JupyterLab form a single group: they are the heaviest on CPU, several
judge timing (a row within 5 s, a refresh every second), and one at a time they run as they
always did.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sandbox_process import SandboxProcess, start_sandbox  # noqa: E402

JS_DIR = Path(__file__).resolve().parent / "js"
SERIAL_DIRS = ("browser", "notebooks")  # one worker runs these, one file after another


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's scheduler for `make test`: a work unit is one test file, except that every
    browser and notebook file is in one unit (`chromium`). Its own `xdist_group` marks cannot do
    this under pytest 9.2, where the node id they rename is no longer an attribute."""
    from xdist.scheduler import LoadScopeScheduling

    class ByFile(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            parts = path.split("/")
            return "chromium" if len(parts) > 2 and parts[1] in SERIAL_DIRS else path

    return ByFile(config, log)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory):
    """One sandbox for the whole session: tests use their own topics and tables. Changes are
    streamed: many tests wait a settle window to show that nothing more arrives, which only
    proves something when changes come at once (tests of the polling start their own)."""
    sb = start_sandbox(tmp_path_factory.mktemp("sandbox") / "data", changes="stream")
    yield sb
    sb.stop()


@pytest.fixture
def fresh_sandbox(tmp_path: Path):
    """A sandbox of the test's own, for tests that stop, kill or overload it; its changes are
    streamed unless the test asks for `changes="poll"` (Supabase's latency) or None (the
    sandbox's own default)."""
    started: list[SandboxProcess] = []

    def start(
        *extra: str, data_dir: Path | None = None, port: int = 0, changes: str | None = "stream"
    ) -> SandboxProcess:
        data = data_dir or tmp_path / f"data{len(started)}"
        sb = start_sandbox(data, *extra, port=port, changes=changes)
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()


@pytest.fixture(scope="session")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail(
            "node is required for the supabase-js conformance tests (make test installs it)"
        )
    if not (JS_DIR / "node_modules" / "@supabase" / "supabase-js").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True)
    return exe


@pytest.fixture(scope="session")
def sql(sandbox: SandboxProcess):
    """Run SQL on the sandbox's database as its owner (autocommit); returns fetched rows."""
    import psycopg2

    conn = psycopg2.connect(sandbox.db_url)
    conn.autocommit = True

    def run(query: str, *args):
        with conn.cursor() as cur:
            cur.execute(query, args or None)
            return cur.fetchall() if cur.description else []

    yield run
    conn.close()


@pytest.fixture(scope="session")
def mint(sandbox: SandboxProcess):
    """Sign a JWT with the sandbox's secret, e.g. `mint("authenticated", sub=uid)`."""
    import time

    import jwt

    def make(role: str = "authenticated", ttl: int = 3600, **claims) -> str:
        now = int(time.time())
        return jwt.encode(
            {"role": role, "iat": now, "exp": now + ttl, **claims},
            sandbox.jwt_secret,
            algorithm="HS256",
        )

    return make
