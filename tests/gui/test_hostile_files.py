"""Hostile files opened in the window: refused whole, the window as it was before."""

import json

import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch

from maml_studio.checkpoint import load_checkpoint
from maml_studio.resources import bundled_checkpoint
from maml_studio.session import save_session

SINE = bundled_checkpoint("sine-finn2017")


def window_state(win) -> dict:
    panel = win.adaptation
    return {"config": win.experiment_panel.config().to_dict(),
            "points": panel.points.copy(), "step": panel.step, "shots": panel.shots.value(),
            "lr": float(panel.lr_box.value()), "train": list(win.history.train_loss),
            "model": win.model}


def assert_unchanged(win, before: dict) -> None:
    after = window_state(win)
    assert after["config"] == before["config"]
    np.testing.assert_array_equal(after["points"], before["points"])
    assert (after["step"], after["shots"], after["lr"]) == (before["step"], before["shots"], before["lr"])
    assert after["train"] == before["train"] and after["model"] is before["model"]


def rewritten(tmp_path, name, **metadata):
    with safetensors.safe_open(str(SINE), framework="pt") as handle:
        stored = {**handle.metadata(), **metadata}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    path = tmp_path / name
    path.write_bytes(safetensors.torch.save(tensors, metadata=stored))
    return path


def session_with_view(tmp_path, name, adaptation) -> object:
    path = tmp_path / name
    save_session(path, load_checkpoint(SINE), {"log_scale": False, "adaptation": adaptation})
    return path


GOOD_POINTS = [[-2.0, 1.0], [0.5, -0.3]]


@pytest.mark.parametrize("adaptation, problem", [
    ({"points": GOOD_POINTS, "step": 1e300}, "step"),
    ({"points": GOOD_POINTS, "shots": 10**30}, "shots"),
    ({"points": GOOD_POINTS, "lr": float("inf")}, "lr"),
    ({"points": [[float("nan"), 1.0]]}, "NaN"),
    ({"points": [[1.0, 2.0, 3.0]]}, "shape"),
    ({"points": GOOD_POINTS, "task": {"params": [1.0, 2.0], "description": "x",
                                      "query_x": [[1.0, 2.0, 3.0]], "query_y": [1.0]}}, "shape"),
    ({"points": GOOD_POINTS, "shown": {"maml": "yes"}}, "shown"),
])
def test_13_hostile_session_views_are_refused_whole(window, tmp_path, adaptation, problem):
    before = window_state(window)
    path = session_with_view(tmp_path, "hostile.mamlsession", adaptation)
    assert not window.open_file(path)
    assert window.message_box is not None and problem in window.message_box.text()
    assert "adaptation view is unusable" in window.message_box.text()
    assert_unchanged(window, before)


def test_13_a_good_session_view_is_applied(window, tmp_path):
    path = session_with_view(tmp_path, "good.mamlsession",
                             {"points": GOOD_POINTS, "step": 3, "shots": 7, "lr": 0.02})
    assert window.open_file(path)
    np.testing.assert_allclose(window.adaptation.points, GOOD_POINTS)
    assert (window.adaptation.step, window.adaptation.shots.value()) == (3, 7)


def test_13_history_with_nan_iterations_is_refused_and_saving_still_works(window, tmp_path):
    rows = torch.tensor([[float("nan"), 1.0, 0.5, 1.0, 0.5]], dtype=torch.float64)
    with safetensors.safe_open(str(SINE), framework="pt") as handle:
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
        metadata = handle.metadata()
    tensors["history.validation"] = rows
    path = tmp_path / "nan-history.safetensors"
    path.write_bytes(safetensors.torch.save(tensors, metadata=metadata))
    before = window_state(window)
    assert not window.open_file(path)
    assert "loss history is unusable" in window.message_box.text()
    assert_unchanged(window, before)
    assert window.save_session_file(tmp_path / "after.mamlsession")
    assert window.save_checkpoint_file(tmp_path / "after.safetensors")


def test_1_2_deep_or_huge_stored_config_and_view_are_refused(window, tmp_path):
    before = window_state(window)
    deep = rewritten(tmp_path, "deep.safetensors",
                     config='{"task": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert not window.open_file(deep)
    assert "nested too deeply" in window.message_box.text()
    big = rewritten(tmp_path, "big.mamlsession",
                    session_view=json.dumps({"log_scale": False})[:-1] + ', "x": ' + "9" * 5000 + "}")
    assert not window.open_file(big)
    assert "4300 digits" in window.message_box.text()
    deep_config = tmp_path / "deep.json"
    deep_config.write_text('{"task": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert not window.load_config_file(deep_config)
    assert "nested too deeply" in window.message_box.text()
    assert_unchanged(window, before)


def test_11_reset_during_a_heavy_validation_does_not_block_the_window(window, qtbot, monkeypatch):
    import threading
    import time

    from maml_studio.training import Trainer
    from tests.gui.conftest import quick_run

    entered = threading.Event()
    original = Trainer._validate

    results = []

    def validating(self, iteration, tasks):
        entered.set()
        results.append(original(self, iteration, tasks))
        return results[-1]

    monkeypatch.setattr(Trainer, "_validate", validating)
    quick_run(window, iterations=1000)
    panel = window.experiment_panel
    panel.editors["algorithm.support_size"].set_value(2000)
    panel.editors["training.validate_every"].set_value(1)
    panel.editors["training.validation_tasks"].set_value(100)
    panel.editors["algorithm.test_inner_steps"].set_value(100)  # seconds of validation
    window.start_training()
    qtbot.waitUntil(entered.is_set, timeout=60000)
    began = time.perf_counter()
    window.reset_training()
    blocked = time.perf_counter() - began
    assert not window.controller.running
    print(f"reset during a validation returned in {1000 * blocked:.0f} ms")
    # The validation (36–160 s of work) is left at the step it had reached: a stop is
    # honoured between its steps, and its thread ends.
    qtbot.waitUntil(lambda: window.controller.stopping == 0, timeout=60_000)
    assert results == [None]


def test_12_a_large_point_file_is_read_off_the_gui_thread_and_drawn_in_part(window, qtbot, tmp_path):
    """200 000 labelled points: the import returns at once, the window keeps ticking, the view
    draws an even selection and says how many points it holds."""
    import threading
    import time

    import numpy as np
    from PySide6.QtCore import QTimer

    from maml_studio.gui.adaptation_points import MAX_DRAWN_POINTS
    from maml_studio.resources import bundled_checkpoint

    assert window.open_file(bundled_checkpoint("circle-2d"))
    panel = window.adaptation
    rng = np.random.default_rng(0)
    count = 200_000
    rows = np.column_stack([rng.uniform(-2, 2, (count, 2)), rng.integers(0, 2, count)])
    path = tmp_path / "many.csv"
    np.savetxt(path, rows, delimiter=",", header="x1,x2,y", comments="", fmt=["%.4f", "%.4f", "%d"])
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    started = time.perf_counter()
    assert window.import_points_file(path)
    returned = time.perf_counter() - started
    # Read on a thread of its own: the points arrive through the event loop, after the return.
    assert window._reading._thread is not threading.current_thread()
    assert len(panel.points) != count
    qtbot.waitUntil(lambda: len(panel.points) == count, timeout=120_000)
    timer.stop()
    assert len(panel.drawn_points()) == MAX_DRAWN_POINTS
    assert len(panel.points_item.data) == MAX_DRAWN_POINTS
    print(f"import returned in {1000 * returned:.0f} ms; longest GUI gap {1000 * max(gaps):.0f} ms")


def test_12_cancel_drops_a_large_import(window, qtbot, tmp_path):
    import numpy as np

    path = tmp_path / "many.csv"
    x = np.linspace(-4, 4, 100_000)
    np.savetxt(path, np.column_stack([x, np.sin(x)]), delimiter=",", header="x,y", comments="")
    before = window.adaptation.points.copy()
    assert window.import_points_file(path)
    reading = window._reading
    reading.cancel()
    qtbot.waitUntil(lambda: not reading._thread.is_alive(), timeout=60_000)  # it read the file…
    qtbot.wait(200)  # …and its result was delivered, and dropped
    assert reading.cancelled and np.array_equal(window.adaptation.points, before)


@pytest.mark.parametrize("action", ["reset", "close"])
def test_11_reset_and_close_never_wait_for_a_meta_step_under_way(window, qtbot, monkeypatch, action):
    """A meta-step that takes seconds (a huge meta-batch) is left to finish on its own thread."""
    import threading

    from maml_studio.training import Trainer
    from tests.gui.conftest import quick_run

    in_step, release = threading.Event(), threading.Event()
    original = Trainer._meta_step

    def slow_step(self, *args, **kwargs):
        in_step.set()
        release.wait(30)  # the step "takes" until the test lets it end
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_meta_step", slow_step)
    quick_run(window, iterations=1000)
    window.start_training()
    qtbot.waitUntil(in_step.is_set, timeout=30000)
    if action == "reset":
        window.reset_training()
        assert not window.controller.running and window.history.iterations == 0
    else:
        window.close()
        assert not window.isVisible()
    assert window.controller.stopping == 1  # returned while the step was still under way
    release.set()
    qtbot.waitUntil(lambda: window.controller.stopping == 0, timeout=30000)


@pytest.mark.parametrize("answer", [False, True])
def test_7_the_window_asks_before_a_run_that_would_not_fit(window, qtbot, monkeypatch, answer):
    import maml_studio.memory as memory
    from tests.gui.conftest import quick_run

    asked = []
    monkeypatch.setattr(memory, "available_memory", lambda: 64 * 2**20)  # a 64 MB computer
    monkeypatch.setattr(type(window), "confirm_memory",
                        lambda self, text: asked.append(text) or answer)
    quick_run(window, iterations=200)
    assert window.start_training() is answer
    assert len(asked) == 1 and "needs about" in asked[0] and "lower " in asked[0]
    assert window.controller.running is answer
    if not answer:
        assert "would not fit" in window.state_label.text()
