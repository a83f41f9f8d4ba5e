"""Writing results: atomic, so that an interrupted run never leaves a half-written file.

One file at a time (:func:`write_bytes_atomic` and the text and JSON forms), or several that
belong together, all or none (:func:`write_files_atomic`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pathfit.exceptions import InputError


def _umask_from_proc() -> int | None:
    """The process's umask as the Linux kernel reports it ("Umask:" in /proc/self/status,
    Linux 4.7 and later), or None where there is no such line."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_by_setting() -> int:
    # os.umask can only be read by setting it; for that moment files other threads create get
    # the strict mask 077 (never a looser one). Done once, at import, before pathfit starts
    # threads, and only where the kernel does not report the umask.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


_mask = _umask_from_proc()
_UMASK_AT_IMPORT = _mask if _mask is not None else _umask_by_setting()
del _mask


def _current_umask() -> int:
    """The process's umask, read without changing it (see _umask_from_proc); where it cannot
    be read (no /proc, no file descriptor left), the umask the process had when
    pathfit.atomic was imported."""
    mask = _umask_from_proc()
    return mask if mask is not None else _UMASK_AT_IMPORT


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets the permissions a plain ``open`` would give it (mkstemp's are 0600).

    Raises:
        InputError: the file or its folder cannot be written (an OSError: a folder where the
            file should be, no permission, a full disk); nothing is left behind.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise InputError(
                str(path), err.strerror or str(err), "a file path that can be written"
            ) from err
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see write_bytes_atomic)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, standard JSON (no NaN or inf) atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_files_atomic(plan: Mapping[Path, Callable[[Path], None] | None]) -> list[Path]:
    """Write new files, replace and remove old ones, so that all of it happens or none of it.

    Each new content is written first to a temporary file beside its destination, by the
    writer the plan gives (with the permissions a plain ``open`` gives). Only when every one
    is written are they renamed onto their destinations, the first destination of the plan
    last, so that a reader who sees the new first file (say a data file) sees the new others
    (its companions) too; then the files to remove are removed.

    Guarantee: when any step raises (a writer, a full disk, a failing rename, a
    KeyboardInterrupt), every destination is put back as it was before the call: a file that
    was replaced or removed holds its old content again, a file that did not exist does not,
    no temporary is left and the folders the call made are removed again. Not guaranteed
    across a crash: with no journal and no fsync, a process killed or a machine stopped in the
    middle can leave some files new, some old, and stray ``.<name>.*`` files beside them.

    Args:
        plan: destination -> a function that writes its new content into the path it is
            given, or None to remove the destination if it exists. The first destination's
            folder is made, parents too, when missing; the others must be in folders that
            exist (the usual plan keeps them all in one folder).

    Returns:
        The destinations written (not those removed), in the order of ``plan``.

    Raises:
        InputError: a destination is a folder (found before anything is written), or an
            OSError while writing or renaming; the message names the file being written,
            the first destination when a rename failed, and the error.
        Whatever else a writer raises, after the same undoing.
    """
    if not plan:
        return []
    folder = next(iter(plan)).parent
    for dest in plan:
        if dest.is_dir():
            raise InputError(str(dest), "a folder", "a file path that can be written")
    created: list[Path] = []  # folders this call made, deepest first
    staged: dict[Path, Path] = {}
    current = folder  # what was being written, for the message
    try:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            created.append(probe)
            probe = probe.parent
        folder.mkdir(parents=True, exist_ok=True)
        for dest, write in plan.items():
            if write is None:
                continue
            current = dest
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            staged[dest] = Path(tmp)
            os.close(fd)
            os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp's 0600 is not what open gives
            write(Path(tmp))
        stale = [dest for dest, write in plan.items() if write is None and dest.exists()]
        # Companions first, the first file last: a reader that sees the new first file sees
        # its new companions too.
        order = [*list(staged)[1:], *list(staged)[:1]]
        current = order[-1] if order else next(iter(plan))
        _commit([(dest, staged[dest]) for dest in order], stale)
    except BaseException as err:
        for tmp in staged.values():
            tmp.unlink(missing_ok=True)
        for made in created:
            with contextlib.suppress(OSError):
                made.rmdir()
        if isinstance(err, OSError):
            raise InputError(
                str(current), err.strerror or str(err), "a file path that can be written"
            ) from err
        raise
    return list(staged)


def _commit(renames: list[tuple[Path, Path]], removals: list[Path]) -> None:
    """Rename each temporary onto its destination and remove the stale files; if any step
    fails, put every destination back as it was."""
    done: list[tuple[Path, Path | None]] = []  # (destination, what it held before)
    try:
        for dest, tmp in renames:
            done.append((dest, _backup(dest)))
            os.replace(tmp, dest)
        for dest in removals:
            aside = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.old")
            os.replace(dest, aside)
            done.append((dest, aside))
    except BaseException:
        for dest, before in reversed(done):
            if before is None:
                dest.unlink(missing_ok=True)
            else:
                os.replace(before, dest)
                # a no-op when both names are links to one file (POSIX rename): drop the link
                before.unlink(missing_ok=True)
        raise
    for _, before in done:
        if before is not None:
            before.unlink(missing_ok=True)


def _backup(dest: Path) -> Path | None:
    """A second name for the file at ``dest`` (a hard link where the file system has them), so
    that it can be put back; None when there is no file."""
    if not dest.exists():
        return None
    backup = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.old")
    try:
        os.link(dest, backup)
    except OSError:
        shutil.copy2(dest, backup)
    return backup
