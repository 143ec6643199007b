"""What the window shows belongs to what is loaded now: nothing lingers from before."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from maml_studio.resources import bundled_checkpoint
from tests.gui.conftest import by_name, quick_run


def test_the_app_opens_on_the_adaptation_view_with_the_bundled_model(window):
    assert window.tabs.currentWidget() is window.adaptation
    assert window.adaptation.model is not None


def test_loading_a_regression_preset_after_a_classifier_leaves_nothing_of_it(window, qtbot):
    assert window.open_file(bundled_checkpoint("circle-2d"))
    panel = window.adaptation
    assert panel.plane_mode and window.loss_plot.validation
    window.tabs.setCurrentWidget(window.loss_plot)
    qtbot.mouseMove(window.loss_plot, window.loss_plot.rect().center())
    window.compile_label.setText("compiled")
    window.rate_label.setText("67 it/s")

    assert window.load_preset("multimodal")
    assert not panel.plane_mode and panel.model is None and len(panel.points) == 0
    assert not panel.plane_view.heat_item.isVisible() and not panel.plane_view.query_item.isVisible()
    assert all(not item.isVisible() for item in panel.plane_view.boundary_items.values())
    assert window.loss_plot.train.size == 0 and window.loss_plot.validation == []
    assert window.loss_plot.kind == "regression"
    assert not window.loss_plot.readout.isVisible()
    for label in (window.iteration_label, window.rate_label, window.time_label, window.compile_label):
        assert label.text() == ""
    assert window.experiment_panel.config().task.family == "multimodal"
    assert window.model is None and window.start_action.text() != "Continue"


def test_paused_shows_no_eta_and_stopped_counter_agrees_with_the_status(window, qtbot):
    quick_run(window)
    window.start_training()
    qtbot.waitUntil(lambda: window.history.iterations > 50, timeout=60000)
    window.toggle_pause()
    for _ in range(5):  # progress that was in flight arrives while paused
        qtbot.wait(60)
        assert "left" not in window.time_label.text()
    window.toggle_pause()
    window.stop_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=30000)
    stopped_at = f"{window.history.iterations:,}"
    assert stopped_at in window.state_label.text()
    assert window.iteration_label.text().startswith(stopped_at + " /")
    assert "left" not in window.time_label.text() and "it/s" in window.rate_label.text()
    assert window.compile_label.text() != "compiling…"


def test_experiment_panel_hides_with_f9_and_presentation_restores_the_window(window, qtbot):
    action = window.experiment_dock.toggleViewAction()
    assert action.isEnabled() and by_name(window, "Experiment panel") is window.experiment_dock
    assert action.shortcut().toString() == "F9"
    action.trigger()
    assert not window.experiment_dock.isVisible()
    action.trigger()
    assert window.experiment_dock.isVisible()
    window.showMaximized()
    window.set_presentation_mode(True)
    assert window.isFullScreen()
    assert not window.experiment_dock.isVisible() and not window.runs_dock.isVisible()
    window.set_presentation_mode(False)
    assert window.windowState() & Qt.WindowState.WindowMaximized
    assert window.experiment_dock.isVisible()  # the docks come back as they were


def test_help_menu_explains_the_curves_and_names_the_versions(window):
    import torch

    menu = next(m for m in window.menuBar().findChildren(type(window.menuBar().addMenu("x")))
                if m.accessibleName() == "Help")
    titles = [a.text() for a in menu.actions()]
    assert titles == ["&Keyboard shortcuts", "&What am I looking at?", "&About MAML Studio"]
    menu.actions()[1].trigger()
    assert "before adaptation" in window.help_box.text() and "MAML's point" in window.help_box.text()
    window.help_box.close()
    menu.actions()[2].trigger()
    assert torch.__version__ in window.help_box.text()
    window.help_box.close()
    menu.actions()[0].trigger()
    assert "F9" in window.help_box.text()
    window.help_box.close()


@pytest.mark.parametrize("presentation", [False, True])
def test_the_window_fits_a_1366_by_768_screen_in_both_modes(window, qtbot, presentation):
    window.set_presentation_mode(presentation)
    qtbot.wait(50)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768, (hint.width(), hint.height())
    window.set_presentation_mode(False)


def test_support_points_on_show_at_quit_are_there_at_the_next_start(window, qtbot, settings,
                                                                   monkeypatch):
    from maml_studio.gui.main_window import MainWindow

    session = window.adaptation.session
    for x, y in [(-3.0, 1.0), (0.5, -2.0), (2.0, 0.5)]:
        session.add_point(x, y)
    window.unsaved = False
    window.close()
    settings.sync()
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self, what: True)
    again = MainWindow(settings=settings)
    qtbot.addWidget(again)
    np.testing.assert_array_equal(again.adaptation.session.points, session.points)
    again.show()  # said once the window is on screen, not drawn over the state label
    assert not again.state_label.isVisible()
    assert "Restored the 3 support points" in again.statusBar().currentMessage()
    again.adaptation.session.undo()  # one edit: Ctrl+Z takes them away
    assert len(again.adaptation.session.points) == 0
    again.close()  # quit with none on show: none come back
    third = MainWindow(settings=settings)
    qtbot.addWidget(third)
    assert len(third.adaptation.session.points) == 0
    third.close()


def test_points_of_another_family_wait_for_a_model_of_it(window, qtbot, settings, monkeypatch):
    from maml_studio.gui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self, what: True)
    assert window.open_file(bundled_checkpoint("circle-2d"))
    window.adaptation.session.add_point(0.5, -0.5, 1)
    window.unsaved = False
    window.close()
    again = MainWindow(settings=settings)  # the sine model at start: nothing to restore
    qtbot.addWidget(again)
    assert len(again.adaptation.session.points) == 0
    again.unsaved = False
    again.close()  # quit with no points on show: the circle's points stay kept
    third = MainWindow(settings=settings)
    qtbot.addWidget(third)
    assert third.open_file(bundled_checkpoint("circle-2d"))  # the first circle model brings them
    np.testing.assert_array_equal(third.adaptation.session.points, [[0.5, -0.5, 1]])
    third.show()
    assert "Restored the 1 support point" in third.statusBar().currentMessage()
    third.unsaved = False
    third.close()
