"""The adaptation panel's view of a 2-D classification family: the plane.

One of the panel's two views over its `AdaptationSession` (the other draws
1-D regression curves). The meta-learned model's class probabilities after the
chosen step are a heat map under every model's decision boundary; each compared
run adds its boundary in the run's colour; a sampled task adds its true boundary
and its query points. The adaptation thread computes the step on show.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt

from maml_studio.adaptation_jobs import PlaneRequest, PlaneResult
from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.gui.legend_below import show_entries, sync_run_items
from maml_studio.gui.view_colors import MODEL_CURVES, VIEW_COLORS
from maml_studio.plane_maps import CLASS_COLORS, CLASS_SYMBOLS, class_name

PLANE_RESOLUTION = 100  # the heat map's grid, per side
TOOLTIP = ("Left click: add a point of the chosen class (A unless chosen) · right click: add a "
           "point of class B, or remove the point under the mouse · drag: move · Ctrl+click: "
           "remove · keys 1–9: choose the class")
HINT = "Left click: a point of class A · right click: class B · Sample task draws a task"


class PlaneView:
    def __init__(self, panel) -> None:
        self.panel, self.session = panel, panel.session
        plot = panel.plot
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setZValue(-10)
        plot.addItem(self.heat_item)
        self.boundary_items = {name: plot.plot([], [], connect="finite") for name in MODEL_CURVES}
        self.run_items: dict[str, pg.PlotDataItem] = {}  # compared runs' boundaries, by model key
        self._scale = 1.0
        self.truth_boundary_item = plot.plot([], [], connect="finite")
        self.query_item = pg.ScatterPlotItem(size=6)
        self.query_item.setZValue(5)
        plot.addItem(self.query_item)
        # Legend samples of the classes (not drawn in the plot).
        self.class_samples = [pg.ScatterPlotItem(size=10, symbol=CLASS_SYMBOLS[c],
                                                 brush=pg.mkBrush(*CLASS_COLORS[c]),
                                                 pen=pg.mkPen("w", width=1.5))
                              for c in range(len(CLASS_COLORS))]

    @property
    def items(self) -> list:
        return [self.heat_item, *self.boundary_items.values(), *self.run_items.values(),
                self.truth_boundary_item, self.query_item]

    def sync_runs(self) -> None:
        """One boundary per compared run, in the run's colour; gone when the run is not shown."""
        sync_run_items(self.panel.plot, self.run_items, self.session.compared, 2.5 * self._scale,
                       visible=self.session.plane, connect="finite")

    def set_visible(self, on: bool) -> None:
        for item in self.items:
            item.setVisible(on)

    def clear(self) -> None:
        for item in (*self.boundary_items.values(), *self.run_items.values(),
                     self.truth_boundary_item, self.query_item):
            item.setData([], [])
        self.heat_item.clear()

    # -- computing ------------------------------------------------------------------------------
    def request(self, serial: int) -> PlaneRequest:
        session, points, task = self.session, self.session.points, self.session.task
        return PlaneRequest(
            serial, session.models(), session.experiment.family, points[:, :2].copy(),
            points[:, 2].copy(), session.step, session.lr, PLANE_RESOLUTION,
            task.params if task else None, task.query_x if task else None,
            task.query_y if task else None)

    def needs_request(self, result, step: int) -> bool:
        return True  # the plane computes the maps of the step on show

    # -- drawing ------------------------------------------------------------------------------------
    def draw(self, result: PlaneResult) -> tuple[str, list[str]]:
        """The heat map of the first model on show, every model's boundary, the truth."""
        session = self.session
        low, high = session.experiment.family.x_range
        half = (high - low) / (PLANE_RESOLUTION - 1) / 2  # pixel centres on the grid points
        shown_models = [n for n in MODEL_CURVES if n in result.images and session.shown[n]]
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
            item.setVisible(session.shown[name])
            labels[name] = self._label(result, name, MODEL_CURVES[name][0], notes)
        for run in session.compared:
            item = self.run_items.get(run.key)
            if item is None or run.key not in result.boundaries:
                continue
            item.setData(*result.boundaries[run.key])
            labels[run.key] = self._label(result, run.key, run.name, notes)
        show_truth = session.shown["truth"] and result.truth_boundary is not None
        self.truth_boundary_item.setData(*(result.truth_boundary if show_truth else ([], [])))
        task = session.task
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
        entries += [(item, labels[key]) for key, item in self.run_items.items() if key in labels]
        classes, counts = np.unique(session.points[:, 2].astype(int), return_counts=True)
        for cls, count in zip(classes.tolist(), counts.tolist(), strict=True):
            entries.append((self.class_samples[cls],
                            f"class {class_name(cls)}: {count} point{'s' if count != 1 else ''}"))
        show_entries(self.panel.legend, entries)
        description = f"task: {task.description}" if task else "your points"
        heat = f"heat map: {MODEL_CURVES[shown_models[0]][0]}" if shown_models else "no heat map"
        return f"{description} · {heat} · maps in {1000 * result.seconds:.0f} ms", notes

    def _label(self, result: PlaneResult, name: str, title: str, notes: list[str]) -> str:
        """A boundary's legend text: its step (the last finite one) and accuracy."""
        diverged = result.diverged_at.get(name)
        shown = result.step if diverged is None or result.step < diverged else max(diverged - 1, 0)
        if diverged is not None and result.step >= diverged:
            notes.append(f"{title} diverged at step {diverged}")
        return f"{title}, {shown} step{'s' if shown != 1 else ''}" + \
            self._accuracy_text(result, name, shown)

    def _accuracy_text(self, result: PlaneResult, name: str, step: int) -> str:
        """Query accuracy of a sampled task, else how many support points the model gets right."""
        if result.query_accuracy is not None:
            return f"  (query accuracy {100 * result.query_accuracy[name][step]:.0f}%)"
        support, count = result.support_accuracy[name][step], len(self.session.points)
        if count == 0 or not np.isfinite(support):
            return ""
        return f"  ({round(float(support) * count)} of {count} points right)"

    def show_points(self, shown: np.ndarray, theme: str) -> None:
        labels = shown[:, 2].astype(int)
        brushes = [pg.mkBrush(*color) for color in CLASS_COLORS]
        self.panel.points_item.setData(shown[:, 0], shown[:, 1], brush=[brushes[c] for c in labels],
                                       symbol=[CLASS_SYMBOLS[c] for c in labels])

    def set_theme(self, theme: str, scale: float) -> None:
        colors = VIEW_COLORS[theme]
        self._scale = scale
        self.sync_runs()
        for name, item in self.boundary_items.items():
            style = Qt.PenStyle.SolidLine if name == "maml" else Qt.PenStyle.DashLine
            item.setPen(pg.mkPen(colors[name], width=(MODEL_CURVES[name][1] + 0.5) * scale,
                                 style=style))
        self.truth_boundary_item.setPen(pg.mkPen(colors["truth"], width=2 * scale,
                                                 style=Qt.PenStyle.DotLine))

    # -- clicks -------------------------------------------------------------------------------------
    def clicked(self, button, ctrl: bool, near: int | None, position) -> bool:
        """Left click: a point of the chosen class; right click: class B (or the chosen class
        with more than two), or removes the point under the mouse; Ctrl+click removes."""
        session = self.session
        if ctrl or (button == Qt.MouseButton.RightButton and near is not None):
            if near is not None:
                session.remove_point(near)
            return True
        if button == Qt.MouseButton.LeftButton and near is None:
            session.add_point(position.x(), position.y())
        elif button == Qt.MouseButton.RightButton:
            session.add_point(position.x(), position.y(), 1 if session.classes == 2 else None)
        return True

    # -- reading results ----------------------------------------------------------------------------
    def export(self, result: PlaneResult, path) -> None:
        """Class probabilities of every model on the plane's grid after the step on show."""
        family = self.session.experiment.family
        grid = family.plane(PLANE_RESOLUTION).numpy()
        names = [n for n in MODEL_CURVES if n in result.probabilities] + \
            [run.key for run in self.session.compared if run.key in result.probabilities]
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
