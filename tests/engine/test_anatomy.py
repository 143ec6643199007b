"""The meta-gradient anatomy, the inner-loop curves and the parameter-space slice, checked
against independent per-task computations (a Python loop with torch.autograd.grad)."""

import json
import math

import numpy as np
import pytest
import torch

from maml_studio.algorithms import build_learner
from maml_studio.anatomy import meta_gradient_anatomy, sample_batch
from maml_studio.checkpoint import Checkpoint, save_checkpoint
from maml_studio.cli import main
from maml_studio.config import ExperimentConfig
from maml_studio.config_sections import AlgorithmConfig, TaskConfig
from maml_studio.experiment import Experiment
from maml_studio.flat_params import flatten, unflatten
from maml_studio.inner_loop_curves import inner_loop_curves, sample_curve_tasks
from maml_studio.losses import mse
from maml_studio.model import MLP
from maml_studio.parameter_slice import (
    grid_forward,
    landscape,
    parameter_slice,
    principal_directions,
    random_directions,
)
from maml_studio.tasks import build_family, generator_for
from tests.engine.reference import inner_adapt

PARTS = ("maml", "fomaml", "second_order", "reptile")


def _setup(name="maml", inner_steps=2, activation="tanh", tasks=7, hidden=(16, 12), **options):
    family = build_family(TaskConfig(family="sine"))
    model = MLP(family.dim_in, family.dim_out, hidden, activation)
    learner = build_learner(name, model, mse, AlgorithmConfig(name=name, inner_steps=inner_steps,
                                                              inner_lr=0.05, **options))
    state = learner.init_state(generator_for(4))
    for key in state:
        if key.startswith(("lr.", "lslr.")):  # learned rates that differ from the plain step
            state[key] = state[key] * (0.5 + torch.rand(state[key].shape, generator=generator_for(5)))
    return learner, state, family.sample(tasks, 10, 10, generator_for(6))


def _reference(learner, state, batch, names, rates, second_order):
    """Every part by the definitions, one task at a time, in float64."""
    model = learner.model
    theta = {k: state[k].double().detach().requires_grad_(True) for k in model.shapes()}
    tasks = batch.num_tasks
    g_maml = {k: torch.zeros_like(v) for k, v in theta.items()}
    g_fo = {k: torch.zeros_like(v) for k, v in theta.items()}
    adapted_sum = {k: torch.zeros_like(v) for k, v in theta.items()}
    for t in range(tasks):
        x, y = batch.support_x[t].double(), batch.support_y[t].double()
        adapted = inner_adapt(model, theta, rates, list(names), x, y,
                              learner.config.inner_steps, second_order=second_order)
        loss = ((model.forward(adapted, batch.query_x[t].double()) - batch.query_y[t].double())
                ** 2).mean()
        at_theta = torch.autograd.grad(loss, list(theta.values()), retain_graph=True,
                                       allow_unused=True)
        at_adapted = torch.autograd.grad(loss, [adapted[k] for k in theta])
        for k, a, b in zip(theta, at_theta, at_adapted, strict=True):
            g_maml[k] += (a if a is not None else torch.zeros_like(theta[k])) / tasks
            g_fo[k] += b / tasks
            adapted_sum[k] += adapted[k].detach()
    parts = {"maml": g_maml, "fomaml": g_fo,
             "second_order": {k: g_maml[k] - g_fo[k] for k in theta},
             "reptile": {k: theta[k].detach() - adapted_sum[k] / tasks for k in theta}}
    return {part: torch.cat([values[n].detach().reshape(-1) for n in names])
            for part, values in parts.items()}


def _cos(a, b):
    return float(torch.dot(a, b) / (a.norm() * b.norm()))


def _check(anatomy, expected, names):
    assert anatomy.names == tuple(names)
    for part in PARTS:
        np.testing.assert_allclose(anatomy.vectors[part], expected[part].numpy(),
                                   rtol=1e-9, atol=1e-12)
        assert anatomy.norms[part] == pytest.approx(float(expected[part].norm()), rel=1e-9)
    assert anatomy.cosine_maml_fomaml == pytest.approx(_cos(expected["maml"], expected["fomaml"]),
                                                       abs=1e-5)
    assert anatomy.cosine_maml_reptile == pytest.approx(
        _cos(expected["maml"], expected["reptile"]), abs=1e-5)
    ratio = float(expected["second_order"].norm() / expected["maml"].norm())
    assert anatomy.second_order_ratio == pytest.approx(ratio, rel=1e-6)
    offset = 0
    for name in names:  # per-layer norms are norms of the vectors' pieces
        size = int(np.prod(anatomy.shapes[names.index(name)]))
        for part in PARTS:
            piece = expected[part][offset:offset + size]
            assert anatomy.per_layer[name][part] == pytest.approx(float(piece.norm()), rel=1e-9)
        offset += size


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("name", ["maml", "fomaml", "reptile", "anil", "metasgd"])
def test_anatomy_of_what_maml_would_do_matches_a_per_task_autograd_loop(name, activation):
    learner, state, batch = _setup(name, activation=activation)
    anatomy = meta_gradient_anatomy(learner, state, batch, dtype=torch.float64)
    names = list(learner.model.shapes())
    rates = dict.fromkeys(names, 0.05)  # every run is compared with plain MAML's step
    _check(anatomy, _reference(learner, state, batch, names, rates, second_order=True), names)
    assert anatomy.differentiation == "maml" and not anatomy.first_order
    assert anatomy.second_order_ratio > 0


def test_anatomy_in_float32_agrees_with_float64_to_five_places():
    learner, state, batch = _setup("maml", activation="tanh")
    single = meta_gradient_anatomy(learner, state, batch)
    double = meta_gradient_anatomy(learner, state, batch, dtype=torch.float64)
    assert single.cosine_maml_fomaml == pytest.approx(double.cosine_maml_fomaml, abs=1e-5)
    assert single.cosine_maml_reptile == pytest.approx(double.cosine_maml_reptile, abs=1e-5)


@pytest.mark.parametrize("name", ["anil", "metasgd"])
def test_anatomy_of_the_runs_own_inner_loop_matches_the_reference(name):
    learner, state, batch = _setup(name)
    anatomy = meta_gradient_anatomy(learner, state, batch, differentiation="run",
                                    dtype=torch.float64)
    names = list(learner.adapted_names)
    learned = name == "metasgd"
    rates = {n: state["lr." + n].double() if learned else 0.05 for n in names}
    expected = _reference(learner, state, batch, names, rates, second_order=True)
    _check(anatomy, expected, names)
    assert anatomy.second_order_ratio > 0


def test_anatomy_of_learned_per_step_rates_takes_each_steps_rate():
    learner, state, batch = _setup("maml", learned_step_rates=True)
    anatomy = meta_gradient_anatomy(learner, state, batch, differentiation="run",
                                    dtype=torch.float64)
    names = list(learner.adapted_names)
    rates = [{n: state["lslr." + n][step].double() for n in names} for step in range(2)]
    _check(anatomy, _reference(learner, state, batch, names, rates, second_order=True), names)


@pytest.mark.parametrize("name, options", [
    ("fomaml", {}), ("reptile", {}), ("maml", {"first_order_iterations": 10}),
])
def test_a_first_order_runs_own_gradient_has_no_second_order_term(name, options):
    learner, state, batch = _setup(name, **options)
    run = meta_gradient_anatomy(learner, state, batch, differentiation="run", iteration=3)
    assert run.first_order
    assert run.second_order_ratio == 0.0 and run.norms["second_order"] == 0.0
    assert not np.any(run.vectors["second_order"])
    np.testing.assert_array_equal(run.vectors["maml"], run.vectors["fomaml"])
    assert run.cosine_maml_fomaml == 1.0
    # what MAML would have done at the same weights does have one
    assert meta_gradient_anatomy(learner, state, batch).second_order_ratio > 1e-3


def test_a_second_order_runs_own_gradient_has_one():
    learner, state, batch = _setup("maml")
    run = meta_gradient_anatomy(learner, state, batch, differentiation="run")
    assert not run.first_order and run.second_order_ratio > 1e-3
    learner, state, batch = _setup("maml", first_order_iterations=10)
    after = meta_gradient_anatomy(learner, state, batch, differentiation="run", iteration=10)
    assert not after.first_order and after.second_order_ratio > 1e-3


def test_anatomy_measures_the_meta_steps_time_and_memory_and_refuses_the_baseline():
    learner, state, batch = _setup("maml", hidden=(40, 40), tasks=25)
    anatomy = meta_gradient_anatomy(learner, state, batch, measure_cost=True)
    assert anatomy.cost.milliseconds > 0 and anatomy.cost.peak_memory_mb > 0
    baseline = build_learner("pretrained", learner.model, mse, learner.config)
    with pytest.raises(ValueError, match="no inner loop"):
        meta_gradient_anatomy(baseline, baseline.init_state(generator_for(0)), batch)


def test_a_live_run_offers_its_last_meta_batch_for_the_anatomy(small_config):
    from maml_studio.training import Trainer

    small_config.training.iterations = 3
    small_config.training.train_baseline = False
    trainer = Trainer(small_config)
    assert trainer.latest_batch() is None
    for _event in trainer.run():
        pass
    batch = trainer.latest_batch()
    assert batch.num_tasks == small_config.training.meta_batch_size
    anatomy = meta_gradient_anatomy(trainer.experiment.learner, trainer.snapshot()["state"], batch)
    assert anatomy.tasks == 25 and anatomy.norms["maml"] > 0


# -- the inner loop, step by step ---------------------------------------------------------------
def _fresh_sine_model(task_seed: int):
    """An untrained sine MLP, its weights and 40 fresh tasks of the family."""
    config = ExperimentConfig()
    experiment = Experiment.from_config(config)
    return experiment, experiment.learner.init_state(generator_for(0)), \
        sample_curve_tasks(config, tasks=40, seed=task_seed)


def test_inner_loop_curves_match_a_direct_loop_over_steps():
    experiment, state, tasks = _fresh_sine_model(2)
    curves = inner_loop_curves(experiment.learner, state, tasks, steps=6, chunk=15)
    assert curves.steps.tolist() == list(range(7)) and curves.tasks == 40
    assert curves.diverged_at is None
    params = dict(state)
    for step in range(7):
        support, query = [], []
        for t in range(40):
            task = inner_adapt(experiment.model, {k: v.clone().requires_grad_(True)
                                                  for k, v in state.items()},
                               dict.fromkeys(state, 0.01), list(state), tasks.support_x[t],
                               tasks.support_y[t], step, second_order=False)
            with torch.no_grad():
                support.append(float(mse(experiment.model.forward(task, tasks.support_x[t]),
                                         tasks.support_y[t])))
                query.append(float(mse(experiment.model.forward(task, tasks.query_x[t]),
                                       tasks.query_y[t])))
        for values, mean, ci in ((support, curves.support, curves.support_ci95),
                                 (query, curves.query, curves.query_ci95)):
            assert mean[step] == pytest.approx(np.mean(values), rel=1e-5)
            assert ci[step] == pytest.approx(1.96 * np.std(values) / math.sqrt(40), rel=1e-4)
        for values, part in ((support, "support"), (query, "query")):
            centre, low, high = curves.band(part, "median")
            expected = np.percentile(values, [25, 50, 75], method="nearest")
            np.testing.assert_allclose([low[step], centre[step], high[step]], expected, rtol=1e-5)
    assert params.keys() == state.keys()
    assert curves.support[6] < curves.support[0]  # six steps fit the support points


def test_a_diverging_task_moves_the_mean_but_hardly_the_median():
    """A step size twenty times too large on tasks of large amplitude: some tasks blow up."""
    experiment, state, tasks = _fresh_sine_model(3)
    curves = inner_loop_curves(experiment.learner, state, tasks, steps=8, lr=0.2)
    mean, _, mean_high = curves.band("query", "mean")
    median, low, high = curves.band("query", "median")
    assert np.all(low <= median) and np.all(median <= high)
    np.testing.assert_allclose(mean_high - mean, curves.query_ci95)
    blown = ~np.isfinite(mean) | (mean > 100 * np.nan_to_num(median, posinf=1e300))
    assert blown.any(), (mean, median)  # the mean is carried off by the diverging tasks
    with pytest.raises(ValueError, match="mean, median"):
        curves.band("query", "mode")
    from maml_studio.task_statistics import quartiles as task_quartiles
    table = torch.tensor([[1.0, 2.0, math.inf, math.nan], [1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    quartiles = task_quartiles(table)  # a task that diverged, to inf or to NaN, counts as the largest
    assert quartiles[:, 0].tolist() == [2.0, math.inf, math.inf]
    assert quartiles[:, 1].tolist() == [2.0, 3.0, 3.0]


def test_the_bundled_model_beats_its_baseline_after_one_inner_step():
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.resources import bundled_checkpoint

    checkpoint = load_checkpoint(bundled_checkpoint())
    experiment = checkpoint.experiment()
    tasks = sample_curve_tasks(checkpoint.config, tasks=300)
    maml = inner_loop_curves(experiment.learner, checkpoint.state, tasks, steps=3)
    baseline = inner_loop_curves(experiment.baseline, checkpoint.baseline_state, tasks, steps=3)
    assert maml.query[1] + maml.query_ci95[1] < baseline.query[1] - baseline.query_ci95[1]


# -- the parameter-space slice ------------------------------------------------------------------
def test_principal_directions_are_orthonormal_and_the_leading_ones():
    learner, state, batch = _setup("maml", tasks=12)
    directions = principal_directions(learner, state, batch)
    d = directions.vectors
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-10)
    trajectory = learner.adapt(state, batch.support_x, batch.support_y, 2)
    names = list(learner.model.shapes())
    offsets = (flatten(trajectory[-1], names, batch_dims=1) - flatten(state, names)).double().numpy()
    values, vectors = np.linalg.eigh(offsets.T @ offsets)  # independently: the top eigenvectors
    for row, column in zip(d, (vectors[:, -1], vectors[:, -2]), strict=True):
        assert abs(row @ column) == pytest.approx(1.0, abs=1e-6)
    assert directions.explained[0] == pytest.approx(values[-1] / values.sum(), rel=1e-6)


def test_random_directions_are_filter_normalised():
    learner, state, _ = _setup("maml")
    directions = random_directions(learner, state, seed=3)
    for vector in directions.vectors:
        parts = unflatten(torch.from_numpy(vector), directions.names, directions.shapes)
        for name, part in parts.items():
            theta = state[name].double()
            if theta.dim() == 2:
                np.testing.assert_allclose(part.norm(dim=1), theta.norm(dim=1), rtol=1e-9)
            else:
                assert float(part.norm()) == pytest.approx(float(theta.norm()), rel=1e-9)
    assert not np.allclose(directions.vectors[0], directions.vectors[1])


@pytest.mark.parametrize("kind", ["pca", "random"])
def test_landscape_matches_a_direct_loop_at_grid_points(kind):
    learner, state, batch = _setup("maml", hidden=(40, 40), activation="relu", tasks=25)
    piece = parameter_slice(learner, state, batch, directions=kind, resolution=9, extent=0.5)
    assert piece.losses.shape == (9, 9) and piece.alphas.shape == (9,)
    directions = piece.directions
    theta = flatten(state, directions.names).double()
    for i, j in [(0, 0), (4, 4), (8, 1), (2, 7)]:
        point = theta + piece.alphas[i] * torch.from_numpy(directions.vectors[0]) + \
            piece.betas[j] * torch.from_numpy(directions.vectors[1])
        params = unflatten(point.float(), directions.names, directions.shapes)
        losses = [float(mse(learner.model.forward(params, batch.query_x[t]), batch.query_y[t]))
                  for t in range(25)]
        assert piece.losses[i, j] == pytest.approx(np.mean(losses), rel=1e-4)
    assert piece.losses[4, 4] == pytest.approx(piece.centre_loss, rel=1e-5)  # the middle is θ


@pytest.mark.parametrize("dim_in, hidden, dim_out, activation", [
    (1, (40, 40), 1, "relu"), (2, (8,), 3, "tanh"), (3, (), 2, "relu"),
])
def test_the_grid_forward_pass_is_the_network_vmapped_over_grid_points(dim_in, hidden, dim_out,
                                                                       activation):
    model = MLP(dim_in, dim_out, hidden, activation)
    points = [model.init_params(generator_for(seed)) for seed in range(5)]
    stacked = {k: torch.stack([p[k] for p in points]) for k in points[0]}
    x = torch.randn(7, dim_in, generator=generator_for(9))
    expected = torch.func.vmap(model.forward, in_dims=(0, None))(stacked, x)
    torch.testing.assert_close(grid_forward(model, stacked, x), expected)


def test_the_landscape_function_takes_any_grid():
    learner, state, batch = _setup("maml")
    directions = principal_directions(learner, state, batch)
    names, shapes = directions.names, directions.shapes
    grid = torch.tensor([-1.0, 0.0, 2.0])
    losses = landscape(learner.model, mse, flatten(state, names),
                       torch.from_numpy(directions.vectors).float(), grid, grid[:2], names, shapes,
                       batch.query_x, batch.query_y, chunk=2)
    assert losses.shape == (3, 2)
    centre = mse(learner.model.forward(state, batch.query_x), batch.query_y).mean()
    assert float(losses[1, 1]) == pytest.approx(float(centre), rel=1e-5)


def test_paths_and_arrows_are_projections_onto_the_slice():
    learner, state, batch = _setup("maml", tasks=10)
    piece = parameter_slice(learner, state, batch, resolution=8)
    d = piece.directions.vectors
    assert piece.paths.shape == (10, 3, 2)
    np.testing.assert_allclose(piece.paths[:, 0], 0.0, atol=1e-12)  # every path starts at θ
    names = list(learner.model.shapes())
    last = learner.adapt(state, batch.support_x, batch.support_y, 2)[-1]
    offsets = (flatten(last, names, batch_dims=1) - flatten(state, names)).double().numpy()
    np.testing.assert_allclose(piece.paths[:, -1], offsets @ d.T, rtol=1e-6, atol=1e-9)
    assert 0 < piece.path_residual < 1  # many parameters: the plane holds part of each path
    for part in ("maml", "fomaml"):
        np.testing.assert_allclose(piece.arrows[part], -(d @ piece.anatomy.vectors[part]), rtol=1e-9)
    assert abs(piece.alphas).max() == pytest.approx(1.5 * abs(piece.paths).max())


# -- a network with no hidden layer: the line family's exact slice ------------------------------
def test_a_linear_model_on_the_line_family_makes_the_slice_exact():
    config = ExperimentConfig()
    config.set("task.family", "line")
    config.set("model.hidden", [])
    config.check()
    experiment = Experiment.from_config(config)
    state = experiment.learner.init_state(generator_for(0))
    assert sum(v.numel() for v in state.values()) == 2
    batch = sample_batch(config, 25, seed=1)
    piece = parameter_slice(experiment.learner, state, batch, steps=5, resolution=16)
    assert piece.path_residual < 1e-6  # two parameters: every path lies in the plane
    random = parameter_slice(experiment.learner, state, batch, directions="random", steps=5,
                             resolution=4)
    assert random.path_residual < 1e-6
    anatomy = meta_gradient_anatomy(experiment.learner, state, batch)
    assert anatomy.names == ("layer0.weight", "layer0.bias")


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    config = ExperimentConfig()
    config.model.hidden = [16, 16]
    experiment = Experiment.from_config(config)
    path = tmp_path_factory.mktemp("anatomy") / "model.safetensors"
    save_checkpoint(Checkpoint(config, experiment.learner.init_state(generator_for(0))), path)
    return path


def test_anatomy_command_prints_the_numbers_of_the_library(checkpoint_file, tmp_path, capsys):
    config = ExperimentConfig()
    config.model.hidden = [16, 16]
    experiment = Experiment.from_config(config)
    state = experiment.learner.init_state(generator_for(0))
    batch = sample_batch(config, 6, seed=9)
    np.savez(tmp_path / "s.npz", x=batch.support_x.numpy(), y=batch.support_y.numpy())
    np.savez(tmp_path / "q.npz", x=batch.query_x.numpy(), y=batch.query_y.numpy())
    assert main(["anatomy", str(checkpoint_file), "--support", str(tmp_path / "s.npz"),
                 "--query", str(tmp_path / "q.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = meta_gradient_anatomy(experiment.learner, state, batch)
    assert report["cosine_maml_fomaml"] == pytest.approx(expected.cosine_maml_fomaml, abs=1e-6)
    assert report["cosine_maml_reptile"] == pytest.approx(expected.cosine_maml_reptile, abs=1e-6)
    assert report["second_order_ratio"] == pytest.approx(expected.second_order_ratio, rel=1e-5)
    assert set(report["norms"]) == set(PARTS)
    assert set(report["per_layer"]) == set(experiment.model.shapes())
    assert report["norms"]["maml"] == pytest.approx(expected.norms["maml"], rel=1e-5)
    # fresh tasks by seed: the same tasks, the same numbers
    assert main(["anatomy", str(checkpoint_file), "--tasks", "6", "--seed", "4", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["anatomy", str(checkpoint_file), "--tasks", "6", "--seed", "4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert main(["anatomy", str(checkpoint_file), "--tasks", "3", "--cost"]) == 0
    table = capsys.readouterr().out
    assert "cosine(MAML, first-order)" in table and "layer2.bias" in table and " ms" in table


@pytest.mark.parametrize("arguments, message", [
    (["--support", "{s}"], "--support and --query go together"),
    (["--support", "{s}", "--query", "{q}", "--tasks", "5"], "not both"),
    (["--tasks", "0"], "--tasks must be between 1"),
    (["--support", "{s}", "--query", "{q3}"], "3 tasks, the support file has 4"),
    (["--support", "{wide}", "--query", "{q}"], "inputs have 2 dimension"),
    (["--support", "{s}", "--query", "{noy}"], "'y'"),
    (["--support", "{missing}", "--query", "{q}"], "no such file"),
])
def test_anatomy_command_refuses_bad_input_in_one_line(checkpoint_file, tmp_path, capsys,
                                                         arguments, message):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", x=rng.normal(size=(4, 5, 1)), y=rng.normal(size=(4, 5, 1)))
    np.savez(tmp_path / "q.npz", x=rng.normal(size=(4, 5, 1)), y=rng.normal(size=(4, 5, 1)))
    np.savez(tmp_path / "q3.npz", x=rng.normal(size=(3, 5, 1)), y=rng.normal(size=(3, 5, 1)))
    np.savez(tmp_path / "wide.npz", x=rng.normal(size=(4, 5, 2)), y=rng.normal(size=(4, 5, 1)))
    np.savez(tmp_path / "noy.npz", x=rng.normal(size=(4, 5, 1)))
    files = {name: str(tmp_path / f"{name}.npz") for name in ("s", "q", "q3", "wide", "noy",
                                                               "missing")}
    argv = ["anatomy", str(checkpoint_file)] + [a.format(**files) for a in arguments]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("maml-studio anatomy: error:")
    assert message in err
