"""The Meta-gradient, Inner loop and Parameter space tabs: live during a run, computed off the
GUI thread, and drawing what the engine functions compute for the model on show."""

import dataclasses

import numpy as np
import pytest
import torch

from maml_studio.anatomy import meta_gradient_anatomy, sample_batch
from maml_studio.gui import window_inside
from maml_studio.inner_loop_curves import inner_loop_curves, sample_curve_tasks
from maml_studio.parameter_slice import parameter_slice
from tests.gui.conftest import by_name, quick_run

WAIT = 180_000


def _sample_often(window) -> None:
    """A larger share of the time for the sampler than the app's, so that a slow CPU yields the
    samples these tests wait for within their limits."""
    window.anatomy_sampler.budget = 0.5


def _record_sampled(window) -> list:
    """Wrap the sampler's source: every batch and weights it samples, kept for checking."""
    recorded = []
    source = window.anatomy_sampler.source

    def recording():
        live = source()
        if live is None:
            return None

        def weights():
            state = live.weights()
            recorded.append((live.iteration, live.batch, {k: v.clone() for k, v in state.items()},
                             live.learner))
            return state
        return dataclasses.replace(live, weights=weights)
    window.anatomy_sampler.source = recording
    return recorded


def _stop(window, qtbot) -> None:
    window.stop_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=WAIT)


def test_meta_gradient_samples_appear_and_grow_while_training_and_are_the_engines(window, qtbot):
    recorded = _record_sampled(window)
    _sample_often(window)
    quick_run(window)
    window.tabs.setCurrentWidget(by_name(window, "Meta-gradient"))
    assert window.start_training()
    qtbot.waitUntil(lambda: len(window.anatomy) >= 2, timeout=WAIT)
    grown = len(window.anatomy)
    qtbot.waitUntil(lambda: len(window.anatomy) > grown, timeout=WAIT)
    _stop(window, qtbot)
    view = window.meta_gradient_view
    x, y = view.cos_fo.getData()
    np.testing.assert_array_equal(x, window.anatomy.iterations())
    np.testing.assert_array_equal(y, window.anatomy.column("cosine_maml_fomaml"))
    assert (np.diff(x) > 0).all() and x[-1] <= window.history.iterations
    for sample in window.anatomy.samples[:2]:  # the same batch and weights, through the engine
        _, batch, state, learner = next(r for r in recorded if r[0] == sample.iteration)
        expected = meta_gradient_anatomy(learner, state, batch)
        assert sample.cosine_maml_fomaml == pytest.approx(expected.cosine_maml_fomaml, abs=1e-6)
        assert sample.cosine_maml_reptile == pytest.approx(expected.cosine_maml_reptile, abs=1e-6)
        assert sample.second_order_ratio == pytest.approx(expected.second_order_ratio, rel=1e-5)
    _, ratio = view.ratio.getData()
    np.testing.assert_array_equal(ratio, window.anatomy.column("second_order_ratio"))
    assert len(view.layer_curves) == 6  # the 1-40-40-1 network's tensors, one curve each
    layer_y = view.layer_curves["layer1.weight"].yData  # as given: the plot shows its log
    np.testing.assert_allclose(layer_y, window.anatomy.layer_column("layer1.weight", "maml"))
    window.meta_gradient_state.set_layer_part("reptile")
    np.testing.assert_allclose(view.layer_curves["layer1.weight"].yData,
                               window.anatomy.layer_column("layer1.weight", "reptile"))
    assert np.isfinite(window.anatomy.column("peak_memory_mb")[0])  # the first sample is costed
    assert (window.anatomy.column("milliseconds")[1:] > 0).all()  # the run's time per iteration
    assert "own meta-gradient" in by_name(window, "Meta-gradient note").text()
    assert "samples of the training batches" in by_name(window, "Meta-gradient status").text()

    # The run kept in the workspace carries its samples; opening it shows them again.
    samples = [s.iteration for s in window.anatomy.samples]
    kept = window.store.runs()[-1]
    window.reset_training()
    assert len(window.anatomy) == 0
    assert window.open_run(kept.id)
    qtbot.waitUntil(lambda: len(window.anatomy) > 0, timeout=WAIT)
    assert [s.iteration for s in window.anatomy.samples] == samples


def test_a_first_order_run_is_dissected_as_maml_would_have_done_and_sampling_can_stop(window, qtbot):
    _sample_often(window)
    quick_run(window)
    window.experiment_panel.editors["algorithm.name"].set_value("fomaml")
    window.tabs.setCurrentWidget(window.meta_gradient_view)
    assert window.start_training()
    qtbot.waitUntil(lambda: len(window.anatomy) >= 1, timeout=WAIT)
    note = by_name(window, "Meta-gradient note").text()
    assert "first-order MAML" in note and "what second-order MAML would have done" in note
    sample = window.anatomy.samples[0]
    assert not sample.first_order and sample.second_order_ratio > 0  # MAML's, not the run's
    by_name(window, "Sample the meta-gradient while training").setChecked(False)
    assert not window.meta_gradient_state.sampling
    # A sample under way still lands: wait until it has, however slow the machine.
    qtbot.waitUntil(lambda: not window.anatomy_sampler.busy, timeout=WAIT)
    qtbot.wait(100)
    count = len(window.anatomy)
    iteration = window.history.iterations
    qtbot.waitUntil(lambda: window.history.iterations > iteration + 500, timeout=WAIT)
    qtbot.wait(1500)
    assert len(window.anatomy) == count  # nothing sampled while switched off
    window.meta_gradient_state.set_sampling(True)
    window.toggle_pause()
    qtbot.wait(300)
    paused_at = len(window.anatomy)
    qtbot.wait(1500)
    assert len(window.anatomy) <= paused_at + 1  # at most a sample under way when paused
    window.toggle_pause()  # resumed: sampling goes on
    qtbot.waitUntil(lambda: len(window.anatomy) >= paused_at + 2, timeout=WAIT)
    _stop(window, qtbot)


def test_without_training_the_meta_gradient_view_shows_the_model_on_show(window, qtbot):
    qtbot.waitUntil(lambda: window.anatomy.still is not None, timeout=WAIT)
    view = window.meta_gradient_view
    drawn = view.still_items["cos_fo"].getData()[0]
    assert not view.isVisible() and (drawn is None or not len(drawn))  # not drawn while hidden
    window.tabs.setCurrentWidget(view)  # drawn when shown
    model = window.model
    expected = meta_gradient_anatomy(model.experiment().learner, model.state,
                                     sample_batch(model.config, 25, 0))
    x, y = view.still_items["cos_fo"].getData()
    assert x[0] == 70_000 and y[0] == pytest.approx(expected.cosine_maml_fomaml, abs=1e-6)
    assert view.still_items["ratio"].getData()[1][0] == pytest.approx(expected.second_order_ratio,
                                                                      rel=1e-5)
    assert view.layer_curves["layer0.bias"].yData[0] == pytest.approx(
        expected.per_layer["layer0.bias"]["maml"], rel=1e-5)
    status = by_name(window, "Meta-gradient status").text()
    assert "Model on show, 25 fresh tasks" in status and f"{expected.cosine_maml_fomaml:.2f}" in status
    assert "How to read it" in by_name(window, "Meta-gradient caption").text()


def test_the_inner_loop_view_draws_the_engines_curves_of_the_model_and_baseline(window, qtbot,
                                                                              tmp_path):
    qtbot.wait(500)
    assert window.inner_loop_state.result is None  # not on show: nothing computed
    window.tabs.setCurrentWidget(by_name(window, "Inner loop"))
    qtbot.waitUntil(lambda: window.inner_loop_state.result is not None, timeout=WAIT)
    result = window.inner_loop_state.result
    assert [m.name for m in result.curves] == ["meta-learned", "pretrained baseline"]
    model = window.model
    experiment = model.experiment()
    tasks = sample_curve_tasks(model.config, 600, 0)
    meta = inner_loop_curves(experiment.learner, model.state, tasks, steps=20)
    base = inner_loop_curves(experiment.baseline, model.baseline_state, tasks, steps=20)
    view = window.inner_loop_view
    meta_items, base_items = list(view._items.values())[:2]
    for items, expected in ((meta_items, meta), (base_items, base)):
        (support_line, _, _), (query_line, low, high) = items[:2]
        np.testing.assert_array_equal(query_line.xData, np.arange(21))  # data as given (log axes)
        np.testing.assert_allclose(query_line.yData, expected.query, rtol=1e-6)
        np.testing.assert_allclose(support_line.yData, expected.support, rtol=1e-6)
        np.testing.assert_allclose(high.yData, expected.query + expected.query_ci95, rtol=1e-6)
        np.testing.assert_allclose(low.yData, np.maximum(expected.query - expected.query_ci95,
                                                         expected.query / 10), rtol=1e-6)
    assert meta.query[1] < base.query[1]  # what the picture is for: one step already helps
    assert "600 fresh tasks" in by_name(window, "Inner-loop status").text()
    legend = by_name(window, "Inner-loop legend").text()
    assert "meta-learned" in legend and "pretrained baseline" in legend and "leaves" not in legend
    # The median and quartiles: the same items, fed with the engine's percentiles.
    chooser = by_name(window, "Inner-loop statistic")
    chooser.setCurrentIndex(chooser.findData("median"))
    assert window.inner_loop_state.statistic == "median"
    (support_line, _, _), (query_line, low, high) = meta_items[:2]
    q25, median, q75 = meta.query_quartiles
    np.testing.assert_allclose(query_line.yData, median, rtol=1e-6)
    np.testing.assert_allclose(support_line.yData, meta.support_quartiles[1], rtol=1e-6)
    np.testing.assert_allclose(high.yData, q75, rtol=1e-6)
    np.testing.assert_allclose(low.yData, np.maximum(q25, median / 10), rtol=1e-6)
    assert "median over 600 fresh tasks" in by_name(window, "Inner-loop status").text()
    view.set_status("Computing the curves at iteration 5 on 200 fresh tasks…")
    window.inner_loop_state.set_statistic("mean")  # the state leads, the chooser follows
    assert chooser.currentData() == "mean"
    assert by_name(window, "Inner-loop status").text().startswith("Computing")  # not the old summary
    window.inner_loop_state.set_result(result)  # the result computed: its summary
    assert "mean over 600 fresh tasks" in by_name(window, "Inner-loop status").text()
    np.testing.assert_allclose(query_line.yData, meta.query, rtol=1e-6)
    by_name(window, "Inner-loop log scale").setChecked(False)
    assert not view.support_plot.getPlotItem().ctrl.logYCheck.isChecked()
    view.export_csv(tmp_path / "inner.csv")
    assert len((tmp_path / "inner.csv").read_text().splitlines()) == 1 + 2 * 21


def test_inner_loop_and_parameter_space_follow_a_run_live(window, qtbot, monkeypatch):
    monkeypatch.setitem(window_inside.LIVE_INTERVAL, "inner", 0.5)
    monkeypatch.setitem(window_inside.LIVE_INTERVAL, "slice", 0.3)
    monkeypatch.setattr(window_inside, "INNER_LOOP_LIVE_TASKS", 100)  # quicker; the same code
    quick_run(window)
    assert window.start_training()
    window.tabs.setCurrentWidget(window.inner_loop_view)
    qtbot.waitUntil(lambda: window.inner_loop_state.result is not None
                    and window.controller.running and window.history.iterations > 0, timeout=WAIT)
    first = window.inner_loop_state.result
    assert first.tasks == 100 and 0 < first.iteration <= window.history.iterations
    qtbot.waitUntil(lambda: window.inner_loop_state.result is not first
                    and not np.allclose(window.inner_loop_state.result.curves[0].curves.query,
                                        first.curves[0].curves.query), timeout=WAIT)

    window.tabs.setCurrentWidget(window.parameter_space_view)
    qtbot.waitUntil(lambda: window.parameter_space_state.result is not None
                    and window.parameter_space_state.result.iteration > 0, timeout=WAIT)
    early = window.parameter_space_state.result
    qtbot.waitUntil(lambda: window.parameter_space_state.result.iteration > early.iteration + 200,
                    timeout=WAIT)
    later = window.parameter_space_state.result
    assert not np.allclose(later.slice.losses, early.slice.losses)
    _stop(window, qtbot)
    # Once stopped, the view shows the final model: the heat image is the engine's landscape.
    qtbot.waitUntil(lambda: window.parameter_space_state.result.iteration == window.history.iterations,
                    timeout=WAIT)
    result = window.parameter_space_state.result
    expected = parameter_slice(window.model.experiment().learner, window.model.state, result.batch)
    np.testing.assert_allclose(window.parameter_space_view.image.image,
                               np.log10(expected.losses), rtol=1e-5, atol=1e-6)


def test_the_direction_chooser_and_the_tasks_shown_redraw_the_slice(window, qtbot):
    window.tabs.setCurrentWidget(by_name(window, "Parameter space"))
    qtbot.waitUntil(lambda: window.parameter_space_state.result is not None, timeout=WAIT)
    view = window.parameter_space_view
    pca = window.parameter_space_state.result
    assert pca.slice.directions.kind == "pca"
    assert "principal directions hold" in by_name(window, "Slice faithfulness").text()
    np.testing.assert_allclose(view.image.image, np.log10(pca.slice.losses))
    assert sum(path.isVisible() for path in view.paths) == 8
    np.testing.assert_allclose(np.column_stack(view.paths[2].getData()), pca.slice.paths[2])
    # The arrows point along the projected descent directions, MAML's and first-order's.
    for key in ("maml", "fomaml"):
        x, y = view.arrows[key][1].getData()
        tip = np.array([x[1], y[1]])
        np.testing.assert_allclose(tip / view.arrow_scale, pca.slice.arrows[key], rtol=1e-6)

    by_name(window, "Tasks shown").setValue(3)
    assert sum(path.isVisible() for path in view.paths) == 3
    assert len(view.ends.data) == 3
    chooser = by_name(window, "Slice directions")
    chooser.setCurrentIndex(chooser.findData("random"))
    assert window.parameter_space_state.directions == "random"
    qtbot.waitUntil(lambda: window.parameter_space_state.result.slice.directions.kind == "random",
                    timeout=WAIT)
    assert "random filter-normalised" in by_name(window, "Slice faithfulness").text()
    random = window.parameter_space_state.result
    assert not np.allclose(random.slice.losses, pca.slice.losses)
    np.testing.assert_allclose(view.image.image, np.log10(random.slice.losses))
    chooser.setCurrentIndex(chooser.findData("pca"))
    qtbot.waitUntil(lambda: window.parameter_space_state.result.slice.directions.kind == "pca",
                    timeout=WAIT)


def test_a_linear_model_on_the_line_is_sliced_exactly(window, qtbot):
    quick_run(window, iterations=200)
    family = by_name(window, "Task family")
    family.setCurrentIndex(family.findData("line"))
    window.experiment_panel.editors["model.hidden"].widget.setText("")
    window.tabs.setCurrentWidget(window.parameter_space_view)
    assert window.start_training()
    qtbot.waitUntil(lambda: not window.controller.running, timeout=WAIT)
    assert window.model.config.model.hidden == []
    assert window.model.state["layer0.weight"].shape == torch.Size([1, 1])
    qtbot.waitUntil(lambda: window.parameter_space_state.result is not None
                    and window.parameter_space_state.result.iteration == 200, timeout=WAIT)
    assert window.parameter_space_state.result.exact
    assert by_name(window, "Slice faithfulness").text().startswith("Exact")
    plot = window.parameter_space_view.plot  # the classic picture: weight and bias as the axes
    assert plot.getAxis("bottom").labelText == "Δ layer0.weight"
    assert plot.getAxis("left").labelText == "Δ layer0.bias"


def test_a_checkpoints_damaged_samples_are_dropped_and_said_so(window, qtbot, tmp_path):
    from maml_studio.anatomy_history import METADATA_KEY
    from maml_studio.checkpoint import save_checkpoint

    checkpoint = window.current_checkpoint()
    checkpoint.info = {METADATA_KEY: '{"format": "maml-studio-anatomy-history", "version": 1, '
                                     '"rows": [[1, "\\u202e"]]}'}
    save_checkpoint(checkpoint, tmp_path / "damaged.safetensors")
    assert window.open_file(tmp_path / "damaged.safetensors")
    assert len(window.anatomy) == 0
    assert "meta-gradient samples are unusable" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.anatomy.still is not None, timeout=WAIT)  # the tab still speaks


QUIT_WHILE_COMPUTING = '''
import os, tempfile, time
from PySide6.QtCore import QSettings
from maml_studio.gui.app import make_application
from maml_studio.gui.main_window import MainWindow

app = make_application()
window = MainWindow(settings=QSettings(os.path.join(tempfile.mkdtemp(), "s.ini"),
                                       QSettings.Format.IniFormat))
window.unsaved = False
worker = window._inner_worker
compute = worker._compute
worker._compute = lambda request: [compute(request) for _ in range(3)][-1]  # long enough
window.show()
window.tabs.setCurrentWidget(window.inner_loop_view)  # its curves are computed now
began = time.monotonic()
while not worker.busy and time.monotonic() - began < 60:
    app.processEvents()
    time.sleep(0.01)
time.sleep(0.2)  # inside torch's autograd
print("computing at exit:", worker.busy, flush=True)
window.close()
'''


def test_quitting_while_a_view_computes_waits_for_it_instead_of_aborting(tmp_path):
    """A process that exits while a view's thread is inside torch aborted ("terminate called
    without an active exception"); the computation under way is now waited for."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MAML_STUDIO_WORKSPACE": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", QUIT_WHILE_COMPUTING], capture_output=True,
                          text=True, env=env, timeout=300)
    assert "computing at exit: True" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 0 and "terminate called" not in done.stderr, done.stderr
