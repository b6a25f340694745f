"""The shared store: bounded buffers, per-tick pandas frames and the metric math.

Modules, by what they hold:

* `stats`: pure metric math (percentiles, the fixed latency histogram, rates, uptime/outages)
* `buckets`: 1-second buckets for long windows, memory bounded by `history_s`
* `roster`: presence rosters per channel, reconciled like the official clients do
* `replica`: the live-slot table replica that late or duplicate changes cannot move backwards
* `connection`: the status timeline and per-channel subscribe states
* `buffers`: the per-event state `Store.ingest` updates in O(1)
* `capture`: what a snapshot copies out of the buffers under the lock
* `schema`, `frames`, `latency`: the frames and window statistics derived from a capture
* `snapshot`: `Snapshot`, the immutable contract every reader (views, notebooks, CLI) uses
* `store`: `Store`, the one param.Parameterized store per process
* `shared`: `SharedSnapshots`, one snapshot per tick shared by every session of a server
* `settings`: the config sections metrics owns ([alerts], [buffers], [live_slots])

`Store` and `Snapshot` are importable from here; they are loaded on first use so that importing a
light submodule (e.g. `metrics.stats`) does not pull in pandas and param.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metrics.snapshot import CurrentStatus, LatencyStats, Snapshot
    from metrics.store import Store

__all__ = ["CurrentStatus", "LatencyStats", "Snapshot", "Store"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from metrics.store import Store

        return Store
    if name in ("Snapshot", "LatencyStats", "CurrentStatus"):
        from metrics import snapshot

        return getattr(snapshot, name)
    raise AttributeError(f"module 'metrics' has no attribute {name!r}")
