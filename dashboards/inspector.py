"""Inspector: the event log behind every number.

A table of the last `MAX_ROWS` events, newest first, filterable by channel, kind, event and table
and searchable over payloads; click a row for its JSON. New events arrive as a delta keyed by
seq from each snapshot and are `stream`ed into the Tabulator with a rollover; the filters are
Tabulator filters (`add_filter`), applied server-side with the remote pagination that keeps
Tabulator's page buttons from leaking (see `tables`). Pause freezes the view while the store keeps
buffering; resume catches up with everything the snapshot still holds. Downloads give the
filtered rows, payload included, as CSV or Parquet. When the composition root gives it a way to
send (`send`), a form sends a test broadcast on a joined channel.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import panel as pn
import param

from feeds.events import KINDS, Event
from metrics.snapshot import Snapshot

from .live import LiveView, set_if_changed
from .markup import esc
from .tables import page_note, paged_table
from .theme import STYLES

MAX_ROWS = 2_000
ALL = "(all)"
COLUMNS = ["seq", "time", "channel", "kind", "event", "table", "latency_ms", "size"]
EMPTY = pd.DataFrame(
    {
        c: pd.Series(
            dtype="int64" if c in ("seq", "size") else "float64" if c == "latency_ms" else "object"
        )
        for c in COLUMNS
    }
)


def rows(delta: tuple[tuple[int, Event], ...]) -> pd.DataFrame:
    """The table's rows for (seq, event) pairs."""
    events = [e for _, e in delta]
    return pd.DataFrame(
        {
            "seq": np.fromiter((s for s, _ in delta), np.int64, len(delta)),
            "time": [
                datetime.fromtimestamp(e.received_at, UTC).strftime("%H:%M:%S.%f")[:-3]
                for e in events
            ],
            "channel": [e.channel for e in events],
            "kind": [e.kind for e in events],
            "event": [e.event for e in events],
            "table": [f"{e.schema}.{e.table}" if e.table else "" for e in events],
            "latency_ms": [
                round(e.latency_ms, 2) if e.latency_ms is not None else np.nan for e in events
            ],
            "size": np.fromiter((e.size for e in events), np.int64, len(events)),
        }
    )


class Inspector(LiveView):
    send = param.Callable(
        None, allow_None=True, doc="async (topic, event, payload): sends a test broadcast."
    )

    def layout(self) -> pn.viewable.Viewable:
        self.seq = 0  # the newest event in the table
        self.newest = 0  # the newest event in the latest snapshot (more while paused)
        self.events: dict[int, Event] = {}  # what the table's rows refer to, by seq
        self.texts: dict[int, str] = {}  # their payloads as lower-case JSON, for the search
        self._selected_seq: int | None = None
        self._following = False
        filters = self._filter_widgets()
        self.status = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        self.table = self._log_table()
        self.detail = pn.pane.JSON(
            {},
            depth=3,
            sizing_mode="stretch_width",
            height=520,
            styles={"overflow": "auto"},
            theme="dark" if pn.config.theme == "dark" else "light",
        )
        self.detail_title = pn.pane.HTML("<b>Click a row to see its payload</b>")
        self.table.param.watch(self._selected, "selection")
        self.table.param.watch(self._note, "page")
        return pn.Column(
            pn.Row(*filters, sizing_mode="stretch_width"),
            pn.Row(self.status, *self._downloads(), sizing_mode="stretch_width"),
            pn.Row(
                self.table,
                pn.Column(self.detail_title, self.detail, width=270),
                sizing_mode="stretch_width",
            ),
            self._broadcast_form(),
            sizing_mode="stretch_width",
        )

    def _filter_widgets(self) -> list[pn.widgets.Widget]:
        w = pn.widgets
        self.channel = w.Select(label="Channel", options=[ALL], value=ALL, width=170)
        self.kind = w.Select(label="Kind", options=[ALL, *KINDS], value=ALL, width=150)
        self.event = w.Select(label="Event", options=[ALL], value=ALL, width=150)
        self.table_filter = w.Select(label="Table", options=[ALL], value=ALL, width=170)
        self.search = w.TextInput(label="Search payload", placeholder="text…", width=200)
        self.pause = w.Toggle(label="Pause", color="warning", width=100, margin=(24, 5))
        self.pause.param.watch(self._paused, "value")
        for widget in (self.channel, self.kind, self.event, self.table_filter):
            widget.param.watch(self._note, "value")
        self.search.param.watch(self._note, "value_input")
        return [self.channel, self.kind, self.event, self.table_filter, self.search, self.pause]

    def _log_table(self) -> pn.widgets.Tabulator:
        table = paged_table(
            EMPTY,
            page_size=20,
            selectable=1,
            layout="fit_data_stretch",
            height=560,
            sorters=[{"field": "seq", "dir": "desc"}],
            # columns as wide as their content, up to a limit past which a long topic wraps
            # (at its hyphens) rather than being cut off
            configuration={"columnDefaults": {"maxWidth": 230}},
            formatters={c: {"type": "textarea"} for c in ("channel", "event", "table")},
            titles={"latency_ms": "ms"},
        )
        table.add_filter(
            pn.bind(
                self._matching,
                channel=self.channel,
                kind=self.kind,
                event=self.event,
                table=self.table_filter,
                text=self.search.param.value_input,
            )
        )
        return table

    # --- data ---------------------------------------------------------------------------------

    def _matching(
        self, df: pd.DataFrame, channel: str, kind: str, event: str, table: str, text: str
    ) -> pd.DataFrame:
        """The rows the filters let through (a Tabulator filter function)."""
        mask = np.ones(len(df), dtype=bool)
        for column, value in (
            ("channel", channel),
            ("kind", kind),
            ("event", event),
            ("table", table),
        ):
            if value != ALL:
                mask &= (df[column] == value).to_numpy()
        needle = (text or "").strip().lower()
        if needle:
            texts = self.texts
            mask &= np.fromiter(
                (needle in texts.get(s, "") for s in df["seq"]), dtype=bool, count=len(df)
            )
        return df[mask]

    def _catch_up(self, snap: Snapshot) -> None:
        delta = snap.events_after(self.seq)[-MAX_ROWS:]
        if not delta:
            return
        self.seq = delta[-1][0]
        for s, e in delta:
            self.events[s] = e
            self.texts[s] = orjson.dumps(e.payload).decode().lower()
        self.table.stream(rows(delta), rollover=MAX_ROWS, follow=False)
        oldest = int(self.table.value["seq"].iloc[0])
        for s in [s for s in self.events if s < oldest]:
            del self.events[s]
            del self.texts[s]
        self._options()
        # Panel 1.9 sends streamed rows to the browser only when it shows the last page; newest
        # first, the rows belong on page 1, so ask it to resend the page it shows.
        self.table.param.trigger("value")
        self._keep_selection()

    def _options(self) -> None:
        value = self.table.value
        for widget, column in (
            (self.channel, "channel"),
            (self.event, "event"),
            (self.table_filter, "table"),
        ):
            options = [ALL, *sorted(v for v in value[column].unique() if v)]
            if options != widget.options:
                widget.options = options

    def _keep_selection(self) -> None:
        """Tabulator's selection is a row position, which streaming moves: keep the selected
        event selected by its seq."""
        if self._selected_seq is None:
            return
        seqs = self.table.value["seq"].to_numpy()
        i = int(np.searchsorted(seqs, self._selected_seq))
        wanted = [i] if i < len(seqs) and seqs[i] == self._selected_seq else []
        if self.table.selection != wanted:
            self._following = True
            try:
                self.table.selection = wanted
            finally:
                self._following = False

    def _note(self, *_: Any) -> None:
        shown = len(self.table.current_view)
        note = f"{shown:,} of {len(self.table.value):,} buffered events match"
        pages = page_note(self.table, shown)
        if pages:
            note += f" · {pages}"
        if self.pause.value:
            waiting = self.newest - self.seq
            note = (
                f"<b>Paused</b>: the view is frozen; {waiting:,} new events are buffered "
                "and will appear on resume. " + note
            )
        set_if_changed(
            self.status, f'<div class="rm-note" data-testid="inspector-status">{note}</div>'
        )

    # --- callbacks ----------------------------------------------------------------------------

    def refresh_slow(self, snap: Snapshot) -> None:
        self.newest = snap.seq
        if not self.pause.value and snap.seq != self.seq:
            self._catch_up(snap)
        channels = list(self.data.channels)
        if channels != self.bc_channel.options:
            self.bc_channel.options = channels
        self._note()

    def _paused(self, event: Any) -> None:
        self.pause.label = "Resume" if event.new else "Pause"
        if not event.new:
            snap = self.data.latest()
            self.newest = snap.seq
            self._catch_up(snap)
        self._note()

    def _selected(self, event: Any) -> None:
        if self._following or not event.new:
            return
        row = self.table.value.iloc[event.new[0]]
        seq = int(row["seq"])
        self._selected_seq = seq
        ev = self.events.get(seq)
        # the event name is whatever a client broadcast: text, never markup
        self.detail_title.object = (
            f"<b>#{seq}</b> {esc(row['kind'])} · {esc(row['event'])} on "
            f"<b>{esc(row['channel'])}</b> at {esc(row['time'])}"
        )
        self.detail.object = ev.payload if ev is not None else {"note": "no longer buffered"}

    # --- downloads ----------------------------------------------------------------------------

    def _downloads(self) -> list[pn.widgets.FileDownload]:
        common = dict(color="primary")
        return [
            pn.widgets.FileDownload(
                callback=self._csv,
                filename="realtime-events.csv",
                label="Download CSV",
                width=150,
                **common,
            ),
            pn.widgets.FileDownload(
                callback=self._parquet,
                filename="realtime-events.parquet",
                label="Download Parquet",
                width=170,
                **common,
            ),
        ]

    def _export(self) -> pd.DataFrame:
        view = self.table.current_view[COLUMNS].copy()
        view["payload"] = [
            orjson.dumps(e.payload if (e := self.events.get(int(s))) else {}).decode()
            for s in view["seq"]
        ]
        return view

    def _csv(self) -> io.BytesIO:
        return io.BytesIO(self._export().to_csv(index=False).encode())

    def _parquet(self) -> io.BytesIO:
        buf = io.BytesIO()
        self._export().to_parquet(buf, index=False)
        buf.seek(0)
        return buf

    # --- test broadcast -----------------------------------------------------------------------

    def _broadcast_form(self) -> pn.viewable.Viewable:
        w = pn.widgets
        channels = list(self.data.channels)
        self.bc_channel = w.Select(
            label="Channel", options=channels, value=channels[0] if channels else None, width=200
        )
        self.bc_event = w.TextInput(
            label="Event", value="test", placeholder="event name", width=160
        )
        self.bc_payload = w.TextAreaInput(
            label="Payload (JSON object)",
            value='{"hello": "from the inspector"}',
            height=80,
            width=360,
        )
        self.bc_send = w.Button(label="Send broadcast", color="success", margin=(24, 5))
        self.bc_result = pn.pane.HTML("", stylesheets=[STYLES])
        self.bc_send.on_click(self._send)
        return pn.Card(
            pn.Row(self.bc_channel, self.bc_event, self.bc_payload, self.bc_send),
            self.bc_result,
            title="Send a test broadcast",
            collapsed=False,
            sizing_mode="stretch_width",
            visible=self.send is not None,
        )

    def _send(self, *_: Any) -> None:
        try:
            payload = orjson.loads(self.bc_payload.value or "{}")
        except orjson.JSONDecodeError as exc:
            self.bc_result.object = f'<div class="rm-alert">Payload is not JSON: {esc(exc)}</div>'
            return
        if not isinstance(payload, dict):
            self.bc_result.object = '<div class="rm-alert">Payload must be a JSON object</div>'
            return
        topic, event = self.bc_channel.value, (self.bc_event.value or "").strip()
        if not topic or not event:
            self.bc_result.object = '<div class="rm-alert">Choose a channel and an event</div>'
            return
        asyncio.ensure_future(self._deliver(topic, event, payload))

    async def _deliver(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        try:
            await self.send(topic, event, payload)
        except Exception as exc:
            self.bc_result.object = f'<div class="rm-alert">Not sent: {esc(exc)}</div>'
            return
        self.bc_result.object = (
            f'<div class="rm-note" data-testid="broadcast-sent">Sent '
            f"<b>{esc(event)}</b> to <b>{esc(topic)}</b></div>"
        )
