"""sandbox.database's repair of pgserver's handle list, over files made by hand."""

from __future__ import annotations

import json
import os

import pytest

from sandbox.database import HANDLE_LIST, repair_handle_list


@pytest.mark.parametrize("text", ["", "[12", "{}", "not json"])
def test_an_unreadable_handle_list_is_rewritten_with_the_pids_still_running(tmp_path, text):
    path = tmp_path / HANDLE_LIST
    path.write_text(text)
    repair_handle_list(tmp_path, tries=2, pause_s=0)
    assert json.loads(path.read_text()) == []


def test_a_cut_list_keeps_the_processes_that_still_run(tmp_path):
    path = tmp_path / HANDLE_LIST
    path.write_text(f"[{os.getpid()}, 999999999")  # cut mid-write; the second pid is long gone
    repair_handle_list(tmp_path, tries=1, pause_s=0)
    assert json.loads(path.read_text()) == [os.getpid()]


def test_a_good_list_and_a_missing_one_are_left_alone(tmp_path):
    path = tmp_path / HANDLE_LIST
    repair_handle_list(tmp_path)
    assert not path.exists()
    path.write_text("[1, 2]")
    repair_handle_list(tmp_path)
    assert path.read_text() == "[1, 2]"
