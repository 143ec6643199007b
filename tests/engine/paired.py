"""Paired comparisons of two models on the same fresh tasks, for tests about quality.

Comparing two means, each with its own 95% interval, wastes most of the data:
on the same tasks the two models' scores move together. The per-task difference
has a much smaller spread, so its interval supports claims that two separate
intervals cannot, at the same number of tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from maml_studio.checkpoint import Checkpoint
from maml_studio.experiment import seed_stream


@dataclass(frozen=True)
class PairedGain:
    mean: float  # mean over tasks of (meta-learned − pretrained) query accuracy
    ci95: float  # 95% interval half-width of that mean: 1.96·std/√tasks

    @property
    def lower(self) -> float:
        return self.mean - self.ci95


def per_task_accuracy(checkpoint: Checkpoint, model: str, steps: int, tasks: int,
                      shots: int, query_points: int, seed: int = 0) -> torch.Tensor:
    """Query accuracy of each task after ``steps`` adaptation steps, ``[tasks]``."""
    experiment = checkpoint.experiment()
    batch = experiment.family.sample(tasks, shots, query_points, seed_stream(seed, "paired"))
    learner, state = ((experiment.learner, checkpoint.state) if model == "maml"
                      else (experiment.baseline, checkpoint.baseline_state))
    *_, adapted = learner.adapt_steps(state, batch.support_x, batch.support_y, steps)
    return experiment.query_scores(learner, adapted, batch.query_x, batch.query_y)[1].double()


def paired_accuracy_gain(checkpoint: Checkpoint, steps: int, tasks: int = 600, shots: int = 5,
                         query_points: int = 20) -> PairedGain:
    """How much more accurate the meta-learned model is than the baseline on the same tasks."""
    args = (steps, tasks, shots, query_points)
    gain = (per_task_accuracy(checkpoint, "maml", *args)
            - per_task_accuracy(checkpoint, "pretrained", *args))
    return PairedGain(float(gain.mean()), 1.96 * float(gain.std()) / math.sqrt(tasks))
