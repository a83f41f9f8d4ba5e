"""GPU benchmark of the fused Triton design kernel, in one run on one device.

For each shape (n_paths, n_times) it prints giga path-points per second (n_paths * n_times /
seconds / 1e9) of

* pathfit: ``triton_design.fused_design`` (ABM, powers (2,)), called as a user calls it
  (host set-up and every launch included); and the same call replayed from a CUDA graph (GPU
  time alone, no launch overhead, ``triton.testing.do_bench_cudagraph``, median);
* torch: the plain materialized float32 pipeline torch.randn -> scale -> cumsum -> + drift ->
  square -> mean over paths;
* randn: torch's own normal generator, in giga numbers per second (``Tensor.normal_`` into a
  preallocated buffer of n_paths * n_times floats).

Everything but the graph replay is timed by pathfit's benchmark harness
(``pathfit.app.bench.time_interleaved``: the candidates of a shape in turn, repeat after
repeat, synchronising the device around each repeat; best and median) on the shapes and
repeats of its plan (``Plan.make(quick).gpu_shapes``). ``--sweep`` first times a few kernel
configurations (tile, paths per thread, time split) from CUDA graphs; ``--check`` adds
correctness figures (error against the float64 reference on the kernel's own normals, exact
moments, the mean over seeds against torch's sampler).

Usage:
    python benchmarks/bench_gpu.py [--quick] [--sweep] [--check] [--json PATH]

Needs a CUDA device and Triton; without them it says so and exits with status 2, having
imported nothing GPU-related.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

SWEEP_SHAPES = [(1024, 2**20), (4096, 8192), (65536, 8192)]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON here")
    parser.add_argument("--quick", action="store_true", help="the harness's quick plan")
    parser.add_argument("--sweep", action="store_true", help="time kernel configurations too")
    parser.add_argument("--check", action="store_true", help="correctness figures too")
    parser.add_argument(
        "--profile", action="store_true", help="host time per call and per-kernel GPU times too"
    )
    parser.add_argument("--rep", type=int, default=200, help="ms of CUDA graph replays")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "bench_gpu: needs a CUDA device; torch.cuda.is_available() is False.", file=sys.stderr
        )
        return 2
    try:
        import triton
        from triton.testing import do_bench_cudagraph
    except ImportError:
        print("bench_gpu: needs Triton, which does not import here.", file=sys.stderr)
        return 2

    import pathfit as pf
    from pathfit.app.bench import Candidate, Plan, time_interleaved
    from pathfit.kernels import triton_design as td

    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    print(f"device: {name}; torch {torch.__version__}; triton {triton.__version__}", flush=True)
    abm = pf.ABM(x0=0.0, mu=0.5, sigma=1.0)

    def rate(n: int, m: int, ms: float) -> float:
        return n * m / (ms * 1e-3) / 1e9

    plan = Plan.make(args.quick)

    def bench(candidates: dict) -> dict[str, tuple[float, float]]:
        """name -> (best, median) ms per call, timed side by side by the harness."""
        timings = time_interleaved(
            {
                name: Candidate(run=lambda seed, fn=fn: fn(), threads=plan.threads, device="cuda")
                for name, fn in candidates.items()
            },
            repeats=plan.repeats,
            min_time_s=plan.min_time_s,
        )
        return {name: (t.best_s * 1e3, t.median_s * 1e3) for name, t in timings.items()}

    def graph_bench(fn, rep: int = args.rep) -> float:
        try:
            return do_bench_cudagraph(fn, rep=rep, return_mode="median")
        except Exception as exc:  # a capture failure must not hide the other figures
            print(f"  cuda graph replay failed: {exc!r}")
            return float("nan")

    def kernel_call(process, n, times, powers, config=None):
        return lambda: td.fused_design(process, n, times, powers, 1234, check=False, config=config)

    report: dict[str, Any] = {
        "device": name,
        "versions": {"torch": torch.__version__, "triton": triton.__version__},
        "process": "ABM(x0=0, mu=0.5, sigma=1), powers (2,), times uniform on (0, 10]",
        "config": repr(td.DEFAULT_CONFIG),
        "timer": {
            "repeats": plan.repeats,
            "min_time_s": plan.min_time_s,
            "torch_threads": plan.threads,
            "graph_rep_ms": args.rep,
        },
    }

    if args.sweep:
        configs = {
            "default (auto)": td.KernelConfig(),
            "w1 c4": td.KernelConfig(warps=1, columns=4),
            "w1 c2": td.KernelConfig(warps=1, columns=2),
            "w2 c2 target8192": td.KernelConfig(warps=2, columns=2, target_programs=8192),
            "w2 c2 target2048": td.KernelConfig(warps=2, columns=2, target_programs=2048),
            "w4 c1": td.KernelConfig(warps=4, columns=1),
            "bt16 w2 c1": td.KernelConfig(block_t=16, warps=2, columns=1),
        }
        sweep: dict[str, list[float]] = {}
        print("\nsweep (G path-points/s, CUDA graph replay: GPU time):", flush=True)
        print(f"{'config':>22} " + " ".join(f"{n:>6}x{m:<8}" for n, m in SWEEP_SHAPES))
        for label, config in configs.items():
            row = []
            for n, m in SWEEP_SHAPES:
                if config.chunks == 1 and n < 16384:  # a handful of programs: minutes
                    row.append(float("nan"))
                    continue
                times = pf.sample_times(m, 10.0, seed=0, device=device)
                row.append(rate(n, m, graph_bench(kernel_call(abm, n, times, (2,), config), 100)))
            sweep[label] = row
            print(f"{label:>22} " + " ".join(f"{r:>15.1f}" for r in row), flush=True)
        report["sweep"] = {"shapes": SWEEP_SHAPES, "gpts_s": sweep}

    shapes = plan.gpu_shapes
    fused, graph, pipeline, randn = [], [], [], []
    medians: dict[str, list[float]] = {"pathfit": [], "torch": [], "randn": []}
    print(
        "\nshape (n_paths x n_times): G path-points/s, best (kernel eager, graph) | torch | randn"
    )
    for n, m in shapes:
        times = pf.sample_times(m, 10.0, seed=0, device=device)
        call = kernel_call(abm, n, times, (2,))
        dt = torch.diff(times, prepend=times.new_zeros(1))
        scale = (abm.sigma * dt.sqrt()).float()
        drift = (abm.x0 + abm.mu * times).float()

        def torch_pipeline(n=n, m=m, scale=scale, drift=drift):
            x = torch.randn(n, m, device=device, dtype=torch.float32)
            x.mul_(scale).cumsum_(dim=1).add_(drift)
            return x.square_().mean(dim=0)

        buffer = torch.empty(n * m, device=device, dtype=torch.float32)
        ms = bench({"pathfit": call, "torch": torch_pipeline, "randn": buffer.normal_})
        for name, (_, median_ms) in ms.items():
            medians[name].append(rate(n, m, median_ms))
        fused.append(rate(n, m, ms["pathfit"][0]))
        pipeline.append(rate(n, m, ms["torch"][0]))
        randn.append(rate(n, m, ms["randn"][0]))
        del torch_pipeline, buffer
        torch.cuda.empty_cache()
        graph.append(rate(n, m, graph_bench(call)))
        print(
            f"{n:>6} x {m:<8} {fused[-1]:8.1f} {graph[-1]:8.1f} | {pipeline[-1]:7.1f}"
            f" | {randn[-1]:7.1f}",
            flush=True,
        )
    report.update(
        shapes=[list(s) for s in shapes],
        pathfit_gpts_s=fused,
        pathfit_graph_gpts_s=graph,
        torch_gpts_s=pipeline,
        randn_gnum_s=randn,
        median={
            "pathfit_gpts_s": medians["pathfit"],
            "torch_gpts_s": medians["torch"],
            "randn_gnum_s": medians["randn"],
        },
    )

    # other processes and powers on one shape
    n, m = (4096, 65536)
    times = pf.sample_times(m, 10.0, seed=0, device=device)
    variants = {
        "ABM (2,)": (abm, (2,)),
        "ABM (2,3,4)": (abm, (2, 3, 4)),
        "ABM (1..8)": (abm, tuple(range(1, 9))),
        "GBM (2,)": (pf.GBM(x0=1.0, mu=0.05, sigma=0.2), (2,)),
        "OU (2,)": (pf.OU(x0=1.0, theta=0.5, mu=0.0, sigma=1.0), (2,)),
        "OU (0,1,2,3)": (pf.OU(x0=1.0, theta=0.5, mu=0.0, sigma=1.0), (0, 1, 2, 3)),
    }
    print(f"\nprocesses and powers at {n} x {m} (G path-points/s, eager, best):")
    ms = bench(
        {
            label: kernel_call(process, n, times, powers)
            for label, (process, powers) in variants.items()
        }
    )
    report["variants"] = {"shape": [n, m], "gpts_s": {}}
    for label, (best_ms, _) in ms.items():
        r = rate(n, m, best_ms)
        report["variants"]["gpts_s"][label] = r
        print(f"  {label:<14} {r:8.1f}", flush=True)

    if args.profile:
        report["profile"] = _profile(td, pf, torch, device, abm, kernel_call)
    if args.check:
        report["correctness"] = _check(td, pf, torch, device)

    print("\nsummary (G path-points/s; randn in G numbers/s):")
    print(f"{'shape':>18} {'pathfit':>9} {'graph':>9} {'torch':>9} {'randn':>9}")
    for (n, m), a, b, c, d in zip(shapes, fused, graph, pipeline, randn, strict=True):
        print(f"{n:>7} x {m:<8} {a:9.1f} {b:9.1f} {c:9.1f} {d:9.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
        print(f"wrote {args.json}")
    return 0


def _profile(td, pf, torch, device, process, kernel_call) -> dict[str, Any]:
    """Host time of one call (launches only, the GPU left to run) and the GPU time of each
    kernel, from torch.profiler, for a few shapes."""
    out: dict[str, Any] = {}
    print("\nprofile: host time per call; GPU time per kernel (mean of 5 calls, us):")
    for n, m in [(1024, 8192), (4096, 8192), (1024, 2**20), (65536, 8192)]:
        times = pf.sample_times(m, 10.0, seed=0, device=device)
        call = kernel_call(process, n, times, (2,))
        call()
        torch.cuda.synchronize()
        host = []
        for _ in range(20):
            started = time.perf_counter()
            call()
            host.append(time.perf_counter() - started)
            torch.cuda.synchronize()
        host_us = sorted(host)[len(host) // 2] * 1e6
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(5):
                call()
            torch.cuda.synchronize()
        kernels: dict[str, float] = {}
        for event in prof.key_averages():
            gpu = getattr(event, "device_time_total", None)
            if gpu is None:
                gpu = getattr(event, "cuda_time_total", 0.0)
            if gpu > 0:
                kernels[event.key[:40]] = gpu / 5
        total = sum(kernels.values())
        if (n, m) == (4096, 8192):  # where the host time goes
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(50):
                call()
            profiler.disable()
            torch.cuda.synchronize()
            print("  host time, 50 calls at 4096 x 8192 (cProfile, by own time):")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        out[f"{n}x{m}"] = {"host_us": host_us, "gpu_us": kernels, "gpu_total_us": total}
        print(
            f"  {n} x {m}: host {host_us:.0f} us; GPU total {total:.0f} us "
            f"({n * m / total / 1e3:.0f} G path-points/s on the GPU alone)"
        )
        for name, us in sorted(kernels.items(), key=lambda kv: -kv[1])[:6]:
            print(f"      {us:9.1f}  {name}")
    return out


def _check(td, pf, torch, device) -> dict[str, Any]:
    """Correctness figures: same-normals error, exact moments, mean over seeds vs torch."""
    from pathfit.design import power_design

    out: dict[str, Any] = {}
    processes = {
        "ABM": pf.ABM(x0=0.5, mu=0.3, sigma=1.2),
        "GBM": pf.GBM(x0=1.5, mu=0.1, sigma=0.3),
        "OU": pf.OU(x0=2.0, theta=0.8, mu=-0.5, sigma=0.9),
    }
    print("\ncorrectness:")
    times = pf.sample_times(2000, 2.0, seed=3, device=device)
    for label, process in processes.items():
        powers = (1, 2, 3) if label == "GBM" else (1, 2, 3, 4)
        started = time.perf_counter()
        got = td.fused_design(process, 2048, times, powers, 77)
        ref = td.reference_design(process, 2048, times, powers, 77)
        err = ((got - ref).norm(dim=0) / ref.norm(dim=0)).tolist()
        worst = float(((got - ref).abs() / ref.abs().clamp_min(1e-3)).max())
        out[f"{label} same-normals rel err per power {powers}"] = err
        out[f"{label} same-normals max elementwise rel err"] = worst
        print(
            f"  {label}: rel err vs float64 on the same normals, per power {powers}: "
            + ", ".join(f"{e:.1e}" for e in err)
            + f"; worst element {worst:.1e} ({time.perf_counter() - started:.1f}s)",
            flush=True,
        )
    times = pf.sample_times(1000, 2.0, seed=4, device=device)
    n = 2**22
    for label, process in processes.items():
        powers = (1, 2, 3) if label == "GBM" else (1, 2, 3, 4)
        got = td.fused_design(process, n, times, powers, 99)
        t64 = times.double()
        mean = torch.stack([process.raw_moment(q, t64) for q in powers], 1)
        second = torch.stack([process.raw_moment(2 * q, t64) for q in powers], 1)
        sd = (second - mean**2).clamp_min(0).sqrt() / n**0.5
        z = ((got - mean) / sd).abs()
        rel = ((got - mean).norm(dim=0) / mean.norm(dim=0)).tolist()
        out[f"{label} exact moments n=2^22 m=1000 max |z|"] = float(z.max())
        out[f"{label} exact moments rel err per power {powers}"] = rel
        print(
            f"  {label}: exact moments, n = 2^22, 1000 times: max |z| {float(z.max()):.2f}"
            f" (mean {float(z.mean()):.2f}, 0.80 expected); rel err per power "
            + ", ".join(f"{e:.1e}" for e in rel),
            flush=True,
        )
    process = processes["ABM"]
    times = pf.sample_times(100, 2.0, seed=5, device=device)
    seeds = range(32)
    n_torch, n_kernel = 2**12, 2**16
    ref = torch.stack(
        [power_design(process.sample_paths(n_torch, times, seed=s).values, (2,)) for s in seeds]
    ).mean(0)
    got = torch.stack([td.fused_design(process, n_kernel, times, (2,), s) for s in seeds]).mean(0)
    exact = process.raw_moment(2, times.double())[:, None]
    sd = (process.raw_moment(4, times.double())[:, None] - exact**2).sqrt()
    z_pair = ((got - ref) / (sd * ((1 / n_torch + 1 / n_kernel) / len(seeds)) ** 0.5)).abs()
    z_kernel = ((got - exact) / (sd / (n_kernel * len(seeds)) ** 0.5)).abs()
    out["ABM mean over 32 seeds: max |z| kernel vs torch"] = float(z_pair.max())
    out["ABM mean over 32 seeds: max |z| kernel vs exact"] = float(z_kernel.max())
    out["ABM mean over 32 seeds: rel diff kernel vs torch"] = float((got - ref).norm() / ref.norm())
    print(
        f"  ABM q=2, mean over 32 seeds: kernel vs torch max |z| {float(z_pair.max()):.2f}, "
        f"kernel vs exact max |z| {float(z_kernel.max()):.2f}, rel diff "
        f"{out['ABM mean over 32 seeds: rel diff kernel vs torch']:.1e}",
        flush=True,
    )
    return out


if __name__ == "__main__":
    sys.exit(main())
