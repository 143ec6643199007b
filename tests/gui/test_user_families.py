"""The task editor's Formula… and Task files… as a user meets them."""

import numpy as np
from PySide6.QtCore import Qt

from maml_studio.tasks import generator_for
from maml_studio.tasks.regression import Sine
from tests.gui.conftest import by_name


def choose(window, name):
    box = window.experiment_panel.task_editor.family_box
    box.setCurrentIndex(box.findData(name))


def test_typing_a_formula_previews_it_after_a_pause_and_explains_errors(window, qtbot):
    panel = window.experiment_panel
    choose(window, "formula")
    formula = by_name(window, "Formula")
    ranges = by_name(window, "Parameter ranges")
    formula.clear()
    qtbot.keyClicks(formula, "a * sin(x - p)")
    ranges.setText("a = [0.1, 5.0], p = [0.0, 3.14159]")
    ranges.textEdited.emit(ranges.text())
    qtbot.waitUntil(lambda: panel.config().task.formula == "a * sin(x - p)", timeout=60_000)
    qtbot.waitUntil(lambda: len(panel.preview.curve_data()) == 8, timeout=60_000)
    curves = panel.preview.curve_data()
    assert max(np.abs(c).max() for c in curves) <= 5.0 + 1e-4  # amplitudes within the range
    qtbot.keyClicks(formula, " + os")
    problem = by_name(window, "Formula problem")
    qtbot.waitUntil(lambda: "unknown name `os`" in problem.text(), timeout=60_000)
    assert "at column 18" in problem.text() and "^" in problem.text()
    assert panel.preview.message.isVisible() and "os" in panel.preview.message.textItem.toPlainText()
    assert formula.text() == "a * sin(x - p) + os"  # nothing typed is lost
    qtbot.keyClick(formula, Qt.Key.Key_Backspace)
    qtbot.keyClick(formula, Qt.Key.Key_Backspace)
    qtbot.keyClicks(formula, "p")
    qtbot.waitUntil(lambda: problem.text() == "", timeout=60_000)
    assert panel.config().task.formula == "a * sin(x - p) + p"


def test_a_formula_config_round_trips_through_the_form(window):
    panel = window.experiment_panel
    config = panel.config()
    config.set("task.family", "formula")
    config.set("task.formula", "(x1 - a)**2 + (x2 - b)**2 - r**2")
    config.set("task.ranges", {"a": [-0.5, 0.5], "b": [-0.5, 0.5], "r": [0.8, 1.2]})
    config.set("task.num_classes", 2)
    config.set("task.x_range", [-2.0, 2.0])
    config.check()
    panel.set_config(config)
    again = panel.config()
    assert again.task.formula == config.task.formula and again.task.ranges == config.task.ranges
    assert again.task.num_classes == 2 and again.task.x_range == [-2.0, 2.0]
    assert panel.preview.plane_point_count() > 0


def test_task_files_preview_as_point_clouds(window, qtbot, tmp_path):
    batch = Sine().sample(30, 20, 0, generator_for(0))
    path = tmp_path / "sines.npz"
    np.savez(path, x=batch.support_x.numpy(), y=batch.support_y.numpy())
    panel = window.experiment_panel
    choose(window, "tasks")
    files = by_name(window, "Task files")
    files.setText(str(path))
    files.textEdited.emit(files.text())
    qtbot.waitUntil(lambda: panel.preview.plane_point_count() == 8 * 20, timeout=60_000)
    assert panel.config().task.path == str(path)
    files.setText(str(tmp_path / "missing.npz"))
    files.textEdited.emit(files.text())
    qtbot.waitUntil(lambda: panel.preview.message.isVisible(), timeout=60_000)
    assert "no such file" in panel.preview.message.textItem.toPlainText()
