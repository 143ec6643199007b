"""A network with no hidden layer (``hidden = []``): a linear model, trained, saved and adapted."""

import pytest
import torch

from maml_studio.adaptation import adapt_and_predict, adapt_models_together
from maml_studio.algorithms import build_learner
from maml_studio.algorithms.hand_batched import hand_batched_meta_gradient
from maml_studio.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from maml_studio.cli import main
from maml_studio.config import ExperimentConfig, load_config
from maml_studio.config_sections import AlgorithmConfig, TaskConfig
from maml_studio.evaluation import evaluate
from maml_studio.losses import mse
from maml_studio.model import MLP
from maml_studio.tasks import build_family, generator_for
from maml_studio.training import Finished, Trainer
from tests.engine.reference import reference_meta_gradient


def test_an_empty_hidden_list_is_a_valid_config(tmp_path):
    path = tmp_path / "linear.toml"
    path.write_text('[task]\nfamily = "line"\n[model]\nhidden = []\n')
    assert load_config(path).model.hidden == []
    config = ExperimentConfig()
    config.set_from_string("model.hidden=[]")
    assert config.model.hidden == []
    model = MLP(1, 1, ())
    assert model.num_layers == 1 and model.num_parameters() == 2
    assert model.head_names == ("layer0.weight", "layer0.bias")


@pytest.mark.parametrize("name", ["maml", "fomaml", "reptile", "metasgd", "anil", "pretrained"])
def test_meta_gradients_of_a_linear_model_match_the_reference(name):
    family = build_family(TaskConfig(family="line"))
    model = MLP(1, 1, ())
    learner = build_learner(name, model, mse, AlgorithmConfig(name=name, inner_steps=2))
    state = learner.init_state(generator_for(0))
    batch = family.sample(5, 10, 10, generator_for(1))
    args = (state, batch.support_x, batch.support_y, batch.query_x, batch.query_y)
    expected, _ = reference_meta_gradient(learner, state, batch)
    for meta_gradient in (learner.meta_gradient, hand_batched_meta_gradient(learner)):
        assert meta_gradient is not None
        grads, _ = meta_gradient(*args)
        for key in state:
            torch.testing.assert_close(grads[key], expected[key], rtol=1e-4, atol=1e-6)


def test_a_linear_model_meta_trains_saves_loads_and_adapts_to_lines(small_config, tmp_path):
    small_config.set("task.family", "line")
    small_config.set("model.hidden", [])
    small_config.training.iterations = 300
    small_config.check()
    trainer = Trainer(small_config)
    for event in trainer.run():
        if isinstance(event, Finished):
            assert event.status == "completed", event.message
    snapshot = trainer.snapshot()
    path = tmp_path / "linear.safetensors"
    save_checkpoint(Checkpoint(small_config, snapshot["state"], snapshot["baseline"],
                               trainer.history), path)
    loaded = load_checkpoint(path)
    assert loaded.config.model.hidden == []
    assert set(loaded.state) == {"layer0.weight", "layer0.bias"}
    scores = evaluate(loaded, steps=[0, 10], tasks=200)["maml"]
    # a line fits a line: ten steps on its points leave far less error than none
    assert scores[1].mean + scores[1].ci95 < scores[0].mean - scores[0].ci95
    experiment = loaded.experiment()
    x = torch.linspace(-4, 4, 6).unsqueeze(-1)
    y = 2.0 * x - 1.0
    result = adapt_and_predict(experiment.learner, loaded.state, x[None], y[None], x[None], 50)
    first = mse(result.predictions[0], y[None]).item()
    assert mse(result.predictions[-1], y[None]).item() < 0.1 * first
    together = adapt_models_together([(experiment.learner, loaded.state),
                                      (experiment.baseline, loaded.baseline_state)], x, y, x, 5)
    torch.testing.assert_close(together[0].predictions[-1, 0], result.predictions[5, 0])


def test_train_command_takes_an_empty_hidden_list(tmp_path):
    out = tmp_path / "line.safetensors"
    assert main(["train", "--preset", "sine-finn2017", "--set", "task.family=line",
                 "--set", "model.hidden=[]", "--iterations", "20", "--compile", "off",
                 "--set", "training.validate_every=10", "--quiet", "--out", str(out)]) == 0
    assert load_checkpoint(out).state["layer0.weight"].shape == (1, 1)
