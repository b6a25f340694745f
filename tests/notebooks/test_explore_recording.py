"""explore_recording.ipynb reports the p95 latency per channel that the monitor's own replay of the
same recording reports: the notebook's table, read from a run of the notebook itself, against
`python -m monitor replay`'s JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "explore_recording.ipynb"
RECORDING = ROOT / "notebooks" / "data" / "sandbox_sample.parquet"
MARK = "P95-BY-CHANNEL "


def notebook_p95() -> dict[tuple[str, str], float]:
    """Run the notebook with one cell added at the end that prints its own latency table."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(
        nbformat.v4.new_code_cell(
            f"print({MARK!r} + latency_table[['channel', 'source', 'p95']]"
            ".to_json(orient='records'))"
        )
    )
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    text = "".join(out.get("text", "") for out in nb.cells[-1].outputs)
    rows = json.loads(text[text.index(MARK) + len(MARK) :])
    return {(r["channel"], r["source"]): r["p95"] for r in rows}


def replay_p95() -> dict[tuple[str, str], float]:
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(RECORDING)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode in (0, 1), out.stderr  # 1: an alert fired, which the backfill does
    by_channel = json.loads(out.stdout)["summary"]["latency_ms_by_channel"]
    return {(ch, src): f["p95"] for ch, sources in by_channel.items() for src, f in sources.items()}


def test_the_notebook_p95_per_channel_is_the_monitor_replay_p95():
    ours, theirs = notebook_p95(), replay_p95()
    assert ours.keys() == theirs.keys()
    assert len(ours) >= 5  # the sample's postgres_changes channels and the probes
    for key, p95 in theirs.items():
        assert ours[key] == pytest.approx(p95, rel=1e-9, abs=0), key
