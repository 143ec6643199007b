import pytest
import torch

from maml_studio.algorithms import build_learner
from maml_studio.config_sections import AlgorithmConfig, TaskConfig
from maml_studio.losses import mse
from maml_studio.model import MLP
from maml_studio.tasks import build_family, generator_for
from tests.engine.reference import reference_meta_gradient

ALGORITHMS = ["maml", "fomaml", "reptile", "metasgd", "anil", "pretrained"]


def _setup(name, inner_steps=1, activation="relu", family="sine"):
    fam = build_family(TaskConfig(family=family))
    model = MLP(fam.dim_in, fam.dim_out, (40, 40), activation)
    learner = build_learner(name, model, mse, AlgorithmConfig(name=name, inner_steps=inner_steps))
    state = learner.init_state(generator_for(1))
    batch = fam.sample(6, 10, 10, generator_for(2))
    return learner, state, batch


def _meta(learner, state, batch):
    return learner.meta_gradient(state, batch.support_x, batch.support_y,
                                 batch.query_x, batch.query_y)


@pytest.mark.parametrize("inner_steps", [1, 3])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("name", ALGORITHMS)
def test_vectorised_meta_gradient_matches_a_per_task_autograd_reference(name, activation, inner_steps):
    learner, state, batch = _setup(name, inner_steps, activation)
    grads, loss = _meta(learner, state, batch)
    expected, expected_loss = reference_meta_gradient(learner, state, batch)
    assert set(grads) == set(state)
    torch.testing.assert_close(loss, expected_loss.to(loss.dtype), rtol=1e-5, atol=1e-6)
    for key in state:
        # float32 precision, scaled by the size of the parameter the gradient belongs to
        scale = max(1.0, float(state[key].abs().max()))
        torch.testing.assert_close(grads[key], expected[key], rtol=1e-4, atol=2e-6 * scale)


def test_meta_gradient_matches_for_multi_output_linear_tasks():
    learner, state, batch = _setup("maml", 2, family="linear")
    grads, _ = _meta(learner, state, batch)
    expected, _ = reference_meta_gradient(learner, state, batch)
    for key in state:
        torch.testing.assert_close(grads[key], expected[key], rtol=1e-4, atol=1e-6)


def test_first_order_switch_drops_the_second_order_term():
    learner, state, batch = _setup("maml")
    first, _ = _meta(build_learner("fomaml", learner.model, mse, learner.config), state, batch)
    second, _ = _meta(learner, state, batch)
    difference = max(float((first[k] - second[k]).abs().max()) for k in state)
    assert difference > 1e-5


def test_adaptation_returns_every_step_and_fits_the_support_set():
    learner, state, batch = _setup("maml")
    trajectory = learner.adapt(state, batch.support_x, batch.support_y, steps=5)
    assert len(trajectory) == 6
    assert trajectory[0]["layer0.weight"].shape == (6, 40, 1)
    losses = [float(learner.query_loss(p, batch.support_x, batch.support_y).mean())
              for p in trajectory]
    assert losses[-1] < losses[0]


def test_anil_adapts_only_the_last_layer():
    learner, state, batch = _setup("anil")
    trajectory = learner.adapt(state, batch.support_x, batch.support_y, steps=3)
    assert torch.equal(trajectory[3]["layer0.weight"][0], state["layer0.weight"])
    assert not torch.equal(trajectory[3]["layer2.weight"][0], state["layer2.weight"])


def test_metasgd_learns_and_uses_per_parameter_rates():
    learner, state, batch = _setup("metasgd")
    assert torch.all(state["lr.layer0.weight"] == 0.01)
    grads, _ = _meta(learner, state, batch)
    assert float(grads["lr.layer2.weight"].abs().sum()) > 0
    frozen = {**state, **{k: torch.zeros_like(v) for k, v in state.items() if k.startswith("lr.")}}
    trajectory = learner.adapt(frozen, batch.support_x, batch.support_y, steps=2)
    assert torch.equal(trajectory[2]["layer1.bias"][0], state["layer1.bias"])


def test_reptile_moves_the_initialisation_towards_adapted_weights():
    learner, state, batch = _setup("reptile", inner_steps=3)
    grads, _ = _meta(learner, state, batch)
    adapted = learner.adapt(state, batch.support_x, batch.support_y, steps=3)[-1]
    expected = state["layer2.bias"] - adapted["layer2.bias"].mean(0)
    torch.testing.assert_close(grads["layer2.bias"], expected)
