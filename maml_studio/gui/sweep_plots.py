"""The Sweeps tab's two plots: the objective against a chosen parameter (on a log axis for a
log-scaled one, at its labels for a list of values) and against the trial number with the
best so far, the best trial starred in both. A mixin of `SweepsView`, which reads the
studies; a click on a point selects its trial there."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout

from maml_studio.gui.plot_axes import IntegerAxis, LogAxis, log_ticks

# Trials and the best one, each with a contrast of at least 3:1 on the plot's background of
# the light and the dark theme.
POINT_COLOUR = {"light": "#1f77b4", "dark": "#6cb4ee"}
BEST_COLOUR = {"light": "#d95f02", "dark": "#f28e2b"}


PARAMETER_HINT = ("The objective against the parameter chosen above:\n"
                  "a point per complete trial, the best starred")
TRIAL_HINT = "The objective of each trial in the order they ran,\nwith the best so far"


class SweepPlots:
    def _build_plots(self, right_layout: QVBoxLayout) -> None:
        choose = QHBoxLayout()
        choose.addWidget(QLabel("Objective against"))
        self.parameter_box = QComboBox()
        self.parameter_box.setAccessibleName("Parameter")
        self.parameter_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.parameter_box.currentIndexChanged.connect(lambda _: self._draw_parameter())
        choose.addWidget(self.parameter_box)
        choose.addStretch(1)
        self.log_box = QCheckBox("Log scale")
        self.log_box.setAccessibleName("Log objective")
        self.log_box.setToolTip("The objective on a log axis (losses span decades near divergence)")
        self.log_box.toggled.connect(lambda _: self._redraw())
        choose.addWidget(self.log_box)
        right_layout.addLayout(choose)
        self.parameter_plot = pg.PlotWidget(axisItems={"left": LogAxis("left")})
        self.parameter_plot.setAccessibleName("Objective against parameter")
        self.trial_plot = pg.PlotWidget(axisItems={"left": LogAxis("left"),
                                                   "bottom": IntegerAxis("bottom")})
        self.trial_plot.setAccessibleName("Objective against trial")
        self.trial_plot.setLabel("bottom", "trial")
        for plot in (self.parameter_plot, self.trial_plot):
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setMenuEnabled(False)
            for side in ("left", "bottom"):  # values as they are, never "(x0.001)"
                plot.getAxis(side).enableAutoSIPrefix(False)
            right_layout.addWidget(plot, 1)
        self._parameter_points = self._scatter(self.parameter_plot)
        self._trial_points = self._scatter(self.trial_plot)
        self._best_so_far = self.trial_plot.plot([], [], pen=pg.mkPen(BEST_COLOUR["light"], width=1.5),
                                                 stepMode=None, name="best so far")
        self._best_marks = [self._best_mark(plot) for plot in (self.parameter_plot, self.trial_plot)]
        self._hints = {}
        for plot, text in ((self.parameter_plot, PARAMETER_HINT), (self.trial_plot, TRIAL_HINT)):
            hint = pg.TextItem(text, anchor=(0.5, 0.5), color=(120, 120, 120))
            plot.addItem(hint, ignoreBounds=True)
            self._hints[plot] = hint
        self.theme = "light"

    def set_theme(self, theme: str) -> None:
        """The colours of the trials and of the best one for ``theme`` ("light" or "dark")."""
        self.theme = theme
        for points in (self._parameter_points, self._trial_points):
            points.setBrush(pg.mkBrush(POINT_COLOUR[theme]))
        self._best_so_far.setPen(pg.mkPen(BEST_COLOUR[theme], width=1.5))
        for mark, label in self._best_marks:
            mark.setBrush(pg.mkBrush(BEST_COLOUR[theme]))
            label.setColor(BEST_COLOUR[theme])

    # -- plots -----------------------------------------------------------------------------------
    def plots(self) -> list[pg.PlotWidget]:
        return [self.parameter_plot, self.trial_plot]

    def _scatter(self, plot: pg.PlotWidget) -> pg.ScatterPlotItem:
        points = pg.ScatterPlotItem(size=8, pen=pg.mkPen(None), brush=pg.mkBrush(POINT_COLOUR["light"]),
                                    hoverable=True, hoverSize=11)
        points.sigClicked.connect(lambda _, spots, *rest: self._point_clicked(spots))
        plot.addItem(points)
        return points

    def _best_mark(self, plot: pg.PlotWidget) -> tuple[pg.ScatterPlotItem, pg.TextItem]:
        mark = pg.ScatterPlotItem(size=18, symbol="star", pen=pg.mkPen("#ffffff", width=0.8),
                                  brush=pg.mkBrush(BEST_COLOUR["light"]))
        mark.setZValue(10)
        plot.addItem(mark)
        label = pg.TextItem("", color=BEST_COLOUR["light"], anchor=(0, 1.2))
        label.setZValue(11)
        plot.addItem(label, ignoreBounds=True)  # the frame is the trials', not the label's
        return mark, label

    @property
    def log_objective(self) -> bool:
        return self.log_box.isChecked()

    def _y(self, ys) -> list[float]:
        """The objective as a plot of this view takes it: log10 on a log axis (items here
        do not transform their data themselves)."""
        if not self.log_objective:
            return list(ys)
        return [math.log10(y) if y > 0 else math.nan for y in ys]

    def _draw_parameter(self) -> None:
        plot, results = self.parameter_plot, self.results
        parameter = self.parameter_box.currentData()
        axis = results.axes.get(parameter) if results is not None and parameter else None
        if results is None or parameter is None:
            self._set_points(self._parameter_points, [], [], [])
            self._mark_best(0, None)
            return
        xs, ys, numbers = results.points(parameter)
        log = axis is not None and axis.kind == "log"
        plot.setLogMode(x=log, y=self.log_objective)
        bottom = plot.getAxis("bottom")
        if axis is not None and axis.kind == "categorical":
            bottom.setTicks([list(enumerate(axis.labels))])
            plot.setXRange(-0.5, len(axis.labels) - 0.5, padding=0.05)
        elif log and xs:
            bottom.setTicks(log_ticks(min(xs), max(xs)))
        else:
            bottom.setTicks(None)
        plot.setLabel("bottom", parameter)
        plot.setLabel("left", metric_name(results.metric))
        # The axis of a log plot labels 10^x; a scatter item takes its x as log10 itself.
        shown_x = [math.log10(x) if log and x > 0 else x for x in xs]
        shown_y = self._y(ys)
        self._set_points(self._parameter_points, shown_x, shown_y, numbers)
        best = numbers.index(results.best) if results.best in numbers else None
        self._mark_best(0, None if best is None else (shown_x[best], shown_y[best]))
        if not numbers:  # no complete trial yet: the frame of the hint stays
            return
        plot.enableAutoRange(y=True)
        if axis is None or axis.kind != "categorical":
            plot.enableAutoRange(x=True)

    def _draw_trials(self) -> None:
        results = self.results
        self.trial_plot.setLogMode(x=False, y=self.log_objective)
        if results is None:
            self._set_points(self._trial_points, [], [], [])
            self._best_so_far.setData([], [])
            self._mark_best(1, None)
            return
        xs, ys, numbers = results.points(None)
        shown_y = self._y(ys)
        self._set_points(self._trial_points, xs, shown_y, numbers)
        self.trial_plot.setLabel("left", metric_name(results.metric))
        if ys:  # a line item: the plot's log mode transforms it
            running = (np.maximum.accumulate if results.direction == "maximize" else np.minimum.accumulate)(
                np.asarray(ys))
            self._best_so_far.setData(xs, running)
        else:
            self._best_so_far.setData([], [])
        best = numbers.index(results.best) if results.best in numbers else None
        self._mark_best(1, None if best is None else (xs[best], shown_y[best]))
        if numbers:  # none complete yet: the frame of the hint stays
            self.trial_plot.enableAutoRange()

    def _set_points(self, item: pg.ScatterPlotItem, xs, ys, numbers) -> None:
        item.setData(x=list(xs), y=list(ys), data=list(numbers))
        plot = self.parameter_plot if item is self._parameter_points else self.trial_plot
        hint, empty = self._hints[plot], not len(numbers)
        hint.setVisible(empty)
        if empty:  # a frame of its own, with what the plot will show in its middle
            plot.getPlotItem().vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            hint.setPos(0.5, 0.5)

    def _mark_best(self, which: int, point: tuple[float, float] | None) -> None:
        mark, label = self._best_marks[which]
        if point is None:
            mark.setData([], [])
            label.setText("")
            return
        mark.setData([point[0]], [point[1]])
        label.setText(f"best: trial {self.results.best}")
        label.setPos(point[0], point[1])
        # Written on the side with more room: at the right end it would run off the plot.
        xs = [x for x in (self._parameter_points, self._trial_points)[which].data["x"] if math.isfinite(x)]
        right_half = bool(xs) and point[0] > (min(xs) + max(xs)) / 2
        label.setAnchor((1, 1.2) if right_half else (0, 1.2))


def metric_name(metric: str) -> str:
    return {"mse": "validation MSE", "accuracy": "validation accuracy"}.get(metric, f"validation {metric}")
