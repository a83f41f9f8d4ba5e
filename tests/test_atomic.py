"""Atomic writes: several files land together or not at all.

Every failure test takes a snapshot of the folder (hidden files included, so a stray temporary
or backup shows) and checks that the failed call left it byte for byte as it was.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import pathfit as pf
from pathfit import atomic
from pathfit.atomic import write_bytes_atomic, write_files_atomic
from pathfit.exceptions import InputError


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``folder``, by relative name."""
    found: dict[str, bytes | None] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            found[os.path.relpath(os.path.join(root, name), folder)] = None
        for name in files:
            path = Path(root, name)
            found[os.path.relpath(path, folder)] = path.read_bytes()
    return found


def _writes(text: str) -> Callable[[Path], None]:
    return lambda tmp: tmp.write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with an old data file, a companion to replace and a stale one to remove."""
    (tmp_path / "data.csv").write_text("old data\n")
    (tmp_path / "data.targets.csv").write_text("old targets\n")
    (tmp_path / "data.truth.json").write_text("{}\n")
    return tmp_path


def _plan(folder: Path) -> dict[Path, Callable[[Path], None] | None]:
    """Replace data.csv and data.targets.csv, add notes.txt, remove data.truth.json."""
    return {
        folder / "data.csv": _writes("new data\n"),
        folder / "data.targets.csv": _writes("new targets\n"),
        folder / "notes.txt": _writes("new notes\n"),
        folder / "data.truth.json": None,
        folder / "never.json": None,  # nothing to remove
    }


def test_every_file_lands(folder):
    written = write_files_atomic(_plan(folder))

    assert written == [folder / "data.csv", folder / "data.targets.csv", folder / "notes.txt"]
    assert _tree(folder) == {
        "data.csv": b"new data\n",
        "data.targets.csv": b"new targets\n",
        "notes.txt": b"new notes\n",
    }


def test_the_first_file_is_renamed_last(folder, monkeypatch):
    renamed: list[str] = []
    replace = os.replace

    def recording(src: str | Path, dst: str | Path) -> None:
        if str(src).endswith(".tmp"):
            renamed.append(Path(dst).name)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", recording)
    write_files_atomic(_plan(folder))
    assert renamed == ["data.targets.csv", "notes.txt", "data.csv"]


def test_new_files_get_the_permissions_open_gives(tmp_path):
    mask = os.umask(0o027)
    try:
        write_files_atomic({tmp_path / "data.csv": _writes("x\n")})
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "data.csv").stat().st_mode) == 0o640


def test_missing_folders_are_made(tmp_path):
    write_files_atomic({tmp_path / "a" / "b" / "data.csv": _writes("x\n")})
    assert _tree(tmp_path) == {"a": None, "a/b": None, "a/b/data.csv": b"x\n"}


@pytest.mark.parametrize(
    ("error", "raised", "words"),
    [
        (OSError(28, "No space left on device"), pf.InputError, "No space left on device"),
        (RuntimeError("the writer broke"), RuntimeError, "the writer broke"),
        (KeyboardInterrupt(), KeyboardInterrupt, None),
    ],
)
def test_a_failing_writer_leaves_everything_as_it_was(folder, error, raised, words):
    before = _tree(folder)

    def broken(tmp: Path) -> None:
        tmp.write_text("half of the new notes")
        raise error

    plan = _plan(folder)
    plan[folder / "notes.txt"] = broken
    with pytest.raises(raised, match=words) as info:
        write_files_atomic(plan)
    if raised is pf.InputError:
        assert str(info.value).startswith(f"{folder / 'notes.txt'}: expected a file path")
    assert _tree(folder) == before


# The commit calls os.replace four times: three renames (targets, notes, data) and one removal.
@pytest.mark.parametrize("failing_call", [0, 1, 2, 3])
@pytest.mark.parametrize("hard_links", [True, False], ids=["links", "copies"])
def test_a_failure_at_any_step_of_the_commit_puts_every_file_back(
    folder, monkeypatch, failing_call, hard_links
):
    before = _tree(folder)
    replace = os.replace
    calls = 0

    def failing(src: str | Path, dst: str | Path) -> None:
        nonlocal calls
        calls += 1
        if calls - 1 == failing_call:
            raise PermissionError(13, "Permission denied")
        replace(src, dst)

    def no_links(src: str | Path, dst: str | Path) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "replace", failing)
    if not hard_links:  # the backups are copies, as on a file system without hard links
        monkeypatch.setattr(os, "link", no_links)
    with pytest.raises(pf.InputError, match="Permission denied") as info:
        write_files_atomic(_plan(folder))
    monkeypatch.undo()

    assert calls > failing_call  # the failure did happen inside the commit
    assert str(info.value).startswith(f"{folder / 'data.csv'}: expected a file path")
    assert _tree(folder) == before


def test_an_interrupt_during_the_commit_is_undone_too(folder, monkeypatch):
    before = _tree(folder)
    replace = os.replace

    def interrupted(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "data.csv" and str(src).endswith(".tmp"):
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_files_atomic(_plan(folder))
    monkeypatch.undo()
    assert _tree(folder) == before


def test_a_failure_removes_the_folders_it_made(tmp_path):
    (tmp_path / "kept").mkdir()

    def broken(tmp: Path) -> None:
        raise OSError(28, "No space left on device")

    plan = {
        tmp_path / "kept" / "new" / "deeper" / "data.csv": _writes("x\n"),
        tmp_path / "kept" / "new" / "deeper" / "data.targets.csv": broken,
    }
    with pytest.raises(pf.InputError, match="No space left on device"):
        write_files_atomic(plan)
    assert _tree(tmp_path) == {"kept": None}


def test_a_destination_that_is_a_folder_stops_the_write_before_it_starts(folder):
    (folder / "notes.txt").mkdir()
    before = _tree(folder)
    started: list[Path] = []
    plan = _plan(folder)
    plan[folder / "data.csv"] = started.append
    with pytest.raises(
        pf.InputError, match=r"notes\.txt: expected a file path that can be written, found a folder"
    ):
        write_files_atomic(plan)
    assert started == []
    assert _tree(folder) == before


def test_a_plan_of_removals_only_removes(folder):
    plan = {folder / "data.truth.json": None, folder / "data.targets.csv": None}
    assert write_files_atomic(plan) == []
    assert _tree(folder) == {"data.csv": b"old data\n"}


def test_an_empty_plan_does_nothing(folder):
    before = _tree(folder)
    assert write_files_atomic({}) == []
    assert _tree(folder) == before


def test_write_bytes_atomic_names_the_file_it_cannot_write(tmp_path: Path) -> None:
    # a folder where the file should go: one InputError naming it, no temporary left behind
    target = tmp_path / "results.json"
    target.mkdir()
    with pytest.raises(InputError) as info:
        write_bytes_atomic(target, b"{}")
    assert info.value.field == str(target)
    assert str(info.value).endswith("found Is a directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    assert list(target.iterdir()) == []


def _no_umask_call(mask: int = 0) -> int:
    raise AssertionError("os.umask called: it sets the process's umask, if only for a moment")


@pytest.mark.skipif(atomic._umask_from_proc() is None, reason="no Umask line in /proc/self/status")
def test_the_umask_is_read_without_setting_it(tmp_path, monkeypatch):
    """os.umask sets the mask to read it: while set, files another thread makes get the wrong
    permissions. pathfit reads /proc/self/status instead, and follows a mask changed since."""
    mask = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", _no_umask_call)
        assert atomic._current_umask() == 0o027
        write_bytes_atomic(tmp_path / "results.json", b"{}\n")
        write_files_atomic({tmp_path / "data.csv": _writes("x\n")})
    finally:
        monkeypatch.undo()
        os.umask(mask)
    for name in ("results.json", "data.csv"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640


def test_without_proc_the_umask_at_import_is_used():
    """Where the kernel does not report the umask (or /proc cannot be opened), the mask the
    process had when pathfit.atomic was imported; os.umask is not called after the import."""
    script = """\
import builtins, os

real_open = builtins.open


def no_proc(file, *args, **kwargs):
    if str(file).startswith("/proc/"):
        raise FileNotFoundError(2, "No such file or directory", str(file))
    return real_open(file, *args, **kwargs)


builtins.open = no_proc
os.umask(0o023)
from pathfit import atomic


def no_umask(mask):
    raise AssertionError("os.umask called after the import")


os.umask = no_umask
print(oct(atomic._current_umask()))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "0o23\n", "")
