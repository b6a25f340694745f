"""Every notebook under notebooks/ runs top to bottom in a real Jupyter kernel (nbclient), as a
person would run it on a fresh machine; committed notebooks carry no outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 180


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, monkeypatch):
    # what a person on a fresh machine has: no project configured, so the sandbox is used
    for var in ("REALTIME_MONITOR_CONFIG", "SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_KEY"):
        monkeypatch.delenv(var, raising=False)
    # seed_systems waits for half a minute of traffic; its checks hold after a quarter
    monkeypatch.setenv("NOTEBOOK_TRAFFIC_S", "15")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on failure
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert errors == []


def test_live_monitor_shows_the_views_themselves():
    """The views are displayed as Panel objects (the same Viewer classes as the server's pages),
    not printed reprs."""
    nb = nbformat.read(ROOT / "notebooks" / "live_monitor.ipynb", as_version=4)
    shown = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    for name in ("overview", "slots", "presence"):
        assert any(src.strip().endswith(f"\n{name}") for src in shown), name


def test_committed_notebooks_carry_no_outputs():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, path
