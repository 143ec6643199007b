import pytest

from maml_studio.config import ExperimentConfig
from tests.conftest import TEST_THREADS


@pytest.fixture
def small_config() -> ExperimentConfig:
    """The paper's sine set-up, shortened and eager, for fast engine tests."""
    config = ExperimentConfig()
    config.training.iterations = 200
    config.training.validate_every = 100
    config.training.validation_tasks = 20
    config.training.compile = "off"
    config.training.device = "cpu"
    config.training.threads = TEST_THREADS
    return config
