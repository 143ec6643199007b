"""State of the three "inside MAML" views, without Qt: settings, results and what they say.

Each view (Meta-gradient, Inner loop, Parameter space) binds to one of these
models: it writes the user's choices through their methods and redraws on
their ``changed`` event, whose argument names what changed. The texts that
tell the user how to read a result (how faithful a slice is, what a first-order
run's anatomy means) are made here, where tests read them without a window.
"""

from __future__ import annotations

import math

from psygnal import Signal

from maml_studio.inside_jobs import InnerLoopResult, SliceResult
from maml_studio.task_statistics import STATISTICS

DIRECTIONS = {
    "pca": "principal directions of the adapted offsets",
    "random": "random filter-normalised directions",
}
LAYER_PARTS = {"maml": "MAML (second-order)", "fomaml": "first-order", "second_order":
               "second-order term", "reptile": "Reptile direction"}
DEFAULT_TASKS_SHOWN = 8
# The runs whose own meta-gradient is not second-order MAML's: the view says what it shows.
NOT_MAML = {"fomaml": "first-order MAML", "reptile": "Reptile", "anil": "ANIL",
            "metasgd": "Meta-SGD"}


class MetaGradientViewState:
    changed = Signal(str)  # "layer_part" or "sampling"

    def __init__(self) -> None:
        self.layer_part = "maml"
        self.sampling = True  # sample the anatomy while training

    def set_layer_part(self, part: str) -> None:
        if part not in LAYER_PARTS:
            raise ValueError(f"the per-layer norms are of {', '.join(LAYER_PARTS)}; not {part!r}")
        if part != self.layer_part:
            self.layer_part = part
            self.changed.emit("layer_part")

    def set_sampling(self, on: bool) -> None:
        if bool(on) != self.sampling:
            self.sampling = bool(on)
            self.changed.emit("sampling")


def algorithm_note(algorithm: str, first_order: bool = False) -> str:
    """What the anatomy of a run of ``algorithm`` is: the run's own gradient, or MAML's."""
    name = NOT_MAML.get(algorithm, "first-order MAML" if first_order else None)
    if name is None:
        return ("The run is second-order MAML: the curves dissect its own meta-gradient "
                "(MAML++'s options aside).")
    return (f"The run trains with {name}: every curve is what second-order MAML would "
            "have done at these weights, for comparison.")


class InnerLoopViewState:
    changed = Signal(str)  # "result", "log_scale" or "statistic"

    def __init__(self) -> None:
        self.result: InnerLoopResult | None = None
        self.log_scale = True
        self.statistic = "mean"  # or "median" (`inner_loop_curves.STATISTICS`)

    def set_statistic(self, statistic: str) -> None:
        if statistic not in STATISTICS:
            raise ValueError(f"the statistic is one of {', '.join(STATISTICS)}; not {statistic!r}")
        if statistic != self.statistic:
            self.statistic = statistic
            self.changed.emit("statistic")

    def set_result(self, result: InnerLoopResult | None) -> None:
        self.result = result
        self.changed.emit("result")

    def set_log_scale(self, on: bool) -> None:
        if bool(on) != self.log_scale:
            self.log_scale = bool(on)
            self.changed.emit("log_scale")


class ParameterSpaceViewState:
    changed = Signal(str)  # "directions", "tasks_shown" or "result"

    def __init__(self) -> None:
        self.directions = "pca"
        self.tasks_shown = DEFAULT_TASKS_SHOWN
        self.result: SliceResult | None = None

    def set_directions(self, kind: str) -> None:
        if kind not in DIRECTIONS:
            raise ValueError(f"directions are one of {', '.join(DIRECTIONS)}; not {kind!r}")
        if kind != self.directions:
            self.directions = kind
            self.changed.emit("directions")

    def set_tasks_shown(self, count: int) -> None:
        count = max(0, int(count))
        if count != self.tasks_shown:
            self.tasks_shown = count
            self.changed.emit("tasks_shown")

    def set_result(self, result: SliceResult | None) -> None:
        self.result = result
        self.changed.emit("result")

    def shown_tasks(self) -> range:
        """The tasks whose paths are drawn: the first `tasks_shown` of the batch."""
        total = 0 if self.result is None else self.result.slice.paths.shape[0]
        return range(min(self.tasks_shown, total))


def slice_caption(result: SliceResult) -> str:
    """How faithful the picture is: exact, or how much of the inner loop's movement it holds."""
    s = result.slice
    if result.exact:
        axes = " Axes: its weight and its bias, as offsets from θ." \
            if result.slice.directions.kind == "parameters" else ""
        return ("Exact: the network has two parameters, so this plane is its whole parameter "
                f"space, and the paths and arrows lie in it.{axes}")
    residual = f"{s.path_residual:.0%}" if math.isfinite(s.path_residual) else "an unknown share"
    if s.directions.kind == "pca" and s.directions.explained is not None:
        first, second = s.directions.explained
        return (f"A slice through θ of a {result.parameters:,}-parameter network: the two "
                f"principal directions hold {first:.0%} and {second:.0%} of the adapted "
                f"offsets' squared length; the paths leave the plane by up to {residual} "
                "of their length.")
    return (f"A slice through θ of a {result.parameters:,}-parameter network along two random "
            "filter-normalised directions (Li et al. 2018): the paths are projected onto it and "
            f"leave it by up to {residual} of their length.")
