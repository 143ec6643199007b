"""The adaptation panel: click support points, watch the model fit them after K steps.

The panel binds widgets to an `AdaptationSession` (which owns every piece of
state) and shows one of two views over it: `CurveView` for 1-D regression
families (left click adds a point, dragging moves it, right click or
Ctrl+click removes it; the curves after every step come from one computation,
so the slider only picks which to show) and `PlaneView` for 2-D classifiers
(clicks add points of a class; a heat map and every model's decision boundary
after the chosen step). Adaptation runs on its own thread; the newest request
wins.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QIcon,
    QKeySequence,
    QPixmap,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QVBoxLayout,
    QWidget,
)

from maml_studio.adaptation_jobs import AdaptationResult, PlaneResult
from maml_studio.adaptation_session import (
    AdaptationSession,
    SampledTask,
)
from maml_studio.checkpoint import Checkpoint
from maml_studio.errors import ConfigError
from maml_studio.experiment import Experiment
from maml_studio.gui import curve_view, plane_view
from maml_studio.gui.adaptation_controls import add_controls
from maml_studio.gui.adaptation_points import PointEditing, PointViewBox
from maml_studio.gui.adaptation_readout import AdaptationReadout
from maml_studio.gui.adaptation_worker import AdaptationThread
from maml_studio.gui.curve_view import CurveView
from maml_studio.gui.legend_below import legend_below
from maml_studio.gui.paper_panel import PaperPanel
from maml_studio.gui.plane_view import PlaneView
from maml_studio.gui.view_colors import VIEW_COLORS
from maml_studio.plane_maps import CLASS_COLORS, class_name
from maml_studio.view_frame import Frame

PLAY_INTERVAL_MS = 120


class AdaptationPanel(PointEditing, AdaptationReadout, QWidget):
    """The adaptation view: widgets bound to an `AdaptationSession`, which owns the state.

    Widgets change the session through its methods and show what its events say;
    the panel itself keeps only what is drawn (the newest result, the grid).
    """

    status_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None,
                 session: AdaptationSession | None = None) -> None:
        super().__init__(parent)
        self.session = session or AdaptationSession()
        self.result: AdaptationResult | PlaneResult | None = None
        self.serial = 0
        self._hidden_snapshot: Checkpoint | None = None
        self._mode_drawn: bool | None = None  # the kind of view the items are set up for
        self._frame_fitted = None  # the session frame the view was last fitted to
        self.worker = AdaptationThread(self)
        self.worker.done.connect(self._on_result)
        self.worker.failed.connect(lambda message: self._say(f"Adaptation failed: {message}"))
        self._build()
        self.session.model_changed.connect(self._model_changed)
        self.session.points_changed.connect(self._points_changed)
        self.session.setting_changed.connect(self._setting_changed)

    # -- what the session holds, read by the window, exports and tests ----------------------------
    @property
    def points(self) -> np.ndarray:
        return self.session.points

    @property
    def task(self) -> SampledTask | None:
        return self.session.task

    @property
    def model(self) -> Checkpoint | None:
        return self.session.checkpoint

    @property
    def experiment(self) -> Experiment | None:
        return self.session.experiment

    @property
    def plane_mode(self) -> bool:
        return self.session.plane

    @property
    def paper_mode(self) -> bool:
        return self.session.paper

    @property
    def frame(self) -> Frame | None:
        return self.session.frame

    @property
    def step(self) -> int:
        return self.session.step

    @property
    def view(self) -> CurveView | PlaneView:
        """The view of the session's family: the plane of a 2-D classifier, else the curves."""
        return self.plane_view if self.session.plane else self.curve_view

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.view_box = PointViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.view_box)
        self.plot.setAccessibleName("Adaptation plot")
        self.plot.setToolTip(curve_view.TOOLTIP)
        self.legend = legend_below(self.plot.getPlotItem(), columns=2)  # fits half a screen too
        self.view_box.disableAutoRange()  # the frame moves only when the user asks
        self.plot.getPlotItem().hideButtons()  # autorange would fit diverging curves: Fit view instead
        self.theme = "light"
        self._line_scale = 1.0
        # Two views over the session, each with its own items: the curves of a 1-D regression
        # family, and the plane of a 2-D classifier. The session's family chooses `self.view`.
        self.curve_view = CurveView(self)
        self.plane_view = PlaneView(self)
        self.points_item = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(30, 30, 30),
                                              pen=pg.mkPen("w", width=1.5))
        self.points_item.setZValue(10)
        self.plot.addItem(self.points_item)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.message = pg.TextItem(anchor=(0, 0), color=(150, 30, 30))
        self.message.setZValue(20)
        self.plot.addItem(self.message, ignoreBounds=True)
        # The first-run hint on an empty plot; it takes no click and leaves with the first point.
        self.hint = pg.TextItem(anchor=(0.5, 0), color=(120, 120, 120))
        self.hint.setZValue(15)
        self.plot.addItem(self.hint, ignoreBounds=True)
        self.view_box.sigRangeChanged.connect(self._place_hint)
        self.paper_plot = PaperPanel()
        # The same frame as the MAML panel (a range link would align pixels, not ranges).
        self.view_box.sigRangeChanged.connect(self._copy_frame_to_paper_panel)
        self.paper_plot.hide()
        panels = QHBoxLayout()
        panels.addWidget(self.plot, 1)
        panels.addWidget(self.paper_plot, 1)
        layout.addLayout(panels, 1)

        add_controls(self, layout)

        self._play_timer = QTimer(self)
        self._play_timer.setInterval(PLAY_INTERVAL_MS)
        self._play_timer.timeout.connect(self._play_tick)
        undo = QShortcut(QKeySequence.StandardKey.Undo, self)
        undo.activated.connect(self.session.undo)
        redo = QShortcut(QKeySequence("Ctrl+Shift+Z"), self)
        redo.activated.connect(self.session.redo)
        for number in range(1, 10):
            key = QShortcut(QKeySequence(str(number)), self)
            key.activated.connect(lambda index=number - 1: self.select_class(index))
        self._apply_mode()
        self.set_theme(self.theme)

    def _apply_mode(self) -> None:
        """Show the items and controls of the curve view or of the plane."""
        plane = self.plane_mode
        self.curve_view.set_visible(not plane)
        self.plane_view.set_visible(plane)
        for widget in (self.class_label, self.class_box):
            widget.setVisible(plane)
        self.paper_button.setVisible(not plane)
        self.toggles["steps"].setVisible(not plane)
        truth_text = "true boundary" if plane else "true function"
        self.toggles["truth"].setText(truth_text)
        self.toggles["truth"].setAccessibleName(f"Show {truth_text}")
        self.shots.setToolTip("How many support points of each class Sample task draws (K per class)"
                              if plane else "How many support points Sample task draws (K)")
        self.view_box.setAspectLocked(plane)
        self.plot.setToolTip(plane_view.TOOLTIP if plane else curve_view.TOOLTIP)

    # -- the model ------------------------------------------------------------------------------
    def set_model(self, checkpoint: Checkpoint | None, live: bool = False) -> bool:
        """Show adaptation of ``checkpoint``; refuses models the panel cannot draw.

        Live snapshots while the panel is hidden are kept and adapted once it is shown.
        """
        if live and not self.live_box.isChecked():
            return False
        if live and not self.isVisible():
            self._hidden_snapshot = checkpoint
            return False
        self._hidden_snapshot = None
        if checkpoint is None:
            return False
        refusal = self.session.set_model(checkpoint, live)
        if refusal:
            self.info.setText("")
            self._say(refusal)
            return False
        return True

    def clear_model(self, plane: bool = False) -> None:
        """Forget the model and everything drawn for it: another experiment was loaded.

        ``plane`` says which view the new experiment's family needs (2-D classification).
        """
        self._hidden_snapshot = None
        self.session.clear_model(plane)
        self.info.setText("")
        self._say("No model yet: press Start to train one, or open a checkpoint.")

    def _model_changed(self) -> None:
        """Another model, family or view: set up the items, frame and controls for it."""
        self.serial += 1  # results still being computed belong to the model before
        session = self.session
        if self._mode_drawn != session.plane:
            self._mode_drawn = session.plane
            self.result = None
            self._clear_curves()
            self._apply_mode()
        if session.experiment is None:
            self.result = None
            self._clear_curves()
            self._update_hint()
            return
        if session.plane:
            self._fill_class_box(session.classes)
        self._update_hint()
        if session.frame is not self._frame_fitted:
            self._frame_fitted = session.frame
            self.fit_view()
        self.request()

    def _fill_class_box(self, classes: int) -> None:
        if self.class_box.count() != classes:
            self.class_box.blockSignals(True)
            self.class_box.clear()
            for index in range(classes):
                swatch = QPixmap(12, 12)
                swatch.fill(QColor(*CLASS_COLORS[index]))
                self.class_box.addItem(QIcon(swatch), f"class {class_name(index)}", index)
            self.class_box.blockSignals(False)
        self.class_box.setCurrentIndex(self.session.chosen_class)

    def select_class(self, index: int) -> None:
        """Choose the class that left clicks add (keys 1–9)."""
        self.session.set_chosen_class(index)

    @property
    def current_class(self) -> int:
        return self.session.chosen_class

    def _setting_changed(self, name: str) -> None:
        """Show a setting the session changed, and draw or compute what it affects."""
        session = self.session
        if name == "step":
            _quietly(self.slider, self.slider.setValue, session.step)
            self.step_label.setText(str(session.step))
            self._step_changed(session.step)
        elif name == "lr":
            if abs(float(self.lr_box.value()) - session.lr) > 1e-12 * session.lr:
                _quietly(self.lr_box, self.lr_box.setValue, session.lr)
            self.request()
        elif name == "shots":
            _quietly(self.shots, self.shots.setValue, session.shots)
        elif name == "shown":
            for key, box in self.toggles.items():
                _quietly(box, box.setChecked, session.shown[key])
            self._redraw()
        elif name == "chosen_class":
            _quietly(self.class_box, self.class_box.setCurrentIndex, session.chosen_class)
        elif name == "paper":
            self._show_paper_mode(session.paper)
        elif name == "compared":
            self.curve_view.sync_runs()
            self.plane_view.sync_runs()
            self.request()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if getattr(self, "_hidden_snapshot", None) is not None:
            self.set_model(self._hidden_snapshot, live=True)

    def set_grid(self, on: bool) -> None:
        self.plot.showGrid(x=on, y=on, alpha=0.2 if on else 0)

    # -- points ---------------------------------------------------------------------------------
    def set_points(self, points: np.ndarray, record: bool = True, text: str = "Edit points",
                   **task) -> None:
        """Show ``points`` (see `AdaptationSession.set_points`)."""
        self.session.set_points(points, text=text, record=record, **task)

    def undo(self) -> bool:
        return self.session.undo()

    def redo(self) -> bool:
        return self.session.redo()

    def _points_changed(self) -> None:
        self._show_points()
        self.request()

    def _legend_columns(self, columns: int) -> None:
        """A new legend with this many columns (a legend that had more keeps their width)."""
        if self.legend.columnCount == columns:
            return
        old, plot = self.legend, self.plot.getPlotItem()
        plot.layout.removeItem(old)
        old.setParentItem(None)
        if old.scene() is not None:
            old.scene().removeItem(old)
        self.legend = legend_below(plot, columns)
        self.legend.opts.update({k: old.opts[k] for k in ("labelTextColor", "labelTextSize", "brush")})
        self._redraw()

    def _settle_panels(self) -> None:
        """Fit each panel's plot to its widget once the layout has split the space (a plot
        shrunk while the split was still changing otherwise kept a wider, clipped scene)."""
        for plot in (self.plot, self.paper_plot):
            plot.resizeEvent(QResizeEvent(plot.size(), plot.size()))

    def _copy_frame_to_paper_panel(self, *_) -> None:
        (x_low, x_high), (y_low, y_high) = self.view_box.viewRange()
        self.paper_plot.setRange(xRange=(x_low, x_high), yRange=(y_low, y_high), padding=0)

    def _place_hint(self, *_) -> None:
        (x_low, x_high), (y_low, y_high) = self.view_box.viewRange()
        self.hint.setPos((x_low + x_high) / 2, y_high - 0.04 * (y_high - y_low))  # above the curves

    def _update_hint(self) -> None:
        if self.model is None or len(self.points):
            self.hint.setText("")
            return
        self.hint.setText(plane_view.HINT if self.plane_mode else curve_view.HINT)
        self._place_hint()

    def _show_points(self) -> None:
        self._update_hint()
        self.view.show_points(self.drawn_points(), self.theme)

    # -- tasks ------------------------------------------------------------------------------------
    def sample_task(self, shots: int | None = None) -> None:
        try:
            self.session.sample_task(shots)
        except ConfigError as exc:  # task files that are not on this computer
            self._say(str(exc))

    def toggle_paper_figure(self) -> None:
        if self.paper_mode:
            self.set_paper_mode(False)
        else:
            self.paper_figure()

    def set_paper_mode(self, on: bool) -> None:
        self.session.set_paper(on)
        self.paper_button.setChecked(self.paper_mode)

    def paper_figure(self) -> None:
        """Figure 2 of the MAML paper on the current model: a sine task and 10 points."""
        if self.experiment is None:
            self.paper_button.setChecked(False)
            return
        refusal = self.session.paper_figure()
        self.paper_button.setChecked(self.paper_mode)
        if refusal:
            self._say(refusal)

    def _show_paper_mode(self, on: bool) -> None:
        """Two panels, MAML and pretrained, as the paper draws Figure 2; or back to one."""
        self.paper_button.setChecked(on)
        self.paper_plot.setVisible(on)
        QTimer.singleShot(0, self._settle_panels)
        self._legend_columns(1 if on else 2)  # a wide legend would widen the panel past its edge
        if on:
            self._copy_frame_to_paper_panel()
        self.plot.setAccessibleName("Paper figure: MAML" if on else "Adaptation plot")
        self.plot.setTitle("MAML" if on else None)
        self.set_theme(self.theme)  # the ramps of the paper, or the usual colours
        self._redraw()

    # -- computing ---------------------------------------------------------------------------------
    def request(self) -> None:
        """Ask for curves (or maps) for the current points; the newest request wins."""
        if self.experiment is None or self.model is None:
            return
        self.serial += 1
        self.worker.submit(self.view.request(self.serial))

    def _on_result(self, result: AdaptationResult | PlaneResult) -> None:
        if result.serial != self.serial:
            return  # computed for points the user has changed since
        drawn = self.result is not None and self.result.serial == result.serial and \
            not self.view.needs_request(self.result, self.session.step)
        self.result = result
        if not drawn:  # a later phase of curves already on show only adds further steps
            self._redraw()

    # -- drawing ---------------------------------------------------------------------------------
    def _step_changed(self, step: int) -> None:
        if self.view.needs_request(self.result, step):
            self.request()  # the plane computes the step on show; curves beyond those computed
            return
        self._redraw()

    def _clear_curves(self) -> None:
        self.curve_view.clear()
        self.plane_view.clear()

    def _redraw(self) -> None:
        result = self.result
        if result is None or result.serial != self.serial or \
                not isinstance(result, PlaneResult if self.plane_mode else AdaptationResult):
            return
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging fit's huge values
            status, notes = self.view.draw(result)
        if status:
            self.info.setText(f"{self._points_text()} · {status}")
            self._say("; ".join(notes))

    def _say(self, text: str) -> None:
        self.message.setText(text)
        if text:
            view = self.view_box.viewRange()
            self.message.setPos(view[0][0], view[1][1])
        self.status_changed.emit(text)

    # -- colours -------------------------------------------------------------------------------------
    def set_theme(self, theme: str) -> None:
        """Pens and brushes of the theme's palette: every curve and point legible on its background."""
        self.theme = theme
        colors = VIEW_COLORS[theme]
        self.curve_view.set_theme(theme, self._line_scale)
        self.plane_view.set_theme(theme, self._line_scale)
        self.points_item.setSize(11 * self._line_scale)
        self.points_item.setPen(pg.mkPen(colors["outline"], width=1.5))
        self.message.setColor(colors["message"])
        self.paper_plot.set_theme(theme, self._line_scale)
        self._show_points()

    def set_line_scale(self, scale: float) -> None:
        """Presentation mode: thicker lines and larger points."""
        self._line_scale = scale
        self.set_theme(self.theme)

    # -- the frame -------------------------------------------------------------------------------------
    def fit_view(self) -> None:
        """The family's frame, grown to hold every point: clicks and curves never change it."""
        frame = self.session.fitted_frame()
        if frame is None:
            return
        self.view_box.setRange(xRange=(frame.x_low, frame.x_high), yRange=(frame.y_low, frame.y_high),
                               padding=0)

    def in_frame(self, values: np.ndarray) -> np.ndarray:
        """A curve's values limited to well beyond the frame: drawn clipped, and never so large
        (a diverging fit reaches 1e36) that drawing them fails."""
        (_, _), (low, high) = self.view_box.viewRange()
        reach = 50 * max(high - low, 1e-6)
        return np.clip(values, low - reach, high + reach)

    # -- play ----------------------------------------------------------------------------------------
    def play(self) -> None:
        self._play_target = max(self.step, 1)
        self.session.set_step(0)
        self._play_timer.start()

    def _play_tick(self) -> None:
        if self.step >= self._play_target:
            self._play_timer.stop()
            return
        self.session.set_step(self.step + 1)

    def shutdown(self) -> None:
        self._play_timer.stop()
        self.worker.shutdown()


def _quietly(widget, setter, value) -> None:
    """Show a value the session holds without the widget reporting it back as a change."""
    blocked = widget.blockSignals(True)
    setter(value)
    widget.blockSignals(blocked)
