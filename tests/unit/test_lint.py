"""The code base stays ruff-clean: a lint regression fails the suite, not a later review."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATHS = [
    "sandbox",
    "feeds",
    "metrics",
    "dashboards",
    "monitor",
    "tests",
    "benchmarks",
    "scripts",
    "notebooks",
    "app.py",
    "wall.py",
]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, *PATHS], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check_is_clean():
    result = ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
