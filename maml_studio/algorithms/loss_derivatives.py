"""The task losses of `maml_studio.losses` with their derivatives written out by hand.

Each loss works on model outputs ``[T, points, m]`` of all tasks at once and
gives the per-task value (mean over points), its gradient with respect to the
outputs, and the product of its Hessian (with respect to the outputs) with a
direction: what the hand-batched meta-step needs instead of autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from maml_studio.losses import LossFn, cross_entropy, mse


class MeanSquaredError:
    """``mse``: mean of (prediction − target)² over points and outputs."""

    def __init__(self, target: torch.Tensor) -> None:
        self.target = target
        self.scale = 2.0 / (target.shape[-2] * target.shape[-1])

    def value(self, output: torch.Tensor) -> torch.Tensor:
        return (output - self.target).square().mean(dim=(-2, -1))

    def gradient(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gradient, and what `hessian_times` needs (here: nothing but the scale)."""
        return (output - self.target).mul_(self.scale), output

    def hessian_times(self, saved: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        return direction * self.scale


class BinaryCrossEntropy:
    """``cross_entropy`` of one logit: softplus(z) − y·z, mean over points."""

    def __init__(self, target: torch.Tensor) -> None:
        self.target = target
        self.scale = 1.0 / target.shape[-2]

    def value(self, output: torch.Tensor) -> torch.Tensor:
        return (F.softplus(output) - self.target * output).mean(dim=(-2, -1))

    def gradient(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positive = torch.sigmoid(output)
        return (positive - self.target).mul_(self.scale), positive

    def hessian_times(self, positive: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        return positive * (1 - positive) * direction * self.scale


class SoftmaxCrossEntropy:
    """``cross_entropy`` of N logits: logsumexp(z) − z_label, mean over points."""

    def __init__(self, target: torch.Tensor, classes: int) -> None:
        labels = torch.arange(classes, device=target.device, dtype=target.dtype)
        self.one_hot = (target == labels).to(target.dtype)
        self.scale = 1.0 / target.shape[-2]

    def value(self, output: torch.Tensor) -> torch.Tensor:
        picked = (output * self.one_hot).sum(-1)
        return (torch.logsumexp(output, dim=-1) - picked).mean(dim=-1)

    def gradient(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = torch.softmax(output, dim=-1)
        return (probabilities - self.one_hot).mul_(self.scale), probabilities

    def hessian_times(self, probabilities: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        weighted = probabilities * direction
        return (weighted - probabilities * weighted.sum(-1, keepdim=True)).mul_(self.scale)


def has_derivatives(loss_fn: LossFn) -> bool:
    return loss_fn in (mse, cross_entropy)


def loss_with_derivatives(loss_fn: LossFn, target: torch.Tensor, outputs: int):
    """The hand-differentiated form of ``loss_fn`` for targets ``target [T, points, ·]``."""
    if loss_fn is mse:
        return MeanSquaredError(target)
    if loss_fn is cross_entropy:
        return BinaryCrossEntropy(target) if outputs == 1 else SoftmaxCrossEntropy(target, outputs)
    raise ValueError(f"no hand-written derivatives for the loss {loss_fn!r}")
