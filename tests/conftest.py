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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device: torch.cuda.is_available() is False")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
