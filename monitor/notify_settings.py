"""The `[notify]` section: alert delivery by webhook from the monitor itself (`monitor.notify`).

For teams without Alertmanager. The section lives in the composition root because delivery is
an operational concern of the running process, not of the metrics (which only judge) nor of the
feed. Like every section it derives from `feeds.settings.Section`: unknown keys are refused and
values are strict, so a misspelt `repeat_s` cannot silently page every minute.

Webhook URLs are secrets (a Slack incoming-webhook URL is its own credential), so every message
here that quotes one shows only its scheme and host (`safe_url`), even an error about a bad one.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from feeds.settings import NonNegFloat, Problems, Section


def safe_url(url: str) -> str:
    """scheme://host[:port] of `url`: what a log line or an error may show of a webhook."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port, for instance
        return "<unparseable URL>"
    if not parts.scheme or not host:
        return "<not a URL>"
    return f"{parts.scheme}://{host}{port}"


class WebhookConfig(Section):
    """One receiver. `format = "json"` posts the notice as a flat JSON object (for your own
    endpoint, n8n, a ticket system...); `"slack"` posts `{"text", "blocks"}`, which Slack's
    incoming webhooks take (Mattermost and Discord's `/slack` endpoint read at least the text)."""

    url: str = Field("", validate_default=True)  # write "${SLACK_WEBHOOK_URL}": it is a secret
    format: Literal["json", "slack"] = "json"
    name: str = ""  # the `webhook` label in /metrics and the log; default: the URL's host
    headers: dict[str, str] = Field(default_factory=dict)  # e.g. Authorization = "Bearer ${T}"
    timeout_s: float = Field(10.0, gt=0)  # one attempt; a slow receiver is a failed attempt

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if not url:
            raise ValueError(
                'is missing: write the receiver\'s URL, e.g. url = "${SLACK_WEBHOOK_URL}" '
                "(keep it in the environment: the URL is the secret)"
            )
        try:
            parts = urlsplit(url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"must be an http:// or https:// URL with a host, got {safe_url(url)}: write "
                "e.g. https://hooks.slack.com/services/..."
            )
        return url


class NotifyConfig(Section):
    """When to send, how often to repeat, and how hard to retry.

    Rules are evaluated every `evaluate_s` on the same snapshot rules as the tiles and `check`.
    A rule must stay at `alert` for `for_s` before it fires (0 = at the first evaluation), so a
    single bad second does not page; it then fires once, is re-sent every `repeat_s` while it
    lasts (0 = never), and sends one "resolved" when it is back to ok or warn. A rule with no
    data (`nodata`) neither fires nor resolves: silence is not evidence of a recovery.

    A failed delivery is retried after `retry_initial_s`, doubling up to `retry_max_s` (with
    jitter); a notice still undelivered `max_age_s` after it was made is dropped and counted.
    Each webhook has its own queue of `queue_size` notices; when it is full the oldest goes."""

    evaluate_s: float = Field(5.0, gt=0)
    for_s: NonNegFloat = 10.0
    repeat_s: NonNegFloat = 4 * 3600.0
    retry_initial_s: float = Field(1.0, gt=0)
    retry_max_s: float = Field(300.0, gt=0)
    max_age_s: float = Field(3600.0, gt=0)
    queue_size: int = Field(100, ge=1)
    webhooks: list[WebhookConfig] = Field(default_factory=list)

    @field_validator("retry_max_s")
    @classmethod
    def _cap(cls, cap: float, info: ValidationInfo) -> float:
        first = info.data.get("retry_initial_s")
        if first is not None and cap < first:
            raise ValueError(
                f"must be at least retry_initial_s ({first:g}), got {cap:g}: raise it or lower "
                "retry_initial_s"
            )
        return cap

    @field_validator("webhooks")
    @classmethod
    def _names(cls, webhooks: list[WebhookConfig]) -> list[WebhookConfig]:
        """Two receivers with one explicit name would share their counters in /metrics."""
        seen: set[str] = set()
        problems: list[tuple[str, str]] = []
        for i, hook in enumerate(webhooks):
            if hook.name and hook.name in seen:
                problems.append(
                    (f"[{i}].name", f"{hook.name!r} is used twice: give each webhook its own name")
                )
            seen.add(hook.name)
        if problems:
            raise Problems(*problems)
        return webhooks
