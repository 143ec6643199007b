"""Formula families: the grammar, its refusals, and the torch functions it builds."""

import builtins
import math

import pytest
import torch

from maml_studio.config import ExperimentConfig
from maml_studio.errors import ConfigError
from maml_studio.tasks import build_family, generator_for
from maml_studio.tasks.formula_parser import MAX_DEPTH, FormulaError, parse_outputs
from maml_studio.tasks.regression import Sine

SINE_RANGES = {"a": [0.1, 5.0], "p": [0.0, math.pi]}


def formula_config(formula: str, **task) -> ExperimentConfig:
    config = ExperimentConfig()
    config.set("task.family", "formula")
    config.set("task.formula", formula)
    config.set("task.ranges", task.pop("ranges", SINE_RANGES))
    for key, value in task.items():
        config.set(f"task.{key}", value)
    config.check()
    return config


def test_a_formula_equal_to_sine_draws_the_sine_family_s_tasks():
    family = build_family(formula_config("a * sin(x - p)").task)
    ours = family.sample(50, 10, 10, generator_for(3))
    theirs = Sine().sample(50, 10, 10, generator_for(3))
    for mine, builtin in zip((ours.support_x, ours.support_y, ours.query_y),
                             (theirs.support_x, theirs.support_y, theirs.query_y), strict=True):
        torch.testing.assert_close(mine, builtin)
    assert family.describe(ours.params[0]).startswith("a = ")


@pytest.mark.parametrize(("formula", "expected"), [
    ("2 * x + 1", lambda x: 2 * x + 1),
    ("-x**2", lambda x: -(x**2)),
    ("2 ** -1 * x", lambda x: 0.5 * x),
    ("1 - 2 - 3 * x / 4", lambda x: 1 - 2 - 3 * x / 4),
    ("sigmoid(x) + relu(x - 1) + tanh(x)", lambda x: torch.sigmoid(x) + torch.relu(x - 1) + torch.tanh(x)),
    ("min(x, 0.5, pi) + max(x, -1)", lambda x: torch.clamp(x, max=0.5) + torch.clamp(x, min=-1)),
    ("where(x, 1, -1) * e", lambda x: torch.where(x > 0, 1.0, -1.0) * math.e),
    ("exp(-abs(x)) + sqrt(x*x + 1) + log(x*x + 1) + cos(x) + tan(x / 10)",
     lambda x: torch.exp(-x.abs()) + torch.sqrt(x * x + 1) + torch.log(x * x + 1) + torch.cos(x)
     + torch.tan(x / 10)),
    ("1e-1 * x + .5", lambda x: 0.1 * x + 0.5),
])
def test_operators_functions_and_precedence(formula, expected):
    family = build_family(formula_config(formula, ranges={}).task)
    x = torch.linspace(-3, 3, 31).reshape(1, -1, 1)
    torch.testing.assert_close(family.truth(torch.zeros(1, 0), x), expected(x))


def test_several_inputs_and_outputs_are_evaluated_per_task_in_one_batch():
    config = formula_config("a * x1 + x3; x2 - a", ranges={"a": [1.0, 2.0]})
    family = build_family(config.task)
    assert (family.dim_in, family.dim_out) == (3, 2)
    params = torch.tensor([[1.0], [2.0]])
    x = torch.arange(12.0).reshape(2, 2, 3)
    y = family.truth(params, x)
    torch.testing.assert_close(y[..., 0], params * x[..., 0] + x[..., 2])
    torch.testing.assert_close(y[..., 1], x[..., 1] - params)


def test_classification_by_sign_and_by_the_largest_expression():
    circle = formula_config("(x1 - a)**2 + (x2 - b)**2 - r**2", num_classes=2,
                            ranges={"a": [-0.5, 0.5], "b": [-0.5, 0.5], "r": [0.8, 1.2]})
    family = build_family(circle.task)
    batch = family.sample(20, 5, 5, generator_for(0))
    assert family.kind == "classification" and family.dim_in == 2
    assert batch.support_y[..., 0].sum(1).eq(5).all()  # K points of each class
    outside = ((batch.query_x - batch.params[:, None, :2]) ** 2).sum(-1) > batch.params[:, None, 2] ** 2
    assert torch.equal(outside.float(), batch.query_y[..., 0])
    three = build_family(formula_config("x1; x2; -x1 - x2", ranges={}, num_classes=3).task)
    x = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [-1.0, -1.0]]])
    assert three.labels(torch.zeros(1, 0), x).tolist() == [[0, 1, 2]]


def test_command_line_set_takes_a_formula_verbatim():
    config = ExperimentConfig()
    config.set_from_string("task.family=formula")
    config.set_from_string("task.formula=a * sin(x - p)")
    config.set_from_string("task.ranges={ a = [0.1, 5.0], p = [0.0, 3.14159] }")
    config.set_from_string("task.x_range=[-5.0, 5.0]")
    config.check()
    assert config.task.formula == "a * sin(x - p)"
    config.set_from_string("task.formula=2")
    assert config.task.formula == "2"
    restored = ExperimentConfig.from_dict(config.to_dict())
    assert restored.task.formula == "2" and restored.task.ranges == config.task.ranges


HOSTILE = [
    "__import__('os').system('touch {marker}')",
    "().__class__.__bases__",
    "x.__class__",
    "lambda: 1",
    "open('{marker}', 'w')",
    "'a string'",
    "\"{marker}\"",
    "(" * 10_000 + "x" + ")" * 10_000,
    "x + " * 250_000 + "x",  # 1 MB
    "exec('open(\"{marker}\", \"w\")')",
    "eval('1')",
    "x[0]",
    "globals()",
    "a if x else p",
    "x; import os",
]


@pytest.mark.parametrize("formula", HOSTILE, ids=lambda f: f[:30])
def test_hostile_formulas_are_refused_and_never_run(formula, tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    text = formula.replace("{marker}", str(marker))

    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec/compile")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    with pytest.raises(ConfigError) as refused:
        formula_config(text)
    monkeypatch.undo()
    assert "task.formula" in str(refused.value) and len(str(refused.value)) < 400
    assert not marker.exists()


@pytest.mark.parametrize(("formula", "message", "column"), [
    ("os", "unknown name `os`", 1),
    ("a * sin(x - q)", "unknown name `q`", 13),
    ("a * sn(x)", "unknown function `sn`", 5),
    ("a(x)", "a parameter, not a function", 1),
    ("a * sin", "`sin` is a function", 5),
    ("a * sin(x - p", "expected `)` to close `sin(` at column 5", 14),
    ("a * (x - p", "expected `)` to close the `(` at column 5", 11),
    ("2x", "missing an operator", 2),
    ("x ^ 2", "use ** for powers", 3),
    ("x * * 2", "expected a number, a name or `(`", 5),
    ("max(x)", "max() takes 2 to 8 argument(s), got 1", 1),
    ("where(x, 1)", "where() takes 3 argument(s)", 1),
    ("x +", "found the end of the formula", 4),
    ("x; 2 *", "found the end of the formula", 7),
    ("x $ 2", "unexpected character `$`", 3),
    ("x1 + x", "use x for one input", 0),
    ("x101", "inputs are x1 … x100", 1),
    ("1e999 * x", "too large", 1),
    ("", "give an expression", 0),
    ("   ", "give an expression", 0),
    ("(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5), "nested too deeply", MAX_DEPTH + 1),
    ("x" + " + x" * 500, "formula too long", 0),
])
def test_bad_formulas_name_the_problem_and_its_column(formula, message, column):
    with pytest.raises(ConfigError) as refused:
        formula_config(formula)
    text = str(refused.value)
    assert message in text, text
    if column:
        assert isinstance(refused.value, FormulaError) and refused.value.column == column, text
        assert text.endswith(f"at column {column}")


def test_error_columns_count_in_the_whole_text_across_outputs():
    with pytest.raises(FormulaError) as refused:
        parse_outputs("x; a * y", ("a",))
    assert refused.value.column == 8


@pytest.mark.parametrize(("task", "message"), [
    ({"formula": "log(x)"}, "gives nan"),
    ({"formula": "1 / (x - x)"}, "gives inf"),
    ({"formula": "exp(a * x)", "ranges": {"a": [10.0, 20.0]}}, "within ±1e+06"),
    ({"formula": "a * x", "ranges": {"sin": [0.0, 1.0]}}, "`sin` is reserved"),
    ({"formula": "a * x", "ranges": {"x2": [0.0, 1.0]}}, "`x2` is reserved"),
    ({"formula": "a * x", "ranges": {"2a": [0.0, 1.0]}}, "must start with a letter"),
    ({"formula": "a * x", "ranges": {"a": [2.0, 1.0]}}, "low must not exceed high"),
    ({"formula": "a * x", "ranges": {"a": [0.0, 1e9]}}, "task.ranges.a"),
    ({"formula": "a * x", "dim_out": 2}, "one output per expression"),
    ({"formula": "x", "num_classes": 3}, "for 3 classes write 3 expressions"),
    ({"formula": "x; -x", "num_classes": 3}, "2 expressions give 2 classes"),
    ({"formula": "x", "label_noise": 0.1}, "task.label_noise"),
    ({"formula": "x", "noise_std": 0.1, "num_classes": 2}, "task.noise_std"),
    ({"formula": "x1 * x3", "dim_in": 2}, "at least 3 inputs"),
    ({"formula": "x - 10", "num_classes": 2}, "a class covers almost none"),
])
def test_bad_ranges_and_options_are_refused_with_the_field(task, message):
    ranges = task.pop("ranges", {"a": [0.0, 1.0]})
    with pytest.raises(ConfigError) as refused:
        formula_config(task.pop("formula"), ranges=ranges, **task)
    assert message in str(refused.value), str(refused.value)


def test_a_formula_needs_the_formula_family_and_the_family_needs_a_formula():
    config = ExperimentConfig()
    with pytest.raises(ConfigError, match=r"only the 'formula' family takes a formula"):
        config.set("task.formula", "x")
        config.check()
    config = ExperimentConfig()
    config.set("task.family", "formula")
    with pytest.raises(ConfigError, match=r"task\.formula: give an expression"):
        config.check()
