"""Neural-network models of lambda: the seed question's network and a pointwise MLP."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from pathfit._random import check_seed
from pathfit._threads import fixed_mean, fixed_sum
from pathfit._validation import check_choice, check_int
from pathfit.choices import ACTIVATIONS, Activation
from pathfit.exceptions import InputError
from pathfit.models._base import AbstractModel
from pathfit.paths import Paths

_ACTIVATIONS: dict[Activation, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
}


def _mlp(
    n_in: int,
    hidden: Sequence[int],
    *,
    seed: int,
    zero_output: bool = False,
    activation: Activation = "tanh",
) -> nn.Sequential:
    """A float64 MLP from n_in inputs to one output, initialised from ``seed`` alone: the
    global torch random stream is neither used nor advanced."""
    widths = [check_int(f"hidden[{i}]", h, minimum=1) for i, h in enumerate(hidden)]
    check_seed("seed", seed)
    check_choice("activation", activation, ACTIVATIONS)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for width_in, width_out in zip([n_in, *widths], widths, strict=False):
            layers += [
                nn.Linear(width_in, width_out, dtype=torch.float64),
                _ACTIVATIONS[activation](),
            ]
        layers.append(nn.Linear(widths[-1] if widths else n_in, 1, dtype=torch.float64))
    net = nn.Sequential(*layers)
    if zero_output:
        # lambda starts as a constant (the output bias); the hidden layers earn their share.
        nn.init.zeros_(net[-1].weight)
    return net


_JACOBIAN_CELLS = 1 << 22  # activations held at once while building a Jacobian


def _weighted_jacobian(
    net: nn.Sequential, z: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, n_params) with row j = sum_g weight[j, g] d net(z[j, g]) / d theta, and the
    (rows,) weighted outputs sum_g weight[j, g] net(z[j, g]) from the same forward pass.

    ``z`` is (rows, group, n_in) and ``weight`` (rows, group). ``net`` is a stack of Linear
    layers and elementwise activations, so the points do not interact: one backward pass of
    the summed output gives each point's derivative in each layer's output (its delta), and a
    Linear layer's weight derivative at a point is delta (outer) its input. The weighted sums
    over the group are batched matrix products; rows are taken in chunks to bound memory.
    """
    linears = [layer for layer in net if isinstance(layer, nn.Linear)]
    widest = max(max(layer.in_features, layer.out_features) for layer in linears)
    rows, group = weight.shape
    chunk = max(1, _JACOBIAN_CELLS // max(1, group * widest))
    pieces, outputs = [], []
    for start in range(0, rows, chunk):
        zc, wc = z[start : start + chunk], weight[start : start + chunk]
        with torch.enable_grad():
            ins, outs = [], []
            h = zc
            for layer in net:
                if isinstance(layer, nn.Linear):
                    ins.append(h.detach())
                    h = layer(h)
                    outs.append(h)
                else:
                    h = layer(h)
            deltas = torch.autograd.grad(h.sum(), outs)
        outputs.append((h.detach().squeeze(-1) * wc).sum(dim=-1))
        blocks = []
        for a, delta in zip(ins, deltas, strict=True):
            weighted = (delta * wc.unsqueeze(-1)).transpose(1, 2)  # (rows, out, group)
            blocks.append(torch.bmm(weighted, a).flatten(1))  # weight: (rows, out * in)
            blocks.append(weighted.sum(dim=-1))  # bias: (rows, out)
        pieces.append(torch.cat(blocks, dim=1))
    return torch.cat(pieces), torch.cat(outputs)


class _Standardize(nn.Module):
    """x -> (x - shift) / scale with constants fitted to the training paths in ``prepare``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros((), dtype=torch.float64))
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))

    def fit(self, values: torch.Tensor) -> None:
        # sums in fixed chunks: the same scaling, hence the same fit, on any number of threads
        mean = fixed_mean(values)
        std = (fixed_sum((values - mean).square()) / max(values.numel() - 1, 1)).sqrt()
        self.shift = mean.detach().clone()
        self.scale = torch.where(std > 0, std, torch.ones_like(std)).detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class SeedNetwork(AbstractModel):
    """The seed question's network: the n values x_1j..x_nj of time j are its input nodes and
    its single output node is lambda_j; k_hat_j = lambda_j * s_j with s_j = (1/n) sum_i x_ij^2.

    With ``hidden=()`` (the default) the output is w . x_j + b. When the true lambda is constant,
    a fit keeps lambda_j the same at every time. With more times than inputs every weight
    direction still changes the predictions, so the data determine the weights, as zero: only
    the bias carries lambda and the weights carry no information about it (see
    :meth:`weight_share`; :func:`pathfit.diagnostics.identify` counts the directions).

    Args:
        n_paths: number of input nodes; the paths it is fitted to must have this many.
        hidden: widths of tanh hidden layers between the inputs and the output node.
        seed: seed of the weight initialisation.
    """

    def __init__(self, n_paths: int, hidden: Sequence[int] = (), *, seed: int = 0) -> None:
        super().__init__()
        self.n_inputs = check_int("n_paths", n_paths, minimum=1)
        self.hidden, self.seed = tuple(hidden), seed
        self.standardize = _Standardize()
        self.net = _mlp(self.n_inputs, hidden, seed=seed)

    def repr_args(self) -> dict[str, object]:
        return {"n_paths": self.n_inputs, "hidden": self.hidden, "seed": self.seed}

    def adapt(self, paths: Paths) -> None:
        self.standardize.fit(paths.values)

    def prepare(self, paths: Paths) -> torch.Tensor:
        if paths.n_paths != self.n_inputs:
            raise InputError(
                "n_paths",
                paths.n_paths,
                f"{self.n_inputs} paths, one per input node of the seed network",
            )
        return paths.values.T

    def lam_per_time(self, inputs: torch.Tensor) -> torch.Tensor:
        """(batch,) lambda_j, the network's output for each row x_j of ``inputs``."""
        return self.net(self.standardize(inputs)).squeeze(-1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.lam_per_time(inputs) * inputs.square().mean(dim=-1)

    def lam_estimate(self, inputs: torch.Tensor) -> float | None:
        with torch.no_grad():
            return float(self.lam_per_time(inputs).mean())

    def predict_with_lam(self, inputs: torch.Tensor) -> tuple[torch.Tensor, float | None]:
        with torch.no_grad():
            lam = self.lam_per_time(inputs)
            return lam * inputs.square().mean(dim=-1), float(lam.mean())

    def jacobian(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._jacobian(inputs, inputs.square().mean(dim=-1))[0]

    def predict_and_jacobian(
        self, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, float | None, torch.Tensor]:
        scale = inputs.square().mean(dim=-1)
        jacobian, k_hat = self._jacobian(inputs, scale)
        if not bool((scale > 0).all()):  # lambda_j cannot be read off k_hat_j = 0 * lambda_j
            return k_hat, self.lam_estimate(inputs), jacobian
        return k_hat, float(fixed_mean(k_hat / scale)), jacobian

    def lam_gradient(self, inputs: torch.Tensor) -> torch.Tensor | None:
        weight = torch.full_like(inputs[:, 0], 1 / inputs.shape[0])
        return self._jacobian(inputs, weight)[0].sum(dim=0)

    def _jacobian(
        self, inputs: torch.Tensor, weight: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return _weighted_jacobian(
            self.net, self.standardize(inputs).unsqueeze(1), weight.unsqueeze(1)
        )

    def identification_note(self, inputs: torch.Tensor) -> str:
        """One sentence on how much of the fitted lambda_j the bias alone explains.

        It claims nothing about which weights the data determine: that is counted in function
        space by :func:`pathfit.diagnostics.identify`, whose diagnosis ends with this sentence.
        """
        spread, level = self.weight_share(inputs)
        ratio = spread / level if level > 0 else math.inf
        if ratio < 1e-3:
            return (
                f"lambda_j is the same at every time to {ratio:.1e} of its mean (std "
                f"{spread:.2e} against {level:.6g}): only the bias carries it, and the weights "
                "carry no information beyond saying that lambda does not depend on x_j"
            )
        return (
            f"lambda_j varies across times (std {spread:.3g} against a mean of {level:.6g}, "
            f"ratio {ratio:.2g}): the bias alone does not explain it, and the weights attribute "
            "part of k to a lambda that depends on x_j (with a constant true lambda, that part "
            "is fitted noise or an unfinished fit)"
        )

    def weight_share(self, inputs: torch.Tensor) -> tuple[float, float]:
        """(std over j of lambda_j, |mean over j of lambda_j|): how much of the output moves
        with the inputs, against the constant part that the bias carries."""
        with torch.no_grad():
            lam = self.lam_per_time(inputs)
            return float(lam.std()), float(lam.mean().abs())


SPREAD = 2.0
"""The first layer's units start as ramps centred evenly on [-SPREAD, SPREAD] of standardized x."""


def _spread(first: nn.Linear) -> None:
    """Start the first layer's units as ramps centred evenly across the standardized data,
    each as steep as the spacing of the centres allows (weight a = (width - 1) / (2 SPREAD),
    bias -a c_u), rather than PyTorch's uniform draw, which bunches some units and leaves
    parts of the range of x to none. Chosen by the lambda(x) study (benchmarks/README.md): it
    halves the steps a lambda(x) needs and brings a constant lambda to convergence in 7 steps
    instead of 42."""
    width = first.out_features
    centres = torch.linspace(-SPREAD, SPREAD, width, dtype=first.weight.dtype)
    slope = max(width - 1, 1) / (2 * SPREAD)
    with torch.no_grad():
        first.weight.fill_(slope)
        first.bias.copy_(-slope * centres)


class PointwiseMLP(AbstractModel):
    """lambda_theta(x) applied to every path value: k_hat_j = (1/n) sum_i lambda_theta(x_ij) x_ij^2.

    The first layer's units start as ramps spread evenly across the standardized x and the
    output layer's weights at zero, so lambda_theta starts as a constant and the hidden units
    grow only as far as the targets ask. The default, 8 tanh units in one layer, was chosen
    by the lambda(x) study in benchmarks/ (with Gauss-Newton training, 100 steps).

    Args:
        hidden: widths of the hidden layers of the scalar-to-scalar network.
        seed: seed of the weight initialisation (the layers after the first; the first is
            spread as above).
        activation: the hidden layers' activation, "tanh" (the default), "sigmoid",
            "softplus" or "silu".
    """

    def __init__(
        self, hidden: Sequence[int] = (8,), *, seed: int = 0, activation: Activation = "tanh"
    ) -> None:
        super().__init__()
        if len(hidden) == 0:
            raise InputError("hidden", "()", "at least one hidden layer")
        self.activation = activation
        self.hidden, self.seed = tuple(hidden), seed
        self.standardize = _Standardize()
        self.net = _mlp(1, hidden, seed=seed, zero_output=True, activation=activation)
        _spread(self.net[0])

    def repr_args(self) -> dict[str, object]:
        return {"hidden": self.hidden, "seed": self.seed, "activation": self.activation}

    def adapt(self, paths: Paths) -> None:
        self.standardize.fit(paths.values)

    def prepare(self, paths: Paths) -> torch.Tensor:
        return paths.values.T

    def lam(self, x: torch.Tensor) -> torch.Tensor:
        """lambda_theta(x) elementwise, same shape as x."""
        return self.net(self.standardize(x).unsqueeze(-1)).squeeze(-1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return (self.lam(inputs) * inputs.square()).mean(dim=-1)

    def lam_estimate(self, inputs: torch.Tensor) -> float | None:
        """The mean of lambda_theta(x) over every observed x, weighted by x^2: the weight each
        x carries in k, so the one lambda the aggregates pin down (sum_j k_hat_j / sum_j s_j,
        the constant that predicts the same total k). An unweighted mean would lean on
        lambda_theta near x = 0, which k hardly sees."""
        return self.predict_with_lam(inputs)[1]

    def predict_with_lam(self, inputs: torch.Tensor) -> tuple[torch.Tensor, float | None]:
        with torch.no_grad():
            square = inputs.square()
            k_hat = (self.lam(inputs) * square).mean(dim=-1)
            total = float(fixed_sum(square))
            lam = float(fixed_sum(k_hat) * inputs.shape[-1]) / total if total > 0 else math.nan
            return k_hat, lam

    def jacobian(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._jacobian(inputs, inputs.square() / inputs.shape[-1])[0]

    def predict_and_jacobian(
        self, inputs: torch.Tensor
    ) -> tuple[torch.Tensor, float | None, torch.Tensor]:
        square = inputs.square()
        jacobian, k_hat = self._jacobian(inputs, square / inputs.shape[-1])
        total = float(fixed_sum(square))
        lam = float(fixed_sum(k_hat) * inputs.shape[-1]) / total if total > 0 else math.nan
        return k_hat, lam, jacobian

    def path_terms(self, inputs: torch.Tensor) -> torch.Tensor | None:
        with torch.no_grad():
            return (self.lam(inputs) * inputs.square()).T

    def lam_gradient(self, inputs: torch.Tensor) -> torch.Tensor | None:
        square = inputs.square()
        return self._jacobian(inputs, square / fixed_sum(square).clamp_min(1e-300))[0].sum(dim=0)

    def lam_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """(len(x), n_params) derivatives of lambda_theta at each value of the 1-d ``x``."""
        return self._jacobian(x.reshape(-1, 1), torch.ones_like(x.reshape(-1, 1)))[0]

    def _jacobian(self, x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _weighted_jacobian(self.net, self.standardize(x).unsqueeze(-1), weight)
