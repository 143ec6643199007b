"""Experiment configuration: four small tables (task, model, algorithm, training).

Every field has a default, a one-sentence description (the GUI shows it as a
tooltip) and the values it allows. Reading a document rejects unknown keys,
wrong types and out-of-range values with a `ConfigError` that names the field.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from maml_studio.inputs import DocumentError, check_depth, file_problem, parse_json, parse_toml, shown

ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd", "anil")
ACTIVATIONS = ("relu", "tanh")
OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
COMPILE_MODES = ("auto", "off", "wait")
LR_DECAYS = ("none", "linear")
TEXT_FIELDS = ("task.formula", "task.path")  # --set takes these verbatim unless quoted
MAX_CONFIG_BYTES = 1_000_000  # a config is a few hundred bytes; a larger file is not one


class ConfigError(ValueError):
    """A config document or value that cannot be used; the message names the field."""


def spec(
    default: Any,
    help: str,
    *,
    kind: type | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    choices: tuple[str, ...] | None = None,
    optional: bool = False,
) -> Any:
    """A dataclass field with its description and allowed values."""
    meta = {
        "help": help,
        "kind": kind or type(default),
        "minimum": minimum,
        "maximum": maximum,
        "exclusive_minimum": exclusive_minimum,
        "choices": choices,
        "optional": optional,
    }
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TaskConfig:
    family: str = spec("sine", "Task family the tasks are sampled from (see `maml-studio families`).")
    ranges: dict = spec(
        {},
        "Overrides of the family's parameter ranges, e.g. amplitude = [5.0, 10.0].",
    )
    x_range: list = spec(
        [], "Interval the inputs x are drawn from; empty means the family's default.", kind=list
    )
    noise_std: float = spec(
        0.0, "Standard deviation of Gaussian noise added to observed y.", minimum=0.0, maximum=100.0
    )
    members: list = spec(
        [], "Families mixed uniformly by the 'multimodal' family; empty means its default five."
    )
    dim_in: int = spec(0, "Input dimension of the 'linear', 'halfplane' and 'blobs' families "
                       "(0: the family's default, 10 for 'linear' and 2 for the classifiers).",
                       minimum=0, maximum=1000)
    dim_out: int = spec(0, "Output dimension of the 'linear' family (0: its default, 1).",
                        minimum=0, maximum=1000)
    num_classes: int = spec(0, "Classes per task of the 'blobs' family, N-way (0: its default, 2).",
                            minimum=0, maximum=10)
    label_noise: float = spec(
        0.0, "Classification: probability that an observed label is flipped to another class.",
        minimum=0.0, maximum=0.5)
    class_balance: list = spec(
        [], "Classification: relative share of each class in support sets, e.g. [3, 1]; "
        "empty means K shots of every class.")
    formula: str = spec(
        "", "The 'formula' family's expression in x (or x1, x2, …) and the parameters of "
        "task.ranges, e.g. a * sin(x - p); several outputs separated by ';' "
        "(see `maml-studio families`).")
    path: str = spec("", "The 'tasks' family's task files: a folder of CSV files, one task each, "
                     "or an NPZ with x [T, N, d] and y [T, N, m].")
    held_out: float = spec(0.2, "The 'tasks' family: share of the tasks held out for validation, "
                           "eval and Sample task.", minimum=0.05, maximum=0.9)
    split_seed: int = spec(0, "The 'tasks' family: seed of the split into meta-training and "
                           "held-out tasks.", minimum=0, maximum=2**63 - 1)


@dataclass
class ModelConfig:
    hidden: list = spec([40, 40], "Hidden layer sizes of the MLP, e.g. [40, 40].")
    activation: str = spec("relu", "Non-linearity between layers.", choices=ACTIVATIONS)


@dataclass
class AlgorithmConfig:
    name: str = spec("maml", "Meta-learning algorithm.", choices=ALGORITHMS)
    first_order: bool = spec(
        False, "Drop second-order terms of the meta-gradient (cheaper, usually a little worse)."
    )
    inner_lr: float = spec(
        0.01, "Step size α of the inner (adaptation) gradient steps.",
        minimum=0.0, maximum=100.0, exclusive_minimum=True,
    )
    inner_steps: int = spec(1, "Inner gradient steps per task during meta-training.",
                            minimum=1, maximum=100)
    test_inner_steps: int = spec(10, "Inner gradient steps used when evaluating and adapting.",
                                 minimum=0, maximum=1000)
    support_size: int = spec(10, "Support points per task (K-shot) seen by the inner loop; "
                             "per class for classification.",
                             minimum=1, maximum=10000)
    query_size: int = spec(10, "Query points per task the adapted model is scored on; "
                           "per class for classification.",
                           minimum=1, maximum=10000)


@dataclass
class TrainingConfig:
    iterations: int = spec(70000, "Number of meta-iterations (outer optimiser steps).",
                           minimum=1, maximum=100_000_000)
    meta_batch_size: int = spec(25, "Tasks per meta-iteration.", minimum=1, maximum=100000)
    optimizer: str = spec("adam", "Outer optimiser that updates the meta-parameters.",
                          choices=OPTIMIZERS)
    outer_lr: float = spec(0.001, "Learning rate of the outer optimiser.",
                           minimum=0.0, maximum=100.0, exclusive_minimum=True)
    lr_decay: str = spec("none", "Outer learning-rate schedule: constant, or linear decay to zero.",
                         choices=LR_DECAYS)
    grad_clip: float = spec(0.0, "Clip the meta-gradient's norm to this value (0: no clipping).",
                            minimum=0.0, maximum=1e6)
    train_baseline: bool = spec(
        True, "Also train the paper's baseline: one network pretrained on all tasks jointly."
    )
    seed: int = spec(0, "Random seed; the same seed and config give the same run.",
                     minimum=0, maximum=2**63 - 1)
    device: str = spec("auto", "Where to train; 'auto' picks CUDA, then MPS, then CPU.",
                       choices=DEVICES)
    validate_every: int = spec(500, "Run a meta-validation every this many iterations.",
                               minimum=1, maximum=100_000_000)
    validation_tasks: int = spec(100, "Held-out tasks in each meta-validation.",
                                 minimum=1, maximum=100000)
    compile: str = spec(
        "auto",
        "torch.compile the meta-step: 'auto' compiles in the background and switches when ready, "
        "'wait' compiles before the first step (bit-reproducible), 'off' never compiles.",
        choices=COMPILE_MODES,
    )
    threads: int = spec(0, "CPU threads for training (0: all cores but one).",
                        minimum=0, maximum=1024)


SECTIONS: dict[str, type] = {
    "task": TaskConfig,
    "model": ModelConfig,
    "algorithm": AlgorithmConfig,
    "training": TrainingConfig,
}


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
        from maml_studio.tasks import build_family, generator_for  # local: tasks import our errors

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


def field_help(dotted_key: str) -> str:
    section, _, name = dotted_key.partition(".")
    for f in fields(SECTIONS[section]):
        if f.name == name:
            return f.metadata["help"]
    raise KeyError(dotted_key)


def validate_value(key: str, f: Any, value: Any) -> Any:
    meta = f.metadata
    kind = meta["kind"]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise ConfigError(f"{key}: expected {_kind_name(kind)}, got {shown(value)}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {shown(value)}")
    if meta["choices"] and value not in meta["choices"]:
        raise ConfigError(f"{key}: must be one of {', '.join(meta['choices'])}; got {shown(value)}")
    low, high = meta["minimum"], meta["maximum"]
    if kind in (int, float):
        too_low = low is not None and (value <= low if meta["exclusive_minimum"] else value < low)
        if too_low or (high is not None and value > high):
            lower = f"> {low}" if meta["exclusive_minimum"] else f">= {low}"
            raise ConfigError(f"{key}: must be {lower} and <= {high}; got {shown(value)}")
    return _validate_structured(key, value)


def _validate_structured(key: str, value: Any) -> Any:
    if key == "model.hidden":
        if not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{key}: expected a non-empty list of layer sizes, got {shown(value)}")
        if not all(1 <= v <= 4096 for v in value) or len(value) > 16:
            raise ConfigError(f"{key}: up to 16 layers of 1 to 4096 units each; got {shown(value)}")
    elif key == "task.x_range":
        if value and (len(value) != 2 or not _numbers(value) or not value[0] < value[1]):
            raise ConfigError(f"{key}: expected [low, high] with low < high, got {shown(value)}")
        value = [float(v) for v in value]
    elif key == "task.ranges":
        for name, bounds in value.items():
            if not isinstance(bounds, list) or len(bounds) != 2 or not _numbers(bounds):
                raise ConfigError(f"{key}.{shown(name)}: expected [low, high], got {shown(bounds)}")
            if bounds[0] > bounds[1]:
                raise ConfigError(f"{key}.{shown(name)}: low must not exceed high, got {shown(bounds)}")
        value = {name: [float(b) for b in bounds] for name, bounds in value.items()}
    elif key == "task.class_balance":
        if not _numbers(value) or any(v < 0 for v in value) or (value and sum(value) <= 0):
            raise ConfigError(f"{key}: expected non-negative shares with a positive sum, "
                              f"e.g. [3, 1]; got {shown(value)}")
        value = [float(v) for v in value]
    elif key == "task.members" and not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of family names, got {shown(value)}")
    return value


def _numbers(values: list) -> bool:
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}[kind]


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
    from maml_studio.checkpoint import atomic_write_bytes

    path = Path(path)
    text = config.to_json() if path.suffix.lower() == ".json" else config.to_toml()
    atomic_write_bytes(path, text.encode("utf-8"))


def load_preset(name: str) -> ExperimentConfig:
    from maml_studio.resources import preset_path

    try:
        return load_config(preset_path(name))
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
