"""Statistics over tasks of one score per task: the mean with its 95% interval (the paper's
protocol), and the quartiles, which a few tasks that diverge cannot carry away."""

from __future__ import annotations

import math

import torch

STATISTICS = ("mean", "median")  # mean ± 95% interval; median and quartiles
STATISTIC_TEXTS = {"mean": "Mean, 95% band", "median": "Median, quartiles"}  # as views name them


def mean_ci95(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Over the last dimension (the tasks): the mean and the 95% interval's half-width,
    1.96·std/√n."""
    count = values.shape[-1]
    return values.mean(dim=-1), 1.96 * values.std(dim=-1, unbiased=False) / math.sqrt(count)


def quartiles(values: torch.Tensor) -> torch.Tensor:
    """Over the last dimension (the tasks): the 25th, 50th and 75th percentile, ``[3, ...]``.
    A task whose score is not finite (it diverged) counts as the largest; the nearest-rank
    rule keeps every percentile one of the tasks' scores."""
    finite = torch.nan_to_num(values, nan=math.inf, posinf=math.inf)
    q = torch.tensor([0.25, 0.5, 0.75], dtype=finite.dtype, device=finite.device)
    return torch.quantile(finite, q, dim=-1, interpolation="nearest")
