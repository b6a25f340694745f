"""The config section the dashboards own: how often views refresh, when data counts as stale, the
title. `monitor.config` stacks it into the watch config; nothing below dashboards reads it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from feeds.settings import NonNegFloat, Section


class DashboardConfig(Section):
    update_ms: int = Field(100, ge=20)  # a session applies new data at most this often
    # charts, tables and ages refresh at this cadence
    chart_ms: int = Field(1000, validate_default=True)
    stale_after_s: NonNegFloat = 10.0  # no event at all (probes included) for this long = stale
    title: str = "Realtime Monitor"
    # with several [[projects]] and no ?project= on the wall: show them in turn ("cycle", each
    # for wall_cycle_s) or all at once ("tile"); ?layout= overrides it per wall
    wall_layout: Literal["cycle", "tile"] = "cycle"
    wall_cycle_s: float = Field(15.0, ge=1)

    # On chart_ms (declared after update_ms) rather than the model, so that setting update_ms and
    # then chart_ms one after the other does not fail in between.
    @field_validator("chart_ms")
    @classmethod
    def _slower_than_updates(cls, chart_ms: int, info: ValidationInfo) -> int:
        update_ms = info.data.get("update_ms")
        if update_ms is not None and chart_ms < update_ms:
            raise ValueError(
                f"must be at least update_ms ({update_ms}), got {chart_ms}: charts cannot "
                "refresh more often than the data is applied"
            )
        return chart_ms
