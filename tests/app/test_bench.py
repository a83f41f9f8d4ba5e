"""The benchmark harness: its pieces on tiny sizes, checked exactly where they can be.

No speed is asserted anywhere: timings are only checked for their shape (one sample per
repeat, best <= median) and for the thread counts they ran on.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from pathfit.app.bench import (
    BENCH_STEPS,
    FULL,
    HORIZON,
    QUICK,
    STEPS,
    BenchReport,
    Candidate,
    Plan,
    check_agreement,
    numpy_design,
    pathfit_materialized,
    pathfit_streamed,
    run_bench,
    run_plan,
    time_interleaved,
    torch_design,
)
from pathfit.exceptions import InputError
from pathfit.processes import ABM

TINY = Plan(
    shapes=((20, 50), (7, 30)),
    repeats=2,
    min_time_s=0.0,
    stage_shape=(20, 50),
    stream_points=0,
    fit_shape=(20, 50),
    batched_replicates=3,
    looped_replicates=2,
    seed_max_steps=3,
    run_repeats=0,
    run_repeats_1thread=0,
    cold_repeats=0,
    threads=2,
)
"""Every measure on tiny sizes; the streamed run, ``pathfit run`` and cold starts skipped."""


@pytest.mark.parametrize(
    "pipeline", [numpy_design, torch_design, pathfit_streamed, pathfit_materialized]
)
def test_pipelines_are_exact_without_noise(pipeline) -> None:
    # sigma = 0: every path is x0 + mu t, so s_j = (x0 + mu t_j)^2 exactly, up to rounding
    process = ABM(x0=0.3, mu=0.5, sigma=0.0)
    times, s = pipeline(process, 5, 40, HORIZON, 0)
    times, s = np.asarray(times), np.asarray(s)
    assert times.shape == s.shape == (40,)
    assert np.all(np.diff(times) >= 0)
    assert 0 < times[0] <= times[-1] <= HORIZON
    np.testing.assert_allclose(s, (0.3 + 0.5 * times) ** 2, rtol=1e-12)


def test_numpy_reference_and_pathfit_sample_the_same_law() -> None:
    # Each pipeline's s_j against the exact E[x_j^2] of the ABM, in standard errors
    # sqrt(Var[x^2] / n), Var[x^2] = 2 v^2 + 4 m^2 v for x ~ N(m, v). With |z| < 6 at each of
    # 50 times for 4 pipelines, the false-failure probability is below 1e-4 even allowing the
    # mean of 4000 squares a tail ten times heavier than the normal's (2e-9 per time).
    process = ABM(x0=0.2, mu=0.5, sigma=1.0)
    n_paths = 4000
    for pipeline in (numpy_design, torch_design, pathfit_streamed, pathfit_materialized):
        times, s = pipeline(process, n_paths, 50, HORIZON, 7)
        times, s = np.asarray(times), np.asarray(s)
        mean, variance = 0.2 + 0.5 * times, times
        z = (s - (mean**2 + variance)) / np.sqrt(
            (2 * variance**2 + 4 * mean**2 * variance) / n_paths
        )
        assert np.abs(z).max() < 6, pipeline.__name__


def test_agreement_check_finds_streamed_equal_to_materialized() -> None:
    check = check_agreement(ABM(x0=0.0, mu=0.5, sigma=1.0), 300, 200, HORIZON)
    assert check.stream_vs_materialized < 1e-12  # same seed, same normals: rounding only
    # means over 200 correlated times of s_j / E[x_j^2]; each ratio has sd about 0.08 at 300
    # paths, so 0.6 is more than five of them away
    assert abs(check.pathfit_ratio - 1) < 0.4
    assert abs(check.numpy_ratio - 1) < 0.4


def test_timer_runs_each_candidate_on_its_threads_in_rotating_order() -> None:
    seen: dict[str, set[int]] = {"a": set(), "b": set()}
    timed: list[str] = []

    def job(name: str):
        def run(seed: int) -> None:
            seen[name].add(torch.get_num_threads())
            if seed >= 1:  # seed 0: warm-up and untimed calls
                timed.append(name)

        return run

    before = torch.get_num_threads()
    timings = time_interleaved(
        {"a": Candidate(run=job("a"), threads=2), "b": Candidate(run=job("b"), threads=1)},
        repeats=3,
        min_time_s=0.0,
    )
    assert torch.get_num_threads() == before
    assert seen == {"a": {2}, "b": {1}}
    assert timed == ["a", "b", "b", "a", "a", "b"]
    for name, threads in (("a", 2), ("b", 1)):
        timing = timings[name]
        assert (timing.threads, timing.calls, len(timing.samples_s)) == (threads, 1, 3)
        assert 0 <= timing.best_s <= timing.median_s


def test_timer_waits_for_the_device_before_reading_the_clock(monkeypatch) -> None:
    events: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: events.append("sync"))
    time_interleaved(
        {"k": Candidate(run=lambda seed: events.append("run"), threads=1, device="cuda")},
        repeats=2,
        min_time_s=0.0,
    )
    # every run of launches is followed by a synchronisation before anything else happens
    assert events[-1] == "sync"
    for k, event in enumerate(events[:-1]):
        if event == "run":
            assert events[k + 1] in ("run", "sync")
    assert events.count("run") >= 3 and events.count("sync") >= 2 * 2


def test_plan_names_the_bad_field() -> None:
    assert Plan.make(quick=True) is QUICK and Plan.make(quick=False) is FULL
    with pytest.raises(InputError) as error:
        dataclasses.replace(TINY, repeats=0)
    assert error.value.field == "repeats"
    with pytest.raises(InputError) as error:
        dataclasses.replace(TINY, shapes=((0, 10),))
    assert error.value.field == "shapes"


@pytest.fixture(scope="module")
def tiny_report() -> tuple[BenchReport, list[str]]:
    steps: list[str] = []
    return run_plan(TINY, steps.append), steps


def test_report_of_a_tiny_run(tiny_report) -> None:
    report, steps = tiny_report
    assert steps == list(STEPS) and len(steps) == BENCH_STEPS
    if not torch.cuda.is_available():
        assert report.title == "pathfit bench (cpu)"
    assert report.rows and all(
        isinstance(measure, str) and isinstance(value, str) and measure and value
        for measure, value in report.rows
    )
    figures = report.figures
    assert [(r.n_paths, r.n_times) for r in figures.throughput] == list(TINY.shapes)
    for row in figures.throughput:
        assert row.timings["pathfit_streamed"].threads == 2
        assert row.timings["pathfit_streamed_1thread"].threads == 1
        assert all(len(t.samples_s) == TINY.repeats for t in row.timings.values())
    assert figures.stream is None and figures.default_run is None and figures.cold_start == ()
    assert [a.horizon for a in figures.accuracy] == [HORIZON, 1.0]
    assert set(figures.step_seconds) == set(STEPS)


def test_report_json_is_strict_json(tiny_report) -> None:
    report, _ = tiny_report
    out = report.to_json()
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert out["title"] == report.title
    assert out["plan"]["threads"] == 2 and out["environment"]["threads"] == 2
    assert {"pathfit", "torch", "numpy", "python"} <= set(out["environment"]["versions"])
    row = out["throughput"][0]["timings"]["pathfit_streamed"]
    assert math.isclose(
        row["vs_numpy_best"], report.figures.throughput[0].vs_numpy("pathfit_streamed")
    )
    # a figure that is not finite becomes null, never NaN
    broken = dataclasses.replace(report.figures, wall_s=float("nan"))
    out = BenchReport.of(broken).to_json()
    assert out["wall_s"] is None
    json.dumps(out, allow_nan=False)


@pytest.mark.slow
def test_quick_run_end_to_end() -> None:
    steps: list[str] = []
    report = run_bench(quick=True, progress=steps.append)
    assert len(steps) == BENCH_STEPS
    assert report.title.endswith(", quick)")
    assert report.rows
    json.dumps(report.to_json(), allow_nan=False)
    figures = report.figures
    assert figures.stream is not None and figures.stream.points > 0
    assert figures.default_run is not None and len(figures.default_run.runs) == QUICK.run_repeats
    for command in figures.cold_start:
        assert len(command.samples_s) + len(command.errors) == QUICK.cold_repeats
