"""MAML++ options of MAML: multi-step loss, learned per-step rates, derivative-order annealing,
cosine annealing of the outer learning rate; the defaults train plain MAML exactly."""

import math

import pytest
import torch

from maml_studio.adaptation import adapt_models_together, adapted_parameters_together
from maml_studio.algorithms import MAMLPlusPlus, build_learner
from maml_studio.algorithms.hand_batched import hand_batched_meta_gradient
from maml_studio.algorithms.maml import MAML
from maml_studio.algorithms.maml_plus_plus import STEP_RATE_PREFIX, step_loss_weights
from maml_studio.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.config_sections import AlgorithmConfig, TaskConfig
from maml_studio.errors import ConfigError
from maml_studio.experiment import seed_stream
from maml_studio.losses import mse
from maml_studio.model import MLP
from maml_studio.tasks import build_family, generator_for
from maml_studio.training import Finished, Trainer
from tests.engine.reference import reference_meta_gradient


def _setup(activation="relu", inner_steps=3, **options):
    family = build_family(TaskConfig(family="sine"))
    model = MLP(family.dim_in, family.dim_out, (40, 40), activation)
    config = AlgorithmConfig(inner_steps=inner_steps, **options)
    learner = build_learner("fomaml" if config.first_order else "maml", model, mse, config)
    state = learner.init_state(generator_for(1))
    for name in state:
        if name.startswith(STEP_RATE_PREFIX):  # rates that differ by step and layer
            state[name] = state[name] * (0.5 + torch.rand(state[name].shape, generator=generator_for(3)))
    return learner, state, family.sample(6, 10, 10, generator_for(2))


def _assert_matches_reference(learner, state, batch, weights=None):
    extra = () if weights is None else (weights,)
    grads, loss = learner.meta_gradient(state, batch.support_x, batch.support_y,
                                        batch.query_x, batch.query_y, *extra)
    expected, expected_loss = reference_meta_gradient(learner, state, batch, step_weights=weights)
    assert set(grads) == set(state)
    torch.testing.assert_close(loss, expected_loss.to(loss.dtype), rtol=1e-5, atol=1e-6)
    for key in state:
        scale = max(1.0, float(state[key].abs().max()))
        torch.testing.assert_close(grads[key], expected[key], rtol=1e-4, atol=2e-6 * scale)


def test_multi_step_loss_weights_follow_the_papers_annealing():
    assert step_loss_weights(4, 0, 100) == [0.25] * 4
    middle = step_loss_weights(4, 50, 100)
    assert middle[0] == pytest.approx(0.125) and middle[-1] == pytest.approx(0.625)
    late = step_loss_weights(4, 99, 100)
    assert late[:3] == [pytest.approx(0.03 / 4)] * 3  # the floor of non-final steps
    for iteration in range(0, 100, 7):
        assert sum(step_loss_weights(4, iteration, 100)) == pytest.approx(1.0)
    assert step_loss_weights(4, 100, 100) == [0.0, 0.0, 0.0, 1.0]  # then the last step only
    assert step_loss_weights(1, 0, 100) == [1.0]


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("options", [
    {"multi_step_loss_iterations": 100},
    {"learned_step_rates": True},
    {"multi_step_loss_iterations": 100, "learned_step_rates": True},
])
def test_maml_plus_plus_meta_gradient_matches_the_per_task_autograd_reference(
        options, activation, first_order):
    learner, state, batch = _setup(activation, first_order=first_order, **options)
    assert isinstance(learner, MAMLPlusPlus)
    weights = learner.step_weights(30)
    if weights is not None:
        assert len(set(weights.tolist())) == 2  # a weighted sum, not the last step alone
    _assert_matches_reference(learner, state, batch, weights)


def test_derivative_order_annealing_is_first_order_then_second_order():
    learner, state, batch = _setup(first_order_iterations=4)
    assert [learner.first_order_at(i) for i in (0, 3, 4, 100)] == [True, True, False, False]
    first = learner.with_first_order()
    assert first.first_order and not learner.first_order
    _assert_matches_reference(first, state, batch)
    _assert_matches_reference(learner, state, batch)
    args = (state, batch.support_x, batch.support_y, batch.query_x, batch.query_y)
    difference = max(float((a - b).abs().max()) for a, b in zip(
        first.meta_gradient(*args)[0].values(), learner.meta_gradient(*args)[0].values(),
        strict=True))
    assert difference > 1e-5


def test_learned_step_rates_are_meta_learned_saved_and_used_when_adapting(tmp_path, small_config):
    learner, state, batch = _setup(learned_step_rates=True)
    assert state[STEP_RATE_PREFIX + "layer0.weight"].shape == (3,)
    grads, _ = learner.meta_gradient(state, batch.support_x, batch.support_y, batch.query_x,
                                     batch.query_y)
    assert all(float(grads[STEP_RATE_PREFIX + name].abs().min()) > 0 for name in learner.adapted_names)
    # Adapting takes step j with rate j, and every later step with the last rate.
    adapted = list(learner.adapt_steps(state, batch.support_x, batch.support_y, 5))
    params = {k: v.expand(6, *v.shape) for k, v in learner.network(state).items()}
    for step in range(5):
        rate = {n: state[STEP_RATE_PREFIX + n][min(step, 2)] for n in learner.adapted_names}
        params = torch.func.vmap(lambda p, x, y, r=rate: learner.inner_step(p, r, x, y))(
            params, batch.support_x, batch.support_y)
        for name in params:
            torch.testing.assert_close(adapted[step + 1][name], params[name])
    zero = {**state, **{k: torch.zeros_like(v) for k, v in state.items()
                        if k.startswith(STEP_RATE_PREFIX)}}
    still = list(learner.adapt_steps(zero, batch.support_x, batch.support_y, 2))[-1]
    assert torch.equal(still["layer1.bias"][0], state["layer1.bias"])
    # A checkpoint keeps the rates, and its learner reads them back.
    small_config.set("algorithm.learned_step_rates", True)
    path = tmp_path / "lslr.safetensors"
    save_checkpoint(Checkpoint(small_config, state), path)
    # (that config has 1 inner step: a file must hold rates of its config's shape)
    with pytest.raises(CheckpointError, match=r"lslr\.layer\d\.\w+ has shape \(3,\), its config "):
        load_checkpoint(path)
    small_config.set("algorithm.inner_steps", 3)
    save_checkpoint(Checkpoint(small_config, state), path)
    loaded = load_checkpoint(path)
    torch.testing.assert_close(loaded.state[STEP_RATE_PREFIX + "layer2.bias"],
                               state[STEP_RATE_PREFIX + "layer2.bias"])
    assert isinstance(loaded.experiment().learner, MAMLPlusPlus)


def test_the_interactive_adaptation_paths_take_each_steps_learned_rate():
    learner, state, batch = _setup(learned_step_rates=True)
    baseline = build_learner("pretrained", learner.model, mse, learner.config)
    base_state = baseline.init_state(generator_for(8))
    x, y, q = batch.support_x[0], batch.support_y[0], batch.query_x[0]
    expected = list(learner.adapt_steps(state, x[None], y[None], 5))
    models = [(learner, state), (baseline, base_state)]
    results = adapt_models_together(models, x, y, q, 5)
    for step, params in enumerate(expected):
        torch.testing.assert_close(results[0].predictions[step, 0],
                                   learner.model.forward(params, q[None])[0])
    plain = adapt_models_together([(baseline, base_state)], x, y, q, 5)[0]
    torch.testing.assert_close(results[1].predictions, plain.predictions)
    first = adapted_parameters_together(models, x, y, 2)
    more = adapted_parameters_together(models, x, y, 3, start=first[-1], first_step=2)
    for step, params in enumerate(first + more[1:]):
        for name in params:
            torch.testing.assert_close(params[name][0], expected[step][name][0])


def _run(config, iterations=None):
    if iterations is not None:
        config.training.iterations = iterations
    trainer = Trainer(config)
    for event in trainer.run():
        if isinstance(event, Finished):
            assert event.status == "completed", event.message
    return trainer


def _plain_loop(config, gradient_for):
    """The trainer's updates written out: the same batches, fused Adam, ``gradient_for(i)``."""
    trainer = Trainer(config)  # only for its initial state and its batches
    state = {k: v.clone() for k, v in trainer.state.items()}
    optimizer = torch.optim.Adam(list(state.values()), lr=config.training.outer_lr, fused=True)
    data, batches = seed_stream(config.training.seed, "data"), []
    for iteration in range(config.training.iterations):
        if not batches:
            batches = trainer._sample_chunk(data)
        batch = batches.pop(0)
        grads, _ = gradient_for(iteration)(state, batch.support_x, batch.support_y,
                                           batch.query_x, batch.query_y)
        for name, tensor in state.items():
            tensor.grad = grads[name]
        optimizer.step()
    return state


@pytest.mark.parametrize("hand_batched", [True, False])
def test_defaults_train_plain_maml_bit_for_bit(small_config, hand_batched):
    small_config.training.train_baseline = False
    small_config.training.iterations = 30
    small_config.training.validate_every = 1000
    trainer = Trainer(small_config, hand_batched=hand_batched)
    assert type(trainer.experiment.learner) is MAML
    assert set(trainer.state) == set(trainer.experiment.model.shapes())  # no extra tensors
    for _event in trainer.run():
        pass
    plain = MAML(trainer.experiment.model, mse, AlgorithmConfig())
    step = hand_batched_meta_gradient(plain) if hand_batched else plain.meta_gradient
    expected = _plain_loop(small_config, lambda _: step)
    for name, tensor in trainer.state.items():
        assert torch.equal(tensor, expected[name]), name


def test_derivative_order_annealing_trains_first_order_then_second_order(small_config):
    small_config.training.train_baseline = False
    small_config.training.iterations = 8
    small_config.set("algorithm.first_order_iterations", 5)
    trainer = _run(small_config)
    learner = trainer.experiment.learner
    first = hand_batched_meta_gradient(learner.with_first_order())
    second = hand_batched_meta_gradient(learner)
    expected = _plain_loop(small_config, lambda i: first if i < 5 else second)
    for name, tensor in trainer.state.items():
        assert torch.equal(tensor, expected[name]), name
    all_first = _plain_loop(small_config, lambda i: first)
    assert not torch.equal(trainer.state["layer0.weight"], all_first["layer0.weight"])


def test_multi_step_loss_and_learned_rates_train(small_config):
    small_config.training.train_baseline = False
    small_config.set("algorithm.inner_steps", 2)
    small_config.set("algorithm.multi_step_loss_iterations", 50)
    small_config.set("algorithm.learned_step_rates", True)
    small_config.training.iterations = 100
    trainer = _run(small_config)
    history = trainer.history
    assert sum(history.train_loss[-20:]) < sum(history.train_loss[:20])
    rates = trainer.state[STEP_RATE_PREFIX + "layer2.weight"]
    assert rates.shape == (2,) and not torch.equal(rates, torch.full((2,), 0.01))


def test_cosine_annealing_of_the_outer_learning_rate(small_config):
    small_config.training.train_baseline = False
    small_config.training.iterations = 10
    small_config.set("training.lr_decay", "cosine")
    trainer = _run(small_config)
    expected = 0.001 * 0.5 * (1 + math.cos(math.pi * 9 / 10))  # the last step's rate
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(expected)


@pytest.mark.parametrize("assignments, message", [
    ({"algorithm.name": "reptile", "algorithm.learned_step_rates": True},
     "learned_step_rates: a MAML\\+\\+ option applies to maml and fomaml, not reptile"),
    ({"algorithm.name": "metasgd", "algorithm.multi_step_loss_iterations": 10},
     "applies to maml and fomaml, not metasgd"),
    ({"algorithm.name": "fomaml", "algorithm.first_order_iterations": 10},
     "first_order_iterations: derivative-order annealing"),
    ({"algorithm.first_order": True, "algorithm.first_order_iterations": 10},
     "first_order_iterations"),
])
def test_maml_plus_plus_options_that_do_not_apply_are_refused(assignments, message):
    config = ExperimentConfig()
    for key, value in assignments.items():
        config.set(key, value)
    with pytest.raises(ConfigError, match=message):
        config.check()


@pytest.mark.parametrize("key, value", [
    ("algorithm.multi_step_loss_iterations", -1), ("algorithm.first_order_iterations", 1.5),
    ("algorithm.learned_step_rates", 1),
])
def test_maml_plus_plus_fields_refuse_bad_values(key, value):
    with pytest.raises(ConfigError, match=key):
        ExperimentConfig().set(key, value)
