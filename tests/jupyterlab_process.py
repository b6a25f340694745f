"""A real JupyterLab (`python -m jupyter lab`) on a free port with a random token, and the steps a
person takes in it with Debian's Chromium: open a notebook, run its cells, look at an output. For
the JupyterLab browser test and `scripts/notebook_screenshots.py` alike.

Everything the server, its kernels and a sandbox a notebook starts write goes under one temporary
directory: a copy of the notebooks (no checkpoint or output lands in the repository; the copy's
parent links to the repository's other top-level entries, so `../ops/fixtures` works as in the
repository), Jupyter's config, data and runtime dirs, JupyterLab's settings and workspaces,
IPython's profile and the sandbox's PostgreSQL (`SANDBOX_DATA_DIR`). Nothing is read from the
user's home, and every process started for it carries that directory in its command line or
environment, which is how `stop()` finds what outlived the server.

The page gets no internet: every request that is not to the server is refused, as it would be on
an ops network, so a notebook that needs a CDN fails here rather than only there.

Not named `jupyterlab.py`: pytest puts the test directories on sys.path, and a module of that
name would shadow the `jupyterlab` package.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# what a person on a fresh machine has: no project configured, so notebooks use the sandbox
UNSET = ("REALTIME_MONITOR_CONFIG", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_KEY")
# no news or update toasts: they would ask the internet, and cover the notebook
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """`python -m jupyter lab` serving a temporary copy of `notebooks`. Use it as a context
    manager, or call `stop()` in a `finally`: it shuts the kernels down through the REST API,
    then the server, and kills whatever of theirs still runs."""

    def __init__(
        self, notebooks: Path = NOTEBOOKS, timeout: float = 60, lab_args: tuple[str, ...] = ()
    ) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="jupyterlab-"))
        # the copy sits in a tree whose other entries link to the repository's, so a notebook's
        # relative paths (../ops/fixtures) lead where they do in the repository
        repo = self.tmp / "repo"
        repo.mkdir()
        for entry in ROOT.iterdir():
            if entry.name not in (notebooks.name, ".git"):
                (repo / entry.name).symlink_to(entry)
        self.root = repo / notebooks.name
        shutil.copytree(
            notebooks, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        )
        jupyter = self.tmp / "jupyter"
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.base = f"http://127.0.0.1:{self.port}"
        settings = jupyter / "lab" / "user-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(values))
        env = {k: v for k, v in os.environ.items() if k not in UNSET}
        env.update(
            JUPYTER_CONFIG_DIR=str(jupyter / "config"),
            JUPYTER_DATA_DIR=str(jupyter / "data"),
            JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "lab" / "workspaces"),
            IPYTHONDIR=str(jupyter / "ipython"),
            SANDBOX_DATA_DIR=str(self.tmp / "sandbox-data"),
            PYDEVD_DISABLE_FILE_VALIDATION="1",  # the kernel's debugger warning, every start
        )
        self.log_path = self.tmp / "jupyterlab.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                "--port-retries=0",
                f"--ServerApp.root_dir={self.root}",
                f"--IdentityProvider.token={self.token}",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                # a kernel asked to shut down has time to stop what it started (atexit) before
                # it is killed
                "--KernelManager.shutdown_wait_time=20",
                # JupyterLab refuses to run as root unless told; containers and CI often are root
                *(["--allow-root"] if os.geteuid() == 0 else []),
                *lab_args,
            ],
            cwd=self.root,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, so stop() can end all of it
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("GET", "/api/status")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = self.log()
                    self.stop()
                    self.cleanup()
                    raise RuntimeError("JupyterLab did not start:\n" + log[-4000:]) from None
                time.sleep(0.3)

    def __enter__(self) -> JupyterLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.cleanup()

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?token={self.token}"

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, timeout: float = 10) -> Any:
        req = urllib.request.Request(
            self.base + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def kernels(self) -> list[dict[str, Any]]:
        return self.api("GET", "/api/kernels")

    def shutdown_kernels(self) -> None:
        """DELETE every kernel, as the Running panel's Shut Down does. Each is asked to shut
        down first, so its atexit handlers (the sandbox child's stop) run."""
        for kernel in self.kernels():
            self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30)

    def processes(self) -> list[str]:
        """Every process but the server that carries this instance's directory in its command
        line or environment ("pid command line"): kernels, a sandbox one started, its
        PostgreSQL."""
        mark = str(self.tmp).encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) in (os.getpid(), self.proc.pid):
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
                environ = (proc / "environ").read_bytes()
            except OSError:
                continue  # gone meanwhile, or not ours to read
            if cmdline and (mark in cmdline or mark in environ):
                args = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
                found.append(f"{proc.name} {args}")
        return found

    def stop(self, timeout: float = 40) -> list[str]:
        """Shut the kernels and then the server down; return the processes still running
        afterwards (which it then kills), for a test to assert there were none. Idempotent."""
        if self.proc.poll() is None:
            try:
                self.shutdown_kernels()
                self.api("POST", "/api/shutdown")
            except (OSError, urllib.error.HTTPError):
                self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        deadline = time.monotonic() + 15  # a sandbox stops its PostgreSQL on its way out
        while (left := self.processes()) and time.monotonic() < deadline:
            time.sleep(0.3)
        for line in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
        if not self._log.closed:
            self._log.close()
        return left

    def cleanup(self) -> None:
        """Remove the temporary directory (after `stop()`)."""
        shutil.rmtree(self.tmp, ignore_errors=True)


# --- in the browser ---------------------------------------------------------------------------


def launch_chromium(playwright: Any) -> Any:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("Debian's chromium is required (make test installs it)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)


class PageErrors:
    """What went wrong in a page, one line each: console errors, uncaught exceptions, failed
    requests, and exceptions the kernel reports back (Panel logs those as warnings). Requests to
    anywhere but `base` are refused (no internet) and show up as failed requests; `without()`
    drops the lines a caller knows to be harmless."""

    def __init__(self, page: Any, base: str) -> None:
        self.lines: list[str] = []
        page.route(
            re.compile(r"^(?!" + re.escape(base) + r"/).*"),
            lambda route: route.abort("blockedbyclient"),
        )
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.lines.append(f"pageerror: {e}"))
        page.on(
            "requestfailed",
            lambda r: self.lines.append(f"request failed: {r.resource_type} {r.url}"),
        )

    def _console(self, msg: Any) -> None:
        if msg.type == "warning" and msg.text.startswith("Python failed with the following"):
            # Panel's report of an exception in the kernel while it handled a message from
            # this page: the traceback, then the exception
            self.lines.append(f"kernel: {msg.text.strip().splitlines()[-1].strip()}")
            return
        if msg.type != "error":
            return
        where = msg.location.get("url", "") if msg.location else ""
        self.lines.append(f"console: {msg.text} ({where})" if where else f"console: {msg.text}")

    def matching(self, pattern: str) -> list[str]:
        return [line for line in self.lines if re.search(pattern, line)]

    def without(self, *patterns: str) -> list[str]:
        return [line for line in self.lines if not any(re.search(p, line) for p in patterns)]


class CellError(AssertionError):
    pass


class Notebook:
    """A notebook open in JupyterLab, driven as a person drives it: the menu bar, clicks."""

    def __init__(self, page: Any, lab: JupyterLab, name: str, timeout: float = 60) -> None:
        self.page = page
        # sources from the file: the page renders cells and their editors lazily
        cells = json.loads((lab.root / name).read_text())["cells"]
        self.sources = ["".join(c["source"]) for c in cells]
        self.code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
        page.goto(lab.url(name))
        self.panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        self.cells = self.panel.locator(".jp-Notebook .jp-Cell")
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float) -> None:
        """Until every cell is on the page and the kernel is idle, as the notebook's toolbar
        shows it: the kernel's name, not "No Kernel", and the idle status (which it also
        shows before there is a kernel)."""
        self.page.wait_for_function(
            """([panel, count]) => {
                const cells = panel.querySelectorAll('.jp-Notebook .jp-Cell').length;
                const name = panel.querySelector('[data-jp-item-name=kernelName]');
                const status = panel.querySelector('.jp-Notebook-ExecutionIndicator');
                return cells === count && name && !/no kernel/i.test(name.textContent)
                    && status && status.dataset.status === 'idle';
            }""",
            arg=[self.panel.element_handle(timeout=timeout * 1000), len(self.sources)],
            timeout=timeout * 1000,
            polling=250,
        )

    def index_of(self, spec: str | int) -> int:
        """A cell by index, or the first whose source contains the text."""
        if isinstance(spec, int) or spec.isdigit():
            index = int(spec)
            if not 0 <= index < len(self.sources):
                raise LookupError(f"no cell {index}: the notebook has {len(self.sources)}")
            return index
        for i, source in enumerate(self.sources):
            if spec in source:
                return i
        raise LookupError(f"no cell contains {spec!r}")

    def select(self, index: int) -> None:
        """Select a cell, as a click on its prompt does."""
        prompt = self.cells.nth(index).locator(".jp-InputPrompt")
        prompt.scroll_into_view_if_needed()
        prompt.click()

    def menu(self, top: str, item: str) -> None:
        """Click `top` in the menu bar, then `item` in the menu it opens."""
        self.page.get_by_role("menubar").get_by_role("menuitem", name=top, exact=True).click()
        self.page.locator(".lm-Menu .lm-Menu-itemLabel").get_by_text(item, exact=True).click()

    def run(self, until: int | None = None, timeout: float = 180) -> None:
        """Run > Run All Cells, or with `until` Run > Run All Above Selected Cell with cell
        `until` selected; return when the last of those code cells has run. A cell that fails
        raises CellError with its traceback."""
        if until is None:
            self.menu("Run", "Run All Cells")
            last = self.code[-1] if self.code else None
        else:
            self.select(until)
            self.menu("Run", "Run All Above Selected Cell")
            above = [i for i in self.code if i < until]
            last = above[-1] if above else None
        if last is not None:
            self.wait_executed(last, timeout)

    def run_from(self, index: int, timeout: float = 180) -> None:
        """Run > Run Selected Cell and All Below, from cell `index` (JupyterLab disables that
        item on the last cell, where Run Selected Cell and Do not Advance does the same)."""
        self.select(index)
        if index == len(self.sources) - 1:
            self.menu("Run", "Run Selected Cell and Do not Advance")
        else:
            self.menu("Run", "Run Selected Cell and All Below")
        below = [i for i in self.code if i >= index]
        if below:
            self.wait_executed(below[-1], timeout)

    def prompts(self) -> list[str]:
        """Every cell's prompt: "[3]:" ran, "[*]:" running or queued, "" never ran."""
        return self.cells.locator(".jp-InputPrompt").all_text_contents()

    def tracebacks(self) -> list[str]:
        """The error outputs: JupyterLab renders them as stderr, headed by IPython's
        "ZeroDivisionError      Traceback (most recent call last)" line, which a traceback
        merely logged to stderr ("Traceback (most recent call last):") does not have."""
        texts = self.panel.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_text_contents()
        header = re.compile(r"^\w+\s+Traceback \(most recent call last\)$", re.M)
        return [t for t in texts if header.search(t)]

    def wait_executed(self, index: int, timeout: float) -> None:
        """Until cell `index` shows an execution count ([3], not [*] or [ ]). A cell that failed
        on the way raises CellError with its traceback (JupyterLab stops running cells there)."""
        deadline = time.monotonic() + timeout
        stalled = None
        while True:
            prompts = self.prompts()
            if re.search(r"\[\d+\]", prompts[index]):
                break
            if any("*" in p for p in prompts):
                stalled = None
            elif stalled is None:
                stalled = time.monotonic()
            elif time.monotonic() - stalled > 2:
                break  # nothing runs any more, and it never ran
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell {index} had not run after {timeout:.0f} s")
            time.sleep(0.25)
        if failed := self.tracebacks():
            raise CellError("a cell failed:\n" + "\n".join(failed)[-3000:])
        if not re.search(r"\[\d+\]", prompts[index]):
            raise CellError(f"nothing runs and cell {index} never ran")

    def cell(self, index: int) -> Any:
        return self.cells.nth(index)

    def output(self, index: int) -> Any:
        return self.cells.nth(index).locator(".jp-OutputArea")
