"""Experiment configuration: the four section tables together, read from and written to files.

Reading a document rejects unknown keys, wrong types and out-of-range values
with a `ConfigError` that names the field; `ExperimentConfig.check` adds the
checks that need the task family the config describes.
"""

from __future__ import annotations

import copy
import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.config_sections import (
    SECTIONS,
    AlgorithmConfig,
    ModelConfig,
    TaskConfig,
    TrainingConfig,
    maml_plus_plus_problem,
    validate_value,
)
from maml_studio.errors import ConfigError
from maml_studio.inputs import DocumentError, check_depth, file_problem, parse_json, parse_toml, shown
from maml_studio.resources import preset_path
from maml_studio.tasks import build_family, generator_for

TEXT_FIELDS = ("task.formula", "task.path")  # --set takes these verbatim unless quoted
MAX_CONFIG_BYTES = 1_000_000  # a config is a few hundred bytes; a larger file is not one


@dataclass
class ExperimentConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    # -- conversion -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {
            name: {f.name: copy.deepcopy(getattr(getattr(self, name), f.name))
                   for f in fields(SECTIONS[name])}
            for name in SECTIONS
        }

    @classmethod
    def from_dict(cls, data: Any) -> ExperimentConfig:
        if not isinstance(data, dict):
            raise ConfigError("a config must be a table of sections: task, model, algorithm, training")
        config = cls()
        for section, values in data.items():
            if section not in SECTIONS:
                raise ConfigError(
                    f"unknown section {shown(section)} (allowed: {', '.join(SECTIONS)})"
                )
            if not isinstance(values, dict):
                raise ConfigError(f"{shown(section)} must be a table of fields")
            for key, value in values.items():
                config.set(f"{section}.{key}", value)
        config.check()
        return config

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def copy(self) -> ExperimentConfig:
        return ExperimentConfig.from_dict(self.to_dict())

    # -- field access -----------------------------------------------------------------------
    def set(self, dotted_key: str, value: Any) -> None:
        """Set ``section.field`` to ``value`` after validating it."""
        section, _, name = dotted_key.partition(".")
        if section not in SECTIONS or not name:
            raise ConfigError(
                f"unknown field {shown(dotted_key)} (fields are section.name, sections: "
                f"{', '.join(SECTIONS)})"
            )
        known = {f.name: f for f in fields(SECTIONS[section])}
        if name not in known:
            raise ConfigError(
                f"unknown field {shown(dotted_key)} (allowed in [{section}]: {', '.join(known)})"
            )
        setattr(getattr(self, section), name, validate_value(dotted_key, known[name], value))

    def set_from_string(self, assignment: str) -> None:
        """Apply a command-line ``section.field=value``; the value is read as TOML."""
        key, sep, text = assignment.partition("=")
        if not sep:
            raise ConfigError(f"--set expects section.field=value, got {shown(assignment)}")
        key = key.strip()
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()  # a bare word such as reptile or cpu
        except (RecursionError, ValueError):
            raise ConfigError(f"{shown(key)}: the value is nested too deeply or has a number of "
                              f"more than 4300 digits") from None
        if key in TEXT_FIELDS and not isinstance(value, str):
            value = text.strip()  # a formula such as 2 * x reads as itself, not as TOML
        try:
            check_depth(value)
        except DocumentError as exc:
            raise ConfigError(f"{shown(key)}: {exc}") from None
        self.set(key, value)

    def check(self) -> None:
        """Cross-field checks that a single field cannot make."""
        family = build_family(self.task)
        if self.task.family == "tasks" and not getattr(family, "missing", ""):
            # Recorded so that a checkpoint opened without the files still builds its model.
            self.task.dim_in, self.task.dim_out = family.dim_in, family.dim_out
        sampled = family.kind == "classification" or self.task.family == "tasks"
        if sampled and not getattr(family, "missing", ""):
            # Ranges that leave a class no room, or tasks too small for K + Q, fail here, not later.
            family.sample(64, self.algorithm.support_size, self.algorithm.query_size, generator_for(0))
        if self.algorithm.name == "fomaml":
            self.algorithm.first_order = True
        problem = maml_plus_plus_problem(self.algorithm)
        if problem:
            raise ConfigError(problem)


def load_config(path: str | Path) -> ExperimentConfig:
    """Read a TOML or JSON config; every failure is a `ConfigError` naming the file."""
    path = Path(path)
    if path.suffix.lower() not in (".toml", ".json"):
        raise ConfigError(f"{path}: a config is a .toml or .json file")
    problem = file_problem(path)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size:,} bytes is too large for a config "
                          f"(at most {MAX_CONFIG_BYTES:,})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    try:
        data = parse_json(text) if path.suffix.lower() == ".json" else parse_toml(text)
    except DocumentError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return ExperimentConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def save_config(config: ExperimentConfig, path: str | Path) -> None:
    path = Path(path)
    text = config.to_json() if path.suffix.lower() == ".json" else config.to_toml()
    atomic_write_bytes(path, text.encode("utf-8"))


def load_preset(name: str) -> ExperimentConfig:
    try:
        return load_config(preset_path(name))
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
