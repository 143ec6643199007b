"""``bench --gui``, runs side by side: five runs shown at once.

Two figures: from a change of 10 support points to the curves of the model on
show and five compared runs drawn (10 steps); and how late a 10 ms GUI-thread
timer fires while the window trains with five runs of 70 000 iterations drawn
over the loss plot.
"""

from __future__ import annotations

import copy
import os
import statistics

import numpy as np

RUNS = 5
ITERATIONS = 70_000


def _window(settings_path: str, workspace: str):
    from PySide6.QtCore import QSettings

    from maml_studio.gui.main_window import MainWindow

    window = MainWindow(settings=QSettings(settings_path, QSettings.Format.IniFormat),
                        workspace=workspace)
    window.resize(1280, 800)
    window.show()
    return window


def _five_runs(window) -> None:
    """Five variants of the bundled sine model, with 70 000-iteration histories, all shown."""
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.history import History
    from maml_studio.resources import bundled_checkpoint

    rng = np.random.default_rng(0)
    for index in range(RUNS):
        checkpoint = load_checkpoint(bundled_checkpoint("sine-finn2017"))
        checkpoint.config = copy.deepcopy(checkpoint.config)
        checkpoint.config.training.seed = index
        checkpoint.state = {k: v * (1 - 0.05 * index) for k, v in checkpoint.state.items()}
        losses = 3.0 * np.exp(-np.arange(ITERATIONS) / 8000) + rng.exponential(0.3, ITERATIONS)
        validations = [(i, 2.8, 0.3 + 0.05 * index, 3.0, 2.0) for i in range(500, ITERATIONS + 1, 500)]
        checkpoint.history = History(losses.tolist(), [], validations)
        run = window.store.add(checkpoint, name=f"variant {index}")
        window.runs_panel.set_shown(run.id, True)


def compared_latency(app, scratch: str, runs: int = 30) -> dict:
    from maml_studio.gui.bench_gui import point_change_latencies

    window = _window(os.path.join(scratch, "compared.ini"), os.path.join(scratch, "ws-compared"))
    _five_runs(window)
    panel = window.adaptation
    window.tabs.setCurrentWidget(panel)
    panel.session.set_step(10)
    timings = point_change_latencies(panel, runs)
    curves = len(panel.result.curves)
    window.close()
    return {"median": statistics.median(timings), "worst": max(timings), "runs": runs,
            "curves": curves}


def overlay_timer(app, scratch: str, seconds: float) -> dict:
    """Delays of a 10 ms GUI-thread timer while training, five 70 000-iteration runs drawn."""
    from maml_studio.gui.bench_gui import _config, _spin, delay_summary, timer_delays

    window = _window(os.path.join(scratch, "overlays.ini"), os.path.join(scratch, "ws-overlays"))
    _five_runs(window)
    window.tabs.setCurrentWidget(window.loss_plot)
    window.experiment_panel.set_config(_config("off"))
    window.start_training()
    _spin(app, lambda: window.history.iterations > 0, 300)
    _spin(app, lambda: False, 1.0)
    delays = timer_delays(app, seconds)
    window.unsaved = False
    window.controller.shutdown()
    window.close()
    window.controller.wait_for_stopped_runs()
    return {**delay_summary(delays), "runs": RUNS, "iterations": ITERATIONS}


def format_runs_report(report: dict) -> list[str]:
    lines = []
    compared = report.get("compared_latency_ms")
    if compared:
        lines.append(f"runs side by side: 10 points changed → the model on show and {RUNS} compared "
                     f"runs ({compared['curves']} curves, 10 steps) drawn: median "
                     f"{compared['median']:.1f} ms, worst {compared['worst']:.1f} ms "
                     f"({compared['runs']} changes)")
    overlays = report.get("overlay_timer_ms")
    if overlays:
        lines.append(f"loss plot with {overlays['runs']} runs of {overlays['iterations']:,} iterations "
                     f"drawn while training: 10 ms timer late by median {overlays['median']:.2f} ms, "
                     f"p99 {overlays['p99']:.1f} ms, worst {overlays['worst']:.1f} ms "
                     f"({overlays['ticks']} ticks)")
    return lines
