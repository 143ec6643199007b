"""The four tables of an experiment config: task, model, algorithm, training.

Every field has a default, a one-sentence description (the GUI shows it as a
tooltip) and the values it allows; `validate_value` checks one value against
them and raises a `ConfigError` that names the field.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from typing import Any

from maml_studio.errors import ConfigError
from maml_studio.inputs import shown

ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd", "anil")
ACTIVATIONS = ("relu", "tanh")
OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
COMPILE_MODES = ("auto", "off", "wait")
LR_DECAYS = ("none", "linear", "cosine")
MAML_PLUS_PLUS = ("multi_step_loss_iterations", "learned_step_rates", "first_order_iterations")


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
    hidden: list = spec([40, 40], "Hidden layer sizes of the MLP, e.g. [40, 40]; [] for none "
                        "(a linear model).")
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
    # MAML++ (Antoniou, Edwards & Storkey 2019): options of MAML; the defaults are plain MAML.
    multi_step_loss_iterations: int = spec(
        0, "MAML++ multi-step loss: the meta-loss weighs the query loss after every inner step, "
        "the weights annealed towards the last step over this many iterations, then the last "
        "step alone (0: off, plain MAML).", minimum=0, maximum=100_000_000)
    learned_step_rates: bool = spec(
        False, "MAML++ learned per-layer, per-step inner learning rates (LSLR): one rate per "
        "parameter tensor and inner step, starting at inner_lr, meta-learned, saved with the "
        "model and used when adapting (steps beyond inner_steps take the last step's rate).")
    first_order_iterations: int = spec(
        0, "MAML++ derivative-order annealing: first-order meta-gradients for this many "
        "iterations, then second-order (0: off).", minimum=0, maximum=100_000_000)


@dataclass
class TrainingConfig:
    iterations: int = spec(70000, "Number of meta-iterations (outer optimiser steps).",
                           minimum=1, maximum=100_000_000)
    meta_batch_size: int = spec(25, "Tasks per meta-iteration.", minimum=1, maximum=100000)
    optimizer: str = spec("adam", "Outer optimiser that updates the meta-parameters.",
                          choices=OPTIMIZERS)
    outer_lr: float = spec(0.001, "Learning rate of the outer optimiser.",
                           minimum=0.0, maximum=100.0, exclusive_minimum=True)
    lr_decay: str = spec("none", "Outer learning-rate schedule: constant, linear decay to zero, "
                         "or cosine annealing to zero (MAML++).", choices=LR_DECAYS)
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
    if key == "model.hidden":  # empty: no hidden layer, a linear model
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{key}: expected a list of layer sizes (empty for none), "
                              f"got {shown(value)}")
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


def maml_plus_plus_problem(algorithm: AlgorithmConfig) -> str | None:
    """Why the MAML++ options set in ``algorithm`` do not apply to it, or None when they do."""
    chosen = [name for name in MAML_PLUS_PLUS if getattr(algorithm, name)]
    if not chosen:
        return None
    if algorithm.name not in ("maml", "fomaml"):
        return (f"algorithm.{chosen[0]}: a MAML++ option applies to maml and fomaml, "
                f"not {algorithm.name}")
    if algorithm.first_order_iterations and (algorithm.first_order or algorithm.name == "fomaml"):
        return ("algorithm.first_order_iterations: derivative-order annealing switches to "
                "second order; a first-order run never does (set first_order = false)")
    return None


def _numbers(values: list) -> bool:
    return all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def _kind_name(kind: type) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}[kind]
