"""The Sweeps tab: a study made by the engine in the window's workspace, listed and opened."""

import math

import pytest
from PySide6.QtCore import Qt

from maml_studio.config import load_preset
from maml_studio.run_store import RunStore
from maml_studio.sweep import run_sweep
from maml_studio.sweep_plan import Protocol, SweepPlan
from maml_studio.sweep_space import parse_space
from maml_studio.sweep_storage import default_storage_url
from tests.conftest import TEST_THREADS
from tests.gui.conftest import by_name

optuna = pytest.importorskip("optuna")


def small_study(workspace, name="tiny", inner_lrs=(0.003, 0.02), storage=None):
    config = load_preset("sine-finn2017")
    for key, value in {"training.iterations": 200, "training.validate_every": 100,
                       "training.validation_tasks": 10, "training.train_baseline": False,
                       "training.compile": "off", "training.threads": TEST_THREADS}.items():
        config.set(key, value)
    plan = SweepPlan(config, parse_space({"algorithm.inner_lr": list(inner_lrs)}), study=name,
                     storage=storage or default_storage_url(workspace), trials=len(inner_lrs), sampler="grid",
                     protocol=Protocol.for_config(config, steps=5, tasks=20, shots=None))
    return run_sweep(plan, RunStore(workspace), log=lambda _: None)


def table_rows(view) -> list[list[str]]:
    table = view.table
    return [[table.item(row, column).text() for column in range(table.columnCount())]
            for row in range(table.rowCount())]


def test_the_sweeps_tab_lists_a_study_and_opens_a_trials_run(window, qtbot):
    outcome = small_study(window.store.folder)
    study = optuna.load_study(study_name="tiny", storage=default_storage_url(window.store.folder))
    view = by_name(window, "Sweeps")
    assert view is window.sweeps_view
    window.tabs.setCurrentWidget(view)  # shown: it reads the storage
    qtbot.waitUntil(lambda: view.table.rowCount() == 2 and not view.reading, timeout=30_000)

    assert [view.study_box.itemText(i) for i in range(view.study_box.count())] == ["tiny"]
    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert headers[:4] == ["Trial", "State", "validation MSE", "inner_lr"]
    best = study.best_trial
    assert outcome.best[0] == best.number
    rows = {int(row[0].split()[0]): row for row in table_rows(view)}
    assert rows[best.number][0] == f"{best.number} ★"  # the best trial, highlighted
    assert view.table.item(_row(view, best.number), 0).font().bold()
    assert all(row[1] == "complete" for row in rows.values())
    assert {float(row[3]) for row in rows.values()} == {0.003, 0.02}
    assert f"best trial {best.number}" in view.status.text()

    # Both plots hold the two trials; the star sits on the best one. A loss is on a log axis
    # at first (the items hold log10 of it), and on a linear one at a click.
    assert view.log_box.isChecked()
    mark_x, mark_y = view._best_marks[1][0].getData()
    assert list(mark_x) == [best.number] and list(mark_y) == pytest.approx([math.log10(best.value)])
    view.log_box.setChecked(False)
    xs, ys = view._parameter_points.getData()  # a list of values: at their places, labelled
    labels = dict(view.parameter_plot.getAxis("bottom")._tickLevels[0])
    assert sorted((float(labels[x]), y) for x, y in zip(xs, ys, strict=True)) == sorted(
        (t.params["algorithm.inner_lr"], t.value) for t in study.trials)
    mark_x, mark_y = view._best_marks[1][0].getData()
    assert list(mark_x) == [best.number] and list(mark_y) == [best.value]
    # Its label is written towards the middle, never off the plot's edge.
    last = max(t.number for t in study.trials)
    assert view._best_marks[1][1].anchor[0] == (1 if best.number == last else 0)
    _, trial_ys = view._trial_points.getData()
    assert len(trial_ys) == 2

    # A click on the other point selects its trial; Open run opens its run.
    other = next(t for t in study.trials if t.number != best.number)
    spot = next(s for s in view._trial_points.points() if s.data() == other.number)
    view._point_clicked([spot])
    assert view.selected_number() == other.number
    open_button = by_name(view, "Open run")
    assert open_button.isEnabled()
    qtbot.mouseClick(open_button, Qt.MouseButton.LeftButton)
    assert window.model is not None
    assert window.model.config.algorithm.inner_lr == other.params["algorithm.inner_lr"]
    assert window.tabs.currentWidget() is window.loss_plot
    assert f"tiny trial {other.number}" in window.state_label.text()


def test_the_tab_follows_new_trials_and_another_workspace(window, qtbot, tmp_path):
    view = window.sweeps_view
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: not view.reading and "No sweeps" in view.status.text(), timeout=30_000)
    hints = [view._hints[plot] for plot in view.plots()]  # empty plots say what they will show
    assert all(hint.isVisible() and "objective" in hint.textItem.toPlainText() for hint in hints)
    small_study(window.store.folder, name="first", inner_lrs=(0.01,))
    # The runs the sweep added reach the window's store; the tab reads the storage again.
    window._refresh_store()
    qtbot.waitUntil(lambda: view.table.rowCount() == 1 and not view.reading, timeout=30_000)
    assert view.study_box.currentText() == "first"
    assert not any(hint.isVisible() for hint in hints)

    other = tmp_path / "other-workspace"
    small_study(other, name="second", inner_lrs=(0.01, 0.02))
    assert window.open_workspace(other)
    qtbot.waitUntil(lambda: view.study_box.currentText() == "second" and view.table.rowCount() == 2,
                    timeout=30_000)
    # A study in another storage whose runs this workspace keeps is listed too, named with it.
    small_study(other, name="elsewhere", inner_lrs=(0.01,), storage=f"sqlite:///{tmp_path / 'remote.db'}")
    window.sweeps_view.refresh()
    qtbot.waitUntil(lambda: view.study_box.count() == 2 and not view.reading, timeout=30_000)
    names = [view.study_box.itemText(i) for i in range(view.study_box.count())]
    assert names == ["second", f"elsewhere (sqlite:///{tmp_path / 'remote.db'})"]
    view.study_box.setCurrentIndex(1)
    view.study_box.activated.emit(1)
    qtbot.waitUntil(lambda: view.results is not None and view.results.name == "elsewhere", timeout=30_000)
    assert view.table.rowCount() == 1 and view.study_box.currentIndex() == 1
    assert view.selected_number() == view.results.best  # another study opens on its best trial
    # A run that is not in the window's workspace is not opened, and the window says where it is.
    assert not window.open_trial_run("not-here", "/elsewhere/workspace")
    assert "/elsewhere/workspace" in window.message_box.text()


def _row(view, number: int) -> int:
    return next(row for row in range(view.table.rowCount())
                if view.table.item(row, 0).data(Qt.ItemDataRole.UserRole + 1) == number)


def test_the_plots_keep_their_contrast_in_both_themes(window, qtbot):
    from maml_studio.gui.view_colors import BACKGROUND, contrast_ratio

    view = window.sweeps_view
    for theme in ("light", "dark"):
        window.apply_theme(theme)
        qtbot.waitUntil(lambda theme=theme: view.theme == theme, timeout=60_000)  # on the palette change
        background = BACKGROUND[theme]
        for item in (view._trial_points, view._best_marks[0][0]):
            colour = item.opts["brush"].color().getRgb()
            assert contrast_ratio(colour, background) >= 3.0, (theme, colour)


def test_a_study_with_no_complete_trial_shows_its_trial_and_the_plots_hints(window, qtbot):
    study = optuna.create_study(study_name="waiting", storage=default_storage_url(window.store.folder))
    trial = study.ask()  # under way: no value yet
    trial.suggest_float("algorithm.inner_lr", 1e-3, 1e-1, log=True)
    view = window.sweeps_view
    window.tabs.setCurrentWidget(view)
    qtbot.waitUntil(lambda: view.table.rowCount() == 1 and not view.reading, timeout=30_000)
    assert table_rows(view)[0][1] == "running"
    for plot in view.plots():  # each hint in the middle of its plot's frame
        hint = view._hints[plot]
        (x_low, x_high), (y_low, y_high) = plot.getPlotItem().vb.viewRange()
        assert hint.isVisible() and x_low < hint.pos().x() < x_high and y_low < hint.pos().y() < y_high
