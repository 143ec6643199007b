"""What the Meta-gradient, Inner loop and Parameter space views compute, and what their state
models say, checked against the engine functions they wrap."""

import csv

import numpy as np
import pytest

from maml_studio.anatomy import meta_gradient_anatomy, sample_batch
from maml_studio.checkpoint import Checkpoint, load_checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.experiment import Experiment
from maml_studio.history import History
from maml_studio.inner_loop_curves import inner_loop_curves, sample_curve_tasks
from maml_studio.inside_jobs import (
    CurveModel,
    InnerLoopRequest,
    SliceRequest,
    compute_inner_loop,
    compute_slice,
    still_anatomy,
    write_inner_loop_csv,
)
from maml_studio.inside_state import (
    InnerLoopViewState,
    MetaGradientViewState,
    ParameterSpaceViewState,
    algorithm_note,
    slice_caption,
)
from maml_studio.parameter_slice import parameter_slice
from maml_studio.resources import bundled_checkpoint
from maml_studio.tasks import generator_for


@pytest.fixture(scope="module")
def bundled():
    return load_checkpoint(bundled_checkpoint())


def _fresh(config: ExperimentConfig, seed=0, baseline=True) -> Checkpoint:
    experiment = Experiment.from_config(config)
    return Checkpoint(config, experiment.learner.init_state(generator_for(seed)),
                      experiment.baseline.init_state(generator_for(seed + 1)) if baseline else None,
                      History(train_loss=[1.0] * 7))


def test_the_still_anatomy_is_second_order_mamls_on_fresh_tasks(bundled):
    sample = still_anatomy(bundled, seed=3, tasks=12)
    expected = meta_gradient_anatomy(bundled.experiment().learner, bundled.state,
                                     sample_batch(bundled.config, 12, 3))
    assert sample.cosine_maml_fomaml == pytest.approx(expected.cosine_maml_fomaml, abs=1e-6)
    assert sample.cosine_maml_reptile == pytest.approx(expected.cosine_maml_reptile, abs=1e-6)
    assert sample.second_order_ratio == pytest.approx(expected.second_order_ratio, rel=1e-5)
    assert sample.iteration == bundled.history.last_iteration == 70_000  # its validations say so
    assert sample.milliseconds > 0 and sample.peak_memory_mb > 0 and sample.tasks == 12


def test_inner_loop_curves_of_every_model_on_the_same_tasks(bundled, tmp_path):
    other = ExperimentConfig()
    other.task.ranges = {"amplitude": [1.0, 2.0], "phase": [0.0, 1.0]}
    request = InnerLoopRequest((CurveModel("meta", "#c81e32", bundled),
                                CurveModel("base", "#be6400", bundled, baseline=True),
                                CurveModel("fresh run", "#1f77b4", _fresh(ExperimentConfig())),
                                CurveModel("elsewhere", "#1b9e77", _fresh(other))),
                               serial=4, tasks=50, steps=5, seed=2)
    result = compute_inner_loop(request)
    assert result.serial == 4 and result.tasks == 50 and result.steps == 5 and result.loss == "MSE"
    assert [m.name for m in result.curves] == ["meta", "base", "fresh run"]
    assert result.skipped == ["elsewhere: trained on other tasks"]
    tasks = sample_curve_tasks(bundled.config, 50, 2)
    experiment = bundled.experiment()
    meta = inner_loop_curves(experiment.learner, bundled.state, tasks, steps=5)
    base = inner_loop_curves(experiment.baseline, bundled.baseline_state, tasks, steps=5)
    for drawn, expected in ((result.curves[0].curves, meta), (result.curves[1].curves, base)):
        np.testing.assert_allclose(drawn.query, expected.query, rtol=1e-6)
        np.testing.assert_allclose(drawn.support_ci95, expected.support_ci95, rtol=1e-6)
    assert result.curves[1].baseline and not result.curves[0].baseline
    path = tmp_path / "inner.csv"
    write_inner_loop_csv(result, path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 3 * 6
    first = rows[1]
    assert first["model"] == "meta" and first["kind"] == "meta-learned" and first["step"] == "1"
    assert float(first["query_loss"]) == pytest.approx(meta.query[1], rel=1e-5)
    assert float(first["query_median"]) == pytest.approx(meta.query_quartiles[1, 1], rel=1e-5)
    assert float(first["support_q25"]) <= float(first["support_median"]) <= float(first["support_q75"])
    assert rows[6]["kind"] == "pretrained"


def test_a_model_without_a_baseline_draws_none_and_no_models_draw_nothing():
    result = compute_inner_loop(InnerLoopRequest(
        (CurveModel("m", "#000000", _fresh(ExperimentConfig(), baseline=False)),
         CurveModel("b", "#000000", _fresh(ExperimentConfig(), baseline=False), baseline=True)),
        tasks=10, steps=2))
    assert [m.name for m in result.curves] == ["m"]
    assert compute_inner_loop(InnerLoopRequest(())).curves == []


def test_the_slice_is_the_engines_on_a_fixed_batch(bundled):
    result = compute_slice(SliceRequest(bundled, "pca", serial=7, tasks=10, resolution=16, seed=1))
    expected = parameter_slice(bundled.experiment().learner, bundled.state,
                               sample_batch(bundled.config, 10, 1), resolution=16, seed=1)
    np.testing.assert_allclose(result.slice.losses, expected.losses, rtol=1e-6)
    np.testing.assert_allclose(result.slice.paths, expected.paths, rtol=1e-6, atol=1e-9)
    assert result.serial == 7 and result.parameters == 1761 and not result.exact
    again = compute_slice(SliceRequest(bundled, "pca", tasks=10, resolution=16, seed=1))
    np.testing.assert_array_equal(again.batch.query_x, result.batch.query_x)  # the same tasks
    caption = slice_caption(result)
    shares = result.slice.directions.explained
    assert f"{shares[0]:.0%} and {shares[1]:.0%}" in caption
    assert f"{result.slice.path_residual:.0%}" in caption
    random = compute_slice(SliceRequest(bundled, "random", tasks=10, resolution=16))
    assert random.slice.directions.kind == "random"
    assert "random filter-normalised" in slice_caption(random)


def test_a_network_with_no_hidden_layer_on_the_line_is_sliced_exactly():
    config = ExperimentConfig()
    config.set_from_string("task.family=line")
    config.set_from_string("model.hidden=[]")
    checkpoint = _fresh(config)
    result = compute_slice(SliceRequest(checkpoint, tasks=8, resolution=12))
    assert result.parameters == 2 and result.exact
    assert result.slice.path_residual < 1e-9
    assert slice_caption(result).startswith("Exact") and "weight and its bias" in slice_caption(result)
    # On the parameters' own axes: the landscape at (a, b) is the model with w + a and b + b.
    assert result.slice.directions.kind == "parameters"
    s, batch = result.slice, result.batch
    w, b = float(checkpoint.state["layer0.weight"]), float(checkpoint.state["layer0.bias"])
    for i, j in ((0, 0), (3, 9), (11, 5)):
        prediction = (w + s.alphas[i]) * batch.query_x.double() + (b + s.betas[j])
        expected = float(((prediction - batch.query_y.double()) ** 2).mean())
        assert s.losses[i, j] == pytest.approx(expected, rel=1e-5)
    random = compute_slice(SliceRequest(checkpoint, "random", tasks=8, resolution=12))
    assert random.slice.directions.kind == "random" and random.exact


def test_view_state_models_refuse_and_announce():
    meta = MetaGradientViewState()
    seen = []
    meta.changed.connect(seen.append)
    meta.set_layer_part("reptile")
    meta.set_layer_part("reptile")
    meta.set_sampling(False)
    assert seen == ["layer_part", "sampling"]
    with pytest.raises(ValueError, match="per-layer"):
        meta.set_layer_part("hessian")

    space = ParameterSpaceViewState()
    seen = []
    space.changed.connect(seen.append)
    space.set_directions("random")
    space.set_tasks_shown(-3)
    assert space.tasks_shown == 0 and seen == ["directions", "tasks_shown"]
    assert space.shown_tasks() == range(0)
    with pytest.raises(ValueError, match="directions"):
        space.set_directions("pca-3d")

    inner = InnerLoopViewState()
    seen = []
    inner.changed.connect(seen.append)
    inner.set_log_scale(False)
    inner.set_result(None)
    assert seen == ["log_scale", "result"]


def test_the_note_says_whose_gradient_the_curves_dissect():
    assert "own meta-gradient" in algorithm_note("maml")
    for name, text in (("fomaml", "first-order MAML"), ("reptile", "Reptile"), ("anil", "ANIL"),
                       ("metasgd", "Meta-SGD")):
        note = algorithm_note(name)
        assert text in note and "what second-order MAML would have done" in note
    assert "first-order MAML" in algorithm_note("maml", first_order=True)
