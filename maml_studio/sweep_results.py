"""The studies of a sweep storage as plain data, for the window's Sweeps view (no Qt).

A workspace's studies live in its ``sweeps.db`` and in the storages that sweeps keeping
their runs in it were given with ``--storage`` (PostgreSQL, another SQLite file): each
such sweep notes its storage in the workspace's ``sweep-storages.json``, without its
password (libpq takes that from ``~/.pgpass`` or ``PGPASSWORD``), and
`workspace_storages` lists them all. `read_studies` lists the studies of a storage
(name, objective, trial counts, best value); `read_study` reads one study's trials:
number, state, objective, parameters (as the config takes them), duration, the run each
trial kept in the workspace, and which trial is best. `StudyResults.points` gives the
objective against a parameter or against the trial number, the way a scatter plot draws
them. Reading a SQLite storage opens it for reading only and never creates the file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.inputs import DocumentError, parse_json
from maml_studio.sweep_storage import (
    SQLITE_NAME,
    default_storage_url,
    open_storage,
    require_optuna,
    sqlite_file,
    without_password,
)

STORAGES_NAME = "sweep-storages.json"
MAX_REMEMBERED = 50

STATES = ("complete", "pruned", "fail", "running", "waiting")


@dataclass(frozen=True)
class StudySummary:
    name: str
    direction: str  # "minimize" or "maximize"
    metric: str  # "mse", "cross-entropy", "accuracy" (or "objective" for a study made elsewhere)
    trials: int
    complete: int
    best_value: float | None


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # one of STATES
    value: float | None
    params: dict[str, Any]  # as the config takes them (lists for list fields)
    seconds: float | None
    run_id: str | None  # the trial's run in its workspace
    workspace: str | None  # where that run was written
    note: str  # "pruned at 500", "diverged", "interrupted", "retry of trial 3", …
    intermediate: dict[int, float] = field(default_factory=dict)  # iteration → objective


@dataclass(frozen=True)
class Axis:
    """How a parameter is laid out on a plot's x axis."""

    kind: str  # "linear", "log" or "categorical"
    labels: tuple[str, ...] = ()  # the categories, in order, for "categorical"


@dataclass(frozen=True)
class StudyResults:
    name: str
    storage: str  # the URL it was read from
    direction: str
    metric: str
    parameters: tuple[str, ...]  # in the order of the search space
    axes: dict[str, Axis]
    trials: tuple[TrialRow, ...]  # by number
    best: int | None  # the best complete trial's number

    def points(self, parameter: str | None) -> tuple[list[float], list[float], list[int]]:
        """x, objective and trial number of every complete trial; x is the trial number when
        ``parameter`` is None, a category's position for categorical parameters."""
        xs, ys, numbers = [], [], []
        axis = self.axes.get(parameter) if parameter else None
        for trial in self.trials:
            if trial.state != "complete" or trial.value is None:
                continue
            if parameter is None:
                x = float(trial.number)
            elif parameter not in trial.params:
                continue
            elif axis is not None and axis.kind == "categorical":
                x = float(axis.labels.index(_label(trial.params[parameter])))
            else:
                x = float(trial.params[parameter])
            xs.append(x)
            ys.append(trial.value)
            numbers.append(trial.number)
        return xs, ys, numbers

    def trial(self, number: int) -> TrialRow:
        return next(t for t in self.trials if t.number == number)

    @property
    def counts(self) -> dict[str, int]:
        return {state: sum(1 for t in self.trials if t.state == state) for state in STATES}


def workspace_storage(folder: str | Path) -> str | None:
    """The URL of a workspace's own sweep storage, or None when it has none yet."""
    return default_storage_url(folder) if (Path(folder) / SQLITE_NAME).is_file() else None


def workspace_storages(folder: str | Path) -> list[str]:
    """Every storage whose studies keep runs in the workspace: its own first, then the noted."""
    own = workspace_storage(folder)
    noted = [url for url in remembered_storages(folder) if url != default_storage_url(folder)
             and (sqlite_file(url) is None or sqlite_file(url).is_file())]
    return ([own] if own else []) + noted


def remembered_storages(folder: str | Path) -> list[str]:
    path = Path(folder) / STORAGES_NAME
    try:
        data = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, DocumentError):
        return []
    storages = data.get("storages") if isinstance(data, dict) else None
    if not isinstance(storages, list):
        return []
    return [url for url in storages if isinstance(url, str)][:MAX_REMEMBERED]


def remember_storage(folder: str | Path, url: str) -> None:
    """Note a storage other than the workspace's own in it, without the URL's password."""
    if url == default_storage_url(folder):
        return
    url = without_password(url)
    known = remembered_storages(folder)
    if url in known:
        return
    data = {"format": "maml-studio-sweep-storages", "storages": [*known, url][-MAX_REMEMBERED:]}
    atomic_write_bytes(Path(folder) / STORAGES_NAME, (json.dumps(data, indent=1) + "\n").encode())


def read_studies(url: str) -> list[StudySummary]:
    """Every study in the storage, by name."""
    optuna = require_optuna()
    storage = open_storage(url, writing=False)
    try:
        summaries = []
        for summary in optuna.get_all_study_summaries(storage, include_best_trial=True):
            best = summary.best_trial.value if summary.best_trial is not None else None
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            states = [t.state.name for t in study.get_trials(deepcopy=False)]
            summaries.append(StudySummary(
                summary.study_name, summary.direction.name.lower(),
                _metric(summary.user_attrs), len(states), states.count("COMPLETE"), best))
        return sorted(summaries, key=lambda s: s.name)
    finally:
        storage.engine.dispose()


def read_study(url: str, name: str) -> StudyResults:
    """One study's trials (`KeyError` if the storage holds no study of that name)."""
    optuna = require_optuna()
    storage = open_storage(url, writing=False)
    try:
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise KeyError(f"no study {name!r} in {url}") from None
        trials = study.get_trials(deepcopy=False)
        attrs = study.user_attrs
        order = [d["field"] for d in attrs.get("space", []) if isinstance(d, dict) and "field" in d]
        encoded = {d["field"] for d in attrs.get("space", []) if isinstance(d, dict)
                   and d.get("kind") == "choice" and any(isinstance(c, list | dict)
                                                        for c in d.get("choices", []))}
        distributions: dict[str, Any] = {}
        for trial in trials:
            distributions.update(trial.distributions)
        parameters = tuple(order + sorted(set(distributions) - set(order)))
        axes = {key: _axis(distributions[key], key in encoded) for key in parameters
                if key in distributions}
        rows = tuple(_row(trial, encoded) for trial in sorted(trials, key=lambda t: t.number))
        direction = study.direction.name.lower()
        scored = [row for row in rows if row.state == "complete" and row.value is not None]
        pick = max if direction == "maximize" else min
        best = pick(scored, key=lambda row: row.value).number if scored else None
        return StudyResults(name, url, direction, _metric(attrs), parameters, axes, rows, best)
    finally:
        storage.engine.dispose()


def _row(trial, encoded: set[str]) -> TrialRow:
    state = trial.state.name.lower()
    value = trial.value if trial.value is not None and math.isfinite(trial.value) else None
    params = {key: json.loads(value) if key in encoded and isinstance(value, str) else value
              for key, value in trial.params.items()}
    seconds = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    attrs = trial.user_attrs
    note = str(attrs.get("note", ""))
    if attrs.get("surplus"):
        note = "not run: the study had its trials"
    retried = trial.system_attrs.get("failed_trial")
    if retried is not None:
        note = f"retry of trial {retried}" + (f"; {note}" if note else "")
    elif state == "fail" and not note:
        note = "its worker stopped (no heartbeat)" if "worker" in attrs else "failed"
    intermediate = {int(step): float(v) for step, v in trial.intermediate_values.items()
                    if v is not None and math.isfinite(v)}
    return TrialRow(trial.number, state if state in STATES else "fail", value, params, seconds,
                    attrs.get("run_id"), attrs.get("workspace"), note, intermediate)


def _axis(distribution, encoded: bool) -> Axis:
    choices = getattr(distribution, "choices", None)
    if choices is not None:
        labels = tuple(_label(json.loads(c) if encoded and isinstance(c, str) else c) for c in choices)
        return Axis("categorical", labels)
    return Axis("log" if getattr(distribution, "log", False) else "linear")


def _label(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _metric(attrs: dict[str, Any]) -> str:
    objective = attrs.get("objective")
    if isinstance(objective, dict) and isinstance(objective.get("metric"), str):
        return objective["metric"]
    return "objective"
