"""Live slots: one card per itinerary with its three counters, animated when they change.

Cards are rendered on the fast path (the moment the replica changes, not once a second), which
is what the commit-to-screen latency bar measures. Each card shows the absolute time of its last
update, so nothing re-renders once a second and an animation is never cut short.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import panel as pn

from metrics.capture import CARD_ROWS
from metrics.replica import as_float
from metrics.snapshot import Snapshot
from metrics.store import Pulse

from .live import LiveView, set_if_changed
from .markup import esc, slot_card
from .theme import STYLES


class SlotCards:
    """The card grid, shared by the Live slots page and the wall."""

    def __init__(
        self,
        max_cards: int = CARD_ROWS,
        styles: list[str] | None = None,
        css_class: str = "rm-slots",
        wrapper: str = "",
    ) -> None:
        self.max_cards = min(max_cards, CARD_ROWS)
        self.css_class = css_class
        # each pane has its own shadow root, so context classes (the wall's) go inside it
        self.wrapper = wrapper
        self.pane = pn.pane.HTML("", stylesheets=styles or [STYLES], sizing_mode="stretch_width")
        self._shown: dict[str, dict[str, float]] = {}

    def reset(self) -> None:
        """Forget the values shown, so the next render animates nothing (another project's
        cards replace these on a cycling wall)."""
        self._shown = {}

    def render(self, snap: Snapshot) -> None:
        layout = snap.replica_layout
        names = list(layout.counters)
        rows = sorted(snap.replica_rows[-self.max_cards :], key=lambda r: str(r.key))
        cards = []
        shown: dict[str, dict[str, float]] = {}
        for row in rows:
            key = str(row.key)
            counters = {n: as_float(row.record.get(n)) for n in names}
            meta_bits = [f"{k} {row.record[k]}" for k in ("group_id",) if row.record.get(k)]
            when = row.commit_ts or row.received_at
            stamp = datetime.fromtimestamp(when, UTC).strftime("%H:%M:%S UTC") if when else ""
            history = snap.card_history.get(row.key)
            cards.append(
                slot_card(
                    key,
                    counters,
                    self._shown.get(key),
                    history.tolist() if history is not None else [],
                    names,
                    f"updated {stamp}",
                    " · ".join(meta_bits),
                )
            )
            shown[key] = counters
        self._shown = shown
        set_if_changed(self.pane, self._body(cards, snap))

    def _body(self, cards: list[str], snap: Snapshot) -> str:
        layout = snap.replica_layout
        total = len(snap.replica_rows)
        if not cards:
            body = (
                '<div class="rm-empty" data-testid="slots-empty">no live-slot rows yet: '
                f"waiting for changes on {esc(layout.schema)}.{esc(layout.table)}</div>"
            )
        else:
            more = (
                f'<div class="rm-note">showing {len(cards)} of {total}</div>'
                if total > len(cards)
                else ""
            )
            body = f'<div class="{self.css_class}">{"".join(cards)}</div>{more}'
        return f'<div class="{self.wrapper}">{body}</div>' if self.wrapper else body


class Slots(LiveView):
    def layout(self) -> pn.viewable.Viewable:
        self.cards = SlotCards()
        self.header = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        self.stats = pn.pane.HTML("", stylesheets=[STYLES], sizing_mode="stretch_width")
        return pn.Column(self.header, self.cards.pane, self.stats, sizing_mode="stretch_width")

    def fast_key(self, pulse: Pulse) -> object:
        return pulse.replica_changes

    def refresh_fast(self, snap: Snapshot) -> None:
        self.cards.render(snap)

    def refresh_slow(self, snap: Snapshot) -> None:
        layout, s = snap.replica_layout, snap.replica_stats
        set_if_changed(
            self.header,
            f'<div class="rm-note">Latest row per <b>{esc(layout.key)}</b> of '
            f"<b>{esc(layout.schema)}.{esc(layout.table)}</b>, from postgres_changes, ordered "
            "by commit time: a late or repeated event never moves a counter back.</div>",
        )
        set_if_changed(
            self.stats,
            (
                f'<div class="rm-note">{s["rows"]} rows · {s["applied"]} changes applied · '
                f"{s['stale_ignored']} late and {s['duplicates_ignored']} duplicate events ignored"
                f" · as of {time.strftime('%H:%M', time.gmtime())} UTC</div>"
            ),
        )
