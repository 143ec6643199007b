"""The paper's Figure 3 (left) for several runs: query score against gradient steps, with bands.

Each run's meta-learned model (and its pretrained baseline, where it has one) is
evaluated with the paper's protocol (`evaluation.evaluate`) on the same fresh
tasks: query MSE, or accuracy for classifiers, after 0 … 10 steps, each with
its 95% interval, and the median with the quartiles over the tasks. Runs are
evaluated one after another so that a caller can report progress and stop
between them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.checkpoint import Checkpoint
from maml_studio.evaluation import StepScore, evaluate
from maml_studio.task_statistics import STATISTICS

STEPS = list(range(11))
TASKS = 600


@dataclass(frozen=True)
class Curve:
    name: str  # "reptile seed 0", or "reptile seed 0 (pretrained)"
    colour: str
    baseline: bool
    steps: list[int]
    values: list[float]  # mean query MSE (or accuracy) after each step
    ci95: list[float]
    quartiles: list[tuple[float, float, float]] = field(default_factory=list)  # over tasks

    def band(self, statistic: str) -> tuple[list[float], list[float], list[float]]:
        """(centre, low, high) after each step: the mean and its 95% interval, or the median
        and the quartiles."""
        if statistic == "median":
            rows = self.quartiles or [(math.nan,) * 3] * len(self.steps)  # none measured: no curve
            low, centre, high = (list(column) for column in zip(*rows, strict=True))
            return centre, low, high
        if statistic != "mean":
            raise ValueError(f"the statistic is one of {', '.join(STATISTICS)}; not {statistic!r}")
        return (self.values, [v - c for v, c in zip(self.values, self.ci95, strict=True)],
                [v + c for v, c in zip(self.values, self.ci95, strict=True)])


@dataclass(frozen=True)
class EvaluationCurves:
    metric: str  # "mse" or "accuracy"
    tasks: int
    curves: list[Curve]
    skipped: list[str]  # runs left out, with the reason


def evaluation_curves(runs: list[tuple[str, str, Checkpoint]], *, steps: list[int] = STEPS,
                      tasks: int = TASKS, seed: int = 0,
                      stopped: Callable[[], bool] = lambda: False,
                      progress: Callable[[int], None] = lambda done: None) -> EvaluationCurves:
    """Curves of ``runs`` (name, colour, checkpoint) on the same ``tasks`` fresh tasks."""
    kinds = [checkpoint.experiment().family.kind for _, _, checkpoint in runs]
    metric = "accuracy" if kinds and kinds[0] == "classification" else "mse"
    curves, skipped = [], []
    for done, ((name, colour, checkpoint), kind) in enumerate(zip(runs, kinds, strict=True)):
        if stopped():
            break
        if (kind == "classification") != (metric == "accuracy"):
            skipped.append(f"{name}: a {kind} model; the curves show {metric}")
            continue
        scores = evaluate(checkpoint, steps=steps, tasks=tasks, seed=seed)
        for model, model_scores in scores.items():
            curves.append(_curve(name, colour, model == "pretrained", model_scores, metric))
        progress(done + 1)
    return EvaluationCurves(metric, tasks, curves, skipped)


def _curve(name: str, colour: str, baseline: bool, scores: list[StepScore], metric: str) -> Curve:
    accuracy = metric == "accuracy"
    return Curve(f"{name} (pretrained)" if baseline else name, colour, baseline,
                 [s.step for s in scores],
                 [s.accuracy if accuracy else s.mean for s in scores],
                 [s.accuracy_ci95 if accuracy else s.ci95 for s in scores],
                 [s.accuracy_quartiles if accuracy else s.quartiles for s in scores])


def write_curves_csv(result: EvaluationCurves, path) -> None:
    """One row per curve and step: name, step, the mean and its 95% interval, then the
    median and the quartiles over the tasks."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    m = result.metric
    writer.writerow(["run", "model", "step", m, f"{m}_ci95", "tasks", f"{m}_median", f"{m}_q25",
                     f"{m}_q75"])
    for curve in result.curves:
        centre, low, high = curve.band("median")
        for step, value, ci, q25, median, q75 in zip(curve.steps, curve.values, curve.ci95, low,
                                                     centre, high, strict=True):
            writer.writerow([curve.name, "pretrained" if curve.baseline else "meta-learned", step,
                             f"{value:.6g}", f"{ci:.6g}", result.tasks,
                             *(f"{v:.6g}" if math.isfinite(v) else "" for v in (median, q25, q75))])
    atomic_write_bytes(path, out.getvalue().encode("utf-8"))
