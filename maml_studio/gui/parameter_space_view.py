"""The Parameter space tab: a 2-D slice of parameter space through θ, live during training.

The mean query-loss landscape of 25 fresh tasks as a heat map (log colour
scale, a colour bar in loss values) with contour lines; each task's inner-loop
path θ → U_i(θ) projected onto the slice, one colour per task, as many tasks as
the user asks for; θ marked; the descent directions −g_MAML and −g_FO as two
arrows at a common scale, named in a key. The user picks the slice's directions. What
the view holds is a `ParameterSpaceViewState`; the window computes the slices
off the GUI thread (`inside_jobs.compute_slice`), and the items here are made
once and fed with `setData`.
"""

from __future__ import annotations

import math

import contourpy
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from maml_studio.gui.inside_style import foreground, plain_axes, style_axis
from maml_studio.inside_jobs import SLICE_TASKS
from maml_studio.inside_state import DIRECTIONS, ParameterSpaceViewState, slice_caption

# Valleys dark blue, ridges pale: the task paths' warm and green hues stand out on both.
LANDSCAPE = pg.ColorMap([0.0, 0.35, 0.7, 1.0], ["#08306b", "#2f6fae", "#9ecae1", "#f7fbff"])
TASK_COLOURS = ("#ff7f0e", "#d62728", "#2ca02c", "#e377c2", "#ffd92f", "#8c564b", "#bcbd22",
                "#f781bf", "#66c2a5", "#a65628", "#fdb462", "#b3de69")
CONTOUR_LEVELS = 12
ARROW_SHARE = 0.4  # the longer arrow spans this share of the slice's half-width
# The two descent directions: name, line style, colour (each drawn over a white halo).
ARROWS = {"maml": ("−g MAML (second-order)", Qt.PenStyle.SolidLine, "#000000"),
          "fomaml": ("−g first-order", Qt.PenStyle.DashLine, "#c2371a")}
CAPTION = ("<b>How to read it.</b> Colour: the mean query loss at θ + a·d₁ + b·d₂ (dark is low; "
           "contours at even steps of its log). Coloured lines: each task's inner loop from θ (+) to "
           "U<sub>i</sub>(θ) (dot). Arrows: the descent directions of second-order MAML and of its "
           "first-order part, projected, at one scale. During training, watch θ settle where a "
           "step reaches every task's valley.")


class ParameterSpaceView(QWidget):
    refresh_requested = Signal()

    def __init__(self, state: ParameterSpaceViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Parameter space")
        self.state = state
        self._scale = 1.0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plot = pg.PlotWidget()
        self.plot.setAccessibleName("Parameter space plot")
        self.plot.setAspectLocked(True)
        self.plot.getPlotItem().setMenuEnabled(False)
        self.plot.setLabel("bottom", "a (along d₁)")
        self.plot.setLabel("left", "b (along d₂)")
        plain_axes(self.plot)
        layout.addWidget(self.plot, 1)
        item = self.plot.getPlotItem()
        self.image = pg.ImageItem(axisOrder="col-major")
        self.image.setZValue(-20)
        item.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap=LANDSCAPE, interactive=False,
                                          colorMapMenu=False)
        self.colour_bar.setImageItem(self.image, insert_in=item)
        # Contours light over the dark valleys, dark over the pale ridges: visible everywhere.
        self.contours = pg.PlotDataItem(pen=pg.mkPen((255, 255, 255, 140), width=1), connect="finite")
        self.high_contours = pg.PlotDataItem(pen=pg.mkPen((8, 48, 107, 150), width=1), connect="finite")
        for contour in (self.contours, self.high_contours):
            contour.setZValue(-10)
            item.addItem(contour)
        self.paths: list[pg.PlotDataItem] = []
        self.ends = pg.ScatterPlotItem(size=9, pen=pg.mkPen("#000000", width=1))
        self.ends.setZValue(6)
        item.addItem(self.ends)
        self.theta_halo = pg.ScatterPlotItem([0], [0], symbol="+", size=26,
                                             pen=pg.mkPen("#ffffff", width=7), brush=None)
        self.theta = pg.ScatterPlotItem([0], [0], symbol="+", size=22,
                                        pen=pg.mkPen("#000000", width=3), brush=None)
        for z, marker in enumerate((self.theta_halo, self.theta)):
            marker.setZValue(8 + z)
            item.addItem(marker)
        self.theta_label = pg.TextItem("θ", color="#000000", anchor=(-0.3, 1.2),
                                       fill=pg.mkBrush(255, 255, 255, 200))
        self.theta_label.setZValue(9)
        item.addItem(self.theta_label)
        self.arrows: dict[str, tuple] = {}
        # Named in a key in the corner: labels at the tips collide when the arrows agree.
        self.arrow_key = pg.LegendItem(offset=(8, 8), brush=pg.mkBrush(255, 255, 255, 215),
                                       pen=pg.mkPen("#777777"), labelTextColor="#000000")
        self.arrow_key.setParentItem(item.vb)
        self.arrow_key.setZValue(20)
        for z, (key, (name, style, colour)) in enumerate(ARROWS.items()):
            halo = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=6))
            line = pg.PlotDataItem(pen=pg.mkPen(colour, width=3, style=style))
            head = pg.ArrowItem(pxMode=True, headLen=16, tipAngle=32, tailLen=0, brush=colour,
                                pen=pg.mkPen("#ffffff", width=1.5))
            for part in (halo, line, head):
                part.setZValue(10 + 2 * z + (part is not halo))
                item.addItem(part)
            self.arrow_key.addItem(line, name)
            self.arrows[key] = (halo, line, head)

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Directions"))
        self.directions_box = QComboBox()
        self.directions_box.setAccessibleName("Slice directions")
        for kind, text in DIRECTIONS.items():
            self.directions_box.addItem(text[0].upper() + text[1:], kind)
        self.directions_box.setToolTip("Principal directions: the plane that holds most of the "
                                       "inner loop's movement. Random: two directions scaled to "
                                       "the weights' filters (Li et al. 2018), for an unbiased look")
        self.directions_box.currentIndexChanged.connect(
            lambda _: state.set_directions(self.directions_box.currentData()))
        controls.addWidget(self.directions_box)
        controls.addWidget(QLabel("Tasks shown"))
        self.tasks_box = QSpinBox()
        self.tasks_box.setAccessibleName("Tasks shown")
        self.tasks_box.setRange(0, SLICE_TASKS)
        self.tasks_box.setValue(state.tasks_shown)
        self.tasks_box.setToolTip("How many of the 25 tasks' inner-loop paths to draw")
        self.tasks_box.valueChanged.connect(state.set_tasks_shown)
        controls.addWidget(self.tasks_box)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh parameter space")
        self.refresh_button.clicked.connect(self.refresh_requested)
        controls.addWidget(self.refresh_button)
        self.status = QLabel("")
        self.status.setAccessibleName("Parameter-space status")
        self.status.setWordWrap(True)
        controls.addWidget(self.status, 1)
        layout.addLayout(controls)
        self.faithfulness = QLabel("")
        self.faithfulness.setAccessibleName("Slice faithfulness")
        self.faithfulness.setWordWrap(True)
        layout.addWidget(self.faithfulness)
        self.caption = QLabel(CAPTION)
        self.caption.setAccessibleName("Parameter-space caption")
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        state.changed.connect(self._state_changed)
        self.set_status("No slice yet: open or train a model.")
        self.draw()

    def plots(self) -> list[pg.PlotWidget]:
        return [self.plot]

    def set_theme(self, theme: str, font_scale: float = 1.0) -> None:
        """The colour bar's axis and label in the theme's colours (the map itself is the same)."""
        style_axis(self.colour_bar.axis, theme, font_scale)
        self.colour_bar.axis.setWidth(int(50 * font_scale))  # its label clear of the tick values
        size = f"{9 * font_scale:.0f}pt"
        self.arrow_key.setLabelTextSize(size)
        for _, label in self.arrow_key.items:
            label.setText(label.text, size=size, color="#000000")
        self.colour_bar.axis.setLabel("mean query loss (log scale)", color=foreground(theme))

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_line_scale(self, scale: float) -> None:
        self._scale = scale
        self.draw()

    def _state_changed(self, what: str) -> None:
        if what == "directions":
            index = self.directions_box.findData(self.state.directions)
            if index != self.directions_box.currentIndex():
                self.directions_box.setCurrentIndex(index)
        elif what == "tasks_shown" and self.tasks_box.value() != self.state.tasks_shown:
            self.tasks_box.setValue(self.state.tasks_shown)
        if what in ("result", "tasks_shown"):
            self.draw()

    # -- drawing ----------------------------------------------------------------------------------
    def draw(self) -> None:
        result = self.state.result
        visible = result is not None
        for item in (self.image, self.contours, self.high_contours, self.theta, self.theta_halo,
                     self.theta_label, self.ends):
            item.setVisible(visible)
        if result is None:
            for parts in self.arrows.values():
                for part in parts:
                    part.setVisible(False)
            for path in self.paths:
                path.setVisible(False)
            self.faithfulness.setText("")
            return
        s = result.slice
        self.tasks_box.setMaximum(s.paths.shape[0])
        alphas, betas = s.alphas, s.betas
        logs = np.log10(np.clip(s.losses, 1e-12, None))
        finite = logs[np.isfinite(logs)]
        low = float(finite.min()) if finite.size else 0.0
        high = float(np.percentile(finite, 99)) if finite.size else 1.0
        high = max(high, low + 1e-3)
        self.image.setImage(np.nan_to_num(logs, nan=high, posinf=high), autoLevels=False)
        da = (alphas[-1] - alphas[0]) / max(len(alphas) - 1, 1)
        db = (betas[-1] - betas[0]) / max(len(betas) - 1, 1)
        self.image.setRect(QRectF(alphas[0] - da / 2, betas[0] - db / 2, da * len(alphas), db * len(betas)))
        self.colour_bar.setLevels((low, high))
        self.colour_bar.axis.setTicks([_loss_ticks(low, high)])
        middle = low + 0.6 * (high - low)  # where the colour map turns pale
        levels = np.linspace(low, high, CONTOUR_LEVELS + 2)[1:-1]
        self.contours.setData(*_contour_lines(alphas, betas, logs, levels[levels <= middle]))
        self.high_contours.setData(*_contour_lines(alphas, betas, logs, levels[levels > middle]))
        self._draw_paths(s.paths)
        self._draw_arrows(s.arrows, float(max(abs(alphas[0]), abs(alphas[-1]))))
        self.theta_label.setPos(0, 0)
        self.plot.getPlotItem().vb.setRange(xRange=(alphas[0], alphas[-1]),
                                            yRange=(betas[0], betas[-1]), padding=0.02)
        self.faithfulness.setText(slice_caption(result))
        names = {"pca": "principal directions", "random": "random directions",
                 "parameters": "the parameters' own axes"}
        parameters = s.directions.kind == "parameters"
        self.plot.setLabel("bottom", f"Δ {s.directions.names[0]}" if parameters else "a (along d₁)")
        self.plot.setLabel("left", f"Δ {s.directions.names[1]}" if parameters else "b (along d₂)")
        self.set_status(f"Iteration {result.iteration:,}, {names.get(s.directions.kind, '')}; "
                        f"{s.paths.shape[0]} tasks, loss at θ {s.centre_loss:.3g}; "
                        f"computed in {result.seconds * 1000:.0f} ms.")

    def _draw_paths(self, paths: np.ndarray) -> None:
        shown = self.state.shown_tasks()
        while len(self.paths) < len(shown):
            colour = TASK_COLOURS[len(self.paths) % len(TASK_COLOURS)]
            item = pg.PlotDataItem(pen=pg.mkPen(colour, width=2.5 * self._scale), symbol="o",
                                   symbolSize=4, symbolBrush=colour, symbolPen=None)
            item.setZValue(5)
            self.plot.getPlotItem().addItem(item)
            self.paths.append(item)
        for index, item in enumerate(self.paths):
            item.setVisible(index in shown)
            if index in shown:
                item.setPen(pg.mkPen(TASK_COLOURS[index % len(TASK_COLOURS)], width=2.5 * self._scale))
                item.setData(paths[index, :, 0], paths[index, :, 1])
        ends = [paths[i, -1] for i in shown]
        self.ends.setData([p[0] for p in ends], [p[1] for p in ends],
                          brush=[pg.mkBrush(TASK_COLOURS[i % len(TASK_COLOURS)]) for i in shown])

    def _draw_arrows(self, arrows: dict[str, np.ndarray], half_width: float) -> None:
        longest = max((float(np.hypot(*v)) for v in arrows.values()), default=0.0)
        scale = ARROW_SHARE * half_width / longest if longest > 0 else 0.0
        self.arrow_key.setVisible(scale > 0)
        for key, (halo, line, head) in self.arrows.items():
            vector = arrows.get(key)
            shown = vector is not None and scale > 0 and float(np.hypot(*vector)) > 0
            for part in (halo, line, head):
                part.setVisible(shown)
            if not shown:
                continue
            tip = vector * scale
            halo.setData([0, tip[0]], [0, tip[1]])
            line.setData([0, tip[0]], [0, tip[1]])
            # ArrowItem points left at angle 0 and turns clockwise on screen, where y points down.
            head.setStyle(angle=math.degrees(math.atan2(tip[1], -tip[0])))
            head.setPos(tip[0], tip[1])
        self.arrow_scale = scale


def _loss_ticks(low: float, high: float, count: int = 5) -> list[tuple[float, str]]:
    """Ticks of the colour bar in loss values, evenly spaced on its log scale."""
    return [(float(t), f"{10 ** t:.2g}") for t in np.linspace(low, high, count)]


def _contour_lines(alphas, betas, logs, levels) -> tuple[np.ndarray, np.ndarray]:
    """Every contour line as one polyline, NaN between lines (one item draws them all)."""
    if not np.isfinite(logs).all() or not len(levels):
        return np.array([]), np.array([])
    generator = contourpy.contour_generator(alphas, betas, logs.T)  # z[j, i] at (a_i, b_j)
    xs, ys = [], []
    for level in levels:
        for line in generator.lines(level):
            xs += [line[:, 0], [np.nan]]
            ys += [line[:, 1], [np.nan]]
    if not xs:
        return np.array([]), np.array([])
    return np.concatenate(xs), np.concatenate(ys)
