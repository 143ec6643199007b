"""The Runs dock and the workspace in the window: runs kept, listed, shown side by side."""

import copy
import math

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from maml_studio.checkpoint import load_checkpoint
from maml_studio.gui.main_window import MainWindow
from maml_studio.history import History
from maml_studio.resources import bundled_checkpoint
from tests.gui.conftest import by_name, quick_run
from tests.gui.test_adaptation_panel import settled


def variant(seed: int, algorithm: str = "maml", scale: float = 1.0, losses: int = 300):
    """The bundled sine model as another run: its seed, algorithm and a history of its own."""
    checkpoint = load_checkpoint(bundled_checkpoint("sine-finn2017"))
    checkpoint.config = copy.deepcopy(checkpoint.config)
    checkpoint.config.training.seed = seed
    checkpoint.config.algorithm.name = algorithm
    checkpoint.state = {k: v * scale for k, v in checkpoint.state.items()}
    rng = np.random.default_rng(seed)
    checkpoint.history = History(list(np.linspace(3, 0.5, losses) + rng.normal(0, 0.05, losses)), [],
                                 [(losses, 2.9, 0.4 + 0.01 * seed, 3.0, 2.0)])
    return checkpoint


def row_names(window) -> list[str]:
    table = window.runs_panel.table
    return [table.item(row, 0).text() for row in range(table.rowCount())]


def test_a_run_trained_in_the_window_is_kept_in_the_workspace(window, qtbot):
    assert by_name(window, "Runs") is window.runs_dock or window.runs_dock.accessibleName() == "Runs"
    quick_run(window, iterations=150)
    window.start_training()
    qtbot.waitUntil(lambda: not window.controller.running and window.status == "completed",
                    timeout=120_000)
    runs = window.store.runs()
    assert len(runs) == 1 and runs[0].iterations == 150 and runs[0].status == "completed"
    assert runs[0].iterations_per_second and runs[0].seconds > 0
    assert row_names(window) == [runs[0].name]
    reopened = MainWindow(settings=window.settings, load_bundled=False)  # the workspace at start
    qtbot.addWidget(reopened)
    assert [run.id for run in reopened.store.runs()] == [runs[0].id]
    reopened.close()


def test_shown_runs_are_drawn_over_the_loss_plot_and_adapted_beside_the_model(window, qtbot):
    first = window.store.add(variant(0, "maml", 0.9), name="maml seed 0")
    second = window.store.add(variant(1, "reptile", 0.7), name="reptile seed 1")
    assert row_names(window) == ["maml seed 0", "reptile seed 1"]
    window.runs_panel.set_shown(first.id, True)
    window.runs_panel.set_shown(second.id, True)
    legend = [label.text for _, label in window.loss_plot.legend.items]
    assert legend[-2:] == ["maml seed 0", "reptile seed 1"]
    panel = window.adaptation
    window.tabs.setCurrentWidget(panel)
    panel.sample_task(5)
    settled(qtbot, panel)
    assert [run.name for run in panel.session.compared] == ["maml seed 0", "reptile seed 1"]
    colours = {item.opts["pen"].color().name() for item in panel.curve_view.run_items.values()}
    assert colours == {first.colour, second.colour}
    texts = panel.legend_texts()
    assert any(t.startswith("maml seed 0, 10 steps") for t in texts)
    assert any(t.startswith("reptile seed 1, 10 steps") for t in texts)
    window.runs_panel.set_shown(first.id, False)
    settled(qtbot, panel)
    assert [run.name for run in panel.session.compared] == ["reptile seed 1"]


def test_seeds_of_one_config_are_drawn_as_a_mean_with_a_band(window):
    runs = [window.store.add(variant(seed)) for seed in (0, 1, 2)]
    other = window.store.add(variant(5, "fomaml"))
    for run in (*runs, other):
        window.runs_panel.set_shown(run.id, True)
    by_name(window, "Group seeds").setChecked(True)
    legend = [label.text for _, label in window.loss_plot.legend.items]
    assert "maml, 3 seeds (mean, ± sd)" in legend and other.name in legend
    band = [items for key, items in window.loss_plot.overlays._items.items() if key.startswith("group:")]
    assert len(band) == 1 and isinstance(band[0][1], pg.FillBetweenItem)


def test_runs_are_renamed_recoloured_deleted_and_opened(window, qtbot):
    keep = window.store.add(variant(0), name="keep")
    gone = window.store.add(variant(1), name="gone")
    assert window.runs_panel.rename(keep.id, "renamed")
    assert window.runs_panel.recolour(keep.id, "#65a30d")
    assert row_names(window) == ["renamed", "gone"]
    icon = window.runs_panel.table.item(0, 0).icon().pixmap(12, 12).toImage()
    assert icon.pixelColor(6, 6).name() == "#65a30d"
    assert window.runs_panel.delete([gone.id], confirm=False)
    assert row_names(window) == ["renamed"] and not (window.store.folder / gone.file).exists()
    assert window.open_run(keep.id)
    assert window.history.train_loss == pytest.approx(variant(0).history.train_loss)
    assert window.model is not None and "renamed" in window.state_label.text()


def test_the_table_sorts_by_numbers(window):
    for seed, losses in ((0, 900), (1, 50), (2, 300)):
        window.store.add(variant(seed, losses=losses), name=f"run {seed}")
    table = window.runs_panel.table
    table.sortItems(4, Qt.SortOrder.AscendingOrder)  # iterations
    assert row_names(window) == ["run 1", "run 2", "run 0"]


def test_a_workspace_that_cannot_be_used_falls_back_and_says_so(qtbot, settings, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    window = MainWindow(settings=settings, load_bundled=False, workspace=blocked)
    qtbot.addWidget(window)
    assert window.store.folder != blocked and window.store.folder.is_dir()
    window.show()  # said once the window is on screen
    assert "is a file, not a folder" in window.statusBar().currentMessage()
    assert not window.open_workspace(blocked)
    assert "is a file" in window.message_box.text()
    assert window.open_workspace(tmp_path / "other")
    assert window.runs_panel.folder_label.text() == "workspace: other"
    window.close()


def test_a_queued_comparison_trains_three_algorithms_one_after_another(window, qtbot):
    quick_run(window, iterations=60)
    window.experiment_panel.editors["training.validation_tasks"].set_value(5)
    assert window.compare_algorithms(["maml", "fomaml", "reptile"], seeds=1)
    assert window.controller.running and window.queue.current.name == "maml seed 0"
    queue_panel = window.runs_panel.queue_panel
    assert queue_panel.isVisibleTo(window) and queue_panel.list.count() == 2
    qtbot.waitUntil(lambda: len(window.store.runs()) == 3 and not window.queue.active,
                    timeout=180_000)
    runs = window.store.runs()
    assert [run.name for run in runs] == ["maml seed 0", "fomaml seed 0", "reptile seed 0"]
    assert [run.algorithm for run in runs] == ["maml", "fomaml", "reptile"]
    assert all(run.iterations == 60 and run.status == "completed" for run in runs)
    assert row_names(window) == ["maml seed 0", "fomaml seed 0", "reptile seed 0"]
    assert not queue_panel.isVisibleTo(window)


def test_the_queue_pauses_reorders_and_cancels(window, qtbot):
    quick_run(window, iterations=100_000)  # the first run trains until stopped
    assert window.compare_algorithms(["maml", "anil", "metasgd"], seeds=1)
    queue = window.queue
    assert [run.name for run in queue.waiting] == ["anil seed 0", "metasgd seed 0"]
    queue.move(1, -1)
    assert [run.name for run in queue.waiting] == ["metasgd seed 0", "anil seed 0"]
    qtbot.waitUntil(lambda: window.history.iterations > 20, timeout=60_000)
    window.stop_training()  # a stopped run pauses the queue: nothing else starts
    qtbot.waitUntil(lambda: not window.controller.running, timeout=60_000)
    qtbot.wait(100)
    assert queue.paused and not window.controller.running
    assert [run.name for run in window.store.runs()] == ["maml seed 0"]
    assert window.store.runs()[0].status == "stopped"
    queue.cancel()
    assert not queue.active and not window.runs_panel.queue_panel.isVisibleTo(window)


def test_a_comparison_the_config_cannot_make_is_refused_with_its_reason(window):
    assert not window.compare_algorithms(["maml", "bogus"], seeds=1)
    assert "bogus" in window.message_box.text() and not window.queue.active


def test_the_compare_dialog_counts_the_runs_it_will_queue(qtbot):
    from maml_studio.gui.compare_dialog import CompareDialog

    dialog = CompareDialog(bundled_available=True)
    qtbot.addWidget(dialog)
    assert dialog.algorithms() == ["maml", "fomaml", "reptile"]
    dialog.seeds.setValue(2)
    dialog.boxes["metasgd"].setChecked(True)
    assert dialog.summary.text() == "8 runs to train" and dialog.queue_button.isEnabled()
    for box in dialog.boxes.values():
        box.setChecked(False)
    assert not dialog.queue_button.isEnabled() and "at least one" in dialog.summary.text()
    by_name(dialog, "Show the bundled models").click()
    assert dialog.show_bundled and dialog.result() == dialog.DialogCode.Accepted


def test_the_evaluation_view_scores_the_model_and_the_shown_runs_with_bands(window, qtbot, tmp_path):
    import csv

    from PIL import Image

    view = window.evaluation
    # Before any evaluation: the steps it will draw (whole numbers) and what to press.
    assert view.hint in view.plot.getPlotItem().items and "Press Evaluate" in view.hint.textItem.toPlainText()
    (x_low, x_high), _ = view.plot.getPlotItem().vb.viewRange()
    assert x_low < 0 and x_high > 10
    ticks = [v for _, values in view.plot.getAxis("bottom").tickValues(x_low, x_high, 600) for v in values]
    assert ticks and all(float(v).is_integer() for v in ticks)
    run = window.store.add(variant(3, "reptile", 0.6), name="half-size reptile")
    window.runs_panel.set_shown(run.id, True)
    assert window.evaluate_runs(tasks=40)
    assert window.tabs.currentWidget() is window.evaluation
    qtbot.waitUntil(lambda: window.evaluation.result is not None and not window.evaluation.running,
                    timeout=120_000)
    result = window.evaluation.result
    names = [curve.name for curve in result.curves]
    assert names == ["model on show", "model on show (pretrained)", "half-size reptile",
                     "half-size reptile (pretrained)"]
    model = result.curves[0]
    assert model.steps == list(range(11)) and all(ci > 0 for ci in model.ci95)
    assert model.values[10] < model.values[0]  # the bundled model adapts: its error falls
    legend = [label.text for _, label in window.evaluation.legend.items]
    assert legend == names
    bands = [item for item in window.evaluation.plot.getPlotItem().items
             if isinstance(item, pg.FillBetweenItem)]
    assert len(bands) == 4
    assert view.hint not in view.plot.getPlotItem().items  # gone with the first curves
    # The median with its quartiles: the same curves, drawn from the engine's percentiles.
    chooser = by_name(window, "Evaluation statistic")
    chooser.setCurrentIndex(chooser.findData("median"))
    assert view.statistic == "median" and "median" in view.status.text()
    drawn = [item for item in view.plot.getPlotItem().items
             if isinstance(item, pg.PlotDataItem) and item.opts["symbol"] == "o"]
    np.testing.assert_allclose(drawn[0].yData, [q[1] for q in model.quartiles], rtol=1e-6)
    view.set_statistic("mean")
    assert chooser.currentData() == "mean" and "mean and 95% band" in view.status.text()
    window.evaluation.export_csv(tmp_path / "eval.csv")
    rows = list(csv.DictReader((tmp_path / "eval.csv").read_text().splitlines()))
    assert len(rows) == 44 and rows[0]["run"] == "model on show" and rows[0]["tasks"] == "40"
    assert float(rows[10]["mse_median"]) == pytest.approx(model.quartiles[10][1], rel=1e-5)
    assert window.export_figure(tmp_path / "eval.png")
    with Image.open(tmp_path / "eval.png") as image:
        assert image.size == (1920, 1080)


def test_the_bundled_models_of_every_algorithm_are_compared_with_no_training(window, qtbot):
    assert window.show_bundled_comparison()
    names = [run.name for run in window.store.runs()]
    assert names == ["bundled MAML", "bundled first-order MAML", "bundled Reptile", "bundled ANIL",
                     "bundled Meta-SGD"]
    assert {run.algorithm for run in window.store.runs()} == {"maml", "fomaml", "reptile", "anil",
                                                              "metasgd"}
    panel = window.adaptation
    assert window.tabs.currentWidget() is panel and len(panel.points) > 0
    settled(qtbot, panel)
    assert len(panel.session.compared) == 5 and len(panel.curve_view.run_items) == 5
    texts = panel.legend_texts()
    for name in names:
        assert any(text.startswith(f"{name}, 10 steps  (MSE") for text in texts), name
    assert window.show_bundled_comparison()  # again: the same five runs, not five more
    assert len(window.store.runs()) == 5


def test_the_band_can_span_min_to_max_and_the_table_exports(window, tmp_path):
    runs = [window.store.add(variant(seed)) for seed in (0, 1)]
    for run in runs:
        window.runs_panel.set_shown(run.id, True)
    by_name(window, "Group seeds").setChecked(True)
    by_name(window, "Seed band").setCurrentIndex(1)
    legend = [label.text for _, label in window.loss_plot.legend.items]
    assert "maml, 2 seeds (mean, min–max)" in legend
    fill = next(items for key, items in window.loss_plot.overlays._items.items()
                if key.startswith("group:"))
    low, high = fill[2].getData()[1], fill[3].getData()[1]
    histories = [variant(seed).history.train_loss for seed in (0, 1)]
    from maml_studio.run_groups import smoothed

    curves = np.stack([smoothed(h) for h in histories])
    np.testing.assert_allclose(low, curves.min(axis=0))
    np.testing.assert_allclose(high, curves.max(axis=0))
    assert window.runs_panel.export_table(tmp_path / "runs.md")
    assert (tmp_path / "runs.md").read_text().count("\n") == 4  # header, rule and two runs


def test_an_exploding_model_leaves_the_evaluation_frame_without_flattening_the_rest(window, qtbot):
    from maml_studio.evaluation_curves import Curve, EvaluationCurves

    steady = Curve("steady", "#1f77b4", False, [0, 1, 2, 3], [3.0, 0.8, 0.5, 0.4], [0.2, 0.1, 0.1, 0.1])
    wild = Curve("wild", "#9467bd", False, [0, 1, 2, 3], [3.1, 0.5, 9e4, float("nan")],
                 [0.2, 0.1, 5e4, float("nan")])
    view = window.evaluation
    view._finished(EvaluationCurves("mse", 600, [steady, wild], []), "")
    low, high = view.plot.getPlotItem().vb.viewRange()[1]
    assert low == 0 and 3.3 < high < 4.0  # the frame of the unadapted errors, not of 90 000
    legend = [label.text for _, label in view.legend.items]
    assert legend == ["steady", "wild (leaves the frame at step 2)"]
    assert view.leaving == {"wild": 2}


def test_the_evaluate_button_itself_evaluates(window, qtbot):
    by_name(window, "Evaluate runs").click()
    qtbot.waitUntil(lambda: window.evaluation.result is not None and not window.evaluation.running,
                    timeout=120_000)
    assert window.evaluation.result.tasks == 600
    assert [curve.name for curve in window.evaluation.result.curves][:1] == ["model on show"]
    assert by_name(window, "Evaluate runs").isEnabled()


def test_continuing_an_opened_run_never_replaces_another_runs_entry(window, qtbot):
    quick_run(window, iterations=60)
    window.start_training()
    qtbot.waitUntil(lambda: window.status == "completed", timeout=120_000)
    first = window.store.runs()[0]
    quick_run(window, iterations=100_000)
    window.start_training()
    qtbot.waitUntil(lambda: window.history.iterations > 20, timeout=60_000)
    window.stop_training()
    qtbot.waitUntil(lambda: not window.controller.running and len(window.store.runs()) == 2,
                    timeout=60_000)
    stopped = window.store.runs()[1]
    assert window.open_run(stopped.id) and window.resumable
    window.start_training()  # continues the opened run
    qtbot.waitUntil(lambda: window.history.iterations > stopped.iterations + 10, timeout=60_000)
    window.stop_training()
    qtbot.waitUntil(lambda: not window.controller.running and len(window.store.runs()) == 3,
                    timeout=60_000)
    ids = [run.id for run in window.store.runs()]
    assert first.id in ids and stopped.id in ids  # neither was replaced by the continued run


def test_a_comparison_queued_while_a_run_trains_starts_when_it_ends(window, qtbot):
    quick_run(window, iterations=150)
    window.start_training()
    assert window.compare_algorithms(["fomaml"], seeds=1)
    assert window.queue.current is None and len(window.queue.waiting) == 1  # waits its turn
    qtbot.waitUntil(lambda: len(window.store.runs()) == 2 and not window.queue.active,
                    timeout=180_000)
    assert [run.algorithm for run in window.store.runs()] == ["maml", "fomaml"]


def test_runs_another_program_adds_to_the_workspace_appear_in_the_table(window, qtbot):
    from maml_studio.run_store import RunStore

    elsewhere = RunStore(window.store.folder)  # as `maml-studio train --workspace` would
    elsewhere.add(variant(7), name="from the command line")
    qtbot.waitUntil(lambda: "from the command line" in row_names(window), timeout=60_000)
    elsewhere.delete(elsewhere.runs()[0].id)
    qtbot.waitUntil(lambda: row_names(window) == [], timeout=60_000)


def test_a_failed_index_write_is_shown_in_the_dock_and_the_run_still_listed(window, qtbot):
    from maml_studio.run_store import INDEX_NAME

    index = window.store.index_path
    index.unlink(missing_ok=True)
    index.mkdir()
    run = window.store.add(variant(0), name="kept in its file")
    assert row_names(window) == ["kept in its file"]
    warning = window.runs_panel.index_warning
    assert not warning.isHidden() and "cannot write the workspace index" in warning.text()
    assert INDEX_NAME in warning.text() and "rebuilt from the files" in warning.text()
    index.rmdir()
    window.store.rename(run.id, "renamed")
    assert warning.isHidden() and row_names(window) == ["renamed"]


def test_a_run_that_did_not_complete_says_so_in_the_table(window):
    stopped = variant(0, losses=300)
    stopped.config.training.iterations = 30_000
    window.store.add(stopped, name="stopped early", status="stopped")
    window.store.add(variant(1, losses=200), name="blew up", status="diverged")
    window.store.add(variant(2, losses=300), name="done")
    table = window.runs_panel.table
    cells = {table.item(row, 0).text(): table.item(row, 4) for row in range(table.rowCount())}
    assert cells["stopped early"].text() == "300 of 30,000, stopped"
    assert cells["blew up"].text().endswith(", diverged") and "diverged" in cells["blew up"].toolTip()
    assert cells["done"].text() == "300"


def test_the_runs_ticked_in_a_workspace_are_ticked_again_at_the_next_start(window, qtbot, tmp_path):
    first = window.store.add(variant(0), name="kept ticked")
    window.store.add(variant(1), name="left unticked")
    window.runs_panel.set_shown(first.id, True)
    folder = window.store.folder
    other = tmp_path / "other-workspace"
    assert window.open_workspace(other) and window.runs_panel.shown_ids() == []
    assert window.open_workspace(folder) and window.runs_panel.shown_ids() == [first.id]
    reopened = MainWindow(settings=window.settings)
    qtbot.addWidget(reopened)
    assert reopened.runs_panel.shown_ids() == [first.id]
    assert [run.name for run in reopened.adaptation.session.compared] == ["kept ticked"]
    reopened.close()


def test_a_refused_name_asks_again_with_what_was_typed(window, monkeypatch):
    from PySide6.QtWidgets import QInputDialog, QMessageBox

    run = window.store.add(variant(0), name="before")
    answers = iter([("", True), ("after", True)])
    asked_with = []

    def get_text(parent, title, label, text=""):
        asked_with.append(text)
        return next(answers)

    warnings = []
    monkeypatch.setattr(QInputDialog, "getText", get_text)
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    assert window.runs_panel.rename(run.id)
    assert asked_with == ["before", ""] and len(warnings) == 1 and "empty" in warnings[0]
    assert window.store.get(run.id).name == "after"


def test_the_loss_plot_fits_to_short_ticked_runs_beside_a_long_model(window, qtbot):
    assert window.history.validation[-1][0] == 70_000  # the bundled model on show
    fit = next(a for a in window.actions() if a.objectName() == "Fit to ticked runs")
    fit.trigger()
    assert "No runs are ticked" in window.statusBar().currentMessage()
    window.run.append(np.linspace(3.0, 0.3, 70_000), [])  # a long loss curve of its own, drawn thinned
    for seed in (0, 1):
        checkpoint = variant(seed, losses=300)
        if seed == 1:  # no validation: its end is known only from its training losses
            checkpoint.history = History(checkpoint.history.train_loss, [], [])
        run = window.store.add(checkpoint, name=f"short seed {seed}")
        window.runs_panel.set_shown(run.id, True)
    window.loss_plot.refresh()
    view = window.loss_plot.getPlotItem().vb
    # Drawn (the curves on screen are thinned to the view's width), everything at first: the
    # short runs are a sliver.
    qtbot.waitUntil(lambda: view.viewRange()[0][1] > 60_000, timeout=60_000)
    window.tabs.setCurrentIndex(1)
    fit.trigger()
    assert window.tabs.currentWidget() is window.loss_plot
    (x_low, x_high), (y_low, y_high) = view.viewRange()
    assert x_low <= 0 and 300 <= x_high < 320
    # The short runs' losses (3 falling to 0.5) fill the frame, and the model's own over its
    # first 300 iterations (near 3); its validations (from iteration 500) do not widen it.
    assert 0 <= y_low < 0.5 and 3.0 < y_high < 3.6
    window.loss_plot.refresh()  # a refresh (four a second while training) keeps the frame
    assert view.viewRange()[0][1] == x_high
    window.log_action.trigger()  # on a log axis: the same losses, in log10 units
    for run in window.store.runs():  # shown afresh while the axis is logarithmic
        window.runs_panel.set_shown(run.id, False)
        window.runs_panel.set_shown(run.id, run.name.startswith("short"))
    qtbot.wait(100)
    fit.trigger()
    (_, _), (log_low, log_high) = view.viewRange()
    assert math.log10(0.2) < log_low < math.log10(0.5) and math.log10(3.0) < log_high < math.log10(4.0)
    window.log_action.trigger()
    # Another run ticked: every curve is followed again, and a fit takes in the longer run.
    longer = window.store.add(variant(2, losses=5_000), name="longer")
    window.runs_panel.set_shown(longer.id, True)
    qtbot.waitUntil(lambda: view.viewRange()[0][1] > 60_000, timeout=60_000)
    fit.trigger()
    assert 5_000 <= view.viewRange()[0][1] < 5_300
    window.loss_plot.mouseDoubleClickEvent(_double_click())
    # A double click: everything again.
    qtbot.waitUntil(lambda: view.viewRange()[0][1] > 60_000, timeout=60_000)


def _double_click():
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    return QMouseEvent(QEvent.Type.MouseButtonDblClick, QPointF(5, 5), QPointF(5, 5),
                       Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
