"""Who is present on each channel, rebuilt from the wire's `presence_state` / `presence_diff`.

The official clients' rules (realtime-js `RealtimePresence.syncState/syncDiff`, realtime-py
`_sync_state/_sync_diff`) are followed so the roster agrees with what an app sees:

* a member is a presence *key*; one key can hold several metas (one per socket/tab), each with a
  unique `phx_ref`;
* `presence_state` replaces a channel's roster. It is reconciled, not swapped: keys that appear
  are logged as joins, keys that are gone as leaves, keys still present log nothing even if their
  phx_refs changed (a reconnect re-tracks everyone with new refs; that is not churn);
* `presence_diff` applies joins first (adding metas by phx_ref, replacing an equal phx_ref), then
  leaves (removing by phx_ref), and drops keys left with no metas. An update arrives as a leave
  of the old meta plus a join of the new one under the same key: the key never empties, so
  nothing is logged and `joined_at` is kept.

Everything is bounded (channels, keys per channel, metas per key, the log) because the roster of
a busy public channel is attacker-sized. Evictions drop the least recently updated entry and are
counted, never logged as leaves: nobody left, we just stopped remembering.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from feeds.events import Event

JOIN = "join"
LEAVE = "leave"
_HIDDEN_META_KEYS = ("phx_ref", "phx_ref_prev")
SUMMARY_CHARS = 160


def meta_summary(meta: Mapping[str, Any] | None) -> str:
    """A short, stable one-line text of a meta for tables and logs (refs are noise there)."""
    if not meta:
        return ""
    visible = {k: v for k, v in meta.items() if k not in _HIDDEN_META_KEYS}
    try:
        text = json.dumps(visible, sort_keys=True, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(visible)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


@dataclass(slots=True)
class Member:
    """One presence key on one channel; `metas` maps phx_ref to meta, newest last."""

    key: str
    joined_at: float
    updated_at: float
    metas: dict[str, dict[str, Any]] = field(default_factory=dict)
    _summary_of: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _summary: str = field(default="", repr=False, compare=False)

    @property
    def latest_meta(self) -> dict[str, Any]:
        return next(reversed(self.metas.values())) if self.metas else {}

    @property
    def summary(self) -> str:
        """`meta_summary` of the latest meta, cached by the meta's identity.

        A roster table is rebuilt every tick; re-serialising 10k unchanged metas each time would
        cost tens of ms. Holding the meta object itself makes the identity check safe.
        """
        latest = self.latest_meta
        if latest is not self._summary_of:
            self._summary_of = latest
            self._summary = meta_summary(latest)
        return self._summary


@dataclass(frozen=True, slots=True)
class PresenceChange:
    """One line of the join/leave log."""

    at: float
    channel: str
    key: str
    action: str  # JOIN | LEAVE
    meta: str  # summary of the meta that joined or the last one that left


class PresenceRoster:
    """Per-channel presence rosters with a bounded join/leave log."""

    def __init__(
        self,
        max_channels: int = 100,
        max_keys: int = 10_000,
        max_metas: int = 64,
        log_size: int = 2_000,
    ) -> None:
        self.max_channels = int(max_channels)
        self.max_keys = int(max_keys)
        self.max_metas = int(max_metas)
        self.log: deque[PresenceChange] = deque(maxlen=int(log_size))
        self._channels: OrderedDict[str, OrderedDict[str, Member]] = OrderedDict()
        self.evicted_channels = 0
        self.evicted_keys = 0
        self.evicted_metas = 0
        self.malformed = 0

    def clear(self) -> None:
        self._channels.clear()
        self.log.clear()
        self.evicted_channels = self.evicted_keys = self.evicted_metas = self.malformed = 0

    # ---- applying wire messages --------------------------------------------------------------

    def apply(self, event: Event) -> bool:
        """Apply a `presence` Event; False (counted as malformed) if its payload is unusable."""
        payload = event.payload
        if event.event == "presence_state":
            if not isinstance(payload, dict):
                self.malformed += 1
                return False
            self.apply_state(event.channel, payload, event.received_at)
            return True
        if event.event == "presence_diff":
            joins = payload.get("joins") if isinstance(payload, dict) else None
            leaves = payload.get("leaves") if isinstance(payload, dict) else None
            if not isinstance(joins or {}, dict) or not isinstance(leaves or {}, dict):
                self.malformed += 1
                return False
            self.apply_diff(event.channel, joins or {}, leaves or {}, event.received_at)
            return True
        self.malformed += 1
        return False

    def apply_state(self, channel: str, state: Mapping[str, Any], at: float) -> None:
        """Replace `channel`'s roster with `state`, logging only keys that really came or went."""
        members = self._channel(channel)
        seen: set[str] = set()
        for key, entry in state.items():
            metas = self._metas_of(entry)
            if metas is None:
                continue
            key = str(key)
            seen.add(key)
            member = members.get(key)
            if member is None:
                if not metas:
                    continue
                self._add_member(channel, members, key, metas, at)
            else:
                if not metas:
                    seen.discard(key)
                    continue
                member.metas = metas
                member.updated_at = at
                members.move_to_end(key)
        for key in [k for k in members if k not in seen]:
            gone = members.pop(key)
            self._log(at, channel, key, LEAVE, gone.latest_meta)

    def apply_diff(
        self, channel: str, joins: Mapping[str, Any], leaves: Mapping[str, Any], at: float
    ) -> None:
        """Apply joins then leaves, as the clients do, so an update (leave+join) logs nothing."""
        members = self._channel(channel)
        for key, entry in joins.items():
            metas = self._metas_of(entry)
            if not metas:
                continue
            key = str(key)
            member = members.get(key)
            if member is None:
                self._add_member(channel, members, key, metas, at)
                continue
            for ref, meta in metas.items():
                member.metas.pop(ref, None)  # an equal ref is replaced and becomes the newest
                member.metas[ref] = meta
            self._trim_metas(member)
            member.updated_at = at
            members.move_to_end(key)
        for key, entry in leaves.items():
            key = str(key)
            member = members.get(key)
            metas = self._metas_of(entry)
            if member is None or metas is None:
                continue
            last = member.latest_meta
            for ref in metas:
                member.metas.pop(ref, None)
            member.updated_at = at
            if not member.metas:
                del members[key]
                self._log(at, channel, key, LEAVE, last)

    # ---- internals ------------------------------------------------------------------------

    def _channel(self, channel: str) -> OrderedDict[str, Member]:
        members = self._channels.get(channel)
        if members is None:
            if len(self._channels) >= self.max_channels:
                self._channels.popitem(last=False)
                self.evicted_channels += 1
            members = self._channels[channel] = OrderedDict()
        else:
            self._channels.move_to_end(channel)
        return members

    def _metas_of(self, entry: Any) -> dict[str, dict[str, Any]] | None:
        """`{"metas": [...]}` to {phx_ref: meta}; None (and counted) when not that shape."""
        metas = entry.get("metas") if isinstance(entry, dict) else None
        if not isinstance(metas, list):
            self.malformed += 1
            return None
        out: dict[str, dict[str, Any]] = {}
        for meta in metas:
            ref = meta.get("phx_ref") if isinstance(meta, dict) else None
            if ref is None:
                self.malformed += 1
                continue
            out.pop(str(ref), None)
            out[str(ref)] = meta
        return out

    def _add_member(
        self,
        channel: str,
        members: OrderedDict[str, Member],
        key: str,
        metas: dict[str, dict[str, Any]],
        at: float,
    ) -> None:
        if len(members) >= self.max_keys:
            members.popitem(last=False)
            self.evicted_keys += 1
        member = Member(key, at, at, metas)
        self._trim_metas(member)
        members[key] = member
        self._log(at, channel, key, JOIN, member.latest_meta)

    def _trim_metas(self, member: Member) -> None:
        while len(member.metas) > self.max_metas:
            del member.metas[next(iter(member.metas))]
            self.evicted_metas += 1

    def _log(self, at: float, channel: str, key: str, action: str, meta: Mapping | None) -> None:
        self.log.append(PresenceChange(at, channel, key, action, meta_summary(meta)))

    # ---- reading ---------------------------------------------------------------------------

    def channels(self) -> list[str]:
        return list(self._channels)

    def count(self, channel: str) -> int:
        """Members (distinct keys) on a channel: what "N online" should mean."""
        members = self._channels.get(channel)
        return len(members) if members is not None else 0

    def counts(self) -> dict[str, int]:
        return {channel: len(members) for channel, members in self._channels.items()}

    def members(self, channel: str) -> list[Member]:
        return list(self._channels.get(channel, {}).values())

    def iter_members(self) -> Iterator[tuple[str, Member]]:
        for channel, members in self._channels.items():
            for member in members.values():
                yield channel, member

    def stats(self) -> dict[str, int]:
        return {
            "channels": len(self._channels),
            "members": sum(len(m) for m in self._channels.values()),
            "evicted_channels": self.evicted_channels,
            "evicted_keys": self.evicted_keys,
            "evicted_metas": self.evicted_metas,
            "malformed": self.malformed,
        }
