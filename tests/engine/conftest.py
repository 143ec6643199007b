import pytest

from maml_studio.checkpoint import load_checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.resources import bundled_checkpoint
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


@pytest.fixture(scope="module")
def sine():
    """The bundled sine model (the paper's 70 000 iterations), read once per test module."""
    return load_checkpoint(bundled_checkpoint("sine-finn2017"))


@pytest.fixture(scope="module")
def circle():
    """The bundled 2-D circle classifier, read once per test module."""
    return load_checkpoint(bundled_checkpoint("circle-2d"))
