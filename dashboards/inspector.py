"""Inspector: the event log behind every number.

A filterable table (channel, kind, event, table, free-text search over the payload), newest
first, bounded to the last `MAX_ROWS` events; click a row for its JSON. Pause freezes the view
while the store keeps buffering; resume catches up with everything still in the store's ring.
Downloads give the filtered rows, payload included, as CSV or Parquet. The form sends a test
broadcast on a joined channel.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
import panel as pn

from feeds.events import KINDS, Event
from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .live import LiveView, set_if_changed
from .tables import page_note, paged_table
from .theme import STYLES

MAX_ROWS = 2_000
ALL = "(all)"
COLUMNS = ["seq", "time", "channel", "kind", "event", "table", "latency_ms", "size"]


def rows(events: list[Event]) -> pd.DataFrame:
    if not events:
        return pd.DataFrame(columns=[*COLUMNS, "text"])
    return pd.DataFrame(
        {
            "seq": 0,  # assigned by the caller, who knows where this batch sits in the store
            "time": [
                datetime.fromtimestamp(e.received_at, UTC).strftime("%H:%M:%S.%f")[:-3]
                for e in events
            ],
            "channel": [e.channel for e in events],
            "kind": [e.kind for e in events],
            "event": [e.event for e in events],
            "table": [f"{e.schema}.{e.table}" if e.table else "" for e in events],
            "latency_ms": [
                round(e.latency_ms, 2) if e.latency_ms is not None else None for e in events
            ],
            "size": [e.size for e in events],
            "text": [orjson.dumps(e.payload).decode().lower() for e in events],
        }
    )


class Inspector(LiveView):
    def layout(self) -> pn.viewable.Viewable:
        self.seq = max(0, self.store.last_seq - MAX_ROWS)
        self.frame = pd.DataFrame(columns=[*COLUMNS, "text"])
        self.payloads: dict[int, dict[str, Any]] = {}
        self._selected_seq: int | None = None
        self._following = False
        w = pn.widgets
        self.channel = w.Select(name="Channel", options=[ALL], value=ALL, width=170)
        self.kind = w.Select(
            name="Kind",
            options=[ALL, *KINDS],
            value=ALL,
            width=150,
        )
        self.event = w.Select(name="Event", options=[ALL], value=ALL, width=150)
        self.table_filter = w.Select(name="Table", options=[ALL], value=ALL, width=170)
        self.search = w.TextInput(name="Search payload", placeholder="text…", width=200)
        self.pause = w.Toggle(name="Pause", button_type="warning", width=100, margin=(24, 5))
        self.status = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        self.table = paged_table(
            pd.DataFrame(columns=COLUMNS),
            page_size=20,
            selectable=1,
            layout="fit_columns",
            height=560,
            widths={"seq": 70, "time": 110, "kind": 140, "latency_ms": 100, "size": 70},
        )
        self.detail = pn.pane.JSON(
            {},
            depth=3,
            sizing_mode="stretch_width",
            height=520,
            styles={"overflow": "auto"},
            theme="dark" if pn.config.theme == "dark" else "light",
        )
        self.detail_title = pn.pane.HTML("<b>Click a row to see its payload</b>")
        csv = w.FileDownload(
            callback=self._csv,
            filename="realtime-events.csv",
            label="Download CSV",
            button_type="primary",
            width=150,
        )
        parquet = w.FileDownload(
            callback=self._parquet,
            filename="realtime-events.parquet",
            label="Download Parquet",
            button_type="primary",
            width=170,
        )
        for widget in (self.channel, self.kind, self.event, self.table_filter):
            widget.param.watch(self._filters_changed, "value")
        self.search.param.watch(self._filters_changed, "value_input")
        self.pause.param.watch(self._paused, "value")
        self.table.param.watch(self._selected, "selection")
        self.table.param.watch(self._note, "page")
        form = self._broadcast_form()
        self._ingest(self.store.events_since(self.seq))
        self._show()
        return pn.Column(
            pn.Row(
                self.channel,
                self.kind,
                self.event,
                self.table_filter,
                self.search,
                self.pause,
                sizing_mode="stretch_width",
            ),
            pn.Row(self.status, csv, parquet, sizing_mode="stretch_width"),
            pn.Row(
                self.table,
                pn.Column(self.detail_title, self.detail, width=380),
                sizing_mode="stretch_width",
            ),
            form,
            sizing_mode="stretch_width",
        )

    # --- data ---------------------------------------------------------------------------------

    def _ingest(self, events: list[Event]) -> None:
        if not events:
            return
        events = events[-MAX_ROWS:]  # older ones would be formatted only to be dropped
        first = self.store.last_seq - len(events) + 1
        for i, e in enumerate(events):
            self.payloads[first + i] = e.payload
        fresh = rows(events)
        fresh["seq"] = range(first, first + len(events))
        frame = pd.concat([self.frame, fresh], ignore_index=True) if len(self.frame) else fresh
        self.frame = frame.iloc[-MAX_ROWS:].reset_index(drop=True)
        self.seq = self.store.last_seq
        oldest = int(self.frame["seq"].iloc[0])
        for seq in [s for s in self.payloads if s < oldest]:
            del self.payloads[seq]
        self._options()

    def _options(self) -> None:
        for widget, column in (
            (self.channel, "channel"),
            (self.event, "event"),
            (self.table_filter, "table"),
        ):
            seen = sorted(v for v in self.frame[column].unique() if v)
            options = [ALL, *seen]
            if options != widget.options:
                widget.options = options

    def filtered(self) -> pd.DataFrame:
        f = self.frame
        if f.empty:
            return f
        mask = pd.Series(True, index=f.index)
        for widget, column in (
            (self.channel, "channel"),
            (self.kind, "kind"),
            (self.event, "event"),
            (self.table_filter, "table"),
        ):
            if widget.value != ALL:
                mask &= f[column] == widget.value
        text = (self.search.value_input or "").strip().lower()
        if text:
            mask &= f["text"].str.contains(text, regex=False)
        return f[mask].iloc[::-1]

    def _show(self) -> None:
        view = self.filtered()
        self.table.value = view[COLUMNS].reset_index(drop=True)
        # Tabulator's selection is a row position: new rows on top would move it to another
        # event, so follow the selected event by its seq instead.
        if self._selected_seq is not None:
            hits = (view["seq"] == self._selected_seq).to_numpy().nonzero()[0]
            wanted = [int(hits[0])] if len(hits) else []
            if self.table.selection != wanted:
                self._following = True
                self.table.selection = wanted
                self._following = False
        self._note()

    def _note(self, *_: Any) -> None:
        note = f"{len(self.table.value):,} of {len(self.frame):,} buffered events match"
        pages = page_note(self.table)
        if pages:
            note += f" · {pages}"
        if self.pause.value:
            waiting = self.store.last_seq - self.seq
            note = (
                f"<b>Paused</b>: the view is frozen; {waiting:,} new events are buffered "
                "and will appear on resume. " + note
            )
        set_if_changed(
            self.status, f'<div class="rm-note" data-testid="inspector-status">{note}</div>'
        )

    # --- callbacks ----------------------------------------------------------------------------

    def fast_key(self, pulse: Pulse) -> object:
        return None  # the log refreshes with the slow tick: a table re-render is not 10 Hz

    def refresh_slow(self, snapshot: Snapshot) -> None:
        if self.pause.value:
            self._show()
            return
        if self.store.last_seq != self.seq:
            self._ingest(self.store.events_since(self.seq))
            self._show()

    def _filters_changed(self, *_: Any) -> None:
        self._show()

    def _paused(self, event: Any) -> None:
        self.pause.name = "Resume" if event.new else "Pause"
        if not event.new:
            self._ingest(self.store.events_since(self.seq))
        self._show()

    def _selected(self, event: Any) -> None:
        if self._following or not event.new:
            return
        row = self.table.value.iloc[event.new[0]]
        seq = int(row["seq"])
        self._selected_seq = seq
        payload = self.payloads.get(seq)
        self.detail_title.object = (
            f"<b>#{seq}</b> {row['kind']} · {row['event']} on "
            f"<b>{row['channel']}</b> at {row['time']}"
        )
        self.detail.object = payload if payload is not None else {"note": "no longer buffered"}

    def _export(self) -> pd.DataFrame:
        view = self.filtered()[COLUMNS].copy()
        view["payload"] = [
            orjson.dumps(self.payloads.get(int(s), {})).decode() for s in view["seq"]
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
        channels = self.runtime.channels
        self.bc_channel = w.Select(
            name="Channel", options=channels, value=channels[0] if channels else None, width=200
        )
        self.bc_event = w.TextInput(name="Event", value="test", placeholder="event name", width=160)
        self.bc_payload = w.TextAreaInput(
            name="Payload (JSON object)",
            value='{"hello": "from the inspector"}',
            height=80,
            width=360,
        )
        self.bc_send = w.Button(name="Send broadcast", button_type="success", margin=(24, 5))
        self.bc_result = pn.pane.HTML("", stylesheets=[STYLES])
        self.bc_send.on_click(self._send)
        return pn.Card(
            pn.Row(self.bc_channel, self.bc_event, self.bc_payload, self.bc_send),
            self.bc_result,
            title="Send a test broadcast",
            collapsed=False,
            sizing_mode="stretch_width",
        )

    def _send(self, *_: Any) -> None:
        try:
            payload = orjson.loads(self.bc_payload.value or "{}")
        except orjson.JSONDecodeError as exc:
            self.bc_result.object = f'<div class="rm-alert">Payload is not JSON: {exc}</div>'
            return
        if not isinstance(payload, dict):
            self.bc_result.object = '<div class="rm-alert">Payload must be a JSON object</div>'
            return
        topic, event = self.bc_channel.value, (self.bc_event.value or "").strip()
        if not topic or not event:
            self.bc_result.object = '<div class="rm-alert">Choose a channel and an event</div>'
            return

        async def send() -> None:
            try:
                await self.runtime.send_broadcast(topic, event, payload)
            except Exception as exc:
                self.bc_result.object = f'<div class="rm-alert">Not sent: {exc}</div>'
                return
            self.bc_result.object = (
                f'<div class="rm-note" data-testid="broadcast-sent">Sent '
                f"<b>{event}</b> to <b>{topic}</b></div>"
            )

        asyncio.ensure_future(send())
