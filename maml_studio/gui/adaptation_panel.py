"""The adaptation panel: click support points, watch the model fit them after K steps.

Regression (1-D families): left click adds a point, dragging moves it, right
click (or Ctrl+click) removes it. The curves after every step come from one
computation on the adaptation thread, so the step slider only picks which one
to show.

Classification (2-D families) turns the plot into the plane: left click adds a
point of the chosen class (A unless picked otherwise, keys 1–9 pick), right
click a point of class B (of the chosen class with more than two classes),
Ctrl+click removes one and dragging moves it. The meta-learned model's class
probabilities after the chosen step are drawn as a heat map under every
model's decision boundary; the adaptation thread computes each step on demand.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QIcon,
    QKeySequence,
    QPixmap,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from maml_studio.adaptation_session import (
    LR_BOUNDS,
    MAX_SHOTS,
    MAX_STEPS,
    AdaptationSession,
    SampledTask,
)
from maml_studio.checkpoint import Checkpoint, atomic_write_bytes
from maml_studio.config import ConfigError
from maml_studio.experiment import Experiment
from maml_studio.figure_style import TRUTH, ramp, step_label
from maml_studio.gui.adaptation_worker import (
    AdaptationRequest,
    AdaptationResult,
    AdaptationThread,
    PlaneRequest,
    PlaneResult,
)
from maml_studio.gui.legend_below import legend_below
from maml_studio.gui.paper_panel import STYLES as PAPER_STYLES
from maml_studio.gui.paper_panel import PaperPanel
from maml_studio.gui.plane_drawing import CLASS_COLORS, CLASS_SYMBOLS, class_name
from maml_studio.gui.view_colors import EARLIER_STEPS_ALPHA, VIEW_COLORS
from maml_studio.view_frame import Frame
from maml_studio.view_state import AdaptationView

QUICK_STEPS = 20  # computed first; the slider's upper range (to MAX_STEPS) on demand
GRID_POINTS = 300
PICK_RADIUS_PX = 10
MAX_DRAWN_POINTS = 5_000  # more would make every redraw slow; all of them are adapted to
PLAY_INTERVAL_MS = 120
PLANE_RESOLUTION = 100  # the heat map's grid, per side

CURVES = {  # name: (legend text, colour, width, style)
    "maml": ("meta-learned", (200, 30, 50), 3.0, Qt.PenStyle.SolidLine),
    "pretrained": ("pretrained baseline", (230, 140, 30), 2.0, Qt.PenStyle.SolidLine),
    "random": ("random initialisation", (130, 130, 130), 1.5, Qt.PenStyle.SolidLine),
}


class PointViewBox(pg.ViewBox):
    """A view box whose left-drag moves a support point when it starts on one."""

    def __init__(self, panel: AdaptationPanel) -> None:
        super().__init__()
        self.panel = panel
        self._dragging: int | None = None
        self._drag_start: np.ndarray | None = None
        self.setMenuEnabled(False)

    def mouseDragEvent(self, ev, axis=None) -> None:
        if axis is not None:  # a drag on an axis pans along it: deliberate
            super().mouseDragEvent(ev, axis)
            return
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()  # the frame stays where it is
            return
        if ev.isStart():
            self._dragging = self.panel.point_near(ev.buttonDownScenePos())
            self._drag_start = self.panel.session.points.copy()
        if self._dragging is None:
            ev.ignore()  # a drag that misses every point moves nothing, the frame included
            return
        ev.accept()
        position = self.mapSceneToView(ev.scenePos())
        self.panel.session.move_point(self._dragging, position.x(), position.y())
        if ev.isFinish():
            self.panel.session.record(self._drag_start, "Move point")
            self._dragging = None


class AdaptationPanel(QWidget):
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

    # -- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.view_box = PointViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self.view_box)
        self.plot.setAccessibleName("Adaptation plot")
        self.plot.setToolTip("Left click: add a point · drag: move it · right click or "
                             "Ctrl+click: remove it")
        self.legend = legend_below(self.plot.getPlotItem(), columns=2)  # fits half a screen too
        self.view_box.disableAutoRange()  # the frame moves only when the user asks
        self.plot.getPlotItem().hideButtons()  # autorange would fit diverging curves: Fit view instead
        self.theme = "light"
        self._line_scale = 1.0
        self.truth_item = self.plot.plot([], [], pen=pg.mkPen((20, 20, 20), width=2,
                                                               style=Qt.PenStyle.DashLine))
        self.steps_item = self.plot.plot([], [], pen=pg.mkPen((200, 30, 50, 60), width=1),
                                         connect="finite")
        # Paper figure: the meta-learned model's pre-update and one-step fits in this panel
        # (its chosen step is the usual curve); the baseline's in the panel beside it.
        self.paper_items = {
            ("maml", step): self.plot.plot([], [], pen=pg.mkPen(
                CURVES["maml"][1], width=2,
                style=Qt.PenStyle.DotLine if step == 0 else Qt.PenStyle.DashLine))
            for step in (0, 1)
        }
        self.curve_items = {
            name: self.plot.plot([], [], pen=pg.mkPen(color, width=width, style=style))
            for name, (_, color, width, style) in CURVES.items()
        }
        for item in self.paper_items.values():
            item.setVisible(False)
        self.points_item = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(30, 30, 30),
                                              pen=pg.mkPen("w", width=1.5))
        self.points_item.setZValue(10)
        self.plot.addItem(self.points_item)
        self._build_plane_items()
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

        controls = QHBoxLayout()
        self.sample_button = self._button("Sample task", "Sample task", self.sample_task,
                                          "Draw a random task from the family and K points from it")
        self.shots = QSpinBox()
        self.shots.setRange(1, MAX_SHOTS)
        self.shots.setValue(self.session.shots)
        self.shots.valueChanged.connect(self.session.set_shots)
        self.shots.setAccessibleName("Sampled points")
        self.shots.setToolTip("How many support points Sample task draws (K)")
        self.clear_button = self._button("Clear", "Clear points", self.session.clear_points,
                                         "Remove every support point")
        self.fit_button = self._button("Fit view", "Fit view", self.fit_view,
                                       "Show the family's frame and every point (or double click "
                                       "the plot); the wheel zooms, dragging the axes pans")
        self.paper_button = self._button("Paper figure", "Paper figure", self.toggle_paper_figure,
                                         "The MAML paper's Figure 2: a sine task, 10 points, the "
                                         "models after 0, 1 and 10 steps")
        self.paper_button.setCheckable(True)
        self.play_button = self._button("Play", "Play adaptation", self.play,
                                        "Animate the adaptation from step 0 to the chosen step")
        controls.addWidget(self.sample_button)
        controls.addWidget(QLabel("K"))
        controls.addWidget(self.shots)
        self.class_label = QLabel("Class")
        self.class_box = QComboBox()
        self.class_box.setAccessibleName("Point class")
        self.class_box.setToolTip("Class of the points a left click adds (keys 1–9 choose)")
        self.class_box.currentIndexChanged.connect(
            lambda index: self.session.set_chosen_class(index) if index >= 0 else None)
        controls.addWidget(self.class_label)
        controls.addWidget(self.class_box)
        controls.addWidget(self.clear_button)
        controls.addWidget(self.fit_button)
        controls.addWidget(self.paper_button)
        controls.addStretch(1)
        layout.addLayout(controls)
        controls = QHBoxLayout()  # the steps on a row of their own: the slider keeps its length
        controls.addWidget(QLabel("Steps"))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, MAX_STEPS)
        self.slider.setValue(self.session.step)
        self.slider.setAccessibleName("Adaptation steps")
        self.slider.setToolTip("Gradient steps taken on the support points")
        self.slider.valueChanged.connect(self.session.set_step)
        controls.addWidget(self.slider, 1)
        self.step_label = QLabel(str(self.session.step))
        self.step_label.setMinimumWidth(30)
        self.step_label.setAccessibleName("Shown step")
        controls.addWidget(self.step_label)
        controls.addWidget(self.play_button)
        controls.addWidget(QLabel("α"))
        self.lr_box = pg.SpinBox(value=self.session.lr, bounds=LR_BOUNDS, dec=True, step=0.5,
                                 minStep=1e-6, decimals=4, compactHeight=False)
        self.lr_box.setAccessibleName("Adaptation learning rate")
        self.lr_box.setToolTip("Inner learning rate used to adapt (Meta-SGD scales its learned "
                               "rates by this over its training rate)")
        self.lr_box.setMinimumWidth(80)
        self.lr_box.sigValueChanged.connect(lambda box: self.session.set_lr(float(box.value())))
        controls.addWidget(self.lr_box)
        layout.addLayout(controls)

        toggles = QHBoxLayout()
        self.toggles = {}
        for key, text in (("maml", "meta-learned"), ("steps", "earlier steps"),
                          ("pretrained", "pretrained baseline"), ("random", "random init"),
                          ("truth", "true function")):
            box = QCheckBox(text)
            box.setChecked(self.session.shown[key])
            box.setAccessibleName(f"Show {text}")
            box.toggled.connect(lambda on, key=key: self.session.set_shown({key: on}))
            toggles.addWidget(box)
            self.toggles[key] = box
        self.live_box = QCheckBox("Live: follow training")
        self.live_box.setChecked(True)
        self.live_box.setAccessibleName("Follow training live")
        self.live_box.setToolTip("While training runs, re-adapt with every new parameter snapshot")
        toggles.addWidget(self.live_box)
        toggles.addStretch(1)
        layout.addLayout(toggles)
        self.info = QLabel("")
        self.info.setAccessibleName("Adaptation status")
        self.info.setWordWrap(True)
        layout.addWidget(self.info)

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

    def _build_plane_items(self) -> None:
        """The plane's items: heat map, boundaries, the task's truth and query points."""
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setZValue(-10)
        self.plot.addItem(self.heat_item)
        self.boundary_items = {
            name: self.plot.plot([], [], connect="finite", pen=pg.mkPen(
                color, width=width + 0.5,
                style=Qt.PenStyle.SolidLine if name == "maml" else Qt.PenStyle.DashLine))
            for name, (_, color, width, _style) in CURVES.items()
        }
        self.truth_boundary_item = self.plot.plot([], [], connect="finite", pen=pg.mkPen(
            (20, 20, 20), width=2, style=Qt.PenStyle.DotLine))
        self.query_item = pg.ScatterPlotItem(size=6)
        self.query_item.setZValue(5)
        self.plot.addItem(self.query_item)
        # Legend samples of the classes (not drawn in the plot).
        self.class_samples = [pg.ScatterPlotItem(size=10, symbol=CLASS_SYMBOLS[c],
                                                 brush=pg.mkBrush(*CLASS_COLORS[c]),
                                                 pen=pg.mkPen("w", width=1.5))
                              for c in range(len(CLASS_COLORS))]

    def _apply_mode(self) -> None:
        """Show the items and controls of the curve view or of the plane."""
        plane = self.plane_mode
        for item in (*self.curve_items.values(), self.steps_item, self.truth_item):
            item.setVisible(not plane)
        for item in self.paper_items.values():
            item.setVisible(False)
        for item in (self.heat_item, *self.boundary_items.values(), self.truth_boundary_item,
                     self.query_item):
            item.setVisible(plane)
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
        if plane:
            self.plot.setToolTip("Left click: add a point of the chosen class (A unless chosen) · "
                                 "right click: add a point of class B, or remove the point under "
                                 "the mouse · drag: move · Ctrl+click: remove · keys 1–9: choose "
                                 "the class")
        else:
            self.plot.setToolTip("Left click: add a point · drag: move it · right click or "
                                 "Ctrl+click: remove it")

    def _button(self, text, name, slot, tip) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

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
        self._rebuild_legend()

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
        self.hint.setText(
            "Left click: a point of class A · right click: class B · Sample task draws a task"
            if self.plane_mode else
            "Click to add support points · Sample task draws a task · Paper figure: Finn et al.'s Figure 2")
        self._place_hint()

    def _show_points(self) -> None:
        self._update_hint()
        shown = self.drawn_points()
        if not self.plane_mode:
            self.points_item.setData(shown[:, 0], shown[:, 1],
                                     brush=pg.mkBrush(*VIEW_COLORS[self.theme]["points"]),
                                     symbol="o")
            return
        labels = shown[:, 2].astype(int)
        brushes = [pg.mkBrush(*color) for color in CLASS_COLORS]
        self.points_item.setData(shown[:, 0], shown[:, 1], brush=[brushes[c] for c in labels],
                                 symbol=[CLASS_SYMBOLS[c] for c in labels])

    def drawn_points(self) -> np.ndarray:
        """The points drawn: all of them, or an even selection of MAX_DRAWN_POINTS when more
        (every point is still adapted to; the status line says how many are drawn)."""
        if len(self.points) <= MAX_DRAWN_POINTS:
            return self.points
        keep = np.linspace(0, len(self.points) - 1, MAX_DRAWN_POINTS).astype(int)
        return self.points[keep]

    def _points_text(self) -> str:
        count = len(self.points)
        if count <= MAX_DRAWN_POINTS:
            return f"{count:,} points"
        return f"{count:,} points ({MAX_DRAWN_POINTS:,} drawn)"

    def add_point(self, x: float, y: float, label: int | None = None) -> None:
        self.session.add_point(x, y, label)

    def remove_point(self, index: int) -> None:
        self.session.remove_point(index)

    def clear_points(self) -> None:
        self.session.clear_points()

    def point_near(self, scene_pos: QPointF) -> int | None:
        """Index of the support point within a few pixels of ``scene_pos``."""
        if not len(self.points):
            return None
        # The view's mapping is a scale and a shift per axis: applied to every point at once.
        view = self.view_box
        origin, unit_x, unit_y = (view.mapViewToScene(QPointF(*p)) for p in ((0, 0), (1, 0), (0, 1)))
        scene_x = origin.x() + self.points[:, 0] * (unit_x.x() - origin.x())
        scene_y = origin.y() + self.points[:, 1] * (unit_y.y() - origin.y())
        distance = np.hypot(scene_x - scene_pos.x(), scene_y - scene_pos.y())
        index = int(distance.argmin())
        return index if distance[index] <= PICK_RADIUS_PX else None

    def _clicked(self, event) -> None:
        # The support-point scatter accepts clicks on its points; every other click that
        # lands in the data area belongs to the panel too (the legend lies below it).
        position = event.scenePos()
        if self.experiment is None or not self.view_box.sceneBoundingRect().contains(position):
            return
        near = self.point_near(event.scenePos())
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if self.plane_mode and not ctrl:
            if event.button() == Qt.MouseButton.LeftButton and near is None:
                position = self.view_box.mapSceneToView(event.scenePos())
                self.add_point(position.x(), position.y())
            elif event.button() == Qt.MouseButton.RightButton and near is not None:
                self.remove_point(near)  # as in the curve view
            elif event.button() == Qt.MouseButton.RightButton:
                position = self.view_box.mapSceneToView(event.scenePos())
                binary = self.experiment.family.num_classes == 2
                self.add_point(position.x(), position.y(), 1 if binary else None)
            event.accept()
            return
        if event.button() == Qt.MouseButton.RightButton or ctrl:
            if near is not None:
                self.remove_point(near)
            event.accept()
        elif event.button() == Qt.MouseButton.LeftButton and near is None:
            position = self.view_box.mapSceneToView(event.scenePos())
            self.add_point(position.x(), position.y())
            event.accept()

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
        """Ask for curves for the current points; the newest request wins."""
        if self.experiment is None or self.model is None:
            return
        self.serial += 1
        family = self.experiment.family
        if self.plane_mode:
            task = self.task
            self.worker.submit(PlaneRequest(
                self.serial, self.session.models(), family, self.points[:, :2].copy(),
                self.points[:, 2].copy(), self.step, self.session.lr, PLANE_RESOLUTION,
                task.params if task else None, task.query_x if task else None,
                task.query_y if task else None))
            return
        low, high = family.x_range
        if len(self.points):
            low, high = min(low, self.points[:, 0].min()), max(high, self.points[:, 0].max())
        self.grid = np.linspace(low, high, GRID_POINTS)
        self.worker.submit(AdaptationRequest(
            self.serial, self.session.models(), self.points[:, 0].copy(), self.points[:, 1].copy(),
            self.grid.copy(), QUICK_STEPS if self.step <= QUICK_STEPS else MAX_STEPS,
            self.session.lr))

    def _on_result(self, result: AdaptationResult | PlaneResult) -> None:
        if result.serial != self.serial:
            return  # computed for points the user has changed since
        self.result = result
        self._redraw()

    # -- drawing ---------------------------------------------------------------------------------
    def _step_changed(self, step: int) -> None:
        if self.plane_mode:
            self.request()  # the plane computes the step on show
            return
        if self.result is not None and step >= self.result.curves["maml"].shape[0]:
            self.request()  # beyond the steps computed so far: compute up to MAX_STEPS
            return
        self._redraw()

    def _clear_curves(self) -> None:
        for item in (*self.curve_items.values(), *self.paper_items.values(), self.steps_item,
                     self.truth_item, *self.boundary_items.values(), self.truth_boundary_item):
            item.setData([], [])
        self.heat_item.clear()
        self.query_item.setData([], [])

    def _redraw(self) -> None:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging fit's huge values
            self._draw()

    def _draw(self) -> None:
        if self.plane_mode:
            if isinstance(self.result, PlaneResult) and self.result.serial == self.serial:
                self._draw_plane(self.result)
            return
        result, step = self.result, self.step
        if not isinstance(result, AdaptationResult) or result.serial != self.serial or \
                step >= result.curves["maml"].shape[0]:
            return
        truth = self._truth()
        self.truth_item.setData(self.grid if truth is not None else [],
                                truth if truth is not None else [])
        self.truth_item.setVisible(self.session.shown["truth"])
        notes = []
        for name, item in self.curve_items.items():
            curves = result.curves.get(name)
            if curves is None:
                item.setData([], [])
                continue
            shown, diverged = self._finite_step(name, step)
            if diverged is not None:
                notes.append(f"{CURVES[name][0]} diverged at step {diverged}")
            item.setData(self.grid, self._in_frame(curves[shown]))
            item.setVisible(self.session.shown[name])
            label = f"{CURVES[name][0]}, {shown} step{'s' if shown != 1 else ''}"
            if truth is not None:
                label += f"  (MSE {np.mean((curves[shown] - truth) ** 2):.3f})"
            item.legend_text = label
        self._draw_earlier_steps(step)
        self._draw_paper_curves(truth)
        self._rebuild_legend()
        description = f"task: {self.task.description}" if self.task else "your points"
        latency = f"{1000 * result.seconds:.0f} ms"
        self.info.setText(f"{self._points_text()} · {description} · curves in {latency}")
        self._say("; ".join(notes))

    def _draw_plane(self, result: PlaneResult) -> None:
        """The heat map of the first model on show, every model's boundary, the truth."""
        family = self.experiment.family
        low, high = family.x_range
        half = (high - low) / (PLANE_RESOLUTION - 1) / 2  # pixel centres on the grid points
        shown_models = [n for n in CURVES if n in result.images and self.session.shown[n]]
        if shown_models:
            self.heat_item.setImage(result.images[shown_models[0]], autoLevels=False)
            self.heat_item.setRect(QRectF(low - half, low - half, high - low + 2 * half,
                                          high - low + 2 * half))
        self.heat_item.setVisible(bool(shown_models))
        notes, labels = [], {}
        for name, item in self.boundary_items.items():
            if name not in result.boundaries:
                item.setData([], [])
                continue
            item.setData(*result.boundaries[name])
            item.setVisible(self.session.shown[name])
            diverged = result.diverged_at.get(name)
            shown = result.step if diverged is None or result.step < diverged else max(diverged - 1, 0)
            if diverged is not None and result.step >= diverged:
                notes.append(f"{CURVES[name][0]} diverged at step {diverged}")
            labels[name] = f"{CURVES[name][0]}, {shown} step{'s' if shown != 1 else ''}" + \
                self._accuracy_text(result, name, shown)
        show_truth = self.session.shown["truth"] and result.truth_boundary is not None
        self.truth_boundary_item.setData(*(result.truth_boundary if show_truth else ([], [])))
        task = self.task
        if show_truth and task is not None and task.query_x is not None:
            query_labels = task.query_y.astype(int)
            self.query_item.setData(task.query_x[:, 0], task.query_x[:, 1],
                                    brush=[pg.mkBrush(*CLASS_COLORS[c], 90) for c in query_labels],
                                    symbol=[CLASS_SYMBOLS[c] for c in query_labels], pen=None)
        else:
            self.query_item.setData([], [])
        entries = [(self.truth_boundary_item, "true boundary")] if show_truth else []
        entries += [(item, labels[name]) for name, item in self.boundary_items.items()
                    if name in labels and item.isVisible()]
        classes, counts = np.unique(self.points[:, 2].astype(int), return_counts=True)
        for cls, count in zip(classes.tolist(), counts.tolist(), strict=True):
            entries.append((self.class_samples[cls],
                            f"class {class_name(cls)}: {count} point{'s' if count != 1 else ''}"))
        self._set_legend(entries)
        description = f"task: {self.task.description}" if self.task else "your points"
        heat = f"heat map: {CURVES[shown_models[0]][0]}" if shown_models else "no heat map"
        self.info.setText(f"{self._points_text()} · {description} · {heat} · "
                          f"maps in {1000 * result.seconds:.0f} ms")
        self._say("; ".join(notes))

    def _set_legend(self, entries: list[tuple]) -> None:
        """Show these legend entries; only relabel when the same items are on show (cheaper)."""
        current = self.legend.items
        if [id(item) for item, _ in entries] == [id(sample.item) for sample, _ in current]:
            for (_, text), (_, label) in zip(entries, current, strict=True):
                if label.text != text:
                    label.setText(text)
            return
        self.legend.clear()
        for item, text in entries:
            self.legend.addItem(item, text)

    def _accuracy_text(self, result: PlaneResult, name: str, step: int) -> str:
        """Query accuracy of a sampled task, else how many support points the model gets right."""
        if result.query_accuracy is not None:
            return f"  (query accuracy {100 * result.query_accuracy[name][step]:.0f}%)"
        support = result.support_accuracy[name][step]
        if len(self.points) == 0 or not np.isfinite(support):
            return ""
        right = round(float(support) * len(self.points))
        return f"  ({right} of {len(self.points)} points right)"

    def plane_result(self) -> PlaneResult:
        """The maps for the points and step on show; an error while they are being computed."""
        result = self.result
        if not isinstance(result, PlaneResult) or result.serial != self.serial:
            raise RuntimeError("the maps for the current points are still being computed")
        return result

    def _finite_step(self, name: str, step: int) -> tuple[int, int | None]:
        diverged = self.result.diverged_at.get(name)
        if diverged is not None and step >= diverged:
            return diverged - 1, diverged
        return step, None

    def _draw_earlier_steps(self, step: int) -> None:
        curves = self.result.curves["maml"]
        if step == 0 or not self.session.shown["steps"]:
            self.steps_item.setData([], [])
            return
        shown = [s for s in range(step) if np.isfinite(curves[s]).all()]
        x = np.concatenate([np.append(self.grid, np.nan) for _ in shown])
        y = np.concatenate([np.append(self._in_frame(curves[s]), np.nan) for s in shown])
        self.steps_item.setData(x, y)

    def _draw_paper_curves(self, truth) -> None:
        """In paper mode: the meta-learned fits here, the baseline's in the panel beside."""
        for (name, step), item in self.paper_items.items():
            curves = self.result.curves.get(name)
            visible = self.paper_mode and curves is not None
            item.setVisible(visible)
            if visible:
                item.setData(self.grid, self._in_frame(curves[step]))
                item.legend_text = _paper_label(step, curves[step], truth)
        if not self.paper_mode:
            return
        for name in ("pretrained", "random"):
            self.curve_items[name].setVisible(False)
        shown, _ = self._finite_step("maml", self.step)
        self.curve_items["maml"].legend_text = _paper_label(
            shown, self.result.curves["maml"][shown], truth)
        baseline = self.result.curves.get("pretrained")
        fits = []
        for step in (0, 1, self.step):
            if baseline is None:
                fits.append((step, None))
                continue
            finite, _ = self._finite_step("pretrained", step)
            fits.append((finite, self._in_frame(baseline[finite])))
        self.paper_plot.draw(self.grid, truth, self.points, fits)

    def _rebuild_legend(self) -> None:
        """Legend entries for the curves on show, with their current labels."""
        self.legend.clear()
        entries = [(self.truth_item, "true function"), (self.steps_item, "earlier steps"),
                   *[(item, getattr(item, "legend_text", "")) for item in self.paper_items.values()],
                   *[(item, getattr(item, "legend_text", "")) for item in self.curve_items.values()]]
        for item, text in entries:
            has_data = item.getData()[0] is not None and len(item.getData()[0])
            if item.isVisible() and has_data:
                self.legend.addItem(item, text)
        if len(self.points):
            self.legend.addItem(self.points_item, "support points")

    def legend_texts(self) -> list[str]:
        return [label.text for _, label in self.legend.items]

    def _truth(self) -> np.ndarray | None:
        return self.session.truth(self.grid)

    def current_result(self) -> AdaptationResult:
        """The result for the points on show; an error while it is still being computed."""
        if self.result is None or self.result.serial != self.serial:
            raise RuntimeError("the curves for the current points are still being computed")
        return self.result

    def curve(self, name: str, step: int | None = None) -> np.ndarray:
        """The predictions of a curve at the grid after ``step`` steps (default: the shown one)."""
        return self.current_result().curves[name][self.step if step is None else step]

    def support_error(self, name: str, step: int) -> float:
        """Mean squared distance of a curve to the support points after ``step`` steps."""
        predictions = self.current_result().support_predictions[name][step]
        return float(np.mean((predictions - self.points[:, 1]) ** 2))

    def _say(self, text: str) -> None:
        self.message.setText(text)
        if text:
            view = self.view_box.viewRange()
            self.message.setPos(view[0][0], view[1][1])
        self.status_changed.emit(text)

    # -- sessions ------------------------------------------------------------------------------------
    def view_state(self) -> dict:
        """The points, sampled task and settings on show, as JSON-ready values for a session."""
        return self.session.view_state()

    def check_view(self, state: dict, experiment: Experiment | None = None) -> AdaptationView:
        """A session's view checked whole for ``experiment`` (default: the shown one)."""
        return self.session.check_view(state, experiment)

    def restore_view(self, state: dict) -> bool:
        """Show a session's points and settings; a state that does not fit the model is ignored.

        The state is checked whole first: one that is refused changes nothing.
        """
        if self.experiment is None:
            return False
        try:
            self.session.restore_view(state)
        except ValueError as exc:
            self._say(f"The session's adaptation points could not be restored ({exc}).")
            return False
        self.fit_view()  # every restored point in sight
        return True

    # -- colours -------------------------------------------------------------------------------------
    def set_theme(self, theme: str) -> None:
        """Pens and brushes of the theme's palette: every curve and point legible on its background."""
        self.theme = theme
        colors = VIEW_COLORS[theme]
        for name, item in self.curve_items.items():
            _, _, width, style = CURVES[name]
            item.setPen(pg.mkPen(colors[name], width=width * self._line_scale, style=style))
        for name, item in self.boundary_items.items():
            _, _, width, _ = CURVES[name]
            style = Qt.PenStyle.SolidLine if name == "maml" else Qt.PenStyle.DashLine
            item.setPen(pg.mkPen(colors[name], width=(width + 0.5) * self._line_scale, style=style))
        for (name, step), item in self.paper_items.items():
            item.setPen(pg.mkPen(colors[name], width=2 * self._line_scale, style=PAPER_STYLES[step]))
        self.steps_item.setPen(pg.mkPen((*colors["maml"], EARLIER_STEPS_ALPHA), width=1))
        self.truth_item.setPen(pg.mkPen(colors["truth"], width=2 * self._line_scale,
                                        style=Qt.PenStyle.DashLine))
        self.truth_boundary_item.setPen(pg.mkPen(colors["truth"], width=2 * self._line_scale,
                                                 style=Qt.PenStyle.DotLine))
        self.points_item.setSize(11 * self._line_scale)
        self.points_item.setPen(pg.mkPen(colors["outline"], width=1.5))
        if not self.plane_mode:
            self.points_item.setBrush(pg.mkBrush(*colors["points"]))
        self.message.setColor(colors["message"])
        if self.paper_mode:  # one colour ramp per model, as the paper draws it
            ramp_colors = ramp("maml", theme, 3)
            for (_, step), item in self.paper_items.items():
                item.setPen(pg.mkPen(ramp_colors[step], width=2.5 * self._line_scale,
                                     style=PAPER_STYLES[step]))
            self.curve_items["maml"].setPen(pg.mkPen(ramp_colors[2], width=3 * self._line_scale))
            # The truth in blue, as exported figures draw it: apart from both ramps' strongest fits.
            self.truth_item.setPen(pg.mkPen(TRUTH[theme], width=2 * self._line_scale,
                                            style=Qt.PenStyle.DashLine))
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

    def _in_frame(self, values: np.ndarray) -> np.ndarray:
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

    # -- files ---------------------------------------------------------------------------------------
    def import_points(self, path) -> None:
        self.apply_imported_points(self.points_reader(path)())

    def points_reader(self, path):
        """A function that reads ``path`` into this view's point array, safe off the GUI thread."""
        return self.session.points_reader(path)

    def apply_imported_points(self, points: np.ndarray) -> None:
        self.session.apply_imported_points(points)

    def export_predictions(self, path) -> None:
        if self.plane_mode:
            self._export_plane(path)
            return
        self.current_result()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        names = [n for n in CURVES if n in self.result.curves]
        truth = self._truth()
        writer.writerow(["x", *[f"{n}_step{self._finite_step(n, self.step)[0]}" for n in names],
                         *(["truth"] if truth is not None else [])])
        columns = [self.result.curves[n][self._finite_step(n, self.step)[0]] for n in names]
        if truth is not None:
            columns.append(truth)
        for i, x in enumerate(self.grid):
            writer.writerow([f"{x:.7g}", *[f"{c[i]:.7g}" for c in columns]])
        atomic_write_bytes(path, out.getvalue().encode())

    def _export_plane(self, path) -> None:
        """Class probabilities of every model on the plane's grid after the step on show."""
        result = self.plane_result()
        family = self.experiment.family
        grid = family.plane(PLANE_RESOLUTION).numpy()
        names = [n for n in CURVES if n in result.probabilities]
        classes = family.num_classes
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        # The command line's columns: the predicted class y, then p0 … p(N−1), per model.
        writer.writerow(["x1", "x2", *[f"{n}_step{result.step}_{column}" for n in names
                                       for column in ["y", *[f"p{c}" for c in range(classes)]]]])
        flat = {n: result.probabilities[n].reshape(-1, classes) for n in names}
        for i, (x1, x2) in enumerate(grid):
            row = []
            for n in names:
                row += [str(int(flat[n][i].argmax())), *[f"{p:.5g}" for p in flat[n][i]]]
            writer.writerow([f"{x1:.7g}", f"{x2:.7g}", *row])
        atomic_write_bytes(path, out.getvalue().encode())

    def shutdown(self) -> None:
        self._play_timer.stop()
        self.worker.shutdown()


def _quietly(widget, setter, value) -> None:
    """Show a value the session holds without the widget reporting it back as a change."""
    blocked = widget.blockSignals(True)
    setter(value)
    widget.blockSignals(blocked)


def _paper_label(step: int, values: np.ndarray, truth: np.ndarray | None) -> str:
    """The paper's words for a fit ("pre-update", "1 grad step"), with its MSE when known."""
    label = step_label(step)
    if truth is not None:
        label += f"  (MSE {np.mean((values - truth) ** 2):.3f})"
    return label
