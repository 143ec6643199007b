"""The mouse wheel scrolls the form; it edits a field only when that field has focus.

Without this, turning the wheel over the Experiment panel changes whichever spin box
or drop-down list passes under the pointer. The filter sits on the guarded fields
only (an application-wide filter would run Python for every event of the app).
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QComboBox, QWidget

_GUARDED_PROPERTY = "maml_wheel_guarded"


class WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or watched.hasFocus():
            return False
        area = _scroll_area_of(watched)
        if area is not None:  # scroll the form instead, as if the field were not there
            QCoreApplication.sendEvent(area.verticalScrollBar(), event)
        return True


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QAbstractScrollArea):
        parent = parent.parentWidget()
    return parent


def guard_wheel_in(root: QWidget) -> None:
    """Guard every spin box and drop-down list under ``root`` (again after rows are added)."""
    guard = root.findChild(WheelGuard)
    if guard is None:
        guard = WheelGuard(root)
    for widget in [*root.findChildren(QAbstractSpinBox), *root.findChildren(QComboBox)]:
        if QObject.property(widget, _GUARDED_PROPERTY):  # QObject's: pyqtgraph's SpinBox overrides it
            continue
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a wheel turn must not give focus
        widget.installEventFilter(guard)
        QObject.setProperty(widget, _GUARDED_PROPERTY, True)
