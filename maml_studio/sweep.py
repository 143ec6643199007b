"""A hyperparameter sweep on Optuna: trials of one study, shared by any number of workers.

Each worker process runs `run_sweep`: it joins (or creates) the study in its storage,
then trains one trial after another until the study holds the wanted number of
complete trials, counted across every worker. A trial takes the base config with the
search space's values set, meta-trains it, and is scored on the objective the study
was created with (`Protocol`: the query loss after adaptation, or the accuracy for
classifiers, on a fixed set of validation tasks whose seed no trial changes). Each
of the trainer's meta-validations also scores the model and reports it to the trial,
so a median pruner can stop a trial that is worse than the median of the finished
ones at the same iteration. Every trial that trained is a run in the workspace: its
checkpoint holds its config (the trial's values set), its history, and in its
metadata the study, the trial number and the parameters; the trial records the run.

Counting. A worker starts a trial only while fewer than N trials are complete or under
way; a trial that starts anyway (two workers asked at the same moment) sees that N
trials with lower numbers are complete or running and gives way without training
(it is marked failed, ``surplus`` in its attributes). A worker with nothing to start
waits for the trials under way: if one of their workers vanished, the heartbeat marks
that trial failed and queues it again, and a waiting worker runs it.

The first Ctrl-C (or SIGTERM) stops the trial under way: its run is kept as stopped
and the trial is marked failed; the finished trials stay in the study. A second one
quits at once.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from maml_studio import __version__
from maml_studio.checkpoint import Checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.errors import ConfigError
from maml_studio.history import History
from maml_studio.inputs import one_line, shown
from maml_studio.memory import check_memory
from maml_studio.run_store import RunStore, WorkspaceError
from maml_studio.sweep_plan import SweepOutcome, SweepPlan, short_names, value_text
from maml_studio.sweep_results import remember_storage
from maml_studio.sweep_space import SweepError
from maml_studio.sweep_storage import (
    open_storage,
    require_optuna,
    shown_url,
    sqlite_file,
    storage_lock,
    worker_name,
)
from maml_studio.training import Finished, Trainer, Validation

WAIT_POLL = 2.0
MAX_FAILURES_IN_A_ROW = 5
# Per-machine choices that do not change what a trial measures: workers may differ in them.
MACHINE_FIELDS = ("training.threads", "training.device", "training.compile")
RUN_INFO_KEY = "sweep"  # the run checkpoint's metadata: study, trial and parameters as JSON


class _Interrupted(Exception):
    """The user stopped the trial under way (the run is kept as stopped)."""


class _TrialProblem(Exception):
    """A trial that cannot run as suggested (its config is refused); the sweep goes on."""


def run_sweep(plan: SweepPlan, store: RunStore, *, log: Callable[[str], None] | None = None
              ) -> SweepOutcome:
    """Run trials of ``plan``'s study in this process until it holds ``plan.trials`` complete."""
    plan.check()
    remember_storage(store.folder, plan.storage)  # the window lists the studies of every storage noted
    return _Worker(plan, store, log or (lambda message: print(message, file=sys.stderr))).run()


class _Worker:
    def __init__(self, plan: SweepPlan, store: RunStore, log: Callable[[str], None]) -> None:
        self.plan, self.store, self.log = plan, store, log
        self.optuna = require_optuna()
        self.protocol = plan.protocol
        self.worker = worker_name()
        self.outcome = SweepOutcome(plan.study, shown_url(plan.storage), self.protocol.direction,
                                    wanted=plan.trials)
        self.trainer: Trainer | None = None
        self.short = short_names(plan.space.fields)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> SweepOutcome:
        optuna, plan = self.optuna, self.plan
        storage = open_storage(plan.storage, heartbeat=plan.heartbeat)
        self.study = self._join(storage)
        wanted = plan.trials
        if plan.sampler == "grid":
            size = plan.space.grid_size()
            if wanted > size:
                self.log(f"the grid has {size} points: the sweep ends at {size} complete trials")
                wanted = self.outcome.wanted = size
        complete, running = self._counts()
        self.log(f"study {plan.study!r} in {self.outcome.storage}: {complete} of {wanted} trials "
                 f"complete, {running} under way; worker {self.worker}")
        began = time.monotonic()
        failures, waiting_said = 0, False
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self.outcome.interrupted:
                if plan.timeout is not None and time.monotonic() - began >= plan.timeout:
                    self.outcome.timed_out = True
                    break
                _fail_stale(optuna, self.study)
                complete, running = self._counts()
                if complete >= wanted:
                    break
                if plan.sampler == "grid" and self._grid_used_up():
                    self.outcome.stopped_early = "every point of the grid has been tried"
                    break
                if complete + running >= wanted:
                    if not waiting_said:
                        self.log(f"waiting for {running} trial{'s' if running != 1 else ''} under way "
                                 f"({complete} of {wanted} complete)")
                        waiting_said = True
                    time.sleep(WAIT_POLL)
                    continue
                waiting_said = False
                state = self._one_trial()
                failures = failures + 1 if state == "failed" else 0
                if failures >= MAX_FAILURES_IN_A_ROW:
                    self.outcome.stopped_early = f"{failures} trials in a row failed in this worker"
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self._finish()
        return self.outcome

    def _one_trial(self) -> str:
        """Ask for a trial and run it; its end as this worker saw it."""
        self.state = "failed"
        try:
            self.study.optimize(self._objective, n_trials=1, catch=(_TrialProblem,))
        except _Interrupted:
            return "interrupted"
        except self.optuna.exceptions.UpdateFinishedTrialError:
            # Another worker marked this trial failed: it missed heartbeats under heavy load.
            self.log("a trial of this worker was given up by another worker (it missed "
                     "heartbeats); its run is kept")
            return "failed"
        return self.state

    # -- one trial --------------------------------------------------------------------------------
    def _objective(self, trial) -> float:
        try:
            return self._trial(trial)
        except (_Interrupted, _TrialProblem, self.optuna.TrialPruned):
            raise
        except Exception as exc:  # recorded on the trial, then the sweep ends with the error
            trial.set_user_attr("note", f"error: {one_line(str(exc))[:300]}")
            raise

    def _trial(self, trial) -> float:
        optuna, plan, protocol = self.optuna, self.plan, self.protocol
        self.state = "failed"
        trial.set_user_attr("worker", self.worker)
        if self._surplus(trial.number):
            trial.set_user_attr("surplus", True)
            self.state = "surplus"
            raise _TrialProblem("surplus")
        try:
            values = plan.space.suggest(trial)
            config = plan.space.apply(plan.config, values)
            check_memory(config)
        except ConfigError as exc:
            self.outcome.failed.append(trial.number)
            trial.set_user_attr("note", one_line(str(exc))[:300])
            self.log(f"trial {trial.number}: failed, {one_line(str(exc))}")
            raise _TrialProblem(str(exc)) from None
        retried = self._retry_of(trial.number)
        again = f" (trial {retried} again: its worker stopped)" if retried is not None else ""
        self.log(f"trial {trial.number}: {self._params(values)}{again}")
        value, pruned_at, finished, began = math.nan, None, None, time.perf_counter()
        nonfinite = False
        trainer = self.trainer = Trainer(config)
        try:
            for event in trainer.run():
                if isinstance(event, Validation):
                    value = protocol.score(config, trainer.snapshot()["state"])
                    if not math.isfinite(value):  # adapting to the validation tasks diverges
                        nonfinite = True
                        break
                    trial.report(value, event.iteration)
                    if plan.prune and trial.should_prune():
                        pruned_at = event.iteration
                        trainer.stop()
                elif isinstance(event, Finished):
                    finished = event
        finally:
            self.trainer = None
        seconds = time.perf_counter() - began
        iterations = trainer.history.last_iteration
        if nonfinite or finished.status == "diverged":
            ending = "diverged"
        elif finished.status == "completed":
            ending = "complete"
        elif pruned_at is not None:
            ending = "pruned"
        else:  # stopped by Ctrl-C or SIGTERM
            ending = "interrupted"
        status = {"complete": "completed", "diverged": "diverged"}.get(ending, "stopped")
        run = self._keep_run(trial, config, trainer, values, value, status, seconds, iterations)
        trial.set_user_attr("status", status)
        trial.set_user_attr("iterations", iterations)
        trial.set_user_attr("seconds", round(seconds, 3))
        where = f"run {run.file}" if run is not None else "no run kept"
        if ending == "interrupted":
            trial.set_user_attr("note", "interrupted")
            self.outcome.failed.append(trial.number)
            self.state = "interrupted"
            self.log(f"trial {trial.number}: stopped at iteration {iterations:,}; {where}")
            raise _Interrupted
        if ending in ("pruned", "diverged"):
            self.outcome.pruned.append(trial.number)
            self.state = "pruned"
            why = (f"pruned at iteration {pruned_at:,} ({protocol.shown(value)})" if ending == "pruned"
                   else f"diverged at iteration {iterations:,}")
            trial.set_user_attr("note", "diverged" if ending == "diverged" else f"pruned at {pruned_at}")
            self.log(f"trial {trial.number}: {why}; {where}")
            raise optuna.TrialPruned(why)
        self.outcome.ran.append(trial.number)
        self.state = "complete"
        complete, _ = self._counts()
        best = self._best(extra=(trial.number, value))
        self.log(f"trial {trial.number}: {protocol.shown(value)} in {seconds:.1f} s; "
                 f"{complete + 1} of {self.outcome.wanted} complete, best {protocol.shown(best[1])} "
                 f"(trial {best[0]})")
        return value

    def _keep_run(self, trial, config, trainer, values, value, status, seconds, iterations):
        """The trial's run in the workspace, recorded on the trial (None if it trained nothing)."""
        if iterations == 0:
            return None
        snapshot = trainer.snapshot()
        facts = {"study": self.plan.study, "trial": trial.number, "params": values,
                 "storage": self.outcome.storage, "metric": self.protocol.metric,
                 "value": value if math.isfinite(value) else None, "worker": self.worker}
        checkpoint = Checkpoint(config, snapshot["state"], snapshot["baseline"],
                                _finite_history(trainer.history), {RUN_INFO_KEY: json.dumps(facts)})
        try:
            run = self.store.add(checkpoint, name=f"{self.plan.study} trial {trial.number}",
                                 status=status, seconds=seconds,
                                 iterations_per_second=iterations / seconds if seconds > 0 else None)
        except WorkspaceError as exc:
            self.log(f"trial {trial.number}: its run was not kept: {exc}")
            return None
        trial.set_user_attr("run_id", run.id)
        trial.set_user_attr("run_file", run.file)
        trial.set_user_attr("workspace", str(self.store.folder))
        return run

    # -- the study ---------------------------------------------------------------------------------
    def _join(self, storage):
        """Create the study, or join it when its config, space and objective are these."""
        optuna, plan = self.optuna, self.plan
        record = {"config": _comparable(plan.config), "space": plan.space.to_json(),
                  "objective": self.protocol.to_json()}
        with storage_lock(sqlite_file(plan.storage)):
            study = optuna.create_study(storage=storage, study_name=plan.study,
                                        direction=self.protocol.direction, load_if_exists=True,
                                        sampler=self._sampler(), pruner=self._pruner())
            if study.direction.name.lower() != self.protocol.direction:
                raise SweepError(f"the study {plan.study!r} {study.direction.name.lower()}s its "
                                 f"objective, this sweep would {self.protocol.direction} it; give "
                                 f"another --study")
            held = study.user_attrs
            if "objective" not in held:
                for key, value in record.items():
                    study.set_user_attr(key, value)
                study.set_user_attr("maml_studio_version", __version__)
            else:
                difference = _difference(held, record)
                if difference:
                    raise SweepError(f"the study {plan.study!r} was started with {difference}; "
                                     f"give another --study to sweep this one")
        return study

    def _sampler(self):
        samplers = self.optuna.samplers
        if self.plan.sampler == "random":
            return samplers.RandomSampler()
        if self.plan.sampler == "grid":
            return samplers.GridSampler(self.plan.space.grid())
        # Workers sharing the study see each other's trials under way as if they had scored
        # badly, so that they do not all try the same point (the "constant liar").
        return samplers.TPESampler(constant_liar=True)

    def _pruner(self):
        pruners = self.optuna.pruners
        return pruners.MedianPruner() if self.plan.prune else pruners.NopPruner()

    def _counts(self) -> tuple[int, int]:
        states = self.optuna.trial.TrialState
        trials = self.study.get_trials(deepcopy=False, states=(states.COMPLETE, states.RUNNING))
        complete = sum(1 for t in trials if t.state == states.COMPLETE)
        return complete, len(trials) - complete

    def _surplus(self, number: int) -> bool:
        """Whether the wanted trials, with lower numbers, are already complete or under way."""
        states = self.optuna.trial.TrialState
        ahead = self.study.get_trials(deepcopy=False, states=(states.COMPLETE, states.RUNNING))
        return sum(1 for t in ahead if t.number < number) >= self.outcome.wanted

    def _retry_of(self, number: int) -> int | None:
        """The trial this one runs again (its worker stopped), if it is a retry."""
        running = self.study.get_trials(deepcopy=False, states=(self.optuna.trial.TrialState.RUNNING,))
        return next((t.system_attrs.get("failed_trial") for t in running if t.number == number), None)

    def _grid_used_up(self) -> bool:
        states = self.optuna.trial.TrialState
        tried = {json.dumps(t.params, sort_keys=True) for t in self.study.get_trials(
            deepcopy=False, states=(states.COMPLETE, states.PRUNED, states.RUNNING))}
        return len(tried) >= self.plan.space.grid_size()

    def _best(self, extra: tuple[int, float] | None = None) -> tuple[int, float]:
        states = self.optuna.trial.TrialState
        scored = [(t.number, t.value) for t in self.study.get_trials(deepcopy=False,
                                                                      states=(states.COMPLETE,))]
        if extra is not None:
            scored.append(extra)
        pick = max if self.protocol.direction == "maximize" else min
        return pick(scored, key=lambda item: item[1])

    def _finish(self) -> None:
        outcome = self.outcome
        try:
            complete, _ = self._counts()
        except Exception:  # the storage went away at the end: report what this worker knows
            complete = len(outcome.ran)
        outcome.complete = complete
        if complete:
            number, value = self._best()
            params = self.plan.space.decode(
                next(t for t in self.study.get_trials(deepcopy=False) if t.number == number).params)
            outcome.best = (number, value, params)

    def _params(self, values: dict[str, Any]) -> str:
        return " ".join(f"{self.short[key]}={value_text(value)}" for key, value in values.items())

    # -- signals -----------------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        self.outcome.signals.append(signum)
        if len(self.outcome.signals) > 1:
            raise KeyboardInterrupt
        if self.trainer is not None:
            self.trainer.stop()
        self.log("stopping: finished trials are kept; the trial under way is kept as a stopped run "
                 "(Ctrl-C again to quit now)")


def _finite_history(history: History) -> History:
    """The history with a diverged validation's infinite losses written as NaN (not finite),
    which checkpoints hold; the rest as it is."""
    copy = history.copy()
    copy.validation = [tuple(v if math.isfinite(v) else math.nan for v in row) for row in copy.validation]
    return copy


def _fail_stale(optuna, study) -> None:
    """Mark trials whose worker stopped beating failed (and queue them again)."""
    optuna.storages.fail_stale_trials(study)


def _comparable(config: ExperimentConfig) -> dict[str, Any]:
    """The config as studies compare it: without the per-machine fields."""
    data = config.to_dict()
    for key in MACHINE_FIELDS:
        section, _, name = key.partition(".")
        data[section].pop(name, None)
    return data


def _difference(held: dict[str, Any], record: dict[str, Any]) -> str:
    """What differs between a study's record and this sweep's, in words ("" when nothing)."""
    held_config, config = held.get("config", {}), record["config"]
    for section, values in config.items():
        for name, value in values.items():
            there = held_config.get(section, {}).get(name)
            if there != value:
                return f"{section}.{name} = {shown(there)} (here {shown(value)})"
    if held.get("space") != record["space"]:
        return "another search space"
    for key, value in record["objective"].items():
        there = held.get("objective", {}).get(key)
        if there != value:
            return f"another objective ({key} {shown(there)}, here {shown(value)})"
    return ""
