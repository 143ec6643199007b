"""The meta-training loop: a generator of progress events that another thread can steer.

``Trainer.run()`` yields `Progress` (throttled by time, and once where a pause
takes hold), `Validation`, `CompileStatus` and one final `Finished`. `pause`,
`resume` and `stop` may be called from any thread and are honoured between
meta-steps; `snapshot` returns a detached CPU copy of the current parameters at
any time.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from maml_studio.algorithms.hand_batched import hand_batched_meta_gradient
from maml_studio.compilation import BackgroundCompiler, unavailable_reason
from maml_studio.config import ExperimentConfig
from maml_studio.devices import resolve_device, training_threads
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.history import History
from maml_studio.memory import tasks_per_chunk
from maml_studio.model import Params
from maml_studio.tasks import TaskBatch

SAMPLE_CHUNK = 64  # meta-batches sampled at once; fixed, so a seed gives the same batches
# With compile = "auto", shorter runs train eagerly: a cold compile takes longer than they do.
AUTO_COMPILE_MIN_ITERATIONS = 2_000


@dataclass(frozen=True)
class Progress:
    iteration: int  # meta-iterations completed
    total: int
    train_loss: float
    baseline_loss: float | None
    iterations_per_second: float
    elapsed: float


@dataclass(frozen=True)
class Validation:
    iteration: int
    before: float  # query loss of the meta-learned initialisation, no adaptation
    after: float  # query loss after test_inner_steps adaptation steps
    baseline_before: float | None
    baseline_after: float | None
    # Query accuracy of classification runs (None for regression).
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    baseline_accuracy_before: float | None = None
    baseline_accuracy_after: float | None = None

    def history_row(self) -> tuple[float, ...]:
        """The row `History.validation` keeps (NaN where a value does not apply)."""
        return tuple(math.nan if v is None else float(v) for v in (
            self.iteration, self.before, self.after, self.baseline_before, self.baseline_after,
            self.accuracy_before, self.accuracy_after, self.baseline_accuracy_before,
            self.baseline_accuracy_after))


@dataclass(frozen=True)
class CompileStatus:
    status: str  # "compiling", "ready", "failed" or "off"
    message: str


@dataclass(frozen=True)
class Finished:
    status: str  # "completed", "stopped", "diverged" or (from the GUI's worker) "failed"
    iteration: int
    message: str


Event = Progress | Validation | CompileStatus | Finished


class Trainer:
    def __init__(
        self,
        config: ExperimentConfig,
        *,
        state: Params | None = None,
        baseline_state: Params | None = None,
        history: History | None = None,
        optimizer_state: dict | None = None,
        progress_interval: float = 0.05,
        hand_batched: bool = True,  # False: the torch.func step when not compiled (for bench)
    ) -> None:
        self.config = config
        self.experiment = Experiment.from_config(config)
        self.device = resolve_device(config.training.device)
        self.history = history or History()
        self.progress_interval = progress_interval
        self.hand_batched = hand_batched
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._halted = threading.Event()  # the loop waits between steps while paused

        init = seed_stream(config.training.seed, "init")
        state = state if state is not None else self.experiment.learner.init_state(init)
        self.state = {k: v.detach().to(self.device).clone() for k, v in state.items()}
        self.baseline_state: Params | None = None
        if config.training.train_baseline:
            base = baseline_state if baseline_state is not None else \
                self.experiment.baseline.init_state(seed_stream(config.training.seed, "baseline"))
            self.baseline_state = {k: v.detach().to(self.device).clone() for k, v in base.items()}
        self.compile_seconds: float | None = None
        self._optimizer_state = optimizer_state
        self.optimizer: torch.optim.Optimizer | None = None
        self._latest_batch: TaskBatch | None = None

    # -- steering from other threads ------------------------------------------------------------
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        """Whether a pause is asked for (the step under way still finishes)."""
        return not self._running.is_set()

    @property
    def halted(self) -> bool:
        """Whether the loop is waiting between steps for a resume: no step runs."""
        return self._halted.is_set()

    def optimizer_state(self) -> dict | None:
        """A copy of the outer optimiser's state, to continue this run exactly later."""
        with self._lock:
            if self.optimizer is None:
                return self._optimizer_state
            return copy.deepcopy(self.optimizer.state_dict())

    def snapshot(self) -> dict[str, Params | None]:
        """Detached CPU copies of the meta-learned and baseline parameters."""
        with self._lock:
            return {
                "state": {k: v.detach().cpu().clone() for k, v in self.state.items()},
                "baseline": None if self.baseline_state is None else
                {k: v.detach().cpu().clone() for k, v in self.baseline_state.items()},
            }

    def latest_batch(self) -> TaskBatch | None:
        """The meta-batch of the last meta-step (what a meta-gradient view samples), if any."""
        return self._latest_batch

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        cfg = self.config.training
        torch.set_num_threads(training_threads(cfg.threads))
        learners = [(self.experiment.learner, self.state)]
        if self.baseline_state is not None:
            learners.append((self.experiment.baseline, self.baseline_state))
        optimizer = self._optimizer([list(state.values()) for _, state in learners])
        if self._optimizer_state is not None:  # continuing a run: Adam keeps its moments
            optimizer.load_state_dict(self._optimizer_state)
        self.optimizer = optimizer
        step_fn = _joint_meta_gradient([learner for learner, _ in learners])  # what compiles
        eager_fn = _joint_meta_gradient([learner for learner, _ in learners], self.hand_batched)
        # MAML++ derivative-order annealing: the first meta-steps are first-order (eager)
        first_order_until = self.config.algorithm.first_order_iterations
        first_order_fn = _joint_meta_gradient(
            [self.experiment.learner.with_first_order(), *[learner for learner, _ in learners[1:]]],
            self.hand_batched) if first_order_until else None
        data = seed_stream(cfg.seed, "data")
        validation_tasks = self._validation_tasks()
        batches: list[TaskBatch] = []
        start = self.history.iterations
        compiler, compiled = None, None

        cannot_compile = unavailable_reason()
        if cfg.compile != "off" and cannot_compile:
            yield CompileStatus("off", cannot_compile)
        elif cfg.compile == "auto" and cfg.iterations - start < AUTO_COMPILE_MIN_ITERATIONS:
            yield CompileStatus("off", f"{cfg.iterations - start:,} iterations end before a compile "
                                "would pay off; training runs eagerly ('wait' compiles anyway)")
        elif cfg.compile != "off":
            example = self._sample_chunk(seed_stream(cfg.seed, "compile-example"))[0]
            states = [{k: v.detach().clone() for k, v in s.items()} for _, s in learners]
            # copies: training changes the live state
            args = (states, *_batch_args(example), *self._step_extras(start))
            compiler = BackgroundCompiler(step_fn, args).start()
            yield CompileStatus("compiling", "compiling the meta-step in the background; "
                                "training runs meanwhile" if cfg.compile == "auto" else
                                "compiling the meta-step before training starts")
            if cfg.compile == "wait":
                while not compiler.wait(0.1):  # a stop during a long compile is honoured
                    if self._stop.is_set():
                        yield Finished("stopped", self.history.iterations,
                                       "Stopped while compiling, before the first step.")
                        return
        else:
            yield CompileStatus("off", "compilation is off; training runs eagerly")

        # Skip the batches a resumed run has already used, so resuming reproduces a full run.
        for _ in range(start // SAMPLE_CHUNK):
            self._sample_chunk(data)
        if start % SAMPLE_CHUNK:
            batches = self._sample_chunk(data)[start % SAMPLE_CHUNK:]

        def validates_at(iteration: int) -> bool:
            return iteration % cfg.validate_every == 0 or iteration == cfg.iterations

        # A run stopped inside a validation owes it: a run straight through has it. (Stopped
        # inside it again, the loop below ends at once.)
        owed = start and validates_at(start) and all(row[0] != start for row in self.history.validation)
        if owed and (yield from self._validation_events(start, validation_tasks)) == "diverged":
            return

        began = time.perf_counter()
        last_report, report_iteration, report_time = 0.0, start, began
        rate = 0.0
        iteration = start
        losses: list[float] | None = None
        pause_reported = False
        while iteration < cfg.iterations:
            if self._stop.is_set():
                break
            if not self._running.is_set():
                if losses is not None and not pause_reported:  # report where it pauses, once
                    pause_reported = True
                    yield Progress(iteration, cfg.iterations, losses[0],
                                   losses[1] if len(losses) > 1 else None, rate,
                                   time.perf_counter() - began)
                    continue  # a resume or stop may have come meanwhile
                paused_at = time.perf_counter()
                self._halted.set()
                self._running.wait()
                self._halted.clear()
                began += time.perf_counter() - paused_at
                report_time = time.perf_counter()
                report_iteration = iteration
                continue
            pause_reported = False
            if compiler is not None and compiler.done:
                yield self._compile_outcome(compiler)
                compiled, compiler = compiler.ready(), None
            if not batches:
                batches = self._sample_chunk(data)
            batch = batches.pop(0)

            step = compiled or eager_fn
            if iteration < first_order_until:
                step = first_order_fn
            self._latest_batch = batch
            losses = self._meta_step(step, learners, optimizer, batch, iteration)
            if losses is None:
                yield self._diverged(iteration)
                return
            iteration += 1
            self.history.train_loss.append(losses[0])
            if len(losses) > 1:
                self.history.baseline_loss.append(losses[1])

            if validates_at(iteration):
                outcome = yield from self._validation_events(iteration, validation_tasks)
                if outcome == "stopped":
                    break
                if outcome == "diverged":
                    return
            now = time.perf_counter()
            if now - last_report >= self.progress_interval or iteration == cfg.iterations:
                if now > report_time:
                    rate = (iteration - report_iteration) / (now - report_time)
                    report_iteration, report_time = iteration, now
                last_report = now
                yield Progress(iteration, cfg.iterations, losses[0],
                               losses[1] if len(losses) > 1 else None, rate, now - began)

        if self._stop.is_set() and iteration < cfg.iterations:
            yield Finished("stopped", iteration, f"Stopped at iteration {iteration:,}.")
        else:
            yield Finished("completed", iteration,
                           f"Finished {iteration:,} iterations in {time.perf_counter() - began:.1f} s.")

    # -- pieces of the loop -----------------------------------------------------------------------
    def _optimizer(self, groups: list[list[torch.Tensor]]) -> torch.optim.Optimizer:
        """One optimiser, a parameter group per learner: one fused update per step."""
        cfg = self.config.training
        params = [{"params": tensors} for tensors in groups]
        if cfg.optimizer == "sgd":
            optimizer = torch.optim.SGD(params, lr=cfg.outer_lr, foreach=True)
        else:
            try:
                optimizer = torch.optim.Adam(params, lr=cfg.outer_lr, fused=True)
            except RuntimeError:  # a device without the fused kernel
                optimizer = torch.optim.Adam(params, lr=cfg.outer_lr, foreach=True)
        if cfg.lr_decay != "none":
            for group in optimizer.param_groups:
                group["initial_lr"] = cfg.outer_lr
        return optimizer

    def _sample_chunk(self, generator: torch.Generator) -> list[TaskBatch]:
        cfg, alg = self.config.training, self.config.algorithm
        big = self.experiment.family.sample(
            cfg.meta_batch_size * SAMPLE_CHUNK, alg.support_size, alg.query_size, generator)
        return big.to(self.device).split(cfg.meta_batch_size)

    def _validation_tasks(self) -> TaskBatch:
        cfg, alg = self.config.training, self.config.algorithm
        return self.experiment.family.evaluation_family().sample(
            cfg.validation_tasks, alg.support_size, alg.query_size,
            seed_stream(cfg.seed, "validation")).to(self.device)

    def _meta_step(self, step_fn, learners, optimizer, batch: TaskBatch, iteration: int
                   ) -> list[float] | None:
        """One outer update of every learner; None (and nothing changed) if it is not finite."""
        cfg = self.config.training
        grads, summary = step_fn([_detached(s) for _, s in learners], *_batch_args(batch),
                                 *self._step_extras(iteration))
        values = summary.tolist()  # [[loss, gradient norm] per learner]: the step's one sync
        if not all(math.isfinite(v) for row in values for v in row):
            return None
        with self._lock:
            for (_, state), grad_list, (_, norm) in zip(learners, grads, values, strict=True):
                if cfg.grad_clip > 0 and norm > cfg.grad_clip:
                    torch._foreach_mul_(grad_list, cfg.grad_clip / (norm + 1e-6))
                for tensor, grad in zip(state.values(), grad_list, strict=True):
                    tensor.grad = grad
            if cfg.lr_decay != "none":
                scale = 1.0 - iteration / cfg.iterations if cfg.lr_decay == "linear" else \
                    0.5 * (1.0 + math.cos(math.pi * iteration / cfg.iterations))  # cosine
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * scale
            optimizer.step()
        return [row[0] for row in values]

    def _step_extras(self, iteration: int) -> tuple[torch.Tensor, ...]:
        """What the meta-step takes besides states and tasks: MAML++'s multi-step loss weights."""
        weights = getattr(self.experiment.learner, "step_weights", lambda _: None)(iteration)
        return () if weights is None else (weights.to(self.device),)

    def _validation_events(self, iteration: int, tasks: TaskBatch):
        """Yield the validation at ``iteration`` (and the divergence it shows, if any); return
        "stopped" (stopped inside it), "diverged" or None."""
        validation = self._validate(iteration, tasks)
        if validation is None:
            return "stopped"
        yield validation
        if not math.isfinite(validation.after):
            yield self._diverged_adaptation(iteration)
            return "diverged"
        return None

    def _validate(self, iteration: int, tasks: TaskBatch) -> Validation | None:
        """Scores before and after adapting, in chunks of tasks; None if stopped meanwhile.

        Memory stays that of one chunk however many tasks there are: each chunk
        keeps only its first and last parameters, and stop is checked between steps.
        """
        steps = self.config.algorithm.test_inner_steps
        exp = self.experiment
        chunk = tasks_per_chunk(self.config, tasks.support_x.shape[1] + tasks.query_x.shape[1])

        def before_after(learner, state) -> list[float | None] | None:
            """Query loss before and after adapting, then accuracy before and after."""
            sums = [0.0, 0.0, 0.0, 0.0]
            classification = False
            for part in tasks.split(chunk):
                first = last = None
                for params in learner.adapt_steps(state, part.support_x, part.support_y, steps):
                    if self._stop.is_set():
                        return None
                    first = params if first is None else first
                    last = params
                for index, params in enumerate((first, last)):
                    loss, accuracy = exp.query_scores(learner, params, part.query_x, part.query_y)
                    sums[index] += float(loss.double().sum())
                    if accuracy is not None:
                        classification = True
                        sums[2 + index] += float(accuracy.double().sum())
            count = tasks.support_x.shape[0]
            return [sums[0] / count, sums[1] / count] + \
                ([sums[2] / count, sums[3] / count] if classification else [None, None])

        with self._lock:
            state = _detached(self.state)
            baseline = None if self.baseline_state is None else _detached(self.baseline_state)
        scores = before_after(exp.learner, state)
        base = [None] * 4 if baseline is None else before_after(exp.baseline, baseline)
        if scores is None or base is None:
            return None
        before, after, acc_before, acc_after = scores
        event = Validation(iteration, before, after, base[0], base[1],
                           acc_before, acc_after, base[2], base[3])
        self.history.validation.append(event.history_row())
        return event

    def _compile_outcome(self, compiler: BackgroundCompiler) -> CompileStatus:
        self.compile_seconds = compiler.seconds
        if compiler.ready() is not None:
            return CompileStatus("ready", f"switched to the compiled meta-step "
                                 f"(compiled in {compiler.seconds:.1f} s)")
        return CompileStatus("failed", f"compilation unavailable, training continues eagerly "
                             f"({compiler.error})")

    def _diverged_adaptation(self, iteration: int) -> Finished:
        alg = self.config.algorithm
        return Finished(
            "diverged", iteration,
            f"Training stopped at iteration {iteration:,}: adapting to the validation tasks gives "
            f"NaN or infinite losses after {alg.test_inner_steps} steps. The inner learning rate "
            f"{alg.inner_lr:g} is probably too high (algorithm.inner_lr); lower it and start again. "
            f"The parameters of iteration {iteration:,}, the last finite ones, are kept and can be "
            f"saved.")

    def _diverged(self, iteration: int) -> Finished:
        alg, cfg = self.config.algorithm, self.config.training
        return Finished(
            "diverged", iteration,
            f"Training stopped at iteration {iteration + 1:,}: the loss or its gradient became "
            f"NaN or infinite. The learning rate is probably too high (outer rate {cfg.outer_lr:g}, "
            f"inner rate {alg.inner_lr:g}); lower it and start again. The parameters of iteration "
            f"{iteration:,}, the last finite ones, are kept and can be saved.")


def _detached(state: Params) -> Params:
    return {k: v.detach() for k, v in state.items()}


def _batch_args(batch: TaskBatch) -> tuple[torch.Tensor, ...]:
    return batch.support_x, batch.support_y, batch.query_x, batch.query_y


def _joint_meta_gradient(learners, hand_batched: bool = False):
    """Every learner's meta-gradient, loss and gradient norm in one function (one compile).

    Returns the gradients (a list per learner, in state order) and a ``[learners, 2]``
    tensor of losses and gradient norms. ``hand_batched`` takes each learner's
    hand-batched meta-gradient where it has one (the fast eager path) instead of
    its `torch.func` form (the reference, and what compiles best).
    """
    functions = [(hand_batched and hand_batched_meta_gradient(learner)) or learner.meta_gradient
                 for learner in learners]

    def step(states, support_x, support_y, query_x, query_y, step_weights=None):
        grads, rows = [], []
        for learner, meta_gradient, state in zip(learners, functions, states, strict=True):
            extra = (step_weights,) if getattr(learner, "uses_step_weights", False) else ()
            grad, loss = meta_gradient(state, support_x, support_y, query_x, query_y, *extra)
            grad_list = [grad[name] for name in state]
            norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grad_list)))
            grads.append(grad_list)
            rows.append(torch.stack([loss.detach(), norm]))
        return grads, torch.stack(rows)

    return step
