"""The demo scenarios the sandbox knows, by name, for `--scenario NAME`.

The list's order is the order a monitor lists their channels in (`watch.watch_channels`):
the always-on basics first, then the seed systems.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Scenario
from .basic import BasicDemo
from .ecotrips import EcoTripsDemo
from .homeser import HomeSerDemo
from .layer5 import Layer5Demo
from .organiser import OrganiserDemo
from .tripsage import TripSageDemo

SCENARIOS: list[type[Scenario]] = [
    BasicDemo,
    EcoTripsDemo,
    Layer5Demo,
    HomeSerDemo,
    OrganiserDemo,
    TripSageDemo,
]


def select(names: Sequence[str] = ()) -> list[type[Scenario]]:
    """The named scenarios (all of them when none is named), in the registry's order.

    Raises ValueError naming the choices if a name is unknown."""
    known = {s.name for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {sorted(known)}")
    return [s for s in SCENARIOS if not names or s.name in names]
