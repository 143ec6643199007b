"""The second panel of the paper's Figure 2 in the adaptation view: the pretrained baseline.

The first panel is the adaptation plot itself, showing the meta-learned model; this
one shares its axes and shows the same task, points and steps for the baseline, each
model in its own colour ramp (pre-update lightest, the most steps strongest).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from maml_studio.figure_style import TRUTH, ramp, step_label
from maml_studio.gui.legend_below import legend_below
from maml_studio.gui.view_colors import VIEW_COLORS

STYLES = (Qt.PenStyle.DotLine, Qt.PenStyle.DashLine, Qt.PenStyle.SolidLine)


class PaperPanel(pg.PlotWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Paper figure: pretrained")
        self.setTitle("pretrained")
        self.getPlotItem().hideButtons()
        self.getPlotItem().vb.setMouseEnabled(False, False)  # its axes follow the MAML panel
        self.legend = legend_below(self.getPlotItem(), columns=1)
        self.truth_item = self.plot([], [])
        self.fit_items = [self.plot([], []) for _ in STYLES]
        self.points_item = pg.ScatterPlotItem(size=11)
        self.points_item.setZValue(10)
        self.addItem(self.points_item)
        self.theme, self.scale = "light", 1.0
        self.set_theme("light")

    def set_theme(self, theme: str, scale: float = 1.0) -> None:
        self.theme, self.scale = theme, scale
        colors = VIEW_COLORS[theme]
        self.truth_item.setPen(pg.mkPen(TRUTH[theme], width=2 * scale, style=Qt.PenStyle.DashLine))
        for item, color, style in zip(self.fit_items, ramp("pretrained", theme, 3), STYLES, strict=True):
            item.setPen(pg.mkPen(color, width=2.5 * scale, style=style))
        self.points_item.setSize(11 * scale)
        self.points_item.setBrush(pg.mkBrush(*colors["points"]))
        self.points_item.setPen(pg.mkPen(colors["outline"], width=1.5))

    def draw(self, grid: np.ndarray, truth: np.ndarray | None, points: np.ndarray,
             fits: list[tuple[int, np.ndarray | None]]) -> None:
        """``fits``: (step, predictions) for pre-update, one step and the chosen step."""
        self.legend.clear()
        self.truth_item.setData(grid if truth is not None else [], truth if truth is not None else [])
        if truth is not None:
            self.legend.addItem(self.truth_item, "true function")
        for item, (step, values) in zip(self.fit_items, fits, strict=True):
            if values is None:
                item.setData([], [])
                continue
            item.setData(grid, values)
            label = step_label(step)
            if truth is not None:
                label += f"  (MSE {np.mean((values - truth) ** 2):.3f})"
            self.legend.addItem(item, label)
        self.points_item.setData(points[:, 0], points[:, 1])
        if len(points):
            self.legend.addItem(self.points_item, "support points")

    def legend_texts(self) -> list[str]:
        return [label.text for _, label in self.legend.items]
