"""What an exported adaptation figure shows, computed without Qt.

The models of a checkpoint adapted to K support points (all steps in one
batched call), the true function where a task was sampled, each curve's MSE
against it, and the family's fixed frame. The command line's `figure` and the
window's Export figure both draw from a `FigureData`, so their images agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch

from maml_studio.adaptation import adapt_models_together
from maml_studio.checkpoint import Checkpoint
from maml_studio.figure_style import MODEL_LABELS, step_label
from maml_studio.inputs import parse_step_list
from maml_studio.tasks.base import TaskFamily, generator_for
from maml_studio.view_frame import family_frame

GRID_POINTS = 300
MAX_FIGURE_STEPS = 100
MAX_SIZE = 8192


class FigureError(ValueError):
    """A figure that cannot be drawn; the message says why in one line."""


@dataclass
class FittedModel:
    name: str  # "maml" or "pretrained"
    predictions: np.ndarray  # [steps + 1, Q] at the grid
    diverged_at: int | None  # first step whose predictions are not finite
    mse: list[float | None] = field(default_factory=list)  # against the truth, per step

    @property
    def label(self) -> str:
        return MODEL_LABELS[self.name]

    def shown_step(self, step: int) -> int | None:
        """The step drawn for ``step``: the last finite one at or before it (None: none is)."""
        if self.diverged_at is None or step < self.diverged_at:
            return step
        return self.diverged_at - 1 if self.diverged_at > 0 else None


@dataclass
class FigureData:
    family: str
    grid: np.ndarray  # [Q]
    points: np.ndarray  # [K, 2]
    truth: np.ndarray | None  # [Q] where the task is known
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    models: dict[str, FittedModel]
    description: str = ""  # the sampled task in words, or ""
    max_step: int = 0

    def curve(self, name: str, step: int) -> tuple[np.ndarray | None, str]:
        """The curve of ``name`` after ``step`` steps, clipped just beyond the frame, and its
        legend text in the paper's words ("10 grad steps  (MSE 0.021)" or "… diverged at step 8")."""
        model = self.models[name]
        shown = model.shown_step(step)
        text = step_label(step)
        if shown != step:
            text += f", diverged at step {model.diverged_at}"
        elif model.mse and model.mse[step] is not None:
            text += f"  (MSE {model.mse[step]:.3f})"
        if shown is None:
            return None, text
        low, high = self.y_range
        span = high - low
        y = np.nan_to_num(model.predictions[shown], nan=high + span, posinf=high + span,
                          neginf=low - span)
        return np.clip(y, low - span, high + span), text


def check_family(checkpoint: Checkpoint) -> TaskFamily:
    """The checkpoint's family if a figure can draw it; FigureError otherwise."""
    family = checkpoint.experiment().family
    if family.kind == "classification":
        raise FigureError(f"'{family.name}' is a classifier; figure draws 1-D regression models "
                          f"(export a classifier's plane from the window's File → Export figure)")
    if family.dim_in != 1 or family.dim_out != 1:
        raise FigureError(f"this model maps {family.dim_in} inputs to {family.dim_out} outputs; "
                          f"figure draws 1-D regression models")
    return family


def view_frame(family: TaskFamily, points: np.ndarray | None = None
               ) -> tuple[tuple[float, float], tuple[float, float]]:
    """The family's fixed frame (the one the window's adaptation view shows), widened to hold
    the given points. Curves never change it."""
    frame = family_frame(family)
    if points is not None and len(points):
        frame = frame.including(points)
    return (frame.x_low, frame.x_high), (frame.y_low, frame.y_high)


def sample_task(checkpoint: Checkpoint, shots: int, seed: int
                ) -> tuple[np.ndarray, torch.Tensor, str]:
    """K support points of a held-out task drawn with ``seed``: points, parameters, description."""
    family = check_family(checkpoint).evaluation_family()
    batch = family.sample(1, shots, 0, generator_for(seed))
    points = np.column_stack([batch.support_x[0, :, 0].numpy(), batch.support_y[0, :, 0].numpy()])
    return points, batch.params[0], family.describe(batch.params[0])


def compute_figure(checkpoint: Checkpoint, points: np.ndarray, task_params: torch.Tensor | None = None,
                   max_step: int = 10, lr: float | None = None, description: str = "") -> FigureData:
    """Adapt the meta-learned and the pretrained model to ``points [K, 2]`` for 0 … ``max_step``
    steps; the truth and the MSEs where ``task_params`` give the task."""
    family = check_family(checkpoint)
    experiment = checkpoint.experiment()
    if not 0 <= max_step <= MAX_FIGURE_STEPS:
        raise FigureError(f"steps must be between 0 and {MAX_FIGURE_STEPS}, got {max_step}")
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if not np.isfinite(points).all():
        raise FigureError("the points hold NaN or infinite values")
    x_range, y_range = view_frame(family, points)
    grid = np.linspace(*x_range, GRID_POINTS)
    models = [("maml", (experiment.learner, checkpoint.state))]
    if checkpoint.baseline_state is not None:
        models.append(("pretrained", (experiment.baseline, checkpoint.baseline_state)))
    support_x = torch.as_tensor(points[:, :1], dtype=torch.float32)
    support_y = torch.as_tensor(points[:, 1:], dtype=torch.float32)
    query_x = torch.as_tensor(grid, dtype=torch.float32).unsqueeze(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        results = adapt_models_together([m for _, m in models], support_x, support_y, query_x,
                                        max_step, lr=lr)
    truth = None
    if task_params is not None and family.has_truth:
        truth = family.truth(torch.as_tensor(task_params).reshape(1, -1),
                             query_x.unsqueeze(0))[0, :, 0].numpy().astype(float)
    fitted = {}
    for (name, _), result in zip(models, results, strict=True):
        predictions = result.predictions[:, 0, :, 0].numpy().astype(float)
        mse: list[float | None] = []
        for step in range(max_step + 1):
            if truth is None or not np.isfinite(predictions[step]).all():
                mse.append(None)
            else:
                mse.append(float(np.mean((predictions[step] - truth) ** 2)))
        fitted[name] = FittedModel(name, predictions, result.diverged_at, mse)
    return FigureData(checkpoint.config.task.family, grid, points, truth, x_range, y_range, fitted,
                      description, max_step)


def parse_steps(text: str) -> list[int]:
    """"0,1,10" → [0, 1, 10] (sorted, distinct); FigureError on anything else."""
    try:
        return parse_step_list(text, MAX_FIGURE_STEPS)
    except ValueError as exc:
        raise FigureError(str(exc)) from None


def parse_size(text: str) -> tuple[int, int]:
    """"1920x1080" → (1920, 1080); FigureError on anything else."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*[x×]\s*(\d{1,5})\s*", text)
    if not match:
        raise FigureError(f"--size expects WIDTHxHEIGHT in pixels, such as 1920x1080, got '{text}'")
    width, height = int(match[1]), int(match[2])
    if not (320 <= width <= MAX_SIZE and 240 <= height <= MAX_SIZE):
        raise FigureError(f"--size {width}x{height}: width from 320 and height from 240, "
                          f"both at most {MAX_SIZE}")
    return width, height
