"""The README's Python runs as written, and every name it shows resolves where it says."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest

import pathfit as pf
from pathfit.app.study import parse_study
from pathfit.app.study.compute import compute_chunk
from pathfit.app.study.plan import plan_chunks
from pathfit.app.study.runner import write_shard

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")


def _fenced(text: str) -> list[tuple[str, str]]:
    """Every fenced block as (language, body), fences paired in order."""
    found, language, body = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].strip(), []
            else:
                found.append((language, "\n".join(body) + "\n"))
                language = None
        elif language is not None:
            body.append(line)
    assert language is None, "an unclosed fence"
    return found


FENCED = _fenced(TEXT)
BLOCKS = [body for language, body in FENCED if language == "python"]


def test_the_readme_has_python_to_run():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", range(len(BLOCKS)))
def test_each_python_block_runs(block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # blocks that read a study's folder ("DIR") get one: a small study's first shard
    monkeypatch.chdir(tmp_path)
    if "DIR" in BLOCKS[block]:
        study = parse_study({"sampling": {"n_paths": 5, "n_times": 20}, "study": {"replicates": 2}})
        chunk = plan_chunks(study)[0]
        write_shard(tmp_path / "DIR" / "parts" / f"{chunk.key}.parquet", compute_chunk(chunk))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pf.ConvergenceWarning)
        exec(compile(BLOCKS[block], f"README.md block {block}", "exec"), {})


DOTTED = sorted(set(re.findall(r"\b(?:pathfit|pf)(?:\.[A-Za-z_][A-Za-z0-9_]*)+", TEXT)))


def _resolve(name: str) -> object:
    parts = name.split(".")
    parts[0] = "pathfit"
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise AssertionError(f"{name}: no module")


@pytest.mark.parametrize("name", DOTTED)
def test_every_dotted_name_in_the_readme_resolves(name):
    assert _resolve(name) is not None


TOML_BLOCKS = [body for language, body in FENCED if language == "toml"]


@pytest.mark.parametrize("block", range(len(TOML_BLOCKS)))
def test_each_toml_block_is_a_valid_config(block):
    import tomllib

    from pathfit.app.config import parse_config

    parse_config(tomllib.loads(TOML_BLOCKS[block]))


# the other blocks are command lines: synopses (`pathfit run [-o DIR] ...`) and examples
SHELL_BLOCKS = [body for language, body in FENCED if language == ""]
COMMAND_LINES = [
    line.split("#")[0].strip()
    for block in SHELL_BLOCKS
    for line in block.splitlines()
    if line.strip().startswith(("pathfit ", "make "))
]


def _command(words: list[str]):
    """The click command a README line names (the root group for none), whether it named
    one, and the words after its name."""
    import typer

    from pathfit.cli import app

    command = root = typer.main.get_command(app)
    while words and words[0] in getattr(command, "commands", {}):
        command = command.commands[words.pop(0)]
    return command, root, words


def test_the_readme_shows_command_lines():
    assert len(COMMAND_LINES) >= 10
    # every block is one of the kinds checked here
    assert {language for language, _ in FENCED} <= {"python", "toml", ""}


@pytest.mark.parametrize("line", COMMAND_LINES)
def test_every_command_line_names_a_command_and_options_it_has(line):
    words = line.split()
    if words[0] == "make":
        makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
        assert re.search(rf"^{re.escape(words[1])}:", makefile, re.M), line
        return
    command, root, rest = _command(words[1:])
    # only the root's own options may follow a bare `pathfit`
    assert command is not root or rest[0].startswith("-"), line
    known = {opt for p in [*command.params, *root.params] for opt in [*p.opts, *p.secondary_opts]}
    known |= {"--help"}
    for word in rest:
        option = word.strip("[]|").split("=")[0]
        if option.startswith("-"):
            assert option in known, f"{line}: {option} is not an option of {command.name}"
