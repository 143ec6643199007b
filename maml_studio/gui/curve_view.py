"""The adaptation panel's view of a 1-D regression family: every model's fit after K steps.

One of the panel's two views over its `AdaptationSession` (the other is the
plane of a 2-D classifier). It owns its plot items, asks for curves after
every step at once, and draws the chosen step: the meta-learned model, the
pretrained baseline, a random initialisation, the earlier steps, the sampled
task's true function and, in paper-figure mode, Figure 2's fits.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from maml_studio.adaptation_jobs import AdaptationRequest, AdaptationResult
from maml_studio.adaptation_session import MAX_STEPS
from maml_studio.atomic_files import atomic_write_bytes
from maml_studio.figure_style import TRUTH, ramp, step_label
from maml_studio.gui.legend_below import show_entries, sync_run_items
from maml_studio.gui.paper_panel import STYLES as PAPER_STYLES
from maml_studio.gui.view_colors import EARLIER_STEPS_ALPHA, MODEL_CURVES, VIEW_COLORS

QUICK_STEPS = 20  # computed first; the slider's upper range (to MAX_STEPS) on demand
GRID_POINTS = 300
TOOLTIP = "Left click: add a point · drag: move it · right click or Ctrl+click: remove it"
HINT = ("Click to add support points\n"  # two short lines: the hint fits a half-screen plot
        "Sample task draws a task · Paper figure: Finn et al.'s Figure 2")


class CurveView:
    def __init__(self, panel) -> None:
        self.panel, self.session = panel, panel.session
        plot = panel.plot
        self.grid = np.linspace(-5, 5, GRID_POINTS)
        self.truth_item = plot.plot([], [])
        self.steps_item = plot.plot([], [], connect="finite")
        # Paper figure: the meta-learned model's pre-update and one-step fits in this panel
        # (its chosen step is the usual curve); the baseline's in the panel beside it.
        self.paper_items = {("maml", step): plot.plot([], []) for step in (0, 1)}
        self.curve_items = {name: plot.plot([], []) for name in MODEL_CURVES}
        self.run_items: dict[str, pg.PlotDataItem] = {}  # compared runs, by their model's key
        self._scale = 1.0

    @property
    def items(self) -> list:
        return [*self.curve_items.values(), *self.run_items.values(), self.steps_item,
                self.truth_item]

    def sync_runs(self) -> None:
        """One curve per compared run, in the run's colour; gone when the run is no longer shown."""
        sync_run_items(self.panel.plot, self.run_items, self.session.compared, 2.5 * self._scale)

    def set_visible(self, on: bool) -> None:
        for item in self.items:
            item.setVisible(on)
        for item in self.paper_items.values():
            item.setVisible(False)

    def clear(self) -> None:
        for item in (*self.items, *self.paper_items.values()):
            item.setData([], [])

    # -- computing ------------------------------------------------------------------------------
    def request(self, serial: int) -> AdaptationRequest:
        """Curves on a grid over the family's x range and every point, after every step."""
        session, points = self.session, self.session.points
        low, high = session.experiment.family.x_range
        if len(points):
            low, high = min(low, points[:, 0].min()), max(high, points[:, 0].max())
        self.grid = np.linspace(low, high, GRID_POINTS)
        return AdaptationRequest(
            serial, session.models(), points[:, 0].copy(), points[:, 1].copy(), self.grid.copy(),
            QUICK_STEPS if session.step <= QUICK_STEPS else MAX_STEPS, session.lr, shown=session.step)

    def needs_request(self, result, step: int) -> bool:
        """Whether showing ``step`` needs a computation: only beyond the steps computed."""
        return result is None or step >= result.curves["maml"].shape[0]

    # -- drawing ------------------------------------------------------------------------------------
    def draw(self, result: AdaptationResult) -> tuple[str, list[str]]:
        """Draw the step on show; the status text and the notes (divergence) to say."""
        session, step = self.session, self.session.step
        if step >= result.curves["maml"].shape[0]:
            return "", []
        truth = session.truth(self.grid)
        self.truth_item.setData(self.grid if truth is not None else [],
                                truth if truth is not None else [])
        self.truth_item.setVisible(session.shown["truth"])
        notes = []
        for name, item in self.curve_items.items():
            curves = result.curves.get(name)
            if curves is None:
                item.setData([], [])
                continue
            shown, diverged = _finite_step(result, name, step)
            if diverged is not None:
                notes.append(f"{MODEL_CURVES[name][0]} diverged at step {diverged}")
            item.setData(self.grid, self.panel.in_frame(curves[shown]))
            item.setVisible(session.shown[name])
            label = f"{MODEL_CURVES[name][0]}, {shown} step{'s' if shown != 1 else ''}"
            if truth is not None:
                label += f"  (MSE {np.mean((curves[shown] - truth) ** 2):.3f})"
            item.legend_text = label
        for run in session.compared:
            item, curves = self.run_items.get(run.key), result.curves.get(run.key)
            if item is None or curves is None:
                continue
            shown, diverged = _finite_step(result, run.key, step)
            if diverged is not None:
                notes.append(f"{run.name} diverged at step {diverged}")
            item.setData(self.grid, self.panel.in_frame(curves[shown]))
            item.setVisible(not session.paper)
            label = f"{run.name}, {shown} step{'s' if shown != 1 else ''}"
            if truth is not None:
                label += f"  (MSE {np.mean((curves[shown] - truth) ** 2):.3f})"
            item.legend_text = label
        self._draw_earlier_steps(result, step)
        self._draw_paper_curves(result, truth)
        self._rebuild_legend()
        description = f"task: {session.task.description}" if session.task else "your points"
        return f"{description} · curves in {1000 * result.seconds:.0f} ms", notes

    def _draw_earlier_steps(self, result: AdaptationResult, step: int) -> None:
        curves = result.curves["maml"]
        if step == 0 or not self.session.shown["steps"]:
            self.steps_item.setData([], [])
            return
        shown = [s for s in range(step) if np.isfinite(curves[s]).all()]
        x = np.concatenate([np.append(self.grid, np.nan) for _ in shown])
        y = np.concatenate([np.append(self.panel.in_frame(curves[s]), np.nan) for s in shown])
        self.steps_item.setData(x, y)

    def _draw_paper_curves(self, result: AdaptationResult, truth) -> None:
        """In paper mode: the meta-learned fits here, the baseline's in the panel beside."""
        paper, in_frame = self.session.paper, self.panel.in_frame
        for (name, step), item in self.paper_items.items():
            curves = result.curves.get(name)
            visible = paper and curves is not None
            item.setVisible(visible)
            if visible:
                item.setData(self.grid, in_frame(curves[step]))
                item.legend_text = _paper_label(step, curves[step], truth)
        if not paper:
            return
        for name in ("pretrained", "random"):
            self.curve_items[name].setVisible(False)
        shown, _ = _finite_step(result, "maml", self.session.step)
        self.curve_items["maml"].legend_text = _paper_label(shown, result.curves["maml"][shown], truth)
        baseline = result.curves.get("pretrained")
        fits = []
        for step in (0, 1, self.session.step):
            if baseline is None:
                fits.append((step, None))
                continue
            finite, _ = _finite_step(result, "pretrained", step)
            fits.append((finite, in_frame(baseline[finite])))
        self.panel.paper_plot.draw(self.grid, truth, self.session.points, fits)

    def _rebuild_legend(self) -> None:
        """Legend entries for the curves on show, with their current labels."""
        legend = self.panel.legend
        entries = [(self.truth_item, "true function"), (self.steps_item, "earlier steps"),
                   *[(item, getattr(item, "legend_text", "")) for item in self.paper_items.values()],
                   *[(item, getattr(item, "legend_text", "")) for item in self.curve_items.values()],
                   *[(item, getattr(item, "legend_text", "")) for item in self.run_items.values()]]
        shown = [(item, text) for item, text in entries
                 if item.isVisible() and item.getData()[0] is not None and len(item.getData()[0])]
        if len(self.session.points):
            shown.append((self.panel.points_item, "support points"))
        show_entries(legend, shown)

    def show_points(self, shown: np.ndarray, theme: str) -> None:
        self.panel.points_item.setData(shown[:, 0], shown[:, 1],
                                       brush=pg.mkBrush(*VIEW_COLORS[theme]["points"]), symbol="o")

    def set_theme(self, theme: str, scale: float) -> None:
        colors = VIEW_COLORS[theme]
        self._scale = scale
        self.sync_runs()
        for name, item in self.curve_items.items():
            item.setPen(pg.mkPen(colors[name], width=MODEL_CURVES[name][1] * scale))
        for (name, step), item in self.paper_items.items():
            item.setPen(pg.mkPen(colors[name], width=2 * scale, style=PAPER_STYLES[step]))
        self.steps_item.setPen(pg.mkPen((*colors["maml"], EARLIER_STEPS_ALPHA), width=1))
        self.truth_item.setPen(pg.mkPen(colors["truth"], width=2 * scale, style=Qt.PenStyle.DashLine))
        if self.session.paper:  # one colour ramp per model, as the paper draws it
            ramp_colors = ramp("maml", theme, 3)
            for (_, step), item in self.paper_items.items():
                item.setPen(pg.mkPen(ramp_colors[step], width=2.5 * scale, style=PAPER_STYLES[step]))
            self.curve_items["maml"].setPen(pg.mkPen(ramp_colors[2], width=3 * scale))
            # The truth in blue, as exported figures draw it: apart from both ramps' strongest fits.
            self.truth_item.setPen(pg.mkPen(TRUTH[theme], width=2 * scale, style=Qt.PenStyle.DashLine))

    # -- clicks -------------------------------------------------------------------------------------
    def clicked(self, button, ctrl: bool, near: int | None, position) -> bool:
        """Left click adds a point; right click or Ctrl+click removes the one under the mouse."""
        if button == Qt.MouseButton.RightButton or ctrl:
            if near is not None:
                self.session.remove_point(near)
            return True
        if button == Qt.MouseButton.LeftButton and near is None:
            self.session.add_point(position.x(), position.y())
            return True
        return False

    # -- reading results ----------------------------------------------------------------------------
    def export(self, result: AdaptationResult, path) -> None:
        """Every model's predictions on the grid after the step on show (and the truth), as CSV."""
        step, out = self.session.step, io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        names = [n for n in MODEL_CURVES if n in result.curves] + \
            [run.key for run in self.session.compared if run.key in result.curves]
        truth = self.session.truth(self.grid)
        steps = [_finite_step(result, n, step)[0] for n in names]
        writer.writerow(["x", *[f"{n}_step{s}" for n, s in zip(names, steps, strict=True)],
                         *(["truth"] if truth is not None else [])])
        columns = [result.curves[n][s] for n, s in zip(names, steps, strict=True)]
        if truth is not None:
            columns.append(truth)
        for i, x in enumerate(self.grid):
            writer.writerow([f"{x:.7g}", *[f"{c[i]:.7g}" for c in columns]])
        atomic_write_bytes(path, out.getvalue().encode())


def _finite_step(result: AdaptationResult, name: str, step: int) -> tuple[int, int | None]:
    """The step drawn for ``name`` (the last finite one when it diverged) and where it diverged."""
    diverged = result.diverged_at.get(name)
    if diverged is not None and step >= diverged:
        return diverged - 1, diverged
    return step, None


def _paper_label(step: int, values: np.ndarray, truth: np.ndarray | None) -> str:
    """The paper's words for a fit ("pre-update", "1 grad step"), with its MSE when known."""
    label = step_label(step)
    if truth is not None:
        label += f"  (MSE {np.mean((values - truth) ** 2):.3f})"
    return label
