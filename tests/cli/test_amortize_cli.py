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
        "report.html",
        "validation.json",
    ]
    page = (out / "report.html").read_text()
    for figure in ("sbc", "coverage", "posteriors", "rmse_by_size"):
        assert f'id="figure-{figure}"' in page
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


def _tiny_estimator(folder):
    from pathfit.amortized import Prior

    prior = Prior(processes=("abm",), n_paths=(10, 30), n_times=(20, 60))
    est = AmortizedEstimator(prior, hidden=16, context=8, transforms=2, threads=1)
    est.train(128, batch_size=32, max_epochs=1, validation=32)
    est.save(folder)


def test_apply_and_the_amortized_method_of_run_and_fit(tmp_path):
    import jsonschema

    _tiny_estimator(tmp_path / "est")
    runner = CliRunner()
    (tmp_path / "sim.toml").write_text(
        "[sampling]\nn_paths = 20\nn_times = 40\n[target]\nnoise_std = 0.01\n"
    )
    data = tmp_path / "d.csv"
    assert (
        runner.invoke(
            app, ["simulate", "-c", str(tmp_path / "sim.toml"), "-o", str(data)]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app,
        [
            "amortize",
            "apply",
            str(tmp_path / "est"),
            str(data),
            "-o",
            str(tmp_path / "applied"),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "applied" / "results.json").read_text())
    (method,) = results["methods"]
    assert method["name"] == "amortized" and method["interval"] == "posterior"
    lo, hi = method["ci"]
    assert lo < method["estimate"] < hi
    from importlib.resources import files

    schema = json.loads((files("pathfit.app") / "results.schema.json").read_text())
    jsonschema.validate(results, schema)
    # the same estimator as a method of `pathfit fit`, beside least squares
    (tmp_path / "fit.toml").write_text(
        '[methods]\nrun = ["least_squares", "amortized"]\n'
        f'[methods.amortized]\npath = "{tmp_path / "est"}"\n'
    )
    result = runner.invoke(
        app,
        ["fit", str(data), "-c", str(tmp_path / "fit.toml"), "-o", str(tmp_path / "fitted"), "-q"],
    )
    assert result.exit_code == 0, result.output
    from pathfit.app.build import make_estimator
    from pathfit.app.config import parse_config

    config = parse_config(
        {"threads": 2, "seed": 9, "methods": {"amortized": {"path": str(tmp_path / "est")}}}
    )
    built = make_estimator("amortized", config, 20)
    assert (built.threads, built.seed, built.level) == (2, 9, 0.95)
    names = [
        m["name"] for m in json.loads((tmp_path / "fitted" / "results.json").read_text())["methods"]
    ]
    assert names == ["least_squares", "amortized"]


def test_the_amortized_method_without_a_usable_estimator_is_one_line(tmp_path):
    runner = CliRunner()
    cases = {
        '[methods]\nrun = ["amortized"]\n': "methods.amortized.path: expected the folder",
        '[methods.amortized]\npath = "nowhere"\n': "methods.amortized.path: expected a saved",
    }
    for text, expected in cases.items():
        (tmp_path / "c.toml").write_text(text)
        result = runner.invoke(
            app, ["run", "-c", str(tmp_path / "c.toml"), "-o", str(tmp_path / "o")]
        )
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and expected in lines[0], lines
    # without the section, the method is not among those a run selects
    from pathfit.app.build import selected_methods
    from pathfit.app.config import parse_config

    assert "amortized" not in selected_methods(parse_config({}))
