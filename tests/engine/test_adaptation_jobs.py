"""The adaptation panel's computations, run without Qt: curves, planes and the trajectory cache."""

import numpy as np
import pytest
import torch

from maml_studio import adaptation_jobs
from maml_studio.adaptation import adapt_models_together
from maml_studio.adaptation_jobs import (
    AdaptationRequest,
    PlaneRequest,
    TrajectoryCache,
    compute,
    compute_plane,
)
from maml_studio.config import ExperimentConfig
from maml_studio.decision_map import decision_maps
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.plane_maps import boundary_lines, heat_image
from maml_studio.tasks import generator_for


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch) -> TrajectoryCache:
    """The cache compute_plane uses, empty for each test."""
    cache = TrajectoryCache()
    monkeypatch.setattr(adaptation_jobs, "_trajectories", cache)
    return cache


def models_of(experiment: Experiment) -> dict:
    return {"maml": (experiment.learner, experiment.learner.init_state(seed_stream(0, "a"))),
            "pretrained": (experiment.baseline, experiment.baseline.init_state(seed_stream(0, "b")))}


def test_curves_are_the_models_adapted_together_at_every_step():
    experiment = Experiment.from_config(ExperimentConfig())  # the sine family
    models = models_of(experiment)
    support_x = np.array([-3.0, -1.0, 0.5, 2.0, 4.0])
    support_y = np.sin(support_x)
    grid = np.linspace(-5, 5, 30)
    result = compute(AdaptationRequest(7, models, support_x, support_y, grid, steps=4, lr=0.01))
    assert result.serial == 7 and result.seconds >= 0
    expected = adapt_models_together(
        list(models.values()), torch.tensor(support_x, dtype=torch.float32).reshape(-1, 1),
        torch.tensor(support_y, dtype=torch.float32).reshape(-1, 1),
        torch.tensor(grid, dtype=torch.float32).reshape(-1, 1), 4, lr=0.01)
    for name, alone in zip(models, expected, strict=True):
        assert result.curves[name].shape == (5, 30)
        assert result.support_predictions[name].shape == (5, 5)
        assert result.diverged_at[name] is None
        np.testing.assert_allclose(result.curves[name], alone.predictions[:, 0, :, 0].numpy(),
                                   rtol=1e-5, atol=1e-6)
        assert not np.allclose(result.curves[name][0], result.curves[name][4])  # the steps adapt
    # The predictions at the support points are the curves' values there.
    at_support = compute(AdaptationRequest(8, models, support_x, support_y, support_x, 4, 0.01))
    np.testing.assert_allclose(result.support_predictions["maml"], at_support.curves["maml"],
                               rtol=1e-5, atol=1e-6)


def test_models_of_different_architectures_are_adapted_in_one_request():
    """Compared runs may differ in their network: each architecture adapts as its own batch."""
    small, large = ExperimentConfig(), ExperimentConfig()
    small.model.hidden, large.model.hidden = [8], [40, 40]
    models = {}
    for name, config in (("small", small), ("large", large)):
        experiment = Experiment.from_config(config)
        models[name] = (experiment.learner, experiment.learner.init_state(seed_stream(1, name)))
    support_x = np.array([-2.0, 0.0, 2.0])
    support_y = np.sin(support_x)
    grid = np.linspace(-5, 5, 11)
    together = compute(AdaptationRequest(1, models, support_x, support_y, grid, steps=3, lr=0.05))
    for name in models:
        alone = compute(AdaptationRequest(2, {name: models[name]}, support_x, support_y, grid, 3, 0.05))
        assert together.curves[name].shape == (4, 11)
        np.testing.assert_allclose(together.curves[name], alone.curves[name], rtol=1e-5, atol=1e-6)


@pytest.fixture
def blobs():
    """Three-class blobs: two models and one sampled task with a query set."""
    config = ExperimentConfig()
    config.task.family = "blobs"
    config.task.num_classes = 3
    experiment = Experiment.from_config(config)
    batch = experiment.family.sample(1, 4, 5, generator_for(2))
    return experiment, models_of(experiment), batch


def plane_request(experiment, models, batch, step, serial=1, resolution=24, **extra):
    return PlaneRequest(serial, dict(models), experiment.family, batch.support_x[0].numpy().copy(),
                        batch.support_y[0, :, 0].numpy().copy(), step, 0.3, resolution, **extra)


def test_plane_results_have_maps_boundaries_and_accuracies_for_the_step_on_show(blobs):
    experiment, models, batch = blobs
    result = compute_plane(plane_request(
        experiment, models, batch, 3, serial=5, task_params=batch.params[0],
        query_x=batch.query_x[0].numpy(), query_y=batch.query_y[0, :, 0].numpy()))
    assert result.serial == 5 and result.step == 3
    expected = decision_maps(models, batch.support_x[0], batch.support_y[0], experiment.family.plane(24),
                             3, 3, lr=0.3, query_x=batch.query_x[0], query_y=batch.query_y[0])
    for name in models:
        np.testing.assert_allclose(result.probabilities[name], expected.probabilities[name].numpy(),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(result.images[name], heat_image(result.probabilities[name]))
        lines = boundary_lines(result.probabilities[name], experiment.family.x_range)
        np.testing.assert_array_equal(result.boundaries[name][0], lines[0])
        probabilities = result.probabilities[name]
        assert probabilities.shape == (24, 24, 3)
        np.testing.assert_allclose(probabilities.sum(-1), 1, atol=1e-5)
        assert result.images[name].shape == (24, 24, 3) and result.images[name].dtype == np.uint8
        x, y = result.boundaries[name]
        assert x.ndim == 1 and x.shape == y.shape
        assert result.support_accuracy[name].shape == (4,)
        assert result.query_accuracy[name].shape == (4,)
        assert result.diverged_at[name] is None
    x, y = result.truth_boundary
    assert x.shape == y.shape and np.isfinite(x).sum() > 10  # three blobs have boundaries
    without_task = compute_plane(plane_request(experiment, models, batch, 3))
    assert without_task.truth_boundary is None and without_task.query_accuracy is None


def test_the_truth_boundary_of_a_half_plane_task_is_its_line():
    config = ExperimentConfig()
    config.task.family = "halfplane"
    experiment = Experiment.from_config(config)
    batch = experiment.family.sample(1, 3, 0, generator_for(0))
    params = torch.tensor([1.0, 0.0, 0.5])  # class B where x1 > 0.5
    result = compute_plane(plane_request(experiment, models_of(experiment), batch, 1,
                                         task_params=params))
    x, y = result.truth_boundary
    low, high = experiment.family.x_range
    spacing = (high - low) / (2 * 24 - 1)  # the truth is drawn on a grid twice as fine
    np.testing.assert_allclose(x[np.isfinite(x)], 0.5, atol=spacing)
    assert np.nanmin(y) < low + spacing and np.nanmax(y) > high - spacing


def test_the_cache_returns_the_trajectory_only_for_the_same_models_points_and_step_size(blobs):
    experiment, models, batch = blobs
    cache = TrajectoryCache()
    request = plane_request(experiment, models, batch, 3)
    assert cache.get(request) is None
    trajectory = [object()]
    cache.keep(request, trajectory)
    # A new request for the same points (another step, another serial) finds it.
    assert cache.get(plane_request(experiment, models, batch, 9, serial=2)) is trajectory
    moved = plane_request(experiment, models, batch, 3)
    moved.support_x[0, 0] += 0.1
    assert cache.get(moved) is None
    relabelled = plane_request(experiment, models, batch, 3)
    relabelled.support_y[0] = (relabelled.support_y[0] + 1) % 3
    assert cache.get(relabelled) is None
    other_lr = PlaneRequest(1, dict(models), experiment.family, request.support_x,
                            request.support_y, 3, 0.1, 24)
    assert cache.get(other_lr) is None
    snapshot = {name: (learner, dict(state)) for name, (learner, state) in models.items()}
    assert cache.get(plane_request(experiment, snapshot, batch, 3)) is None  # a new snapshot
    renamed = {"random" if name == "pretrained" else name: pair for name, pair in models.items()}
    assert cache.get(plane_request(experiment, renamed, batch, 3)) is None


def test_more_steps_for_the_same_points_extend_the_cached_trajectory(blobs, fresh_cache, monkeypatch):
    experiment, models, batch = blobs
    compute_plane(plane_request(experiment, models, batch, 2))
    early = fresh_cache.get(plane_request(experiment, models, batch, 2))
    assert len(early) == 3
    later = compute_plane(plane_request(experiment, models, batch, 6, serial=2))
    extended = fresh_cache.get(plane_request(experiment, models, batch, 6))
    assert len(extended) == 7
    assert all(a is b for a, b in zip(early, extended[:3], strict=True))  # kept, not recomputed
    # Going back needs no steps at all: the same trajectory serves.
    back = compute_plane(plane_request(experiment, models, batch, 1, serial=3))
    assert fresh_cache.get(plane_request(experiment, models, batch, 1)) is extended
    assert back.support_accuracy["maml"].shape == (2,)
    # Extending gives what adapting from scratch gives.
    monkeypatch.setattr(adaptation_jobs, "_trajectories", TrajectoryCache())
    fresh = compute_plane(plane_request(experiment, models, batch, 6, serial=4))
    for name in models:
        np.testing.assert_allclose(later.probabilities[name], fresh.probabilities[name],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(later.support_accuracy[name], fresh.support_accuracy[name])


def test_the_step_on_show_comes_first_and_newer_points_cut_the_rest_short():
    experiment = Experiment.from_config(ExperimentConfig())
    models = models_of(experiment)
    support_x = np.array([-3.0, -1.0, 0.5, 2.0, 4.0])
    request = AdaptationRequest(3, models, support_x, np.sin(support_x), np.linspace(-5, 5, 30),
                                steps=20, lr=0.01, shown=4)
    first, full = request.phases()
    assert (first.steps, first.final, full.steps, full.final) == (4, False, 20, True)
    early, late = compute(first), compute(full)
    assert early.curves["maml"].shape == (5, 30) and not early.final
    assert late.curves["maml"].shape == (21, 30) and late.final
    # The first phase is the same computation as the start of the full one.
    np.testing.assert_array_equal(early.curves["maml"], late.curves["maml"][:5])
    assert [p.steps for p in AdaptationRequest(1, models, support_x, support_x, support_x, 20, 0.01,
                                               shown=20).phases()] == [20]
    asked = []
    assert compute(full, interrupted=lambda: asked.append(1) or len(asked) > 3) is None
    assert len(asked) == 4  # asked before every step, stopped at the first true answer
