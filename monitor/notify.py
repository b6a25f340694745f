"""Alert delivery by webhook, from the monitor itself (`[notify]`, `monitor.notify_settings`).

For teams without Alertmanager. Three parts, each testable on its own:

* `AlertTracker`: a pure state machine over lists of `metrics.alerts.Check`, fed a clock by its
  caller. It turns "this rule is at `alert` now" (true on every evaluation) into notices a person
  wants: one `firing` when a rule has been at alert for `for_s`, a reminder every `repeat_s`
  while it lasts, one `resolved` (with how long it lasted) when it is back to ok or warn. Keyed
  by (project, rule). `nodata` holds the state: no data is not a recovery, nor a breach.
* `Webhook`: one receiver with its own bounded queue and sender task, so a receiver that is down
  delays only its own notices. Failed attempts are retried with exponential backoff and jitter
  up to a cap; a notice older than `max_age_s` is dropped and counted, as is the oldest notice
  when the queue is full. An outage is logged once when it starts and once when it ends, not on
  every retry; the log shows a webhook as scheme and host only (the URL is the secret).
* `Notifier`: one per watched project. It takes the project's name, a callable that returns the
  current checks, and the `[notify]` config, evaluates on its own asyncio task every
  `evaluate_s` and hands notices to the webhooks. Nothing here runs on the ingest's path: ingest
  never waits for a receiver, and a stuck receiver only fills its own queue.

Counters (`families`, added to /metrics by `monitor.prometheus`): notices sent, failed attempts,
notices dropped by reason, notices queued, rules firing. State is in memory: a restarted monitor
fires again for a breach that is still on, and stopping the monitor never sends "resolved" (our
own shutdown is not the watched service's recovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from metrics.alerts import Check
from metrics.shared import SharedSnapshots

from .notify_settings import NotifyConfig, WebhookConfig, safe_url

log = logging.getLogger("monitor.notify")

FIRING, RESOLVED = "firing", "resolved"
DROP_REASONS = ("queue_full", "expired", "rejected")
PREFIX = "realtime_monitor_notify_"
SOURCE = "realtime-monitor"


# --- notices and the state machine -------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One message to deliver. `value`, `level` and `message` are the check's at `at` (for a
    resolved notice: the level it recovered to); `started_at` is the first evaluation at alert."""

    status: str  # firing | resolved
    project: str
    rule: str
    level: str
    value: float
    threshold: float
    message: str
    started_at: float  # epoch seconds
    at: float  # epoch seconds
    repeat: int = 0  # 0: the first firing; n: the n-th reminder of a rule still firing

    @property
    def id(self) -> str:
        """The same for every attempt to deliver this notice and different for any other: a
        receiver that gave no answer in time may still have taken it, and the retry then
        arrives twice; this lets the receiver tell."""
        key = f"{self.project}\0{self.rule}\0{self.started_at!r}\0{self.status}\0{self.repeat}"
        return hashlib.sha1(key.encode()).hexdigest()[:16]

    @property
    def duration_s(self) -> float:
        return max(0.0, self.at - self.started_at)

    def to_dict(self) -> dict[str, Any]:
        """The generic JSON body: flat, every field named, times in UTC ISO 8601."""
        return {
            "source": SOURCE,
            "id": self.id,
            "status": self.status,
            "repeat": self.repeat,
            "project": self.project,
            "rule": self.rule,
            "level": self.level,
            "value": None if math.isnan(self.value) else self.value,
            "threshold": self.threshold,
            "message": self.message,
            "started_at": iso(self.started_at),
            "at": iso(self.at),
            "duration_s": round(self.duration_s, 3),
        }


@dataclass
class _Active:
    """A rule at alert: pending until `fired_at` is set."""

    since: float
    check: Check
    fired_at: float | None = None
    last_sent: float = 0.0
    repeats: int = 0


class AlertTracker:
    """Checks in, notices out (module doc). Pure: the caller passes `now`, so a test can drive
    hours of evaluations with a list and a number."""

    def __init__(self, project: str, for_s: float, repeat_s: float) -> None:
        self.project = project
        self.for_s = for_s
        self.repeat_s = repeat_s
        self._active: dict[tuple[str, str], _Active] = {}

    @property
    def firing(self) -> list[str]:
        """The rules that have fired and not resolved."""
        # a copy first: /metrics reads this from its own thread
        return [rule for (_p, rule), a in list(self._active.items()) if a.fired_at is not None]

    def update(self, checks: Iterable[Check], now: float) -> list[Notice]:
        out: list[Notice] = []
        for check in checks:
            key = (self.project, check.name)
            active = self._active.get(key)
            if check.level == "alert":
                if active is None:
                    active = self._active[key] = _Active(since=now, check=check)
                active.check = check
                if active.fired_at is None:
                    if now - active.since >= self.for_s:
                        active.fired_at = active.last_sent = now
                        out.append(self._notice(FIRING, check, active, now))
                elif self.repeat_s and now - active.last_sent >= self.repeat_s:
                    active.last_sent = now
                    active.repeats += 1
                    out.append(self._notice(FIRING, check, active, now))
            elif check.level == "nodata":
                if active is not None and active.fired_at is None:
                    del self._active[key]  # a pending rule needs alert after alert
            elif active is not None:  # ok or warn: out of alert
                del self._active[key]
                if active.fired_at is not None:
                    out.append(self._notice(RESOLVED, check, active, now))
        return out

    def _notice(self, status: str, check: Check, active: _Active, now: float) -> Notice:
        return Notice(
            status=status,
            project=self.project,
            rule=check.name,
            level=check.level,
            value=check.value,
            threshold=check.threshold,
            message=check.message,
            started_at=active.since,
            at=now,
            repeat=active.repeats if status == FIRING else 0,
        )


# --- bodies -------------------------------------------------------------------------------------


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def human_duration(seconds: float) -> str:
    """20 s, 4 min 3 s, 2 h 5 min: how long, in the words a message reader skims."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    h, m = s // 3600, (s % 3600) // 60
    return f"{h} h {m} min" if m else f"{h} h"


def _mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def headline(n: Notice) -> str:
    """One line for chat and logs: what, where, since when."""
    if n.status == RESOLVED:
        return f"RESOLVED {n.project} · {n.rule} after {human_duration(n.duration_s)}: {n.message}"
    still = f" (still firing, {human_duration(n.duration_s)})" if n.repeat else ""
    return f"FIRING {n.project} · {n.rule}{still}: {n.message}"


def slack_body(n: Notice) -> dict[str, Any]:
    """`text` (the notification and fallback) plus blocks: the headline, then the numbers."""
    icon = ":white_check_mark:" if n.status == RESOLVED else ":rotating_light:"
    value = "no data" if math.isnan(n.value) else f"{n.value:.4g}"
    facts = [
        f"project *{_mrkdwn(n.project)}*",
        f"rule `{_mrkdwn(n.rule)}`",
        f"level {n.level}",
        f"value {value} (threshold {n.threshold:g})",
        f"since {iso(n.started_at)}",
    ]
    if n.status == RESOLVED:
        facts.append(f"lasted {human_duration(n.duration_s)}")
    return {
        "text": f"{icon} {_mrkdwn(headline(n))}",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{icon} *{_mrkdwn(headline(n))}*"},
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}]},
        ],
    }


def body(n: Notice, fmt: str) -> bytes:
    return orjson.dumps(slack_body(n) if fmt == "slack" else n.to_dict())


# --- delivery -----------------------------------------------------------------------------------


def backoff(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """The wait after failed attempt number `attempt` (0-based): initial·2^attempt up to `cap`,
    then "equal jitter" (half fixed, half random), so many monitors that lost one receiver do not
    retry in step, and no wait is shorter than half its step."""
    step = min(cap, initial * 2 ** min(attempt, 62))
    return step / 2 + rng.uniform(0, step / 2)


def _reason(exc: BaseException, url: str) -> str:
    """An exception in a log's words, with the webhook's URL (and path) cut out: aiohttp
    quotes URLs in some messages."""
    text = str(exc)
    path = url.split("://", 1)[-1].partition("/")[2]
    for secret in (url, f"/{path}" if path else ""):
        if secret:
            text = text.replace(secret, "/…")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def retry_after(resp: aiohttp.ClientResponse) -> float:
    """A 429's or 503's Retry-After in seconds (the delay form; an HTTP date counts as 0)."""
    if resp.status not in (429, 503):
        return 0.0
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0


class Webhook:
    """One receiver: a bounded queue, one sender task, and its counters (module doc)."""

    def __init__(
        self,
        config: WebhookConfig,
        name: str,
        notify: NotifyConfig,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.name = name
        self.notify = notify
        self.where = safe_url(config.url)
        self.rng = rng or random.Random()
        self.clock = clock
        self.queue: deque[tuple[Notice, float]] = deque()
        self.busy = False  # a notice is being delivered (not in `queue`)
        self.sent = 0
        self.failed_attempts = 0
        self.dropped: dict[str, int] = dict.fromkeys(DROP_REASONS, 0)
        self._wake = asyncio.Event()
        self._down_since: float | None = None  # monotonic start of the current outage
        self._down_failures = 0
        self._logged_drops: set[str] = set()

    @property
    def pending(self) -> int:
        return len(self.queue) + int(self.busy)

    def put(self, notice: Notice) -> None:
        """Queue a notice (never waits); a full queue loses its oldest."""
        if len(self.queue) >= self.notify.queue_size:
            old, _ = self.queue.popleft()
            self._drop("queue_full", old)
        self.queue.append((notice, self.clock()))
        self._wake.set()

    async def run(self, session: aiohttp.ClientSession) -> None:
        """The sender task: one notice at a time, in order, each until sent or dropped."""
        while True:
            while not self.queue:
                self._wake.clear()
                await self._wake.wait()
            notice, queued_at = self.queue.popleft()
            self.busy = True
            try:
                await self._deliver(session, notice, queued_at)
            finally:
                self.busy = False

    async def _deliver(self, session: aiohttp.ClientSession, notice: Notice, queued: float) -> None:
        data = body(notice, self.config.format)
        headers = {"Content-Type": "application/json", **self.config.headers}
        attempt = 0
        while True:
            if self.clock() - queued > self.notify.max_age_s:
                self._drop("expired", notice)
                return
            status, reason, asked = await self._post(session, data, headers)
            if status is not None and 200 <= status < 300:
                self._delivered(notice)
                return
            self.failed_attempts += 1
            self._failing(reason)
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                self._drop("rejected", notice)  # the receiver said no: retrying will not help
                return
            wait = backoff(attempt, self.notify.retry_initial_s, self.notify.retry_max_s, self.rng)
            # a receiver that says when to come back (Slack's 429) is heeded, up to the cap
            wait = max(wait, min(asked, self.notify.retry_max_s))
            if self.clock() + wait - queued > self.notify.max_age_s:
                self._drop("expired", notice)
                return
            await asyncio.sleep(wait)
            attempt += 1

    async def _post(
        self, session: aiohttp.ClientSession, data: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str, float]:
        """(HTTP status or None, why it failed in a log's words, the seconds of a 429's or
        503's Retry-After or 0)."""
        try:
            async with session.post(
                self.config.url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            ) as resp:
                await resp.read()
                return resp.status, f"HTTP {resp.status}", retry_after(resp)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            return None, f"no answer within {self.config.timeout_s:g} s", 0.0
        except Exception as exc:  # any failure is a failed attempt; the sender must live on
            return None, _reason(exc, self.config.url), 0.0

    def _failing(self, reason: str) -> None:
        self._down_failures += 1
        if self._down_since is None:
            self._down_since = self.clock()
            log.warning(
                "webhook %s (%s) is failing (%s); retrying with backoff up to %g s, notices "
                "older than %g s are dropped",
                self.name,
                self.where,
                reason,
                self.notify.retry_max_s,
                self.notify.max_age_s,
            )

    def _delivered(self, notice: Notice) -> None:
        self.sent += 1
        if self._down_since is not None:
            log.warning(
                "webhook %s (%s) is delivering again after %d failed attempt(s) over %.1f s",
                self.name,
                self.where,
                self._down_failures,
                self.clock() - self._down_since,
            )
            self._down_since, self._down_failures = None, 0
            self._logged_drops.clear()
        log.info(
            "sent %s %s %s to webhook %s", notice.status, notice.project, notice.rule, self.name
        )

    def _drop(self, why: str, notice: Notice) -> None:
        self.dropped[why] += 1
        if why not in self._logged_drops:  # once per outage and reason; the counter has the rest
            self._logged_drops.add(why)
            log.warning(
                "webhook %s (%s) dropped the %s notice of %s %s (%s); counted in %sdropped_total",
                self.name,
                self.where,
                notice.status,
                notice.project,
                notice.rule,
                why.replace("_", " "),
                PREFIX,
            )


def webhook_names(hooks: list[WebhookConfig]) -> list[str]:
    """Each webhook's label: its `name`, else its host, made unique with #2, #3..."""
    names: list[str] = []
    for hook in hooks:
        base = hook.name or (safe_url(hook.url).split("://", 1)[-1])
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}#{n}"
        names.append(name)
    return names


# --- the notifier -------------------------------------------------------------------------------


def shared_checks(shared: SharedSnapshots) -> Callable[[], list[Check]]:
    """The checks of a `SharedSnapshots`: the alert rules and the quota checks on its newest
    snapshot, the same ones the tiles and the badge show (a dashboard tick's snapshot is reused)."""
    return lambda: list(shared.checks(shared.latest()).values())


class Notifier:
    """One project's alert delivery (module doc). With no webhook configured it does nothing."""

    def __init__(
        self,
        project: str,
        checks: Callable[[], Iterable[Check]],
        config: NotifyConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.project = project
        self.checks = checks
        self.config = config
        self.clock = clock
        self.tracker = AlertTracker(project, config.for_s, config.repeat_s)
        self.webhooks = [
            Webhook(hook, name, config)
            for hook, name in zip(config.webhooks, webhook_names(config.webhooks), strict=True)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._eval_failing = False

    @property
    def enabled(self) -> bool:
        return bool(self.webhooks)

    def start(self) -> None:
        """Start evaluating and delivering on the running loop (once; nothing without webhooks)."""
        if not self.enabled or self._tasks:
            return
        self._session = aiohttp.ClientSession()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._evaluate_forever(), name="notify-evaluate")]
        self._tasks += [
            loop.create_task(w.run(self._session), name=f"notify-{w.name}") for w in self.webhooks
        ]
        log.info(
            "alert delivery for %s to %s",
            self.project,
            ", ".join(f"{w.name} ({w.where}, {w.config.format})" for w in self.webhooks),
        )

    async def stop(self, flush_s: float = 2.0) -> None:
        """Stop evaluating; give queued notices up to `flush_s` to go out, then stop senders."""
        if not self._tasks:
            return
        evaluator, senders = self._tasks[0], self._tasks[1:]
        evaluator.cancel()
        deadline = time.monotonic() + flush_s
        while any(w.pending for w in self.webhooks) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in senders:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    def evaluate(self, now: float | None = None) -> list[Notice]:
        """One evaluation: the current checks through the tracker, notices to every webhook."""
        notices = self.tracker.update(self.checks(), self.clock() if now is None else now)
        for n in notices:
            (log.warning if n.status == FIRING and not n.repeat else log.info)(headline(n))
            for w in self.webhooks:
                w.put(n)
        return notices

    async def _evaluate_forever(self) -> None:
        while True:
            try:
                self.evaluate()
                if self._eval_failing:
                    log.info("alert evaluation for %s works again", self.project)
                    self._eval_failing = False
            except Exception:
                if not self._eval_failing:  # once, not every evaluate_s
                    log.exception("alert evaluation for %s failed; retrying", self.project)
                    self._eval_failing = True
            await asyncio.sleep(self.config.evaluate_s)


def families(notifiers: Iterable[Notifier]) -> Iterator[Metric]:
    """The delivery counters of every notifier of a process, one family per name (a scrape
    must not repeat a family, so several projects' notifiers are merged here). Nothing at all
    when no webhook is configured: /metrics stays as it was for those who do not use it."""
    notifiers = [n for n in notifiers if n.enabled]
    if not notifiers:
        return
    name = PREFIX.__add__
    sent = CounterMetricFamily(
        name("sent"), "Alert notices a webhook accepted (2xx).", labels=["project", "webhook"]
    )
    failed = CounterMetricFamily(
        name("failed_attempts"),
        "Delivery attempts that failed (no answer, refused, or a non-2xx status).",
        labels=["project", "webhook"],
    )
    dropped = CounterMetricFamily(
        name("dropped"),
        "Alert notices given up: queue_full (the oldest went), expired (undelivered after "
        "max_age_s), rejected (a 4xx other than 408 and 429).",
        labels=["project", "webhook", "reason"],
    )
    queued = GaugeMetricFamily(
        name("queued"), "Alert notices waiting or being delivered.", labels=["project", "webhook"]
    )
    firing = GaugeMetricFamily(
        name("firing"), "Alert rules firing (fired and not resolved).", labels=["project"]
    )
    for notifier in notifiers:
        p = notifier.project
        for w in notifier.webhooks:
            sent.add_metric([p, w.name], w.sent)
            failed.add_metric([p, w.name], w.failed_attempts)
            for why, count in list(w.dropped.items()):
                dropped.add_metric([p, w.name, why], count)
            queued.add_metric([p, w.name], w.pending)
        firing.add_metric([p], len(notifier.tracker.firing))
    yield from (sent, failed, dropped, queued, firing)
