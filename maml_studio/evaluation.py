"""The paper's evaluation protocol: fresh tasks, K shots, query MSE after each step.

Finn et al. 2017: sample tasks, fine-tune on the same K support points at
every step with the inner step size α, and report the mean loss over query
points from the same x range with a 95% interval (1.96·std/√tasks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from maml_studio.checkpoint import Checkpoint
from maml_studio.experiment import seed_stream


@dataclass(frozen=True)
class StepScore:
    step: int
    mean: float
    ci95: float


def evaluate(
    checkpoint: Checkpoint,
    *,
    shots: int | None = None,
    steps: list[int] | None = None,
    tasks: int = 600,
    seed: int = 0,
    query_points: int = 100,
    lr: float | None = None,
    tasks_per_batch: int = 200,
) -> dict[str, list[StepScore]]:
    """Query loss after each requested step for 'maml' and, when present, 'pretrained'."""
    experiment = checkpoint.experiment()
    steps = sorted(set(steps or [0, 1, 5, 10]))
    shots = shots or checkpoint.config.algorithm.support_size
    batch = experiment.family.sample(tasks, shots, query_points, seed_stream(seed, "evaluation"))
    models = {"maml": (experiment.learner, checkpoint.state)}
    if checkpoint.baseline_state is not None:
        models["pretrained"] = (experiment.baseline, checkpoint.baseline_state)

    results = {}
    for name, (learner, state) in models.items():
        per_task = []
        for part in batch.split(tasks_per_batch):
            wanted = []
            for step, params in enumerate(
                    learner.adapt_steps(state, part.support_x, part.support_y, max(steps), lr=lr)):
                if step in steps:
                    with torch.no_grad():
                        wanted.append(learner.query_loss(params, part.query_x, part.query_y))
            per_task.append(torch.stack(wanted))
        losses = torch.cat(per_task, dim=1).double()  # [len(steps), tasks]
        results[name] = [
            StepScore(s, float(row.mean()), 1.96 * float(row.std(unbiased=False)) / math.sqrt(tasks))
            for s, row in zip(steps, losses, strict=True)
        ]
    return results
