"""pathfit simulate / fit / run through the command line: round trip, bad data, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pathfit.cli import app

runner = CliRunner()
SMALL = (
    "seed = 3\n[sampling]\nn_paths = 30\nn_times = 200\n"
    '[methods]\nrun = ["least_squares", "gradient", "seed_network"]\n'
    "[methods.seed_network]\nmax_steps = 20\n"
)


def _config(tmp_path: Path, text: str = SMALL) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def _rows(folder: Path) -> dict[str, dict]:
    data = json.loads((folder / "results.json").read_text())
    return {row["name"]: row for row in data["methods"]}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["data.csv", "data.parquet", "data.npz", "wide.csv"])
def test_simulate_then_fit_gives_the_estimates_of_run(tmp_path: Path, name: str) -> None:
    config = _config(tmp_path)
    data = tmp_path / name
    layout = ["--layout", "wide"] if name.startswith("wide") else []
    made = runner.invoke(app, ["simulate", "--config", str(config), "-o", str(data), *layout])
    assert made.exit_code == 0, made.output
    fitted = runner.invoke(
        app, ["fit", str(data), "--config", str(config), "-o", str(tmp_path / "fit"), "-q"]
    )
    assert fitted.exit_code == 0, fitted.output
    ran = runner.invoke(app, ["run", "--config", str(config), "-o", str(tmp_path / "run"), "-q"])
    assert ran.exit_code == 0, ran.output
    fit_rows, run_rows = _rows(tmp_path / "fit"), _rows(tmp_path / "run")
    assert set(fit_rows) == set(run_rows) == {"least_squares", "gradient", "seed_network"}
    for method in fit_rows:
        assert fit_rows[method]["estimate"] == pytest.approx(
            run_rows[method]["estimate"], rel=1e-12
        )
    # the truth travelled with the data, so errors are reported
    assert fit_rows["least_squares"]["abs_error"] < 1e-10


@pytest.mark.slow
def test_run_writes_the_report_beside_results(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "--config", str(_config(tmp_path)), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    for name in ("results.json", "report.html", "summary.md", "paths.png", "targets.png"):
        assert (out / name).is_file(), name
    assert 'id="methods"' in (out / "report.html").read_text()


def test_fit_of_the_example_files(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "data"
    config = _config(tmp_path, '[methods]\nrun = ["least_squares"]\n')
    for name in ("long.csv", "wide.csv"):
        out = tmp_path / name
        result = runner.invoke(
            app, ["fit", str(examples / name), "--config", str(config), "-o", str(out), "-q"]
        )
        assert result.exit_code == 0, result.output
        assert _rows(out)["least_squares"]["estimate"] == pytest.approx(0.25, rel=1e-12)


BAD = {
    "missing value": "path,time,value\na,0.5,1.0\nb,0.5,\na,1.0,2.0\nb,1.0,3.0\n",
    "duplicate pair": "path,time,value\na,0.5,1.0\na,0.5,1.5\nb,0.5,2.0\na,1.0,2.0\nb,1.0,3.0\n",
    "non-numeric": "path,time,value\na,0.5,1.0\nb,0.5,five\na,1.0,2.0\nb,1.0,3.0\n",
    "single path": "path,time,value\na,0.5,1.0\na,1.0,2.0\n",
    "constant": "path,time,value\na,0.5,1.0\nb,0.5,1.0\na,1.0,1.0\nb,1.0,1.0\n",
}
TARGETS = "time,k\n0.5,1.0\n1.0,2.0\n"


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, case: str) -> None:
    data = tmp_path / "bad.csv"
    data.write_text(BAD[case])
    (tmp_path / "bad.targets.csv").write_text(TARGETS)
    out = tmp_path / "out"
    result = runner.invoke(app, ["fit", str(data), "-o", str(out), "-q"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.csv" in lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert not out.exists()


def test_targets_for_times_without_paths_exit_2(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("path,time,value\na,0.5,1.0\nb,0.5,2.0\na,1.0,2.0\nb,1.0,3.0\n")
    (tmp_path / "d.targets.csv").write_text("time,k\n0.5,1.0\n1.0,2.0\n1.5,3.0\n")
    result = runner.invoke(app, ["fit", str(data), "-q"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "1.5" in result.stderr


def test_missing_omit_drops_the_time(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    rows = ["path,time,value"] + [
        f"{p},{t},{v}" for t in (0.5, 1.0, 1.5) for p, v in (("a", t), ("b", 2 * t))
    ]
    rows[3] = "a,1.0,"  # a missing value at time 1.0
    data.write_text("\n".join(rows) + "\n")
    (tmp_path / "d.targets.csv").write_text("time,k\n0.5,0.2\n1.0,0.7\n1.5,1.4\n")
    config = _config(tmp_path, '[methods]\nrun = ["least_squares"]\n')
    raised = runner.invoke(app, ["fit", str(data), "--config", str(config), "-q"])
    assert raised.exit_code == 2 and "line 4" in raised.stderr
    omitted = runner.invoke(
        app,
        [
            "fit",
            str(data),
            "--config",
            str(config),
            "--missing",
            "omit",
            "-o",
            str(tmp_path / "out"),
            "-q",
        ],
    )
    assert omitted.exit_code == 0, omitted.output
    assert "omitted 1 time with missing values" in omitted.output


SMALL_SIMULATION = "[sampling]\nn_paths = 5\nn_times = 10\n"


def test_simulate_never_replaces_a_data_file_unless_asked(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text(SMALL_SIMULATION, encoding="utf-8")
    data = tmp_path / "d.csv"
    runner = CliRunner()
    first = runner.invoke(app, ["simulate", "-c", str(config), "-o", str(data)])
    assert first.exit_code == 0, first.stdout + first.stderr
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    again = runner.invoke(app, ["simulate", "-c", str(config), "-o", str(data), "--seed", "1"])
    assert again.exit_code == 2
    lines = again.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --output")
    assert "d.csv" in lines[0] and "--overwrite" in lines[0]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before

    forced = runner.invoke(
        app, ["simulate", "-c", str(config), "-o", str(data), "--seed", "1", "--overwrite"]
    )
    assert forced.exit_code == 0, forced.stdout + forced.stderr
    assert data.read_bytes() != before["d.csv"]


@pytest.mark.parametrize(
    ("truth", "fragment"),
    [
        ('{"lam_coef": 5}', "data.truth.json: lam_coef: expected a non-empty list"),
        ("null", "data.truth.json: expected a JSON object"),
        ('{"k_coef": [1, "a"]}', "data.truth.json: k_coef[1]: expected a real number"),
    ],
)
def test_a_bad_truth_file_exits_2_with_one_line(tmp_path: Path, truth: str, fragment: str) -> None:
    config = _config(
        tmp_path, '[sampling]\nn_paths = 4\nn_times = 12\n[methods]\nrun = ["least_squares"]\n'
    )
    data = tmp_path / "data.csv"
    made = runner.invoke(app, ["simulate", "--config", str(config), "-o", str(data)])
    assert made.exit_code == 0, made.output
    (tmp_path / "data.truth.json").write_text(truth)
    out = tmp_path / "fit"
    result = runner.invoke(app, ["fit", str(data), "--config", str(config), "-o", str(out), "-q"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())


def test_fit_of_values_whose_square_overflows_is_one_line(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text(SMALL_SIMULATION, encoding="utf-8")
    data = tmp_path / "d.csv"
    runner = CliRunner()
    assert runner.invoke(app, ["simulate", "-c", str(config), "-o", str(data)]).exit_code == 0
    lines = data.read_text(encoding="utf-8").splitlines()
    path, time, _ = lines[3].split(",")
    lines[3] = f"{path},{time},1e200"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = runner.invoke(app, ["fit", str(data), "-c", str(config), "-o", str(out)])
    assert result.exit_code == 2, result.stdout + result.stderr
    errors = result.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ")
    assert "paths.values" in errors[0] and "1e+200" in errors[0]
    assert not out.exists() or not any(out.iterdir())
