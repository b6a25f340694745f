"""The tenant limits the sandbox enforces, and Supabase's numbers for them per plan.

`Limits()` is the sandbox's own default: Supabase's per-connection and per-payload limits (as the
Free plan sets them) with the tenant-wide rates off, so the demo and the benchmarks never trip
them. `--plan free|pro|team` takes the published numbers of that plan (reference §9.1), and a
`--max-...` flag overrides any one of them (`from_args`). A rate of 0 means no limit.
`--rate-tick-ms` sets the rate counters' tick (`tick_from_args`, see `quotas`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields, replace
from typing import Any

KB = 1024
DEFAULT_TICK_MS = 5000  # Realtime.RateCounter's tick: :timer.seconds(5)


@dataclass(frozen=True, slots=True)
class Limits:
    max_channels: int = 100  # channels per connection
    max_payload_bytes: int = 256 * KB  # broadcast payload, presence track payload
    presence_calls_per_30s: int = 5  # per channel join, fixed windows; 0 = unlimited
    max_buffer: int = 8 * 1024 * 1024  # bytes queued to a socket before it is cut off
    max_events_per_second: int = 0  # messages per second, tenant-wide (a 60 s average)
    max_joins_per_second: int = 0  # channel joins per second, tenant-wide
    max_concurrent_users: int = 0  # sockets that joined a channel, tenant-wide
    max_presence_events_per_second: int = 0  # presence messages per second, tenant-wide


# Supabase's Realtime limits per plan (supabase.com/docs/guides/realtime/limits, reference §9.1).
PLANS: dict[str, dict[str, int]] = {
    "free": {
        "max_concurrent_users": 200,
        "max_events_per_second": 100,
        "max_joins_per_second": 100,
        "max_presence_events_per_second": 20,
        "max_payload_bytes": 256 * KB,
    },
    "pro": {
        "max_concurrent_users": 500,
        "max_events_per_second": 500,
        "max_joins_per_second": 500,
        "max_presence_events_per_second": 50,
        "max_payload_bytes": 3000 * KB,
    },
    "team": {
        "max_concurrent_users": 10_000,
        "max_events_per_second": 2_500,
        "max_joins_per_second": 2_500,
        "max_presence_events_per_second": 1_000,
        "max_payload_bytes": 3000 * KB,
    },
}

# --flag -> Limits field (and a unit factor), each overriding the plan's number when given
FLAGS: dict[str, tuple[str, int, str]] = {
    "--max-channels": ("max_channels", 1, "channels per connection (default 100)"),
    "--max-payload-kb": ("max_payload_bytes", KB, "broadcast and track payload limit in KB"),
    "--presence-limit": (
        "presence_calls_per_30s",
        1,
        "presence calls per channel join per 30 s window (default 5; 0 = unlimited)",
    ),
    "--max-events-per-second": (
        "max_events_per_second",
        1,
        "messages per second, averaged over 60 s (0 = unlimited)",
    ),
    "--max-joins-per-second": ("max_joins_per_second", 1, "channel joins per second"),
    "--max-concurrent-users": ("max_concurrent_users", 1, "sockets with a joined channel"),
    "--max-presence-events-per-second": (
        "max_presence_events_per_second",
        1,
        "presence messages per second",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan",
        choices=sorted(PLANS),
        help="Supabase's limits for this plan (default: tenant-wide rates unlimited)",
    )
    for flag, (_, _, text) in FLAGS.items():
        parser.add_argument(flag, type=int, default=None, help=text)
    parser.add_argument(
        "--rate-tick-ms",
        type=_positive_ms,
        default=DEFAULT_TICK_MS,
        help="tick of the tenant's rate counters in ms (Supabase's is 5000; tests use less so "
        "a limit trips sooner; the average still spans 12 ticks)",
    )


def _positive_ms(text: str) -> int:
    ms = int(text)
    if ms <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of ms, got {ms}")
    return ms


def tick_from_args(args: argparse.Namespace) -> float:
    """The rate counters' tick in seconds (`--rate-tick-ms`)."""
    return getattr(args, "rate_tick_ms", DEFAULT_TICK_MS) / 1000


def from_args(args: argparse.Namespace) -> Limits:
    """The plan's numbers (or the defaults), then every `--max-...` flag given on top."""
    values: dict[str, Any] = dict(PLANS[args.plan]) if args.plan else {}
    for flag, (name, unit, _) in FLAGS.items():
        given = getattr(args, flag.lstrip("-").replace("-", "_"))
        if given is not None:
            values[name] = given * unit
    return replace(Limits(), **values)


def describe(limits: Limits) -> dict[str, int]:
    """The limits as plain numbers, for the READY line and `/sandbox/v1/stats`."""
    return {f.name: getattr(limits, f.name) for f in fields(limits)}
