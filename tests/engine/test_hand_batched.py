"""The hand-batched meta-step (the fast eager path) against the per-task autograd reference."""

import pytest
import torch

from maml_studio.algorithms import build_learner
from maml_studio.algorithms.hand_batched import hand_batched_meta_gradient
from maml_studio.config_sections import AlgorithmConfig, TaskConfig
from maml_studio.losses import cross_entropy, mse
from maml_studio.model import MLP
from maml_studio.tasks import build_family, generator_for
from tests.engine.reference import reference_meta_gradient

ALGORITHMS = ["maml", "fomaml", "reptile", "metasgd", "anil", "pretrained"]
TASKS = {
    "sine": (TaskConfig(family="sine"), mse, 0.01),
    "linear-2-outputs": (TaskConfig(family="linear"), mse, 0.01),
    "circle-binary": (TaskConfig(family="circle"), cross_entropy, 0.3),
    "blobs-4-way": (TaskConfig(family="blobs", num_classes=4), cross_entropy, 0.3),
}


def _setup(name, task, activation="relu", inner_steps=1, hidden=(40, 40)):
    family_config, loss_fn, inner_lr = TASKS[task]
    family = build_family(family_config)
    model = MLP(family.dim_in, family.dim_out, hidden, activation)
    config = AlgorithmConfig(name=name, inner_steps=inner_steps, inner_lr=inner_lr)
    learner = build_learner(name, model, loss_fn, config)
    state = learner.init_state(generator_for(1))
    return learner, state, family.sample(6, 5, 7, generator_for(2))


def _assert_gradients_close(grads, expected, state):
    """Relative to the gradient's size, at float32 precision.

    The second term allows for rounding of the parameters themselves, which
    Reptile's gradient ``θ − mean θ'`` (a small difference of large values) carries.
    """
    assert list(grads) == list(state)
    for key in state:
        error = float(torch.linalg.vector_norm(grads[key] - expected[key]))
        size = float(torch.linalg.vector_norm(expected[key]))
        parameter = float(torch.linalg.vector_norm(state[key].float()))
        assert error <= 1e-4 * size + 1e-6 * parameter, (key, error, size)


def _hand_batched(learner, state, batch):
    step = hand_batched_meta_gradient(learner)
    assert step is not None
    return step(state, batch.support_x, batch.support_y, batch.query_x, batch.query_y)


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("inner_steps", [1, 3])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("name", ALGORITHMS)
def test_hand_batched_meta_gradient_matches_the_per_task_autograd_reference(
        name, activation, inner_steps, task):
    learner, state, batch = _setup(name, task, activation, inner_steps)
    grads, loss = _hand_batched(learner, state, batch)
    classification = learner.loss_fn is cross_entropy
    expected, expected_loss = reference_meta_gradient(learner, state, batch, classification)
    torch.testing.assert_close(loss, expected_loss.to(loss.dtype), rtol=1e-5, atol=1e-6)
    _assert_gradients_close(grads, expected, state)


@pytest.mark.parametrize("name", ["maml", "metasgd", "anil"])
@pytest.mark.parametrize("hidden", [(16,), (12, 10, 8)])
def test_hand_batched_meta_gradient_holds_for_other_depths(name, hidden):
    learner, state, batch = _setup(name, "sine", "tanh", inner_steps=2, hidden=hidden)
    grads, _ = _hand_batched(learner, state, batch)
    expected, _ = reference_meta_gradient(learner, state, batch)
    _assert_gradients_close(grads, expected, state)


def test_hand_batched_step_agrees_with_the_torch_func_step_on_the_paper_set_up():
    learner, state, _ = _setup("maml", "sine")
    batch = build_family(TaskConfig(family="sine")).sample(25, 10, 10, generator_for(3))
    grads, loss = _hand_batched(learner, state, batch)
    reference, reference_loss = learner.meta_gradient(
        state, batch.support_x, batch.support_y, batch.query_x, batch.query_y)
    torch.testing.assert_close(loss, reference_loss, rtol=1e-5, atol=1e-6)
    _assert_gradients_close(grads, reference, state)


def test_losses_without_hand_written_derivatives_keep_the_torch_func_step():
    learner, _, _ = _setup("maml", "sine")
    learner.loss_fn = lambda prediction, target: (prediction - target).abs().mean(dim=(-2, -1))
    assert hand_batched_meta_gradient(learner) is None


def test_without_a_compiler_training_does_not_try_to_compile(monkeypatch, tmp_path, small_config):
    from maml_studio.training import CompileStatus, Progress, Trainer

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CXX", raising=False)
    small_config.training.compile = "auto"
    small_config.training.iterations = 5
    events = list(Trainer(small_config).run())
    statuses = [e for e in events if isinstance(e, CompileStatus)]
    assert [s.status for s in statuses] == ["off"]
    assert "no C++ compiler" in statuses[0].message
    assert any(isinstance(e, Progress) and e.iteration == 5 for e in events)


@pytest.mark.parametrize("inner_steps", [1, 3])
@pytest.mark.parametrize("name", ["metasgd", "anil"])
def test_first_order_meta_sgd_and_anil_match_the_reference(name, inner_steps):
    learner, state, batch = _setup(name, "sine", "tanh", inner_steps)
    learner.config.first_order = True
    grads, _ = _hand_batched(learner, state, batch)
    expected, _ = reference_meta_gradient(learner, state, batch)
    _assert_gradients_close(grads, expected, state)
