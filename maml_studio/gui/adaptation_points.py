"""Support points in the adaptation panel: where the pointer adds, picks and drags them,
how many are drawn, and points read from files. A mixin of `AdaptationPanel`; every
change goes through its `AdaptationSession`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt

if TYPE_CHECKING:
    from maml_studio.gui.adaptation_panel import AdaptationPanel

PICK_RADIUS_PX = 10
MAX_DRAWN_POINTS = 5_000  # more would make every redraw slow; all of them are adapted to


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


class PointEditing:
    """Adding, picking, moving and importing support points."""

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
        near = self.point_near(position)
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if self.view.clicked(event.button(), ctrl, near, self.view_box.mapSceneToView(position)):
            event.accept()

    # -- files ---------------------------------------------------------------------------------------
    def import_points(self, path) -> None:
        self.apply_imported_points(self.points_reader(path)())

    def points_reader(self, path):
        """A function that reads ``path`` into this view's point array, safe off the GUI thread."""
        return self.session.points_reader(path)

    def apply_imported_points(self, points: np.ndarray) -> None:
        self.session.apply_imported_points(points)
