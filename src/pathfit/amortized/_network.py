"""What the amortized estimator computes from a dataset: summaries invariant to the order of
the paths and of the times, a DeepSets embedding of them, and a conditional normalizing flow
(zuko) over the coefficients in the coordinates the least-squares fit suggests.

A dataset reaches the network as the per-time means over paths of x^q, q = 1 .. 2(d + 2): the
power sums of the aggregated design, the sufficient statistic of every model linear in its
coefficients and of their per-path spread. That is the DeepSets layer over the paths at each
time, with monomials as its fixed feature map (a learned one would have to rediscover them,
from n times more input). The times enter as a set of tokens (t_j, k_j, the path summaries
at t_j, the least-squares residual at t_j), pooled by a mean: permuting the times permutes
the tokens and leaves the mean unchanged, and the data are sorted by time first, so that the
result is bit-identical whatever order they came in.

The flow models z = L^-1 (c - c_ls), where c_ls is the least-squares estimate and L L^T its
classical covariance: for iid noise the exact posterior is close to N(0, I) there whatever the
scale of the data, and the flow learns the rest (the prior's pull, other noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

N_TOKEN_FEATURES_BASE = 5  # t, residual, k, mean x, path noise; plus one per coefficient
N_GLOBAL_BASE = 5  # log n, log m, lag-1 autocorrelation, log s, log path noise


@dataclass(frozen=True)
class Summaries:
    """A batch of datasets of one size, summarized.

    Attributes:
        tokens: (B, m, F) per-time features.
        globals: (B, G) per-dataset features.
        shift: (B, p) least-squares coefficients c_ls.
        scale: (B, p, p) lower-triangular L with L L^T the least-squares covariance.
    """

    tokens: torch.Tensor
    globals: torch.Tensor
    shift: torch.Tensor
    scale: torch.Tensor


def summarize(
    times: torch.Tensor,
    moments: torch.Tensor,
    targets: torch.Tensor,
    n_paths: int,
    powers: tuple[int, ...],
    coef_mean: torch.Tensor,
    coef_sd: torch.Tensor,
) -> Summaries:
    """Summaries of B datasets with m times each: times (B, m) sorted, moments (B, m, Q) the
    means over paths of x^1 .. x^Q, targets (B, m)."""
    times, moments, targets = times.double(), moments.double(), targets.double()
    b, m, _ = moments.shape
    design = moments[..., [q - 1 for q in powers]]  # (B, m, p)
    p = design.shape[-1]
    norms = torch.linalg.vector_norm(design, dim=1, keepdim=True).clamp_min(1e-300)
    u, sv, vh = torch.linalg.svd(design / norms, full_matrices=False)
    cutoff = sv[..., :1] * (m * torch.finfo(torch.float64).eps)
    inv = torch.where(sv > cutoff, 1 / sv, torch.zeros_like(sv))
    uk = (u.transpose(1, 2) @ targets.unsqueeze(-1)).squeeze(-1)
    coef = (vh.transpose(1, 2) @ (inv * uk).unsqueeze(-1)).squeeze(-1) / norms.squeeze(1)
    residuals = targets - (design @ coef.unsqueeze(-1)).squeeze(-1)
    dof = max(m - p, 1)
    s2 = residuals.square().sum(dim=1) / dof
    k_rms = targets.square().mean(dim=1).sqrt().clamp_min(1e-300)
    # a floor on the noise: exact targets would make L zero (1e-10 of the data's scale)
    s2 = torch.maximum(s2, (1e-10 * k_rms).square())
    gram_inv = vh.transpose(1, 2) @ torch.diag_embed(inv.square()) @ vh
    cov = s2[:, None, None] * gram_inv / (norms.transpose(1, 2) * norms)
    jitter = 1e-12 * cov.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1e-300)
    scale = torch.linalg.cholesky(cov + jitter[:, None, None] * torch.eye(p, dtype=cov.dtype))
    s = s2.sqrt()

    # per-time spread of k_hat over the paths: sd_i(sum_b c_b x^q_b) / sqrt(n), from the moments
    second = sum(
        coef[:, a, None] * coef[:, c, None] * moments[..., qa + qc - 1]
        for a, qa in enumerate(powers)
        for c, qc in enumerate(powers)
    )
    first = (design @ coef.unsqueeze(-1)).squeeze(-1)
    spread = ((second - first.square()).clamp_min(0) / max(n_paths - 1, 1)).sqrt()
    path_noise = spread.square().mean(dim=1).sqrt()

    t_max = times[:, -1:].clamp_min(1e-300)
    col_rms = design.square().mean(dim=1, keepdim=True).sqrt().clamp_min(1e-300)
    x_rms = moments[..., 1].clamp_min(1e-300).sqrt()
    tokens = torch.cat(
        [
            (times / t_max).unsqueeze(-1),
            (residuals / s.unsqueeze(1)).clamp(-10, 10).unsqueeze(-1),
            (targets / k_rms.unsqueeze(1)).unsqueeze(-1),
            (moments[..., 0] / x_rms).clamp(-10, 10).unsqueeze(-1),
            (spread / s.unsqueeze(1)).clamp(0, 1e3).log1p().unsqueeze(-1),
            design / col_rms,
        ],
        dim=-1,
    )
    r = residuals - residuals.mean(dim=1, keepdim=True)
    rho1 = (r[:, 1:] * r[:, :-1]).sum(dim=1) / r.square().sum(dim=1).clamp_min(1e-300)
    globals_ = torch.cat(
        [
            torch.full((b, 1), math.log(n_paths / 100), dtype=torch.float64),
            torch.full((b, 1), math.log(m / 1000), dtype=torch.float64),
            rho1.unsqueeze(-1),
            (s / k_rms).log().unsqueeze(-1) / 10,
            ((path_noise / s).clamp_min(1e-12)).log().unsqueeze(-1) / 10,
            ((coef - coef_mean) / coef_sd).clamp(-50, 50),
            (scale.diagonal(dim1=1, dim2=2) / coef_sd).log() / 10,
        ],
        dim=-1,
    )
    return Summaries(tokens.float(), globals_.float(), coef, scale)


class Embedding(nn.Module):
    """DeepSets over the time tokens (mean pooling), joined with the dataset's global features,
    to a context vector of ``context`` numbers.

    The per-token network is half as wide as the rest: it runs on every time of every dataset
    (25,600 tokens in a batch of 64 datasets of 400 times) and dominates the cost of a step.
    """

    def __init__(self, n_params: int, hidden: int, context: int) -> None:
        super().__init__()
        n_tokens = N_TOKEN_FEATURES_BASE + n_params
        n_globals = N_GLOBAL_BASE + 2 * n_params
        width = max(4, hidden // 2)
        self.phi = nn.Sequential(
            nn.Linear(n_tokens, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU()
        )
        self.rho = nn.Sequential(
            nn.Linear(width + n_globals, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, context),
        )

    def forward(self, tokens: torch.Tensor, globals_: torch.Tensor) -> torch.Tensor:
        pooled = self.phi(tokens).mean(dim=1)
        return self.rho(torch.cat([pooled, globals_], dim=-1))


class PosteriorNet(nn.Module):
    """The embedding and the conditional flow q(z | context)."""

    def __init__(self, n_params: int, hidden: int, context: int, transforms: int) -> None:
        import zuko

        super().__init__()
        self.embedding = Embedding(n_params, hidden, context)
        self.flow = zuko.flows.NSF(
            features=n_params,
            context=context,
            transforms=transforms,
            hidden_features=(hidden, hidden),
        )
        # Start at the identity: the last layer of each spline's hypernetwork is zero, so every
        # spline has equal bins and unit slopes (zuko's parametrization), and q(z | context)
        # is N(0, I), already the exact posterior's shape for iid noise. Training then learns
        # only what the data show (the prior's pull, other noise); from a random start it
        # stopped at a posterior 3% too narrow, a loss difference of 5e-4 nats per dataset.
        for module in self.flow.transform.transforms:
            hyper = getattr(module, "hyper", None)
            if isinstance(hyper, nn.Sequential):  # zuko's MLP: its own Linear last
                nn.init.zeros_(hyper[-1].weight)
                nn.init.zeros_(hyper[-1].bias)

    def distribution(self, summaries: Summaries) -> torch.distributions.Distribution:
        return self.flow(self.embedding(summaries.tokens, summaries.globals))


def to_z(coef: torch.Tensor, summaries: Summaries) -> torch.Tensor:
    """z = L^-1 (c - c_ls) for (B, p) or (S, B, p) coefficients."""
    diff = (coef.double() - summaries.shift).unsqueeze(-1)
    scale = summaries.scale.expand(*diff.shape[:-2], -1, -1)
    return torch.linalg.solve_triangular(scale, diff, upper=False).squeeze(-1)


def from_z(z: torch.Tensor, summaries: Summaries) -> torch.Tensor:
    """c = c_ls + L z for (S, B, p) draws of z."""
    return summaries.shift + (summaries.scale @ z.double().unsqueeze(-1)).squeeze(-1)


def log_det_scale(summaries: Summaries) -> torch.Tensor:
    """(B,) log |det L|: log p(c) = log q(z) - log |det L|."""
    return summaries.scale.diagonal(dim1=1, dim2=2).log().sum(dim=-1)
