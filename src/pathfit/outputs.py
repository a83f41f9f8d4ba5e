"""Output folders that cannot collide or mix: one complete set of results, or nothing of it.

A command that writes a folder of results opens it with :func:`open_output` before any work:
the destination is checked (a folder, or one that can be made; no file of pathfit's already in
it unless overwriting; no folder where one of pathfit's files must go) and a hidden staging
folder is made inside it, which also proves that it can be written. The command writes its
files into the staging folder; :meth:`OutputFolder.commit` then moves them all into place at
once (:func:`pathfit.atomic.write_files_atomic`), with the earlier set's leftovers removed when
overwriting, and :meth:`OutputFolder.discard` removes the staging folder (and the folders
:func:`open_output` made) when the work fails. A new folder (the default ``runs/...``) is made
with a ``mkdir`` that fails if the name is taken, so two runs never share one.

Example:
    >>> out = open_output(Path("out"), field="--output")
    >>> _ = (out.staging / "results.json").write_text("{}")
    >>> out.commit()
    [PosixPath('out/results.json')]
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final, final

from pathfit.atomic import write_files_atomic
from pathfit.exceptions import InputError

__all__ = ["FIGURE_NAMES", "OUTPUT_NAMES", "OutputFolder", "make_new_folder", "open_output"]

#: The figures the report writes (each only where it applies), and gradient.png, the name
#: pathfit 0.2 gave the stability figure, so that --overwrite removes it from an older run.
FIGURE_NAMES: Final = frozenset(
    {
        "paths.png",
        "targets.png",
        "residuals.png",
        "stability.png",
        "losses.png",
        "lambda_x.png",
        "gradient.png",
    }
)
#: Every file a pathfit command writes into an output folder: the only files it replaces or
#: removes there.
OUTPUT_NAMES: Final = frozenset(
    {
        "results.json",
        "report.html",
        "summary.md",
        "coverage.json",
        "bench.json",
        "estimator.json",
        "estimator.safetensors",
        "validation.json",
        *FIGURE_NAMES,
    }
)
# The file a reader looks for first is moved into place last (see write_files_atomic).
_MAIN_FILES = ("results.json", "coverage.json", "bench.json", "validation.json")
_STAGING_PREFIX = ".pathfit-staging-"


def make_new_folder(base: Path) -> Path:
    """Make a folder that did not exist: ``base``, else ``base-2``, ``base-3``... (parents are
    made as needed). The ``mkdir`` fails when the name is taken, so two processes that ask for
    the same ``base`` at the same moment get two folders.

    Raises:
        InputError: the folder cannot be made (no permission, a file in the way...).
    """
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        folder, n = base, 1
        while True:
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                n += 1
                folder = base.with_name(f"{base.name}-{n}")
    except OSError as err:
        raise InputError(str(base), err.strerror or str(err), "a folder that can be made") from err


@final
class OutputFolder:
    """A destination folder and the staging folder inside it that the command writes into.

    Attributes:
        folder: where the results end up.
        staging: the hidden folder to write them into first.
        overwrite: whether pathfit's files already in ``folder`` may be replaced.
    """

    def __init__(
        self, folder: Path, staging: Path, *, overwrite: bool, made: list[Path], field: str
    ) -> None:
        self.folder = folder
        self.staging = staging
        self.overwrite = overwrite
        self._made = made  # folders open_output made, deepest first
        self._field = field
        self._keep = False  # the staging folder holds results that could not be moved

    def commit(self) -> list[Path]:
        """Move every file of the staging folder into ``folder``, all or none, and remove
        pathfit's files of an earlier set that this one does not have (when overwriting); then
        remove the staging folder.

        Returns:
            The files now in place, the main one (results.json...) first.

        Raises:
            InputError: pathfit's files appeared in ``folder`` since it was opened (another
                command wrote there) and overwriting was not asked: the staging folder is kept
                and named in the message; or an OSError while moving (nothing moved then).
        """
        names = sorted(p.name for p in self.staging.iterdir())
        names.sort(key=lambda name: name not in _MAIN_FILES)
        found = _pathfit_files(self.folder)
        if found and not self.overwrite:
            self._keep = True
            raise InputError(
                self._field,
                f"{self.folder} now holds {', '.join(found)} (written meanwhile); "
                f"these results are kept in {self.staging}",
                "a folder no other command writes into at the same time",
            )
        plan = {self.folder / name: _move_from(self.staging / name) for name in names}
        for name in found:
            plan.setdefault(self.folder / name, None)
        written = write_files_atomic(plan)
        with contextlib.suppress(OSError):
            self.staging.rmdir()
        return written

    def discard(self) -> None:
        """Remove the staging folder and whatever is in it, and the folders that
        :func:`open_output` made when they are empty: nothing of the failed work is left.
        Does nothing after a commit that kept the staging folder for the user."""
        if self._keep:
            return
        shutil.rmtree(self.staging, ignore_errors=True)
        for made in self._made:
            with contextlib.suppress(OSError):
                made.rmdir()


def open_output(
    folder: Path | None,
    *,
    default: Path | None = None,
    overwrite: bool = False,
    field: str = "--output",
) -> OutputFolder:
    """Check the destination before any work and make its staging folder.

    Args:
        folder: the folder asked for; None for a new folder made from ``default`` (see
            :func:`make_new_folder`).
        default: the name of the new folder when ``folder`` is None.
        overwrite: allow pathfit's files already in ``folder``, to be replaced as a set.
        field: the option named in messages.

    Raises:
        InputError: ``folder`` is empty, a file, a dangling link, in a file, or cannot be
            written (a read-only or special file system); one of pathfit's file names in it
            is a folder (or not a plain file); it holds pathfit's files and ``overwrite`` is
            False (the message names them). Nothing is made or changed then.
    """
    made: list[Path] = []
    if folder is None:
        if default is None:
            raise TypeError("open_output needs a folder or a default")
        folder = make_new_folder(default)
        made.append(folder)
    else:
        _check_destination(folder, overwrite, field)
        probe = folder
        while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
            made.append(probe)
            probe = probe.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=folder))
    except OSError as err:
        for path in made:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise InputError(
            field, f"{folder} ({err.strerror or err})", "a folder that can be written"
        ) from err
    return OutputFolder(folder, staging, overwrite=overwrite, made=made, field=field)


def _check_destination(folder: Path, overwrite: bool, field: str) -> None:
    if not str(folder).strip():
        raise InputError(field, repr(str(folder)), "a folder name")
    for path in (folder, *folder.parents):
        if path.is_symlink() and not path.exists():
            raise InputError(
                field,
                f"{folder} ({path} is a link to {os.readlink(path)}, which is missing)",
                "a folder",
            )
        if path.exists():
            if not path.is_dir():
                raise InputError(field, str(folder), f"a folder ({path} is a file)")
            if not os.access(path, os.W_OK | os.X_OK):
                raise InputError(field, str(folder), f"a folder that can be written ({path})")
            break
    if not folder.is_dir():
        return
    for name in sorted(OUTPUT_NAMES):
        path = folder / name
        if (path.exists() or path.is_symlink()) and not (path.is_file() and not path.is_symlink()):
            raise InputError(
                field, f"{folder} ({name} is not a plain file)", f"a folder where {name} can go"
            )
    found = _pathfit_files(folder)
    if found and not overwrite:
        raise InputError(
            field,
            f"{folder} holding {', '.join(found)}",
            "a folder without pathfit's results (or --overwrite to replace them)",
        )


def _pathfit_files(folder: Path) -> list[str]:
    """pathfit's files in ``folder``, sorted."""
    return sorted(name for name in OUTPUT_NAMES if os.path.lexists(folder / name))


def _move_from(source: Path) -> Callable[[Path], None]:
    """A writer for write_files_atomic that moves ``source`` onto the temporary it is given."""

    def move(tmp: Path) -> None:
        os.replace(source, tmp)

    return move
