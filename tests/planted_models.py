"""Models with a planted wrong backward, for the gradient-check tests of the library
(tests/diagnostics) and of the command (tests/cli): the seed question's kind of slip."""

from __future__ import annotations

import torch

from pathfit.models import ConstantLambda, PointwiseMLP


class _WrongSquare(torch.autograd.Function):
    """y = x^2 with a backward that forgets the factor 2 (the seed question's kind of slip)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * x  # should be 2 * grad * x


class _WrongTanh(torch.autograd.Function):
    """tanh with the derivative 1 - y instead of 1 - y^2."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return grad * (1 - y)


class _WrongTanhModule(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _WrongTanh.apply(x)


class SquaredPredictionLambda(ConstantLambda):
    """k_hat = (lam s_j)^2 through the wrong square: the wrong backward sits on the only path
    from the parameter to the loss."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return _WrongSquare.apply(inputs @ self.coef)


class RightSquaredPredictionLambda(ConstantLambda):
    """The same model with torch's own square: the control."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return (inputs @ self.coef).square()


class WrongActivationMLP(PointwiseMLP):
    """A pointwise MLP whose hidden activation has a wrong backward."""

    def __init__(self, hidden=(16,), *, seed: int = 0) -> None:
        super().__init__(hidden, seed=seed)
        self.net[1] = _WrongTanhModule()
