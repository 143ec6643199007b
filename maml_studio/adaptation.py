"""Adapt a trained model to support points and predict after every step.

Used by the CLI (`maml-studio adapt`), the evaluation protocol and the GUI's
adaptation panel. All tasks and all steps come from one vectorised call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from maml_studio.algorithms import MetaLearner
from maml_studio.model import Params


@dataclass
class AdaptationResult:
    predictions: torch.Tensor  # [steps + 1, T, Q, m]: after 0, 1, …, steps steps
    diverged_at: int | None  # first step whose predictions are not finite, if any

    @property
    def last_finite_step(self) -> int:
        steps = self.predictions.shape[0] - 1
        return steps if self.diverged_at is None else self.diverged_at - 1


def adapt_and_predict(
    learner: MetaLearner,
    state: Params,
    support_x: torch.Tensor,
    support_y: torch.Tensor,
    query_x: torch.Tensor,
    steps: int,
    lr: float | None = None,
) -> AdaptationResult:
    """Predictions on ``query_x [T, Q, d]`` after each of 0 … ``steps`` adaptation steps."""
    if support_x.shape[1] == 0:  # no points: the prior, unchanged by any step
        with torch.no_grad():
            prior = learner.model.forward(learner.network(state), query_x)
        return AdaptationResult(prior.unsqueeze(0).expand(steps + 1, *prior.shape), None)
    trajectory = learner.adapt(state, support_x, support_y, steps, lr=lr)
    with torch.no_grad():
        predictions = torch.stack([learner.model.forward(p, query_x) for p in trajectory])
    finite = torch.isfinite(predictions).flatten(1).all(dim=1)
    diverged_at = None if bool(finite.all()) else int((~finite).nonzero()[0])
    return AdaptationResult(predictions, diverged_at)
