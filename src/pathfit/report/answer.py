"""The answer a run gives to its question, in three to five sentences built from the outcome.

It heads report.html and summary.md and closes the CLI's run. Each sentence exists because
the outcome holds something to say (an estimate and how sure, methods that agree or do not, a
fit that failed and the number that explains it, what the data do not determine), and says it
in the words that case needs; a case with nothing to say contributes no sentence.

Example:
    >>> from pathfit.app.config import RunConfig
    >>> from pathfit.app.experiment import run_experiment
    >>> print(answer(run_experiment(RunConfig())).headline)
    lambda = 0.25, exact (noise-free targets)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathfit.app.outcome import LambdaXOutcome, MethodOutcome, RunOutcome

__all__ = ["Answer", "answer"]

MAX_SENTENCES = 5
EXACT = 1e-9
"""An estimate whose standard error is below this fraction of its size is exact: the targets
carry no noise and what is left is rounding."""
SPREAD_IS_BIAS = 1e-6
"""The seed network's lambda_j varying by less than this fraction of its mean: the bias alone
carries lambda."""

_NAMES = {
    "least_squares": "least squares",
    "seed_sgd": "the seed's per-sample SGD",
    "gradient": "guarded gradient training",
    "seed_network": "the seed network",
    "pointwise_mlp": "the pointwise network lambda_theta(x)",
    "amortized": "the amortized network",
}
_NETWORKS = ("seed_network", "pointwise_mlp", "amortized")


@dataclass(frozen=True)
class Answer:
    """The run's answer.

    Attributes:
        headline: the estimate and how sure, in one short line ("lambda = 0.25002 +/- 2.1e-05
            (95% [0.24998, 0.25006])").
        sentences: three to five plain-text sentences, each ending in a full stop.
    """

    headline: str
    sentences: tuple[str, ...]

    def as_text(self) -> str:
        """The sentences as one paragraph of plain text."""
        return " ".join(self.sentences)


@dataclass(frozen=True)
class _Sentence:
    priority: int  # lower is kept first when there are more than MAX_SENTENCES
    text: str


def answer(out: RunOutcome) -> Answer:
    """The answer to the run's question, from what its methods found."""
    ref = _reference(out.methods)
    found: list[_Sentence] = []
    if ref is None:
        found.append(_Sentence(0, "No method produced an estimate."))
    else:
        found.append(_Sentence(0, _estimate_sentence(ref, out)))
        found.extend(_agreement(ref, out))
    found.extend(_failures(out))
    identification = _identification(out)
    if not identification and ref is not None:
        identification = _identified(ref)
    found.extend(identification)
    if _is_lambda_x_target(out):
        found.extend(_curves(out))
    if out.lambda_x is not None:
        found.append(_Sentence(2, _lambda_x_sentence(out.lambda_x)))
    verdict = _verdict(ref, out)
    if verdict is not None:
        found.append(_Sentence(2, verdict))
    kept = sorted(sorted(found, key=lambda s: s.priority)[:MAX_SENTENCES], key=found.index)
    return Answer(_headline(ref, out), tuple(s.text for s in kept))


# ---- what the methods found -------------------------------------------------------------


def _name(method: MethodOutcome) -> str:
    return _NAMES.get(method.name, method.name)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _listed(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _reference(methods: Sequence[MethodOutcome]) -> MethodOutcome | None:
    """The estimate the answer leads with: the closed form where it converged, else the first
    converged fit, else the first with any estimate."""
    usable = [m for m in methods if m.has_estimate]
    for m in usable:
        if m.name == "least_squares" and m.status == "converged":
            return m
    converged = [m for m in usable if m.status in ("converged", "early_stopped")]
    return (converged or usable or [None])[0]


def _num(value: float, stderr: float | None = None) -> str:
    """A value to the digits its standard error supports (two significant digits of it),
    at least four significant digits, at most ten."""
    if stderr is None or stderr <= 0 or not math.isfinite(stderr) or value == 0:
        return f"{value:.6g}"
    digits = math.floor(math.log10(abs(value))) - math.floor(math.log10(stderr)) + 2
    return f"{value:.{min(max(digits, 4), 10)}g}"


def _scalar_exact(m: MethodOutcome) -> bool:
    est, se = m.estimate, m.stderr
    return isinstance(est, float) and isinstance(se, float) and se <= EXACT * max(abs(est), 1e-300)


def _vector_exact(m: MethodOutcome) -> bool:
    est, se = m.estimate, m.stderr
    if not (isinstance(est, tuple) and isinstance(se, tuple)):
        return False
    scale = max(abs(v) for v in est) or 1e-300
    return max(se) <= EXACT * scale


def _level(out: RunOutcome) -> str:
    return f"{out.level:.0%}"


def _headline(ref: MethodOutcome | None, out: RunOutcome) -> str:
    if ref is None:
        return "no estimate"
    est, se, ci = ref.estimate, ref.stderr, ref.ci
    if isinstance(est, tuple):
        names = ref.param_names
        if _vector_exact(ref):
            return ", ".join(f"{n} = {v:.6g}" for n, v in zip(names, est, strict=True)) + (
                ", exact (noise-free targets)"
            )
        ses = se if isinstance(se, tuple) else (None,) * len(est)
        return ", ".join(
            f"{n} = {_num(v, s)}" + ("" if s is None else f" +/- {s:.2g}")
            for n, v, s in zip(names, est, ses, strict=True)
        )
    assert isinstance(est, float)
    if _scalar_exact(ref):
        return f"lambda = {est:.6g}, exact (noise-free targets)"
    if not isinstance(se, float):
        return f"lambda = {est:.6g} (no interval)"
    text = f"lambda = {_num(est, se)} +/- {se:.2g}"
    if isinstance(ci, tuple) and isinstance(ci[0], float):
        text += f" ({_level(out)} [{_num(ci[0], se)}, {_num(ci[1], se)}])"
    return text


def _estimate_sentence(ref: MethodOutcome, out: RunOutcome) -> str:
    who = _capital(_name(ref))
    est, se, truth = ref.estimate, ref.stderr, ref.truth
    if isinstance(est, tuple):
        return _coefficients_sentence(ref, out)
    assert isinstance(est, float)
    what = "one lambda" if _is_lambda_x_target(out) else "lambda"
    if _scalar_exact(ref):
        text = f"{who} recovers {what} = {est:.6g} exactly from the aggregate targets"
        if isinstance(truth, float):
            text += f" (error {abs(est - truth):.2g}, rounding)"
        return text + (
            ": the targets carry no noise, so the interval has zero width; that is exactness "
            "of the fit to these paths, not certainty about a model the data did not test."
        )
    if not isinstance(se, float):
        note = ref.result.uncertainty_note if ref.result is not None else ""
        return f"{who} estimates {what} = {est:.6g} without an interval" + (
            f" ({note.rstrip('.')})." if note else "."
        )
    ci = ref.ci
    text = f"{who} estimates {what} = {_num(est, se)} with standard error {se:.2g}"
    if isinstance(ci, tuple) and isinstance(ci[0], float):
        interval = ref.result.interval if ref.result is not None else None
        text += f" ({_level(out)} interval [{_num(ci[0], se)}, {_num(ci[1], se)}]"
        text += f", {interval})" if interval else ")"
    if isinstance(truth, float):
        z = abs(est - truth) / se
        covered = isinstance(ci, tuple) and isinstance(ci[0], float) and ci[0] <= truth <= ci[1]
        target = "the true mean over the observed x" if what == "one lambda" else "the truth"
        text += f", {z:.2g} standard errors from {target} {truth:.6g}"
        if not covered:
            text += ", which the interval misses"
    return text + "."


def _is_lambda_x_target(out: RunOutcome) -> bool:
    return out.config.target.kind == "poly_lambda"


def _coefficients_sentence(ref: MethodOutcome, out: RunOutcome) -> str:
    est, se, truth = ref.estimate, ref.stderr, ref.truth
    assert isinstance(est, tuple)
    names = ref.param_names
    kind = "lambda(x)" if _is_lambda_x_target(out) else "k"
    who = _capital(_name(ref))
    ses = se if isinstance(se, tuple) else (None,) * len(est)
    values = ", ".join(f"{n} = {_num(v, s)}" for n, v, s in zip(names, est, ses, strict=True))
    if _vector_exact(ref):
        text = f"{who} recovers the {len(est)} coefficients of {kind} exactly ({values})"
        if isinstance(truth, tuple) and len(truth) == len(est):
            worst = max(abs(a - b) for a, b in zip(est, truth, strict=True))
            text += f", largest error {worst:.2g}"
        return text + ": the targets carry no noise, so the intervals have zero width."
    text = f"{who} estimates the {len(est)} coefficients of {kind} as {values}"
    if isinstance(se, tuple):
        text += f" (standard errors {', '.join(f'{s:.2g}' for s in se)})"
        if isinstance(truth, tuple) and len(truth) == len(est):
            z = [
                abs(a - b) / s if s > 0 else math.inf
                for a, b, s in zip(est, truth, se, strict=True)
            ]
            worst = max(range(len(z)), key=z.__getitem__)
            text += (
                f"; the furthest from the truth is {names[worst]}, at {z[worst]:.2g} standard "
                "errors"
            )
    return text + "."


def _agreement(ref: MethodOutcome, out: RunOutcome) -> list[_Sentence]:
    """Which other estimates agree with the reference, and by how much the others differ."""
    agree: list[tuple[MethodOutcome, float]] = []
    differ: list[tuple[MethodOutcome, float]] = []
    exact = _scalar_exact(ref) or _vector_exact(ref)
    for m in out.methods:
        if m is ref or not m.has_estimate or m.status in ("max_steps", "stalled"):
            continue
        gap = _gap(ref, m, exact)
        if gap is None:
            continue
        (agree if gap <= (1e-6 if exact else 1.0) else differ).append((m, gap))
    sentences = []
    if agree:
        names = _listed([_name(m) for m, _ in agree])
        if exact:
            worst = max(g for _, g in agree)
            verb = "gives" if len(agree) == 1 else "give"
            text = f"{_capital(names)} {verb} the same answer to {worst:.1g} relative"
            if worst == 0:
                text = f"{_capital(names)} {verb} the same answer to the last digit"
        else:
            verb = "agrees" if len(agree) == 1 else "agree"
            text = f"{_capital(names)} {verb} with it within its {_level(out)} interval"
        sentences.append(_Sentence(1, text + "."))
    for m, gap in differ:
        unit = "relative" if exact else "of its half-widths"
        why = _why_differs(m)
        text = f"{_capital(_name(m))} differs from it by {gap:.2g} {unit}"
        sentences.append(_Sentence(1, text + (f": {why}" if why else ".")))
    return sentences


def _why_differs(m: MethodOutcome) -> str:
    """What the method's own diagnosis says about an estimate that differs, where it says."""
    ident = m.identifiability
    spread = None if ident is None else ident.lam_spread
    if m.name == "seed_network" and spread is not None and spread > SPREAD_IS_BIAS:
        return (
            f"its lambda_j varies across times by {spread:.2g} of its mean, so "
            "its weights fitted part of k as a lambda that depends on x_j, which for a "
            "constant lambda is noise or an unfinished fit."
        )
    return ""


def _gap(ref: MethodOutcome, m: MethodOutcome, exact: bool) -> float | None:
    """|m - ref| relative to ref's size (exact fits) or to ref's interval half-width."""
    a, b = ref.estimate, m.estimate
    if isinstance(a, float) and isinstance(b, float):
        pairs = [(a, b, ref.ci if isinstance(ref.ci, tuple) else None)]
    elif isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        cis = ref.ci if isinstance(ref.ci, tuple) else (None,) * len(a)
        pairs = list(zip(a, b, cis, strict=True))
    else:
        return None
    if exact:
        scale = max(abs(x) for x, _, _ in pairs) or 1.0
        return max(abs(x - y) for x, y, _ in pairs) / scale
    gaps = []
    for x, y, ci in pairs:
        if not (isinstance(ci, tuple) and isinstance(ci[0], float)):
            return None
        half = (ci[1] - ci[0]) / 2
        gaps.append(abs(x - y) / half if half > 0 else math.inf)
    return max(gaps)


def _short(text: str) -> str:
    """The first clause of a diagnosis, for a sentence that only points at it."""
    head = text.split(";")[0].rstrip(".")
    return head[:1].lower() + head[1:]


def _failures(out: RunOutcome) -> list[_Sentence]:
    sentences = []
    for m in out.methods:
        if m.status == "diverged":
            sentences.append(_Sentence(0, _diverged(m, out)))
        elif m.status == "failed":
            sentences.append(_Sentence(1, f"{_capital(_name(m))} failed: {m.message.rstrip('.')}."))
    unfinished = [m for m in out.methods if m.status in ("max_steps", "stalled")]
    if unfinished:
        parts = []
        for m in unfinished:
            r = m.result
            assert r is not None
            why = f"its step limit ({r.steps} steps)" if m.status == "max_steps" else "a stall"
            parts.append(f"{_name(m)} stopped at {why}")
        sentences.append(
            _Sentence(
                2,
                _capital(_listed(parts))
                + " before its convergence test held, so "
                + ("its estimate is" if len(unfinished) == 1 else "their estimates are")
                + " provisional.",
            )
        )
    return sentences


def _diverged(m: MethodOutcome, out: RunOutcome) -> str:
    r = m.result
    assert r is not None
    who = _capital(_name(m))
    s = r.stability
    where = f"at step {r.steps}"
    mode = getattr(m.estimator, "mode", None)
    if mode == "per_sample" and out.paths.n_times > 0:
        epoch = math.ceil(r.steps / out.paths.n_times)
        where += f" (epoch {epoch}, one epoch being a pass over the {out.paths.n_times} times)"
    if s is None or s.curvature is None or s.bound is None:
        return f"{who} diverged {where}: {r.message.rstrip('.')}."
    ratio = s.step / s.bound
    curvature = "per-sample curvature" if mode == "per_sample" else "curvature"
    formula = " 2 max_j |Phi_j|^2" if mode == "per_sample" else ""
    if ratio > 1:
        return (
            f"{who} diverged {where} because its step {s.step:.3g} is {ratio:.3g} times the "
            f"stable limit 2/L = {s.bound:.3g}, where L = {s.curvature:.4g} is the largest "
            f"{curvature}{formula} of the loss."
        )
    return (
        f"{who} diverged {where} although its step {s.step:.3g} is below the stable limit "
        f"2/L = {s.bound:.3g} (L = {s.curvature:.4g}): {r.message.rstrip('.')}."
    )


def _identification(out: RunOutcome) -> list[_Sentence]:
    """What the data leave undetermined: a rank-deficient design, or the seed network whose
    weights carry nothing."""
    sentences = []
    for m in out.methods:
        ident = m.identifiability
        if ident is None or m.result is None:
            continue
        if m.name == "seed_network" and ident.lam_spread is not None and m.has_estimate:
            if ident.lam_spread <= SPREAD_IS_BIAS:
                text = (
                    f"The seed network learns lambda only through its output bias: its lambda_j "
                    f"is the same at every time to {ident.lam_spread:.2g} of its mean, so its "
                    f"{ident.n_params - 1} other weights say only that lambda does not depend "
                    "on x_j."
                )
                sentences.append(_Sentence(3, text))
        elif ident.rank < ident.n_params and m.name not in _NETWORKS:
            sentences.append(
                _Sentence(
                    1,
                    f"The data determine only {ident.rank} of the {ident.n_params} "
                    f"coefficients of {_name(m)}'s model: {_short(ident.diagnosis)}.",
                )
            )
    return sentences[:2]


def _curves(out: RunOutcome) -> list[_Sentence]:
    """How close each network's learned lambda(x) is to the true one, and whether its band
    holds it, where lambda depends on x."""
    sentences = []
    for m in out.methods:
        found = m.lam_curve
        if m.name not in _NETWORKS or found is None or found.truth is None:
            continue
        lam, truth = found.curve.lam.detach().cpu(), found.truth.detach().cpu()
        worst = float((lam - truth).abs().max())
        scale = float(truth.abs().max())
        x = found.curve.x
        text = (
            f"{_capital(_name(m))} learns lambda(x) to within {worst:.2g} of the truth over x "
            f"in [{float(x.min()):.3g}, {float(x.max()):.3g}] ({worst / scale:.1%} of its "
            "largest value)"
        )
        lower, upper = found.curve.lower, found.curve.upper
        if lower is not None and upper is not None:
            held = float(((lower.cpu() <= truth) & (truth <= upper.cpu())).double().mean())
            text += f", and its {found.curve.level:.0%} band holds the truth at {held:.0%} of x"
        sentences.append(_Sentence(2, text + "."))
    return sentences


def _identified(ref: MethodOutcome) -> list[_Sentence]:
    """Nothing is left undetermined: say so, with the count that shows it."""
    ident = ref.identifiability
    if ident is None or ident.rank < ident.n_params or ref.name in _NETWORKS:
        return []
    what = "lambda" if ident.n_params == 1 else f"all {ident.n_params} coefficients"
    return [_Sentence(4, f"The data determine {what}: {ident.diagnosis}.")]


def _lambda_x_sentence(lx: LambdaXOutcome) -> str:
    lo, hi = lx.x_range
    return (
        f"Where lambda depends on x, the polynomial chosen on held-out times (degree "
        f"{lx.degree}) recovers lambda(x) with a largest error of {lx.ls_max_lam_error:.2g} "
        f"over x in [{lo:.3g}, {hi:.3g}], and the pointwise network (width {lx.mlp_width}) "
        f"with {lx.mlp_max_lam_error:.2g}."
    )


def _verdict(ref: MethodOutcome | None, out: RunOutcome) -> str | None:
    """The seed's question answered: can a network learn lambda here, and what went wrong
    with the recipe that did not?"""
    by_name = {m.name: m for m in out.methods}
    nets = [by_name[n] for n in _NETWORKS if n in by_name]
    if not nets:
        return None
    exact = ref is not None and (_scalar_exact(ref) or _vector_exact(ref))
    learned = [m for m in nets if m is not ref and _learned(m, ref, exact)]
    seed = by_name.get("seed_sgd")
    if learned:
        names = _listed([_name(m) for m in learned])
        text = f"So a network can learn lambda from these aggregates: {names} did"
        if seed is not None and seed.status == "diverged":
            s = seed.result.stability if seed.result is not None else None
            if s is not None and s.bound is not None and s.step > s.bound:
                text += (
                    ", trained on the full batch with a step set by the curvature; what failed "
                    "was the seed's step size, not the network"
                )
        return text + "."
    if not any(m.status in ("converged", "early_stopped") for m in nets):
        return (
            "No network converged here, so this run does not settle whether one can learn "
            "lambda from these aggregates; a larger step limit (max_steps) may."
        )
    return (
        "The networks that converged do not match the closed form or the truth: treat their "
        "estimates as unconfirmed."
    )


def _learned(m: MethodOutcome, ref: MethodOutcome | None, exact: bool) -> bool:
    """A converged network whose estimate agrees with the reference, or (where the two are
    not comparable, a mean lambda beside coefficients) whose own interval holds its truth."""
    if m.status not in ("converged", "early_stopped"):
        return False
    gap = None if ref is None else _gap(ref, m, exact)
    if gap is not None:
        return gap <= (1e-6 if exact else 1.0)
    est, ci, truth = m.estimate, m.ci, m.truth
    if isinstance(est, float) and isinstance(truth, float):
        if _scalar_exact(m):
            return abs(est - truth) <= 1e-6 * max(abs(truth), 1e-300)
        return isinstance(ci, tuple) and isinstance(ci[0], float) and ci[0] <= truth <= ci[1]
    return False
