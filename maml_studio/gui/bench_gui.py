"""``maml-studio bench --gui``: how responsive the window stays while training runs flat out.

Offscreen, the main window trains the paper's sine set-up while a 10 ms
repeating timer on the GUI thread records how late each tick fires; the
training speed in the window is compared with the same config headless.
The adaptation panel's latency is measured from a change of points to the
result drawn: curves for the sine model, heat map and boundaries in the plane
for the circle classifier.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable

from maml_studio.bench import trainer_rate
from maml_studio.config import load_preset
from maml_studio.gui import bench_runs

TIMER_MS = 10


def _config(compile_mode: str):
    config = load_preset("sine-finn2017")
    config.training.iterations = 10_000_000
    config.training.compile = compile_mode
    config.training.threads = 0  # the app's own choice: all cores but one
    return config


def run_gui_bench(seconds: float = 10.0, log: Callable[[str], None] = lambda m: None,
                  modes: tuple[str, ...] = ("off", "wait")) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from maml_studio.gui.app import make_application

    app = make_application()
    report = {"timer_ms": TIMER_MS, "seconds": seconds, "modes": {}}
    with tempfile.TemporaryDirectory() as scratch:
        for mode in modes:
            label = "eager" if mode == "off" else "compiled"
            log(f"{label}: headless …")
            headless = trainer_rate(_config(mode), seconds, log)["it_per_s"]
            log(f"{label}: in the window …")
            in_window, delays = _measure_window(app, mode, seconds,
                                                os.path.join(scratch, f"{mode}.ini"))
            report["modes"][label] = {
                "headless_it_per_s": headless,
                "window_it_per_s": in_window,
                "window_vs_headless": in_window / headless if headless else None,
                "timer_delay_ms": delay_summary(delays),
            }
        log("adaptation panel: point change → curves on screen …")
        report["panel_latency_ms"] = _panel_latency(app, os.path.join(scratch, "panel.ini"))
        log("adaptation panel, plane: point change → heat map and boundaries on screen …")
        report["plane_latency_ms"] = _plane_latency(app, os.path.join(scratch, "plane.ini"))
        log("runs side by side: point change → six models' curves on screen …")
        report["compared_latency_ms"] = bench_runs.compared_latency(app, scratch)
        log("runs side by side: 10 ms timer while training, five long runs drawn …")
        report["overlay_timer_ms"] = bench_runs.overlay_timer(app, scratch, seconds)
    return report


def _plane_latency(app, settings_path: str, runs: int = 50, steps: int = 10) -> dict:
    """From a change of 10 labelled points to the maps of three models after ``steps`` drawn."""
    import numpy as np
    from PySide6.QtCore import QSettings

    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.gui.main_window import MainWindow
    from maml_studio.resources import bundled_checkpoint

    window = MainWindow(load_bundled=False, settings=QSettings(settings_path, QSettings.Format.IniFormat))
    window.show()
    window.apply_model(load_checkpoint(bundled_checkpoint("circle-2d")), {})
    panel = window.adaptation
    window.tabs.setCurrentWidget(panel)
    panel.slider.setValue(steps)
    rng = np.random.default_rng(0)
    timings, computed = [], []
    for run in range(runs + 3):
        points = np.column_stack([rng.uniform(-2, 2, (10, 2)), np.arange(10) % 2])
        started = time.perf_counter()
        panel.set_points(points)
        _wait_for_result(panel, 30)
        if run >= 3:
            timings.append(1000 * (time.perf_counter() - started))
            computed.append(1000 * panel.result.seconds)
    window.close()
    return {"median": statistics.median(timings), "worst": max(timings), "runs": runs,
            "computed_median": statistics.median(computed), "steps": steps,
            "resolution": panel.result.images["maml"].shape[0]}


def _panel_latency(app, settings_path: str, runs: int = 50) -> dict:
    """From a change of 10 support points to the new curves drawn, in the real panel."""
    from PySide6.QtCore import QSettings

    from maml_studio.gui.main_window import MainWindow

    window = MainWindow(settings=QSettings(settings_path, QSettings.Format.IniFormat))
    window.show()
    panel = window.adaptation
    window.tabs.setCurrentWidget(panel)
    timings = point_change_latencies(panel, runs)
    window.close()
    return {"median": statistics.median(timings), "worst": max(timings), "runs": runs,
            "steps_computed": panel.result.curves["maml"].shape[0] - 1}


def point_change_latencies(panel, runs: int, warm_up: int = 3) -> list[float]:
    """Milliseconds from a change of 10 random support points to their curves drawn."""
    import numpy as np

    rng = np.random.default_rng(0)
    timings = []
    for run in range(runs + warm_up):
        points = np.column_stack([rng.uniform(-5, 5, 10), rng.uniform(-4, 4, 10)])
        started = time.perf_counter()
        panel.set_points(points)
        _wait_for_result(panel, 30)
        if run >= warm_up:
            timings.append(1000 * (time.perf_counter() - started))
    return timings


def timer_delays(app, seconds: float) -> list[float]:
    """How late (ms) each tick of a 10 ms GUI-thread timer fires over ``seconds``, sorted."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    delays: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        delays.append(max(0.0, (now - last[0]) / 1e6 - TIMER_MS))
        last[0] = now

    timer = QTimer()
    timer.setInterval(TIMER_MS)
    timer.timeout.connect(tick)
    timer.start()
    _spin(app, lambda: False, seconds)
    timer.stop()
    return sorted(delays)


def delay_summary(delays: list[float]) -> dict:
    return {"median": statistics.median(delays),
            "p99": delays[min(len(delays) - 1, int(0.99 * len(delays)))],
            "worst": delays[-1], "ticks": len(delays)}


def _measure_window(app, mode: str, seconds: float, settings_path: str) -> tuple[float, list[float]]:
    """Training speed in the window, and the sorted delays of a 10 ms GUI-thread timer."""
    from PySide6.QtCore import QSettings

    from maml_studio.gui.main_window import MainWindow

    settings = QSettings(settings_path, QSettings.Format.IniFormat)
    window = MainWindow(load_bundled=False, settings=settings)
    window.resize(1280, 800)
    window.show()
    window.experiment_panel.set_config(_config(mode))
    window.start_training()
    _spin(app, lambda: window.history.iterations > 0, 300)  # compiled first, if asked
    _spin(app, lambda: False, 1.0)  # settle
    start_iterations = window.history.iterations
    started = time.perf_counter()
    delays = timer_delays(app, seconds)
    rate = (window.history.iterations - start_iterations) / (time.perf_counter() - started)
    window.unsaved = False  # the measurement's model is meant to be discarded
    window.close()
    return rate, delays


def _wait_for_result(panel, seconds: float) -> None:
    """Run the event loop until the panel has drawn the result for its current points.

    Woken by the adaptation thread's own signal, after the panel's slot has drawn,
    rather than by polling, which would take the interpreter lock every millisecond.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()

    def arrived(result) -> None:
        if result.serial == panel.serial:
            loop.quit()

    panel.worker.done.connect(arrived)  # connected after the panel's slot: runs after drawing
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    if not (panel.result is not None and panel.result.serial == panel.serial):
        loop.exec()
    panel.worker.done.disconnect(arrived)


def _spin(app, done: Callable[[], bool], seconds: float, poll_ms: int = 20) -> None:
    """Run the real event loop until ``done()`` or ``seconds`` have passed."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.perf_counter() + seconds
    poll = QTimer()
    poll.setInterval(poll_ms)
    poll.timeout.connect(lambda: loop.quit() if done() or time.perf_counter() >= deadline else None)
    poll.start()
    loop.exec()
    poll.stop()


def format_gui_report(report: dict) -> str:
    lines = [f"GUI responsiveness: {report['timer_ms']} ms timer on the GUI thread while the "
             f"window trains sine-finn2017 ({report['seconds']:.0f} s per mode)", ""]
    lines.append(f"{'mode':<10}{'headless it/s':>15}{'window it/s':>13}{'ratio':>8}"
                 f"{'delay median':>14}{'p99':>8}{'worst':>8}")
    for label, row in report["modes"].items():
        d = row["timer_delay_ms"]
        lines.append(f"{label:<10}{row['headless_it_per_s']:>15.1f}{row['window_it_per_s']:>13.1f}"
                     f"{row['window_vs_headless']:>8.0%}{d['median']:>11.2f} ms{d['p99']:>6.1f} ms"
                     f"{d['worst']:>6.1f} ms")
    panel = report.get("panel_latency_ms")
    if panel:
        lines.append(f"\nadaptation panel, 10 points changed → curves for steps 0–"
                     f"{panel['steps_computed']} drawn: median {panel['median']:.1f} ms, "
                     f"worst {panel['worst']:.1f} ms ({panel['runs']} runs)")
    plane = report.get("plane_latency_ms")
    if plane:
        lines.append(f"adaptation panel, plane: 10 labelled points changed → heat map and boundaries "
                     f"of three models after {plane['steps']} steps on a {plane['resolution']}² grid "
                     f"drawn: median {plane['median']:.1f} ms (computed in {plane['computed_median']:.1f}"
                     f" ms), worst {plane['worst']:.1f} ms ({plane['runs']} runs)")
    lines += bench_runs.format_runs_report(report)
    return "\n".join(lines)
