"""`pip install .` as a user or a deploy does it: a fresh venv, the locked dependencies installed
with no index reachable, then the project itself, not editable, from a copy of this checkout.

What it proves: requirements.txt alone reproduces the tested environment (every locked package
at its locked version, hashes checked), the wheel carries everything the code reads at run time
(the sandbox's SQL, the `panel serve` scripts), and the console scripts run from any directory.

It is offline and fast because `make` installs .venv with uv, whose cache then holds every
locked wheel (and setuptools, for the build): uv installs them from there (hard links, a few
seconds) under `--offline`, with the proxy variables pointing at a closed port for good measure.
pip's `--no-index` would need a wheelhouse that nothing else keeps. A cache that lacks something
fails the install here, as it would on a machine without an index; `make` refills it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.txt"
PACKAGES = ("monitor", "dashboards", "metrics", "feeds", "sandbox")
KEY_PACKAGES = ("panel", "bokeh", "realtime", "supabase", "pandas", "pytest")
# A pin in the lock: `name==version`, maybe `; marker`, maybe a `\` continuation with hashes.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, so any download fails fast


def locked() -> dict[str, str]:
    """The lock's pins that apply to this interpreter, by canonical name."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match and (not match[3] or Marker(match[3]).evaluate()):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def run(cmd: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=240, **kwargs
    )
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{result.stderr[-4000:]}"
    return result


def clean_env(venv: Path) -> dict[str, str]:
    """The environment of a shell with only the new venv on PATH: no checkout on sys.path.
    Bytecode may be written: uv installs none, and each command would compile Panel again."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    uv = Path(sys.executable).with_name("uv")
    assert uv.exists(), f"no uv next to {sys.executable}: run `make`, which installs it"
    tmp = tmp_path_factory.mktemp("install")
    venv = tmp / "venv"
    offline = {
        **os.environ,
        "UV_OFFLINE": "1",
        **{k: CLOSED for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")},
        **{k.lower(): CLOSED for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")},
    }
    offline.pop("NO_PROXY", None)
    offline.pop("no_proxy", None)
    # The checkout as a user would have it, minus the venv, git's store and caches. Building in
    # a copy keeps setuptools' build/ and egg-info out of the shared tree.
    source = tmp / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "node_modules", "__pycache__", "*.egg-info", "build", ".*_cache"
        ),
    )
    started = time.monotonic()
    run([uv, "venv", "--offline", "--quiet", "--python", sys.executable, venv], env=offline)
    python = venv / "bin" / "python"
    missing = "a locked wheel is missing from uv's cache; `make` (uv pip install -r ...) fills it"
    result = subprocess.run(
        [uv, "pip", "install", "--offline", "--python", python, "--require-hashes", "-r", LOCK],
        capture_output=True,
        text=True,
        env=offline,
        timeout=240,
    )
    assert result.returncode == 0, f"{missing}:\n{result.stderr[-4000:]}"
    deps_s = time.monotonic() - started
    run([uv, "pip", "install", "--offline", "--python", python, "--no-deps", source], env=offline)
    total_s = time.monotonic() - started
    # One interpreter for what the tests read from the install (versions, where the packages
    # load from); it also compiles what the console scripts import, once.
    probe = run(
        [
            python,
            "-c",
            "import importlib, importlib.metadata as m, json, monitor.cli, monitor.serve;"
            "print(json.dumps({"
            "'versions': {d.metadata['Name']: d.version for d in m.distributions()},"
            f"'files': [importlib.import_module(p).__file__ for p in {PACKAGES!r}]}}))",
        ],
        cwd=tmp,
        env=clean_env(venv),
    )
    return {
        "venv": venv,
        "cwd": tmp,
        "deps_s": deps_s,
        "total_s": total_s,
        **json.loads(probe.stdout),
    }


def test_the_lock_installs_offline_at_its_versions(installed):
    versions = {canonicalize_name(k): v for k, v in installed["versions"].items()}
    pins = locked()
    assert set(KEY_PACKAGES) <= set(pins), "the lock no longer pins a key package"
    for name in KEY_PACKAGES:
        assert versions.get(name) == pins[name], f"{name}: installed {versions.get(name)}"
    wrong = {n: (v, versions.get(n)) for n, v in pins.items() if versions.get(n) != v}
    assert not wrong, f"locked vs installed: {wrong}"
    assert versions["realtime-monitor"] == "0.1.0"
    print(f"locked deps in {installed['deps_s']:.1f} s, all in {installed['total_s']:.1f} s")


def test_console_scripts_run(installed):
    env = clean_env(installed["venv"])
    bin_ = installed["venv"] / "bin"
    for script in ("realtime-monitor", "realtime-sandbox"):
        assert (bin_ / script).is_file(), f"no {script}: see [project.scripts] in pyproject.toml"
    top = run([bin_ / "realtime-monitor", "--help"], cwd=installed["cwd"], env=env).stdout
    assert top.startswith("usage: realtime-monitor")
    for command in ("serve", "check", "record", "replay"):
        assert command in top
    check = run([bin_ / "realtime-monitor", "check", "--help"], cwd=installed["cwd"], env=env)
    assert "--metrics-port" in check.stdout
    sandbox = run([bin_ / "realtime-sandbox", "--help"], cwd=installed["cwd"], env=env)
    assert "serve" in sandbox.stdout


def test_packages_import_from_the_install_with_their_files(installed):
    """Imported from site-packages, not the checkout; and every non-Python file of the source
    packages (the sandbox's SQL, the apps panel serves) is in the install."""
    files = [Path(f) for f in installed["files"]]
    assert all(installed["venv"] in f.parents for f in files), files
    site_packages = files[0].parents[1]
    wanted = [
        path.relative_to(ROOT)
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    absent = [str(p) for p in wanted if not (site_packages / p).is_file()]
    assert not absent, f"not in the installed package: {absent}"


def test_installed_serve_serves_the_pages(installed):
    """`realtime-monitor serve` from outside any checkout finds its `panel serve` scripts in
    the installed package; the watched URL is dead, which the pages show rather than fail on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = installed["cwd"] / "watch.toml"
    config.write_text(
        f'[connection]\nurl = "{CLOSED}"\nkey = "anon"\n\n[[channels]]\ntopic = "demo"\n'
    )
    log = installed["cwd"] / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [installed["venv"] / "bin" / "realtime-monitor", "serve", "--port", str(port)],
            cwd=installed["cwd"],  # the default ./watch.toml is this directory's
            env=clean_env(installed["venv"]),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None, log.read_text()[-4000:]
                assert time.monotonic() < deadline, log.read_text()[-4000:]
                time.sleep(0.3)
        for page in ("app", "wall"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/{page}", timeout=30) as r:
                    assert r.status == 200
            except urllib.error.HTTPError as exc:
                pytest.fail(f"/{page}: HTTP {exc.code}\n{log.read_text()[-4000:]}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
