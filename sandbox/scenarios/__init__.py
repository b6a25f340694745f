"""Demo scenarios. Each module holds one `Scenario`; `SCENARIOS` lists them for `--scenario`."""

from .basic import BasicDemo
from .ecotrips import EcoTripsDemo

SCENARIOS = [BasicDemo, EcoTripsDemo]
