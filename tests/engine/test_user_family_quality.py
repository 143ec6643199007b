"""Users' families train as well as the built-in sine family under the same small budget.

Both models of a comparison are evaluated on the same 600 tasks after 10 steps;
their mean query losses must lie within each other's 95% intervals, widened by
a margin for the spread between training runs (different CPUs and thread
counts change rounding and so the training trajectory, much as a seed does).
"""

import math

import numpy as np
import pytest

from maml_studio.checkpoint import Checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.evaluation import evaluate
from maml_studio.tasks import generator_for
from maml_studio.tasks.regression import Sine
from maml_studio.training import Trainer

ITERATIONS = 400
EVAL_TASKS = 600
MARGIN = 0.2  # of the sine model's mean loss: training runs of this length differ about this much


def config(seed: int = 0, **task) -> ExperimentConfig:
    c = ExperimentConfig()
    c.training.iterations = ITERATIONS
    c.training.validate_every = ITERATIONS
    c.training.validation_tasks = 20
    c.training.train_baseline = False
    c.training.compile = "off"
    c.training.device = "cpu"
    c.training.threads = 1
    c.training.seed = seed
    for key, value in task.items():
        c.set(f"task.{key}", value)
    c.check()
    return c


def trained(c: ExperimentConfig):
    trainer = Trainer(c)
    for _ in trainer.run():
        pass
    return trainer.snapshot()["state"]


def score(c: ExperimentConfig, state, query_points: int = 30):
    result = evaluate(Checkpoint(c, state), steps=[0, 10], tasks=EVAL_TASKS,
                      query_points=query_points)["maml"]
    return result[0], result[-1]


def assert_same_quality(ours, sine):
    gap = abs(ours.mean - sine.mean)
    allowed = ours.ci95 + sine.ci95 + MARGIN * sine.mean
    assert gap <= allowed, f"{ours.mean:.3f} ± {ours.ci95:.3f} vs sine {sine.mean:.3f} ± {sine.ci95:.3f}"


def test_a_formula_equal_to_sine_trains_to_the_same_quality():
    sine_config = config()
    formula_config = config(family="formula", formula="a * sin(x - p)",
                            ranges={"a": [0.1, 5.0], "p": [0.0, math.pi]}, x_range=[-5.0, 5.0])
    sine_before, sine_after = score(sine_config, trained(sine_config))
    _, formula_after = score(formula_config, trained(formula_config))
    assert sine_after.mean < 0.7 * sine_before.mean  # the budget is enough to learn something
    assert_same_quality(formula_after, sine_after)


@pytest.fixture
def sine_npz(tmp_path):
    batch = Sine().sample(2000, 40, 0, generator_for(123))
    path = tmp_path / "sines.npz"
    np.savez(path, x=batch.support_x.numpy(), y=batch.support_y.numpy())
    return path


def test_task_files_of_2000_sine_tasks_train_to_the_same_quality(sine_npz):
    files_config = config(family="tasks", path=str(sine_npz), held_out=0.3)
    files_state, sine_state = trained(files_config), trained(config())
    # Both models adapt to the same 600 held-out tasks of the file (10 support, 30 query points).
    before, files_after = score(files_config, files_state)
    _, sine_after = score(files_config, sine_state)
    assert files_after.mean < 0.7 * before.mean
    assert_same_quality(files_after, sine_after)
