"""Samples the meta-gradient anatomy of a run while it trains, on a thread of its own.

The training loop does nothing for it: the sampler's thread asks a `source`
for the run's latest meta-batch, iteration and (when it samples) a copy of the
weights, computes `meta_gradient_anatomy` there (second-order MAML's, whatever
the run's algorithm: what MAML would do at these weights), and hands the
sample to ``deliver``. Its cadence keeps it cheap: after a sample that took
``s`` seconds of the thread's CPU time it waits ``max(min_interval, s / budget)``,
so it computes at most ``budget`` of the time (1.5%, about a sample a second:
the two threads share the interpreter, and the run's meta-steps wait for it
while it holds the interpreter's lock). CPU time, not wall time: on a busy
machine a sample may take several times longer to finish than it computes.
A sample's milliseconds are the run's own wall time per meta-iteration since
the previous sample (timing a meta-step on this thread would time the contention
for the interpreter instead). The peak memory of a meta-step is measured with
the first sample and then every `COST_INTERVAL` seconds, being dearer than the
rest, with `thread_memory`, which (unlike the profiler) is safe while the
training thread computes.
The thread runs at the usual priority, on purpose: at the lowest, on a busy
machine, the system kept it off the CPU while it held the interpreter's lock,
and the training thread waited for it (training slowed by a measured 4.8%
instead of 0.7%, paired medians over 30 alternations).
Latest wins: a sample is always of the newest batch; iterations in between
are skipped, and nothing is computed while the run is paused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from maml_studio.algorithms import MetaLearner
from maml_studio.anatomy import meta_gradient_anatomy, step_cost
from maml_studio.anatomy_history import AnatomySample
from maml_studio.exit_guard import wait_at_exit
from maml_studio.model import Params
from maml_studio.tasks import TaskBatch
from maml_studio.thread_memory import thread_peak_memory_bytes

BUDGET = 0.015  # the share of the time the sampler may compute
MIN_INTERVAL = 1.0  # seconds between samples at the least
# Timing a meta-step (and profiling its memory) costs several times the anatomy itself, and
# changes little as a run goes on: it is measured with the first sample, then at most this often.
COST_INTERVAL = 10.0


@dataclass(frozen=True)
class LiveRun:
    """What a source offers: the run (``token``), its learner, iteration and latest batch."""

    token: object  # which run: a sample of a run no longer on show is dropped by the receiver
    learner: MetaLearner
    iteration: int
    batch: TaskBatch
    weights: Callable[[], Params]  # a copy of the current meta-parameters, taken when sampled


def lower_priority() -> None:
    """Run the calling thread at the lowest CPU priority (Linux: the thread's own nice value)."""
    with contextlib.suppress(AttributeError, OSError):  # not every system has them
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class AnatomySampler:
    def __init__(self, source: Callable[[], LiveRun | None],
                 deliver: Callable[[AnatomySample, object], None], *,
                 failed: Callable[[str], None] = lambda message: None,
                 budget: float = BUDGET, min_interval: float = MIN_INTERVAL,
                 measure_cost: bool = True, cost_interval: float = COST_INTERVAL) -> None:
        if not 0 < budget <= 1:
            raise ValueError("budget is a share of the time in (0, 1]")
        self.source, self.deliver, self.failed = source, deliver, failed
        self.budget, self.min_interval, self.measure_cost = budget, min_interval, measure_cost
        self.cost_interval = cost_interval
        self.interval = min_interval  # the wait after the last sample
        self.last_seconds = math.nan  # the CPU time the last sample took
        self.enabled = True
        self.busy = False  # a sample is being computed (it is delivered even if disabled meanwhile)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> AnatomySampler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="maml-anatomy", daemon=True)
            self._thread.start()
            wait_at_exit(self.ask_to_stop, self.wait)
        return self

    def wake(self) -> None:
        """A run started or resumed: look at the source again now."""
        self._wake.set()

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self.wake()

    def stop(self, timeout: float | None = 5.0) -> None:
        self.ask_to_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def ask_to_stop(self) -> None:
        """End the thread after the sample under way (if any)."""
        self._stopped.set()
        self._wake.set()

    def wait(self) -> None:
        """Until the sample under way (if any) has ended; after `stop`, at exit."""
        if self._thread is not None:
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        last: tuple[object, int] | None = None
        costed: tuple[object, float] | None = None  # the run and time of the last cost measured
        seen: tuple[object, int, float] | None = None  # run, iteration and time of the last look
        while not self._stopped.is_set():
            self._wake.clear()
            self.busy = True  # from the look at `enabled` on: a sample may follow
            live = self.source() if self.enabled else None
            now = time.perf_counter()
            if live is None:  # idle or paused: the next rate starts afresh
                seen = None
            if live is None or (live.token, live.iteration) == last:
                # nothing trains (wait to be woken), or nothing changed since (paused): look again later
                self.busy = False
                self._wake.wait(None if live is None else self.min_interval)
                continue
            started, cpu = time.perf_counter(), time.thread_time()
            cost = self.measure_cost and (costed is None or costed[0] is not live.token
                                          or started - costed[1] >= self.cost_interval)
            try:
                weights = live.weights()
                anatomy = meta_gradient_anatomy(live.learner, weights, live.batch,
                                                iteration=live.iteration)
                if cost:
                    anatomy = dataclasses.replace(anatomy, cost=step_cost(
                        live.learner, weights, live.batch, live.iteration,
                        memory=thread_peak_memory_bytes))
                    costed = (live.token, started)
            except Exception as exc:  # a sample lost must not end the sampling, nor the run
                self.failed(f"{type(exc).__name__}: {exc}")
                anatomy = None
            spent = time.thread_time() - cpu
            last = (live.token, live.iteration)
            self.last_seconds = spent
            self.interval = max(self.min_interval, spent / self.budget)
            milliseconds = math.nan
            if seen is not None and seen[0] is live.token and live.iteration > seen[1]:
                milliseconds = 1000 * (now - seen[2]) / (live.iteration - seen[1])
            seen = (live.token, live.iteration, now)
            if anatomy is not None:
                sample = AnatomySample.of(anatomy, live.iteration, spent)
                self.deliver(dataclasses.replace(sample, milliseconds=milliseconds), live.token)
            self.busy = False
            self._stopped.wait(self.interval)
