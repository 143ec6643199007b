"""Formula trees as vectorised torch functions.

`compile_tree` turns a parsed `Node` tree into nested closures over tensor
operations, built once. Calling the result evaluates every task and every
point of a batch at once: inputs ``x [T, N, d]`` and parameters ``[T, P]``
give ``[T, N]``; no Python loop runs over tasks or points.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from maml_studio.tasks.formula_parser import Node

Evaluator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "tanh": torch.tanh,
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
    "sigmoid": torch.sigmoid, "relu": torch.relu,
}
_BINARY: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def compile_tree(tree: Node, parameters: tuple[str, ...]) -> Evaluator:
    """A function ``(params [T, P], x [T, N, d]) -> [T, N]`` computing ``tree``."""
    column_of = {name: i for i, name in enumerate(parameters)}
    body = _compile(tree, column_of)

    def evaluate(params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        out = body(params, x)
        return torch.broadcast_to(out, x.shape[:2]).to(torch.float32)

    return evaluate


def _compile(node: Node, column_of: dict[str, int]) -> Evaluator:
    kind = node.kind
    if kind in ("number", "const"):
        value = torch.tensor(_CONSTANTS.get(node.value, node.value), dtype=torch.float32)
        return lambda params, x: value.to(x.device)
    if kind == "input":
        index = max(int(node.value) - 1, 0)
        return lambda params, x: x[..., index]
    if kind == "param":
        column = column_of[node.value]
        return lambda params, x: params[:, column, None]
    args = [_compile(arg, column_of) for arg in node.args]
    if kind == "neg":
        (inner,) = args
        return lambda params, x: torch.neg(inner(params, x))
    if kind in _BINARY:
        op, (left, right) = _BINARY[kind], args
        return lambda params, x: op(left(params, x), right(params, x))
    if kind != "call":
        raise ValueError(f"unknown formula node {kind!r}")
    name = node.value
    if name in _UNARY:
        op, (inner,) = _UNARY[name], args
        return lambda params, x: op(inner(params, x))
    if name in ("min", "max"):
        pair = torch.minimum if name == "min" else torch.maximum

        def extreme(params, x):
            out = args[0](params, x)
            for arg in args[1:]:
                out = pair(out, arg(params, x))
            return out
        return extreme
    if name == "where":
        condition, then, otherwise = args
        return lambda params, x: torch.where(condition(params, x) > 0, then(params, x),
                                             otherwise(params, x))
    raise ValueError(f"unknown formula function {name!r}")
