"""What the browser tests of the Incidents page read: its table's rows, and a poll for them."""

from __future__ import annotations

import time


def rows(page) -> dict[tuple[str, str], str]:
    """(class, channel) -> state, for every row the table shows."""
    out = {}
    for row in page.locator(".tabulator-row").all():
        cells = [row.locator(f"[tabulator-field={f}]") for f in ("class", "channel", "state")]
        if all(c.count() for c in cells):
            cls, channel, state = (c.first.inner_text().strip() for c in cells)
            out[(cls, channel)] = state
    return out


def wait_for(predicate, timeout: float, what: str):
    """Poll `predicate()` until it is truthy (and return it), or fail saying `what`."""
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found
