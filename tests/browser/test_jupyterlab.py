"""live_monitor.ipynb in a real JupyterLab, run from the menu bar in Debian's Chromium: the
Overview it displays keeps itself current in the browser as sandbox traffic flows (Panel's
updates from the kernel reach the page through pyviz_comms' JupyterLab extension), and the
notebook's Stop cell, then the kernel's shutdown, leave nothing running."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jupyterlab_process import NOTEBOOKS, JupyterLab, Notebook, PageErrors  # noqa: E402

pytestmark = pytest.mark.browser

# Let through, and only these:
# - Panel links its theme and loading CSS on its CDN in every pane refresh, even with inline
#   resources; offline they fail to load, and the panes look right without them (our styles are
#   inline).
# - In about a third of runs BokehJS drops one refresh message with "reference <id> isn't known":
#   it refers to a stylesheet model (Panel's loading.css) whose definition comes in a message
#   the kernel sends a millisecond later, also with the Overview displayed alone. The tiles are
#   repainted by the next refresh; a chart can miss that second's points. A Panel-in-notebook
#   fault, not what this test is about; remove this entry once it is gone.
# - Rarely (about 1 run in 5 with the charts pushed, 1 in 40 before), a message from the page
#   about a table reaches the kernel after the table's rows changed, and pandas refuses to apply
#   it ("All arrays must be of the same length", "Must have equal len keys and value"). The
#   next refresh sends the rows again; nothing shows on the page.
HARMLESS = (
    r"cdn\.holoviz\.org/panel/[\d.]+/dist/(bundled/theme/\w+|css/loading)\.css",
    r"^console: \w+: reference [0-9a-f-]+ isn't known",
    r"^kernel: ValueError: (All arrays must be of the same length|Must have equal len keys and "
    r"value)",
)


# The newest point of the Overview's message-rate chart as the page holds it (its source is
# named "rate" in dashboards/charts.py).
NEWEST_RATE_POINT_JS = """() => {
  for (const doc of Bokeh.documents) {
    for (const model of doc.all_models) {
      if (model.type !== "ColumnDataSource" || model.name !== "rate") continue;
      const t = model.get_array("t");
      return t.length ? (Date.now() - t[t.length - 1]) / 1000 : null;
    }
  }
  return null;
}"""


def rate_chart_age_s(page) -> float | None:
    """Seconds between now and the rate chart's newest point in the page (None: no points)."""
    return page.evaluate(NEWEST_RATE_POINT_JS)


def total_messages(overview) -> int:
    """The Messages/s tile's sub-line, "1,234 total": every message the monitor has received."""
    text = overview.locator("[data-testid=tile-rate] .sub").text_content()
    return int(re.sub(r"[^0-9]", "", text))


@pytest.fixture
def lab():
    lab = JupyterLab(NOTEBOOKS)
    try:
        yield lab
    finally:
        lab.stop()  # also when the test failed: kernels, sandbox and server end here
        lab.cleanup()


def test_live_monitor_overview_keeps_refreshing_in_jupyterlab(lab, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    errors = PageErrors(page, lab.base)
    try:
        nb = Notebook(page, lab, "live_monitor.ipynb")
        stop = nb.index_of("await runtime.stop()")
        overview = nb.output(nb.index_of("overview = view("))

        # every cell above Stop (Run > Run All Above Selected Cell), so the views stay live;
        # the notebook's own checks (traffic arrived, the Overview refreshed) are among them
        nb.run(until=stop, timeout=180)
        tile = overview.locator("[data-testid=tile-rate]")
        deadline = time.monotonic() + 20
        while tile.count() == 0:
            if scripts := errors.matching(r"request failed: script "):
                pytest.fail(
                    "Panel loaded Bokeh's and its own JavaScript from a CDN, so without internet "
                    "the notebook shows no views; the notebook's pn.extension(...) needs "
                    "inline=True:\n" + "\n".join(scripts)
                )
            if time.monotonic() > deadline:
                pytest.fail("no Overview in the output:\n" + "\n".join(errors.lines))
            time.sleep(0.25)
        badge = overview.locator("[data-testid=status-badge]")
        assert badge.get_attribute("data-status") == "connected", badge.text_content()
        running = lab.processes()
        assert any("-m sandbox serve" in p for p in running), running
        assert any("postgres -D" in p for p in running), running

        # the number a person watches moves by itself while the kernel sits idle
        seen = [total_messages(overview)]
        deadline = time.monotonic() + 20
        while len(set(seen)) < 3:
            if time.monotonic() > deadline:
                pytest.fail(f"the Overview in the page did not refresh in 20 s: {seen}")
            time.sleep(0.5)
            seen.append(total_messages(overview))
        assert seen == sorted(seen), seen
        # and so do the charts, whose Bokeh sources the kernel changes directly (in a notebook
        # those changes reach the page only when pushed: without it the rate chart froze)
        ages = []
        for _ in range(6):
            time.sleep(1)
            ages.append(rate_chart_age_s(page))
        assert all(a is not None and a < 4.0 for a in ages), f"the rate chart lags: {ages}"

        # Stop: the views freeze and the sandbox the notebook started is gone
        nb.run_from(stop, timeout=60)
        deadline = time.monotonic() + 20
        while len(left := [p for p in lab.processes() if "ipykernel" not in p]) > 0:
            if time.monotonic() > deadline:
                pytest.fail(f"still running 20 s after the Stop cell: {left}")
            time.sleep(0.3)
        frozen = total_messages(overview)
        time.sleep(2.5)
        assert total_messages(overview) == frozen

        assert errors.without(*HARMLESS) == []
    finally:
        page.close()
    # shut the kernel down (REST), then the server: nothing of theirs may be left
    assert lab.stop() == []
    assert lab.proc.returncode is not None
