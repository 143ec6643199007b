"""Task losses and metrics: one value per task, averaged over its points.

Regression targets are real values ``[…, points, m]``. Classification targets
are class indices stored as floats ``[…, points, 1]``; a binary model gives
one logit (sigmoid and binary cross-entropy), an N-way model N logits
(softmax cross-entropy). Every function here works under `torch.func.vmap`,
`grad` and `torch.compile`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the last two dimensions (points, outputs)."""
    return ((prediction - target) ** 2).mean(dim=(-2, -1))


def _one_hot(labels: torch.Tensor, classes: int, dtype: torch.dtype) -> torch.Tensor:
    """``labels […, points, 1]`` as one-hot rows ``[…, points, classes]`` (vmap-safe)."""
    return (labels == torch.arange(classes, device=labels.device, dtype=labels.dtype)).to(dtype)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of one logit, or softmax cross-entropy of N logits, per task."""
    if logits.shape[-1] == 1:
        per_point = F.softplus(logits) - labels * logits  # −log σ(z) for 1, −log(1 − σ(z)) for 0
        return per_point.mean(dim=(-2, -1))
    picked = (logits * _one_hot(labels, logits.shape[-1], logits.dtype)).sum(-1)
    return (torch.logsumexp(logits, dim=-1) - picked).mean(dim=-1)


def predicted_class(logits: torch.Tensor) -> torch.Tensor:
    """The class a model's output picks, ``[…, points]`` as integers."""
    if logits.shape[-1] == 1:
        return (logits[..., 0] > 0).long()
    return logits.argmax(dim=-1)


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Probabilities of every class ``[…, points, classes]`` (two columns for a binary model)."""
    if logits.shape[-1] == 1:
        positive = torch.sigmoid(logits)
        return torch.cat([1 - positive, positive], dim=-1)
    return torch.softmax(logits, dim=-1)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of points classified correctly, per task."""
    return (predicted_class(logits) == labels[..., 0].long()).to(logits.dtype).mean(dim=-1)


@dataclass(frozen=True)
class TaskKind:
    """What a task kind is scored by: the loss every algorithm minimises, and accuracy if it has one."""

    loss: LossFn
    loss_name: str  # as reports name it
    metric: LossFn | None = None  # accuracy, per task


KINDS = {
    "regression": TaskKind(mse, "mse"),
    "classification": TaskKind(cross_entropy, "cross-entropy", accuracy),
}


def task_kind(kind: str) -> TaskKind:
    return KINDS[kind]
