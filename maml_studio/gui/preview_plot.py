"""A few functions sampled from the chosen family, drawn faintly over its x range."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch

from maml_studio.tasks import TaskFamily, generator_for

PREVIEW_TASKS = 8
GRID_POINTS = 200


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

    def show_family(self, family: TaskFamily, seed: int) -> None:
        if family.dim_in != 1 or family.dim_out != 1:
            for curve in self.curves:
                curve.setData([], [])
            self.message.setText(f"{family.dim_in} → {family.dim_out} dimensions:\n"
                                 "no 1-D preview for this family")
            self.message.setPos(0.5, 0.5)
            self.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            self.message.show()
            return
        self.message.hide()
        params = family.sample_params(PREVIEW_TASKS, generator_for(seed))
        x = torch.linspace(*family.x_range, GRID_POINTS)
        y = family.truth(params, x.expand(PREVIEW_TASKS, GRID_POINTS).unsqueeze(-1))[..., 0]
        for curve, row in zip(self.curves, y.numpy(), strict=True):
            curve.setData(x.numpy(), row)
        self.setXRange(*family.x_range, padding=0.02)
        finite = y[torch.isfinite(y)]
        if finite.numel():
            self.setYRange(float(finite.min()), float(finite.max()), padding=0.08)

    def curve_data(self) -> list[np.ndarray]:
        return [curve.getData()[1] for curve in self.curves if curve.getData()[1] is not None]
