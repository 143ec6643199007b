"""What a sweep is asked to do and what it reports: the objective every trial is scored on
(`Protocol`), the plan a worker follows (`SweepPlan`, checked whole before anything
opens or trains), and the outcome and the lines it ends with. `sweep.run_sweep` carries
a plan out."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from maml_studio.checkpoint import Checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.evaluation import evaluate
from maml_studio.experiment import Experiment
from maml_studio.inputs import one_line, shown
from maml_studio.sweep_space import SearchSpace, SweepError

# Validation tasks of every trial: seed 1, not 0, the seed `eval` and `compare` report
# with, so that a sweep chooses on other tasks than those its result is reported on.
VALIDATION_SEED = 1
DEFAULT_TASKS = 200
QUERY_POINTS = 100  # per task (per class for classifiers), as `eval`
SAMPLERS = ("tpe", "random", "grid")
DEFAULT_HEARTBEAT = 10


@dataclass(frozen=True)
class Protocol:
    """The objective every trial of a study is scored on."""

    metric: str  # "accuracy", or the family's loss ("mse", "cross-entropy")
    direction: str  # "maximize" for accuracy, else "minimize"
    steps: int  # adaptation steps on the support points before the query is scored
    tasks: int
    shots: int | None = None  # support points per task; None: each trial's K
    seed: int = VALIDATION_SEED

    @classmethod
    def for_config(cls, config: ExperimentConfig, *, steps: int | None, tasks: int,
                   shots: int | None) -> Protocol:
        experiment = Experiment.from_config(config)
        classifier = experiment.family.kind == "classification"
        return cls("accuracy" if classifier else experiment.kind.loss_name,
                   "maximize" if classifier else "minimize",
                   config.algorithm.test_inner_steps if steps is None else steps, tasks, shots)

    def score(self, config: ExperimentConfig, state) -> float:
        """The model's score on the fixed validation tasks (NaN when adaptation diverges)."""
        scores = evaluate(Checkpoint(config, state), shots=self.shots, steps=[self.steps],
                          tasks=self.tasks, seed=self.seed, query_points=QUERY_POINTS)["maml"][-1]
        value = scores.accuracy if self.metric == "accuracy" else scores.mean
        return float(value) if value is not None and math.isfinite(value) else math.nan

    def shown(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "—"
        if self.metric == "accuracy":
            return f"accuracy {100 * value:.2f}%"
        return f"{self.metric.upper() if self.metric == 'mse' else self.metric} {value:.4g}"

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "direction": self.direction, "steps": self.steps,
                "tasks": self.tasks, "shots": self.shots, "seed": self.seed}


@dataclass
class SweepPlan:
    config: ExperimentConfig
    space: SearchSpace
    study: str
    storage: str  # URL
    trials: int = 20
    timeout: float | None = None
    sampler: str = "tpe"
    prune: bool = False
    protocol: Protocol | None = None  # None: the config's (see Protocol.for_config)
    heartbeat: int = DEFAULT_HEARTBEAT

    def check(self) -> None:
        """Everything that can be refused before a storage is opened or anything trains."""
        if not 1 <= self.trials <= 100_000:
            raise SweepError(f"--trials must be between 1 and 100000, got {self.trials}")
        if self.timeout is not None and not self.timeout > 0:
            raise SweepError(f"--timeout must be a positive number of seconds, got {self.timeout:g}")
        if self.sampler not in SAMPLERS:
            raise SweepError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {shown(self.sampler)}")
        if not 1 <= self.heartbeat <= 3600:
            raise SweepError(f"--heartbeat must be between 1 and 3600 seconds, got {self.heartbeat}")
        if not self.study or len(self.study) > 200 or one_line(self.study) != self.study:
            raise SweepError(f"--study must be one line of 1 to 200 characters, got {shown(self.study)}")
        if self.protocol is None:
            self.protocol = Protocol.for_config(self.config, steps=None, tasks=DEFAULT_TASKS, shots=None)
        if not 1 <= self.protocol.tasks <= 100_000:
            raise SweepError(f"--tasks must be between 1 and 100000, got {self.protocol.tasks}")
        if not 0 <= self.protocol.steps <= 10_000:
            raise SweepError(f"--steps must be between 0 and 10000, got {self.protocol.steps}")
        if self.protocol.shots is not None and not 1 <= self.protocol.shots <= 10_000:
            raise SweepError(f"--shots must be between 1 and 10000, got {self.protocol.shots}")
        self.space.check_against(self.config)
        if self.sampler == "grid":
            self.space.grid()  # a float range without a step, or too many points, is refused


@dataclass
class SweepOutcome:
    study: str
    storage: str  # shown without its password
    direction: str
    complete: int = 0  # complete trials in the study at the end
    wanted: int = 0
    ran: list[int] = field(default_factory=list)  # this worker's complete trials
    pruned: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    best: tuple[int, float, dict[str, Any]] | None = None  # number, value, parameters
    signals: list[int] = field(default_factory=list)
    timed_out: bool = False
    stopped_early: str = ""  # why the sweep ended before the count, when it did

    @property
    def interrupted(self) -> bool:
        return bool(self.signals)


def short_names(fields: list[str]) -> dict[str, str]:
    """``algorithm.inner_lr`` → ``inner_lr`` where no other field of the space ends so."""
    tails = [key.partition(".")[2] for key in fields]
    return {key: tail if tails.count(tail) == 1 else key for key, tail in zip(fields, tails, strict=True)}


def value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def summary_lines(outcome: SweepOutcome, protocol: Protocol, space: SearchSpace) -> list[str]:
    """What the sweep says when it ends."""
    lines = []
    mine = (f"this worker: {len(outcome.ran)} complete, {len(outcome.pruned)} pruned, "
            f"{len(outcome.failed)} failed")
    if outcome.interrupted:
        ending = "interrupted"
    elif outcome.timed_out:
        ending = "time is up"
    elif outcome.stopped_early:
        ending = f"ended early: {outcome.stopped_early}"
    else:
        ending = "done"
    lines.append(f"study {outcome.study!r}: {ending}; {outcome.complete} of {outcome.wanted} trials "
                 f"complete ({mine})")
    if outcome.best is not None:
        number, value, params = outcome.best
        short = short_names(space.fields)
        shown_params = " ".join(f"{short.get(k, k)}={value_text(v)}" for k, v in params.items())
        lines.append(f"best: trial {number}, {protocol.shown(value)}: {shown_params}")
    return lines
