"""Every private name of realtime-py the feed relies on, in one place.

The feed wraps realtime-py rather than forking it (feeds.client, feeds.supervisor), and a few of
the hooks it needs are not public API. A realtime release may rename or reshape any of them
without notice; `tests/unit/test_realtime_private.py` checks each one against the installed
version so such an upgrade fails loudly in the suite instead of quietly in production.

Each entry is (where, name, parameters): the class or module, the attribute, and for a method
the parameter names after `self` it is called with (None for an attribute).
"""

from __future__ import annotations

USED: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    # the read loop, replaced by MonitoredClient._listen to tap frames before pydantic
    ("realtime._async.client.AsyncRealtimeClient", "_listen", ()),
    # where MonitoredClient raises the socket's frame limit, before anything is joined
    ("realtime._async.client.AsyncRealtimeClient", "_on_connect", ()),
    ("realtime._async.client.AsyncRealtimeClient", "_ws_connection", None),
    ("realtime._async.client.AsyncRealtimeClient", "_set_channels_errored", ("error",)),
    ("realtime._async.client.AsyncRealtimeClient", "channels", None),
    ("realtime._async.client.AsyncRealtimeClient", "access_token", None),
    # a channel's join: its own token (MonitoredClient.channel) and the rejoin plan
    ("realtime._async.channel.AsyncRealtimeChannel", "_prepare_join", ("callback",)),
    ("realtime._async.channel.AsyncRealtimeChannel", "_handle_message", ("message",)),
    ("realtime._async.channel.AsyncRealtimeChannel", "_rejoin_if_connected", ()),
    ("realtime._async.channel.AsyncRealtimeChannel", "_release_subscribe_waiter", ()),
    ("realtime._async.channel.AsyncRealtimeChannel", "_joined_once", None),
    ("realtime._async.channel.AsyncRealtimeChannel", "join_push", None),
    ("realtime._async.channel.AsyncRealtimeChannel", "rejoin_timer", None),
    ("realtime._async.push.AsyncPush", "update_payload", ("payload",)),
    ("realtime._async.timer.AsyncTimer", "schedule_timeout", ("delay",)),
    ("realtime._async.timer.AsyncTimer", "reset", ()),
    ("realtime._async.timer.AsyncTimer", "tries", None),
    ("realtime._async.timer.AsyncTimer", "__init__", ("callback", "timer_calc")),
    ("realtime.message", "ServerMessageAdapter", None),
)
