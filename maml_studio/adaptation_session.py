"""The adaptation view's state, without Qt: the one owner that every widget binds to.

An adaptation session holds the model on show, its support points and the
task they were sampled from, the settings (step, step size, K, curves shown,
chosen class, paper figure), the undo history and the view frame. Every change
goes through a method here and is announced by an event (psygnal signals,
as napari's models use); the window's widgets only show what it holds and call
its methods. Sessions are saved and restored through `view_state` and
`restore_view`, with no Qt involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from psygnal import Signal

from maml_studio.checkpoint import Checkpoint
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.plane_maps import class_name
from maml_studio.pointsets import read_points
from maml_studio.view_frame import Frame, family_frame
from maml_studio.view_state import AdaptationView, check_view

MAX_STEPS = 100
LR_BOUNDS = (1e-6, 10.0)
MAX_SHOTS = 100
QUERY_PER_CLASS = 50  # query points of a sampled classification task, per class
PAPER_POINTS = 10  # Figure 2 of the MAML paper: K = 10 and the fits after 10 steps
SHOWN_DEFAULT = {"maml": True, "steps": False, "pretrained": True, "random": True, "truth": True}
_KEEP = object()  # set_points: the points still belong to the task on show


@dataclass(frozen=True)
class SampledTask:
    params: torch.Tensor  # one task's parameter row
    description: str
    query_x: np.ndarray | None = None  # classification: a labelled query set of the task
    query_y: np.ndarray | None = None


@dataclass(frozen=True)
class ComparedRun:
    """Another run's meta-learned model, adapted to the same points beside the one on show."""

    run_id: str
    name: str
    colour: str  # "#rrggbb"
    checkpoint: Checkpoint

    @property
    def key(self) -> str:
        return f"run:{self.run_id}"


@dataclass(frozen=True)
class _Edit:
    text: str
    before: tuple[np.ndarray, SampledTask | None]
    after: tuple[np.ndarray, SampledTask | None]


class AdaptationSession:
    """State of the adaptation view; emits an event after every change it makes."""

    model_changed = Signal()  # the model, its experiment, the kind of view or the frame
    points_changed = Signal()  # the support points or the task they came from
    setting_changed = Signal(str)  # "step", "lr", "shots", "shown", "chosen_class", "paper",
    # or "compared" (the runs adapted beside the model on show)
    history_changed = Signal()  # what undo and redo would do

    def __init__(self) -> None:
        self.checkpoint: Checkpoint | None = None
        self.experiment: Experiment | None = None
        self.plane = False  # a 2-D classifier: points are (x1, x2, class)
        self.frame: Frame | None = None
        self.random_state = None  # a fixed random initialisation, adapted like the others
        self.points = np.zeros((0, 2))
        self.task: SampledTask | None = None
        self.step = 10
        self.lr = 0.01
        self.shots = 5
        self.shown = dict(SHOWN_DEFAULT)
        self.chosen_class = 0
        self.paper = False
        self.compared: list[ComparedRun] = []
        self._undo: list[_Edit] = []
        self._redo: list[_Edit] = []
        self._sampler = seed_stream(0, "adaptation-panel")

    # -- the model ------------------------------------------------------------------------------
    @staticmethod
    def refusal(experiment: Experiment) -> str | None:
        """Why this experiment's models cannot be drawn, or None when they can."""
        family = experiment.family
        if family.kind == "classification" and family.dim_in != 2:
            return (f"This classifier takes {family.dim_in}-D inputs; the adaptation panel draws "
                    "2-D classification families in the plane and 1-D regression families.")
        if family.kind != "classification" and (family.dim_in != 1 or family.dim_out != 1):
            return (f"This model maps {family.dim_in} inputs to {family.dim_out} outputs; the "
                    "adaptation panel draws 1-D regression and 2-D classification families.")
        return None

    def set_model(self, checkpoint: Checkpoint, live: bool = False) -> str | None:
        """Show ``checkpoint``; the reason it cannot be shown, or None.

        A new family starts from an empty view with its own frame; a live snapshot
        of the same run keeps the step size the user chose.
        """
        experiment = Experiment.from_config(checkpoint.config)
        refusal = self.refusal(experiment)
        if refusal:
            self.clear_model(self.plane)
            return refusal
        plane = experiment.family.kind == "classification"
        family_changed = self.experiment is None or \
            self.experiment.config.task != experiment.config.task
        if self.experiment is None or self.experiment.model != experiment.model:
            self.random_state = experiment.baseline.init_state(seed_stream(0, "random-init"))
        new_rate = self.checkpoint is None or \
            self.checkpoint.config.algorithm.inner_lr != checkpoint.config.algorithm.inner_lr
        self.checkpoint, self.experiment = checkpoint, experiment
        if family_changed:
            self.frame = family_frame(experiment.family)
            if plane or plane != self.plane:
                # Points of a curve mean nothing in the plane, nor classes of another family.
                self.plane = plane
                self._forget_points()
            elif self.task is not None:  # the user's points stay; another family's task does not
                self.task = None
                self.points_changed.emit()
            if self.chosen_class >= self.classes:
                self.chosen_class = 0
            if plane and self.paper:
                self.paper = False
                self.setting_changed.emit("paper")
        if not live or new_rate:
            self.set_lr(checkpoint.config.algorithm.inner_lr)
        if family_changed and self.compared:
            self.set_compared(self.compared)  # those that no longer fit are dropped
        self.model_changed.emit()
        return None

    def clear_model(self, plane: bool = False) -> None:
        """Forget the model and everything shown for it; ``plane``: the next family's view."""
        self.checkpoint, self.experiment, self.frame, self.plane = None, None, None, plane
        if self.compared:
            self.compared = []
            self.setting_changed.emit("compared")
        if self.paper:
            self.paper = False
            self.setting_changed.emit("paper")
        self._forget_points()
        self.model_changed.emit()

    def _forget_points(self) -> None:
        self.points, self.task = self.no_points(), None
        self._undo.clear()
        self._redo.clear()
        self.points_changed.emit()
        self.history_changed.emit()

    @property
    def classes(self) -> int:
        family = self.experiment.family if self.experiment else None
        return family.num_classes if family is not None and self.plane else 1

    def models(self) -> dict:
        """Curve name → (learner, parameters) of every model adapted to the points."""
        exp, checkpoint = self.experiment, self.checkpoint
        models = {"maml": (exp.learner, checkpoint.state)}
        if checkpoint.baseline_state is not None:
            models["pretrained"] = (exp.baseline, checkpoint.baseline_state)
        models["random"] = (exp.baseline, self.random_state)
        for run in self.compared:
            models[run.key] = (run.checkpoint.experiment().learner, run.checkpoint.state)
        return models

    def set_compared(self, runs: list[ComparedRun]) -> list[str]:
        """Adapt these runs' models beside the one on show; returns why any were left out.

        Only runs whose models take the same inputs and outputs as the one on show are
        compared (a 1-D regression model beside another, a classifier of the plane beside
        one with as many classes; never a regression model beside a classifier).
        """
        kept, refused = [], []
        for run in runs:
            reason = self._comparable(run.checkpoint)
            if reason:
                refused.append(f"{run.name}: {reason}")
            else:
                kept.append(run)
        def identity(run: ComparedRun) -> tuple:
            return run.run_id, id(run.checkpoint), run.name, run.colour

        if [identity(r) for r in kept] != [identity(r) for r in self.compared]:
            self.compared = kept
            self.setting_changed.emit("compared")
        return refused

    def _comparable(self, checkpoint: Checkpoint) -> str | None:
        if self.experiment is None:
            return "there is no model on show to compare it with"
        mine, theirs = self.experiment.family, Experiment.from_config(checkpoint.config).family
        if theirs.kind != mine.kind or (theirs.dim_in, theirs.dim_out) != (mine.dim_in, mine.dim_out):
            return "its family's inputs and outputs differ from the model on show"
        return None

    def truth(self, grid: np.ndarray) -> np.ndarray | None:
        """The sampled task's true function on ``grid``, when the family knows it."""
        if self.task is None or self.experiment is None or not self.experiment.family.has_truth:
            return None
        x = torch.as_tensor(grid, dtype=torch.float32).reshape(1, -1, 1)
        return self.experiment.family.truth(self.task.params.unsqueeze(0), x)[0, :, 0].numpy()

    def fitted_frame(self) -> Frame | None:
        """The family's frame grown to hold every point."""
        return None if self.frame is None else self.frame.including(self.points)

    # -- points and their history ---------------------------------------------------------------
    def no_points(self) -> np.ndarray:
        return np.zeros((0, 3 if self.plane else 2))

    def set_points(self, points, text: str = "Edit points", task=_KEEP, record: bool = True) -> None:
        """Show ``points``; ``task`` is the sampled task they belong to (None: the user's own,
        default: unchanged). Recorded for undo unless ``record`` is false (a drag under way)."""
        task = self.task if task is _KEEP else task
        points = np.asarray(points, dtype=float).reshape(-1, 3 if self.plane else 2).copy()
        if record:
            self._push(_Edit(text, (self.points.copy(), self.task), (points, task)))
        self._apply((points, task))

    def add_point(self, x: float, y: float, label: int | None = None) -> None:
        """Add a support point; in the plane, of class ``label`` (default: the chosen class)."""
        if self.plane:
            label = self.chosen_class if label is None else int(label)
            self.set_points(np.vstack([self.points, [[x, y, label]]]),
                            text=f"Add class {class_name(label)} point")
        else:
            self.set_points(np.vstack([self.points, [[x, y]]]), text="Add point")

    def remove_point(self, index: int) -> None:
        self.set_points(np.delete(self.points, index, axis=0), text="Remove point")

    def move_point(self, index: int, x: float, y: float) -> None:
        """Move a point without recording it: a drag records itself once, when it ends."""
        points = self.points.copy()
        points[index, :2] = (x, y)
        self.set_points(points, record=False)

    def record(self, before: np.ndarray, text: str) -> None:
        """Record an edit already applied (a finished drag) for undo."""
        if not np.array_equal(before, self.points):
            self._push(_Edit(text, (before.copy(), self.task), (self.points.copy(), self.task)))

    def clear_points(self) -> None:
        self.set_points(self.no_points(), text="Clear points", task=None)

    def _push(self, edit: _Edit) -> None:
        self._undo.append(edit)
        self._redo.clear()
        self.history_changed.emit()

    def _apply(self, snapshot: tuple) -> None:
        self.points, self.task = snapshot[0].copy(), snapshot[1]
        self.points_changed.emit()

    @property
    def undo_text(self) -> str | None:
        return self._undo[-1].text if self._undo else None

    @property
    def redo_text(self) -> str | None:
        return self._redo[-1].text if self._redo else None

    def undo(self) -> bool:
        if not self._undo:
            return False
        edit = self._undo.pop()
        self._redo.append(edit)
        self._apply(edit.before)
        self.history_changed.emit()
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        edit = self._redo.pop()
        self._undo.append(edit)
        self._apply(edit.after)
        self.history_changed.emit()
        return True

    # -- sampled tasks ------------------------------------------------------------------------------
    def sample_task(self, shots: int | None = None) -> None:
        """Draw a task of the family (held-out tasks where there are some) and its K points.

        Raises ConfigError when the family's task files are not on this computer.
        """
        if self.experiment is None:
            return
        family = self.experiment.family.evaluation_family()
        shots = shots or self.shots
        if self.plane:
            batch = family.sample(1, shots, QUERY_PER_CLASS, self._sampler)
            task = SampledTask(batch.params[0], family.describe(batch.params[0]),
                               batch.query_x[0].numpy(), batch.query_y[0, :, 0].numpy())
            points = np.column_stack([batch.support_x[0].numpy(), batch.support_y[0, :, 0].numpy()])
        else:
            batch = family.sample(1, shots, 0, self._sampler)
            task = SampledTask(batch.params[0], family.describe(batch.params[0]))
            points = np.column_stack([batch.support_x[0, :, 0].numpy(),
                                      batch.support_y[0, :, 0].numpy()])
        self.set_points(points, text="Sample task", task=task)

    def paper_refusal(self) -> str | None:
        """Why the paper's Figure 2 cannot be drawn for this model, or None."""
        if self.experiment is None:
            return "Paper figure needs a model: open the bundled sine-finn2017 model."
        if self.plane or self.experiment.config.task.family != "sine":
            return "Paper figure needs a sine model: open the bundled sine-finn2017 model."
        if self.checkpoint.baseline_state is None:
            return "Paper figure compares with the pretrained baseline, which this model lacks."
        return None

    def paper_figure(self) -> str | None:
        """Figure 2 of the MAML paper: a sine task, 10 points, fits after 0, 1 and 10 steps.

        Returns why it cannot be drawn, changing nothing, or None.
        """
        refusal = self.paper_refusal()
        if refusal:
            return refusal
        self.set_shots(PAPER_POINTS)
        self.set_step(10)
        self.set_shown({"maml": True, "pretrained": True, "truth": True, "random": False,
                        "steps": False})
        self.set_paper(True)
        self.sample_task(PAPER_POINTS)
        return None

    # -- settings -------------------------------------------------------------------------------------
    def set_step(self, step: int) -> None:
        self._set("step", int(min(max(step, 0), MAX_STEPS)))

    def set_lr(self, lr: float) -> None:
        self._set("lr", float(min(max(lr, LR_BOUNDS[0]), LR_BOUNDS[1])))

    def set_shots(self, shots: int) -> None:
        self._set("shots", int(min(max(shots, 1), MAX_SHOTS)))

    def set_shown(self, shown: dict[str, bool]) -> None:
        """Show or hide curves by name (the keys of SHOWN_DEFAULT; others are ignored)."""
        merged = {**self.shown, **{k: bool(v) for k, v in shown.items() if k in SHOWN_DEFAULT}}
        self._set("shown", merged)

    def set_chosen_class(self, index: int) -> None:
        """The class left clicks add; one the family lacks is ignored."""
        if 0 <= index < self.classes:
            self._set("chosen_class", int(index))

    def set_paper(self, on: bool) -> None:
        """The two-panel paper figure (only where `paper_refusal` allows it)."""
        if on and self.paper_refusal():
            on = False
        self._set("paper", bool(on))

    def _set(self, name: str, value) -> None:
        if getattr(self, name) != value:
            setattr(self, name, value)
            self.setting_changed.emit(name)

    # -- sessions -------------------------------------------------------------------------------------
    def view_state(self) -> dict:
        """The points, sampled task and settings on show, as JSON-ready values."""
        task = None
        if self.task is not None:
            task = {"params": self.task.params.tolist(), "description": self.task.description}
            if self.task.query_x is not None:
                task.update(query_x=self.task.query_x.tolist(), query_y=self.task.query_y.tolist())
        return {"points": self.points.tolist(), "task": task, "step": self.step, "lr": self.lr,
                "shots": self.shots, "class": self.chosen_class, "shown": dict(self.shown),
                "paper": self.paper}

    def check_view(self, state, experiment: Experiment | None = None) -> AdaptationView:
        """A stored view checked whole for ``experiment`` (default: the one on show)."""
        return check_view(state, experiment or self.experiment, max_steps=MAX_STEPS,
                          max_shots=MAX_SHOTS, lr_bounds=LR_BOUNDS)

    def restore_view(self, state) -> None:
        """Show a stored view; ValueError (and nothing changed) when any of it is unusable."""
        if self.experiment is None:
            raise ValueError("there is no model to show the points with")
        view = self.check_view(state)
        task = None
        if view.task_params is not None:
            task = SampledTask(torch.tensor(view.task_params, dtype=torch.float32),
                               view.task_description, view.query_x, view.query_y)
        self.set_shown(view.shown)
        if view.shots is not None:
            self.set_shots(view.shots)
        if view.lr is not None:
            self.set_lr(view.lr)
        self.set_chosen_class(view.chosen_class)
        if view.step is not None:
            self.set_step(view.step)
        self._undo.clear()
        self._redo.clear()
        self.history_changed.emit()
        self._apply((view.points, task))
        if isinstance(state, dict) and state.get("paper") is True:
            self.set_paper(True)

    # -- files -------------------------------------------------------------------------------------------
    def points_reader(self, path):
        """A function that reads ``path`` into this view's point array, safe on any thread."""
        plane, classes = self.plane, self.classes

        def read() -> np.ndarray:
            if plane:
                points = read_points(path, 2, 1, need_y=True, num_classes=classes)
            else:
                points = read_points(path, 1, 1, need_y=True)
            if points.x.shape[0] != 1:
                raise ValueError(f"{path}: holds {points.x.shape[0]} tasks; the panel shows one")
            return np.column_stack([points.x[0].numpy(), points.y[0, :, 0].numpy()])

        return read

    def apply_imported_points(self, points: np.ndarray) -> None:
        if self.experiment is None or points.shape[1] != (3 if self.plane else 2):
            raise ValueError("the model on show changed while the file was read; import it again")
        self.set_points(points, text="Import points", task=None)
