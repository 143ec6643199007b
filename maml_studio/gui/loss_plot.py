"""The live loss plot: meta-training loss (raw and smoothed) and meta-validation losses.

Plot items are created once and updated with `setData`; long runs stay smooth
through clip-to-view and peak downsampling. Classification runs add their
meta-validation query accuracy on a second axis at the right (0 to 100%).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer

from maml_studio.gui.legend_below import legend_below
from maml_studio.gui.loss_overlays import LossOverlays
from maml_studio.history import VALIDATION_COLUMNS
from maml_studio.run_model import RunModel

SMOOTHING_WINDOW = 100
REFRESH_MS = 250
HINT = ("Press Start (Space) to meta-train the Experiment panel's set-up:\n"
        "its losses are drawn here as it trains")


class GrowingSeries:
    """An append-only float array with amortised O(1) appends and a running mean."""

    def __init__(self, window: int = SMOOTHING_WINDOW) -> None:
        self.window = window
        self._values = np.empty(1024)
        self._smoothed = np.empty(1024)
        self._cumsum = np.zeros(1025)
        self.size = 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=float)
        needed = self.size + len(values)
        if needed > len(self._values):
            capacity = max(needed, 2 * len(self._values))
            self._values = np.resize(self._values, capacity)
            self._smoothed = np.resize(self._smoothed, capacity)
            self._cumsum = np.resize(self._cumsum, capacity + 1)
        self._values[self.size:needed] = values
        self._cumsum[self.size + 1:needed + 1] = self._cumsum[self.size] + np.cumsum(values)
        ends = np.arange(self.size + 1, needed + 1)
        starts = np.maximum(ends - self.window, 0)
        self._smoothed[self.size:needed] = (self._cumsum[ends] - self._cumsum[starts]) / (ends - starts)
        self.size = needed

    @property
    def values(self) -> np.ndarray:
        return self._values[:self.size]

    def smoothed(self) -> np.ndarray:
        """Mean of the last `window` values at every index."""
        return self._smoothed[:self.size]


class LossPlot(pg.PlotWidget):
    """Draws a `RunModel`'s history; the series it keeps are drawing caches of that history."""

    def __init__(self, parent=None, run: RunModel | None = None) -> None:
        super().__init__(parent)
        self.run = run or RunModel()
        self.setAccessibleName("Meta-training loss plot")
        self.setLabel("bottom", "meta-iteration")
        self.setLabel("left", "loss (MSE)")
        self.legend = legend_below(self.getPlotItem())
        self.overlays = LossOverlays(self)  # other runs, shown beside this one
        self._follow_y = True  # the y range follows the curves until the user zooms or pans
        self._fitted = False  # framed on the overlays by fit_to_overlays
        self.train = GrowingSeries()
        self.baseline = GrowingSeries()
        self.line_width = 2.0
        # Dense curves are drawn 1 px wide: wider pens cost Qt's raster engine twice the time.
        self.raw_item = self._curve("meta-train loss", (100, 140, 220, 70), 1)
        self.smooth_item = self._curve("meta-train loss (smoothed)", (30, 80, 200), 1)
        self.baseline_item = self._curve("baseline train loss (smoothed)", (230, 140, 40, 200), 1)
        self.before_item = self._curve("validation: before adaptation", (140, 140, 140), 2,
                                       symbol="o", style=Qt.PenStyle.DashLine)
        self.after_item = self._curve("validation: after adaptation", (200, 40, 60), 2.5, symbol="o")
        self.baseline_after_item = self._curve("baseline validation: after adaptation",
                                               (230, 140, 40), 2.5, symbol="t")
        self._accuracy_axis()
        for item in (self.raw_item, self.smooth_item, self.baseline_item):
            item.setClipToView(True)
            item.setDownsampling(auto=True, method="peak")
            item.setSkipFiniteCheck(True)
        self._crosshair()
        # An empty plot says how to fill it; the hint takes no click and leaves with the first loss.
        self.hint = pg.TextItem(HINT, anchor=(0.5, 0.5), color=(120, 120, 120))
        self.hint.setZValue(15)
        self.addItem(self.hint, ignoreBounds=True)
        self.getPlotItem().vb.sigRangeChanged.connect(self._place_hint)
        self._watch_manual_range()
        # Redraw at most REFRESH_MS apart however fast losses arrive: every redraw is
        # Python work on the GUI thread that the training thread would wait for.
        self._dirty = False
        self._validation_dirty = True
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh_if_dirty)
        self._timer.start()
        self.run.reset.connect(self._history_reset)
        self.run.extended.connect(self._history_extended)
        if self.run.history.iterations or self.run.history.validation:
            self._history_reset()

    def _curve(self, name, color, width, symbol=None, style=Qt.PenStyle.SolidLine):
        pen = pg.mkPen(color, width=width, style=style)
        kwargs = {"symbol": symbol, "symbolSize": 6, "symbolBrush": color[:3], "symbolPen": None} \
            if symbol else {}
        item = self.plot([], [], pen=pen, name=name, **kwargs)
        item.base_width = width
        return item

    def _watch_manual_range(self) -> None:
        """A zoom or pan by the user stops the y range from following; 'A' or a double click resumes."""
        view = self.getPlotItem().vb
        view.sigRangeChangedManually.connect(self._stop_following)
        self.getPlotItem().autoBtn.clicked.connect(self._resume_following)

    def _stop_following(self, *_) -> None:
        self._follow_y = False

    def _resume_following(self) -> None:
        self._follow_y = True
        self._fit_y()

    def mouseDoubleClickEvent(self, event) -> None:
        self.enableAutoRange(x=True)
        self._resume_following()
        event.accept()

    def _accuracy_axis(self) -> None:
        """A second view box, x-linked to the loss view, for accuracies in [0, 1]."""
        plot = self.getPlotItem()
        self.accuracy_view = pg.ViewBox(enableMouse=False)
        plot.scene().addItem(self.accuracy_view)
        plot.getAxis("right").linkToView(self.accuracy_view)
        plot.getAxis("right").setLabel("query accuracy")
        plot.getAxis("right").setTicks([[(v / 4, f"{25 * v}%") for v in range(5)],
                                        [(v / 20, "") for v in range(21)]])
        self.accuracy_view.setXLink(plot)
        self.accuracy_view.setYRange(0.0, 1.0, padding=0.02)
        self.accuracy_view.enableAutoRange(axis=pg.ViewBox.YAxis, enable=False)
        plot.vb.sigResized.connect(self._match_accuracy_view)
        self.accuracy_items = []
        for name, color, symbol in (("validation accuracy: after adaptation", (200, 40, 60), "s"),
                                    ("baseline validation accuracy: after adaptation",
                                     (230, 140, 40), "d")):
            pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashDotLine)
            item = pg.PlotDataItem([], [], pen=pen, name=name, symbol=symbol, symbolSize=7,
                                   symbolBrush=(255, 255, 255), symbolPen=pg.mkPen(color, width=1.5))
            item.base_width = 2
            self.accuracy_view.addItem(item)
            self.accuracy_items.append(item)
        self.kind = "regression"
        self.set_kind("regression")

    def _match_accuracy_view(self) -> None:
        plot = self.getPlotItem()
        self.accuracy_view.setGeometry(plot.vb.sceneBoundingRect())
        self.accuracy_view.linkedViewChanged(plot.vb, self.accuracy_view.XAxis)

    def set_kind(self, kind: str) -> None:
        """Label the axes for a regression or classification run; accuracy shows for the latter."""
        self.kind = kind
        classification = kind == "classification"
        self.setLabel("left", "loss (cross-entropy)" if classification else "loss (MSE)")
        self.getPlotItem().showAxis("right", classification)
        self.accuracy_view.setVisible(classification)
        self._validation_dirty = True
        self._sync_legend()

    def _crosshair(self) -> None:
        pen = pg.mkPen((150, 150, 150), width=1, style=Qt.PenStyle.DotLine)
        self.v_line = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.readout = pg.TextItem(anchor=(0, 1), color=(90, 90, 90))
        for item in (self.v_line, self.readout):
            item.setZValue(20)
            self.addItem(item, ignoreBounds=True)
            item.hide()
        self.scene().sigMouseMoved.connect(self._mouse_moved)

    # -- data ------------------------------------------------------------------------------------
    @property
    def validation(self) -> list[tuple[float, ...]]:
        return self.run.history.validation

    def _history_reset(self) -> None:
        """Another run, or a loaded one: draw its whole history, following it again."""
        history = self.run.history
        self.train, self.baseline = GrowingSeries(), GrowingSeries()
        self.train.extend(history.train_loss)
        self.baseline.extend(history.baseline_loss)
        self.v_line.hide()  # a read-out of the earlier run
        self.readout.hide()
        self._validation_dirty = True
        self._follow_y = True
        self.refresh()
        self.enableAutoRange(x=True)

    def _history_extended(self, train: int, baseline: int, validations: int) -> None:
        history = self.run.history
        if train:
            self.train.extend(history.train_loss[-train:])
        if baseline:
            self.baseline.extend(history.baseline_loss[-baseline:])
        self._dirty = True  # drawn by the refresh timer: appends are cheap, drawing is throttled
        self._validation_dirty = self._validation_dirty or bool(validations)

    def _refresh_if_dirty(self) -> None:
        if self._dirty:
            self.refresh()

    def refresh(self) -> None:
        self._dirty = False
        n = self.train.size
        x = np.arange(1, n + 1, dtype=float)
        self.raw_item.setData(x, self.train.values)
        self.smooth_item.setData(x, self.train.smoothed())
        xb = np.arange(1, self.baseline.size + 1, dtype=float)
        self.baseline_item.setData(xb, self.baseline.smoothed())
        if self._validation_dirty:
            self._refresh_validation()
        self._sync_legend()
        self._fit_y()
        self.hint.setVisible(not (n or self.validation or self.overlays.legend_entries))
        self._place_hint()

    def _place_hint(self, *_) -> None:
        if self.hint.isVisible():
            (x_low, x_high), (y_low, y_high) = self.getPlotItem().vb.viewRange()
            self.hint.setPos((x_low + x_high) / 2, (y_low + y_high) / 2)

    # -- what is listed and what range is shown ---------------------------------------------------
    def loss_items(self) -> list:
        return [self.raw_item, self.smooth_item, self.baseline_item, self.before_item,
                self.after_item, self.baseline_after_item]

    def set_overlays(self, overlays: list) -> None:
        """Draw other runs (or seed groups) over this one, each in its colour; a view framed on
        the earlier ones (Fit to ticked runs) follows every curve again."""
        self.overlays.show(overlays)
        if self._fitted:
            self._fitted = False
            self.enableAutoRange(x=True)
        self._follow_y = True
        self.refresh()

    def _sync_legend(self) -> None:
        """List the series that have data, in a fixed order; rebuilt only when that set changes."""
        items = self.loss_items() + (self.accuracy_items if self.kind == "classification" else [])
        entries = [(item, item.name()) for item in items if _has_data(item)]
        entries += self.overlays.legend_entries
        if [(sample.item, label.text) for sample, label in self.legend.items] == entries:
            return
        self.legend.clear()
        for item, name in entries:
            self.legend.addItem(item, name)
        self.legend.setVisible(bool(entries))

    def fit_to_overlays(self) -> bool:
        """Frame the shown runs: iterations up to the longest one's last, and the losses drawn
        there (a 300-iteration run beside a 70 000-iteration model is otherwise a sliver at the
        left edge). The view then stays put until a double click or 'A'. False if none is shown."""
        end = self.overlays.last_iteration
        if end <= 0:
            return False
        self._follow_y, self._fitted = False, True
        self.getPlotItem().vb.setXRange(0, end, padding=0.02)
        self._set_y_range(self._framed_series(end))
        return True

    def _fit_y(self) -> None:
        """The y range of the curves that matter: smoothed losses and losses after adaptation.

        The raw loss's noise and a classifier's unadapted cross-entropy (often ten times
        the rest) would flatten them; they are clipped at the edge instead.
        """
        if not self._follow_y:
            return
        self._set_y_range(self._framed_series())

    def _framed_series(self, end: float | None = None) -> list:
        """The values the y range holds (up to iteration ``end``, default all): smoothed
        losses, the overlays' extremes, validation losses after adaptation, and before it
        for regression."""
        n = self.train.size if end is None else int(min(end, self.train.size))
        series = [self.train.smoothed()[:n], self.baseline.smoothed()[:n], *self.overlays.values()]
        if self.validation:
            rows = np.array([tuple(r[:5]) for r in self.validation], dtype=float)
            if end is not None:
                rows = rows[rows[:, 0] <= end]
            series += [rows[:, 2], rows[:, 4]]
            if self.kind != "classification":
                series.append(rows[:, 1])
        return series

    def _set_y_range(self, series: list) -> None:
        values = np.concatenate([np.asarray(v, dtype=float) for v in series]) if series else np.zeros(0)
        log = self.getPlotItem().ctrl.logYCheck.isChecked()
        values = values[np.isfinite(values) & ((values > 0) if log else True)]
        if values.size == 0:
            return
        if log:
            values = np.log10(values)
        low, high = float(values.min()), float(values.max())
        margin = 0.06 * (high - low) or 0.1 * max(abs(high), 1e-3)
        if not log:
            low = max(low - margin, 0.0) if low >= 0 else low - margin  # losses stay above 0
        else:
            low -= margin
        self.getPlotItem().vb.setYRange(low, high + margin, padding=0)

    def _refresh_validation(self) -> None:
        self._validation_dirty = False
        width = len(VALIDATION_COLUMNS)
        rows = np.array([tuple(r) + (math.nan,) * (width - len(r)) for r in self.validation],
                        dtype=float).reshape(-1, width)
        self.before_item.setData(rows[:, 0], rows[:, 1])
        self.after_item.setData(rows[:, 0], rows[:, 2])
        for item, column in ((self.baseline_after_item, 4), (self.accuracy_items[0], 6),
                             (self.accuracy_items[1], 8)):
            present = rows.size and np.isfinite(rows[:, column]).any()
            item.setData(rows[:, 0] if present else [], rows[:, column] if present else [])

    # -- appearance --------------------------------------------------------------------------------
    def set_log_scale(self, on: bool) -> None:
        self.setLogMode(y=on)
        self._fit_y()

    def set_grid(self, on: bool) -> None:
        """Grid lines help reading values off the plot but double the cost of a redraw."""
        self.showGrid(x=on, y=on, alpha=0.25 if on else 0)

    def set_line_scale(self, scale: float) -> None:
        for item in (self.raw_item, self.smooth_item, self.baseline_item, self.before_item,
                     self.after_item, self.baseline_after_item, *self.accuracy_items):
            pen = pg.mkPen(item.opts["pen"])
            pen.setWidthF(item.base_width * scale)
            item.setPen(pen)

    def _mouse_moved(self, position) -> None:
        view = self.getPlotItem().vb
        if not self.sceneBoundingRect().contains(position) or self.train.size == 0:
            self.v_line.hide()
            self.readout.hide()
            return
        point = view.mapSceneToView(position)
        iteration = round(point.x())
        if not 1 <= iteration <= self.train.size:
            self.v_line.hide()
            self.readout.hide()
            return
        self.v_line.setPos(iteration)
        text = (f"iteration {iteration:,}\nloss {self.train.values[iteration - 1]:.4f}  "
                f"smoothed {self.train.smoothed()[iteration - 1]:.4f}")
        nearest = min(self.validation, key=lambda row: abs(row[0] - iteration), default=None)
        if nearest is not None:
            text += f"\nvalidation @ {int(nearest[0]):,}: before {nearest[1]:.3f}, after {nearest[2]:.3f}"
            if not math.isnan(nearest[4]):
                text += f", baseline {nearest[4]:.3f}"
            if len(nearest) > 6 and not math.isnan(nearest[6]):
                text += f"\naccuracy after adaptation {100 * nearest[6]:.1f}%"
                if not math.isnan(nearest[8]):
                    text += f", baseline {100 * nearest[8]:.1f}%"
        self.readout.setText(text)
        self.readout.setPos(point.x(), point.y())
        self.v_line.show()
        self.readout.show()


def _has_data(item: pg.PlotDataItem) -> bool:
    y = item.getData()[1]
    return y is not None and len(y) > 0 and bool(np.isfinite(y).any())

