"""What the three "inside MAML" views compute, as plain requests and results, without Qt.

- `still_anatomy`: the meta-gradient anatomy of a model on a batch of fresh
  tasks (the Meta-gradient view when nothing trains);
- `compute_inner_loop`: support and query loss against inner step for the model
  on show, its baseline and the runs shown beside it, on the same fresh tasks;
- `compute_slice`: the parameter-space slice through the model on show, on a
  fixed batch of fresh tasks (the same tasks at every update, so that a live
  view moves only because θ does). A network of two parameters is drawn on
  its own axes, weight and bias, instead of principal directions: the same
  exact plane, the classic picture.

The views' worker threads run these; every result carries its request's serial
number, so that a view drops results older than what it shows.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import time
from dataclasses import dataclass, field

import numpy as np

from maml_studio.anatomy import meta_gradient_anatomy, sample_batch, step_cost
from maml_studio.anatomy_history import AnatomySample
from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.checkpoint import Checkpoint
from maml_studio.flat_params import shapes_of
from maml_studio.inner_loop_curves import STEPS, TASKS, InnerLoopCurves, inner_loop_curves, sample_curve_tasks
from maml_studio.parameter_slice import ParameterSlice, SliceDirections, parameter_slice
from maml_studio.tasks import TaskBatch
from maml_studio.thread_memory import thread_peak_memory_bytes

SLICE_TASKS = 25
SLICE_RESOLUTION = 64
ANATOMY_TASKS = 25


# -- the Meta-gradient view, when nothing trains ----------------------------------------------------
def still_anatomy(checkpoint: Checkpoint, seed: int = 0, tasks: int = ANATOMY_TASKS) -> AnatomySample:
    """Second-order MAML's anatomy at the checkpoint's weights, on fresh tasks of its family."""
    learner = checkpoint.experiment().learner
    batch = sample_batch(checkpoint.config, tasks, seed)
    started = time.perf_counter()
    anatomy = meta_gradient_anatomy(learner, checkpoint.state, batch)
    cost = step_cost(learner, checkpoint.state, batch, memory=thread_peak_memory_bytes)
    anatomy = dataclasses.replace(anatomy, cost=cost)  # measured safely beside other threads
    return AnatomySample.of(anatomy, checkpoint.history.last_iteration, time.perf_counter() - started)


# -- the Inner loop view --------------------------------------------------------------------------
@dataclass(frozen=True)
class CurveModel:
    name: str
    colour: str  # "#rrggbb"
    checkpoint: Checkpoint
    baseline: bool = False  # the checkpoint's pretrained baseline instead of its meta-learned model


@dataclass(frozen=True)
class InnerLoopRequest:
    models: tuple[CurveModel, ...]  # the first one's family gives the tasks
    serial: int = 0
    tasks: int = TASKS
    steps: int = STEPS
    seed: int = 0
    iteration: int | None = None  # the first model's meta-iteration (default: its history's last)


@dataclass(frozen=True)
class ModelCurves:
    name: str
    colour: str
    baseline: bool
    curves: InnerLoopCurves


@dataclass(frozen=True)
class InnerLoopResult:
    serial: int
    curves: list[ModelCurves]
    skipped: list[str]  # models left out, with the reason
    tasks: int
    steps: int
    loss: str  # "MSE" or "cross-entropy": what the curves measure
    seconds: float
    batch: TaskBatch | None = field(default=None, repr=False)  # the tasks, for checking
    iteration: int = 0  # the first model's meta-iteration


def compute_inner_loop(request: InnerLoopRequest) -> InnerLoopResult:
    """Every model's curves on the same fresh tasks of the first model's family."""
    started = time.perf_counter()
    if not request.models:
        return InnerLoopResult(request.serial, [], [], 0, request.steps, "MSE", 0.0)
    first = request.models[0].checkpoint
    kind = first.experiment().family.kind
    tasks = sample_curve_tasks(first.config, request.tasks, request.seed)
    curves, skipped = [], []
    for model in request.models:
        checkpoint = model.checkpoint
        if checkpoint.config.task != first.config.task:
            skipped.append(f"{model.name}: trained on other tasks")
            continue
        experiment = checkpoint.experiment()
        if model.baseline:
            if checkpoint.baseline_state is None:
                continue
            learner, state = experiment.baseline, checkpoint.baseline_state
        else:
            learner, state = experiment.learner, checkpoint.state
        result = inner_loop_curves(learner, state, tasks, steps=request.steps)
        curves.append(ModelCurves(model.name, model.colour, model.baseline, result))
    iteration = first.history.last_iteration if request.iteration is None else request.iteration
    return InnerLoopResult(request.serial, curves, skipped, tasks.num_tasks, request.steps,
                           "cross-entropy" if kind == "classification" else "MSE",
                           time.perf_counter() - started, tasks, iteration)


def write_inner_loop_csv(result: InnerLoopResult, path) -> None:
    """One row per model and step: support and query loss (means) with their 95% half-widths,
    then their medians and quartiles over the tasks."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "kind", "step", "support_loss", "support_ci95", "query_loss",
                     "query_ci95", "tasks", "support_median", "support_q25", "support_q75",
                     "query_median", "query_q25", "query_q75"])
    for model in result.curves:
        c = model.curves
        sq, qq = c.support_quartiles, c.query_quartiles
        for step in c.steps.tolist():
            writer.writerow([model.name, "pretrained" if model.baseline else "meta-learned", step,
                             _text(c.support[step]), _text(c.support_ci95[step]),
                             _text(c.query[step]), _text(c.query_ci95[step]), c.tasks,
                             *(_text(v) for v in (sq[1, step], sq[0, step], sq[2, step],
                                                  qq[1, step], qq[0, step], qq[2, step]))])
    atomic_write_bytes(path, out.getvalue().encode("utf-8"))


def _text(value: float) -> str:
    return f"{value:.6g}" if math.isfinite(value) else ""


# -- the Parameter space view ---------------------------------------------------------------------
@dataclass(frozen=True)
class SliceRequest:
    checkpoint: Checkpoint
    directions: str = "pca"  # "pca" or "random"
    serial: int = 0
    tasks: int = SLICE_TASKS
    resolution: int = SLICE_RESOLUTION
    seed: int = 0
    iteration: int | None = None  # the weights' meta-iteration (default: the checkpoint's last)


@dataclass(frozen=True)
class SliceResult:
    serial: int
    slice: ParameterSlice
    batch: TaskBatch  # the tasks of the landscape and the paths
    parameters: int  # the network's parameters: with two, the slice is the whole space
    iteration: int
    seconds: float

    @property
    def exact(self) -> bool:
        return self.parameters == 2


def parameter_axes(learner, state) -> SliceDirections:
    """A two-parameter network's own axes (its weight and its bias) as the slice's directions."""
    names = tuple(learner.model.shapes())
    return SliceDirections("parameters", np.eye(2), names, shapes_of(state, names), None)


def compute_slice(request: SliceRequest) -> SliceResult:
    started = time.perf_counter()
    checkpoint = request.checkpoint
    learner = checkpoint.experiment().learner
    batch = sample_batch(checkpoint.config, request.tasks, request.seed)
    directions: str | SliceDirections = request.directions
    if learner.model.num_parameters() == 2 and directions == "pca":
        directions = parameter_axes(learner, checkpoint.state)  # the whole space, as it is
    result = parameter_slice(learner, checkpoint.state, batch, directions=directions,
                             resolution=request.resolution, seed=request.seed)
    iteration = checkpoint.history.last_iteration if request.iteration is None else request.iteration
    return SliceResult(request.serial, result, batch, learner.model.num_parameters(), iteration,
                       time.perf_counter() - started)
