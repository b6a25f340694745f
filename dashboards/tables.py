"""Read-only, server-paginated tables for logs and rosters that refresh every second.

Tabulator 6.4 (bundled with Panel 1.9) leaks on every data refresh of a paginated table: each
redraw builds new numbered page buttons (and page counters), and each registers a callback with
Tabulator's localisation module that keeps the button alive forever. Refreshed once a second,
the inspector page gained ~10 DOM nodes a second, without end (`benchmarks/dashboard_memory.py`).
The First/Prev/Next/Last buttons are built once, so these tables use only those; the counter
leaks the same way, so the Inspector says which page is shown in its own status line
(`page_note`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

NO_LEAKING_PAGINATION = {"paginationButtonCount": 0}


def paged_table(value: pd.DataFrame | None = None, **kw: Any) -> pn.widgets.Tabulator:
    kw.setdefault("page_size", 12)
    kw.setdefault("layout", "fit_data_stretch")
    kw.setdefault("sizing_mode", "stretch_width")
    configuration = {**NO_LEAKING_PAGINATION, **kw.pop("configuration", {})}
    return pn.widgets.Tabulator(
        pd.DataFrame() if value is None else value,
        pagination="remote",
        show_index=False,
        disabled=True,
        configuration=configuration,
        **kw,
    )


def page_note(table: pn.widgets.Tabulator, rows: int) -> str:
    """ "page 2 of 17" for `rows` rows shown, or "" when they fit on one page."""
    pages = max(1, -(-rows // max(1, table.page_size or 1)))
    return "" if pages <= 1 else f"page {min(table.page, pages)} of {pages}"
