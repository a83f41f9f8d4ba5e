"""SIGINT and SIGTERM stop pathfit with one line, the right exit code and no stray files.

Each test runs a child Python and sends the signal only after the child has said, on stdout,
that it has reached the moment under test and is blocked there (a 60 s sleep that only the
signal ends). So the signal always lands at that moment, however slowly the machine starts the
child: nothing depends on timing, and a child that never gets there fails the test with its
stderr instead of hanging it. The blocking is done by the test's own code (a writer, or an
import hook put in front of the module being loaded), never by a seam in pathfit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

if sys.platform == "win32":  # pragma: no cover - POSIX signals
    pytest.skip("POSIX signals", allow_module_level=True)

_LINES = {
    signal.SIGINT: "error: stopped by SIGINT (Ctrl-C)",
    signal.SIGTERM: "error: stopped by SIGTERM",
}


def _stop_when_ready(script: str, signum: int, cwd: Path) -> tuple[int, list[str]]:
    """Run ``script``, wait for its first line on stdout, send ``signum``; the exit code and the
    lines of stderr."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ready = child.stdout.readline()
        if not ready:
            _, err = child.communicate(timeout=60)
            pytest.fail(f"the child ended before the moment under test:\n{err}")
        child.send_signal(signum)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err.splitlines()


_WRITING = """\
import sys, time
from pathlib import Path

from pathfit.atomic import write_files_atomic
from pathfit.cli._entry import CommandLine

app = CommandLine()


@app.command()
def write() -> None:
    def new_data(path: Path) -> None:
        path.write_text("new data\\n")

    def slow_targets(path: Path) -> None:
        path.write_text("half of the targets")
        print("writing", flush=True)
        time.sleep(60)

    out = Path("out")
    write_files_atomic({out / "d.csv": new_data, out / "d.targets.csv": slow_targets})


sys.argv = ["pathfit"]
sys.exit(app())
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path, signum):
    """Stopped while the second of two files is half written: the first file's temporary and
    the second's are both removed, the file that was there keeps its content, one line."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "d.csv").write_text("old data\n")

    code, err = _stop_when_ready(_WRITING, signum, tmp_path)

    assert (code, err) == (128 + signum, [_LINES[signum]])
    assert sorted(os.listdir(tmp_path / "out")) == ["d.csv"]  # hidden temporaries show too
    assert (tmp_path / "out" / "d.csv").read_text() == "old data\n"


def test_a_signal_while_writing_removes_the_folder_it_made(tmp_path):
    code, err = _stop_when_ready(_WRITING, signal.SIGTERM, tmp_path)

    assert (code, err) == (143, [_LINES[signal.SIGTERM]])
    assert os.listdir(tmp_path) == []


def _starting(module: str, argv: list[str]) -> str:
    """The console script's two lines (``from pathfit.cli import app; sys.exit(app())``), with
    an import hook that blocks when ``module`` is first imported."""
    return f"""\
import sys, time


class BlockImport:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            print("importing", name, flush=True)
            time.sleep(60)
        return None


sys.meta_path.insert(0, BlockImport())
sys.argv = {argv!r}
from pathfit.cli import app
sys.exit(app())
"""


@pytest.mark.parametrize(
    ("module", "argv", "signum"),
    [
        # the command line's own modules (typer, rich), before any command runs
        ("pathfit.cli.main", ["pathfit", "--version"], signal.SIGINT),
        # torch, which a command imports when it starts
        ("torch", ["pathfit", "run", "--output", "out", "--quiet"], signal.SIGINT),
        ("torch", ["pathfit", "run", "--output", "out", "--quiet"], signal.SIGTERM),
    ],
)
def test_a_signal_at_start_up_is_one_line(tmp_path, module, argv, signum):
    """Ctrl-C while the program loads its modules: one line and 130, not an import traceback
    (SIGTERM: 143); nothing written."""
    code, err = _stop_when_ready(_starting(module, argv), signum, tmp_path)

    assert (code, err) == (128 + signum, [_LINES[signum]])
    assert os.listdir(tmp_path) == []
