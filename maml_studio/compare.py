"""Compare algorithms and seeds: train each into a workspace, evaluate each, summarise them.

`compare` trains every algorithm × seed of one config one after another, adds
each run to a `RunStore` (so the folder is a workspace the window opens),
evaluates each with the paper's protocol on the same fresh tasks (the same
evaluation seed for every run, so their scores are paired), and `write_summary`
writes ``summary.csv`` and ``summary.md`` with one row per evaluated run (``summary-2.*``
and so on when an earlier comparison's summary is in the workspace). The
first Ctrl-C (or SIGTERM) stops the run under way, keeps it in the workspace as
stopped, and ends the comparison with what has finished; a second one quits at
once, still summarising what has finished.
"""

from __future__ import annotations

import csv
import io
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.checkpoint import Checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.config_sections import ALGORITHMS
from maml_studio.evaluation import StepScore, evaluate
from maml_studio.experiment import Experiment
from maml_studio.inputs import parse_step_list, shown
from maml_studio.memory import check_memory
from maml_studio.run_store import RunInfo, RunStore
from maml_studio.training import Finished, Trainer
from maml_studio.training_progress import follow, progress_bar

MAX_SEEDS = 1000
MAX_STEPS = 10000
EVALUATION_SEED = 0  # every run meets the same evaluation tasks
SUMMARY = "summary"  # summary.csv and summary.md; summary-2.* … when an earlier one is there


class CompareError(ValueError):
    """A comparison that cannot be run as asked; the message says why in one line."""


def parse_algorithms(text: str) -> list[str]:
    """"maml,reptile" → ["maml", "reptile"] (in order, once each); refuses unknown names."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise CompareError(f"--algorithms names none; choose from {', '.join(ALGORITHMS)}")
    unknown = [name for name in names if name not in ALGORITHMS]
    if unknown:
        raise CompareError(f"--algorithms: unknown {'algorithm' if len(unknown) == 1 else 'algorithms'} "
                           f"{', '.join(shown(n) for n in unknown)}; valid: {', '.join(ALGORITHMS)}")
    return list(dict.fromkeys(names))


def parse_steps(text: str) -> list[int]:
    """"0,1,5" → [0, 1, 5] (sorted, once each); CompareError on anything else."""
    try:
        return parse_step_list(text, MAX_STEPS)
    except ValueError as exc:
        raise CompareError(str(exc)) from None


def check_counts(seeds: int, shots: int | None, tasks: int) -> None:
    if not 1 <= seeds <= MAX_SEEDS:
        raise CompareError(f"--seeds must be between 1 and {MAX_SEEDS}, got {seeds}")
    if shots is not None and shots < 1:
        raise CompareError(f"--shots must be at least 1, got {shots}")
    if tasks < 1:
        raise CompareError(f"--tasks must be at least 1, got {tasks}")


@dataclass(frozen=True)
class PlannedRun:
    name: str
    algorithm: str
    seed: int
    config: ExperimentConfig


def plan_runs(config: ExperimentConfig, algorithms: list[str], seeds: int) -> list[PlannedRun]:
    """One config per algorithm × seed: the given config with its algorithm and seed replaced.

    Seeds count up from the config's ``training.seed``. A config of ``fomaml`` is first order
    only by its name, so the other algorithms of its comparison are not.
    """
    check_counts(seeds, None, 1)
    first_order = config.algorithm.first_order and config.algorithm.name != "fomaml"
    planned = []
    for algorithm in algorithms:
        for offset in range(seeds):
            run = config.copy()
            seed = config.training.seed + offset
            run.set("algorithm.name", algorithm)
            run.set("algorithm.first_order", first_order)
            run.set("training.seed", seed)
            run.check()
            planned.append(PlannedRun(f"{algorithm} seed {seed}", algorithm, seed, run))
    return planned


@dataclass
class RunResult:
    run: RunInfo
    seconds: float
    iterations_per_second: float
    scores: dict[str, list[StepScore]]  # evaluate's: "maml" (the meta-learned model), "pretrained"


@dataclass
class Comparison:
    family: str
    metric: str  # "mse" (or the family's loss) for regression, "accuracy" for classifiers
    shots: int
    tasks: int
    steps: list[int]
    workspace: Path
    results: list[RunResult] = field(default_factory=list)
    kept_unevaluated: list[RunInfo] = field(default_factory=list)  # stopped by Ctrl-C
    signals: list[int] = field(default_factory=list)  # the signals that stopped it, if any
    summary_stem: str = SUMMARY  # its files' name, chosen so no earlier summary is replaced

    @property
    def summary_paths(self) -> tuple[Path, Path]:
        return (self.workspace / f"{self.summary_stem}.csv",
                self.workspace / f"{self.summary_stem}.md")

    @property
    def interrupted(self) -> bool:
        return bool(self.signals)


def compare(config: ExperimentConfig, algorithms: list[str], seeds: int, store: RunStore, *,
            shots: int | None, steps: list[int], tasks: int, progress: bool = True,
            log: Callable[[str], None] | None = None) -> Comparison:
    """Train, store and evaluate every planned run in turn; writes the summary as it goes.

    The summary files always describe the runs evaluated so far, whatever ends the comparison.
    """
    check_counts(seeds, shots, tasks)
    planned = plan_runs(config, algorithms, seeds)
    for run in planned:
        check_memory(run.config)  # before anything trains: a late refusal would waste the others
    first = planned[0].config  # every run shares the family and the evaluation
    experiment = Experiment.from_config(first)
    classification = experiment.family.kind == "classification"
    comparison = Comparison(
        family=first.task.family, metric="accuracy" if classification else experiment.kind.loss_name,
        shots=shots or first.algorithm.support_size, tasks=tasks, steps=steps, workspace=store.folder,
        summary_stem=_free_summary_stem(store.folder))
    say = log or (lambda message: print(message, file=sys.stderr))
    current: dict[str, Any] = {"trainer": None, "bar": None}

    def tell(message: str) -> None:
        if current["bar"] is not None:
            current["bar"].write(message, file=sys.stderr)
        else:
            say(message)

    def on_interrupt(signum, frame):
        comparison.signals.append(signum)
        if len(comparison.signals) > 1:
            raise KeyboardInterrupt
        if current["trainer"] is not None:
            current["trainer"].stop()
        tell("stopping: the finished runs are kept and summarised (Ctrl-C again to quit now)")

    previous = {sig: signal.signal(sig, on_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for number, run in enumerate(planned, 1):
            if comparison.interrupted:
                break
            trainer = Trainer(run.config)
            current["trainer"] = trainer
            finished, seconds = _train(trainer, f"{run.name} ({number}/{len(planned)})", progress,
                                       current)
            current["trainer"] = None
            rate = finished.iteration / seconds if seconds > 0 else 0.0
            snapshot = trainer.snapshot()
            checkpoint = Checkpoint(run.config, snapshot["state"], snapshot["baseline"], trainer.history)
            info = store.add(checkpoint, name=run.name, status=finished.status, seconds=seconds,
                             iterations_per_second=rate)
            if finished.status == "stopped":
                comparison.kept_unevaluated.append(info)
                tell(f"{run.name}: stopped at iteration {finished.iteration:,}; kept in the workspace "
                     f"as {info.file}, not evaluated")
                break
            if finished.status == "diverged":
                tell(f"{run.name}: {finished.message.splitlines()[0]}")
            scores = evaluate(checkpoint, shots=shots, steps=steps, tasks=tasks, seed=EVALUATION_SEED)
            comparison.results.append(RunResult(info, seconds, rate, scores))
            tell(f"{run.name}: {finished.status}, {finished.iteration:,} iterations in {seconds:.1f} s "
                 f"({rate:.1f} it/s); {_headline(comparison, scores)}")
            write_summary(comparison)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if comparison.results:
            write_summary(comparison)
    return comparison


def _train(trainer: Trainer, description: str, progress: bool,
           current: dict[str, Any]) -> tuple[Finished, float]:
    bar = progress_bar(trainer.config.training.iterations, description) if progress else None
    current["bar"] = bar
    began = time.perf_counter()
    try:
        finished = follow(trainer, bar)
    finally:
        current["bar"] = None
        if bar is not None:
            bar.close()
    return finished, time.perf_counter() - began


def _headline(comparison: Comparison, scores: dict[str, list[StepScore]]) -> str:
    last = scores["maml"][-1]
    value, ci = _metric(comparison, last)
    metric = "MSE" if comparison.metric == "mse" else comparison.metric
    steps = f"{last.step} step{'' if last.step == 1 else 's'}"
    if value is None:
        return f"query {metric} after {steps} is not finite"
    return f"query {metric} after {steps} {_cell(comparison, value, ci)}"


# -- the summary --------------------------------------------------------------------------------
RUN_COLUMNS = ("id", "name", "algorithm", "seed", "status", "iterations", "seconds", "it_per_s")


def _models(comparison: Comparison) -> list[str]:
    return ["maml"] + (["pretrained"] if any("pretrained" in r.scores for r in comparison.results)
                       else [])


def summary_columns(comparison: Comparison) -> list[str]:
    """The table's columns: the run, then its score and 95% interval after each step
    (``mse_step1``, ``mse_step1_ci95``; the baseline's prefixed ``pretrained_``)."""
    columns = list(RUN_COLUMNS)
    for model in _models(comparison):
        prefix = "" if model == "maml" else f"{model}_"
        for step in comparison.steps:
            columns += [f"{prefix}{comparison.metric}_step{step}",
                        f"{prefix}{comparison.metric}_step{step}_ci95"]
    return columns


def summary_rows(comparison: Comparison) -> list[dict[str, Any]]:
    """One row per evaluated run, keyed by `summary_columns`; None where there is no value."""
    rows = []
    for result in comparison.results:
        run = result.run
        row: dict[str, Any] = {"id": run.id, "name": run.name, "algorithm": run.algorithm,
                               "seed": run.seed, "status": run.status, "iterations": run.iterations,
                               "seconds": result.seconds, "it_per_s": result.iterations_per_second}
        for model in _models(comparison):
            prefix = "" if model == "maml" else f"{model}_"
            scores = {s.step: s for s in result.scores.get(model, [])}
            for step in comparison.steps:
                value, ci = _metric(comparison, scores[step]) if step in scores else (None, None)
                row[f"{prefix}{comparison.metric}_step{step}"] = value
                row[f"{prefix}{comparison.metric}_step{step}_ci95"] = ci
        rows.append(row)
    return rows


def summary_json(comparison: Comparison) -> dict[str, Any]:
    return {"workspace": str(comparison.workspace), "family": comparison.family,
            "metric": comparison.metric, "shots": comparison.shots, "tasks": comparison.tasks,
            "steps": comparison.steps, "evaluation_seed": EVALUATION_SEED,
            "interrupted": comparison.interrupted, "columns": summary_columns(comparison),
            "rows": summary_rows(comparison)}


def _free_summary_stem(folder: Path) -> str:
    """``summary``, or ``summary-N`` with the first N whose files an earlier comparison in the
    same workspace has not written."""
    for number in range(1, 10_000):
        stem = SUMMARY if number == 1 else f"{SUMMARY}-{number}"
        if not (folder / f"{stem}.csv").exists() and not (folder / f"{stem}.md").exists():
            return stem
    raise CompareError(f"{folder} holds 9 999 summaries already: choose another --out")


def write_summary(comparison: Comparison) -> tuple[Path, Path]:
    """Write the summary's CSV and Markdown into the workspace (each atomically)."""
    columns = summary_columns(comparison)
    rows = summary_rows(comparison)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else _csv_value(row[c]) for c in columns])
    csv_path, md_path = comparison.summary_paths
    atomic_write_bytes(csv_path, text.getvalue().encode("utf-8"))
    atomic_write_bytes(md_path, _markdown(comparison, rows).encode("utf-8"))
    return csv_path, md_path


def _markdown(comparison: Comparison, rows: list[dict[str, Any]]) -> str:
    metric = "accuracy" if comparison.metric == "accuracy" else f"{comparison.metric.upper()}"
    shots = f"{comparison.shots}-shot" + (" (per class)" if comparison.metric == "accuracy" else "")
    lines = [f"# {comparison.family}: {len(rows)} runs compared", "",
             f"Query {metric} (mean ± 95% interval) after each number of adaptation steps, "
             f"{shots}, on the same {comparison.tasks} fresh tasks for every run (evaluation seed "
             f"{EVALUATION_SEED}); \"pretrained\" is the run's baseline, trained beside it.", ""]
    if comparison.interrupted:
        lines += ["The comparison was interrupted; the table holds the runs that finished.", ""]
    heads = ["run", "algorithm", "seed", "status", "iterations", "seconds", "it/s"]
    models = _models(comparison)
    for model in models:
        heads += [f"{'' if model == 'maml' else 'pretrained '}step {s}" for s in comparison.steps]
    lines += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in rows:
        cells = [_md_text(row["name"]), row["algorithm"], str(row["seed"]), row["status"],
                 f"{row['iterations']:,}", f"{row['seconds']:.1f}", f"{row['it_per_s']:.1f}"]
        for model in models:
            prefix = "" if model == "maml" else f"{model}_"
            for step in comparison.steps:
                key = f"{prefix}{comparison.metric}_step{step}"
                value, ci = row[key], row[f"{key}_ci95"]
                cells.append("—" if value is None else _cell(comparison, value, ci))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _metric(comparison: Comparison, score: StepScore) -> tuple[float | None, float | None]:
    value, ci = (score.accuracy, score.accuracy_ci95) if comparison.metric == "accuracy" else \
        (score.mean, score.ci95)
    if value is None or not math.isfinite(value) or ci is None or not math.isfinite(ci):
        return None, None
    return value, ci


def _cell(comparison: Comparison, value: float, ci: float) -> str:
    if comparison.metric == "accuracy":
        return f"{100 * value:.1f} ± {100 * ci:.1f}%"
    return f"{value:.3f} ± {ci:.3f}"


def _csv_value(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _md_text(text: str) -> str:
    return text.replace("|", "\\|")

