"""The paper's evaluation protocol: fresh tasks, K shots, query scores after each step.

Finn et al. 2017: sample tasks, fine-tune on the same K support points at
every step with the inner step size α, and report the mean loss over query
points from the same x range with a 95% interval (1.96·std/√tasks). For
classification, K and the query points count per class, and the query
accuracy is reported the same way next to the cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from maml_studio.checkpoint import Checkpoint
from maml_studio.experiment import seed_stream
from maml_studio.memory import tasks_per_chunk
from maml_studio.task_statistics import mean_ci95, quartiles


@dataclass(frozen=True)
class StepScore:
    step: int
    mean: float  # query loss (MSE or cross-entropy), mean over tasks
    ci95: float
    accuracy: float | None = None  # classification only
    accuracy_ci95: float | None = None
    quartiles: tuple[float, float, float] | None = None  # of the query loss over tasks
    accuracy_quartiles: tuple[float, float, float] | None = None


def _mean_ci(values: torch.Tensor) -> tuple[float, float]:
    """Mean and 95% interval half-width (1.96·std/√n) of one value per task."""
    mean, ci = mean_ci95(values)
    return float(mean), float(ci)


def _quartiles(values: torch.Tensor) -> tuple[float, float, float]:
    low, median, high = quartiles(values).tolist()
    return low, median, high


def evaluate(
    checkpoint: Checkpoint,
    *,
    shots: int | None = None,
    steps: list[int] | None = None,
    tasks: int = 600,
    seed: int = 0,
    query_points: int = 100,
    lr: float | None = None,
    tasks_per_batch: int | None = None,
) -> dict[str, list[StepScore]]:
    """Query loss after each requested step for 'maml' and, when present, 'pretrained'.

    Tasks are adapted in chunks (``tasks_per_batch``, by default as many as a fixed memory
    budget allows for these points), so memory does not grow with the number of tasks.
    """
    experiment = checkpoint.experiment()
    steps = sorted(set(steps or [0, 1, 5, 10]))
    shots = shots or checkpoint.config.algorithm.support_size
    family = experiment.family.evaluation_family()
    if hasattr(family, "largest_query"):  # measured tasks have only so many points
        query_points = max(1, min(query_points, family.largest_query(shots)))
    batch = family.sample(tasks, shots, query_points, seed_stream(seed, "evaluation"))
    chunk = tasks_per_batch or tasks_per_chunk(checkpoint.config,
                                               batch.support_x.shape[1] + batch.query_x.shape[1])
    models = {"maml": (experiment.learner, checkpoint.state)}
    if checkpoint.baseline_state is not None:
        models["pretrained"] = (experiment.baseline, checkpoint.baseline_state)

    results = {}
    for name, (learner, state) in models.items():
        losses, accuracies = [], []
        for part in batch.split(chunk):
            part_losses, part_accuracies = [], []
            for step, params in enumerate(
                    learner.adapt_steps(state, part.support_x, part.support_y, max(steps), lr=lr)):
                if step in steps:
                    loss, accuracy = experiment.query_scores(learner, params, part.query_x, part.query_y)
                    part_losses.append(loss)
                    part_accuracies.append(accuracy)
            losses.append(torch.stack(part_losses))
            if part_accuracies[0] is not None:
                accuracies.append(torch.stack(part_accuracies))
        loss_table = torch.cat(losses, dim=1).double()  # [len(steps), tasks]
        accuracy_table = torch.cat(accuracies, dim=1).double() if accuracies else None
        scores = []
        for index, step in enumerate(steps):
            mean, ci = _mean_ci(loss_table[index])
            acc, acc_ci = (None, None) if accuracy_table is None else _mean_ci(accuracy_table[index])
            acc_quartiles = None if accuracy_table is None else _quartiles(accuracy_table[index])
            scores.append(StepScore(step, mean, ci, acc, acc_ci, _quartiles(loss_table[index]),
                                    acc_quartiles))
        results[name] = scores
    return results
