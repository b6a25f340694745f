"""The tenant limits the sandbox enforces, as Supabase's Free plan sets them by default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    max_channels: int = 100  # channels per connection
    max_payload_bytes: int = 256 * 1024  # broadcast payload
    presence_calls_per_30s: int = 5  # per connection; 0 = unlimited
    max_buffer: int = 8 * 1024 * 1024  # bytes queued to a socket before it is cut off
