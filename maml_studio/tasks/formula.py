"""Task families from a user's formula: regression on its values, or classes from its sign.

``task.formula`` holds one expression per output, separated by ``;``. Every
parameter named in ``task.ranges`` is drawn uniformly from its range per
task; the inputs are ``x`` (one) or ``x1 … xd``. With ``task.num_classes``
set the family classifies: one expression labels a point by its sign
(class 1 where it is positive), N expressions by which is largest.
"""

from __future__ import annotations

import torch

from maml_studio.errors import ConfigError
from maml_studio.tasks.base import ParamSpec, TaskFamily
from maml_studio.tasks.classification import ClassificationFamily
from maml_studio.tasks.formula_parser import (
    CONSTANTS,
    FUNCTIONS,
    FormulaError,
    check_parameter_name,
    names_used,
    parse_outputs,
)
from maml_studio.tasks.formula_torch import compile_tree

MAX_VALUE = 1e6  # outputs beyond this make float32 losses overflow
CHECK_TASKS, CHECK_POINTS = 256, 64

GRAMMAR = f"""\
Formula grammar (task.formula; several outputs separated by `;`):
    numbers such as 2, 0.5, 1e-3;  inputs x (one) or x1, x2, … (several);
    the parameters named in task.ranges;  constants {', '.join(CONSTANTS)};
    + - * / ** (power), unary minus, parentheses;
    functions: {', '.join(f"{name}" for name in FUNCTIONS)}
    (min and max take 2 or more arguments; where(c, a, b) is a where c > 0, else b).
Nothing else is accepted: no attribute access, indexing, strings or other calls.
Classification: set task.num_classes; one expression labels by its sign (class 1
where positive), N expressions by the largest.
Example:
    [task]
    family = "formula"
    formula = "a * sin(x - p)"
    ranges = {{ a = [0.1, 5.0], p = [0.0, 3.14159] }}
    x_range = [-5.0, 5.0]"""


class CompiledFormula:
    """A formula's expressions, its parameters and input dimension, compiled for torch."""

    def __init__(self, text: str, ranges: dict, dim_in: int = 0) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("task.formula: give an expression, e.g. a * sin(x - p)")
        if not isinstance(ranges, dict):
            raise ConfigError("task.ranges: expected a table such as { a = [0.1, 5.0] }")
        for name in ranges:
            check_parameter_name(name)
        self.text = text
        self.parameters = tuple(ranges)
        try:
            self.trees = parse_outputs(text, self.parameters)
        except FormulaError as exc:
            raise FormulaError(f"task.formula: {exc.reason}", exc.column) from None
        inputs = set().union(*(names_used(tree, "input") for tree in self.trees))
        if 0 in inputs and len(inputs) > 1:
            raise ConfigError("task.formula: use x for one input, or x1, x2, … for several; "
                              "not both")
        needed = max(inputs, default=0) or 1
        if dim_in and dim_in < needed:
            raise ConfigError(f"task.dim_in: the formula uses x{needed}, so at least {needed} "
                              f"inputs; got {dim_in}")
        self.dim_in = max(dim_in, needed)
        self.evaluators = [compile_tree(tree, self.parameters) for tree in self.trees]

    def values(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Every expression at ``x [T, N, d]`` for tasks ``params [T, P]``: ``[T, N, outputs]``."""
        return torch.stack([evaluate(params, x) for evaluate in self.evaluators], dim=-1)


def _param_specs(ranges: dict) -> tuple[ParamSpec, ...]:
    specs = []
    for name, bounds in ranges.items():
        try:
            low, high = (float(v) for v in bounds)
        except (TypeError, ValueError):
            raise ConfigError(f"task.ranges.{name}: expected [low, high], got {bounds!r}") from None
        specs.append(ParamSpec(name, name, low, high, "Parameter of the formula"))
    return tuple(specs)


def _check_values(family: TaskFamily, formula: CompiledFormula) -> None:
    """Refuse formulas that give NaN, infinite or huge values inside the ranges."""
    generator = torch.Generator().manual_seed(0)
    params = family.sample_params(CHECK_TASKS, generator)
    x = family.sample_x(CHECK_TASKS, CHECK_POINTS, generator)
    low, high = family.x_range
    x[:, 0], x[:, 1] = low, high  # the ends of the x range, where blow-ups tend to be
    values = formula.values(params, x)
    bad = ~torch.isfinite(values) | (values.abs() > MAX_VALUE)
    if not bad.any():
        return
    task, point, output = (int(i) for i in bad.nonzero()[0])
    where = ", ".join([*(f"{p} = {float(v):.3g}" for p, v in zip(formula.parameters, params[task],
                                                                  strict=True)),
                       *(f"x{'' if formula.dim_in == 1 else i + 1} = {float(v):.3g}"
                         for i, v in enumerate(x[task, point]))])
    which = f"expression {output + 1} " if len(formula.trees) > 1 else ""
    raise ConfigError(f"task.formula: {which}gives {float(values[task, point, output]):.3g} at "
                      f"{where}; keep values finite and within ±{MAX_VALUE:g} over the ranges")


class FormulaRegression(TaskFamily):
    name = "formula"
    title = "Formula…"
    description = "Your own expression, e.g. a * sin(b * x + c) + d, with a range per parameter."

    def __init__(self, formula: str, ranges: dict | None = None, x_range=None,
                 noise_std: float = 0.0, dim_in: int = 0) -> None:
        ranges = dict(ranges or {})
        self.compiled = CompiledFormula(formula, ranges, dim_in)
        self.param_specs = _param_specs(ranges)
        self.dim_in, self.dim_out = self.compiled.dim_in, len(self.compiled.trees)
        super().__init__(ranges, x_range, noise_std)
        _check_values(self, self.compiled)

    def truth(self, params, x):
        return self.compiled.values(params, x)

    def summary(self) -> dict:
        return {**super().summary(), "formula": self.compiled.text}


class FormulaClassifier(ClassificationFamily):
    name = "formula"
    title = "Formula…"
    description = "Your own expression; its sign (or the largest of N) gives the class."
    accepts_dim = True
    accepts_classes = True

    def __init__(self, formula: str, ranges: dict | None = None, x_range=None,
                 label_noise: float = 0.0, class_balance: list[float] | None = None,
                 dim_in: int = 0, num_classes: int = 2) -> None:
        ranges = dict(ranges or {})
        self.compiled = CompiledFormula(formula, ranges, dim_in)
        self.param_specs = _param_specs(ranges)
        outputs = len(self.compiled.trees)
        if outputs == 1 and num_classes != 2:
            raise ConfigError(f"task.num_classes: one expression gives 2 classes by its sign; "
                              f"for {num_classes} classes write {num_classes} expressions "
                              f"separated by `;`")
        if outputs > 1 and num_classes != outputs:
            raise ConfigError(f"task.num_classes: {outputs} expressions give {outputs} classes "
                              f"(the largest wins), got num_classes = {num_classes}")
        self.dim_in = self.compiled.dim_in
        super().__init__(ranges, x_range, label_noise, class_balance, self.compiled.dim_in,
                         num_classes)
        _check_values(self, self.compiled)

    def labels(self, params, x):
        values = self.compiled.values(params, x)
        if values.shape[-1] == 1:
            return (values[..., 0] > 0).long()
        return values.argmax(dim=-1)

    def summary(self) -> dict:
        return {**super().summary(), "formula": self.compiled.text}
