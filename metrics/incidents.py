"""Incidents: the feed's problems folded into what an operator reads, bounded for weeks.

A `Problem` (feeds.problems) is one refusal, close or error. An incident is one class of trouble on
one channel (or the socket) from the first problem until it recovers:

* repeats while it is open add to its count (realtime-py's rejoin loop on a refused channel is one
  incident with a count, not hundreds), and the latest words and action replace the earlier ones;
* it closes when the channel is `SUBSCRIBED` again (for a socket incident: connected again; for a
  rejected postgres_changes binding: the server's next "Subscribed to PostgreSQL"; for a failing
  token refresh: the feed's `resolved` problem once a refresh works);
* a recurrence within `FLAP_S` of closing reopens the same incident (a channel closed every minute
  for its message rate is one flapping incident).

Each incident carries an explanation and the fix in one sentence, written for its class with the
channel, the role and the binding filled in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from feeds import problems as pb
from feeds.events import CONNECTED, SUBSCRIBED, Event, StatusChange, SubscriptionChange
from feeds.problems import Problem

FLAP_S = 120.0  # a recurrence this soon after recovery reopens the incident


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    channel: str  # the sub-topic, or "" for the socket
    cls: str
    opened_at: float
    last_at: float  # the latest occurrence
    closed_at: float | None
    count: int  # occurrences
    message: str  # the server's latest words
    first_message: str
    action: str  # what the monitor did, latest
    explanation: str
    fix: str

    @property
    def open(self) -> bool:
        return self.closed_at is None

    @property
    def where(self) -> str:
        return self.channel or "socket"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.where,
            "class": self.cls,
            "open": self.open,
            "opened_at": self.opened_at,
            "last_at": self.last_at,
            "closed_at": self.closed_at,
            "count": self.count,
            "message": self.message,
            "first_message": self.first_message,
            "action": self.action,
            "explanation": self.explanation,
            "fix": self.fix,
        }


class IncidentLog:
    """Open incidents by (channel, class) and the recently closed ones, both bounded."""

    def __init__(self, max_open: int = 1_000, max_closed: int = 500) -> None:
        self.max_open = max_open
        self._open: dict[tuple[str, str], Incident] = {}
        self._closed: deque[Incident] = deque(maxlen=max_closed)
        self._next_id = 1
        self.total = 0  # incidents ever opened (reopened ones count once)
        self.changes = 0  # bumps on every change, for the store's pulse

    def record(self, problem: Problem) -> None:
        key = (problem.channel, problem.cls)
        current = self._open.get(key)
        if problem.resolved:
            if current is not None:
                self._close(key, problem.at)
            return
        explanation, fix = explain(problem)
        if current is not None:
            self._open[key] = replace(
                current,
                last_at=problem.at,
                count=current.count + 1,
                message=problem.message,
                action=problem.action,
                explanation=explanation,
                fix=fix,
            )
        elif (recent := self._recently_closed(key, problem.at)) is not None:
            self._closed.remove(recent)
            self._open[key] = replace(
                recent,
                last_at=problem.at,
                closed_at=None,
                count=recent.count + 1,
                message=problem.message,
                action=problem.action,
            )
        else:
            if len(self._open) >= self.max_open:
                oldest = min(self._open, key=lambda k: self._open[k].last_at)
                self._close(oldest, problem.at)
            self._open[key] = Incident(
                self._next_id,
                problem.channel,
                problem.cls,
                problem.at,
                problem.at,
                None,
                1,
                problem.message,
                problem.message,
                problem.action,
                explanation,
                fix,
            )
            self._next_id += 1
            self.total += 1
        self.changes += 1

    def _recently_closed(self, key: tuple[str, str], at: float) -> Incident | None:
        for inc in reversed(self._closed):
            if (inc.channel, inc.cls) == key:
                return inc if inc.closed_at is not None and at - inc.closed_at <= FLAP_S else None
        return None

    def _close(self, key: tuple[str, str], at: float) -> None:
        inc = self._open.pop(key)
        self._closed.append(replace(inc, closed_at=max(at, inc.last_at)))
        self.changes += 1

    def recover_channel(self, change: SubscriptionChange) -> None:
        """A channel subscribed again: its incidents close, except a rejected binding's."""
        if change.state != SUBSCRIBED:
            return
        for key in [k for k in self._open if k[0] == change.channel]:
            if key[1] != pb.SUBSCRIPTION_INVALID:
                self._close(key, change.at)

    def recover_socket(self, change: StatusChange) -> None:
        if change.status != CONNECTED:
            return
        for key in [k for k in self._open if k[0] == pb.SOCKET]:
            self._close(key, change.at)

    def recover_bindings(self, event: Event) -> None:
        """ "Subscribed to PostgreSQL" on a channel: its postgres_changes work again."""
        if event.kind != "system" or event.event != "ok":
            return
        if event.payload.get("extension") != "postgres_changes":
            return
        key = (event.channel, pb.SUBSCRIPTION_INVALID)
        if key in self._open:
            self._close(key, event.received_at)

    def items(self) -> tuple[Incident, ...]:
        """Open incidents (latest first), then the closed ones (latest first)."""
        opened = sorted(self._open.values(), key=lambda i: i.last_at, reverse=True)
        return tuple(opened) + tuple(reversed(self._closed))


# --- the words an operator reads ---------------------------------------------------------------

_WHAT: dict[str, str] = {
    pb.QUOTA_MESSAGES: "The project sent more messages per second than its plan allows "
    "(a 60 s average); the server closes every channel that receives traffic.",
    pb.QUOTA_JOINS: "Clients joined channels faster than the plan's joins per second; the server "
    "refuses the join and closes the socket.",
    pb.QUOTA_CONNECTIONS: "The project has as many concurrent connections as its plan allows; "
    "new sockets and joins are refused.",
    pb.QUOTA_CHANNELS: "This connection asked for more channels than one socket may join (100).",
    pb.QUOTA_PRESENCE: "Presence traffic went over its limit (the plan's presence messages per "
    "second, or 5 presence calls per channel per 30 s); the server closed the channel.",
    pb.QUOTA_PAYLOAD: "A message was larger than the plan's payload limit and was refused.",
    pb.AUTH_EXPIRED: "The token the channel joined with has expired, so the server closed the "
    "channel and refuses to join it again with that token.",
    pb.AUTH_INVALID: "The server does not accept the token: it is malformed, signed with another "
    "secret, or lacks the `role` and `exp` claims.",
    pb.POLICY_DENIED: "Row level security refused the read: {policy}.",
    pb.SUBSCRIPTION_INVALID: "The server rejected the channel's postgres_changes binding{binding};"
    " no row changes arrive on it (broadcast and presence still do).",
    pb.SERVER_RESTART: "The Realtime server restarted or drained its sockets (a deploy or a "
    "tenant restart); clients reconnect.",
    pb.SERVER_IDLE_CLOSE: "The server closed a socket it had heard nothing from (Phoenix closes a"
    " socket after 60 s without a message or heartbeat).",
    pb.SERVER_UNAVAILABLE: "Realtime could not reach the project's database or the project is "
    "not available; joins fail until it is.",
    pb.SERVER_CRASH: "The server's process for this channel crashed (phx_error); clients rejoin.",
    pb.NETWORK: "The connection to the server failed or went silent (no close from the server).",
    pb.UNKNOWN: "The server reported an error this monitor does not know.",
}

_FIX: dict[str, str] = {
    pb.QUOTA_MESSAGES: "Raise the plan's messages per second or reduce broadcast fan-out "
    "(fewer subscribers per topic, batched or throttled sends).",
    pb.QUOTA_JOINS: "Raise the plan's joins per second or spread reconnects out (jittered "
    "backoff, fewer channels per client).",
    pb.QUOTA_CONNECTIONS: "Raise the plan's concurrent connections or share one socket per "
    "client across its channels.",
    pb.QUOTA_CHANNELS: "Watch fewer channels on one connection: split them over two monitors.",
    pb.QUOTA_PRESENCE: "Track presence less often (debounce track calls) or raise the plan's "
    "presence messages per second.",
    pb.QUOTA_PAYLOAD: "Send smaller payloads (ids instead of rows) or raise the plan.",
    pb.AUTH_EXPIRED: "Configure [auth] refresh (a GoTrue refresh token, a command, or the service"
    " role key) so the monitor renews the token before it expires.",
    pb.AUTH_INVALID: "Replace the token: mint it with the project's JWT secret and give it `role`"
    " and `exp` claims.",
    pb.POLICY_DENIED: "Add or fix a select policy on realtime.messages for {role} on {topic}, or"
    " watch the channel with a role that may read it.",
    pb.SUBSCRIPTION_INVALID: "Fix the binding in the watch config (the column, the value's type, "
    "the operator) or give the table a primary key.",
    pb.SERVER_RESTART: "Nothing to do if it recovers within seconds; if it repeats, check the "
    "project's status page.",
    pb.SERVER_IDLE_CLOSE: "Send heartbeats at least every 25 s (the official clients do); a "
    "client that is paused or blocked is closed.",
    pb.SERVER_UNAVAILABLE: "Check the project's database (connections, pool size, whether it is "
    "paused) and Realtime's settings in the dashboard.",
    pb.SERVER_CRASH: "If it repeats, report it to Supabase with the channel and the time.",
    pb.NETWORK: "Check the network path to the project (DNS, proxy, firewall); the monitor "
    "reconnects on its own.",
    pb.UNKNOWN: "Read the server's words below; if they persist, report them.",
}


def explain(problem: Problem) -> tuple[str, str]:
    """The explanation and the fix for a problem's class, with its particulars filled in."""
    d = problem.detail
    topic = f"topic {problem.channel!r}" if problem.channel else "the topic"
    role = f"role {d['role']!r}" if d.get("role") else "the monitor's role"
    binding = f" ({d['binding']})" if d.get("binding") else ""
    policy = (
        f"the policy on realtime.messages does not allow {role} to read {topic}"
        if "realtime.messages" in _policy_target(problem)
        else f"{role} may not read the rows or columns of {topic}"
    )
    fill = {"policy": policy, "role": role, "topic": topic, "binding": binding}
    what = _WHAT.get(problem.cls, _WHAT[pb.UNKNOWN]).format(**fill)
    fix = _FIX.get(problem.cls, _FIX[pb.UNKNOWN]).format(**fill)
    if problem.cls == pb.POLICY_DENIED and _policy_target(problem) == "table":
        fix = (
            f"Grant select on the table's primary key and columns to {role}, or watch "
            "with a role that may read them."
        )
    return what, fix


def _policy_target(problem: Problem) -> str:
    """Private-channel refusals concern realtime.messages; `Error 401` on a change concerns the
    table's own privileges."""
    return "table" if "Error 401" in problem.message else "realtime.messages"
