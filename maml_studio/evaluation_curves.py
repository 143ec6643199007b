"""The paper's Figure 3 (left) for several runs: query score against gradient steps, with bands.

Each run's meta-learned model (and its pretrained baseline, where it has one) is
evaluated with the paper's protocol (`evaluation.evaluate`) on the same fresh
tasks: query MSE, or accuracy for classifiers, after 0 … 10 steps, each with
its 95% interval. Runs are evaluated one after another so that a caller can
report progress and stop between them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.checkpoint import Checkpoint
from maml_studio.evaluation import StepScore, evaluate

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
                 [s.accuracy_ci95 if accuracy else s.ci95 for s in scores])


def write_curves_csv(result: EvaluationCurves, path) -> None:
    """One row per curve and step: name, step, value, its 95% interval."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", "model", "step", result.metric, f"{result.metric}_ci95", "tasks"])
    for curve in result.curves:
        for step, value, ci in zip(curve.steps, curve.values, curve.ci95, strict=True):
            writer.writerow([curve.name, "pretrained" if curve.baseline else "meta-learned", step,
                             f"{value:.6g}", f"{ci:.6g}", result.tasks])
    atomic_write_bytes(path, out.getvalue().encode("utf-8"))
