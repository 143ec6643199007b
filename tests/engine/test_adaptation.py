import pytest
import torch

from maml_studio.adaptation import adapt_and_predict, adapt_models_together
from maml_studio.config import ExperimentConfig
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.tasks import generator_for


@pytest.mark.parametrize("algorithm", ["maml", "anil", "metasgd", "reptile"])
def test_models_adapted_together_match_each_model_adapted_alone(algorithm):
    config = ExperimentConfig()
    config.algorithm.name = algorithm
    experiment = Experiment.from_config(config)
    state = experiment.learner.init_state(seed_stream(0, "a"))
    if algorithm == "metasgd":  # distinct learned rates per parameter
        state = {k: (v * torch.rand_like(v) * 2 if k.startswith("lr.") else v)
                 for k, v in state.items()}
    baseline = experiment.baseline.init_state(seed_stream(0, "b"))
    models = [(experiment.learner, state), (experiment.baseline, baseline)]
    batch = experiment.family.sample(1, 7, 0, generator_for(0))
    query = torch.linspace(-6, 6, 50).reshape(-1, 1)
    together = adapt_models_together(models, batch.support_x[0], batch.support_y[0], query, 12)
    for (learner, params), result in zip(models, together, strict=True):
        alone = adapt_and_predict(learner, params, batch.support_x, batch.support_y,
                                  query.unsqueeze(0), 12)
        torch.testing.assert_close(result.predictions, alone.predictions, rtol=1e-4, atol=1e-5)


def test_no_points_gives_the_prior_at_every_step_and_divergence_is_reported():
    experiment = Experiment.from_config(ExperimentConfig())
    state = experiment.learner.init_state(seed_stream(0, "a"))
    query = torch.linspace(-5, 5, 20).reshape(-1, 1)
    empty = torch.zeros(0, 1)
    (prior,) = adapt_models_together([(experiment.learner, state)], empty, empty, query, 5)
    assert torch.equal(prior.predictions[0], prior.predictions[5]) and prior.diverged_at is None
    x = torch.linspace(-5, 5, 10).reshape(-1, 1)
    (wild,) = adapt_models_together([(experiment.learner, state)], x, 10 * x, query, 60, lr=5.0)
    assert wild.diverged_at is not None and 1 <= wild.diverged_at <= 60
    assert wild.last_finite_step == wild.diverged_at - 1
