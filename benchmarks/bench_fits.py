"""The two network fits of the default run against the arithmetic they must do (issue 9).

Times ``GradientFit(PointwiseMLP()).fit(paths, targets)`` and
``GradientFit(SeedNetwork(100)).fit(paths, targets)`` (optimizer "auto": Gauss-Newton /
Levenberg-Marquardt) on the default data (ABM, mu = 0.5, sigma = 1, 100 paths x 1000 times,
horizon 10, seed 0, lambda = 0.25 noise-free, float64) on a fixed number of torch threads,
counts the floating-point operations each fit does, measures this machine's rates on the
same threads, and compares.

What is counted. One instrumented fit per model (not timed) records every Jacobian pass
(``_weighted_jacobian``: one forward and one backward over the network, then the contraction
into J), every forward-only pass of the network, and every SVD, with their shapes, separately
for training and for the post-fit result (intervals, identification note). The operations
are then counted from the shapes with the formulas below (``jacobian_flops`` and the
functions after it). Conventions:

- a multiply-add is 2 flops, also where the inner dimension is 1 (a small over-count there);
- tanh is counted apart, as "transcendentals", and never as flops; its cost is measured;
- a "point" is one input of the network: a path value x_ij for the pointwise MLP (1 input,
  n_paths * n_times points), a time's vector (x_1j..x_nj) for the seed network (n_paths
  inputs, n_times points).

Per point of a Jacobian pass, for Linear layers (a_l inputs -> b_l outputs, l = 1..L) with
tanh between them (hidden widths h_1..h_{L-1}), and P = sum_l (a_l b_l + b_l) weights:

    forward      sum_l 2 a_l b_l                    (bias adds folded in)
                 + sum h transcendentals (tanh)
    backward     sum_{l >= 2} 2 a_l b_l             (delta of layer l-1's output = delta_l W_l;
                                                     the first layer's input needs none, and
                                                     the last layer's delta is the seed 1)
                 + 3 sum h                          (tanh': g * (1 - y^2))
    contraction  2 P                                (weight the deltas, batched matmul with the
                                                     layer inputs, sum over the group for the
                                                     biases: J_j = sum_g w_jg d net / d theta)

For the pointwise MLP (8,): forward 32 flops + 8 tanh, backward 16 + 24, contraction 50: 122
flops and 8 tanh per path value, plus the data terms (standardize 2, square 1, weight 1, sum
of squares 1, weighted output 2: 7 per path value). For the seed network (100 inputs, no
hidden layer): forward 200, backward 0, contraction 202 per time, plus 4 per path value
(standardize 2, square 1, mean 1) and 4 per time. A forward-only pass is the forward row
plus its data terms.

An SVD of the thin m x p Jacobian (U, S and V: Golub and Van Loan's R-SVD count) is
6 m p^2 + 20 p^3 flops; singular values only, 2 m p^2 + 2 p^3. Each Levenberg-Marquardt
iteration adds 4 m p + 4 m (the gradient J^T r and U^T r), each damped trial 2 m p + 2 p^2 +
6 m (the step, the promised decrease, the loss).

Machine rates, on the same torch threads: a float64 matmul 1000 x 1000 @ 1000 x 1000 (GFLOP/s),
and elementwise float64 rates over 8e5 elements (the pointwise MLP's hidden layer,
100 x 1000 x 8) and 1.6e6 elements: tanh (G tanh/s), exp, multiply (a * b) and multiply-add
(``torch.addcmul``, 2 flops an element), each out of place as the fits do them. "arith bound"
is the time the counted work would take at the 8e5-element rates: flops outside the SVDs at
the multiply-add rate, tanh at the tanh rate, SVD flops at the matmul rate (both optimistic).
GFLOP/s and the fractions of the matmul and multiply-add rates count flops only (SVD
included, tanh not).

Overhead, two ways. (1) The tensor work of training is modelled as (Jacobian passes x the
time of one ``predict_and_jacobian`` on the fitted model, alone) + (forward passes x one
forward) + (SVDs x one SVD of J) + (singular-value calls x one); the rest of the training wall
time, per Levenberg-Marquardt iteration ("ovh ms/it"), is what the passes cost inside the fit
beyond their cost alone plus everything else. (2) The fixed cost of an iteration measured
directly on a fit whose passes do next to no arithmetic (TINY_STEPS below), and the time of
one ``predict_and_jacobian`` on 2 x 2 path values ("tiny eval"), the fixed cost of a pass.

Usage:
    .venv/bin/python benchmarks/bench_fits.py [--repeat N] [--threads T [T ...]] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

import pathfit as pf
from pathfit import linalg
from pathfit.estimators import gradient
from pathfit.models import PointwiseMLP, SeedNetwork, networks
from pathfit.targets import CallableLam, ConstantLam

N_PATHS, N_TIMES, HORIZON, SEED, LAM = 100, 1000, 10.0, 0, 0.25
TARGET_S = {"pointwise_mlp": 1.0, "seed_network": 0.5}  # issue 9: seconds to converged
MODELS: dict[str, Callable[[], nn.Module]] = {
    "pointwise_mlp": lambda: PointwiseMLP(),
    "seed_network": lambda: SeedNetwork(N_PATHS),
}
# The fixed cost of a Levenberg-Marquardt iteration (Python, dispatch, autograd, bookkeeping):
# the pointwise MLP on 2 paths x 200 times, where a pass is next to no arithmetic, fitted to a
# lambda(x) it cannot finish (1.5 + sin 3x), stopped at two max_steps; the difference in
# training time over the difference in steps.
TINY_PATHS, TINY_TIMES, TINY_STEPS = 2, 200, (10, 40)


# --- the arithmetic --------------------------------------------------------------------------


def layer_shapes(net: nn.Sequential) -> tuple[list[tuple[int, int]], list[int]]:
    """[(in, out) of each Linear], [width of each activation] of ``net``."""
    linears = [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)]
    hidden = [b for _, b in linears[:-1]]
    return linears, hidden


def network_flops(net: nn.Sequential) -> dict[str, int]:
    """Flops and transcendentals per point of one Jacobian pass (see the module docstring)."""
    linears, hidden = layer_shapes(net)
    n_params = sum(a * b + b for a, b in linears)
    return {
        "forward": sum(2 * a * b for a, b in linears),
        "tanh": sum(hidden),
        "backward": sum(2 * a * b for a, b in linears[1:]) + 3 * sum(hidden),
        "contraction": 2 * n_params,
        "n_params": n_params,
    }


def data_flops(model: nn.Module, points: int, jacobian: bool) -> int:
    """Flops outside the network of one pass over ``points`` network inputs."""
    if isinstance(model, PointwiseMLP):
        # standardize 2, square 1, weighted output (multiply, sum over the paths) 2; the
        # Jacobian pass also divides the squares by n and sums them (2)
        return points * (7 if jacobian else 5)
    n_inputs = model.n_inputs  # seed network: a point is one time's n_paths values
    # standardize 2, square 1, mean 1 per value; lambda_j * s_j (or the weighting) and the
    # mean of lambda_j per time
    return points * (4 * n_inputs + 4)


def jacobian_flops(model: nn.Module, points: int) -> tuple[int, int]:
    """(flops, tanh) of one Jacobian pass (forward, backward, contraction) over ``points``."""
    per = network_flops(model.net)
    flops = points * (per["forward"] + per["backward"] + per["contraction"])
    return flops + data_flops(model, points, jacobian=True), points * per["tanh"]


def forward_flops(model: nn.Module, points: int) -> tuple[int, int]:
    """(flops, tanh) of one forward-only pass over ``points``."""
    per = network_flops(model.net)
    return points * per["forward"] + data_flops(model, points, jacobian=False), points * per["tanh"]


def svd_flops(m: int, p: int, vectors: bool) -> int:
    """Golub and Van Loan's R-SVD count for a thin m x p matrix (m >= p)."""
    m, p = max(m, p), min(m, p)
    return 6 * m * p**2 + 20 * p**3 if vectors else 2 * m * p**2 + 2 * p**3


# --- counting one fit ------------------------------------------------------------------------


@dataclass
class Tally:
    """The passes and factorizations of one phase of a fit, with their shapes."""

    jacobians: list[int] = field(default_factory=list)  # points of each Jacobian pass
    forwards: list[int] = field(default_factory=list)  # points of each forward-only pass
    svds: list[tuple[int, int]] = field(default_factory=list)
    svdvals: list[tuple[int, int]] = field(default_factory=list)

    def work(self, model: nn.Module, lm_iterations: int, trials: int) -> dict[str, float]:
        """Flops by kind; ``lm_iterations`` and ``trials`` add the Levenberg-Marquardt algebra."""
        jac = [jacobian_flops(model, n) for n in self.jacobians]
        fwd = [forward_flops(model, n) for n in self.forwards]
        p = network_flops(model.net)["n_params"]
        m = N_TIMES
        svd = sum(svd_flops(a, b, True) for a, b in self.svds)
        svd += sum(svd_flops(a, b, False) for a, b in self.svdvals)
        lm = lm_iterations * (4 * m * p + 4 * m) + trials * (2 * m * p + 2 * p * p + 6 * m)
        elementwise = sum(f for f, _ in jac) + sum(f for f, _ in fwd) + lm
        return {
            "jacobian_flops": sum(f for f, _ in jac),
            "forward_flops": sum(f for f, _ in fwd),
            "lm_flops": lm,
            "svd_flops": svd,
            "elementwise_flops": elementwise,
            "flops": elementwise + svd,
            "tanh": sum(t for _, t in jac) + sum(t for _, t in fwd),
        }


@contextmanager
def patched(module: object, name: str, wrapper: Callable) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, wrapper(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def count_fit(name: str, paths: pf.Paths, targets: torch.Tensor) -> dict:
    """Fit once with every pass and SVD recorded; returns the tallies of training and result."""
    phases = {"train": Tally(), "result": Tally()}
    phase = ["train"]  # "done" after the fit: the timing of passes later is not recorded

    def jac(original):
        def run(net, z, weight):
            phases[phase[0]].jacobians.append(z.shape[0] * z.shape[1])
            return original(net, z, weight)

        return run

    def factor(kind):
        def wrap(original):
            def run(matrix):
                getattr(phases[phase[0]], kind).append(tuple(matrix.shape[-2:]))
                return original(matrix)

            return run

        return wrap

    model = MODELS[name]()
    n_in = model.net[0].in_features

    # the fit trains a deep copy; the hook goes with it and sees forward-only passes only
    # (the Jacobian pass runs the layers one by one)
    def hook(_module, inputs, _output):
        if phase[0] != "done":
            phases[phase[0]].forwards.append(inputs[0].numel() // n_in)

    model.net.register_forward_hook(hook)
    fit = pf.GradientFit(model, threads=1)
    result = fit._result

    def result_phase(*args, **kwargs):
        phase[0] = "result"
        return result(*args, **kwargs)

    fit._result = result_phase
    with (
        patched(networks, "_weighted_jacobian", jac),
        patched(gradient, "svd", factor("svds")),
        patched(gradient, "svdvals", factor("svdvals")),
        patched(linalg, "svd", factor("svds")),
    ):
        fit.fit(paths, targets)
    phase[0] = "done"
    train = phases["train"]
    lm_iterations = len(train.svds)
    trials = len(train.jacobians) - 1 - len(train.svdvals)  # less the first pass, the curvature's
    work = train.work(fit.model_, lm_iterations, trials)
    post = phases["result"].work(fit.model_, 0, 0)
    return {
        "fit": fit,
        "train": train,
        "result": phases["result"],
        "lm_iterations": lm_iterations,
        "trials": trials,
        "work": work,
        "result_work": post,
    }


# --- timing ----------------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(min, median) wall seconds of ``fn`` over ``repeat`` calls, after one uncounted call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def machine_rates(repeat: int) -> dict[str, float]:
    """Rates on torch's current thread count: matmul GFLOP/s and elementwise G/s (best run)."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(1000, 1000, dtype=torch.float64, generator=generator)
    b = torch.randn(1000, 1000, dtype=torch.float64, generator=generator)
    rates = {"matmul_gflops": 2e9 / timed(lambda: a @ b, max(3, repeat // 2))[0] / 1e9}
    for n in (800_000, 1_600_000):
        x, y, z = (torch.randn(n, dtype=torch.float64, generator=generator) for _ in range(3))
        tag = f"{n / 1e6:g}M"
        reps = max(10, 4 * repeat)
        rates[f"tanh_{tag}"] = n / timed(lambda x=x: torch.tanh(x), reps)[0] / 1e9
        rates[f"exp_{tag}"] = n / timed(lambda x=x: torch.exp(x), reps)[0] / 1e9
        rates[f"mul_{tag}"] = n / timed(lambda x=x, y=y: x * y, reps)[0] / 1e9
        madd = timed(lambda x=x, y=y, z=z: torch.addcmul(z, x, y), reps)[0]
        rates[f"madd_gflops_{tag}"] = 2 * n / madd / 1e9
    return rates


def pass_times(fit: pf.GradientFit, paths: pf.Paths, repeat: int) -> dict[str, float]:
    """Min wall seconds of one Jacobian pass, one forward pass, one SVD of J, one svdvals,
    on the fitted model, of the tanh of its hidden layer (pointwise MLP), and of one Jacobian
    pass on 2 x 2 path values (the fixed cost of a pass)."""
    model = fit.model_
    inputs = model.prepare(paths)
    tiny = inputs[:2, :2] if isinstance(model, PointwiseMLP) else inputs[:2]
    tanh_layer = isinstance(model, PointwiseMLP)
    jacobian = model.jacobian(inputs).detach()
    reps = max(10, 3 * repeat)
    with torch.no_grad():  # the first hidden layer's pre-activations, as the fit has them
        hidden = model.net[0](model.standardize(inputs).unsqueeze(-1)) if tanh_layer else None
    with torch.no_grad():
        forward = timed(lambda: model(inputs), reps)[0]
    return {
        "eval_s": timed(lambda: model.predict_and_jacobian(inputs), reps)[0],
        "forward_s": forward,
        "svd_s": timed(lambda: gradient.svd(jacobian), reps)[0],
        "svdvals_s": timed(lambda: gradient.svdvals(jacobian), reps)[0],
        "tiny_eval_s": timed(lambda: model.predict_and_jacobian(tiny), reps)[0],
        "tanh_s": timed(lambda: torch.tanh(hidden), reps)[0] if tanh_layer else 0.0,
    }


def time_fits(name: str, paths: pf.Paths, targets: torch.Tensor, threads: int, repeat: int):
    """``repeat`` fits from a fresh model after one warm-up: wall, training wall, CPU seconds."""
    runs = []
    for r in range(repeat + 1):
        model = MODELS[name]()
        cpu, start = time.process_time(), time.perf_counter()
        fit = pf.GradientFit(model, threads=threads).fit(paths, targets)
        wall = time.perf_counter() - start
        if r == 0:
            continue
        runs.append(
            {
                "wall_s": wall,
                "train_s": fit.result_.wall_s,
                "cpu_s": time.process_time() - cpu,
                "status": fit.result_.status,
                "steps": fit.result_.steps,
                "evaluations": fit.result_.evaluations,
                "lam": fit.lam_,
            }
        )
    return runs


def fixed_cost(threads: int, repeat: int) -> dict[str, float]:
    """Seconds per Levenberg-Marquardt iteration and per pass of a fit whose passes cost next
    to nothing (see TINY_STEPS); best of ``repeat`` at each max_steps, after one warm-up."""
    paths = pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0), n_paths=TINY_PATHS, n_times=TINY_TIMES, horizon=HORIZON, seed=0
    )
    targets = pf.make_targets(paths, CallableLam(lambda x: 1.5 + torch.sin(3 * x)))
    found = {}
    for max_steps in TINY_STEPS:
        best = None
        for r in range(repeat + 1):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", pf.ConvergenceWarning)
                fit = pf.GradientFit(PointwiseMLP(), threads=threads, max_steps=max_steps)
                fit.fit(paths, targets)
            if fit.result_.status != "max_steps":
                raise RuntimeError(f"the fixed-cost fit ended {fit.result_.status}")
            if r > 0 and (best is None or fit.result_.wall_s < best[0]):
                best = (fit.result_.wall_s, fit.result_.evaluations)
        found[max_steps] = best
    (short, short_evals), (long, long_evals) = (found[n] for n in TINY_STEPS)
    steps = TINY_STEPS[1] - TINY_STEPS[0]
    return {
        "per_iteration_s": (long - short) / steps,
        "passes_per_iteration": (long_evals - short_evals) / steps,
    }


# --- the comparison --------------------------------------------------------------------------


def analyse(
    name: str, counted: dict, runs: list[dict], times: dict, fixed: dict, rates: dict
) -> dict:
    work, train = counted["work"], counted["train"]
    full = N_PATHS * N_TIMES if name == "pointwise_mlp" else N_TIMES
    wall = [r["wall_s"] for r in runs]
    train_wall = [r["train_s"] for r in runs]
    best_train = min(train_wall)
    madd = rates["madd_gflops_0.8M"] * 1e9
    bound = (
        work["elementwise_flops"] / madd
        + work["tanh"] / (rates["tanh_0.8M"] * 1e9)
        + work["svd_flops"] / (rates["matmul_gflops"] * 1e9)
    )
    tensor = (
        sum(n / full for n in train.jacobians) * times["eval_s"]
        + sum(n / full for n in train.forwards) * times["forward_s"]
        + len(train.svds) * times["svd_s"]
        + len(train.svdvals) * times["svdvals_s"]
    )
    achieved = work["flops"] / best_train
    eval_flops = jacobian_flops(counted["fit"].model_, full)
    return {
        "fit": name,
        "status": runs[0]["status"],
        "steps": runs[0]["steps"],
        "evaluations": runs[0]["evaluations"],
        "wall_median_s": statistics.median(wall),
        "wall_min_s": min(wall),
        "train_median_s": statistics.median(train_wall),
        "train_min_s": best_train,
        "cpu_median_s": statistics.median(r["cpu_s"] for r in runs),
        "target_s": TARGET_S[name],
        "target_met": runs[0]["status"] == "converged"
        and statistics.median(wall) <= TARGET_S[name],
        "jacobian_passes": len(train.jacobians),
        "forward_passes": len(train.forwards),
        "svds": len(train.svds),
        "svdvals": len(train.svdvals),
        "lm_iterations": counted["lm_iterations"],
        "work": work,
        "result_work": counted["result_work"],
        "result_passes": {
            "jacobian_points": counted["result"].jacobians,
            "forward_points": counted["result"].forwards,
            "svds": counted["result"].svds,
        },
        "eval_flops": eval_flops[0],
        "eval_tanh": eval_flops[1],
        "eval_gflops": eval_flops[0] / times["eval_s"] / 1e9,
        "achieved_gflops": achieved / 1e9,
        "fraction_of_matmul": achieved / (rates["matmul_gflops"] * 1e9),
        "fraction_of_madd": achieved / madd,
        "arith_bound_s": bound,
        "bound_over_train": bound / best_train,
        "tensor_work_s": tensor,
        "overhead_per_iteration_s": (best_train - tensor) / counted["lm_iterations"],
        "pass_times": times,
        "fixed_cost": fixed,
        "runs": runs,
    }


def print_tables(rows: list[dict], rates: dict[int, dict]) -> None:
    print("\nMachine rates (best of the runs), float64:")
    print(f"{'threads':>7} {'matmul':>8} {'madd':>7} {'mul':>7} {'tanh':>7} {'exp':>7}  at")
    for threads, r in rates.items():
        for tag in ("0.8M", "1.6M"):
            print(
                f"{threads:>7} {r['matmul_gflops']:>8.2f} {r[f'madd_gflops_{tag}']:>7.3f} "
                f"{r[f'mul_{tag}']:>7.3f} {r[f'tanh_{tag}']:>7.3f} {r[f'exp_{tag}']:>7.3f}  "
                f"{tag} elements"
            )
    print("(matmul, madd: GFLOP/s; mul, tanh, exp: G elements/s)")
    print("\nFits (wall: whole fit incl. intervals; train: result_.wall_s), seconds:")
    print(
        f"{'fit':<14}{'thr':>3} {'status':<10}{'steps':>5}{'evals':>6} {'wall med':>8} "
        f"{'min':>6} {'train':>6} {'target':>6}"
    )
    for r in rows:
        print(
            f"{r['fit']:<14}{r['threads']:>3} {r['status']:<10}{r['steps']:>5}"
            f"{r['evaluations']:>6} {r['wall_median_s']:>8.3f} {r['wall_min_s']:>6.3f} "
            f"{r['train_min_s']:>6.3f} {'met' if r['target_met'] else 'NOT':>6}"
        )
    print("\nTraining against its arithmetic (train min wall):")
    print(
        f"{'fit':<14}{'thr':>3} {'GFLOP':>6} {'Mtanh':>6} {'SVD %':>5} {'GFLOP/s':>7} "
        f"{'%mm':>5} {'%madd':>5} {'bound s':>7} {'b/wall':>6} {'tensor s':>8} {'ovh ms/it':>9}"
    )
    for r in rows:
        w = r["work"]
        print(
            f"{r['fit']:<14}{r['threads']:>3} {w['flops'] / 1e9:>6.3f} {w['tanh'] / 1e6:>6.2f} "
            f"{100 * w['svd_flops'] / w['flops']:>5.1f} {r['achieved_gflops']:>7.3f} "
            f"{100 * r['fraction_of_matmul']:>5.1f} {100 * r['fraction_of_madd']:>5.1f} "
            f"{r['arith_bound_s']:>7.4f} {r['bound_over_train']:>6.3f} "
            f"{r['tensor_work_s']:>8.3f} {1e3 * r['overhead_per_iteration_s']:>9.2f}"
        )
    print("\nOne pass on the fitted model (min), ms:")
    print(
        f"{'fit':<14}{'thr':>3} {'eval':>7} {'GFLOP/s':>7} {'forward':>7} {'tanh':>6} "
        f"{'svd J':>6} {'svdvals':>7} {'tiny eval':>9}"
    )
    for r in rows:
        t = r["pass_times"]
        print(
            f"{r['fit']:<14}{r['threads']:>3} {1e3 * t['eval_s']:>7.2f} {r['eval_gflops']:>7.3f} "
            f"{1e3 * t['forward_s']:>7.2f} {1e3 * t['tanh_s']:>6.2f} {1e3 * t['svd_s']:>6.2f} "
            f"{1e3 * t['svdvals_s']:>7.2f} {1e3 * t['tiny_eval_s']:>9.3f}"
        )
    print("\nFixed cost of a Levenberg-Marquardt iteration (tiny fit, see TINY_STEPS):")
    seen = set()
    for r in rows:
        f = r["fixed_cost"]
        if r["threads"] not in seen:
            seen.add(r["threads"])
            print(
                f"  {r['threads']} thread(s): {1e3 * f['per_iteration_s']:.2f} ms per iteration "
                f"({f['passes_per_iteration']:.1f} passes)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed fits per model and count")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", default=None, help="write every figure to this file")
    args = parser.parse_args()
    if args.repeat < 1 or any(t < 1 for t in args.threads):
        parser.error("--repeat and --threads must be at least 1")
    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    paths = pf.simulate(
        pf.ABM(mu=0.5, sigma=1.0), n_paths=N_PATHS, n_times=N_TIMES, horizon=HORIZON, seed=SEED
    )
    targets = pf.make_targets(paths, ConstantLam(LAM))
    torch.set_num_threads(1)
    counted = {name: count_fit(name, paths, targets) for name in MODELS}
    rows, rates = [], {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        rates[threads] = machine_rates(args.repeat)
        fixed = fixed_cost(threads, args.repeat)
        for name in MODELS:
            runs = time_fits(name, paths, targets, threads, args.repeat)
            times = pass_times(counted[name]["fit"], paths, args.repeat)
            row = analyse(name, counted[name], runs, times, fixed, rates[threads])
            rows.append({"threads": threads, **row})
    load_after = os.getloadavg()
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, torch {torch.__version__}, pathfit {pf.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print_tables(rows, rates)
    if args.json:
        report = {
            "started": started.isoformat(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "torch": torch.__version__,
            "pathfit": pf.__version__,
            "cpu_count": os.cpu_count(),
            "repeat": args.repeat,
            "rates": {str(t): r for t, r in rates.items()},
            "fits": rows,
        }
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)
            out.write("\n")


if __name__ == "__main__":
    main()
