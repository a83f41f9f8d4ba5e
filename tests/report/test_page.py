"""The page design every report shares, in Chromium at a phone's width (420 px) and a laptop's
(1280 px): no horizontal overflow, nothing past the content column, every image loaded, no
console error and nothing fetched but the file and its data URIs. Screenshots are saved into
$PATHFIT_TEST_ARTIFACTS when set (else the test's temporary folder).

Also, without a browser: the answer heads the run page and summary.md, degenerate intervals
and the horizon are explained, columns carry their meaning, and equal inputs give equal pages.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markupsafe import escape

from pathfit.app.config import parse_config
from pathfit.app.coverage import run_coverage
from pathfit.app.experiment import run_experiment
from pathfit.app.outcome import RunOutcome
from pathfit.report import answer as answers
from pathfit.report import write_report
from pathfit.report.amortized import validation_lines, write_validation_report
from pathfit.report.coverage import render_coverage_html, write_coverage_report
from pathfit.report.html import render_html
from pathfit.report.markdown import render_summary
from pathfit.report.study import write_study_report
from report.test_report import POLY  # the polynomial run the report's other tests use
from report.test_study_report import (
    HORIZON,
    INTERVAL,
    LR,
    M,
    N,
    coverage_rows,
    make_study,
    stability_rows,
)

SMALL = {"sampling": {"n_paths": 10, "n_times": 30}}
WIDTHS = (420, 1280)


# -- the browser -----------------------------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def _browser_or_skip() -> str:
    """Chromium's path; skips without playwright or chromium, except under CI=true, where the
    browser test must run and fails instead."""
    in_ci = os.environ.get("CI", "").lower() == "true"
    chromium = _chromium()
    reason = None
    if importlib.util.find_spec("playwright") is None:
        reason = "the playwright Python package is not installed (pip install playwright)"
    elif chromium is None:
        reason = "no chromium found (looked for chromium, chromium-browser, /usr/bin/chromium)"
    if reason is not None:
        if in_ci:
            pytest.fail(f"CI=true but the browser test cannot run: {reason}")
        pytest.skip(reason)
    assert chromium is not None
    return chromium


def test_browser_test_fails_in_ci_without_chromium(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        _browser_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        _browser_or_skip()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = _browser_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get("PATHFIT_TEST_ARTIFACTS")
    folder = Path(named) if named else tmp_path_factory.mktemp("page-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Elements inside a box that scrolls sideways on its own (a table's wrapper, <pre>) may be
# wider than the column; everything else must end within the column's content box.
PAST_THE_COLUMN = """() => {
  const main = document.querySelector('main');
  const box = main.getBoundingClientRect();
  const right = box.right - parseFloat(getComputedStyle(main).paddingRight) + 1;
  const found = [];
  for (const el of main.querySelectorAll('*')) {
    if (el.parentElement && el.parentElement.closest('.table-wrap, pre')) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > right) {
      found.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} ends at ${r.right}`);
    }
  }
  return {right: right, found: found.slice(0, 10)};
}"""
SCROLLING_TABLES = """() => Array.from(document.querySelectorAll('.table-wrap'))
  .filter(w => w.scrollWidth > w.clientWidth + 1)
  .map(w => (w.querySelector('table').id || w.previousElementSibling?.textContent || '?')
    + ` needs ${w.scrollWidth} px of ${w.clientWidth}`)"""


def check_page(browser: Any, report: Path, width: int, shot: Path) -> dict[str, Any]:
    """Open ``report`` at ``width`` CSS px, screenshot it into ``shot`` and return what the
    page measured."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda err: errors.append(f"pageerror: {err}"))
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(report.as_uri(), wait_until="load")
        measured = {
            "scroll_width": page.evaluate("() => document.documentElement.scrollWidth"),
            "images": page.evaluate(
                "() => Array.from(document.images).map(i => [i.complete, i.naturalWidth])"
            ),
            "past_the_column": page.evaluate(PAST_THE_COLUMN)["found"],
            "scrolling_tables": page.evaluate(SCROLLING_TABLES),
            "errors": errors,
            "requests": requests,
        }
        page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
    return measured


def assert_fits(measured: dict[str, Any], width: int, *, images: int) -> None:
    assert measured["errors"] == []
    assert measured["scroll_width"] <= width, measured["scroll_width"]
    assert measured["past_the_column"] == []
    assert len(measured["images"]) == images
    assert all(complete and natural > 0 for complete, natural in measured["images"])
    # the page itself and its data URIs only: nothing fetched from anywhere else
    assert all(url.startswith(("file:", "data:")) for url in measured["requests"])


# -- the pages -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_run() -> RunOutcome:
    return run_experiment(parse_config({}))


@pytest.fixture(scope="module")
def poly_run() -> RunOutcome:
    return run_experiment(parse_config(POLY))


@pytest.fixture(scope="module")
def coverage_report() -> Any:
    return run_coverage(parse_config(SMALL), replicates=20, workers=1)


def _validation() -> dict[str, Any]:
    """A validation.json as `pathfit amortize train` writes it, small and made up."""
    rng = np.random.default_rng(0)
    draws, n = 99, 40
    ranks = rng.integers(0, draws + 1, n)
    histogram, _ = np.histogram(ranks, bins=10, range=(0, draws + 1))
    return {
        "simulations": 256,
        "train_s": 3.0,
        "sbc": {
            "n": n,
            "draws": draws,
            "ranks": ranks.tolist(),
            "ks_pvalue": 0.41,
            "histogram": histogram.tolist(),
        },
        "coverage": {
            "levels": [0.5, 0.8, 0.9, 0.95],
            "empirical": [0.48, 0.8, 0.88, 0.95],
            "exact_posterior": [0.5, 0.78, 0.9, 0.93],
        },
        "rmse": {
            "amortized": 0.011,
            "exact_posterior": 0.01,
            "ratio_vs_exact": 1.1,
            "least_squares": 0.0102,
        },
        "c2st": 0.53,
        "examples": [
            {
                "exact_mean": 0.25,
                "exact_sd": 0.01,
                "amortized_draws": (0.25 + 0.01 * rng.standard_normal(200)).tolist(),
            }
            for _ in range(3)
        ],
        "by_size": [
            {"n": 20 * k, "m": 100, "rmse_amortized": 0.01 / k, "rmse_exact": 0.009 / k}
            for k in (1, 2, 4)
        ],
        "generalization": [{"n": 500, "m": 100, "rmse_ratio_vs_exact": 1.3, "coverage_90": 0.86}],
        "inference_ms_per_dataset": 1.5,
        "batch_1000_s": 0.2,
        "timing_batch": 4,
    }


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", ["default", "poly"])
def test_the_run_report_fits_in_chromium(
    kind: str,
    width: int,
    default_run: RunOutcome,
    poly_run: RunOutcome,
    browser: Any,
    artifacts: Path,
    tmp_path: Path,
) -> None:
    out = default_run if kind == "default" else poly_run
    files = write_report(tmp_path, out)
    measured = check_page(
        browser, files["report.html"], width, artifacts / f"run-{kind}-{width}.png"
    )
    assert_fits(measured, width, images=len([f for f in files if f.endswith(".png")]))
    if width == 1280:  # at a laptop's width every table fits without scrolling
        assert measured["scrolling_tables"] == []
    assert (artifacts / f"run-{kind}-{width}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_coverage_report_fits_in_chromium(
    coverage_report: Any, browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    report = write_coverage_report(tmp_path, coverage_report)
    for width in WIDTHS:
        measured = check_page(browser, report, width, artifacts / f"coverage-{width}.png")
        assert_fits(measured, width, images=0)


@pytest.mark.slow
def test_the_study_report_fits_in_chromium(browser: Any, artifacts: Path, tmp_path: Path) -> None:
    stability = make_study(
        tmp_path / "stability",
        stability_rows(),
        [LR, HORIZON],
        metrics=["abs_error", "status", "bound", "frontier"],
    )
    coverage = make_study(
        tmp_path / "coverage",
        coverage_rows(),
        [INTERVAL, "study.noise", N, M],
        metrics=["error", "covered", "interval"],
    )
    for name, folder in (("stability", stability), ("coverage", coverage)):
        report = write_study_report(folder)
        images = len(list((folder / "figures").glob("*.png")))
        measured = check_page(browser, report, 420, artifacts / f"study-{name}-420.png")
        assert_fits(measured, 420, images=images)


@pytest.mark.slow
def test_the_amortize_report_fits_in_chromium(
    browser: Any, artifacts: Path, tmp_path: Path
) -> None:
    validation = _validation()
    report = write_validation_report(
        tmp_path, validation, validation_lines(validation), title="validation"
    )
    measured = check_page(browser, report, 420, artifacts / "amortize-420.png")
    assert_fits(measured, 420, images=4)


# -- the page's text, without a browser --------------------------------------------------------


def _section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', page)


def test_the_answer_heads_the_run_page_and_the_summary(
    default_run: RunOutcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = answers.Answer(
        headline="lambda = 0.25 <exactly>",
        sentences=("Least squares recovers it.", "seed_sgd diverges: 2278 > 200."),
    )
    monkeypatch.setattr(answers, "answer", lambda out: given)
    page = render_html(default_run, [], title="t", generated="now")
    assert _section_ids(page)[:2] == ["answer", "summary"]
    assert "lambda = 0.25 &lt;exactly&gt;" in page
    assert "<p>seed_sgd diverges: 2278 &gt; 200.</p>" in page
    assert "Key messages" not in page
    # what the key messages said beyond the table stays, in the per-method cards
    for method in default_run.methods:
        for text in (*method.warnings, *method.notes):
            assert str(escape(text)) in page
    summary = render_summary(default_run, [], title="t")
    lines = summary.splitlines()
    assert lines[4:7] == [
        "**lambda = 0.25 <exactly>**",
        "",
        "Least squares recovers it. seed_sgd diverges: 2278 > 200.",
    ]
    assert "## Key messages" not in summary
    notes = summary[summary.index("## Notes by method") :]
    for method in default_run.methods:
        for text in method.warnings:
            assert f"- {method.name}: {text}" in notes


def test_without_an_answer_the_key_messages_stand_in(
    default_run: RunOutcome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(answers, "answer", lambda out: answers.Answer("", ()))
    page = render_html(default_run, [], title="t", generated="now")
    assert _section_ids(page)[:2] == ["answer", "summary"]
    assert "<h2>Key messages</h2>" in page
    assert "## Key messages" in render_summary(default_run, [], title="t")


def test_degenerate_intervals_and_the_horizon_are_explained(default_run: RunOutcome) -> None:
    page = render_html(default_run, [], title="t", generated="now")
    assert default_run.targets.noise_std == 0
    assert "[0.25, 0.25]" in page
    assert 'id="zero-width"' in page
    assert "because the targets are noise-free" in page
    assert "exactness of the fit, not certainty about the model" in page
    # the observation window is the config's horizon, the last time beside it
    last = float(default_run.paths.times[-1])
    assert f"uniform in (0, T] with horizon T = 10 (the last at {last:.4g})" in page
    assert "on (0, 9.99" not in page
    # every column of the methods table says what it is, on hover and under the table
    header = re.search(r'<table id="methods".*?</thead>', page, re.S)
    assert header is not None
    assert len(re.findall(r"<abbr title=", header.group(0))) == 8
    assert "in seconds" in page and "in units of k per unit x^2" in page


def test_a_noisy_run_has_no_zero_width_note(poly_run: RunOutcome) -> None:
    page = render_html(poly_run, [], title="t", generated="now")
    assert 'id="zero-width"' not in page
    assert 'id="lambda-x"' in page and "<abbr title=" in page


@pytest.mark.slow
def test_equal_runs_give_equal_pages(default_run: RunOutcome, tmp_path: Path) -> None:
    first = write_report(tmp_path / "a", default_run)["report.html"].read_bytes()
    second = write_report(tmp_path / "b", default_run)["report.html"].read_bytes()
    assert first == second
    page = first.decode("utf-8")
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert page.count("<nav") == 1 and 'href="#answer"' in page


def _rows(page: str, table_id: str) -> list[list[str]]:
    """The cells of a table's body rows, as text."""
    table = re.search(rf'<table [^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', page, re.S)
    assert table is not None, table_id
    return [
        re.findall(r"<td[^>]*><span>(.*?)</span></td>", row)
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    ]


def test_the_coverage_page_shows_each_method_from_the_report(coverage_report: Any) -> None:
    page = render_coverage_html(coverage_report)
    assert page.startswith("<!DOCTYPE html>")
    assert render_coverage_html(coverage_report) == page
    covered, errors = _rows(page, "coverage-table"), _rows(page, "errors-table")
    assert (
        [r[0] for r in covered]
        == [r[0] for r in errors]
        == [row.name for row in coverage_report.methods]
    )
    for row, cells, error_cells in zip(coverage_report.methods, covered, errors, strict=True):
        lo, hi = row.coverage_ci95
        assert cells[1:6] == [
            row.interval,
            str(row.n_fits - row.n_without_interval),
            f"{row.coverage:.3f}",
            f"[{lo:.3f}, {hi:.3f}]",
            "under-covers" if hi < 0.95 else "over-covers" if lo > 0.95 else "consistent",
        ]
        assert error_cells[6] == f"{row.width_ratio:.2f}"
        assert error_cells[1] == f"{row.bias['lam']:.3g}"
    # each cell labelled by its column, for the stacked cards of a narrow screen
    assert '<td data-label="95% CI of coverage">' in page
    assert "Clopper-Pearson" in page and str(escape(coverage_report.noise_std_note)) in page


def test_the_study_page_is_the_same_for_the_same_folder(tmp_path: Path) -> None:
    folder = make_study(
        tmp_path / "coverage",
        coverage_rows(),
        [INTERVAL, "study.noise", N, M],
        metrics=["error", "covered", "interval"],
    )
    first = write_study_report(folder).read_bytes()
    assert write_study_report(folder).read_bytes() == first
    # the footer's time is the last run's, not the time the page was drawn
    assert "Generated 2025-01-01 00:01 UTC by pathfit" in first.decode("utf-8")


def _png(width: int, height: int) -> bytes:
    """A white PNG of the given pixel size."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_figure_is_shown_at_its_css_width_with_its_aspect_ratio() -> None:
    from pathfit.report.build import ReportFigure
    from pathfit.report.html import page_figure
    from pathfit.report.page import figure

    shown = page_figure(ReportFigure("paths.png", "t", "c", _png(1540, 880), css_width=770))
    assert (shown.id, shown.width, shown.height) == ("figure-paths", 770, 440)
    assert shown.src.startswith("data:image/png;base64,")
    # the height follows the PNG, whatever its shape
    wide = page_figure(ReportFigure("a.png", "t", "c", _png(1540, 528), css_width=770))
    assert (wide.width, wide.height) == (770, 264)
    # a figure without a display width (the study's maps) is shown at its pixel width
    assert (
        figure("m", "t", "c", _png(700, 400)).width,
        figure("m", "t", "c", _png(700, 400)).height,
    ) == (700, 400)
