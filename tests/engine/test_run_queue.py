"""The queue of runs that "Compare algorithms" fills: order, pause, reorder, cancel."""

import pytest

from maml_studio.compare import CompareError
from maml_studio.config import ExperimentConfig
from maml_studio.run_queue import RunQueue


def names(queue: RunQueue) -> list[str]:
    return [run.name for run in queue.waiting]


def test_runs_are_taken_in_order_and_a_paused_queue_gives_none():
    queue, events = RunQueue(), []
    queue.changed.connect(lambda: events.append(1))
    planned = queue.plan(ExperimentConfig(), ["maml", "reptile"], 2)
    assert [run.config.algorithm.name for run in planned] == ["maml", "maml", "reptile", "reptile"]
    assert names(queue) == ["maml seed 0", "maml seed 1", "reptile seed 0", "reptile seed 1"]
    assert queue.take_next().name == "maml seed 0" and queue.current.name == "maml seed 0"
    queue.set_paused(True)
    assert queue.take_next() is None and queue.active  # runs still wait
    queue.set_paused(False)
    assert queue.take_next().name == "maml seed 1"
    assert len(events) >= 5


def test_waiting_runs_are_reordered_removed_and_cancelled():
    queue = RunQueue()
    queue.plan(ExperimentConfig(), ["maml", "fomaml", "anil"], 1)
    assert queue.move(2, -1) == 1 and names(queue) == ["maml seed 0", "anil seed 0", "fomaml seed 0"]
    assert queue.move(0, -1) == 0  # already first
    queue.remove([0])
    assert names(queue) == ["anil seed 0", "fomaml seed 0"]
    queue.take_next()
    queue.cancel()
    assert names(queue) == [] and queue.current is not None  # the one training goes on
    queue.finished()
    assert not queue.active


def test_an_unknown_algorithm_queues_nothing():
    queue = RunQueue()
    with pytest.raises((CompareError, ValueError)):
        queue.plan(ExperimentConfig(), ["maml", "bogus"], 1)
    assert names(queue) == []
