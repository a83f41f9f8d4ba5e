"""``pathfit._threads``: sums and SVDs that give the same bits on any number of torch threads,
and the thread count set for a block and given back."""

from __future__ import annotations

import pytest
import torch

from pathfit._threads import SUM_CHUNK, fixed_mean, fixed_sum, svd, svdvals, torch_threads


def _on(threads: int, fn, *args):
    with torch_threads(threads):
        return fn(*args)


def _normals(shape: tuple[int, ...], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("shape", "dim"),
    [
        ((1_000_003,), None),  # one output: torch's own sum splits it across the threads
        ((40_000, 3), None),
        ((70_000, 1), 0),
        ((1, 70_000), -1),
        ((1, 50_000, 1), -2),
        ((3 * SUM_CHUNK,), 0),
        ((70_000, 2), 0),  # several outputs: torch's own, already the same on any threads
    ],
)
def test_fixed_sum_is_the_same_on_1_2_and_3_threads(shape, dim, dtype):
    x = _normals(shape, dtype)
    sums = [_on(threads, fixed_sum, x, dim) for threads in (1, 2, 3)]
    assert torch.equal(sums[0], sums[1])
    assert torch.equal(sums[0], sums[2])
    exact = x.double().sum() if dim is None else x.double().sum(dim)
    assert sums[0].shape == exact.shape
    # a sum of n standard normals: |error| a few ulps of sqrt(n) per chunk level
    tol = 1e-3 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(sums[0].double(), exact, rtol=0, atol=tol)


def test_torch_own_sum_of_one_output_depends_on_the_threads():
    """Why fixed_sum exists: if torch's sum no longer split a single output across threads,
    this fails, and fixed_sum's chunks could go."""
    x = _normals((1_000_003,))
    assert not torch.equal(_on(1, torch.sum, x), _on(2, torch.sum, x))


def test_fixed_sum_of_several_outputs_is_torch_sum_itself():
    x = _normals((50_000, 3))
    assert torch.equal(fixed_sum(x, 0), x.sum(0))
    small = _normals((SUM_CHUNK,))
    assert torch.equal(fixed_sum(small), small.sum())


def test_fixed_mean_and_its_gradient():
    x = _normals((3 * SUM_CHUNK + 5,)).requires_grad_()
    mean = fixed_mean(x)
    torch.testing.assert_close(mean, x.detach().mean(), rtol=0, atol=1e-15)
    mean.backward()
    assert torch.equal(x.grad, torch.full_like(x, 1 / x.numel()))
    assert fixed_mean(_normals((4, 7)), dim=1).shape == (4,)


def test_svd_is_the_same_on_1_and_2_threads_and_gives_the_count_back():
    # a Jacobian's shape (times x weights): MKL's threaded SVD rounds differently on 2 threads
    matrix = _normals((2000, 201))
    with torch_threads(2):
        factors = svd(matrix)
        assert torch.get_num_threads() == 2
        values = svdvals(matrix)
    with torch_threads(1):
        alone, values_alone = svd(matrix), svdvals(matrix)
    for a, b in zip(factors, alone, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(values, values_alone)
    torch.testing.assert_close(values, alone[1], rtol=1e-13, atol=0)
    u, s, vh = factors
    torch.testing.assert_close(u @ torch.diag(s) @ vh, matrix, rtol=0, atol=1e-12)


def test_torch_threads_gives_the_count_back_after_an_exception():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(before + 2):
        assert torch.get_num_threads() == before + 2
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
