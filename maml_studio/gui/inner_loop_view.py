"""The Inner loop tab: support and query loss against inner step, 0 … 20, over fresh tasks:
the mean with its 95% band, or the median with the quartiles.

For the model on show (red), its pretrained baseline (orange, dashed) and each
run shown from the Runs dock (in the run's colour), every curve the mean over
the same 600 fresh tasks. The support loss shows how well the steps fit the K
points; the query loss whether that fit generalises, and where the step size
the model was trained with over- or under-shoots. The window computes the curves
off the GUI thread (`inside_jobs.compute_inner_loop`) and hands the result to
the view's `InnerLoopViewState`; the view draws whatever that holds.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from maml_studio.gui.inside_style import plot_widget, style_titles
from maml_studio.gui.statistic_chooser import show_statistic, statistic_chooser
from maml_studio.inside_jobs import InnerLoopResult, write_inner_loop_csv
from maml_studio.inside_state import InnerLoopViewState

BAND_ALPHA = 45
CAPTION = ("<b>How to read it.</b> The loss over the fresh tasks after each inner step: their mean "
           "with a 95% band, or their median with the middle half of the tasks shaded (a few "
           "tasks that over-shoot can carry the mean away; the median shows a typical task). "
           "<b>Support</b>: the fit to the K points adapted to; <b>query</b>: the same task at new "
           "points. A good initialisation drops the query loss within the steps it was trained "
           "for; a query loss that rises while the support loss falls is over-fitting, a jagged "
           "curve a step size that over-shoots.")


class InnerLoopView(QWidget):
    refresh_requested = Signal()

    def __init__(self, state: InnerLoopViewState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Inner loop")
        self.state = state
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.support_plot = self._plot("Support loss (the K points)")
        self.query_plot = self._plot("Query loss (new points)")
        self.query_plot.setYLink(self.support_plot)
        row.addWidget(self.support_plot)
        row.addWidget(self.query_plot)
        layout.addLayout(row, 1)
        # One legend for both plots, as text that wraps: a legend inside each plot's layout
        # widened the plots beyond a small window's width and cut them off.
        self.legend = QLabel("")
        self.legend.setAccessibleName("Inner-loop legend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.legend)

        controls = QHBoxLayout()
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh inner-loop curves")
        self.refresh_button.setToolTip("Compute the curves again on the model on show and the runs shown")
        self.refresh_button.clicked.connect(self.refresh_requested)
        self.log_box = QCheckBox("Log scale")
        self.log_box.setAccessibleName("Inner-loop log scale")
        self.log_box.setChecked(state.log_scale)
        self.log_box.toggled.connect(state.set_log_scale)
        self.statistic_box = statistic_chooser("Inner-loop statistic", state.statistic,
                                               state.set_statistic)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.setAccessibleName("Export inner-loop CSV")
        self.csv_button.clicked.connect(self._export_dialog)
        self.csv_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setAccessibleName("Inner-loop status")
        self.status.setWordWrap(True)
        for widget in (self.refresh_button, self.statistic_box, self.log_box, self.csv_button):
            controls.addWidget(widget)
        controls.addWidget(self.status, 1)
        layout.addLayout(controls)
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.caption.setAccessibleName("Inner-loop caption")
        layout.addWidget(self.caption)
        self._items: dict = {}  # (name, baseline, colour) → support and query items, bands
        self._scale = 1.0
        self._theme, self._font_scale = "light", 1.0
        self.leaving: dict[str, int] = {}  # model → the step where it leaves the frame
        self._summary_shown = ""  # the status line's summary of the result drawn
        state.changed.connect(self._state_changed)
        self.set_log_scale(state.log_scale)
        self.set_status("No curves yet: open or train a model.")

    def _plot(self, title: str) -> pg.PlotWidget:
        plot = plot_widget()
        plot.setAccessibleName(title.split(" (")[0] + " plot")
        plot.setTitle(title)
        plot.setLabel("bottom", "inner step")
        plot.setLabel("left", "loss")
        plot.setMinimumSize(220, 180)
        plot.getPlotItem().setMenuEnabled(False)
        return plot

    def plots(self) -> list[pg.PlotWidget]:
        return [self.support_plot, self.query_plot]

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def set_line_scale(self, scale: float) -> None:
        self._scale = scale
        self._items_stale()
        self.draw()

    def _items_stale(self) -> None:
        """Make the items afresh at the next draw (a new line width)."""
        self._rebuild([], [])

    def set_log_scale(self, on: bool) -> None:
        for plot in self.plots():
            plot.setLogMode(y=on)
        self.draw()

    def _state_changed(self, what: str) -> None:
        if what == "log_scale":
            if self.log_box.isChecked() != self.state.log_scale:
                self.log_box.setChecked(self.state.log_scale)
            self.set_log_scale(self.state.log_scale)
        else:
            if what == "statistic":
                show_statistic(self.statistic_box, self.state.statistic)
            self.draw(new_result=what == "result")

    def draw(self, new_result: bool = False) -> None:
        """Feed the items of every model (made once per model, reused by later results).

        The frame's top is set by the unadapted losses (step 0): a model whose loss explodes
        (Meta-SGD's one-step rates taken twenty times) is cut where it leaves the frame, and
        its legend entry says so, instead of flattening every other curve.
        """
        result = self.state.result
        self.csv_button.setEnabled(bool(result and result.curves))
        models = [] if result is None else result.curves
        keys = [(m.name, m.baseline, m.colour) for m in models]
        if keys != list(self._items):
            self._rebuild(models, keys)
        if result is None:
            self.legend.setText("")
            return
        log = self.state.log_scale
        for plot in self.plots():
            plot.setLabel("left", f"{result.loss} (log scale)" if log else result.loss)
        statistic = self.state.statistic
        top = _frame_top(models, statistic)
        bottom = math.inf
        self.leaving: dict[str, int] = {}
        for model, key in zip(models, keys, strict=True):
            c = model.curves
            for (line, low, high), part in zip(self._items[key][:2], ("support", "query"), strict=True):
                x = np.asarray(c.steps, dtype=float)
                centre, lower, upper = (np.asarray(v, dtype=float) for v in c.band(part, statistic))
                outside = ~np.isfinite(centre) | ~np.isfinite(lower) | (centre > top)
                kept = len(centre) if not outside.any() else int(np.argmax(outside))
                if kept < len(centre):
                    self.leaving[model.name] = min(int(x[kept]), self.leaving.get(model.name, 10**9))
                x, centre, lower, upper = x[:kept], centre[:kept], lower[:kept], upper[:kept]
                if log:  # a band through zero has no log: clip it at a tenth of the centre
                    lower = np.maximum(lower, centre / 10)
                for edge in (low, high):  # not in the plot: told of its log scale here
                    edge.setLogMode(False, log)
                low.setData(x, lower)
                high.setData(x, np.minimum(np.nan_to_num(upper, nan=top, posinf=top), top))
                line.setData(x, centre)
                positive = lower[lower > 0] if log else lower
                if positive.size:
                    bottom = min(bottom, float(positive.min()))
        self.legend.setText(self._legend_html(models))
        self._set_range(result.steps, bottom, top)
        # A redraw of the same result (another statistic, scale or width) leaves a newer
        # status, such as a computation under way, as it is.
        if new_result or self.status.text() == self._summary_shown:
            self._summary_shown = self._summary(result, statistic)
            self.set_status(self._summary_shown)
        self.restyle()

    def _set_range(self, steps: int, bottom: float, top: float) -> None:
        view = self.support_plot.getPlotItem().vb  # the query plot follows (linked)
        if self.state.log_scale:
            bottom = bottom if math.isfinite(bottom) and bottom > 0 else top / 100
            low, high = math.log10(bottom) - 0.05, math.log10(top)
        else:
            low, high = min(0.0, bottom if math.isfinite(bottom) else 0.0), top
        view.setRange(xRange=(-0.5, steps + 0.5), yRange=(low, high), padding=0)
        self.query_plot.getPlotItem().vb.setXRange(-0.5, steps + 0.5, padding=0)

    def _rebuild(self, models, keys) -> None:
        for items in self._items.values():
            for plot, (line, _, _), band in zip(self.plots(), items[:2], items[2:], strict=True):
                for item in (line, band):
                    plot.removeItem(item)
        self._items = {}
        for index, (model, key) in enumerate(zip(models, keys, strict=True)):
            style = Qt.PenStyle.DashLine if model.baseline else Qt.PenStyle.SolidLine
            width = (2.0 if model.baseline else 2.5) * self._scale
            parts, bands = [], []
            for plot in self.plots():
                low, high = pg.PlotDataItem(), pg.PlotDataItem()
                band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(_with_alpha(model.colour, BAND_ALPHA)))
                band.setZValue(-5)
                line = pg.PlotDataItem(pen=pg.mkPen(model.colour, width=width, style=style),
                                       symbol="t" if model.baseline else "o", symbolSize=5,
                                       symbolBrush=model.colour, symbolPen=None)
                on_show = index == 0 or (index == 1 and model.baseline)
                line.setZValue(2 if on_show else 1)  # the model on show and its baseline on top
                plot.addItem(band)
                plot.addItem(line)
                parts.append((line, low, high))
                bands.append(band)
            self._items[key] = (*parts, *bands)

    def _legend_html(self, models) -> str:
        entries = []
        for model in models:
            line = "╍╍╍" if model.baseline else "━━━"
            left = self.leaving.get(model.name)
            note = f" (leaves the frame at step {left})" if left is not None else ""
            entries.append(f'<span style="white-space:nowrap"><span style="color:{model.colour}">'
                           f"<b>{line}</b></span> {html.escape(model.name)}{note}</span>")
        return " &nbsp;&nbsp; ".join(entries)

    def set_theme(self, theme: str, font_scale: float = 1.0) -> None:
        self._theme, self._font_scale = theme, font_scale
        self.restyle()

    def restyle(self) -> None:
        style_titles(self.plots(), self._theme, self._font_scale)

    @staticmethod
    def _summary(result: InnerLoopResult, statistic: str = "mean") -> str:
        what = ("mean over {} fresh tasks with 95% bands" if statistic == "mean" else
                "median over {} fresh tasks, the middle half shaded").format(result.tasks)
        text = (f"Iteration {result.iteration:,}: {len(result.curves)} curves, {what}; "
                f"computed in {result.seconds:.2f} s.")
        if result.skipped:
            text += " Left out: " + "; ".join(result.skipped) + "."
        diverged = [m.name for m in result.curves if m.curves.diverged_at is not None]
        if diverged:
            text += " Diverged (the loss stops being finite): " + ", ".join(diverged) + "."
        return text

    def export_csv(self, path) -> None:
        if self.state.result is None:
            raise ValueError("no curves yet")
        write_inner_loop_csv(self.state.result, path)

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export inner-loop curves", "inner-loop.csv",
                                              "CSV (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot export the curves", f"{path}: {exc}")


def _with_alpha(colour: str, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def _frame_top(models, statistic: str = "mean") -> float:
    """The y frame's top: 1.5 times the largest unadapted (step 0) loss, band included."""
    starts = [float(value[0]) for model in models
              for value in (model.curves.band(part, statistic)[2] for part in ("support", "query"))
              if len(value) and np.isfinite(value[0])]
    return 1.5 * max(starts) if starts and max(starts) > 0 else 1.0
