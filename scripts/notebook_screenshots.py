"""Screenshots of a notebook's outputs for the README, from a real run: the notebook opened in a
real JupyterLab (started here on a free port, on a temporary copy of notebooks/, as the browser
test starts it), its cells run from the Run menu in Debian's Chromium, then the chosen cells
captured.

Usage:
  .venv/bin/python scripts/notebook_screenshots.py NOTEBOOK --cell CELL [--cell CELL ...]
      [--name NAME ...] [--until CELL] [--wait 8] [--out docs] [--width 1280] [--output-only]
      [--notebooks notebooks]

NOTEBOOK is a file in notebooks/ (live_monitor.ipynb). CELL is a cell's index in the file
(0-based, markdown cells count) or text its source contains (the first such cell). Each --cell
is saved as OUT/notebook-<notebook>.png for the first and OUT/notebook-<notebook>-<index>.png for
the others, or as OUT/NAME.png with a --name per --cell, in order. A shot shows the whole cell,
its code and its output; --output-only shows the output alone.

All cells run (Run > Run All Cells), or with --until every cell above that one (Run > Run All
Above Selected Cell): for a notebook whose last cells stop what it started, so the shots show the
views live; the rest run after the shots. --wait is how long to let the outputs settle (live
views refresh meanwhile) before the shots.

  .venv/bin/python scripts/notebook_screenshots.py live_monitor.ipynb \\
      --cell 'overview = view(' --until 'await runtime.stop()'
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from jupyterlab_process import (  # noqa: E402
    NOTEBOOKS,
    JupyterLab,
    Notebook,
    PageErrors,
    launch_chromium,
)

# Panel links its theme and loading CSS on its CDN even with inline resources (see
# tests/browser/test_jupyterlab.py); offline they fail, and the views look right without them
PANEL_CDN_CSS = r"cdn\.holoviz\.org/panel/[\d.]+/dist/(bundled/theme/\w+|css/loading)\.css"


def file_names(stem: str, indexes: list[int], names: list[str]) -> list[str]:
    if names:
        return [f"{name}.png" for name in names]
    first = [f"notebook-{stem}.png"]
    return first + [f"notebook-{stem}-{i}.png" for i in indexes[1:]]


def shoot(page, target, path: Path, width: int) -> None:
    """Grow the window until the whole target fits in the notebook's scroll area, then capture
    it (an element screenshot stops at the notebook panel's edge)."""
    target.scroll_into_view_if_needed()
    box = target.bounding_box()
    height = page.viewport_size["height"]
    if box and box["height"] + 250 > height:
        page.set_viewport_size({"width": width, "height": int(box["height"]) + 250})
        page.wait_for_timeout(1500)  # JupyterLab and the Bokeh plots lay out again
        target.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    target.screenshot(path=str(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("notebook", help="a notebook in notebooks/, e.g. live_monitor.ipynb")
    ap.add_argument("--cell", action="append", required=True, help="index, or text in its source")
    ap.add_argument("--name", action="append", default=[], help="file name (no .png) per --cell")
    ap.add_argument("--until", help="run only the cells above this one before the shots")
    ap.add_argument("--wait", type=float, default=8.0, help="seconds to let outputs settle")
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--width", type=int, default=1280, help="browser window width")
    ap.add_argument("--output-only", action="store_true", help="the output without the code")
    ap.add_argument("--timeout", type=float, default=300, help="seconds the cells may take")
    ap.add_argument(
        "--notebooks", type=Path, default=NOTEBOOKS, help="the folder to copy and serve"
    )
    args = ap.parse_args()
    if args.name and len(args.name) != len(args.cell):
        ap.error("give one --name per --cell, or none")
    if not (args.notebooks / args.notebook).is_file():
        ap.error(f"no {args.notebook} in {args.notebooks}")
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with JupyterLab(args.notebooks) as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": args.width, "height": 1000})
        errors = PageErrors(page, lab.base)
        nb = Notebook(page, lab, args.notebook)
        indexes = [nb.index_of(spec) for spec in args.cell]
        until = nb.index_of(args.until) if args.until else None
        # the notebook alone across the window: no file browser beside it
        nb.menu("View", "File Browser")
        started = time.monotonic()
        nb.run(until=until, timeout=args.timeout)
        print(f"cells ran in {time.monotonic() - started:.0f} s", file=sys.stderr)
        time.sleep(args.wait)
        # the selected cell is drawn highlighted: select one that is not in a shot
        others = [i for i in range(len(nb.sources)) if i not in indexes]
        if others:
            nb.select(until if until is not None else others[-1])
        for index, name in zip(
            indexes, file_names(Path(args.notebook).stem, indexes, args.name), strict=True
        ):
            target = nb.output(index) if args.output_only else nb.cell(index)
            shoot(page, target, args.out / name, args.width)
            print(args.out / name)
        if until is not None:
            nb.run_from(until, timeout=args.timeout)
        page.close()
        browser.close()
        left = lab.stop()
    for line in errors.without(PANEL_CDN_CSS):
        print(f"page: {line}", file=sys.stderr)
    if left:
        print(f"still running after JupyterLab stopped (killed): {left}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
