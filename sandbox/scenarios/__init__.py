"""Demo scenarios. Each module holds one `Scenario`; `SCENARIOS` lists them for `--scenario`."""

from .basic import BasicDemo

SCENARIOS = [BasicDemo]
