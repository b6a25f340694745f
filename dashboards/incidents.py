"""Incidents: what went wrong, in the server's words, what the monitor did about it, and the fix.

One row per incident (`metrics.incidents`: one class of trouble on one channel, or the socket,
from its first problem until it recovers), open ones first and then the latest: state, class,
channel, when it opened, when it was last seen, when it closed and how long it lasted, how many
times it happened, the server's latest words and the monitor's latest action. Expand a row for
the explanation and the fix, one sentence each. Filters for state, class and channel are
Tabulator filters (`add_filter`), applied server-side with the same leak-free remote pagination
as the Inspector (`tables`); the CSV download gives the filtered rows with the explanation and
the fix. Above the table, the same status badge and channel chips as the Overview.

Updates are incremental. The store bumps its pulse on every problem and recovery, and the rows
are built once per snapshot for every session (`SharedSnapshots.derived`); a session compares
them with what its table shows, by incident id: new incidents are `stream`ed, changed ones
(count, words, action, closed) are `patch`ed, and nothing is sent when nothing changed. Only
when the store has let incidents go (it keeps the open ones and the latest 500 closed) is the
table's value replaced, so it never holds more than the store does.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import panel as pn

from metrics.incidents import Incident
from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .headline import status_markup
from .live import LiveView, set_if_changed
from .markup import esc, fmt_duration
from .tables import page_note, paged_table
from .theme import LEVEL_COLORS, STYLES

ALL = "(all)"
STATES = ("open", "closed")
MAX_ROWS = 2_000  # above the store's own bound (1,000 open + 500 closed)
SHOWN = ["state", "class", "channel", "opened", "last", "lasted", "count", "message", "action"]
HIDDEN = ["id", "last_at", "closed", "explanation", "fix", "first_message"]
COLUMNS = SHOWN + HIDDEN
TITLES = {
    "last": "last seen",
    "message": "the server's words",
    "action": "the monitor did",
}
_INTS = ("id", "count")
EMPTY = pd.DataFrame(
    {
        c: pd.Series(dtype="int64" if c in _INTS else "float64" if c == "last_at" else "object")
        for c in COLUMNS
    }
)
# Fixed widths for all but the server's words, which take the rest, so the table fits a laptop's
# page instead of scrolling sideways. Long words are cut short on one line: a row's tooltip and its
# expansion have them in full. The order is fixed (open first, then the latest), so the headers
# carry no sort buttons, which would take a column's worth of width.
WIDTHS = {
    "state": 66,
    "class": 155,
    "channel": 150,
    "opened": 80,
    "last": 86,
    "lasted": 70,
    "count": 60,
    "action": 165,
}
DETAIL_CSS = """
.rm-incident { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px;
  padding: 8px 14px 10px 52px; font-size: 13px; line-height: 1.45; }
.rm-incident b { white-space: nowrap; }
.rm-incident .first { opacity: var(--rm-muted); }
"""


def clock(t: float | None, now: float) -> str:
    """HH:MM:SS UTC, with the date when it is not today's."""
    if t is None or (isinstance(t, float) and np.isnan(t)):
        return ""
    at = datetime.fromtimestamp(t, UTC)
    today = datetime.fromtimestamp(now, UTC).date()
    return at.strftime("%H:%M:%S" if at.date() == today else "%b %d %H:%M:%S")


def incident_rows(incidents: Sequence[Incident], now: float) -> pd.DataFrame:
    """The table's rows, in the store's order (open first, latest first)."""
    return pd.DataFrame(
        {
            "id": np.fromiter((i.id for i in incidents), np.int64, len(incidents)),
            "state": ["open" if i.open else "closed" for i in incidents],
            "class": [i.cls for i in incidents],
            "channel": [i.where for i in incidents],
            "opened": [clock(i.opened_at, now) for i in incidents],
            "last": [clock(i.last_at, now) for i in incidents],
            "lasted": [
                "" if i.closed_at is None else fmt_duration(i.closed_at - i.opened_at)
                for i in incidents
            ],
            "count": np.fromiter((i.count for i in incidents), np.int64, len(incidents)),
            "message": [i.message for i in incidents],
            "action": [i.action for i in incidents],
            "last_at": np.fromiter((i.last_at for i in incidents), np.float64, len(incidents)),
            "closed": [clock(i.closed_at, now) for i in incidents],
            "explanation": [i.explanation for i in incidents],
            "fix": [i.fix for i in incidents],
            "first_message": [i.first_message for i in incidents],
        },
        columns=COLUMNS,
    )


def detail(row: pd.Series) -> pn.pane.HTML:
    """A row's expansion: the explanation and the fix, the server's words in full (the first
    ones too if they differ), and when it closed."""
    first = ""
    if row["first_message"] and row["first_message"] != row["message"]:
        first = f'<b class="first">First words</b><span class="first">{esc(row["first_message"])}'
        first += "</span>"
    closed = ""
    if row["closed"]:
        closed = f"<b>Closed</b><span>{esc(row['closed'])}, after {esc(row['lasted'])}</span>"
    return pn.pane.HTML(
        f'<div class="rm-incident" data-testid="incident-detail" data-id="{int(row["id"])}">'
        f"<b>What happened</b><span>{esc(row['explanation'])}</span>"
        f"<b>What to do</b><span>{esc(row['fix'])}</span>"
        f"<b>The server said</b><span>{esc(row['message'])}</span>{first}{closed}</div>",
        stylesheets=[STYLES, DETAIL_CSS],
        sizing_mode="stretch_width",
    )


def _state_css(value: object) -> str:
    return f"color: {LEVEL_COLORS['alert']}; font-weight: 700" if value == "open" else ""


class IncidentsView(LiveView):
    """The incident log of the process's store, filterable, expandable, downloadable."""

    def layout(self) -> pn.viewable.Viewable:
        self.known: dict[int, tuple[Any, ...]] = {}  # id -> the row the table shows
        self._key: object = None  # the start, the incidents' ids, counts and closes last shown
        self._snap: Snapshot | None = None  # the latest, for the note and the download
        self.status = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        self.chips = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        self.note = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        w = pn.widgets
        self.state = w.Select(label="State", options=[ALL, *STATES], value=ALL, width=130)
        self.cls = w.Select(label="Class", options=[ALL], value=ALL, width=200)
        self.channel = w.Select(label="Channel", options=[ALL], value=ALL, width=220)
        self.table = self._incident_table()
        # after the table's filter, so the note counts the rows it lets through
        for widget in (self.state, self.cls, self.channel):
            widget.param.watch(self._note, "value")
        self.table.param.watch(self._note, "page")
        self.download = w.FileDownload(
            callback=self._csv,
            filename="realtime-incidents.csv",
            label="Download CSV",
            color="primary",
            width=150,
            margin=(24, 10, 5, 10),
        )
        return pn.Column(
            self.status,
            self.chips,
            pn.Row(self.state, self.cls, self.channel, self.download),
            self.note,
            self.table,
            sizing_mode="stretch_width",
        )

    def _incident_table(self) -> pn.widgets.Tabulator:
        table = paged_table(
            EMPTY.copy(),
            page_size=15,
            layout="fit_columns",
            widths=WIDTHS,
            selectable=False,
            sortable=False,
            configuration={"columnDefaults": {"tooltip": True}},
            sorters=[{"field": "state", "dir": "desc"}, {"field": "last_at", "dir": "desc"}],
            hidden_columns=HIDDEN,
            titles=TITLES,
            row_content=detail,
            visible=False,
        )
        table.style.map(_state_css, subset=["state"])
        table.add_filter(
            pn.bind(self._matching, state=self.state, cls=self.cls, channel=self.channel)
        )
        return table

    # --- data ---------------------------------------------------------------------------------

    @staticmethod
    def _matching(df: pd.DataFrame, state: str, cls: str, channel: str) -> pd.DataFrame:
        """The rows the filters let through (a Tabulator filter function)."""
        mask = np.ones(len(df), dtype=bool)
        for column, value in (("state", state), ("class", cls), ("channel", channel)):
            if value != ALL:
                mask &= (df[column] == value).to_numpy()
        return df[mask]

    def _rows(self, snap: Snapshot) -> tuple[pd.DataFrame, dict[int, tuple[Any, ...]]]:
        """The rows and, by id, each row's values: once per snapshot for every session."""

        def build() -> tuple[pd.DataFrame, dict[int, tuple[Any, ...]]]:
            frame = incident_rows(snap.incidents, snap.now)
            values = zip(*(frame[c].tolist() for c in COLUMNS), strict=True)
            at = COLUMNS.index("id")
            return frame, {row[at]: row for row in values}

        return self.data.derived(snap, "incident-rows", build)

    def _sync(self, snap: Snapshot) -> bool:
        """Bring the table to `snap`'s incidents: stream the new, patch the changed. False, at
        the cost of one comparison, when nothing changed since the last call."""
        key = self.data.derived(
            snap,
            "incident-key",
            lambda: (
                snap.started_at,
                snap.incidents_total,
                tuple((i.id, i.count, i.closed_at) for i in snap.incidents),
            ),
        )
        if key == self._key:
            return False
        self._key = key
        frame, rows = self._rows(snap)
        table = self.table
        if any(i not in rows for i in self.known):  # the store let some go: start afresh
            table.value = frame.reset_index(drop=True)
            self.known = dict(rows)
            self._options()
            return True
        labels = dict(zip(table.value["id"].tolist(), table.value.index.tolist(), strict=True))
        patch: dict[str, list[tuple[Any, Any]]] = {}
        for i, row in rows.items():
            old = self.known.get(i)
            if old is None or old == row:
                continue
            for c, (a, b) in enumerate(zip(old, row, strict=True)):
                if a != b:
                    patch.setdefault(COLUMNS[c], []).append((labels[i], b))
            self.known[i] = row
        if patch:
            table.patch(patch)
        new = [i for i in rows if i not in self.known]
        if new:
            added = frame[frame["id"].isin(new)]
            table.stream(added, rollover=MAX_ROWS, follow=False)
            self.known.update((i, rows[i]) for i in new)
            # Panel 1.9 sends streamed rows of a remote-paginated table only when it shows the
            # last page; sorted open-first they may belong on any page, so resend the one shown
            table.param.trigger("value")
        self._options()
        return True

    def _options(self) -> None:
        value = self.table.value
        for widget, column in ((self.cls, "class"), (self.channel, "channel")):
            options = [ALL, *sorted(set(value[column].tolist()))]
            if options != widget.options:
                widget.options = options

    def _note(self, *_: Any) -> None:
        table, snap = self.table, self._snap
        total = len(table.value)
        table.visible = total > 0
        if not total:
            since = snap.started_at if snap is not None else None
            when = (
                datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                if since
                else "the monitor started"
            )
            note = f'<div class="rm-empty" data-testid="incidents-empty">No incidents since {when}'
            set_if_changed(self.note, note + "</div>")
            return
        opened = int((table.value["state"] == "open").sum())
        shown = len(table.current_view)
        text = f"<b>{opened} open</b> · {total:,} incident{'s' if total != 1 else ''}"
        if snap is not None and snap.incidents_total > total:
            text += f" (of {snap.incidents_total:,} since the start: the latest closed are kept)"
        if shown != total:
            text += f" · {shown:,} match the filters"
        pages = page_note(table, shown)
        if pages:
            text += f" · {pages}"
        text += " · times in UTC · open a row (▸) for what happened and the fix"
        set_if_changed(self.note, f'<div class="rm-note" data-testid="incidents-note">{text}</div>')

    # --- callbacks ----------------------------------------------------------------------------

    def fast_key(self, pulse: Pulse) -> object:
        return pulse.connection_changes  # every problem and every recovery bumps it

    def refresh_fast(self, snap: Snapshot) -> None:
        self._snap = snap
        badge, chips = self.data.derived(
            snap, ("status-markup", self.data.target), lambda: status_markup(snap, self.data.target)
        )
        set_if_changed(self.status, badge)
        set_if_changed(self.chips, chips)
        if self._sync(snap):
            self._note()

    def refresh_slow(self, snap: Snapshot) -> None:
        # a rejected binding closes on "Subscribed to PostgreSQL", an event, not a pulse bump
        self.refresh_fast(snap)

    def _release(self, session_context: Any) -> None:
        super()._release(session_context)
        self._snap = None
        self.known = {}

    # --- download -----------------------------------------------------------------------------

    def _csv(self) -> io.BytesIO:
        """The filtered rows, times in ISO 8601 (UTC), the explanation and the fix included."""
        view = self.table.current_view
        by_id = {i.id: i for i in (self._snap.incidents if self._snap else ())}
        found = [by_id.get(int(i)) for i in view["id"]]

        def iso(field: str) -> list[str]:
            times = [getattr(i, field) if i else None for i in found]
            return ["" if t is None else datetime.fromtimestamp(t, UTC).isoformat() for t in times]

        out = view[["id", "state", "class", "channel"]].copy()
        for field in ("opened_at", "last_at", "closed_at"):
            out[field] = iso(field)
        for column in ("count", "message", "action", "explanation", "fix", "first_message"):
            out[column] = view[column]
        return io.BytesIO(out.to_csv(index=False).encode())
