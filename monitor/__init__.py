"""The composition root: the one place that stacks feeds, metrics and dashboards together.

* `config`: the watch config (each layer's sections in one TOML file), loaded and checked at start
* `report`: the headless JSON report of a metrics snapshot
* `cli`, `check`, `record`: `python -m monitor check|record|replay`

Dependencies point one way, `monitor → dashboards → metrics → feeds`; nothing below imports this
package, and the sandbox is reached only over the network or as a child process.
"""
