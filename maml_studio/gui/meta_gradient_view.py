"""The Meta-gradient tab: MAML's meta-gradient dissected, against meta-iteration, live.

Four plots sharing the iteration axis, drawn from an `AnatomyHistory`: the
cosines of the full meta-gradient with its first-order part and with Reptile's
direction; the second-order term's share of the full gradient; the gradient
norm of every parameter tensor (of the part the user picks); and what one
meta-step costs in milliseconds and peak memory. The anatomy of the model on
show on fresh tasks is drawn as a star, and summed up in words, so the tab says
something even before a run has been sampled. Items are made once and fed
with `setData`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from maml_studio.anatomy_history import AnatomyHistory, AnatomySample
from maml_studio.gui.inside_style import foreground, plot_widget, style_axis, style_legends, style_titles
from maml_studio.gui.legend_below import legend_below
from maml_studio.inside_state import LAYER_PARTS, MetaGradientViewState
from maml_studio.run_store import PALETTE

CAPTION = (
    "<b>How to read it.</b> <b>cos(MAML, first-order)</b> near 1: first-order MAML, which does not "
    "differentiate through the inner steps, would step the same way. <b>cos(MAML, Reptile)</b>: "
    "agreement with Reptile's direction θ − mean U<sub>i</sub>(θ). <b>Second-order share</b>: how "
    "much of the full gradient the second-order term is. <b>Per-layer norms</b>: which tensors the "
    "meta-gradient moves. Each point is one meta-batch of the run (noisy); the star, the model on "
    "show on 25 fresh tasks. Hover a plot for its definition.")
TOOLTIPS = (
    "g_MAML: the full meta-gradient, differentiated through the inner steps. g_FO: its first-order "
    "part, the query gradients at the adapted weights U_i(θ) with the inner steps held constant. "
    "Reptile's direction: θ − mean U_i(θ). Cosines over all adapted parameters as one vector.",
    "‖g_MAML − g_FO‖ / ‖g_MAML‖: 0 when the second-order term vanishes; above 1 when it outweighs "
    "what remains of the gradient.",
    "The norm of each parameter tensor's part of the chosen gradient (log scale); weights solid, "
    "biases dashed.",
    "While training: the run's own wall time per meta-iteration between two samples (its rate, "
    "the baseline's step included), and the tensor memory one meta-step allocates, measured "
    "every ten seconds. The star: one eager meta-step of the model on show, timed alone.",
)
COLOURS = {"cos_fo": "#1f77b4", "cos_reptile": "#1b9e77", "ratio": "#9467bd",
           "milliseconds": "#a6761d", "memory": "#e7298a"}
SYMBOLS_UP_TO = 300  # samples drawn with a dot each; beyond, lines only


class MetaGradientView(QWidget):
    def __init__(self, history: AnatomyHistory, state: MetaGradientViewState,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Meta-gradient")
        self.history, self.state = history, state
        self._theme, self._scale = "light", 1.0
        self._framed = False  # the iteration axis was set for a lone point
        self._dirty = True  # the history changed while the tab was not on show
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.note = QLabel("")
        self.note.setAccessibleName("Meta-gradient note")
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

        grid = QGridLayout()
        grid.setSpacing(4)
        self.cosine_plot = self._plot("Cosines", "cosine")
        self.ratio_plot = self._plot("Second-order share ‖g<sub>MAML</sub> − g<sub>FO</sub>‖ / "
                                     "‖g<sub>MAML</sub>‖", "share")
        self.layer_plot = self._plot("Per-layer gradient norms", "norm")
        self.cost_plot = self._plot("Cost per meta-step", "ms")
        for plot, tip in zip(self.plots(), TOOLTIPS, strict=True):
            plot.setToolTip(tip)
        for plot, (row, column) in zip(self.plots(), ((0, 0), (0, 1), (1, 0), (1, 1)), strict=True):
            grid.addWidget(plot, row, column)
            if plot is not self.cosine_plot:
                plot.setXLink(self.cosine_plot)
        layout.addLayout(grid, 1)

        self.cosine_plot.setYRange(-1.05, 1.05, padding=0)
        self.cosine_plot.getPlotItem().vb.setLimits(yMin=-1.1, yMax=1.1)
        zero = pg.InfiniteLine(0, angle=0, pen=pg.mkPen("#888888", style=Qt.PenStyle.DotLine))
        self.cosine_plot.addItem(zero)
        legend = legend_below(self.cosine_plot.getPlotItem(), columns=2)
        self.cos_fo = self._curve(self.cosine_plot, COLOURS["cos_fo"])
        self.cos_reptile = self._curve(self.cosine_plot, COLOURS["cos_reptile"])
        legend.addItem(self.cos_fo, "cos(MAML, first-order)")
        legend.addItem(self.cos_reptile, "cos(MAML, Reptile)")
        self.ratio = self._curve(self.ratio_plot, COLOURS["ratio"])
        self.ratio_plot.getPlotItem().vb.setLimits(yMin=0)
        self.layer_plot.setLogMode(y=True)
        self.layer_legend = legend_below(self.layer_plot.getPlotItem(), columns=3)
        self.layer_curves: dict[str, pg.PlotDataItem] = {}

        cost = self.cost_plot.getPlotItem()
        self.milliseconds = self._curve(self.cost_plot, COLOURS["milliseconds"])
        self.memory_box = pg.ViewBox()
        cost.showAxis("right")
        cost.scene().addItem(self.memory_box)
        cost.getAxis("right").linkToView(self.memory_box)
        cost.getAxis("right").setLabel("peak MB")
        self.memory_box.setXLink(cost)
        self.memory = pg.PlotDataItem(pen=pg.mkPen(COLOURS["memory"], width=2, style=Qt.PenStyle.DashLine),
                                      symbol="s", symbolSize=5, symbolBrush=COLOURS["memory"],
                                      symbolPen=None, connect="finite")
        self.memory_box.addItem(self.memory)
        cost.vb.sigResized.connect(self._align_memory_box)
        cost_legend = legend_below(cost, columns=2)
        # Short labels: a wide legend would push the right axis out of a narrow plot.
        cost_legend.addItem(self.milliseconds, "ms / iteration")
        cost_legend.addItem(self.memory, "peak MB (right)")

        # The model on show, on fresh tasks: a star on every plot.
        star = {"symbol": "star", "symbolSize": 14, "pen": None}
        self.still_items = {
            "cos_fo": self.cosine_plot.plot([], [], symbolBrush=COLOURS["cos_fo"], **star),
            "cos_reptile": self.cosine_plot.plot([], [], symbolBrush=COLOURS["cos_reptile"], **star),
            "ratio": self.ratio_plot.plot([], [], symbolBrush=COLOURS["ratio"], **star),
            "milliseconds": self.cost_plot.plot([], [], symbolBrush=COLOURS["milliseconds"], **star),
            "memory": pg.PlotDataItem([], [], symbolBrush=COLOURS["memory"], **star),
        }
        self.memory_box.addItem(self.still_items["memory"])

        controls = QHBoxLayout()
        self.sampling_box = QCheckBox("Sample while training")
        self.sampling_box.setAccessibleName("Sample the meta-gradient while training")
        self.sampling_box.setToolTip("Compute the anatomy on the latest meta-batch about once a "
                                     "second on a thread of its own, 1.5% of the time")
        self.sampling_box.setChecked(state.sampling)
        self.sampling_box.toggled.connect(state.set_sampling)
        controls.addWidget(self.sampling_box)
        controls.addWidget(QLabel("Per-layer norms of"))
        self.part_box = QComboBox()
        self.part_box.setAccessibleName("Per-layer norms of")
        for part, text in LAYER_PARTS.items():
            self.part_box.addItem(text, part)
        self.part_box.currentIndexChanged.connect(
            lambda _: state.set_layer_part(self.part_box.currentData()))
        controls.addWidget(self.part_box)
        self.status = QLabel("")
        self.status.setAccessibleName("Meta-gradient status")
        self.status.setWordWrap(True)
        controls.addWidget(self.status, 1)
        layout.addLayout(controls)
        self.caption = QLabel(CAPTION)
        self.caption.setAccessibleName("Meta-gradient caption")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.caption)

        history.reset.connect(self.redraw)
        history.extended.connect(lambda _: self.redraw())
        history.still_changed.connect(self.redraw)
        state.changed.connect(self._state_changed)
        self.redraw()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty:
            self.redraw()

    # -- construction -----------------------------------------------------------------------------
    def _plot(self, title: str, label: str) -> pg.PlotWidget:
        plot = plot_widget()
        plot.setAccessibleName(f"{title} plot")
        plot.setTitle(title)
        plot.setLabel("left", label)
        plot.setLabel("bottom", "meta-iteration")
        plot.setMinimumSize(200, 150)
        plot.getPlotItem().setMenuEnabled(False)
        return plot

    @staticmethod
    def _curve(plot: pg.PlotWidget, colour: str) -> pg.PlotDataItem:
        return plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                         symbolBrush=colour, symbolPen=None, connect="finite")

    def plots(self) -> list[pg.PlotWidget]:
        return [self.cosine_plot, self.ratio_plot, self.layer_plot, self.cost_plot]

    def _align_memory_box(self) -> None:
        view = self.cost_plot.getPlotItem().vb
        self.memory_box.setGeometry(view.sceneBoundingRect())
        self.memory_box.linkedViewChanged(view, self.memory_box.XAxis)

    # -- binding ----------------------------------------------------------------------------------
    def _state_changed(self, what: str) -> None:
        if what == "layer_part":
            index = self.part_box.findData(self.state.layer_part)
            if index != self.part_box.currentIndex():
                self.part_box.setCurrentIndex(index)
            self.redraw()
        elif what == "sampling" and self.sampling_box.isChecked() != self.state.sampling:
            self.sampling_box.setChecked(self.state.sampling)

    def set_note(self, text: str) -> None:
        self.note.setText(text)

    def redraw(self) -> None:
        """Draw the history now if the tab is on show; otherwise when it is next shown (the
        samples of a run arrive every second, and the GUI thread shares the interpreter with
        the training thread)."""
        if not self.isVisible():
            self._dirty = True
            return
        self._dirty = False
        h = self.history
        x = h.iterations()
        symbol = "o" if len(x) <= SYMBOLS_UP_TO else None
        for item, column in ((self.cos_fo, "cosine_maml_fomaml"), (self.cos_reptile, "cosine_maml_reptile"),
                             (self.ratio, "second_order_ratio"), (self.milliseconds, "milliseconds")):
            y = h.column(column)
            finite = np.isfinite(y)  # the first live sample has no rate yet
            item.setData(x[finite], y[finite], symbol=symbol)
        memory = h.column("peak_memory_mb")
        self.memory.setData(x[np.isfinite(memory)], memory[np.isfinite(memory)])
        self._draw_layers(x, symbol)
        self._draw_still()
        self._frame(x)
        self._align_memory_box()
        self.status.setText(self._status_text())

    def _draw_layers(self, x: np.ndarray, symbol) -> None:
        names = self.history.layer_names()
        if tuple(self.layer_curves) != names:
            for item in self.layer_curves.values():
                self.layer_plot.removeItem(item)
            self.layer_legend.clear()
            self.layer_curves = {}
            for index, name in enumerate(names):
                colour = PALETTE[index % len(PALETTE)]
                style = Qt.PenStyle.SolidLine if name.endswith("weight") else Qt.PenStyle.DashLine
                item = self.layer_plot.plot([], [], pen=pg.mkPen(colour, width=2 * self._line_scale(),
                                                                 style=style),
                                            symbolBrush=colour, symbolPen=None, symbolSize=4,
                                            connect="finite")
                self.layer_curves[name] = item
                self.layer_legend.addItem(item, name)
            self._style_legends()
        part = self.state.layer_part
        still = self.history.still
        for name, item in self.layer_curves.items():
            y = self.history.layer_column(name, part)
            xs = x
            if not len(x) and still is not None:  # no run sampled: the model on show alone
                xs, y = np.array([still.iteration], float), np.array([still.per_layer[name][part]])
            y = np.where(y > 0, y, np.nan)  # a zero norm (a first-order run's second-order term)
            item.setData(xs, y, symbol=symbol or ("o" if len(xs) == 1 else None))
        self.layer_plot.setTitle(f"Per-layer gradient norms: {LAYER_PARTS[part]}",
                                 color=foreground(self._theme), size=f"{10 * self._scale:.0f}pt")

    def _draw_still(self) -> None:
        still = self.history.still
        for key, item in self.still_items.items():
            if still is None:
                item.setData([], [])
                continue
            value = {"cos_fo": still.cosine_maml_fomaml, "cos_reptile": still.cosine_maml_reptile,
                     "ratio": still.second_order_ratio, "milliseconds": still.milliseconds,
                     "memory": still.peak_memory_mb}[key]
            item.setData([still.iteration], [value] if math.isfinite(value) else [np.nan])

    def _frame(self, x: np.ndarray) -> None:
        """A lone point (the star, one sample) from iteration 0, not centred in a sliver of an
        axis; once there are samples, the axis follows them (and the user's zoom) again."""
        view = self.cosine_plot.getPlotItem().vb  # the other plots follow (linked)
        if len(x) >= 2:
            if self._framed:
                view.enableAutoRange(x=True)
                self._framed = False
            return
        still = self.history.still
        last = max([*x.tolist(), still.iteration if still is not None else 0, 1])
        view.setXRange(0, last * 1.03, padding=0)
        self._framed = True

    def _status_text(self) -> str:
        h = self.history
        parts = []
        if len(h):
            stride = h.stride()
            latest = h.latest()
            every = f", every ~{stride:,.0f} meta-iterations" if stride else ""
            memory = h.column("peak_memory_mb")
            known = memory[np.isfinite(memory)]
            if known.size and not math.isfinite(latest.peak_memory_mb):  # measured now and then
                latest = dataclasses.replace(latest, peak_memory_mb=float(known[-1]))
            parts.append(f"{len(h)} samples of the training batches{every}; latest at iteration "
                         f"{latest.iteration:,}: {_summary(latest)}")
        if h.still is not None:
            parts.append(f"Model on show, {h.still.tasks} fresh tasks: {_summary(h.still, True)}")
        if not parts:
            return "No anatomy yet: start training, or open a model."
        return ". ".join(parts) + "."

    # -- looks ------------------------------------------------------------------------------------
    def _line_scale(self) -> float:
        return 2.0 if self._scale > 1 else 1.0

    def set_theme(self, theme: str, font_scale: float = 1.0) -> None:
        """After `style_plot` has styled the plots: the right axis, titles and legends too."""
        self._theme, self._scale = theme, font_scale
        style_axis(self.cost_plot.getAxis("right"), theme, font_scale)
        style_titles(self.plots(), theme, font_scale)
        self._style_legends()

    def _style_legends(self) -> None:
        style_legends(self.plots(), self._theme, self._scale)


def _summary(sample: AnatomySample, still: bool = False) -> str:
    def number(value: float, digits: int = 2) -> str:
        return f"{value:.{digits}f}" if math.isfinite(value) else "–"

    text = (f"cos(MAML, FO) {number(sample.cosine_maml_fomaml)}, "
            f"cos(MAML, Reptile) {number(sample.cosine_maml_reptile)}, "
            f"second-order share {number(sample.second_order_ratio)}")
    if math.isfinite(sample.milliseconds):
        text += f", {number(sample.milliseconds, 1)} ms per " + (
            "eager meta-step" if still else "iteration")
    if math.isfinite(sample.peak_memory_mb):
        text += f", {number(sample.peak_memory_mb, 1)} MB per meta-step"
    return text
