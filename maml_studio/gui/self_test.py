"""``maml-studio --self-test``: prove an installation works, without a display.

Opens the main window offscreen, runs a few meta-steps, adapts to a few
points (a sine curve, and the bundled circle classifier in the plane), writes
and reads a checkpoint in a temporary folder. One line per
check; exit status 0 when all pass, 1 with the reason otherwise. It runs the
same from a source install and from the desktop bundle.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path


def run_self_test(out=sys.stdout) -> int:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    context: dict = {}
    checks: list[tuple[str, Callable[[dict], str]]] = [
        ("resources", _resources),
        ("main window", _main_window),
        ("meta-training", _meta_training),
        ("adaptation", _adaptation),
        ("classification plane", _classification_plane),
        ("checkpoint", _checkpoint),
    ]
    failed = 0
    for name, check in checks:
        started = time.perf_counter()
        try:
            detail = check(context)
            print(f"ok    {name}: {detail} ({time.perf_counter() - started:.1f} s)", file=out)
        except Exception as exc:
            failed += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"FAIL  {name}: {type(exc).__name__}: {_one_line(exc)} "
                  f"(at {Path(where.filename).name}:{where.lineno})", file=out)
    window = context.get("window")
    if window is not None:
        window.close()
    if "scratch" in context:
        shutil.rmtree(context["scratch"], ignore_errors=True)
    print(f"self-test: {len(checks) - failed} of {len(checks)} checks passed", file=out)
    return 1 if failed else 0


def _one_line(exc: Exception) -> str:
    """A long multi-line message as its first and last lines (where the cause usually is)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return f"{lines[0]} … {lines[-1]}"


def _resources(context: dict) -> str:
    from maml_studio.resources import bundled_checkpoint, preset_names, resource_dir

    presets = preset_names()
    if "sine-finn2017" not in presets:
        raise FileNotFoundError(f"presets missing in {resource_dir()}")
    for name in ("sine-finn2017", "circle-2d"):
        if not bundled_checkpoint(name).is_file():
            raise FileNotFoundError(f"bundled checkpoint missing: {bundled_checkpoint(name)}")
    return f"{len(presets)} presets and the bundled checkpoints in {resource_dir()}"


def _main_window(context: dict) -> str:
    from PySide6.QtCore import QSettings

    from maml_studio.gui.app import make_application
    from maml_studio.gui.main_window import MainWindow

    context["app"] = make_application()
    scratch = tempfile.mkdtemp(prefix="maml-studio-self-test-")
    context["scratch"] = Path(scratch)
    settings = QSettings(os.path.join(scratch, "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings)
    window.show()
    context["app"].processEvents()
    context["window"] = window
    if window.model is None:
        raise RuntimeError("the bundled model did not load")
    return f"opened with the bundled {window.model.config.task.family} model"


def _meta_training(context: dict) -> str:
    from maml_studio.config import load_preset
    from maml_studio.training import Finished, Trainer

    config = load_preset("sine-finn2017")
    config.training.iterations = 30
    config.training.validate_every = 30
    config.training.validation_tasks = 10
    config.training.compile = "off"
    config.training.threads = 1
    trainer = Trainer(config)
    finished = [e for e in trainer.run() if isinstance(e, Finished)][-1]
    if finished.status != "completed":
        raise RuntimeError(finished.message)
    context["trainer"] = trainer
    losses = trainer.history.train_loss
    return f"{len(losses)} meta-steps, loss {losses[0]:.2f} → {losses[-1]:.2f}"


def _adaptation(context: dict) -> str:
    import numpy as np

    if "window" not in context:
        raise RuntimeError("needs the main window, which did not open")
    panel = context["window"].adaptation
    app = context["app"]
    if panel.experiment is None:
        raise RuntimeError("the adaptation panel has no model")
    panel.set_points(np.array([[-4.0, 2.0], [-2.0, -1.0], [0.0, 1.5], [2.0, -2.0], [4.0, 0.5]]))
    deadline = time.perf_counter() + 30
    while not panel.settled:
        if time.perf_counter() > deadline:
            raise TimeoutError("no adaptation result within 30 s")
        app.processEvents()
        time.sleep(0.005)
    before, after = panel.support_error("maml", 0), panel.support_error("maml", 10)
    if not after < before:
        raise RuntimeError(f"10 steps did not fit the points better ({before:.3f} → {after:.3f})")
    return f"5 points, error {before:.3f} → {after:.3f} after 10 steps"


def _classification_plane(context: dict) -> str:
    import numpy as np

    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.resources import bundled_checkpoint

    if "window" not in context:
        raise RuntimeError("needs the main window, which did not open")
    window, app = context["window"], context["app"]
    window.apply_model(load_checkpoint(bundled_checkpoint("circle-2d")), {})
    panel = window.adaptation
    if not panel.plane_mode:
        raise RuntimeError("the circle classifier did not open in the plane")
    panel.slider.setValue(10)
    panel.set_points(np.array([[-1.5, -1.5, 0], [-1.2, -1.6, 0], [1.5, 1.5, 1], [1.4, 1.2, 1]]))
    deadline = time.perf_counter() + 30
    while not panel.settled:
        if time.perf_counter() > deadline:
            raise TimeoutError("no decision map within 30 s")
        app.processEvents()
        time.sleep(0.005)
    accuracy = float(panel.plane_result().support_accuracy["maml"][-1])
    if accuracy < 1.0:
        raise RuntimeError(f"10 steps separated {accuracy:.0%} of 4 points, not all")
    return "4 points of two classes separated after 10 steps"


def _checkpoint(context: dict) -> str:
    import torch

    from maml_studio.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    trainer = context["trainer"]
    snapshot = trainer.snapshot()
    path = context["scratch"] / "self-test.safetensors"
    save_checkpoint(Checkpoint(trainer.config, snapshot["state"], snapshot["baseline"],
                               trainer.history), path)
    loaded = load_checkpoint(path)
    same = all(torch.equal(loaded.state[k], v) for k, v in snapshot["state"].items())
    if not same or loaded.history.train_loss != trainer.history.train_loss:
        raise RuntimeError("the checkpoint read back differs from what was written")
    return f"wrote and read {path.stat().st_size:,} bytes"
