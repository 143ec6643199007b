"""Task families and their registry."""

from __future__ import annotations

from collections.abc import Callable

from maml_studio.config_sections import TaskConfig
from maml_studio.errors import ConfigError
from maml_studio.tasks.base import ParamSpec, TaskBatch, TaskFamily, generator_for
from maml_studio.tasks.classification import CLASSIFICATION_2D, ClassificationFamily
from maml_studio.tasks.formula import GRAMMAR, FormulaClassifier, FormulaRegression
from maml_studio.tasks.linear import LinearRegression
from maml_studio.tasks.mixture import Mixture
from maml_studio.tasks.regression import REGRESSION_1D
from maml_studio.tasks.task_family import TASK_FILES_HELP, TaskFileFamily

__all__ = [
    "FAMILY_NAMES",
    "GRAMMAR",
    "TASK_FILES_HELP",
    "USER_FAMILY_NAMES",
    "ClassificationFamily",
    "ParamSpec",
    "TaskBatch",
    "TaskFamily",
    "TaskFileFamily",
    "build_family",
    "family_summaries",
    "generator_for",
]

SIMPLE_FAMILIES: dict[str, type[TaskFamily]] = {cls.name: cls for cls in REGRESSION_1D}
MULTIMODAL_DEFAULT = ["sine", "line", "quadratic", "tanh", "absolute"]

MIXTURES: dict[str, tuple[str, str, list[str] | None]] = {
    "sine_line": ("Sine or line", "Half the tasks are sines, half lines (Probabilistic MAML).",
                  ["sine", "line"]),
    "multimodal": ("Multimodal", "Tasks from a chosen set of families, sampled uniformly "
                   "(Multimodal MAML); task.members picks the set.", None),
}

CLASSIFIERS: dict[str, type[ClassificationFamily]] = {cls.name: cls for cls in CLASSIFICATION_2D}

FAMILY_NAMES: tuple[str, ...] = (*SIMPLE_FAMILIES, *MIXTURES, LinearRegression.name, *CLASSIFIERS)
USER_FAMILY_NAMES = ("formula", "tasks")  # families the user defines: a formula, or task files
USER_FIELDS = ("formula", "path")


def build_family(config: TaskConfig) -> TaskFamily:
    """The task family a config describes; raises `ConfigError` naming the bad field."""
    name = config.family
    for field_name, owner in zip(USER_FIELDS, USER_FAMILY_NAMES, strict=True):
        if getattr(config, field_name) and name != owner:
            raise ConfigError(f"task.{field_name}: only the '{owner}' family takes a {field_name}")
    if name == "formula":
        return _formula(config)
    if name == "tasks":
        return _task_files(config)
    if name in CLASSIFIERS:
        return _classifier(config)
    builder: Callable[[TaskConfig], TaskFamily] | None
    if name in SIMPLE_FAMILIES:
        builder = _simple
    elif name in MIXTURES:
        builder = _mixture
    elif name == LinearRegression.name:
        builder = _linear
    else:
        raise ConfigError(f"task.family: unknown family '{name}' (available: "
                          f"{', '.join(FAMILY_NAMES + USER_FAMILY_NAMES)})")
    if name != "multimodal" and config.members:
        raise ConfigError("task.members: only the 'multimodal' family takes members")
    if name != LinearRegression.name and (config.dim_in or config.dim_out):
        raise ConfigError("task.dim_in/dim_out: only the 'linear', 'halfplane' and 'blobs' "
                          "families take dimensions")
    if config.num_classes or config.label_noise or config.class_balance:
        raise ConfigError(f"task.num_classes/label_noise/class_balance: '{name}' is a regression "
                          f"family; these apply to classification families")
    return builder(config)


def _formula(config: TaskConfig) -> TaskFamily:
    if config.members:
        raise ConfigError("task.members: only the 'multimodal' family takes members")
    if config.dim_out:
        raise ConfigError("task.dim_out: a formula has one output per expression; separate "
                          "several with ';'")
    if not config.num_classes:
        if config.label_noise or config.class_balance:
            raise ConfigError("task.label_noise/class_balance: apply to classification; set "
                              "task.num_classes to classify by the formula's sign")
        return FormulaRegression(config.formula, config.ranges, config.x_range or None,
                                 config.noise_std, config.dim_in)
    if config.noise_std:
        raise ConfigError("task.noise_std: a formula classifier flips labels with "
                          "task.label_noise instead")
    return FormulaClassifier(config.formula, config.ranges, config.x_range or None,
                             config.label_noise, config.class_balance, config.dim_in,
                             config.num_classes)


def _task_files(config: TaskConfig) -> TaskFamily:
    for field_name in ("members", "ranges", "x_range", "label_noise", "class_balance"):
        if getattr(config, field_name):
            raise ConfigError(f"task.{field_name}: the 'tasks' family takes its points from "
                              f"task.path as they are")
    if config.num_classes == 1:
        raise ConfigError("task.num_classes: 0 for regression, or 2 to 10 classes")
    return TaskFileFamily(config.path, config.held_out, config.split_seed, config.num_classes,
                          config.dim_in, config.dim_out, config.noise_std)


def _classifier(config: TaskConfig) -> TaskFamily:
    name = config.family
    if config.members:
        raise ConfigError("task.members: only the 'multimodal' family takes members")
    if config.dim_out:
        raise ConfigError(f"task.dim_out: '{name}' is a classification family; its output is "
                          f"the class (task.num_classes sets how many)")
    if config.noise_std:
        raise ConfigError(f"task.noise_std: '{name}' is a classification family; "
                          f"use task.label_noise to flip labels")
    return CLASSIFIERS[name](config.ranges, config.x_range or None, config.label_noise,
                             config.class_balance, config.dim_in, config.num_classes)


def _simple(config: TaskConfig) -> TaskFamily:
    return SIMPLE_FAMILIES[config.family](config.ranges, config.x_range or None, config.noise_std)


def _mixture(config: TaskConfig) -> TaskFamily:
    title, description, fixed = MIXTURES[config.family]
    names = fixed or config.members or MULTIMODAL_DEFAULT
    unknown = [n for n in names if n not in SIMPLE_FAMILIES]
    if unknown:
        raise ConfigError(
            f"task.members: unknown or unmixable families {unknown} "
            f"(choose from: {', '.join(SIMPLE_FAMILIES)})"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"task.members: each family at most once, got {names}")
    family = Mixture([SIMPLE_FAMILIES[n]() for n in names], config.ranges,
                     config.x_range or None, config.noise_std)
    family.name, family.title, family.description = config.family, title, description
    return family


def _linear(config: TaskConfig) -> TaskFamily:
    return LinearRegression(config.dim_in or 10, config.dim_out or 1, config.ranges,
                            config.x_range or None, config.noise_std)


def family_summaries() -> list[dict]:
    return [build_family(TaskConfig(family=name)).summary() for name in FAMILY_NAMES]
