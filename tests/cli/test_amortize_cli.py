"""`pathfit amortize train` end to end on a tiny config: the estimator, validation.json, and
one-line refusals."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from pathfit.amortized import AmortizedEstimator
from pathfit.cli import app

TINY = """\
seed = 3
threads = 1
[prior]
processes = ["abm"]
n_paths = [10, 30]
n_times = [20, 60]
[network]
hidden = 16
context = 8
transforms = 2
[training]
n_simulations = 256
batch_size = 32
max_epochs = 2
validation = 64
[validation]
n_simulations = 40
n_draws = 99
c2st_datasets = 1
outside_simulations = 4
timing_batch = 4
"""


def test_train_writes_the_estimator_and_its_validation(tmp_path):
    (tmp_path / "a.toml").write_text(TINY)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["amortize", "train", "-c", str(tmp_path / "a.toml"), "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "estimator.json",
        "estimator.safetensors",
        "validation.json",
    ]
    v = json.loads((out / "validation.json").read_text())
    assert v["sbc"]["n"] == 40 and len(v["sbc"]["ranks"]) == 40
    assert all(0 <= r <= 99 for r in v["sbc"]["ranks"])
    assert v["coverage"]["levels"] == [0.5, 0.8, 0.9, 0.95]
    assert [g["n"] for g in v["generalization"]] == [500, 10]
    assert v["simulations"] == 256
    assert "C2ST against the exact posterior" in result.output
    loaded = AmortizedEstimator.load(out)
    assert loaded.prior_.n_times == (20, 60) and loaded.hidden == 16
    # the same folder again is refused without --overwrite, in one line
    again = CliRunner().invoke(
        app, ["amortize", "train", "-c", str(tmp_path / "a.toml"), "-o", str(out), "-q"]
    )
    assert again.exit_code == 2 and len(again.output.strip().splitlines()) == 1


def test_bad_configs_are_one_line_naming_the_key(tmp_path):
    cases = {
        "[prior]\nn_paths = [30, 10]\n": "prior.n_paths",
        '[prior]\nprocesses = ["bm"]\n': "prior.processes",
        "[network]\nhidden = 1\n": "network.hidden",
        "[training]\nn_simulation = 5\n": "training.n_simulation",
        "[prior]\nsigma = [0, 1]\n": "prior.sigma",
    }
    for text, key in cases.items():
        (tmp_path / "a.toml").write_text(text)
        result = CliRunner().invoke(
            app,
            ["amortize", "train", "-c", str(tmp_path / "a.toml"), "-o", str(tmp_path / "o"), "-q"],
        )
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and key in lines[0], (text, lines)
    assert not (tmp_path / "o").exists()
