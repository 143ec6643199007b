"""A few tasks sampled from the chosen family.

Regression: functions drawn faintly over the x range; tasks from files as
point clouds, one colour per task. 2-D classification:
three tasks side by side, each a square of the plane with labelled points in
their class colours and the task's true boundary.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pyqtgraph as pg
import torch

from maml_studio.plane_maps import CLASS_COLORS, CLASS_SYMBOLS, label_boundaries
from maml_studio.tasks import TaskFamily, generator_for

PREVIEW_TASKS = 8
GRID_POINTS = 200
PLANE_TASKS = 3
PLANE_POINTS_PER_CLASS = 25
PLANE_GRID = 80
PLANE_GAP = 0.12  # between the squares, as a share of a square's side
TASK_COLOURS = ((60, 120, 220), (220, 110, 40), (40, 160, 90), (190, 60, 160),
                (120, 120, 120), (200, 170, 30), (30, 170, 190), (150, 90, 50))


class PreviewPlot(pg.PlotWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Task family preview")
        self.setToolTip("Functions sampled from the task family with the current ranges and seed")
        self.setMinimumHeight(150)
        self.setMaximumHeight(200)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(x=True, y=True, alpha=0.2)
        self.curves = [self.plot(pen=pg.mkPen((60, 120, 220, 150), width=1.5))
                       for _ in range(PREVIEW_TASKS)]
        self.message = pg.TextItem(anchor=(0.5, 0.5), color=(120, 120, 120))
        self.addItem(self.message)
        self.message.hide()
        self.frames = self.plot(pen=pg.mkPen((170, 170, 170), width=1), connect="finite")
        self.boundaries = self.plot(pen=pg.mkPen((20, 20, 20), width=1.5), connect="finite")
        self.points = pg.ScatterPlotItem(size=5, pen=None)
        self.addItem(self.points)

    def _clear_plane(self) -> None:
        self.frames.setData([], [])
        self.boundaries.setData([], [])
        self.points.setData([], [])

    def show_family(self, family: TaskFamily, seed: int) -> None:
        if family.kind == "classification" and family.dim_in == 2:
            self._show_plane(family, seed)
            return
        self._clear_plane()
        self.getPlotItem().showAxis("left")
        self.getPlotItem().showAxis("bottom")
        self.getPlotItem().vb.setAspectLocked(False)
        if family.dim_in != 1 or family.dim_out != 1:
            for curve in self.curves:
                curve.setData([], [])
            self.message.setText(f"{family.dim_in}-D inputs: no preview in a plane"
                                 if family.kind == "classification" else
                                 f"{family.dim_in} → {family.dim_out} dimensions:\n"
                                 "no 1-D preview for this family")
            self.message.setPos(0.5, 0.5)
            self.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            self.message.show()
            return
        self.message.hide()
        if not family.has_truth:
            self._show_point_clouds(family, seed)
            return
        params = family.sample_params(PREVIEW_TASKS, generator_for(seed))
        x = torch.linspace(*family.x_range, GRID_POINTS)
        y = family.truth(params, x.expand(PREVIEW_TASKS, GRID_POINTS).unsqueeze(-1))[..., 0]
        for curve, row in zip(self.curves, y.numpy(), strict=True):
            curve.setData(x.numpy(), row)
        self.setXRange(*family.x_range, padding=0.02)
        finite = y[torch.isfinite(y)]
        if finite.numel():
            self.setYRange(float(finite.min()), float(finite.max()), padding=0.08)

    def _show_point_clouds(self, family, seed: int) -> None:
        """Measured tasks have no function to draw: a few tasks' points, one colour each."""
        for curve in self.curves:
            curve.setData([], [])
        data = family.data
        tasks = family.sample_params(PREVIEW_TASKS, generator_for(seed))[:, 0].long()
        spots = []
        for colour, task in enumerate(tasks.tolist()):
            count = int(data.counts[task])
            xs, ys = data.x[task, :count, 0].tolist(), data.y[task, :count, 0].tolist()
            brush = pg.mkBrush(*TASK_COLOURS[colour % len(TASK_COLOURS)], 200)
            spots += [{"pos": (px, py), "brush": brush} for px, py in zip(xs, ys, strict=True)]
        self.points.setData(spots)
        shown = torch.tensor([spot["pos"] for spot in spots]) if spots else torch.zeros(1, 2)
        self.setXRange(float(shown[:, 0].min()), float(shown[:, 0].max()), padding=0.04)
        self.setYRange(float(shown[:, 1].min()), float(shown[:, 1].max()), padding=0.08)

    def _show_plane(self, family, seed: int) -> None:
        """Three tasks side by side: labelled points and the true boundary of each."""
        self.message.hide()
        for curve in self.curves:
            curve.setData([], [])
        self.getPlotItem().hideAxis("left")
        self.getPlotItem().hideAxis("bottom")
        self.getPlotItem().vb.setAspectLocked(True)  # circles stay round
        generator = generator_for(seed)
        batch = family.sample(PLANE_TASKS, PLANE_POINTS_PER_CLASS, 0, generator)
        low, high = family.x_range
        side = high - low
        grid = family.plane(PLANE_GRID)
        truth = family.labels(batch.params, grid.expand(PLANE_TASKS, -1, -1)).numpy() \
            if family.has_truth else None  # measured tasks: their points only
        frame_x, frame_y, line_x, line_y, spots = [], [], [], [], []
        for task in range(PLANE_TASKS):
            shift = task * side * (1 + PLANE_GAP)
            frame_x += [low + shift, high + shift, high + shift, low + shift, low + shift, np.nan]
            frame_y += [low, low, high, high, low, np.nan]
            if truth is not None:
                x, y = label_boundaries(truth[task].reshape(PLANE_GRID, PLANE_GRID),
                                        family.num_classes, family.x_range)
                line_x += [np.clip(x, low, high) + shift, [np.nan]]  # no line between squares
                line_y += [np.clip(y, low, high), [np.nan]]
            points = batch.support_x[task].numpy()
            for (px, py), label in zip(points, batch.support_y[task, :, 0].long().tolist(), strict=True):
                if low <= px <= high and low <= py <= high:
                    spots.append({"pos": (px + shift, py), "brush": pg.mkBrush(*CLASS_COLORS[label]),
                                  "symbol": CLASS_SYMBOLS[label]})
        self.frames.setData(frame_x, frame_y)
        self.boundaries.setData(np.concatenate(line_x or [[]]), np.concatenate(line_y or [[]]))
        self.points.setData(spots)
        width = side * (PLANE_TASKS + (PLANE_TASKS - 1) * PLANE_GAP)
        self.setRange(xRange=(low, low + width), yRange=(low, high), padding=0.02)

    def show_message(self, text: str) -> None:
        """Nothing to preview: say why instead."""
        self._clear_plane()
        for curve in self.curves:
            curve.setData([], [])
        self.getPlotItem().vb.setAspectLocked(False)
        self.message.setText(textwrap.fill(text, 60))
        self.message.setPos(0.5, 0.5)
        self.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
        self.message.show()

    def plane_point_count(self) -> int:
        return len(self.points.data)

    def curve_data(self) -> list[np.ndarray]:
        return [curve.getData()[1] for curve in self.curves if curve.getData()[1] is not None]
