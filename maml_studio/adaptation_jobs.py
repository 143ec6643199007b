"""The adaptation panel's computations, free of Qt so that any thread or test can run them.

Regression requests give curves after every step; plane requests (2-D
classifiers) give heat images and decision boundaries after the step on show,
and accuracies after every step. Every result carries its request's serial
number and the seconds since the request was made.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from maml_studio.adaptation import adapt_models_together
from maml_studio.algorithms import MetaLearner
from maml_studio.decision_map import decision_maps
from maml_studio.model import Params
from maml_studio.plane_maps import boundary_lines, heat_image, label_boundaries
from maml_studio.tasks import ClassificationFamily


@dataclass(frozen=True)
class AdaptationRequest:
    serial: int
    models: dict[str, tuple[MetaLearner, Params]]  # curve name → learner and its parameters
    support_x: np.ndarray  # [K]
    support_y: np.ndarray  # [K]
    grid_x: np.ndarray  # [G]
    steps: int
    lr: float  # inner step size (Meta-SGD scales its learned rates by lr / its training rate)
    submitted: float = field(default_factory=time.perf_counter)
    shown: int | None = None  # the step on show: computed first when fewer than ``steps``
    final: bool = True  # False for a first phase that a longer one follows

    def phases(self) -> list[AdaptationRequest]:
        """The step on show first, so it is drawn at once; then every step, for the slider."""
        if self.shown is None or self.shown >= self.steps:
            return [self]
        return [dataclasses.replace(self, steps=self.shown, final=False), self]


@dataclass(frozen=True)
class AdaptationResult:
    serial: int
    curves: dict[str, np.ndarray]  # name → predictions [steps + 1, G]
    support_predictions: dict[str, np.ndarray]  # name → predictions at the support x [steps + 1, K]
    diverged_at: dict[str, int | None]
    seconds: float  # from submission to result
    final: bool = True  # False while a longer phase of the same request is still to come


@dataclass(frozen=True)
class PlaneRequest:
    serial: int
    models: dict[str, tuple[MetaLearner, Params]]
    family: ClassificationFamily
    support_x: np.ndarray  # [K, 2]
    support_y: np.ndarray  # [K] class labels
    step: int  # the step whose maps are drawn; accuracies come for 0 … step
    lr: float
    resolution: int = 100
    task_params: torch.Tensor | None = None  # a sampled task: its truth and query set
    query_x: np.ndarray | None = None  # [Q, 2]
    query_y: np.ndarray | None = None  # [Q]
    submitted: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class PlaneResult:
    serial: int
    step: int
    probabilities: dict[str, np.ndarray]  # name → [resolution, resolution, classes], rows along y
    images: dict[str, np.ndarray]  # name → RGB heat image [resolution, resolution, 3]
    boundaries: dict[str, tuple[np.ndarray, np.ndarray]]  # name → x, y with NaN between lines
    truth_boundary: tuple[np.ndarray, np.ndarray] | None
    support_accuracy: dict[str, np.ndarray]  # name → [step + 1]
    query_accuracy: dict[str, np.ndarray] | None
    diverged_at: dict[str, int | None]
    seconds: float


def compute_plane(request: PlaneRequest) -> PlaneResult:
    """Adapt every model to labelled points; maps and boundaries after the chosen step."""
    family = request.family
    plane = family.plane(request.resolution)
    query = (None, None)
    if request.query_x is not None:
        query = (torch.as_tensor(request.query_x, dtype=torch.float32),
                 torch.as_tensor(request.query_y, dtype=torch.float32).reshape(-1, 1))
    support_x = torch.as_tensor(request.support_x, dtype=torch.float32).reshape(-1, 2)
    support_y = torch.as_tensor(request.support_y, dtype=torch.float32).reshape(-1, 1)
    probabilities, support_accuracy, query_accuracy, diverged_at = {}, {}, {}, {}
    for names in _architectures(request.models):  # compared runs may differ in it
        maps = decision_maps(
            {name: request.models[name] for name in names}, support_x, support_y, plane,
            request.step, request.step, lr=request.lr, query_x=query[0], query_y=query[1],
            trajectory=_trajectories.get(request, names))
        _trajectories.keep(request, maps.trajectory, names)
        probabilities.update({name: p.numpy() for name, p in maps.probabilities.items()})
        support_accuracy.update(_as_numpy(maps.support_accuracy))
        if maps.query_accuracy is not None:
            query_accuracy.update(_as_numpy(maps.query_accuracy))
        diverged_at.update(maps.diverged_at)
    boundaries = {name: boundary_lines(p, family.x_range) for name, p in probabilities.items()}
    truth = None
    if request.task_params is not None:  # labels are steps: a finer grid draws them smoothly
        truth = _truth_boundary(family, request.task_params, 2 * request.resolution) \
            if family.has_truth else None
    return PlaneResult(
        request.serial, request.step, probabilities,
        {name: heat_image(p) for name, p in probabilities.items()}, boundaries, truth,
        support_accuracy, query_accuracy if query[0] is not None else None, diverged_at,
        time.perf_counter() - request.submitted)


def _architectures(models: dict[str, tuple[MetaLearner, Params]]) -> list[tuple[str, ...]]:
    """The models' names, grouped by architecture: each group adapts as one batch."""
    groups: dict[tuple, list[str]] = {}
    for name, (learner, _) in models.items():
        groups.setdefault((learner.model, learner.loss_fn), []).append(name)
    return [tuple(names) for names in groups.values()]


class TrajectoryCache:
    """The adapted parameters of the last points, so that moving the step only extends them.

    Keyed by the models' parameter objects (a new snapshot is a new dict), the
    points and the step size; holds the points on show, one trajectory per group of
    models adapted together (by default, all of them).
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._states: list | None = None
        self._trajectories: dict[tuple[str, ...], list] = {}

    @staticmethod
    def _key_of(request: PlaneRequest) -> tuple:
        return (request.support_x.tobytes(), request.support_y.tobytes(), request.lr,
                tuple(request.models))

    def _holds(self, request: PlaneRequest) -> bool:
        states = [state for _, state in request.models.values()]
        same_models = self._states is not None and len(states) == len(self._states) and \
            all(a is b for a, b in zip(states, self._states, strict=True))
        return same_models and self._key == self._key_of(request)

    def get(self, request: PlaneRequest, group: tuple[str, ...] | None = None) -> list | None:
        if not self._holds(request):
            return None
        return self._trajectories.get(tuple(request.models) if group is None else tuple(group))

    def keep(self, request: PlaneRequest, trajectory: list,
             group: tuple[str, ...] | None = None) -> None:
        if not self._holds(request):
            self._key = self._key_of(request)
            self._states = [state for _, state in request.models.values()]
            self._trajectories = {}
        self._trajectories[tuple(request.models) if group is None else tuple(group)] = trajectory


_trajectories = TrajectoryCache()  # used by the adaptation thread only
_truth_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def _truth_boundary(family, params: torch.Tensor, resolution: int):
    """A sampled task's true boundary, kept while the task stays on show."""
    key = (id(family), tuple(params.tolist()), resolution)
    if key not in _truth_cache:
        labels = family.labels(params.unsqueeze(0), family.plane(resolution).unsqueeze(0))[0].numpy()
        _truth_cache.clear()
        _truth_cache[key] = label_boundaries(labels.reshape(resolution, resolution),
                                             family.num_classes, family.x_range)
    return _truth_cache[key]


def _as_numpy(table: dict[str, torch.Tensor] | None) -> dict[str, np.ndarray] | None:
    return None if table is None else {name: value.numpy() for name, value in table.items()}


def compute(request: AdaptationRequest,
            interrupted: Callable[[], bool] | None = None) -> AdaptationResult | None:
    """Adapt every model to the request's points; predictions after every step (None when
    ``interrupted()`` turned true on the way)."""
    xs = torch.as_tensor(request.support_x, dtype=torch.float32).reshape(-1, 1)
    ys = torch.as_tensor(request.support_y, dtype=torch.float32).reshape(-1, 1)
    grid = torch.as_tensor(request.grid_x, dtype=torch.float32).reshape(-1, 1)
    results = {}
    for names in _architectures(request.models):  # runs being compared may differ in it
        adapted = adapt_models_together([request.models[n] for n in names], xs, ys,
                                        torch.cat([grid, xs]), request.steps, lr=request.lr,
                                        interrupted=interrupted)
        if adapted is None:
            return None
        results.update(zip(names, adapted, strict=True))
    curves, at_support, diverged = {}, {}, {}
    for name in request.models:
        result = results[name]
        predictions = result.predictions[:, 0, :, 0].numpy()
        curves[name] = predictions[:, :len(grid)]
        at_support[name] = predictions[:, len(grid):]
        diverged[name] = result.diverged_at
    return AdaptationResult(request.serial, curves, at_support, diverged,
                            time.perf_counter() - request.submitted, request.final)
