"""Support and query loss against inner step over many fresh tasks: the mean with its 95%
interval, and the median with its interquartile range.

What the "Inner loop" view draws for a model (the meta-learned one, its
baseline, a run shown beside them): where the initialisation over- or
under-shoots with the step size it was trained for. Per-task losses are
heavy-tailed (a few tasks of large amplitude over-shoot and dominate the mean),
so the median says what a typical task does. Give every model the same tasks
(`sample_curve_tasks`) so that their curves are paired.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from maml_studio.algorithms import MetaLearner
from maml_studio.config import ExperimentConfig
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.model import Params
from maml_studio.task_statistics import STATISTICS, mean_ci95, quartiles
from maml_studio.tasks import TaskBatch

STEPS = 20
TASKS = 600
CHUNK = 500  # tasks adapted together


@dataclass(frozen=True)
class InnerLoopCurves:
    steps: np.ndarray  # [S + 1]: 0 … S
    support: np.ndarray  # [S + 1] mean support loss over tasks after each step
    support_ci95: np.ndarray  # half-widths of the 95% intervals (1.96·std/√tasks)
    query: np.ndarray
    query_ci95: np.ndarray
    tasks: int
    diverged_at: int | None  # first step whose mean loss is not finite, if any
    support_quartiles: np.ndarray  # [3, S + 1]: 25th, 50th and 75th percentile over tasks
    query_quartiles: np.ndarray  # (a task whose loss is not finite counts as the largest)

    def band(self, part: str, statistic: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(centre, low, high) of ``part`` ("support" or "query") after each step: the mean
        and its 95% interval, or the median and the quartiles."""
        if statistic == "median":
            low, centre, high = self.support_quartiles if part == "support" else self.query_quartiles
            return centre, low, high
        if statistic != "mean":
            raise ValueError(f"the statistic is one of {', '.join(STATISTICS)}; not {statistic!r}")
        mean, ci = (self.support, self.support_ci95) if part == "support" else (self.query, self.query_ci95)
        return mean, mean - ci, mean + ci


def sample_curve_tasks(config: ExperimentConfig, tasks: int = TASKS, seed: int = 0,
                       shots: int | None = None, query_points: int | None = None) -> TaskBatch:
    """Fresh tasks of the run's family (held-out ones for task files): K shots and Q queries."""
    family = Experiment.from_config(config).family.evaluation_family()
    alg = config.algorithm
    return family.sample(tasks, shots or alg.support_size, query_points or alg.query_size,
                         seed_stream(seed, "inner-loop"))


def inner_loop_curves(learner: MetaLearner, state: Params, tasks: TaskBatch, steps: int = STEPS,
                      lr: float | None = None, chunk: int = CHUNK) -> InnerLoopCurves:
    """Mean support and query loss of ``tasks`` after each of 0 … ``steps`` inner steps.

    ``learner`` adapts as it does everywhere (Meta-SGD's and MAML++'s learned rates,
    ANIL's head); ``lr`` overrides the step size as ``adapt`` does. Tasks are adapted
    in chunks of ``chunk``, so memory does not grow with their number.
    """
    support, query = [], []
    with torch.no_grad():
        for part in tasks.split(chunk):
            support_rows, query_rows = [], []
            for params in learner.adapt_steps(state, part.support_x, part.support_y, steps, lr=lr):
                support_rows.append(learner.query_loss(params, part.support_x, part.support_y))
                query_rows.append(learner.query_loss(params, part.query_x, part.query_y))
            support.append(torch.stack(support_rows))
            query.append(torch.stack(query_rows))
    support_table = torch.cat(support, dim=1).double()  # [steps + 1, tasks]
    query_table = torch.cat(query, dim=1).double()
    support_mean, support_ci = (v.cpu().numpy() for v in mean_ci95(support_table))
    query_mean, query_ci = (v.cpu().numpy() for v in mean_ci95(query_table))
    finite = np.isfinite(support_mean) & np.isfinite(query_mean)
    diverged = None if finite.all() else int(np.argmin(finite))
    return InnerLoopCurves(np.arange(steps + 1), support_mean, support_ci, query_mean, query_ci,
                           tasks.num_tasks, diverged, quartiles(support_table).cpu().numpy(),
                           quartiles(query_table).cpu().numpy())
