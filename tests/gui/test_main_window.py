import math

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QPushButton, QToolButton

from maml_studio.checkpoint import load_checkpoint
from maml_studio.config import ConfigError
from maml_studio.gui.main_window import MainWindow
from maml_studio.training import Trainer
from tests.gui.conftest import by_name, quick_run

ACCESSIBLE_NAMES = [
    "Start training", "Pause training", "Stop training", "Reset training", "Task family",
    "Task family preview", "Inner learning rate", "Outer learning rate", "Meta-batch size",
    "Support points (K-shot)", "Algorithm", "Device", "Seed", "Meta-training loss plot",
    "Training progress", "Iterations per second",
]


def click(qtbot, window, name):
    button = by_name(window, name)
    assert isinstance(button, QToolButton | QPushButton)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def plotted_points(window):
    data = window.loss_plot.raw_item.getData()[1]
    return 0 if data is None else len(data)


def iterations(window):
    return window.history.iterations


def test_default_window_has_the_bundled_model_and_named_controls(window):
    assert window.model is not None and window.model.config.task.family == "sine"
    assert window.loss_plot.validation, "the bundled model's validation curve is shown"
    for name in ACCESSIBLE_NAMES:
        by_name(window, name)
    assert by_name(window, "Inner learning rate").toolTip()
    assert not by_name(window, "Stop training").isEnabled()


def test_main_window_builds_with_no_arguments(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.experiment_panel.config().task.family == "sine"
    window.close()


def test_absent_devices_are_shown_disabled_with_the_reason(window):
    box: QComboBox = by_name(window, "Device")
    item = box.model().item(box.findData("mps"))
    assert not item.isEnabled() and "not available" in item.text()
    assert "Apple" in item.toolTip()


def test_changing_the_family_redraws_the_preview(window, qtbot):
    before = [c.copy() for c in window.experiment_panel.preview.curve_data()]
    family = by_name(window, "Task family")
    family.setCurrentIndex(family.findData("line"))
    after = window.experiment_panel.preview.curve_data()
    assert len(after) == 8
    assert not np.allclose(before[0], after[0])
    # a line family's preview is made of straight lines
    assert np.allclose(np.diff(after[0], 2), 0, atol=1e-3)
    window.experiment_panel.editors["training.seed"].set_value(7)
    assert not np.allclose(after[0], window.experiment_panel.preview.curve_data()[0])


def test_ranges_change_what_the_preview_draws(window):
    panel = window.experiment_panel
    panel.task_editor.range_rows["amplitude"].low.setValue(4.0)
    amplitudes = [np.abs(c).max() for c in panel.preview.curve_data()]
    assert min(amplitudes) > 3.5
    assert panel.config().task.ranges == {"amplitude": [4.0, 5.0]}


def test_start_pause_resume_stop_as_a_user(window, qtbot):
    quick_run(window)
    window.tabs.setCurrentWidget(window.loss_plot)  # the app opens on the Adaptation tab
    click(qtbot, window, "Start training")
    qtbot.waitUntil(lambda: iterations(window) > 300, timeout=60000)
    assert not by_name(window, "Task family").isEnabled()  # locked while training
    assert by_name(window, "Settings locked").isVisible()
    qtbot.waitUntil(lambda: plotted_points(window) > 300, timeout=60_000)
    smoothed = window.loss_plot.train.smoothed()
    assert smoothed[-1] < smoothed[50]  # the loss fell
    assert window.loss_plot.validation  # meta-validation points arrived

    click(qtbot, window, "Pause training")
    assert "Paused" in by_name(window, "Training state").text()
    trainer = window.controller.worker.trainer
    qtbot.waitUntil(lambda: trainer.halted, timeout=60000)  # the step under way has finished
    paused_at = trainer.history.iterations
    # Every loss up to the pause reaches the window, and its count and bar show where it is.
    qtbot.waitUntil(lambda: iterations(window) == paused_at, timeout=30000)
    assert by_name(window, "Training progress").value() == int(1000 * paused_at / 100_000)
    assert f"{paused_at:,} / 100,000" in window.iteration_label.text()
    # The adaptation view is sent the parameters as they are at the pause.
    qtbot.waitUntil(lambda: all(torch.equal(window.model.state[key], value)
                                for key, value in trainer.snapshot()["state"].items()), timeout=30000)
    qtbot.wait(500)
    assert iterations(window) == paused_at and trainer.history.iterations == paused_at
    qtbot.keyClick(window, Qt.Key.Key_Space)  # Space resumes
    qtbot.waitUntil(lambda: iterations(window) > paused_at + 50, timeout=30000)

    qtbot.keyClick(window, Qt.Key.Key_Escape)  # Esc stops
    qtbot.waitUntil(lambda: not window.controller.running, timeout=30000)
    assert window.status == "stopped"
    assert by_name(window, "Task family").isEnabled()
    assert "it/s" in by_name(window, "Iterations per second").text()
    stopped_at = iterations(window)
    assert window.model.config.training.iterations == 100_000

    click(qtbot, window, "Start training")  # continues the stopped run
    qtbot.waitUntil(lambda: iterations(window) > stopped_at + 50, timeout=30000)
    window.stop_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=30000)


def test_stop_and_continue_give_the_same_run_as_training_straight_through(window, qtbot):
    # Long enough that the stop, sent at about iteration 60, lands well before the end even
    # on a loaded machine.
    quick_run(window, iterations=1500)
    config = window.experiment_panel.config()
    window.start_training()
    qtbot.waitUntil(lambda: iterations(window) > 60, timeout=60000)
    window.stop_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=30000)
    assert 60 < iterations(window) < 1500 and window.start_action.text() == "Continue"
    window.start_training()
    qtbot.waitUntil(lambda: window.status == "completed", timeout=60000)
    straight = Trainer(config)
    list(straight.run())
    assert window.history.train_loss == straight.history.train_loss
    assert window.history.validation == straight.history.validation
    for key, value in straight.snapshot()["state"].items():
        assert torch.equal(window.model.state[key], value)


def test_reset_during_a_run_discards_it_for_good(window, qtbot):
    quick_run(window)
    window.start_training()
    qtbot.waitUntil(lambda: iterations(window) > 20, timeout=60000)
    window.reset_training()
    qtbot.wait(500)  # events the run had already queued must not bring it back
    assert iterations(window) == 0 and window.loss_plot.train.size == 0
    assert window.status == "idle" and not window.resumable
    assert window.start_action.text() == "Start"


def test_closing_with_an_unsaved_model_asks_first(window, qtbot, monkeypatch):
    asked = []
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self, what: asked.append(what))
    quick_run(window, iterations=100_000)
    window.start_training()
    qtbot.waitUntil(lambda: window.history.iterations > 20, timeout=60000)
    window.close()  # a run under way is not kept anywhere yet
    assert asked == ["Quit"] and window.isVisible()  # declined: the window stays


def test_a_finished_run_is_kept_in_the_workspace_so_closing_does_not_ask(window, qtbot, monkeypatch):
    asked = []
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self, what: asked.append(what))
    quick_run(window, iterations=50)
    window.start_training()
    qtbot.waitUntil(lambda: window.status == "completed", timeout=60000)
    assert len(window.store.runs()) == 1 and not window.unsaved
    window.close()
    assert asked == [] and not window.isVisible()


def test_a_finished_run_says_so_and_keeps_its_model(window, qtbot):
    quick_run(window, iterations=200)
    window.start_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=60000)
    assert window.status == "completed"
    assert "Finished" in by_name(window, "Training state").text()
    assert iterations(window) == 200 and window.model.history.iterations == 200


def test_session_round_trip_restores_form_curves_and_model(window, qtbot, tmp_path, settings):
    quick_run(window, iterations=300)
    window.experiment_panel.editors["algorithm.inner_lr"].set_value(0.02)
    window.start_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=60000)
    window.log_action.trigger()
    path = tmp_path / "run.mamlsession"
    assert window.save_session_file(path)

    other = MainWindow(settings=settings)
    qtbot.addWidget(other)
    assert other.open_file(path)
    assert other.experiment_panel.config().to_dict() == window.experiment_panel.config().to_dict()
    assert np.array_equal(other.loss_plot.train.values, window.loss_plot.train.values)
    np.testing.assert_array_equal(other.loss_plot.validation, window.loss_plot.validation)  # NaN-aware
    assert other.log_action.isChecked()
    for key, value in window.model.state.items():
        assert np.array_equal(other.model.state[key].numpy(), value.numpy())
    assert str(path) in settings.value("recent_files")[0]


def test_checkpoint_save_is_readable_by_the_engine(window, tmp_path):
    path = tmp_path / "bundled-copy.safetensors"
    assert window.save_checkpoint_file(path)
    assert load_checkpoint(path).config.task.family == "sine"


def test_a_broken_config_file_is_refused_and_the_form_stays(window, tmp_path, qtbot):
    window.experiment_panel.editors["algorithm.inner_lr"].set_value(0.05)
    before = window.experiment_panel.config().to_dict()
    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nouter_lr = -3\n")
    assert not window.load_config_file(bad)
    assert window.message_box is not None and window.message_box.isVisible()
    assert "training.outer_lr" in window.message_box.text()
    assert window.experiment_panel.config().to_dict() == before
    corrupt = tmp_path / "junk.safetensors"
    corrupt.write_bytes(b"junk")
    assert not window.open_file(corrupt)
    assert "corrupt" in window.message_box.text()
    assert window.experiment_panel.config().to_dict() == before


def test_config_files_round_trip_through_the_form(window, tmp_path):
    window.load_preset("reptile-sine")
    path = tmp_path / "reptile.toml"
    assert window.save_config_file(path)
    window.load_preset("sine-finn2017")
    assert window.load_config_file(path)
    config = window.experiment_panel.config()
    assert config.algorithm.name == "reptile" and config.model.activation == "tanh"
    assert config.task.ranges == {"phase": [0.0, pytest.approx(2 * math.pi, rel=1e-4)]}


def test_every_preset_and_family_can_be_shown_in_the_form(window):
    from maml_studio.resources import preset_names
    from maml_studio.tasks import FAMILY_NAMES

    for name in preset_names():
        assert window.load_preset(name)
        window.experiment_panel.config()
    family = by_name(window, "Task family")
    for name in FAMILY_NAMES:
        family.setCurrentIndex(family.findData(name))
        assert window.experiment_panel.config().task.family == name


def test_bad_form_input_is_reported_when_starting(window):
    window.experiment_panel.editors["model.hidden"].widget.setText("40, 0")
    assert not window.start_training()
    assert "Hidden layers" in window.message_box.text()
    assert "1 to 4096" in window.message_box.text()
    assert not window.controller.running


def test_an_empty_hidden_layers_field_means_no_hidden_layer(window):
    editor = window.experiment_panel.editors["model.hidden"]
    editor.widget.setText("")
    assert editor.widget.hasAcceptableInput()
    assert window.experiment_panel.config().model.hidden == []
    editor.set_value([])
    assert editor.widget.text() == "" and editor.value() == []
    editor.widget.setText("40, x")
    with pytest.raises(ConfigError, match="Hidden layers"):
        editor.value()


def test_a_diverging_run_shows_a_message_and_stays_usable(window, qtbot):
    quick_run(window)
    window.experiment_panel.editors["training.optimizer"].set_value("sgd")
    window.experiment_panel.editors["training.outer_lr"].set_value(100.0)
    window.experiment_panel.editors["algorithm.inner_lr"].set_value(50.0)
    window.start_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=60000)
    assert window.status == "diverged"
    assert "too high" in window.message_box.text()
    assert by_name(window, "Task family").isEnabled()


def test_exports_csv_and_images(window, tmp_path):
    csv_path = tmp_path / "history.csv"
    assert window.export_history_csv(csv_path)
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("iteration,train_loss")
    assert any(line.split(",")[4] for line in lines[1:])  # validation rows of the bundled model
    assert window.export_plot(tmp_path / "loss.png")
    assert window.export_plot(tmp_path / "loss.svg")
    assert "<svg" in (tmp_path / "loss.svg").read_text()
    assert not window.export_plot(tmp_path / "loss.bmp")
    assert "use .png or .svg" in window.message_box.text()


def test_presentation_mode_and_themes(window, qtbot):
    base = window.font().pointSizeF()
    window.presentation_action.trigger()
    assert window.isFullScreen()
    assert window.font().pointSizeF() > base
    assert window.loss_plot.after_item.opts["pen"].widthF() > 2.5
    window.presentation_action.trigger()
    assert not window.isFullScreen()
    window.theme_actions["dark"].trigger()
    assert window.settings.value("theme") == "dark"
    assert window.loss_plot.backgroundBrush().color().lightness() < 80
    window.theme_actions["light"].trigger()


def test_closing_mid_training_stops_the_run_and_quitting_joins_it(qtbot, settings, monkeypatch):
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self, what: True)
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    quick_run(window)
    window.start_training()
    qtbot.waitUntil(lambda: iterations(window) > 50, timeout=60000)
    thread = window.controller.thread
    window.close()
    assert not window.controller.running
    window.controller.wait_for_stopped_runs()  # what the application does when it quits
    assert thread.isFinished()
    assert settings.value("geometry") is not None


def test_an_unticked_box_in_the_runs_table_can_be_seen_in_the_dark_theme(window, qtbot):
    from PySide6.QtGui import QColor

    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.resources import bundled_checkpoint

    run = window.store.add(load_checkpoint(bundled_checkpoint()), name="unticked")
    window.theme_actions["dark"].trigger()
    try:
        table = window.runs_panel.table
        window.runs_dock.show()
        window.runs_dock.raise_()
        qtbot.wait(50)
        cell = table.visualItemRect(table.item(0, 0))
        image = table.viewport().grab(cell).toImage()
        base = QColor(table.palette().base().color())
        # The check box lies left of the run's colour swatch.
        swatch = next(x for x in range(image.width()) for y in range(image.height())
                      if QColor(image.pixel(x, y)).name() == run.colour)
        # Its border differs clearly from the cell it sits on (it did not: lightness 36 on 33).
        contrast = max(abs(QColor(image.pixel(x, y)).lightness() - base.lightness())
                       for x in range(swatch) for y in range(image.height()))
        assert contrast > 60, contrast
    finally:
        window.theme_actions["light"].trigger()
