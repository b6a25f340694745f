"""Presence per topic: who is tracked, under which key, with which metas.

Mirrors Phoenix.Presence as Realtime uses it (reference §5): each tracked channel owns one meta
(its payload plus a unique `phx_ref`) under its presence key; several sockets may share a key.
Diffs go to every presence-enabled member, the tracker included.
"""

from __future__ import annotations

import itertools
from typing import Any

from .channels import Channel

_refs = itertools.count(1)


def new_phx_ref() -> str:
    """Opaque and unique per server run, like Phoenix.Tracker's refs."""
    return f"GP{next(_refs):010d}"


class PresenceTopic:
    """The metas of one topic, keyed by presence key then phx_ref, in arrival order."""

    def __init__(self) -> None:
        self.metas: dict[str, dict[str, dict[str, Any]]] = {}

    def state(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        return {key: {"metas": list(refs.values())} for key, refs in self.metas.items()}

    def track(self, ch: Channel, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Add or update the channel's meta. Returns the diff, or None when nothing changed."""
        if ch.presence_ref is not None and ch.presence_payload == payload:
            return None
        key = ch.presence_key
        meta: dict[str, Any] = {**payload, "phx_ref": new_phx_ref()}
        leaves: dict[str, Any] = {}
        if ch.presence_ref is not None:
            old = self.metas.get(key, {}).pop(ch.presence_ref, None)
            if old is not None:
                leaves[key] = {"metas": [old]}
            meta["phx_ref_prev"] = ch.presence_ref
        self.metas.setdefault(key, {})[meta["phx_ref"]] = meta
        ch.presence_ref = meta["phx_ref"]
        ch.presence_payload = payload
        return {"joins": {key: {"metas": [meta]}}, "leaves": leaves}

    def untrack(self, ch: Channel) -> dict[str, Any] | None:
        if ch.presence_ref is None:
            return None
        key = ch.presence_key
        refs = self.metas.get(key, {})
        old = refs.pop(ch.presence_ref, None)
        if not refs:
            self.metas.pop(key, None)
        ch.presence_ref = None
        ch.presence_payload = None
        if old is None:
            return None
        return {"joins": {}, "leaves": {key: {"metas": [old]}}}

    def __len__(self) -> int:
        return sum(len(refs) for refs in self.metas.values())
