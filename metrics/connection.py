"""The socket's status timeline and each channel's subscribe state, bounded for weeks of running.

The timeline is a bounded log of `StatusChange`s. When the oldest change is pushed out, the log
remembers it as the *base* (the state in force at the start of what is retained) and whether the
monitor had connected before it, so uptime and outage maths over what remains stay exact rather
than mistaking an old outage for the start-up connect. The number of reconnects is counted as
changes arrive, so the total survives eviction.

Each channel's down spells (any state but `SUBSCRIBED`) are kept too, the ended ones in a bounded
log, so health can count a refused channel as down (`metrics.health`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from feeds.events import CONNECTED, SUBSCRIBED, StatusChange, SubscriptionChange


@dataclass(slots=True)
class ChannelState:
    """A channel's current subscribe state; `since` is when it entered that state."""

    channel: str
    state: str
    since: float
    error: str | None  # the error of the current state (None once SUBSCRIBED again)
    last_error: str | None  # the most recent error ever reported, kept after recovery
    last_error_at: float | None
    changes: int
    down_since: float | None = None  # when it last stopped being SUBSCRIBED; None while it is


class ConnectionLog:
    """Status timeline + subscription states with bounded histories."""

    def __init__(self, log_size: int = 2_000, max_channels: int = 1_000) -> None:
        self.log_size = int(log_size)
        self.max_channels = int(max_channels)
        self.clear()

    def clear(self) -> None:
        self._timeline: deque[StatusChange] = deque()
        self._base: StatusChange | None = None
        self._connected_before_base = False
        self.ever_connected = False
        self.reconnects_total = 0
        self.first_at: float | None = None
        self.channels: dict[str, ChannelState] = {}
        self.subscription_log: deque[SubscriptionChange] = deque(maxlen=self.log_size)
        self.ended_downs: deque[tuple[str, float, float]] = deque(maxlen=self.log_size)

    # ---- status -----------------------------------------------------------------------------

    def record_status(self, change: StatusChange) -> None:
        previous = self._timeline[-1] if self._timeline else self._base
        if change.status == CONNECTED and (previous is None or previous.status != CONNECTED):
            if self.ever_connected:
                self.reconnects_total += 1
            self.ever_connected = True
        if self.first_at is None:
            self.first_at = change.at
        self._timeline.append(change)
        while len(self._timeline) > self.log_size:
            old = self._timeline.popleft()
            if self._base is not None and self._base.status == CONNECTED:
                self._connected_before_base = True
            self._base = old

    @property
    def current(self) -> StatusChange | None:
        return self._timeline[-1] if self._timeline else self._base

    def current_since(self) -> float | None:
        """When the current status began: the first of the trailing run of equal statuses.

        A "reconnecting" repeated once per attempt is one stretch of reconnecting, not many.
        """
        timeline = self.timeline()
        if not timeline:
            return None
        status = timeline[-1].status
        since = timeline[-1].at
        for change in reversed(timeline):
            if change.status != status:
                break
            since = change.at
        return since

    def timeline(self) -> list[StatusChange]:
        """The retained changes, led by the base (the change in force before them) if evicted."""
        head = [self._base] if self._base is not None else []
        return head + list(self._timeline)

    @property
    def connected_before(self) -> bool:
        """Whether the monitor had connected before the first change `timeline()` returns."""
        return self._connected_before_base

    # ---- subscriptions ----------------------------------------------------------------------

    def record_subscription(self, change: SubscriptionChange) -> None:
        self.subscription_log.append(change)
        st = self.channels.get(change.channel)
        if st is None:
            if len(self.channels) >= self.max_channels:
                oldest = min(self.channels.values(), key=lambda s: s.since)
                del self.channels[oldest.channel]
            st = ChannelState(change.channel, change.state, change.at, None, None, None, 0)
            self.channels[change.channel] = st
            if change.state != SUBSCRIBED:
                st.down_since = change.at
        elif st.state != change.state:
            st.state = change.state
            st.since = change.at
        if change.state == SUBSCRIBED and st.down_since is not None:
            self.ended_downs.append((change.channel, st.down_since, change.at))
            st.down_since = None
        elif change.state != SUBSCRIBED and st.down_since is None:
            st.down_since = change.at
        st.error = change.error
        if change.error:
            st.last_error = change.error
            st.last_error_at = change.at
        st.changes += 1

    def downs(self) -> list[tuple[str, float, float | None]]:
        """Every retained down spell, the ongoing ones last with no end."""
        ongoing = [
            (s.channel, s.down_since, None)
            for s in self.channels.values()
            if s.down_since is not None
        ]
        return [*self.ended_downs, *ongoing]
