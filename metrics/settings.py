"""The config sections metrics owns: alert thresholds, buffer sizes, the live-slot replica,
the plan's quotas.

They are plain models the store and the alert rules read; `monitor.config` stacks them into the
watch config with the other layers' sections, and `monitor.config.store_params` turns [buffers] and
[live_slots] into the `Store`'s parameters. The shared strictness (no unknown keys, real booleans
and numbers) comes from `feeds.settings.Section`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from feeds.settings import NonNegFloat, NonNegInt, Section, schema_field


class AlertsConfig(Section):
    uptime_min: float = 0.99  # fraction of the window connected
    # commit-to-receive p95. Supabase delivers changes in polls of its replication slot (100 ms
    # while busy, 500 ms idle: realtime's replication_poller.ex), so a healthy project's p95 sits
    # near 500 ms; the rule fires well past that, not on every quiet minute.
    latency_p95_ms_max: NonNegFloat = 1000.0
    probe_rtt_p95_ms_max: NonNegFloat = 500.0
    message_age_s_max: NonNegFloat = 0.0  # 0 = off; seconds since the last user message
    reconnects_max: NonNegInt = 10  # in the window
    rate_min: NonNegFloat = 0.0  # user messages/s over the window; 0 = off
    # a watched channel not SUBSCRIBED for longer than this is an alert (0 = off): a socket that
    # is up while its channels are refused delivers nothing
    channel_down_s_max: NonNegFloat = 30.0
    open_incidents_max: NonNegInt = 0  # alert when more incidents than this are open

    @field_validator("uptime_min")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not 0 <= value <= 1:
            hint = f": write {value / 100:g} for {value:g} %" if 1 < value <= 100 else ""
            raise ValueError(f"is a fraction between 0 and 1, got {value:g}{hint}")
        return value


class BuffersConfig(Section):
    # The lower bounds are the Store's own: caught here, they name the key instead of failing
    # later inside the store's constructor.
    raw_events: int = Field(5_000, ge=10)
    window_s: float = Field(300.0, ge=1)
    history_s: int = Field(6 * 3600, ge=2)
    latency_samples: int = Field(20_000, ge=1)
    log_size: int = Field(2_000, ge=1)


with schema_field():

    class LiveSlotsConfig(Section):
        schema: str = "group"
        table: str = "live_slots"
        key: str = "itinerary_id"
        counters: list[str] = Field(
            default_factory=lambda: ["presence_opt_in", "presence_visible", "presence_online"]
        )


QUOTA_NAMES = (
    "messages_per_s",
    "joins_per_s",
    "connections",
    "presence_messages_per_s",
    "broadcast_payload_kb",
    "postgres_payload_kb",
    "channels_per_connection",
)
# Supabase Realtime's limits per plan, in QUOTA_NAMES' order (reference §9.1; the docs' page
# supabase.com/docs/guides/realtime/limits). Payload sizes in KB. Enterprise is a floor
# ("2,500+"): a contract's own numbers go in the overrides of [quota].
PLAN_QUOTAS: dict[str, tuple[float, ...]] = {
    # messages/s, joins/s, connections, presence messages/s, broadcast KB, postgres KB, channels
    "free": (100, 100, 200, 20, 256, 1024, 100),
    "pro": (500, 500, 500, 50, 3000, 1024, 100),
    "pro_no_cap": (2500, 2500, 10_000, 1000, 3000, 1024, 100),
    "team": (2500, 2500, 10_000, 1000, 3000, 1024, 100),
    "enterprise": (2500, 2500, 10_000, 1000, 3000, 1024, 100),
}


class QuotaConfig(Section):
    """The plan the project is on, and when to alert before its limits.

    Each override replaces one of the plan's numbers (0 = the plan's own); `alert_pct` is the
    share of a limit at which the quota checks alert, so there is time to act before the server
    starts refusing and closing channels (reference §13.3).
    """

    plan: Literal["free", "pro", "pro_no_cap", "team", "enterprise"] = "free"
    messages_per_s: NonNegFloat = 0.0
    joins_per_s: NonNegFloat = 0.0
    connections: NonNegInt = 0
    presence_messages_per_s: NonNegFloat = 0.0
    broadcast_payload_kb: NonNegFloat = 0.0
    postgres_payload_kb: NonNegFloat = 0.0
    channels_per_connection: NonNegInt = 0
    alert_pct: float = Field(80.0, gt=0, le=100)

    def limits(self) -> dict[str, float]:
        """Every quota's limit: the plan's number unless overridden."""
        plan = dict(zip(QUOTA_NAMES, PLAN_QUOTAS[self.plan], strict=True))
        return {name: float(getattr(self, name) or plan[name]) for name in QUOTA_NAMES}
