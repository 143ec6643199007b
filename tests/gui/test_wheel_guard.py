"""The wheel over an unfocused field scrolls the form and changes nothing."""

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import by_name


def turn_wheel(widget, notches: int) -> None:
    centre = QPointF(widget.rect().center())
    for _ in range(abs(notches)):
        event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                            QPoint(0, 120 if notches > 0 else -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)


def test_the_wheel_over_an_unfocused_field_changes_nothing(window, qtbot):
    panel = window.experiment_panel
    family = by_name(window, "Task family")
    family.setCurrentIndex(family.findData("multimodal"))
    config_before = panel.config()
    curvature = next(row.low for name, row in panel.task_editor.range_rows.items() if "quadratic" in name)
    inner_lr = panel.editors["algorithm.inner_lr"].widget
    iterations = panel.editors["training.iterations"].widget
    for field in (curvature, inner_lr, iterations, family):
        assert not field.hasFocus()
        turn_wheel(field, -10)
        assert not field.hasFocus()  # and the wheel did not give it focus
    assert panel.config() == config_before


def test_the_wheel_edits_a_field_that_has_focus(window, qtbot):
    iterations = window.experiment_panel.editors["training.iterations"].widget
    before = iterations.value()
    iterations.setFocus()
    qtbot.waitUntil(iterations.hasFocus, timeout=60_000)
    turn_wheel(iterations, 3)
    assert iterations.value() > before


def test_fields_that_do_not_apply_to_the_algorithm_are_disabled_and_say_why(window):
    panel = window.experiment_panel
    first_order = panel.editors["algorithm.first_order"].widget
    query = panel.editors["algorithm.query_size"].widget
    panel.editors["algorithm.name"].set_value("reptile")
    assert not first_order.isEnabled() and not query.isEnabled()
    assert "Reptile" in first_order.toolTip() and "support points" in query.toolTip()
    panel.editors["algorithm.name"].set_value("fomaml")
    assert not first_order.isEnabled() and first_order.isChecked() and query.isEnabled()
    panel.editors["algorithm.name"].set_value("maml")
    assert first_order.isEnabled() and query.isEnabled()
    assert "Reptile" not in first_order.toolTip()
