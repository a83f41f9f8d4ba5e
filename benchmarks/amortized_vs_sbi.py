"""pathfit's amortized estimator beside sbi's NPE, trained on the same prior with the same
embedding, both checked against the exact posterior.

Needs the optional extra: ``pip install 'pathfit[sbi]'``. One size for every dataset (sbi's
NPE takes observations of one shape): n = 100 paths, m = 200 times, ABM, constant lambda with
a N(0.25, 0.1^2) prior, iid noise of level 1e-3..1e-1 relative to k. sbi gets the very same
summaries pathfit's network reads (time tokens and global features, flattened) and pathfit's
DeepSets embedding as its ``embedding_net``; its flow is its own NSF on lambda itself.

Run: python benchmarks/amortized_vs_sbi.py [--simulations 6000] [--test 300] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from pathfit.amortized import AmortizedEstimator, Prior
from pathfit.amortized._calibration import c2st, central_coverage, sbc_ks_pvalue, sbc_ranks
from pathfit.amortized._network import Embedding, Summaries, from_z
from pathfit.amortized._prior import simulate_batch
from pathfit.amortized.validate import LEVELS, _exact

N_PATHS, N_TIMES = 100, 200


class FlatEmbedding(torch.nn.Module):
    """pathfit's embedding on a flattened (tokens, globals) vector, as sbi passes x."""

    def __init__(self, n_tokens: int, n_features: int, hidden: int, context: int) -> None:
        super().__init__()
        self.m, self.f = n_tokens, n_features
        self.net = Embedding(1, hidden, context)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x[:, : self.m * self.f].reshape(-1, self.m, self.f)
        return self.net(tokens, x[:, self.m * self.f :])


def flatten(s: Summaries) -> torch.Tensor:
    return torch.cat([s.tokens.flatten(1), s.globals], dim=1)


def simulate(estimator: AmortizedEstimator, n: int, g: torch.Generator, batch: int = 100):
    out = []
    for start in range(0, n, batch):
        b = simulate_batch(
            estimator.prior_, min(batch, n - start), g, n_paths=N_PATHS, n_times=N_TIMES
        )
        out.append((b, estimator._summaries(b)))
    return out


def metrics(truth, draws, exact_mean, exact_cov, g) -> dict:
    ranks = sbc_ranks(truth, draws, generator=g)
    cover = central_coverage(truth, draws, LEVELS)[:, 0].tolist()
    rmse = float((draws.mean(dim=1) - truth).square().mean().sqrt())
    exact_rmse = float((exact_mean - truth).square().mean().sqrt())
    accuracies = []
    for i in range(5):
        exact = torch.distributions.Normal(exact_mean[i, 0], exact_cov[i, 0, 0].sqrt())
        accuracies.append(
            c2st(
                draws[i, :1000], exact.sample((1000, 1)), generator=torch.Generator().manual_seed(i)
            )
        )
    return {
        "sbc_ks_pvalue": sbc_ks_pvalue(ranks[:, 0], draws.shape[1], generator=g),
        "coverage": dict(zip(map(str, LEVELS), cover, strict=True)),
        "rmse_ratio_vs_exact": rmse / exact_rmse,
        "c2st": sum(accuracies) / len(accuracies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--simulations", type=int, default=6000)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    prior = Prior(processes=("abm",), n_paths=(N_PATHS, N_PATHS), n_times=(N_TIMES, N_TIMES))
    ours = AmortizedEstimator(prior, threads=1, seed=0)

    start = time.perf_counter()
    ours.train(args.simulations, max_epochs=30)
    ours_train = time.perf_counter() - start

    from sbi.inference import NPE
    from sbi.neural_nets import posterior_nn

    g = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    train = simulate(ours, args.simulations, g)
    sbi_simulate = time.perf_counter() - start
    theta = torch.cat([b.coef for b, _ in train]).float()
    x = torch.cat([flatten(s) for _, s in train]).float()
    n_features = train[0][1].tokens.shape[-1]
    sbi_prior = torch.distributions.MultivariateNormal(
        torch.tensor([0.25]), covariance_matrix=torch.tensor([[0.01]])
    )
    embedding = FlatEmbedding(N_TIMES, n_features, ours.hidden, ours.context)
    builder = posterior_nn(
        model="nsf",
        embedding_net=embedding,
        hidden_features=ours.hidden,
        num_transforms=ours.transforms,
    )
    torch.manual_seed(0)
    npe = NPE(prior=sbi_prior, density_estimator=builder, show_progress_bars=False)
    start = time.perf_counter()
    npe.append_simulations(theta, x).train(max_num_epochs=200)
    sbi_train = time.perf_counter() - start + sbi_simulate
    posterior = npe.build_posterior()

    test = simulate(ours, args.test, torch.Generator().manual_seed(99))
    truth = torch.cat([b.coef for b, _ in test])
    exact = [_exact(ours, b) for b, _ in test]
    exact_mean = torch.cat([m for m, _ in exact])
    exact_cov = torch.cat([c for _, c in exact])

    torch.manual_seed(1)
    start = time.perf_counter()
    with torch.no_grad():
        ours_draws = torch.cat(
            [from_z(ours.net_.distribution(s).sample((1000,)), s).transpose(0, 1) for _, s in test]
        )
    ours_infer = (time.perf_counter() - start) / args.test
    start = time.perf_counter()
    sbi_draws = torch.stack(
        [
            posterior.sample(
                (1000,), x=flatten(s)[i : i + 1].float(), show_progress_bars=False
            ).double()
            for _, s in test
            for i in range(s.tokens.shape[0])
        ]
    )
    sbi_infer = (time.perf_counter() - start) / args.test

    g = torch.Generator().manual_seed(7)
    result = {
        "simulations": args.simulations,
        "test_datasets": args.test,
        "size": {"n_paths": N_PATHS, "n_times": N_TIMES},
        "pathfit": {
            **metrics(truth, ours_draws, exact_mean, exact_cov, g),
            "train_s": ours_train,
            "inference_ms_per_dataset_1000_draws": ours_infer * 1e3,
        },
        "sbi_npe": {
            **metrics(truth, sbi_draws, exact_mean, exact_cov, g),
            "train_s": sbi_train,
            "inference_ms_per_dataset_1000_draws": sbi_infer * 1e3,
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
