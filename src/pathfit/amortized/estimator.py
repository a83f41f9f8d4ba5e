"""The amortized estimator: trained once on simulated datasets, it maps any dataset (paths and
targets) to a posterior over the coefficients of lambda(x) in milliseconds."""

from __future__ import annotations

import copy
import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import special

import pathfit
from pathfit._random import check_seed
from pathfit._threads import torch_threads
from pathfit._validation import check_int, check_real
from pathfit.amortized._network import (
    PosteriorNet,
    Summaries,
    from_z,
    log_det_scale,
    summarize,
    to_z,
)
from pathfit.amortized._prior import Prior, Simulated, simulate_batch
from pathfit.datafiles.inputs import as_data, as_paths
from pathfit.estimators import FitResult, LamCurve, check_data
from pathfit.estimators._base import AbstractEstimator
from pathfit.exceptions import InputError, PathfitError
from pathfit.models import ConstantLambda, PolynomialLambda
from pathfit.paths import Paths
from pathfit.targets import Targets

FORMAT = "pathfit.amortized/1"
"""The saved estimator's format; a file of another format is refused."""

OnEpoch = Callable[[int, float, float], None]
"""Called after each epoch with (epoch, training loss, held-out loss)."""


@dataclass(frozen=True)
class Training:
    """How training went: simulations used, epochs, losses (mean negative log density of z
    per dataset) and seconds."""

    simulations: int
    epochs: int
    best_epoch: int
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""


class Posterior:
    """The posterior over the coefficients of one dataset: draws and densities."""

    def __init__(self, net: PosteriorNet, summaries: Summaries, names: list[str]) -> None:
        self._net = net
        self._summaries = summaries
        self.names = names

    def sample(self, n: int, *, seed: int = 0) -> torch.Tensor:
        """(n, p) draws of the coefficients (float64)."""
        torch.manual_seed(seed)  # zuko draws from torch's global generator
        with torch.no_grad():
            z = self._net.distribution(self._summaries).sample((n,))  # (n, 1, p)
        return from_z(z, self._summaries)[:, 0]

    def summary(self, level: float, n_draws: int, seed: int) -> tuple[torch.Tensor, ...]:
        """Posterior mean (p,), standard deviation (p,) and central interval (p, 2) at
        ``level``. One coefficient: by the flow's own monotone map from its Gaussian base,
        exactly (the interval from the base's quantiles, the moments by 64-node Gauss-Hermite
        quadrature: deterministic, no Monte Carlo error, 1.5 ms). Several: from ``n_draws``
        draws."""
        alpha = (1 - level) / 2
        if self._summaries.shift.shape[1] > 1:
            draws = self.sample(n_draws, seed=seed)
            q = torch.tensor([alpha, 1 - alpha], dtype=torch.float64)
            return draws.mean(dim=0), draws.std(dim=0), torch.quantile(draws, q, dim=0).T
        nodes, weights = _hermite_nodes()
        base = torch.cat([nodes, _normal_quantiles(alpha)]).to(torch.float32).reshape(-1, 1, 1)
        with torch.no_grad():
            z = self._net.distribution(self._summaries).transform.inv(base)
        c = from_z(z, self._summaries)[:, 0, 0]  # (nodes + 2,) coefficients
        values, (lo, hi) = c[: nodes.shape[0]], c[nodes.shape[0] :]
        mean = (weights * values).sum()
        sd = (weights * (values - mean).square()).sum().sqrt()
        return mean.reshape(1), sd.reshape(1), torch.stack([lo, hi]).reshape(1, 2)

    def log_prob(self, coef: torch.Tensor) -> torch.Tensor:
        """log p(c | data) for (S, p) coefficients."""
        coef = torch.as_tensor(coef, dtype=torch.float64).reshape(
            -1, 1, self._summaries.shift.shape[1]
        )
        with torch.no_grad():
            z = to_z(coef, self._summaries).float()
            log_q = self._net.distribution(self._summaries).log_prob(z).double()
        return log_q[:, 0] - log_det_scale(self._summaries)[0]


class AmortizedEstimator(AbstractEstimator):
    """A posterior over lambda (or the coefficients of lambda(x)) from any dataset, by a
    network trained once on simulations from a prior (neural posterior estimation).

    The network reads the dataset through summaries that do not depend on the order of the
    paths or of the times (see :mod:`pathfit.amortized._network`) and a normalizing flow
    (zuko's neural spline flow) gives the posterior. ``train`` simulates datasets from
    ``prior`` with pathfit's batched simulation; ``fit`` then takes milliseconds.

    Args:
        prior: the prior over datasets (``Prior()`` by default; ``Prior.quick()`` is small).
        level: the level of ``ci_``.
        n_draws: posterior draws behind ``coef_``, ``stderr_`` and ``ci_``.
        hidden: width of the embedding's and the flow's hidden layers.
        context: size of the context vector the flow is conditioned on.
        transforms: the flow's number of spline transforms.
        seed: seed of the initial weights, the simulations and the posterior draws.
        threads: torch threads while training and fitting (None: chosen from the size of the
            work, as the other estimators do: one thread for a single dataset).

    Attributes (after train): net_, training_. After fit: coef_ ((p,) tensor), stderr_
    ((p,) posterior sd), ci_ ((p, 2) central interval), lam_, lam_stderr_ (floats) and
    lam_ci_ (a pair of floats) for a constant lambda only, n_paths_, n_times_, posterior_,
    result_. These are float64: the posterior is computed in float64 whatever the data's dtype.
    """

    def __init__(
        self,
        prior: Prior | None = None,
        *,
        level: float = 0.95,
        n_draws: int = 1000,
        hidden: int = 64,
        context: int = 32,
        transforms: int = 3,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        self.prior = prior
        self.level = level
        self.n_draws = n_draws
        self.hidden = hidden
        self.context = context
        self.transforms = transforms
        self.seed = seed
        self.threads = threads

    # --- checks ------------------------------------------------------------------------------

    def check_hyperparameters(self) -> None:
        if self.prior is not None and not isinstance(self.prior, Prior):
            raise InputError("prior", type(self.prior).__name__, "a pathfit.amortized.Prior")
        level = check_real("level", self.level)
        if not 0 < level < 1:
            raise InputError("level", level, "a level in (0, 1)")
        check_int("n_draws", self.n_draws, minimum=10)
        check_int("hidden", self.hidden, minimum=2)
        check_int("context", self.context, minimum=1)
        check_int("transforms", self.transforms, minimum=1)
        check_seed("seed", self.seed)
        if self.threads is not None:
            check_int("threads", self.threads, minimum=1)

    @property
    def prior_(self) -> Prior:
        return self.prior if self.prior is not None else Prior()

    def threads_for(self, tokens: int) -> int:
        """Torch threads for work on ``tokens`` time tokens at once: ``threads`` when set, else
        by the library's measured policy (``choose_threads``): one thread below about 7e7
        multiply-adds, where a second one only waits on a busy machine."""
        from pathfit.estimators._threads import choose_threads

        width = max(4, self.hidden // 2)
        per_token = 3 * (8 * width + width * width)  # the token network, forward and backward
        return choose_threads(self.threads, tokens * per_token)

    def _new_net(self) -> PosteriorNet:
        torch.manual_seed(self.seed)
        return PosteriorNet(self.prior_.n_params, self.hidden, self.context, self.transforms)

    def _summaries(self, batch: Simulated) -> Summaries:
        prior = self.prior_
        return summarize(
            batch.times,
            batch.moments,
            batch.targets,
            batch.n_paths,
            prior.powers,
            torch.tensor(prior.coef_mean, dtype=torch.float64),
            torch.tensor(prior.coef_sd, dtype=torch.float64),
        )

    # --- training ----------------------------------------------------------------------------

    def train(
        self,
        n_simulations: int = 20_000,
        *,
        batch_size: int = 64,
        max_epochs: int = 40,
        patience: int = 4,
        learning_rate: float = 1e-3,
        validation: int = 1024,
        on_epoch: OnEpoch | None = None,
        on_simulated: Callable[[int], None] | None = None,
    ) -> AmortizedEstimator:
        """Simulate ``n_simulations`` datasets from the prior in batches of one size each and
        train on them for up to ``max_epochs`` passes, stopping when the loss on
        ``validation`` held-out simulations has not improved for ``patience`` epochs (the best
        weights are kept); returns self."""
        self.check_hyperparameters()
        n_simulations = check_int("n_simulations", n_simulations, minimum=1)
        batch_size = check_int("batch_size", batch_size, minimum=2)
        max_epochs = check_int("max_epochs", max_epochs, minimum=1)
        patience = check_int("patience", patience, minimum=1)
        validation = check_int("validation", validation, minimum=batch_size)
        start = time.perf_counter()
        lo, hi = self.prior_.n_times
        with torch_threads(self.threads_for(batch_size * round(math.sqrt(lo * hi)))):
            g = torch.Generator().manual_seed(self.seed)
            val = self._simulate(validation, batch_size, g, None)
            train = self._simulate(n_simulations, batch_size, g, on_simulated)
            net = self._new_net()
            optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max_epochs)
            best, best_state, best_epoch = math.inf, None, 0
            train_losses, val_losses = [], []
            stopped = f"max_epochs ({max_epochs})"
            order = torch.Generator().manual_seed(self.seed + 1)
            for epoch in range(1, max_epochs + 1):
                net.train()
                total = 0.0
                for i in torch.randperm(len(train), generator=order).tolist():
                    summaries, z = train[i]
                    loss = -net.distribution(summaries).log_prob(z).mean()
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
                    optimizer.step()
                    total += float(loss.detach())
                schedule.step()
                train_losses.append(total / len(train))
                val_losses.append(_mean_loss(net, val))
                if on_epoch is not None:
                    on_epoch(epoch, train_losses[-1], val_losses[-1])
                if val_losses[-1] < best - 1e-4:
                    best, best_epoch = val_losses[-1], epoch
                    best_state = copy.deepcopy(net.state_dict())
                elif epoch - best_epoch >= patience:
                    stopped = f"early stopping: no held-out improvement in {patience} epochs"
                    break
            if best_state is None or not math.isfinite(best):
                raise PathfitError("amortized training: the held-out loss was never finite")
            net.load_state_dict(best_state)
            net.eval()
        self.net_ = net
        self.training_ = Training(
            simulations=n_simulations,
            epochs=len(train_losses),
            best_epoch=best_epoch,
            train_loss=train_losses,
            val_loss=val_losses,
            seconds=time.perf_counter() - start,
            stopped=stopped,
        )
        return self

    def _simulate(
        self,
        n: int,
        batch_size: int,
        g: torch.Generator,
        on_simulated: Callable[[int], None] | None,
    ) -> list[tuple[Summaries, torch.Tensor]]:
        batches = []
        done = 0
        while done < n:
            size = min(batch_size, n - done)
            batch = simulate_batch(self.prior_, size, g)
            summaries = self._summaries(batch)
            batches.append((summaries, to_z(batch.coef, summaries).float()))
            done += size
            if on_simulated is not None:
                on_simulated(size)
        return batches

    # --- fitting -----------------------------------------------------------------------------

    def _check_trained(self) -> PosteriorNet:
        net = getattr(self, "net_", None)
        if net is None:
            raise InputError("AmortizedEstimator", "an untrained estimator", "train() or load()")
        return net

    def summaries_of(self, paths: Paths, targets: Targets | torch.Tensor) -> Summaries:
        """The network's summaries of one dataset. The path values are sorted at each time
        before their powers are summed, so that permuting the paths changes nothing, not even
        rounding."""
        prior = self.prior_
        paths, k = check_data(paths, targets, prior.n_params)
        values = paths.values.double()
        if values.device.type == "cpu":  # NumPy sorts 100 x 1000 in 0.6 ms, torch in 5 ms
            values = torch.from_numpy(np.sort(values.numpy(), axis=0))
        else:
            values = values.sort(dim=0).values
        moments = _path_means(values, prior.summary_powers[-1])
        return summarize(
            paths.times.double().unsqueeze(0),
            moments.unsqueeze(0),
            k.double().unsqueeze(0),
            paths.n_paths,
            prior.powers,
            torch.tensor(prior.coef_mean, dtype=torch.float64),
            torch.tensor(prior.coef_sd, dtype=torch.float64),
        )

    def posterior(self, paths: Paths, targets: Targets | torch.Tensor) -> Posterior:
        """The posterior of one dataset."""
        net = self._check_trained()
        names = self._model().names
        return Posterior(net, self.summaries_of(paths, targets), list(names))

    def _model(self) -> ConstantLambda | PolynomialLambda:
        d = self.prior_.degree
        return ConstantLambda() if d == 0 else PolynomialLambda(d)

    @property
    def model(self) -> ConstantLambda | PolynomialLambda:
        """The model family whose coefficients the posterior is over (from the prior)."""
        return self._model()

    def predict(self, paths: Paths | object, *, times: object = None) -> torch.Tensor:
        """k_hat_j for paths (any form ``fit`` accepts) at the posterior mean coefficients."""
        paths = as_paths(paths, times)
        with torch.no_grad():
            return self.model_(self.model_.prepare(paths))

    def lam_curve(self, x: torch.Tensor) -> LamCurve | None:
        """lambda(x) at the posterior mean on the points ``x`` with the pointwise central band
        of ``n_draws`` posterior draws, for a polynomial lambda(x); None for one lambda."""
        if self.prior_.degree == 0:
            return None
        x = x.to(torch.float64).reshape(-1)
        draws = self.posterior_.sample(self.n_draws, seed=self.seed)  # (S, p)
        powers = torch.stack([x**d for d in range(self.prior_.degree + 1)], dim=-1)
        curves = draws @ powers.T  # (S, n)
        alpha = (1 - self.level) / 2
        q = torch.tensor([alpha, 1 - alpha], dtype=torch.float64)
        lower, upper = torch.quantile(curves, q, dim=0)
        return LamCurve(
            x=x,
            lam=powers @ self.coef_,
            stderr=curves.std(dim=0),
            lower=lower,
            upper=upper,
            level=self.level,
            interval="posterior",
        )

    def fit(
        self,
        paths: Paths | object,
        targets: Targets | torch.Tensor | object = None,
        *,
        times: object = None,
    ) -> AmortizedEstimator:
        """The posterior of the dataset, summarized: coef_ (posterior mean), stderr_, ci_ at
        ``level``, lam_, lam_stderr_, lam_ci_ (one lambda), posterior_ and result_; returns
        self. Paths and targets may be any form LeastSquares.fit accepts except streamed paths
        (arrays and tensors with ``times``, DataFrames in the data files' layouts)."""
        self.check_hyperparameters()
        start = time.perf_counter()
        paths, targets = as_data(paths, targets, times)
        n_times = targets.shape[0] if isinstance(targets, torch.Tensor) else targets.n_times
        self.n_paths_, self.n_times_ = paths.n_paths, n_times
        with torch_threads(self.threads_for(max(n_times, self.n_draws))):
            posterior = self.posterior(paths, targets)
            mean, sd, ci = posterior.summary(self.level, self.n_draws, self.seed)
        self.posterior_ = posterior
        self.coef_, self.stderr_, self.ci_ = mean, sd, ci
        self._result(time.perf_counter() - start)
        return self

    def _result(self, wall_s: float) -> None:
        model = self._model()
        self.model_ = copy.deepcopy(model)
        with torch.no_grad():
            self.model_.coef.copy_(self.coef_)
        constant = isinstance(model, ConstantLambda)
        self.lam_ = float(self.coef_[0]) if constant else None
        ci = [(float(lo), float(hi)) for lo, hi in self.ci_]
        stderr = [float(s) for s in self.stderr_]
        self.lam_stderr_ = stderr[0] if constant else None
        self.lam_ci_ = ci[0] if constant else None
        self.result_ = FitResult(
            method="amortized",
            model=type(model).__name__,
            level=self.level,
            param_names=list(model.names),
            params=[float(c) for c in self.coef_],
            stderr=stderr,
            ci=ci,
            lam=self.lam_,
            lam_stderr=stderr[0] if constant else None,
            lam_ci=ci[0] if constant else None,
            interval="posterior",
            uncertainty_note=f"central {self.level:.0%} interval of the amortized posterior",
            status="converged",
            message=f"amortized posterior in {wall_s * 1e3:.1f} ms",
            step="one pass of the trained network",
            steps=1,
            wall_s=wall_s,
        )

    # --- saving ------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``estimator.safetensors`` (the weights) and ``estimator.json`` (format,
        versions, prior, architecture, training, the weights' shapes) into ``folder``,
        atomically; no pickle. Returns the two paths."""
        from safetensors.torch import save as save_bytes

        from pathfit.atomic import write_files_atomic

        net = self._check_trained()
        state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
        meta = {
            "format": FORMAT,
            "versions": {
                "pathfit": pathfit.__version__,
                "torch": torch.__version__,
                "zuko": _zuko_version(),
            },
            "prior": self.prior_.to_json(),
            "architecture": {
                "hidden": self.hidden,
                "context": self.context,
                "transforms": self.transforms,
            },
            "settings": {"level": self.level, "n_draws": self.n_draws, "seed": self.seed},
            "training": {
                "simulations": self.training_.simulations,
                "epochs": self.training_.epochs,
                "best_epoch": self.training_.best_epoch,
                "train_loss": self.training_.train_loss,
                "val_loss": self.training_.val_loss,
                "seconds": self.training_.seconds,
                "stopped": self.training_.stopped,
            },
            "shapes": {k: list(v.shape) for k, v in state.items()},
        }
        folder = Path(folder)
        weights, info = folder / "estimator.safetensors", folder / "estimator.json"
        blob = save_bytes(state, metadata={"format": FORMAT})
        write_files_atomic(
            {
                weights: lambda tmp: tmp.write_bytes(blob),
                info: lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"),
            }
        )
        return {"weights": weights, "info": info}

    @classmethod
    def load(cls, folder: str | Path) -> AmortizedEstimator:
        """An estimator saved by ``save``; a missing, corrupted or mismatched file (format,
        prior, architecture, a weight's name or shape) is an InputError naming it."""
        from safetensors import SafetensorError
        from safetensors.torch import load as load_bytes

        folder = Path(folder)
        info_path, weights_path = folder / "estimator.json", folder / "estimator.safetensors"
        for path in (info_path, weights_path):
            if not path.is_file():
                raise InputError(str(path), "no such file", "a saved amortized estimator")
        try:
            meta = json.loads(info_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(
                str(info_path), f"invalid JSON ({err})", "the estimator's JSON"
            ) from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise InputError(f"{info_path}: format", repr(found), repr(FORMAT))
        saved = str(meta.get("versions", {}).get("pathfit", ""))
        if _release(saved) > _release(pathfit.__version__):
            raise InputError(
                f"{info_path}: versions.pathfit",
                repr(saved),
                f"an estimator saved by pathfit {pathfit.__version__} or earlier (upgrade "
                "pathfit to load it)",
            )
        try:
            prior = Prior.from_json(meta["prior"])
            arch = meta["architecture"]
            settings = meta["settings"]
            training = meta["training"]
            estimator = cls(
                prior,
                level=settings["level"],
                n_draws=settings["n_draws"],
                seed=settings["seed"],
                hidden=arch["hidden"],
                context=arch["context"],
                transforms=arch["transforms"],
            )
            estimator.check_hyperparameters()
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(
                str(info_path),
                f"a missing or malformed entry ({err!r})",
                "the estimator's JSON as save() writes it",
            ) from None
        except InputError as err:
            raise InputError(f"{info_path}: {err.field}", err.value, err.expected) from None
        try:
            state = load_bytes(weights_path.read_bytes())
        except (SafetensorError, OSError, ValueError) as err:
            raise InputError(
                str(weights_path), f"unreadable weights ({err})", "a safetensors file"
            ) from None
        net = estimator._new_net()
        expected = {k: list(v.shape) for k, v in net.state_dict().items()}
        found = {k: list(v.shape) for k, v in state.items()}
        if found != expected:
            missing = sorted(set(expected) - set(found))
            extra = sorted(set(found) - set(expected))
            wrong = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
            what = (
                f"missing {missing[:3]}"
                if missing
                else f"unexpected {extra[:3]}"
                if extra
                else f"{wrong[0]} of shape {found[wrong[0]]}, not {expected[wrong[0]]}"
            )
            raise InputError(
                str(weights_path), what, "the weights of the architecture in estimator.json"
            )
        if any(not torch.isfinite(v).all() for v in state.values()):
            raise InputError(str(weights_path), "non-finite weights", "finite weights")
        net.load_state_dict(state)
        net.eval()
        estimator.net_ = net
        estimator.training_ = Training(**training)
        return estimator


def _path_means(values: torch.Tensor, highest: int) -> torch.Tensor:
    """(n_times, highest) means over the paths of x^1 .. x^highest: the powers built by
    products and summed in one reduction (power_design sums each column apart, with the
    thread-independent chunking a single-threaded 100 x 1000 fit does not need)."""
    powers = [values]
    for _ in range(highest - 1):
        powers.append(powers[-1] * values)
    return torch.stack(powers, dim=-1).mean(dim=0)


def _zuko_version() -> str:
    from importlib.metadata import version

    return version("zuko")


def _release(text: str) -> tuple[int, ...]:
    """The numeric release of a version string ("0.9.0.dev1" -> (0, 9, 0)); () if none."""
    parts = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


@functools.cache
def _hermite_nodes() -> tuple[torch.Tensor, torch.Tensor]:
    """64 Gauss-Hermite nodes for the standard normal and their normalized weights."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(64)
    return torch.from_numpy(nodes), torch.from_numpy(weights / weights.sum())


def _normal_quantiles(alpha: float) -> torch.Tensor:
    q = float(special.ndtri(alpha))
    return torch.tensor([q, -q], dtype=torch.float64)


def _mean_loss(net: PosteriorNet, batches: list[tuple[Summaries, torch.Tensor]]) -> float:
    net.eval()
    with torch.no_grad():
        losses = [float(-net.distribution(s).log_prob(z).mean()) for s, z in batches]
    return sum(losses) / len(losses)
