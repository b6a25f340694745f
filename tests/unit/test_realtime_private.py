"""realtime-py's private names the feed relies on (feeds.realtime_private) are all still there,
with the parameters the feed calls them with: an upgrade that changes one fails here."""

from __future__ import annotations

import asyncio
import importlib
import inspect

import pytest

from feeds.realtime_private import USED


def _resolve(where: str):
    module, _, cls = where.rpartition(".")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        return importlib.import_module(where)


def _instances():
    """A client, a channel and a timer as realtime-py builds them, without a connection: instance
    attributes exist only on instances."""
    from realtime import AsyncRealtimeClient

    client = AsyncRealtimeClient("ws://127.0.0.1:9/realtime/v1", "key", auto_reconnect=False)
    channel = client.channel("probe")
    return {
        "AsyncRealtimeClient": client,
        "AsyncRealtimeChannel": channel,
        "AsyncPush": channel.join_push,
        "AsyncTimer": channel.rejoin_timer,
    }


@pytest.mark.parametrize(("where", "name", "params"), USED, ids=[f"{w}.{n}" for w, n, _ in USED])
def test_private_name_is_still_there(where, name, params):
    target = _resolve(where)
    if inspect.isclass(target):
        instance = asyncio.run(_make(target.__name__))
        assert hasattr(target, name) or hasattr(instance, name), (
            f"realtime-py no longer has {where}.{name} (listed in feeds/realtime_private.py)"
        )
        member = getattr(target, name, None) or getattr(instance, name)
    else:
        assert hasattr(target, name), f"realtime-py no longer has {where}.{name}"
        member = getattr(target, name)
    if params is not None:
        got = tuple(p for p in inspect.signature(member).parameters if p != "self")
        assert got[: len(params)] == params, (
            f"{where}.{name} now takes {got}, the feed passes {params}"
        )


async def _make(cls_name: str):
    return _instances().get(cls_name)


def test_every_private_name_the_feed_uses_is_listed():
    """The list is the truth only if it is complete: every `._name` of a realtime object used in
    feeds/ appears in it."""
    import re
    from pathlib import Path

    listed = {name for _, name, _ in USED}
    used: set[str] = set()
    for path in Path(__file__).resolve().parents[2].joinpath("feeds").glob("*.py"):
        if path.name == "realtime_private.py":
            continue
        text = path.read_text()
        used |= set(re.findall(r"\b(?:chan|channel|client|timer)\.(_[a-z]\w*)", text))
        used |= set(re.findall(r"self\.(_ws_connection|_set_channels_errored)\b", text))
    assert used <= listed, f"not in feeds/realtime_private.py: {sorted(used - listed)}"
