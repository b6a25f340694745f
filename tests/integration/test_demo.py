"""`python -m sandbox serve --demo`: starts fast, and clients get all three kinds of traffic."""

from __future__ import annotations

import asyncio
import time

from realtime import AsyncRealtimeClient
from wire import Wire


async def test_demo_sandbox_is_ready_fast_and_never_silent(fresh_sandbox):
    started = time.monotonic()
    sb = fresh_sandbox("--demo")
    assert time.monotonic() - started < 15, "READY must come within 15 s"
    client = AsyncRealtimeClient(sb.ws_url, sb.anon_key)
    await client.connect()
    ticks, changes, members = [], [], []
    cfg = {
        "config": {
            "broadcast": {"self": False, "ack": False},
            "presence": {"key": "watcher", "enabled": True},
            "private": False,
        }
    }
    bc = client.channel("demo", cfg)
    bc.on_broadcast("tick", ticks.append)
    await bc.subscribe()
    pres = client.channel("demo-presence", cfg)
    pres.on_presence_sync(lambda: members.append(len(pres.presence_state())))
    await pres.subscribe()
    pg = client.channel("demo-rows", cfg)
    pg.on_postgres_changes("*", changes.append, table="demo_items", schema="public")
    await pg.subscribe()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (len(ticks) >= 3 and changes and max(members or [0])):
        await asyncio.sleep(0.1)
    await client.close()
    assert len(ticks) >= 3, "broadcast ticks"
    seqs = [t["payload"]["seq"] for t in ticks]
    assert seqs == sorted(seqs)
    assert changes and changes[0]["data"]["table"] == "demo_items"
    assert max(members) >= 1, "presence members"
    assert sb.proc.poll() is None, "the sandbox keeps running"
    assert "Traceback" not in sb.log()


async def test_every_channel_the_sandbox_says_to_watch_joins_on_its_demo(fresh_sandbox):
    """The READY line's `watch` is what a monitor subscribes to with no config of its own: every
    channel must join, and every postgres_changes binding must be confirmed, on the demo."""
    sb = fresh_sandbox("--demo")
    assert sb.watch, "the READY line names the channels to watch"
    w = await Wire.open(sb.url, sb.service_role_key)
    try:
        for channel in sb.watch:
            config = {
                "broadcast": {"self": False, "ack": False},
                "presence": {"key": channel["presence_key"], "enabled": channel["presence"]},
                "postgres_changes": [
                    {k: v for k, v in b.items() if v} for b in channel["postgres_changes"]
                ],
                "private": channel["private"],
            }
            assert await _joins(w, channel["topic"], config), channel
    finally:
        await w.close()


async def _joins(w, topic: str, config: dict) -> bool:
    """Join (retrying while the demo's scenarios are still creating their tables); True once the
    join is ok and its postgres_changes, if any, are confirmed."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        join_ref, reply = await w.join(topic, config)
        if reply["payload"]["status"] != "ok":
            return False
        if not config["postgres_changes"]:
            return True
        system = await w.recv_event("system", timeout=5)
        if system["payload"]["status"] == "ok":
            return True
        await asyncio.sleep(0.5)  # the demo's tables may not exist yet: join again
    return False


def test_a_sandbox_whose_parent_is_killed_stops_itself(tmp_path):
    """A Jupyter kernel or monitor killed outright (SIGKILL: no atexit) must not leave its sandbox
    and embedded PostgreSQL running for weeks."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from feeds.sandbox_child import start_sandbox_child\n"
            f"child = start_sandbox_child(demo=False, data_dir={str(tmp_path)!r})\n"
            "print(child.proc.pid, flush=True)\n"
            "time.sleep(600)\n",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        sandbox_pid = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(sandbox_pid, 0)
            except ProcessLookupError:
                break
            stat = Path(f"/proc/{sandbox_pid}/stat")
            with contextlib.suppress(FileNotFoundError):
                if stat.read_text().split()[2] == "Z":  # exited, waiting to be reaped by init
                    break
            time.sleep(0.2)
        else:
            os.kill(sandbox_pid, signal.SIGKILL)
            raise AssertionError("the sandbox outlived its killed parent by 30 s")
        time.sleep(2)
        left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
        assert left.stdout == "", "its PostgreSQL is still running"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_sandbox_starts_on_a_data_dir_whose_pgserver_handle_list_was_cut(fresh_sandbox, tmp_path):
    """pgserver rewrites its list of sharing processes in place: a process killed mid-write left
    it empty, and every later start on that directory failed with a bare JSON error."""
    import urllib.request

    from sandbox_process import traversable

    data = tmp_path / "shared"
    fresh_sandbox(data_dir=data).stop()
    handles = traversable(data) / "pg" / ".handle_pids.json"
    assert handles.exists()
    handles.write_text("")  # as a writer killed between truncating and writing leaves it
    sb = fresh_sandbox(data_dir=data)
    with urllib.request.urlopen(f"{sb.url}/sandbox/v1/health", timeout=10) as resp:
        assert resp.status == 200


def test_a_sandbox_that_cannot_start_says_why_not_that_it_was_slow(tmp_path):
    """A child that exits before it is ready (here a data directory that cannot exist; on
    Python 3.13, no pgserver) is reported with its exit code and its own last words, at once,
    not as a 60 s readiness timeout."""
    from feeds.sandbox_child import SandboxStartError, start_sandbox_child

    log = tmp_path / "sandbox.log"
    started = time.monotonic()
    try:
        start_sandbox_child(data_dir="/dev/null/nope", log_path=log, timeout=30)
    except SandboxStartError as exc:
        message = str(exc)
    else:
        raise AssertionError("the sandbox started on an impossible data directory")
    assert "exited with code 2 before it was ready" in message, message
    assert "Not a directory" in message, message
    assert time.monotonic() - started < 20
