"""The coverage harness: do the 95% intervals cover lambda = 0.25 about 95% of the time?

The default experiment (ABM mu = 0.5, sigma = 1, 100 paths, 1000 times, T = 10) is fitted
R = 150 times under each kind of noise (iid, population, AR(1) with phi = 0.6, and
heteroscedastic). The claim tested is "coverage between 0.93 and 0.97"
for least_squares and gradient, with binomial bounds whose total false-failure probability is
below 1e-6.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from pathfit.app.config import RunConfig
from pathfit.app.coverage import CoverageReport, clopper_pearson, run_coverage
from pathfit.cli import app
from pathfit.exceptions import InputError

REPLICATES = 150
NOISES = ("iid", "population", "ar1", "heteroscedastic")
CHECKED = ("least_squares", "gradient")
# 4 noises x 2 methods x 2 sides: each side gets an equal share of the 1e-6.
ALPHA = 1e-6 / (len(NOISES) * len(CHECKED) * 2)
# Fewest hits compatible with coverage >= 0.93: P(Binom(150, 0.93) < LOWER) <= ALPHA.
LOWER = int(stats.binom.ppf(ALPHA, REPLICATES, 0.93))  # 120 of 150
# Most hits compatible with coverage <= 0.97: P(Binom(150, 0.97) > UPPER) <= ALPHA. At R = 150
# this is 150 (0.97^150 = 0.01 > ALPHA), so over-coverage cannot be rejected by the count
# alone: the width check below catches intervals that are too wide.
UPPER = int(stats.binom.isf(ALPHA, REPLICATES, 0.97))


@pytest.fixture(scope="module")
def reports() -> dict[str, CoverageReport]:
    return {
        noise: run_coverage(RunConfig(), replicates=REPLICATES, noise=noise) for noise in NOISES
    }


def _rows(report: CoverageReport) -> dict[str, object]:
    return {row.name: row for row in report.methods}


def test_bounds_are_what_the_comments_say():
    assert stats.binom.cdf(LOWER - 1, REPLICATES, 0.93) <= ALPHA
    assert stats.binom.cdf(LOWER, REPLICATES, 0.93) > ALPHA
    assert stats.binom.sf(UPPER, REPLICATES, 0.97) <= ALPHA
    assert LOWER == 120


@pytest.mark.slow
@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("name", CHECKED)
def test_coverage_is_between_093_and_097(reports, noise, name):
    report = reports[noise]
    assert report.replicates == REPLICATES
    assert report.noise == noise
    assert report.level == 0.95
    assert report.true == {"lam": 0.25}
    assert report.phi == (0.6 if noise == "ar1" else None)
    row = _rows(report)[name]
    assert row.n_fits == REPLICATES
    assert row.n_without_interval == 0
    hits = round(row.coverage * REPLICATES)
    assert LOWER <= hits <= UPPER, (noise, name, row.coverage)
    assert row.coverage_ci95 == pytest.approx(clopper_pearson(hits, REPLICATES))
    assert row.coverage_by_param == {"lam": pytest.approx(row.coverage)}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("noise", "interval"),
    [
        ("iid", "classical"),
        ("population", "path_bootstrap"),
        ("ar1", "hac"),
        ("heteroscedastic", "hac"),
    ],
)
@pytest.mark.parametrize("name", CHECKED)
def test_auto_picks_the_interval_the_noise_calls_for(reports, noise, interval, name):
    row = _rows(reports[noise])[name]
    # the choice itself errs with probability 0.13% per iid replicate (choose_interval's
    # threshold): P(>= 6 wrong of 150) = 7e-8 for that rate
    assert row.interval == interval
    assert row.intervals_used.get(interval, 0) >= REPLICATES - 5, row.intervals_used


@pytest.mark.slow
@pytest.mark.parametrize("noise", NOISES)
@pytest.mark.parametrize("name", CHECKED)
def test_interval_width_matches_the_observed_error(reports, noise, name):
    # For normal errors E|err| = sd sqrt(2/pi), so width / (2 z sqrt(pi/2) mean|err|) is about 1.
    # mean|err| over 150 replicates has relative sd sqrt(pi/2 - 1)/sqrt(150) = 0.062; the bounds
    # 0.7 and 1.6 sit 7 and 6 of those sd away (normal approximation: < 1e-8 each).
    row = _rows(reports[noise])[name]
    z = stats.norm.ppf(0.975)
    ratio = row.mean_ci_width / (2 * z * math.sqrt(math.pi / 2) * row.mean_abs_error)
    assert 0.7 <= ratio <= 1.6, (noise, name, ratio, row.mean_ci_width, row.mean_abs_error)


@pytest.mark.slow
def test_classical_intervals_miss_under_population_noise(reports):
    row = _rows(reports["population"])["least_squares_classical"]
    assert row.interval == "classical"
    # The classical half-width (~0.0006) is ~2% of the sampling sd (~0.024), so the true
    # coverage is ~0.02; even at 0.05, P(Binom(150, 0.05) >= 30) = 8e-11.
    assert row.coverage < 0.2, row.coverage
    # the same fits: least squares took off its jackknife bias where that was corrected
    ls = _rows(reports["population"])["least_squares"]
    for classical, corrected in zip(row.fits, ls.fits, strict=True):
        undone = corrected["estimate"][0] + (
            corrected["bias"][0] if corrected["bias_corrected"] else 0.0
        )
        assert classical["estimate"][0] == pytest.approx(undone, rel=1e-9)
    assert row.mean_ci_width < 0.1 * _rows(reports["population"])["least_squares"].mean_ci_width


@pytest.mark.slow
def test_least_squares_and_gradient_agree_replicate_by_replicate(reports):
    for noise in NOISES:
        rows = _rows(reports[noise])
        ls, grad = rows["least_squares"], rows["gradient"]
        assert ls.coverage == grad.coverage
        assert grad.mean_abs_error == pytest.approx(ls.mean_abs_error, rel=1e-6)
        assert grad.mean_ci_width == pytest.approx(ls.mean_ci_width, rel=1e-6)


def test_run_coverage_rejects_bad_arguments():
    config = RunConfig()
    with pytest.raises(InputError, match="--noise"):
        run_coverage(config, replicates=2, noise="bad")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="--replicates"):
        run_coverage(config, replicates=0)
    for phi in (1.0, -1.0, 2.5, float("nan")):
        with pytest.raises(InputError, match="--phi"):
            run_coverage(config, replicates=2, noise="ar1", phi=phi)
    with pytest.raises(InputError, match="--phi"):
        run_coverage(config, replicates=2, noise="iid", phi=0.3)


@pytest.mark.slow
def test_the_report_gives_the_true_spread_and_each_replicate(reports):
    report = reports["ar1"]
    z = stats.norm.ppf(0.975)
    for row in report.methods:
        assert len(row.fits) == REPLICATES
        errors = np.array([fit["estimate"][0] - 0.25 for fit in row.fits])
        assert row.error_sd["lam"] == pytest.approx(errors.std(ddof=1), rel=1e-9)
        assert row.bias["lam"] == pytest.approx(errors.mean(), rel=1e-9, abs=1e-15)
        assert row.exact_width == pytest.approx(2 * z * errors.std(ddof=1), rel=1e-9)
        assert row.width_ratio == pytest.approx(row.mean_ci_width / row.exact_width)
        held = [fit["covered"][0] for fit in row.fits]
        assert np.mean(held) == pytest.approx(row.coverage)
        for fit in row.fits:
            lo, hi = fit["ci"][0]
            assert fit["covered"][0] == (lo <= 0.25 <= hi)
    # the classical interval claims a third of what AR(1) noise at phi = 0.6 spreads
    assert _rows(report)["least_squares_classical"].width_ratio < 0.7


# --- what the user configured: the noise level and the methods ---------------------------------

# The widths test: two independent runs (different seeds, so different paths and noise) at
# noise_std 0.5 and 0.05. The classical width is 2 z sigma_hat / sqrt(sum_j X_j^2), so its mean
# over replicates scales with the noise sd: the ratio of the mean widths estimates 10.
# One replicate's width has relative sd 0.105 (measured over 400 seeds; 99.9% bootstrap quantile
# 0.123), from the design and from sigma_hat; we take WIDTH_RSD = 0.2. With R replicates per run,
# log(mean width) has sd <= WIDTH_RSD / sqrt(R) (delta method, the mean of R widths is close to
# normal), so log(ratio / 10) has sd <= sqrt(2) WIDTH_RSD / sqrt(R) = 0.020 at R = 200, and
# |log(ratio / 10)| <= 0.1 fails with probability 2 Phi(-0.1 / 0.020) < 1e-6.
WIDTH_REPLICATES = 200
WIDTH_RSD = 0.2
WIDTH_TOLERANCE = 0.1  # on log(ratio / 10)


def _iid(noise_std: float, seed: int, **methods: object) -> CoverageReport:
    config = RunConfig(seed=seed, target={"noise_std": noise_std}, methods=methods)
    return run_coverage(config, replicates=WIDTH_REPLICATES, noise="iid")


def test_width_tolerance_is_what_the_comment_says():
    sd = math.sqrt(2) * WIDTH_RSD / math.sqrt(WIDTH_REPLICATES)
    assert 2 * stats.norm.sf(WIDTH_TOLERANCE / sd) < 1e-6


def test_interval_widths_scale_with_target_noise_std():
    large = _iid(0.5, seed=1, run=["least_squares"])
    small = _iid(0.05, seed=2, run=["least_squares"])
    assert (large.noise_std, large.noise_std_source) == (0.5, "target.noise_std")
    assert (small.noise_std, small.noise_std_source) == (0.05, "target.noise_std")
    for report in (large, small):
        assert [row.name for row in report.methods] == ["least_squares", "least_squares_classical"]
        assert _rows(report)["least_squares"].interval == "classical"
    ratio = (
        _rows(large)["least_squares"].mean_ci_width / _rows(small)["least_squares"].mean_ci_width
    )
    assert abs(math.log(ratio / 10)) <= WIDTH_TOLERANCE, ratio


def test_zero_noise_std_falls_back_to_one_percent_of_mean_k_and_says_so():
    report = run_coverage(RunConfig(methods={"run": ["least_squares"]}), replicates=5)
    assert report.noise_std_source == "fallback"
    assert "target.noise_std = 0" in report.noise_std_note
    # 1% of mean |k_j|: k_j = 0.25 E[x_t^2] = 0.25 (0.25 t^2 + t) averaged over t in [0, 10]
    # is 0.25 (0.25 * 100 / 3 + 5) = 3.33; five replicates of 100 paths scatter it by a few %.
    assert report.noise_std == pytest.approx(0.0333, rel=0.15)


def test_population_noise_adds_no_noise_std_and_says_so():
    config = RunConfig(target={"noise_std": 0.5}, methods={"run": ["least_squares"]})
    report = run_coverage(config, replicates=3, noise="population")
    assert (report.noise_std, report.noise_std_source) == (None, "none")


def test_methods_run_is_respected_with_the_reference_column_last():
    config = RunConfig(
        sampling={"n_paths": 20, "n_times": 100}, methods={"run": ["gradient", "seed_network"]}
    )
    report = run_coverage(config, replicates=3)
    assert [row.name for row in report.methods] == [
        "gradient",
        "seed_network",
        "least_squares_classical",
    ]
    assert report.skipped == {}


def test_networks_are_tested_on_their_one_lambda():
    config = RunConfig(
        sampling={"n_paths": 20, "n_times": 100},
        target={"noise_std": 0.2},
        methods={"run": ["seed_network", "pointwise_mlp"]},
    )
    report = run_coverage(config, replicates=3)
    for row in report.methods[:2]:
        assert list(row.coverage_by_param) == ["lam"]
        assert row.n_without_interval == 0
        assert row.interval == "classical"
        assert 0 < row.mean_ci_width < 0.1


def test_unset_methods_run_tests_the_default_set():
    report = run_coverage(RunConfig(), replicates=2)
    assert [row.name for row in report.methods] == [
        "least_squares",
        "gradient",
        "least_squares_classical",
    ]
    assert report.skipped == {}


# --- the command --------------------------------------------------------------------------------


def _invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_coverage_command_writes_coverage_json(tmp_path: Path):
    out = tmp_path / "cov"
    result = _invoke("coverage", "-r", 20, "--noise", "population", "-o", out)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stderr == ""
    data = json.loads((out / "coverage.json").read_text(encoding="utf-8"))
    assert {"replicates", "level", "noise", "methods"} <= set(data)
    assert data["replicates"] == 20
    assert data["level"] == 0.95
    assert data["noise"] == "population"
    assert [m["name"] for m in data["methods"]] == [
        "least_squares",
        "gradient",
        "least_squares_classical",
    ]
    for method in data["methods"]:
        assert {
            "name",
            "interval",
            "coverage",
            "coverage_ci95",
            "mean_abs_error",
            "mean_ci_width",
            "seconds_per_fit",
        } <= set(method)
        assert 0 <= method["coverage"] <= 1
        lo, hi = method["coverage_ci95"]
        assert lo <= method["coverage"] <= hi
        assert method["name"] in result.stdout
    intervals = {m["name"]: m["interval"] for m in data["methods"]}
    assert intervals == {
        "least_squares": "path_bootstrap",
        "gradient": "path_bootstrap",
        "least_squares_classical": "classical",
    }


COVERAGE_CONFIG = """seed = 7
[sampling]
n_paths = 20
n_times = 50
[target]
noise_std = 0.2
[methods]
run = ["least_squares", "seed_network"]
"""


def test_coverage_json_records_seed_config_versions_and_noise(tmp_path: Path):
    config_file = tmp_path / "cov.toml"
    config_file.write_text(COVERAGE_CONFIG, encoding="utf-8")
    out = tmp_path / "cov"
    result = _invoke("coverage", "-c", config_file, "-r", 5, "-o", out, "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads((out / "coverage.json").read_text(encoding="utf-8"))
    assert data["schema_version"] == 2
    assert data["seed"] == 7
    assert data["noise_std"] == 0.2
    assert data["noise_std_source"] == "target.noise_std"
    assert "target.noise_std" in data["noise_std_note"]
    assert [m["name"] for m in data["methods"]] == [
        "least_squares",
        "seed_network",
        "least_squares_classical",
    ]
    assert data["skipped"] == []
    assert data["config"]["seed"] == 7
    assert data["config"]["target"]["noise_std"] == 0.2
    assert data["config"]["methods"]["run"] == ["least_squares", "seed_network"]
    assert data["config"]["sampling"]["n_paths"] == 20
    manifest = data["manifest"]
    assert manifest["seed"] == 7
    assert {"pathfit", "torch", "numpy", "python"} <= set(manifest["versions"])
    assert manifest["config_hash"].startswith("sha256:")
    assert manifest["started"] <= manifest["finished"]
    assert "seed_network" in result.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--noise", "bad"), "--noise"),
        (("--noise", "ar1", "--phi", "1"), "--phi"),
        (("--phi", "0.5"), "--phi"),
    ],
)
def test_coverage_command_with_bad_noise_exits_2_with_one_line(tmp_path: Path, args, named):
    out = tmp_path / "cov"
    result = _invoke("coverage", "-r", 2, *args, "-o", out)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert named in lines[0]
    assert args[-1] in lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (out / "coverage.json").exists()
