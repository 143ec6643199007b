"""The search space of a sweep: config fields and the values a trial may give them.

A SPACE.toml names fields of the experiment config, each with its range:

    "algorithm.inner_lr" = { low = 0.001, high = 0.5, log = true }   # a float range
    "algorithm.name" = ["maml", "fomaml", "reptile"]                  # a list of values
    "training.seed" = { int = [0, 9] }                                # whole numbers a … b
    "model.hidden" = [[40, 40], [80, 80]]                            # lists are values too

(``[algorithm]`` tables with ``inner_lr = {…}`` say the same.) A float range may take
``step``, an integer range ``step`` and ``log``. Everything is checked before any trial
runs, and a problem is one line that names the field: an unknown field, a range of the
wrong kind for the field, low not below high, a log range from zero or below, an empty
list, a value the field does not allow, or an extreme of a range that makes the config
itself unusable (for instance a K that the task family cannot draw).

Optuna's own objects never appear here: `Dimension.suggest` takes any object with
Optuna's ``suggest_float``/``suggest_int``/``suggest_categorical``, and the grid is
plain lists, so this module needs no Optuna to check a space.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from maml_studio.config import ExperimentConfig
from maml_studio.config_sections import SECTIONS, validate_value
from maml_studio.errors import ConfigError
from maml_studio.inputs import DocumentError, file_problem, parse_toml, shown
from maml_studio.memory import check_memory

MAX_SPACE_BYTES = 100_000
MAX_FIELDS = 64
MAX_CHOICES = 1000
MAX_GRID = 100_000
_RANGE_KEYS = {"low", "high", "log", "step", "int"}


class SweepError(ConfigError):
    """A sweep that cannot run as asked; the message says why in one line."""


@dataclass(frozen=True)
class Dimension:
    """One field of the config and the values a trial may give it."""

    field: str  # "algorithm.inner_lr": also the parameter's name in the study
    kind: str  # "float", "int" or "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()  # the field's values, for "choice"
    encoded: bool = False  # choices stored in the study as JSON text (lists, tables)

    def suggest(self, trial: Any) -> Any:
        """The trial's value for this field, as the config takes it."""
        if self.kind == "float":
            return trial.suggest_float(self.field, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.field, self.low, self.high, log=self.log, step=self.step or 1)
        return self.decode(trial.suggest_categorical(self.field, list(self.study_choices())))

    def study_choices(self) -> tuple:
        """The choices as the study records them (JSON text where the values are not scalars)."""
        if self.encoded:
            return tuple(json.dumps(choice) for choice in self.choices)
        return self.choices

    def decode(self, value: Any) -> Any:
        """A value from the study as the config takes it."""
        return json.loads(value) if self.encoded and isinstance(value, str) else value

    def grid(self) -> list:
        """Every value of this dimension, as the study records them (for the grid sampler)."""
        if self.kind == "choice":
            return list(self.study_choices())
        if self.kind == "int":
            return list(range(self.low, self.high + 1, self.step or 1))
        if self.step is None:
            raise SweepError(f"{self.field}: a grid needs a step for a float range "
                             f"(add step = …, or give a list of values)")
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + index * self.step, 12) for index in range(count)]

    def extremes(self) -> list:
        """The values a config is checked with before the sweep starts."""
        if self.kind == "choice":
            return list(self.choices)
        return [self.low, self.high]

    def describe(self) -> str:
        if self.kind == "choice":
            return ", ".join(shown(choice) for choice in self.choices)
        text = f"{self.low:g} … {self.high:g}"
        if self.step is not None:
            text += f" by {self.step:g}"
        return text + (" (log)" if self.log else "") + (" (whole numbers)" if self.kind == "int" else "")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"field": self.field, "kind": self.kind}
        if self.kind == "choice":
            data["choices"] = list(self.choices)
        else:
            data.update(low=self.low, high=self.high, log=self.log, step=self.step)
        return data


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]

    @property
    def fields(self) -> list[str]:
        return [dimension.field for dimension in self.dimensions]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The trial's value of every field, in the order of the space."""
        return {dimension.field: dimension.suggest(trial) for dimension in self.dimensions}

    def apply(self, config: ExperimentConfig, values: dict[str, Any]) -> ExperimentConfig:
        """A copy of ``config`` with ``values`` set and checked as a whole."""
        result = config.copy()
        for key, value in values.items():
            result.set(key, value)
        result.check()
        return result

    def grid(self) -> dict[str, list]:
        """The grid sampler's search space; refused for float ranges without a step, or too large."""
        grid = {dimension.field: dimension.grid() for dimension in self.dimensions}
        size = math.prod(len(values) for values in grid.values())
        if size > MAX_GRID:
            raise SweepError(f"the grid holds {size:,} points, more than {MAX_GRID:,}; "
                             f"use --sampler tpe or random, or fewer values")
        return grid

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())

    def decode(self, params: dict[str, Any]) -> dict[str, Any]:
        """A trial's parameters as recorded in the study, as the config takes them."""
        by_field = {dimension.field: dimension for dimension in self.dimensions}
        return {key: by_field[key].decode(value) if key in by_field else value
                for key, value in params.items()}

    def check_against(self, config: ExperimentConfig) -> None:
        """Set each extreme of each dimension on ``config`` alone and check the result.

        A low or high end, or a listed value, that makes the config unusable (a K the
        family cannot draw, a run too large for this computer) is refused now, naming
        the field, rather than failing trials later.
        """
        for dimension in self.dimensions:
            for value in dimension.extremes():
                try:
                    probe = config.copy()
                    probe.set(dimension.field, value)
                    probe.check()
                    check_memory(probe)
                except ConfigError as exc:
                    message = str(exc)
                    if not message.startswith(dimension.field):
                        message = f"{dimension.field} = {shown(value)}: {message}"
                    raise SweepError(message) from None

    def to_json(self) -> list[dict[str, Any]]:
        return [dimension.to_json() for dimension in self.dimensions]


# -- reading a space -------------------------------------------------------------------------
def load_space(path: str | Path) -> SearchSpace:
    """Read SPACE.toml; every problem is a `SweepError` naming the file and the field."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise SweepError(f"--space {path}: {problem}")
    if path.stat().st_size > MAX_SPACE_BYTES:
        raise SweepError(f"--space {path}: too large for a search space ({path.stat().st_size:,} bytes)")
    try:
        data = parse_toml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"--space {path}: cannot read ({exc})") from None
    except DocumentError as exc:
        raise SweepError(f"--space {path}: {exc}") from None
    try:
        return parse_space(data)
    except SweepError as exc:
        raise SweepError(f"--space {path}: {exc}") from None


def parse_space(data: Any) -> SearchSpace:
    """A search space from a TOML document's table (see the module's description)."""
    if not isinstance(data, dict):
        raise SweepError("a search space is a table of config fields and their ranges")
    entries = _flatten(data)
    if not entries:
        raise SweepError('names no field; add one, e.g. "algorithm.inner_lr" = '
                         '{ low = 0.001, high = 0.5, log = true }')
    if len(entries) > MAX_FIELDS:
        raise SweepError(f"names {len(entries)} fields, at most {MAX_FIELDS}")
    return SearchSpace(tuple(_dimension(key, spec) for key, spec in entries))


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"algorithm": {"inner_lr": {...}}}`` and ``{"algorithm.inner_lr": {...}}`` alike."""
    entries = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not (value.keys() & _RANGE_KEYS) and name in SECTIONS:
            entries += _flatten(value, f"{name}.")
        else:
            entries.append((name, value))
    seen = set()
    for name, _ in entries:
        if name in seen:
            raise SweepError(f"{name}: named twice")
        seen.add(name)
    return entries


def _config_field(key: str):
    section, _, name = key.partition(".")
    if section not in SECTIONS or not name:
        raise SweepError(f"{shown(key)}: unknown field (fields are section.name, sections: "
                         f"{', '.join(SECTIONS)})")
    known = {f.name: f for f in fields(SECTIONS[section])}
    if name not in known:
        raise SweepError(f"{shown(key)}: unknown field (allowed in [{section}]: {', '.join(known)})")
    return known[name]


def _dimension(key: str, spec: Any) -> Dimension:
    field = _config_field(key)
    kind = field.metadata["kind"]
    if isinstance(spec, list):
        return _choices(key, field, spec)
    if not isinstance(spec, dict):
        raise SweepError(f"{key}: expected a list of values or a range table such as "
                         f"{{ low = 0.001, high = 0.5 }} or {{ int = [0, 9] }}, got {shown(spec)}")
    unknown = sorted(spec.keys() - _RANGE_KEYS)
    if unknown:
        raise SweepError(f"{key}: unknown range key {shown(unknown[0])} "
                         f"(a range takes low, high, log, step, or int = [a, b])")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SweepError(f"{key}: log must be true or false, got {shown(log)}")
    if "int" in spec:
        return _int_range(key, field, spec, log)
    if kind is not float:
        hint = " (whole numbers: { int = [a, b] })" if kind is int else " (give a list of values)"
        raise SweepError(f"{key}: a float range suits only a number field; this field takes "
                         f"{_kind(kind)}{hint}")
    if "low" not in spec or "high" not in spec:
        raise SweepError(f"{key}: a float range needs both low and high")
    low, high = (_number(key, name, spec[name]) for name in ("low", "high"))
    step = spec.get("step")
    if step is not None:
        step = _number(key, "step", step)
        if step <= 0:
            raise SweepError(f"{key}: step must be above 0, got {shown(step)}")
        if log:
            raise SweepError(f"{key}: a log range takes no step")
    _check_bounds(key, low, high, log)
    for value in (low, high):
        _allowed(key, field, float(value))
    return Dimension(key, "float", float(low), float(high), log, None if step is None else float(step))


def _int_range(key: str, field, spec: dict, log: bool) -> Dimension:
    if field.metadata["kind"] is not int:
        raise SweepError(f"{key}: {{ int = [a, b] }} suits only a whole-number field; this field "
                         f"takes {_kind(field.metadata['kind'])}")
    if spec.keys() & {"low", "high"}:
        raise SweepError(f"{key}: give either int = [a, b] or low and high, not both")
    bounds = spec["int"]
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)):
        raise SweepError(f"{key}: int expects two whole numbers [a, b], got {shown(bounds)}")
    low, high = bounds
    step = spec.get("step", 1)
    if not isinstance(step, int) or isinstance(step, bool) or step < 1:
        raise SweepError(f"{key}: step of a whole-number range must be a whole number from 1, "
                         f"got {shown(step)}")
    if log and step != 1:
        raise SweepError(f"{key}: a log range takes no step")
    _check_bounds(key, low, high, log)
    for value in (low, high):
        _allowed(key, field, value)
    return Dimension(key, "int", low, high, log, None if step == 1 else step)


def _choices(key: str, field, values: list) -> Dimension:
    if not values:
        raise SweepError(f"{key}: the list of values is empty")
    if len(values) > MAX_CHOICES:
        raise SweepError(f"{key}: {len(values)} values, at most {MAX_CHOICES}")
    checked = [_allowed(key, field, value) for value in values]
    texts = [json.dumps(value, sort_keys=True) for value in checked]
    if len(set(texts)) != len(texts):
        twice = next(value for value, text in zip(checked, texts, strict=True) if texts.count(text) > 1)
        raise SweepError(f"{key}: {shown(twice)} is listed twice")
    encoded = any(isinstance(value, list | dict) for value in checked)
    return Dimension(key, "choice", choices=tuple(checked), encoded=encoded)


def _allowed(key: str, field, value: Any) -> Any:
    """``value`` as the field takes it, or a `SweepError` saying what the field allows."""
    try:
        return validate_value(key, field, value)
    except ConfigError as exc:
        raise SweepError(str(exc)) from None


def _number(key: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SweepError(f"{key}: {name} must be a finite number, got {shown(value)}")
    return value


def _check_bounds(key: str, low: float, high: float, log: bool) -> None:
    if not low < high:
        raise SweepError(f"{key}: low must be below high, got low = {low:g}, high = {high:g}")
    if log and low <= 0:
        raise SweepError(f"{key}: a log range must start above 0, got low = {low:g}")


def _kind(kind: type) -> str:
    return {bool: "true or false", int: "whole numbers", float: "numbers", str: "text",
            list: "lists", dict: "tables"}[kind]
