"""Task losses: one scalar per task, averaged over its points and outputs."""

from __future__ import annotations

from collections.abc import Callable

import torch

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the last two dimensions (points, outputs)."""
    return ((prediction - target) ** 2).mean(dim=(-2, -1))


LOSSES = {"regression": mse}


def loss_for(kind: str):
    return LOSSES[kind]
