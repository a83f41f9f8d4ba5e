"""pathfit.outputs: new folders that never collide, staged sets moved into place together."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pathfit.exceptions import InputError
from pathfit.outputs import make_new_folder, open_output


def test_processes_asking_for_one_name_at_once_get_different_folders(tmp_path):
    base = tmp_path / "runs" / "same-second-seed0"
    with ThreadPoolExecutor(8) as pool:
        folders = list(pool.map(lambda _: make_new_folder(base), range(16)))
    assert len(set(folders)) == 16
    assert sorted(p.name for p in folders) == sorted(
        [base.name, *(f"{base.name}-{n}" for n in range(2, 17))]
    )


def test_a_staged_set_appears_only_at_commit(tmp_path):
    out = open_output(tmp_path / "out")
    (out.staging / "results.json").write_text("{}")
    (out.staging / "report.html").write_text("<p>")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [out.staging.name]
    written = out.commit()
    assert written[0] == tmp_path / "out" / "results.json"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.html", "results.json"]


def test_results_written_meanwhile_by_another_command_are_not_replaced(tmp_path):
    out = open_output(tmp_path / "out")
    (out.staging / "results.json").write_text("mine")
    (tmp_path / "out" / "results.json").write_text("the other's")
    with pytest.raises(InputError, match="kept in"):
        out.commit()
    out.discard()  # the results that could not go in place stay where the message says
    assert (out.staging / "results.json").read_text() == "mine"
    assert (tmp_path / "out" / "results.json").read_text() == "the other's"


def test_discard_removes_what_was_staged_and_the_folders_made(tmp_path):
    out = open_output(tmp_path / "a" / "b")
    (out.staging / "results.json").write_text("{}")
    out.discard()
    assert list(tmp_path.iterdir()) == []


def test_discard_keeps_a_folder_that_was_there(tmp_path):
    (tmp_path / "out").mkdir()
    out = open_output(tmp_path / "out")
    out.discard()
    assert list(tmp_path.iterdir()) == [tmp_path / "out"]
    assert list((tmp_path / "out").iterdir()) == []


def test_a_file_in_the_path_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        open_output(Path(tmp_path / "file" / "out"))
