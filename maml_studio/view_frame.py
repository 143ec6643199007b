"""The frame a family's tasks are drawn in: fixed, so clicks and curves never move the axes.

Regression: the x range of the family, and a y range that holds the true
functions of many tasks drawn from its parameter ranges (sine: about ±A_max),
with a margin; families of measured tasks use their observed values. A 2-D
classifier's plane is its x range on both axes. The frame only grows to take
in support points that lie outside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from maml_studio.experiment import seed_stream
from maml_studio.tasks import TaskFamily

FRAME_TASKS = 256
FRAME_GRID = 200
MARGIN = 0.1  # of the span, on each side


@dataclass(frozen=True)
class Frame:
    x_low: float
    x_high: float
    y_low: float
    y_high: float

    def including(self, points: np.ndarray) -> Frame:
        """This frame grown (with a margin) to hold ``points`` [N, ≥2]; unchanged if they fit."""
        points = np.asarray(points, dtype=float)
        points = points[np.isfinite(points[:, :2]).all(axis=1)] if len(points) else points
        if len(points) == 0:
            return self
        x_low, x_high = min(self.x_low, points[:, 0].min()), max(self.x_high, points[:, 0].max())
        y_low, y_high = min(self.y_low, points[:, 1].min()), max(self.y_high, points[:, 1].max())
        if (x_low, x_high, y_low, y_high) == (self.x_low, self.x_high, self.y_low, self.y_high):
            return self
        dx, dy = MARGIN * (x_high - x_low) / 2, MARGIN * (y_high - y_low) / 2
        return Frame(float(x_low - (dx if x_low < self.x_low else 0)),
                     float(x_high + (dx if x_high > self.x_high else 0)),
                     float(y_low - (dy if y_low < self.y_low else 0)),
                     float(y_high + (dy if y_high > self.y_high else 0)))


def family_frame(family: TaskFamily) -> Frame:
    x_low, x_high = (float(v) for v in family.x_range)
    if family.kind == "classification":
        return Frame(x_low, x_high, x_low, x_high)
    values = _typical_values(family, x_low, x_high)
    values = values[np.isfinite(values)]
    if values.size == 0:
        y_low, y_high = -1.0, 1.0
    else:
        y_low, y_high = float(values.min()), float(values.max())
    span = max(y_high - y_low, 1e-3)
    return Frame(x_low, x_high, y_low - MARGIN * span, y_high + MARGIN * span)


def _typical_values(family: TaskFamily, x_low: float, x_high: float) -> np.ndarray:
    generator = seed_stream(0, "view-frame")
    with torch.no_grad():
        if family.has_truth and family.dim_in == 1:
            params = family.sample_params(FRAME_TASKS, generator)
            grid = torch.linspace(x_low, x_high, FRAME_GRID).reshape(1, -1, 1).expand(FRAME_TASKS, -1, -1)
            return family.truth(params, grid)[..., 0].numpy()
        batch = family.sample(min(FRAME_TASKS, 64), 5, 5, generator)  # measured tasks: their values
        return torch.cat([batch.support_y, batch.query_y], dim=1)[..., 0].numpy()
