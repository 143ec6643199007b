"""The adaptation session model: points, undo, frame, sampling, settings and save/load, no Qt."""

import json
import subprocess
import sys

import numpy as np
import pytest

from maml_studio.adaptation_session import MAX_STEPS, AdaptationSession


@pytest.fixture
def session(sine):
    session = AdaptationSession()
    assert session.set_model(sine) is None
    return session


class Recorder:
    """Every event a session emits, in order."""

    def __init__(self, session: AdaptationSession) -> None:
        self.events: list[str] = []
        session.model_changed.connect(lambda: self.events.append("model"))
        session.points_changed.connect(lambda: self.events.append("points"))
        session.setting_changed.connect(lambda name: self.events.append(f"setting:{name}"))
        session.history_changed.connect(lambda: self.events.append("history"))


def test_the_session_module_imports_no_qt():
    code = ("import sys, maml_studio.adaptation_session\n"
            "sys.exit(any(m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_points_are_added_removed_and_moved_with_events(session):
    seen = Recorder(session)
    session.add_point(-4.0, -1.3)
    session.add_point(-2.0, 1.5)
    np.testing.assert_allclose(session.points, [[-4.0, -1.3], [-2.0, 1.5]])
    assert seen.events.count("points") == 2 and session.undo_text == "Add point"
    session.move_point(0, 1.0, 2.0)  # a drag under way: shown, not yet recorded
    assert session.points[0].tolist() == [1.0, 2.0] and session.undo_text == "Add point"
    session.record(np.array([[-4.0, -1.3], [-2.0, 1.5]]), "Move point")
    assert session.undo_text == "Move point"
    session.remove_point(1)
    assert session.points.tolist() == [[1.0, 2.0]]


def test_undo_and_redo_walk_the_history_and_a_new_edit_drops_the_redo(session):
    session.add_point(0.0, 0.0)
    session.add_point(1.0, 1.0)
    session.clear_points()
    assert len(session.points) == 0
    assert session.undo() and len(session.points) == 2
    assert session.undo() and session.points.tolist() == [[0.0, 0.0]]
    assert session.redo_text == "Add point"
    assert session.redo() and len(session.points) == 2
    session.add_point(2.0, 2.0)
    assert session.redo_text is None and not session.redo()
    while session.undo():
        pass
    assert len(session.points) == 0 and session.undo_text is None


def test_undo_brings_back_the_sampled_task_with_its_points(session):
    session.sample_task(5)
    task, points = session.task, session.points.copy()
    assert task is not None and points.shape == (5, 2)
    session.add_point(0.0, 0.0)
    assert session.task is task  # the user's point joins the task's points
    session.clear_points()
    assert session.task is None
    session.undo()
    assert session.task is task and len(session.points) == 6


def test_sampled_tasks_follow_the_true_function(session):
    session.sample_task(7)
    truth = session.truth(session.points[:, 0])
    np.testing.assert_allclose(session.points[:, 1], truth, atol=1e-5)
    session.set_shots(3)
    session.sample_task()
    assert session.points.shape == (3, 2)


def test_the_frame_is_the_familys_and_points_never_move_it(session):
    frame = session.frame
    assert frame.x_low == -5.0 and frame.x_high == 5.0
    assert 5.0 <= frame.y_high <= 6.5 and -6.5 <= frame.y_low <= -5.0  # amplitude up to 5, a margin
    for x, y in ((-4, -1.3), (-2, 9.9), (3, 3e36)):
        session.add_point(x, y)
    assert session.frame is frame  # fixed: only "Fit view" takes in far points
    fitted = session.fitted_frame()
    assert fitted.y_high >= 3e36 and fitted.x_low == frame.x_low


def test_settings_are_kept_within_their_ranges_and_announced_once(session):
    seen = Recorder(session)
    session.set_step(10_000)
    session.set_step(MAX_STEPS)  # unchanged: no event
    session.set_lr(-0.5)
    session.set_shown({"random": False, "unknown": True})
    assert session.step == MAX_STEPS and session.lr == pytest.approx(1e-6)
    assert session.shown["random"] is False and "unknown" not in session.shown
    assert seen.events == ["setting:step", "setting:lr", "setting:shown"]


def test_paper_figure_sets_up_figure_two_and_refuses_a_classifier(session, circle):
    assert session.paper_figure() is None
    assert session.paper and session.step == 10 and session.points.shape == (10, 2)
    assert session.shown["random"] is False and session.task is not None
    plane = AdaptationSession()
    plane.set_model(circle)
    assert "sine" in plane.paper_figure() and not plane.paper


def test_a_view_saved_as_json_restores_exactly(session, sine):
    session.sample_task(6)
    session.add_point(0.5, -0.25)
    session.set_step(7)
    session.set_lr(0.02)
    session.set_shown({"pretrained": False, "steps": True})
    session.set_paper(True)
    stored = json.loads(json.dumps(session.view_state()))
    other = AdaptationSession()
    other.set_model(sine)
    other.restore_view(stored)
    assert other.view_state() == session.view_state()
    np.testing.assert_array_equal(other.points, session.points)
    assert other.task.description == session.task.description
    assert other.undo_text is None  # a reopened session starts a new history


@pytest.mark.parametrize("bad", [
    {"points": [[0.0, float("nan")]]},
    {"points": [[0.0, 1.0]], "step": 1e400},
    {"points": [[0.0, 1.0, 2.0]]},
    {"points": [[0.0, 1.0]], "shown": {"maml": "yes"}},
    "not a table",
])
def test_a_refused_view_changes_nothing(session, bad):
    session.add_point(1.0, 1.0)
    session.set_step(4)
    before = session.view_state()
    seen = Recorder(session)
    with pytest.raises(ValueError):
        session.restore_view(bad)
    assert session.view_state() == before and seen.events == []


def test_another_family_clears_the_plane_and_its_history(session, circle, sine):
    session.add_point(1.0, 1.0)
    session.set_model(circle)
    assert session.plane and session.points.shape == (0, 3) and session.undo_text is None
    session.set_chosen_class(1)
    session.add_point(0.5, 0.5)
    assert session.points.tolist() == [[0.5, 0.5, 1.0]] and session.undo_text == "Add class B point"
    session.set_chosen_class(7)  # the circle has two classes: ignored
    assert session.chosen_class == 1
    session.set_model(sine)
    assert not session.plane and session.points.shape == (0, 2) and session.chosen_class == 0


def test_a_live_snapshot_keeps_the_users_step_size(session, sine):
    session.set_lr(0.05)
    session.set_model(sine, live=True)
    assert session.lr == 0.05
    session.set_model(sine)
    assert session.lr == sine.config.algorithm.inner_lr


def test_clearing_the_model_forgets_everything_shown_for_it(session):
    session.sample_task(5)
    session.set_paper(True)
    seen = Recorder(session)
    session.clear_model()
    assert session.checkpoint is None and session.task is None and len(session.points) == 0
    assert not session.paper and session.frame is None and session.undo_text is None
    assert "model" in seen.events and "setting:paper" in seen.events


def test_other_runs_are_compared_on_the_same_points_when_their_family_fits(session, sine, circle):
    from maml_studio.adaptation_session import ComparedRun

    seen = Recorder(session)
    other = ComparedRun("r1", "reptile seed 0", "#1f77b4", sine)
    refused = session.set_compared([other, ComparedRun("r2", "circle", "#2ca02c", circle)])
    assert len(refused) == 1 and refused[0].startswith("circle: its family")
    assert list(session.models()) == ["maml", "pretrained", "random", "run:r1"]
    assert seen.events == ["setting:compared"]
    session.set_compared([other])  # the same runs: nothing to announce
    assert seen.events == ["setting:compared"]
    session.set_model(circle)  # another family: the sine run no longer fits
    assert session.compared == []
    # A classifier of the plane beside another with as many classes; never a regression model.
    refused = session.set_compared([ComparedRun("r3", "circle again", "#9467bd", circle), other])
    assert refused == ["reptile seed 0: its family's inputs and outputs differ from the model on show"]
    assert list(session.models())[-1] == "run:r3"
