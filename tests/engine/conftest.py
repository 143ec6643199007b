import pytest

from maml_studio.config import ExperimentConfig


@pytest.fixture
def small_config() -> ExperimentConfig:
    """The paper's sine set-up, shortened and eager, for fast engine tests."""
    config = ExperimentConfig()
    config.training.iterations = 200
    config.training.validate_every = 100
    config.training.validation_tasks = 20
    config.training.compile = "off"
    config.training.device = "cpu"
    config.training.threads = 1
    return config
