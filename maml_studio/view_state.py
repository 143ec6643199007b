"""The adaptation view stored in a session, checked whole before any of it is shown.

A session file may hold anything in its view: NaN points, a step of 1e400,
shots of 10^30, a sampled task's query set of the wrong shape. `check_view`
turns the stored dictionary into values the window can apply as they are,
or refuses it with a `ValueError` that says what is wrong, so that a refused
file leaves the window as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from maml_studio.experiment import Experiment

MAX_VIEW_POINTS = 100_000  # support points a session may show in the adaptation panel


@dataclass(frozen=True)
class AdaptationView:
    points: np.ndarray  # [N, 2] (x, y) or [N, 3] (x1, x2, class) for the plane
    task_params: np.ndarray | None = None
    task_description: str = ""
    query_x: np.ndarray | None = None  # classification: the sampled task's query set
    query_y: np.ndarray | None = None
    shown: dict[str, bool] = field(default_factory=dict)
    shots: int | None = None
    lr: float | None = None
    chosen_class: int = 0
    step: int | None = None


def check_view(state: Any, experiment: Experiment, *, max_steps: int, max_shots: int,
               lr_bounds: tuple[float, float]) -> AdaptationView:
    """The view of ``state`` for ``experiment``'s family; ValueError if any of it is unusable."""
    if not isinstance(state, dict):
        raise ValueError("the adaptation view is not a table")
    family = experiment.family
    plane = family.kind == "classification"
    width = 3 if plane else 2
    points = _array(state.get("points", []), "points", (-1, width))
    if len(points) > MAX_VIEW_POINTS:
        raise ValueError(f"{len(points):,} points; the panel shows at most {MAX_VIEW_POINTS:,}")
    if plane:
        _labels(points[:, 2], family.num_classes, "points")
    task = state.get("task")
    params = description = query_x = query_y = None
    if task:
        if not isinstance(task, dict):
            raise ValueError("the sampled task is not a table")
        params = _array(task.get("params"), "the sampled task's parameters", (family.num_params,))
        description = task.get("description", "")
        if not isinstance(description, str) or len(description) > 1000:
            raise ValueError("the sampled task's description is not a short text")
        if "query_x" in task or "query_y" in task:
            query_x = _array(task.get("query_x"), "the sampled task's query inputs",
                             (-1, family.dim_in))
            query_y = _array(task.get("query_y"), "the sampled task's query labels",
                             (len(query_x),))
            if plane:
                _labels(query_y, family.num_classes, "the sampled task's query labels")
    shown = state.get("shown", {})
    if not isinstance(shown, dict) or not all(isinstance(v, bool) for v in shown.values()):
        raise ValueError("'shown' must map model names to true or false")
    return AdaptationView(
        points, params, description or "", query_x, query_y, dict(shown),
        shots=_number(state, "shots", int, 1, max_shots),
        lr=_number(state, "lr", float, *lr_bounds),
        chosen_class=_number(state, "class", int, 0, max(getattr(family, "num_classes", 1) - 1, 0))
        or 0,
        step=_number(state, "step", int, 0, max_steps))


def _array(value: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} are not numbers") from None
    if array.size == 0 and shape[0] == -1:
        array = array.reshape(0, *shape[1:])
    if array.ndim != len(shape) or any(want not in (-1, got) for want, got in
                                       zip(shape, array.shape, strict=True)):
        raise ValueError(f"{what} have shape {array.shape}, expected "
                         f"{tuple('N' if s == -1 else s for s in shape)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} hold NaN or infinite values")
    return array


def _labels(values: np.ndarray, classes: int, what: str) -> None:
    if len(values) and ((values != np.round(values)).any() or values.min() < 0
                        or values.max() >= classes):
        raise ValueError(f"{what}: class labels are whole numbers 0 to {classes - 1}")


def _number(state: dict, key: str, kind: type, low: float, high: float):
    """``state[key]`` as ``kind`` within [low, high], or None when absent."""
    if key not in state:
        return None
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"'{key}' must be a finite number")
    if kind is int and value != int(value):
        raise ValueError(f"'{key}' must be a whole number")
    if not low <= value <= high:
        raise ValueError(f"'{key}' must be between {low:g} and {high:g}")
    return kind(value)
