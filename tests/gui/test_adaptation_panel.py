import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from maml_studio.checkpoint import Checkpoint
from maml_studio.config import load_preset
from maml_studio.experiment import Experiment, seed_stream
from tests.gui.conftest import by_name, quick_run


@pytest.fixture
def panel(window, qtbot):
    window.tabs.setCurrentWidget(window.adaptation)
    panel = window.adaptation
    panel.plot.setXRange(-5, 5, padding=0)
    panel.plot.setYRange(-5, 5, padding=0)
    panel.view_box.disableAutoRange()
    qtbot.wait(50)
    return panel


def settled(qtbot, panel):
    qtbot.waitUntil(lambda: panel.settled, timeout=60_000)


def viewport_pos(panel, x, y) -> QPoint:
    scene = panel.view_box.mapViewToScene(QPointF(x, y))
    return panel.plot.mapFromScene(scene)


def click_at(qtbot, panel, x, y, button=Qt.MouseButton.LeftButton,
             modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(panel.plot.viewport(), button, modifier, viewport_pos(panel, x, y))


def drag(panel, start, end, steps=6):
    viewport = panel.plot.viewport()
    a, b = viewport_pos(panel, *start), viewport_pos(panel, *end)

    def send(kind, pos, buttons):
        button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
        event = QMouseEvent(kind, QPointF(pos), QPointF(viewport.mapToGlobal(pos)), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(viewport, event)

    send(QEvent.Type.MouseButtonPress, a, Qt.MouseButton.LeftButton)
    for i in range(1, steps + 1):
        pos = a + (b - a) * i / steps
        send(QEvent.Type.MouseMove, pos, Qt.MouseButton.LeftButton)
    send(QEvent.Type.MouseButtonRelease, b, Qt.MouseButton.NoButton)


def test_panel_controls_have_accessible_names(window):
    for name in ("Adaptation plot", "Adaptation steps", "Sample task", "Clear points",
                 "Play adaptation", "Paper figure", "Show meta-learned", "Show pretrained baseline",
                 "Show random init", "Show true function", "Show earlier steps"):
        by_name(window, name)


def test_clicked_points_are_fitted_better_after_k_steps(panel, qtbot):
    clicked = [(-4.0, 1.5), (-2.5, -1.0), (-1.0, 2.0), (0.5, 0.5), (2.0, -2.0), (3.5, 1.0)]
    for x, y in clicked:
        click_at(qtbot, panel, x, y)
    assert len(panel.points) == len(clicked)
    np.testing.assert_allclose(panel.points, clicked, atol=0.05)  # mapped to data coordinates
    settled(qtbot, panel)
    assert panel.step == 10
    maml_10, maml_0 = panel.support_error("maml", 10), panel.support_error("maml", 0)
    assert maml_10 < 0.5 * maml_0
    assert maml_10 < panel.support_error("pretrained", 10)
    shown = panel.curve_view.curve_items["maml"].getData()[1]
    np.testing.assert_array_equal(shown, panel.curve("maml", 10))


def test_dragging_and_removing_points_update_the_curve(panel, qtbot):
    for x, y in [(-3.0, 1.0), (0.0, -1.0), (3.0, 1.0)]:
        click_at(qtbot, panel, x, y)
    settled(qtbot, panel)
    before = panel.curve("maml").copy()
    drag(panel, (0.0, -1.0), (0.0, 3.0))
    assert panel.points[1, 1] == pytest.approx(3.0, abs=0.1)
    settled(qtbot, panel)
    middle = np.abs(panel.grid).argmin()
    assert panel.curve("maml")[middle] > before[middle] + 0.5
    click_at(qtbot, panel, 0.0, 3.0, button=Qt.MouseButton.RightButton)
    assert len(panel.points) == 2
    click_at(qtbot, panel, -3.0, 1.0, modifier=Qt.KeyboardModifier.ControlModifier)
    assert len(panel.points) == 1
    settled(qtbot, panel)
    panel.session.undo()
    panel.session.undo()
    assert len(panel.points) == 3
    panel.session.redo()
    assert len(panel.points) == 2


def test_slider_shows_the_step_it_names_and_play_animates(panel, qtbot):
    panel.sample_task(5)
    settled(qtbot, panel)
    for step in (0, 3, 17):
        panel.slider.setValue(step)
        assert panel.step_label.text() == str(step)
        drawn = panel.curve_view.curve_items["maml"].getData()[1]
        np.testing.assert_array_equal(drawn, panel.curve("maml", step))
    panel.slider.setValue(60)  # beyond the quickly computed steps: computed on demand
    settled(qtbot, panel)
    np.testing.assert_array_equal(panel.curve_view.curve_items["maml"].getData()[1], panel.curve("maml", 60))
    assert "60 steps" in " ".join(panel.legend_texts())
    panel.slider.setValue(4)
    by_name(panel, "Play adaptation").click()
    assert panel.step == 0
    qtbot.waitUntil(lambda: panel.step == 4, timeout=60_000)


def test_sample_task_shows_truth_and_mse(panel, qtbot):
    by_name(panel, "Sample task").click()
    settled(qtbot, panel)
    assert len(panel.points) == 5
    truth = panel.curve_view.truth_item.getData()[1]
    assert truth is not None and len(truth) == len(panel.grid)
    texts = panel.legend_texts()
    assert any("meta-learned" in t and "MSE" in t for t in texts)
    assert any("pretrained" in t and "MSE" in t for t in texts)
    assert "A = " in panel.info.text() and "φ = " in panel.info.text()


def test_paper_figure_sets_up_figure_2(panel, qtbot):
    by_name(panel, "Paper figure").click()
    settled(qtbot, panel)
    assert len(panel.points) == 10 and panel.step == 10
    maml_panel = by_name(panel, "Paper figure: MAML")
    pretrained_panel = by_name(panel, "Paper figure: pretrained")
    assert maml_panel is panel.plot and pretrained_panel.isVisible()
    assert pretrained_panel.getPlotItem().vb.viewRange() == panel.view_box.viewRange()  # same axes
    texts = " ".join(panel.legend_texts())
    for expected in ("true function", "pre-update", "1 grad step ", "10 grad steps", "support points"):
        assert expected in texts
    assert "pretrained" not in texts  # the baseline has its own panel
    baseline_texts = " ".join(panel.paper_plot.legend_texts())
    for expected in ("pre-update", "1 grad step ", "10 grad steps"):
        assert expected in baseline_texts
    truth = panel.session.truth(panel.grid)
    assert np.mean((panel.curve("maml", 10) - truth) ** 2) < np.mean(
        (panel.curve("pretrained", 10) - truth) ** 2)
    panel.slider.setValue(3)  # the slider picks the last step; the figure stays
    assert panel.paper_mode and "3 grad steps" in " ".join(panel.legend_texts())
    by_name(panel, "Paper figure").click()  # and back to one panel
    assert not panel.paper_mode and not pretrained_panel.isVisible()
    assert by_name(panel, "Adaptation plot") is panel.plot


def test_bad_inputs_do_not_break_the_panel(panel, qtbot, tmp_path):
    settled(qtbot, panel)  # no points: the prior, the same at every step
    np.testing.assert_allclose(panel.curve("maml", 0), panel.curve("maml", 10))
    click_at(qtbot, panel, 1.0, 1.0)  # one point
    settled(qtbot, panel)
    assert np.isfinite(panel.curve("maml")).all()
    rng = np.random.default_rng(0)
    many = np.column_stack([rng.uniform(-5, 5, 100), rng.uniform(-3, 3, 100)])
    panel.set_points(many)  # a hundred points
    settled(qtbot, panel)
    assert np.isfinite(panel.curve("maml")).all()
    panel.set_points(np.array([[40.0, 2.0], [-30.0, 1.0]]))  # far outside the x range
    settled(qtbot, panel)
    assert panel.grid.min() <= -30 and panel.grid.max() >= 40
    panel.sample_task(5)
    panel.lr_box.setValue(80.0)  # diverges
    settled(qtbot, panel)
    assert "diverged at step" in panel.message.textItem.toPlainText()
    assert np.isfinite(panel.curve_view.curve_items["maml"].getData()[1]).all()  # the last finite curve
    bad = tmp_path / "points.csv"
    bad.write_text("x,y\n1,zwei\n")
    with pytest.raises(ValueError, match="not a number"):
        panel.import_points(bad)


def test_models_of_other_shapes_are_refused_with_a_message(panel, qtbot):
    config = load_preset("linear-10-5")
    experiment = Experiment.from_config(config)
    state = experiment.learner.init_state(seed_stream(0, "x"))
    assert not panel.set_model(Checkpoint(config, state))
    assert "1-D regression and 2-D classification" in panel.message.textItem.toPlainText()


def test_points_import_and_predictions_export(panel, qtbot, tmp_path):
    source = tmp_path / "points.csv"
    source.write_text("x,y\n-2,1\n0,0\n2,-1\n")
    panel.import_points(source)
    settled(qtbot, panel)
    out = tmp_path / "predictions.csv"
    panel.export_predictions(out)
    rows = out.read_text().splitlines()
    assert rows[0].startswith("x,maml_step10,pretrained_step10,random_step10")
    assert len(rows) == len(panel.grid) + 1


def test_live_mode_follows_training(window, panel, qtbot):
    panel.sample_task(5)
    settled(qtbot, panel)
    bundled = panel.curve("maml", 10).copy()
    quick_run(window)
    window.start_training()
    qtbot.waitUntil(lambda: window.history.iterations > 20, timeout=30000)
    qtbot.waitUntil(lambda: panel.settled and not np.allclose(
        panel.curve("maml", 10), bundled), timeout=60_000)
    first_live = panel.curve("maml", 10).copy()
    qtbot.waitUntil(lambda: panel.settled and not np.allclose(
        panel.curve("maml", 10), first_live), timeout=60_000)
    window.stop_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=30000)


def test_undo_brings_back_the_sampled_task_with_its_points(panel, qtbot):
    panel.paper_figure()
    settled(qtbot, panel)
    task = panel.task
    panel.clear_points()
    assert panel.task is None and len(panel.points) == 0
    panel.session.undo()
    assert panel.task is task and len(panel.points) == 10
    settled(qtbot, panel)
    assert len(panel.curve_view.truth_item.getData()[0]) == len(panel.grid)


def test_a_live_model_with_another_inner_rate_updates_the_rate(window, panel):
    model = window.model
    config = model.config.copy()
    config.algorithm.inner_lr = 0.02
    panel.set_model(Checkpoint(config, model.state, model.baseline_state), live=True)
    assert panel.lr_box.value() == pytest.approx(0.02)


def test_a_compared_run_is_adapted_to_the_same_points_in_its_own_colour(panel, qtbot):
    from maml_studio.adaptation_session import ComparedRun
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.resources import bundled_checkpoint

    other = load_checkpoint(bundled_checkpoint("sine-finn2017"))
    other.state = {k: v * 0.5 for k, v in other.state.items()}  # a different model
    panel.sample_task(5)
    settled(qtbot, panel)
    assert panel.session.set_compared([ComparedRun("r1", "half model", "#1f77b4", other)]) == []
    settled(qtbot, panel)
    item = panel.curve_view.run_items["run:r1"]
    assert item.opts["pen"].color().name() == "#1f77b4"
    drawn = item.getData()[1]
    assert len(drawn) == len(panel.grid) and not np.allclose(drawn, panel.curve("maml"))
    assert any(text.startswith("half model, 10 steps  (MSE") for text in panel.legend_texts())
    panel.session.set_compared([])
    settled(qtbot, panel)
    assert "run:r1" not in panel.curve_view.run_items
    assert not any(text.startswith("half model") for text in panel.legend_texts())
