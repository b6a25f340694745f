"""Demo scenarios. Each module holds one `Scenario`; `SCENARIOS` lists them for `--scenario`."""

from .basic import BasicDemo
from .ecotrips import EcoTripsDemo
from .homeser import HomeSerDemo
from .layer5 import Layer5Demo
from .organiser import OrganiserDemo
from .tripsage import TripSageDemo

SCENARIOS = [BasicDemo, EcoTripsDemo, Layer5Demo, TripSageDemo, HomeSerDemo, OrganiserDemo]
