"""The benchmark harness behind ``pathfit bench`` and ``make bench``.

One plan (full or quick sizes), one timer (candidates timed in turn, repeat after repeat, on a
stated number of torch threads; best and median kept), one NumPy reference of the job, and
every measure: simulate + design throughput against NumPy and plain torch, where the time
goes, a streamed run with its peak memory, fits per second, time to accuracy of the seed's
recipe against the guarded fit, ``pathfit run`` on its defaults in process and cold, and the
GPU when there is one. Ratios measured side by side in one run are the figures to compare;
absolute times only mean something on the machine that measured them.

Example:
    >>> report = run_bench(quick=True)
    >>> for measure, value in report.rows:
    ...     print(measure, value)
    >>> json.dumps(report.to_json(), allow_nan=False)
"""

from pathfit.app.bench._pipelines import HORIZON as HORIZON
from pathfit.app.bench._pipelines import LAM as LAM
from pathfit.app.bench._pipelines import Agreement as Agreement
from pathfit.app.bench._pipelines import check_agreement as check_agreement
from pathfit.app.bench._pipelines import numpy_design as numpy_design
from pathfit.app.bench._pipelines import pathfit_materialized as pathfit_materialized
from pathfit.app.bench._pipelines import pathfit_streamed as pathfit_streamed
from pathfit.app.bench._pipelines import seed_process as seed_process
from pathfit.app.bench._pipelines import torch_design as torch_design
from pathfit.app.bench._plan import FULL as FULL
from pathfit.app.bench._plan import QUICK as QUICK
from pathfit.app.bench._plan import Plan as Plan
from pathfit.app.bench._plan import machine_cores as machine_cores
from pathfit.app.bench._report import BenchFigures as BenchFigures
from pathfit.app.bench._report import BenchReport as BenchReport
from pathfit.app.bench._run import BENCH_STEPS as BENCH_STEPS
from pathfit.app.bench._run import STEPS as STEPS
from pathfit.app.bench._run import run_bench as run_bench
from pathfit.app.bench._run import run_plan as run_plan
from pathfit.app.bench._timing import Candidate as Candidate
from pathfit.app.bench._timing import Timing as Timing
from pathfit.app.bench._timing import time_interleaved as time_interleaved

__all__ = [
    "BENCH_STEPS",
    "FULL",
    "HORIZON",
    "LAM",
    "QUICK",
    "STEPS",
    "Agreement",
    "BenchFigures",
    "BenchReport",
    "Candidate",
    "Plan",
    "Timing",
    "check_agreement",
    "machine_cores",
    "numpy_design",
    "pathfit_materialized",
    "pathfit_streamed",
    "run_bench",
    "run_plan",
    "seed_process",
    "time_interleaved",
    "torch_design",
]
