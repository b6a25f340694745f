"""Demo traffic: pluggable scenarios that make the sandbox look like a busy project.

`base` has what every scenario builds on (a minimal client, the context, the base class),
`registry` the scenarios by name, `runner` runs the chosen ones, `watch` says which channels a
monitor should watch to see them; `common` holds helpers the seed scenarios share. Each other
module is one scenario.
"""

from .registry import SCENARIOS

__all__ = ["SCENARIOS"]
