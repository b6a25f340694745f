"""Health means the watched channels, not only the socket.

A socket can be connected while every channel on it is refused (an expired token, a policy, a
quota): the monitor would then say "connected, 100 % up" about a system that delivers nothing.
Here a moment is healthy when the socket is connected **and** every watched channel is
`SUBSCRIBED`; a channel's down spell shorter than `GRACE_S` is forgiven (every join takes a round
trip, and a refused join elsewhere on the socket holds the others for 5 s, reference §13.1.6).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from feeds.events import CONNECTED, StatusChange

GRACE_S = 10.0

DownSpan = tuple[str, float, float | None]  # (channel, start, end or None while it lasts)


def socket_down_spans(
    timeline: Sequence[StatusChange], start: float, end: float
) -> list[tuple[float, float]]:
    """The parts of [start, end] the socket was not connected (before the first change too)."""
    spans: list[tuple[float, float]] = []
    cursor = start
    for i, change in enumerate(timeline):
        if change.status != CONNECTED:
            continue
        seg_end = timeline[i + 1].at if i + 1 < len(timeline) else end
        lo, hi = max(change.at, start), min(seg_end, end)
        if hi <= lo:
            continue
        if lo > cursor:
            spans.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < end:
        spans.append((cursor, end))
    return spans


def channel_down_spans(
    downs: Iterable[DownSpan], start: float, end: float, grace: float = GRACE_S
) -> list[tuple[float, float]]:
    """Channels' down spells longer than `grace`, clipped to [start, end]."""
    spans = []
    for _, lo, hi in downs:
        stop = end if hi is None else hi
        if stop - lo <= grace:
            continue
        lo, stop = max(lo, start), min(stop, end)
        if stop > lo:
            spans.append((lo, stop))
    return spans


def union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    total, cursor = 0.0, -math.inf
    for lo, hi in sorted(spans):
        if hi <= cursor:
            continue
        total += hi - max(lo, cursor)
        cursor = hi
    return total


def healthy_fraction(
    timeline: Sequence[StatusChange],
    downs: Iterable[DownSpan],
    start: float,
    end: float,
    grace: float = GRACE_S,
) -> float:
    """Fraction of [start, end] with the socket connected and every watched channel subscribed
    (down spells within `grace` forgiven); NaN before any status was recorded."""
    if not timeline or not end > start:
        return math.nan
    spans = socket_down_spans(timeline, start, end) + channel_down_spans(downs, start, end, grace)
    return max(0.0, 1.0 - union_seconds(spans) / (end - start))


def channels_down(
    downs: Iterable[DownSpan], now: float, longer_than: float = GRACE_S
) -> list[tuple[str, float]]:
    """(channel, since) for every channel down now for longer than `longer_than`."""
    return [(ch, lo) for ch, lo, hi in downs if hi is None and now - lo > longer_than]
