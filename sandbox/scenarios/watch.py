"""Which channels a monitor should watch on the sandbox's demo.

The sandbox knows its demo's topics; a monitor pointed at it should not have to. Each scenario
declares the channels that show its traffic (`Scenario.watch`); this module lists them, in the
registry's order, in the shape of a watch config's `[[channels]]` entries. The sandbox prints
them in its READY line (key `watch`) and serves them at `GET /sandbox/v1/watch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .registry import select


def watch_channels(names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The channels to watch for the named scenarios (all of them when none is named), as plain
    dicts: `topic`, `private`, `presence`, `presence_key`, `broadcast` and `postgres_changes`
    (each `{schema, table, event, filter}`)."""
    return [
        {
            **channel,
            "broadcast": list(channel["broadcast"]),
            "postgres_changes": [dict(binding) for binding in channel["postgres_changes"]],
        }
        for scenario in select(names)
        for channel in scenario.watch
    ]
