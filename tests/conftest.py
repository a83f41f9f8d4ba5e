"""Shared test setup: a fixed global seed for every test; ``gpu`` tests skip without CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    # Tests pass explicit seeds to pathfit; this pins whatever else draws from the global streams.
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 - the legacy global stream is what we pin here


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # The fits under test are small: a second intra-op thread buys nothing, and on a busy
    # 2-core machine the threads' contention makes network fits ten times slower. Coverage's
    # worker threads still use every core; the tiled simulation follows torch's count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device: torch.cuda.is_available() is False")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
