"""A refused value in the form says why next to the field and keeps what the user typed."""

from PySide6.QtCore import Qt

from maml_studio.errors import ConfigError
from tests.gui.conftest import by_name


def type_into(qtbot, editor, text):
    line = editor.widget.lineEdit()
    editor.widget.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)


def test_a_negative_inner_rate_is_explained_and_kept_until_fixed(window, qtbot):
    panel = window.experiment_panel
    editor = panel.editors["algorithm.inner_lr"]
    type_into(qtbot, editor, "-0.5")
    problem = by_name(window, "Inner learning rate problem")
    assert problem.isVisible() and "greater than 0" in problem.text()
    panel.editors["training.seed"].widget.setFocus()  # focus moves on: the text stays
    qtbot.keyClick(panel.editors["training.seed"].widget, Qt.Key.Key_Tab)
    assert editor.widget.lineEdit().text() == "-0.5"
    try:
        panel.config()
    except ConfigError as exc:
        assert "Inner learning rate" in str(exc) and "greater than 0" in str(exc)
    else:
        raise AssertionError("a refused field must not give a config")
    assert not window.start_training()  # Start says what to fix instead of using an old value
    type_into(qtbot, editor, "0.02")
    qtbot.keyClick(editor.widget.lineEdit(), Qt.Key.Key_Return)  # a typed value counts once entered
    assert not problem.isVisible()
    assert panel.config().algorithm.inner_lr == 0.02


def test_a_count_out_of_range_is_explained_and_kept(window, qtbot):
    editor = window.experiment_panel.editors["training.meta_batch_size"]
    type_into(qtbot, editor, "0")
    assert "between 1 and" in editor.problem.text()
    window.experiment_panel.editors["training.seed"].widget.setFocus()
    assert editor.widget.lineEdit().text() == "0"
    editor.set_value(25)  # a value set by the app clears the note
    assert not editor.problem.isVisible()
