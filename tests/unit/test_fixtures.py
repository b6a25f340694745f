"""EcoTrips' ops fixtures load into the monitor: the captured `group.live_slots` frame replays onto
the Live slots replica, and its counters are the ones the captured presence rows imply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from feeds.recording import load_events, replay
from metrics.analysis import implied_live_slot_counters
from metrics.store import Store

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "ops" / "fixtures"


async def test_the_live_slots_frame_replays_onto_the_replica_with_the_implied_counters():
    presence = json.loads((FIXTURES / "concierge_presence_fixture.json").read_text())
    store = Store()
    assert await replay(FIXTURES / "group_live_slots_event.json", store, speed=None) == 1
    [event] = load_events(FIXTURES / "group_live_slots_event.json")
    snap = store.snapshot(now=event.received_at + 1)
    row = snap.replica.set_index("key").loc[presence["itinerary_id"]]
    expected = implied_live_slot_counters(presence["presence"])
    assert {name: row[name] for name in expected} == expected
    assert expected["presence_opt_in"] > expected["presence_online"] > 0  # a telling fixture


def test_the_cli_replays_a_captured_frame():
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(FIXTURES / "group_live_slots_event.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode in (0, 1), out.stderr
    body = json.loads(out.stdout)
    assert body["records"] == 1
    assert body["summary"]["replica"][0]["key"] == "itn-galapagos-05"


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "not JSON"), ('[{"topic": 1}]', "frame 0"), ("[3]", "frame 0 is not an object")],
)
def test_a_bad_capture_names_the_file_and_the_frame(tmp_path, text, message):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_events(bad)
