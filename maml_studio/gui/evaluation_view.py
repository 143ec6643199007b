"""The Evaluation tab: the paper's Figure 3 (left) for the model on show and the shown runs.

Query MSE (or accuracy) against the number of gradient steps, 0 … 10, each with
its 95% band, for every meta-learned model and its pretrained baseline, on 600
fresh tasks with the paper's protocol. The evaluation runs on a thread of its
own; the tab says how far it is and can be stopped. The curves export as CSV,
and as a figure through File → Export figure.
"""

from __future__ import annotations

import threading

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from maml_studio.evaluation_curves import EvaluationCurves, evaluation_curves, write_curves_csv
from maml_studio.exit_guard import wait_at_exit
from maml_studio.gui.legend_below import legend_below
from maml_studio.gui.plot_axes import IntegerAxis
from maml_studio.gui.statistic_chooser import statistic_chooser
from maml_studio.task_statistics import STATISTIC_TEXTS

BAND_ALPHA = 50
HINT = ("Press Evaluate: the model on show and the ticked runs,\n"
        "after 0 … 10 gradient steps on 600 fresh tasks")


class _Relay(QObject):
    progress = Signal(int, int)
    finished = Signal(object, str)  # EvaluationCurves or None, error text


def _frame_top(result: EvaluationCurves, statistic: str = "mean") -> float:
    """The y frame's top: the largest unadapted (step 0) error, band included, with a margin."""
    starts = [curve.band(statistic)[2][0] for curve in result.curves if curve.values]
    starts = [value for value in starts if np.isfinite(value)]
    return 1.2 * max(starts) if starts else 1.0


class EvaluationView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Evaluation")
        self.result: EvaluationCurves | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        wait_at_exit(self.ask_to_stop, self.wait)
        self._relay = _Relay()
        self._relay.progress.connect(self._progress, Qt.ConnectionType.QueuedConnection)
        self._relay.finished.connect(self._finished, Qt.ConnectionType.QueuedConnection)
        layout = QVBoxLayout(self)
        self.plot = pg.PlotWidget(axisItems={"bottom": IntegerAxis("bottom")})
        self.plot.setAccessibleName("Evaluation plot")
        self.plot.setLabel("bottom", "gradient steps")
        self.plot.setLabel("left", "query MSE")
        self.legend = legend_below(self.plot.getPlotItem(), columns=2)
        # Before the first evaluation: the steps it will draw, and what to press.
        self.plot.getPlotItem().vb.setRange(xRange=(-0.3, 10.3), yRange=(0, 1), padding=0)
        self.hint = pg.TextItem(HINT, anchor=(0.5, 0.5), color=(120, 120, 120))
        self.hint.setPos(5, 0.5)
        self.plot.addItem(self.hint, ignoreBounds=True)
        layout.addWidget(self.plot, 1)
        row = QHBoxLayout()
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setAccessibleName("Evaluate runs")
        self.evaluate_button.setToolTip("The model on show and the runs shown from the Runs dock, "
                                        "on 600 fresh tasks after 0 … 10 steps (the paper's protocol)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setAccessibleName("Stop evaluation")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.statistic = "mean"  # or "median": what the curves and bands show
        self.statistic_box = statistic_chooser("Evaluation statistic", self.statistic,
                                               self.set_statistic)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.setAccessibleName("Export evaluation CSV")
        self.csv_button.clicked.connect(self._export_dialog)
        self.csv_button.setEnabled(False)
        row.addWidget(self.evaluate_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.statistic_box)
        row.addWidget(self.csv_button)
        self.status = QLabel("Press Evaluate to score the model on show and the shown runs.")
        self.status.setAccessibleName("Evaluation status")
        self.status.setWordWrap(True)
        row.addWidget(self.status, 1)
        layout.addLayout(row)

    def set_statistic(self, statistic: str) -> None:
        if statistic not in STATISTIC_TEXTS:
            raise ValueError(f"the statistic is one of {', '.join(STATISTIC_TEXTS)}; not {statistic!r}")
        self.statistic = statistic
        index = self.statistic_box.findData(statistic)
        if index != self.statistic_box.currentIndex():
            self.statistic_box.setCurrentIndex(index)  # comes back here with nothing to change
            return
        if self.result is not None:
            self._draw(self.result)
            if not self.running:
                self.status.setText(self._summary(self.result))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def evaluate(self, runs: list, tasks: int = 600) -> bool:
        """Score ``runs`` (name, colour, checkpoint) off the GUI thread; False if none or busy."""
        if self.running or not runs:
            if not runs:
                self.status.setText("No model to evaluate: open or train one, or show runs.")
            return False
        self._stop.clear()
        self.evaluate_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText(f"Evaluating 1 of {len(runs)} on {tasks} tasks…")
        total = len(runs)

        def work() -> None:
            try:
                result, error = evaluation_curves(
                    runs, tasks=tasks, stopped=self._stop.is_set,
                    progress=lambda done: self._relay.progress.emit(done, total)), ""
            except Exception as exc:  # whatever happens, the tab hears of it and stays usable
                result, error = None, f"{type(exc).__name__}: {exc}"
            self._relay.finished.emit(result, error)

        self._thread = threading.Thread(target=work, name="maml-evaluation", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self.ask_to_stop()
        self.status.setText("Stopping after the run being evaluated…")

    def ask_to_stop(self) -> None:
        """End the evaluation after the run being evaluated."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _progress(self, done: int, total: int) -> None:
        if done < total and not self._stop.is_set():
            self.status.setText(f"Evaluating {done + 1} of {total}…")

    def _finished(self, result: EvaluationCurves | None, error: str) -> None:
        self.evaluate_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if error:
            self.status.setText(f"Evaluation failed: {error}")
            return
        self.result = result
        self._draw(result)
        self.csv_button.setEnabled(bool(result.curves))
        self.status.setText(self._summary(result))

    def _summary(self, result: EvaluationCurves) -> str:
        stopped = " (stopped early)" if self._stop.is_set() else ""
        skipped = f" Left out: {'; '.join(result.skipped)}." if result.skipped else ""
        what = "mean and 95% band" if self.statistic == "mean" else "median, the middle half shaded"
        return f"{len(result.curves)} curves on {result.tasks} fresh tasks, {what}{stopped}.{skipped}"

    def _draw(self, result: EvaluationCurves) -> None:
        """Every curve in a frame set by the unadapted errors: a model whose error explodes
        (Meta-SGD's one-step rates taken ten times) is cut where it leaves the frame and says
        so, instead of flattening every other curve."""
        self.plot.clear()  # the hint included: it has done its job
        self.legend.clear()
        accuracy = result.metric == "accuracy"
        self.plot.setLabel("left", "query accuracy" if accuracy else "query MSE")
        top = 1.0 if accuracy else _frame_top(result, self.statistic)
        self.leaving: dict[str, int] = {}
        for curve in result.curves:
            x = np.asarray(curve.steps, dtype=float)
            y, lower, upper = (np.asarray(v, dtype=float) for v in curve.band(self.statistic))
            outside = ~np.isfinite(y) | ~np.isfinite(lower) | (y > top)
            kept = len(y) if not outside.any() else int(np.argmax(outside))
            name = curve.name
            if kept < len(y):
                self.leaving[curve.name] = curve.steps[kept]
                name += f" (leaves the frame at step {curve.steps[kept]})"
            x, y, lower, upper = x[:kept], y[:kept], lower[:kept], upper[:kept]
            style = Qt.PenStyle.DashLine if curve.baseline else Qt.PenStyle.SolidLine
            line = self.plot.plot(x, y, pen=pg.mkPen(curve.colour, width=2.5, style=style),
                                  symbol="t" if curve.baseline else "o", symbolSize=6,
                                  symbolBrush=curve.colour, symbolPen=None)
            colour = QColor(curve.colour)
            colour.setAlpha(BAND_ALPHA)
            upper = np.minimum(np.nan_to_num(upper, nan=top, posinf=top), top)
            low, high = pg.PlotDataItem(x, np.maximum(lower, 0)), pg.PlotDataItem(x, upper)
            band = pg.FillBetweenItem(low, high, brush=pg.mkBrush(colour))
            band.setZValue(-5)
            self.plot.addItem(band)
            self.legend.addItem(line, name)
        steps = [s for curve in result.curves for s in curve.steps] or [0, 10]
        view = self.plot.getPlotItem().vb
        view.disableAutoRange()
        view.setRange(xRange=(min(steps) - 0.3, max(steps) + 0.3), yRange=(0, top), padding=0)

    def export_csv(self, path) -> None:
        if self.result is None:
            raise ValueError("nothing evaluated yet: press Evaluate first")
        write_curves_csv(self.result, path)

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export evaluation", "evaluation.csv", "CSV (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Cannot export evaluation", f"{path}: {exc}")
