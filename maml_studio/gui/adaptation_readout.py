"""What the adaptation panel has computed and holds, read by the window, exports, sessions
and tests: the legend, the grid, the newest result for the points on show, and the view
state a session file keeps. A mixin of `AdaptationPanel`."""

from __future__ import annotations

import numpy as np

from maml_studio.adaptation_jobs import AdaptationResult, PlaneResult
from maml_studio.experiment import Experiment
from maml_studio.view_state import AdaptationView


class AdaptationReadout:
    """Read-outs of the panel's result and session."""

    def legend_texts(self) -> list[str]:
        return [label.text for _, label in self.legend.items]

    @property
    def grid(self) -> np.ndarray:
        """The x values the curves are drawn at."""
        return self.curve_view.grid

    def plane_result(self) -> PlaneResult:
        """The maps for the points and step on show; an error while they are being computed."""
        result = self.result
        if not isinstance(result, PlaneResult) or result.serial != self.serial:
            raise RuntimeError("the maps for the current points are still being computed")
        return result

    @property
    def settled(self) -> bool:
        """Whether everything computed for the points on show has arrived (every phase)."""
        result = self.result
        return result is not None and result.serial == self.serial and getattr(result, "final", True)

    def current_result(self) -> AdaptationResult:
        """The result for the points on show; an error while it is still being computed."""
        if self.result is None or self.result.serial != self.serial:
            raise RuntimeError("the curves for the current points are still being computed")
        return self.result

    def curve(self, name: str, step: int | None = None) -> np.ndarray:
        """The predictions of a curve at the grid after ``step`` steps (default: the shown one)."""
        return self.current_result().curves[name][self.step if step is None else step]

    def support_error(self, name: str, step: int) -> float:
        """Mean squared distance of a curve to the support points after ``step`` steps."""
        predictions = self.current_result().support_predictions[name][step]
        return float(np.mean((predictions - self.points[:, 1]) ** 2))

    def export_predictions(self, path) -> None:
        """The predictions on show as CSV: curves on the grid, or class probabilities."""
        result = self.plane_result() if self.plane_mode else self.current_result()
        self.view.export(result, path)

    # -- sessions ------------------------------------------------------------------------------------
    def view_state(self) -> dict:
        """The points, sampled task and settings on show, as JSON-ready values for a session."""
        return self.session.view_state()

    def check_view(self, state: dict, experiment: Experiment | None = None) -> AdaptationView:
        """A session's view checked whole for ``experiment`` (default: the shown one)."""
        return self.session.check_view(state, experiment)

    def restore_view(self, state: dict) -> bool:
        """Show a session's points and settings; a state that does not fit the model is ignored.

        The state is checked whole first: one that is refused changes nothing.
        """
        if self.experiment is None:
            return False
        try:
            self.session.restore_view(state)
        except ValueError as exc:
            self._say(f"The session's adaptation points could not be restored ({exc}).")
            return False
        self.fit_view()  # every restored point in sight
        return True
