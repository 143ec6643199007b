"""The peak memory of a computation on one thread, measured while other threads compute."""

import threading

import torch

from maml_studio.algorithms.hand_batched import hand_batched_meta_gradient
from maml_studio.anatomy import sample_batch, step_cost
from maml_studio.config import ExperimentConfig
from maml_studio.experiment import Experiment
from maml_studio.peak_memory import peak_memory_bytes
from maml_studio.tasks import generator_for
from maml_studio.thread_memory import thread_peak_memory_bytes

MB = 2**20


def test_the_peak_is_what_lived_at_once_and_what_existed_before_is_not_counted():
    before = torch.ones(4 * MB // 4)  # 4 MB that exist already

    def work():
        a = torch.zeros(MB // 4)  # 1 MB
        b = torch.zeros(2 * MB // 4) + a.sum()  # 2 MB of zeros, a 4-byte sum, 2 MB of b
        del a, b
        c = torch.zeros(MB // 4)  # 1 MB after both are gone: no new peak
        return before.add_(1), c  # in place: no new storage

    peak = thread_peak_memory_bytes(work)
    assert peak == 5 * MB + 4  # a, the zeros, the sum and b at once
    assert thread_peak_memory_bytes(lambda: before.mul_(2)) == 0


def test_another_threads_tensors_are_not_counted_and_nothing_breaks():
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            torch.randn(512, 512) @ torch.randn(512, 512)  # 1 MB each, all the time

    thread = threading.Thread(target=busy)
    thread.start()
    try:
        peaks = [thread_peak_memory_bytes(lambda: torch.zeros(1000)) for _ in range(50)]
    finally:
        stop.set()
        thread.join()
    assert set(peaks) == {4000}


def test_a_meta_steps_peak_is_close_to_the_profilers():
    config = ExperimentConfig()
    learner = Experiment.from_config(config).learner
    state = learner.init_state(generator_for(0))
    batch = sample_batch(config, 25, 0)
    step = hand_batched_meta_gradient(learner)
    args = (state, batch.support_x, batch.support_y, batch.query_x, batch.query_y)
    step(*args)
    tracked = thread_peak_memory_bytes(lambda: step(*args))
    profiled = peak_memory_bytes(lambda: step(*args))
    # The profiler also sees scratch buffers inside operations; the storages are most of it.
    assert 0.5 * profiled <= tracked <= 1.05 * profiled
    cost = step_cost(learner, state, batch, memory=thread_peak_memory_bytes)
    assert cost.milliseconds > 0 and cost.peak_memory_mb == tracked / MB
