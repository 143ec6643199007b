"""The main window's three views inside MAML: Meta-gradient, Inner loop, Parameter space.

A mixin of `MainWindow`. Nothing here computes on the GUI thread:

- while a run trains, an `AnatomySampler` thread takes the run's latest
  meta-batch and a copy of its weights about once a second (at most 1.5% of the
  time) and the samples go to the window's `AnatomyHistory`, which travels
  with the run's checkpoint; when nothing trains, the anatomy of the model on
  show on fresh tasks is computed once on a thread of its own;
- the Inner loop and Parameter space views are computed on threads of their
  own (the inner loop's at the lowest priority), the latest request winning,
  when their tab is on show:
  on the model's every change, during training at most every few seconds, and
  on their Refresh buttons. A view not on show is only marked stale.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from maml_studio.anatomy_history import METADATA_KEY, AnatomyHistory, from_json
from maml_studio.anatomy_sampler import AnatomySampler, LiveRun
from maml_studio.checkpoint import Checkpoint, CheckpointError
from maml_studio.experiment import Experiment
from maml_studio.gui.inner_loop_view import InnerLoopView
from maml_studio.gui.inside_worker import LatestWorker
from maml_studio.gui.meta_gradient_view import MetaGradientView
from maml_studio.gui.parameter_space_view import ParameterSpaceView
from maml_studio.gui.view_colors import VIEW_COLORS
from maml_studio.inner_loop_curves import TASKS
from maml_studio.inside_jobs import (
    CurveModel,
    InnerLoopRequest,
    SliceRequest,
    compute_inner_loop,
    compute_slice,
    still_anatomy,
)
from maml_studio.inside_state import (
    InnerLoopViewState,
    MetaGradientViewState,
    ParameterSpaceViewState,
    algorithm_note,
)
from maml_studio.run_store import WorkspaceError

# While a run trains, a view on show is recomputed this long (seconds) after its last result
# arrived, so that it computes a fraction of the time however long one computation takes.
LIVE_INTERVAL = {"inner": 5.0, "slice": 1.5}
INNER_LOOP_TASKS = TASKS  # fresh tasks the inner-loop curves average over
INNER_LOOP_LIVE_TASKS = 200  # while training: a third of the work, bands √3 wider


class _SampleRelay(QObject):
    arrived = Signal(object, object)  # AnatomySample, the run it belongs to
    failed = Signal(str)


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


class WindowInside:
    def _build_inside_views(self) -> None:
        self.anatomy = AnatomyHistory()
        self.meta_gradient_state = MetaGradientViewState()
        self.inner_loop_state = InnerLoopViewState()
        self.parameter_space_state = ParameterSpaceViewState()
        self.meta_gradient_view = MetaGradientView(self.anatomy, self.meta_gradient_state)
        self.inner_loop_view = InnerLoopView(self.inner_loop_state)
        self.parameter_space_view = ParameterSpaceView(self.parameter_space_state)
        index = self.tabs.indexOf(self.evaluation) + 1
        for offset, (view, title) in enumerate(((self.meta_gradient_view, "Meta-gradient"),
                                                (self.inner_loop_view, "Inner loop"),
                                                (self.parameter_space_view, "Parameter space"))):
            self.tabs.insertTab(index + offset, view, title)

        self._inside_serial = 0
        self._inside_floor = {"still": 0, "inner": 0, "slice": 0}  # older results are dropped
        self._inside_stale = {"inner": True, "slice": True}
        self._inside_asked = {"inner": 0.0, "slice": 0.0}  # when each was last requested
        self._training_live = False  # read by the sampler's thread
        self._sampler_learner: tuple[object, object] | None = None  # (trainer, its learner)
        self._still_worker = LatestWorker(self._compute_still, "maml-anatomy-still", self)
        self._still_worker.done.connect(self._still_done)
        # The slice, watched live as the spectacle it is, runs at the usual priority, throttled
        # by LIVE_INTERVAL (at the lowest, on two busy cores, one took seven seconds instead of
        # half of one); the inner-loop curves (2 s of work for three models) at the lowest:
        # at the usual priority they slowed training by more than half.
        self._inner_worker = LatestWorker(compute_inner_loop, "maml-inner-loop", self)
        self._inner_worker.done.connect(self._inner_done)
        self._inner_worker.failed.connect(
            lambda text: self.inner_loop_view.set_status(f"The curves failed: {text}"))
        self._slice_worker = LatestWorker(compute_slice, "maml-parameter-slice", self,
                                          low_priority=False)
        self._slice_worker.done.connect(self._slice_done)
        self._slice_worker.failed.connect(
            lambda text: self.parameter_space_view.set_status(f"The slice failed: {text}"))
        self._sample_relay = _SampleRelay()
        self._sample_relay.arrived.connect(self._sample_arrived, Qt.ConnectionType.QueuedConnection)
        self._sample_relay.failed.connect(
            lambda text: self.meta_gradient_view.set_note(f"A sample failed: {text}"),
            Qt.ConnectionType.QueuedConnection)
        self.anatomy_sampler = AnatomySampler(self._live_run, self._sample_relay.arrived.emit,
                                              failed=self._sample_relay.failed.emit).start()

        self.run.reset.connect(self._inside_run_reset)
        self.controller.progress.connect(self._inside_progress)
        self.controller.snapshot.connect(self._inside_snapshot)
        self.controller.finished.connect(self._inside_finished)
        self.tabs.currentChanged.connect(lambda _: self._inside_tab_shown())
        self.meta_gradient_state.changed.connect(self._meta_gradient_setting)
        self.parameter_space_state.changed.connect(self._parameter_space_setting)
        self.inner_loop_view.refresh_requested.connect(lambda: self.refresh_inside("inner"))
        self.parameter_space_view.refresh_requested.connect(lambda: self.refresh_inside("slice"))

    def inside_views(self) -> list:
        return [self.meta_gradient_view, self.inner_loop_view, self.parameter_space_view]

    def inside_plots(self) -> list:
        return [plot for view in self.inside_views() for plot in view.plots()]

    def _style_inside(self, theme: str, font_scale: float, line_scale: float) -> None:
        """After the plots have been styled: what `style_plot` does not reach."""
        self.meta_gradient_view.set_theme(theme, font_scale)
        self.inner_loop_view.set_theme(theme, font_scale)
        self.parameter_space_view.set_theme(theme, font_scale)
        self.inner_loop_view.set_line_scale(line_scale)
        self.parameter_space_view.set_line_scale(line_scale)
        if self.inner_loop_state.result is not None:  # the model colours of this theme
            self._inside_stale["inner"] = True
            self._inside_tab_shown()

    def _shutdown_inside(self) -> None:
        """Ask the views' threads to end, without waiting: a computation under way finishes
        on its own thread (`_wait_for_inside` waits for it at exit)."""
        self._training_live = False
        self.anatomy_sampler.ask_to_stop()
        for worker in (self._still_worker, self._inner_worker, self._slice_worker):
            worker.ask_to_stop()

    def _wait_for_inside(self) -> None:
        self.anatomy_sampler.wait()
        for worker in (self._still_worker, self._inner_worker, self._slice_worker):
            worker.wait()

    # -- the run's checkpoint carries its anatomy --------------------------------------------------
    def current_checkpoint(self) -> Checkpoint | None:
        checkpoint = super().current_checkpoint()
        if checkpoint is not None and len(self.anatomy):
            checkpoint.info = {**checkpoint.info, METADATA_KEY: self.anatomy.to_json()}
        return checkpoint

    # -- what is on show changed ------------------------------------------------------------------
    def _inside_run_reset(self) -> None:
        """A new run starts, a model was opened, or everything was cleared: the samples of the
        run now on show (a loaded one's, or none), the rest once the window has settled."""
        self._inside_floor = dict.fromkeys(self._inside_floor, self._inside_serial + 1)
        self._inside_stale = dict.fromkeys(self._inside_stale, True)
        self.anatomy.set_still(None)
        history = self.run.history
        self._load_anatomy(self.model if history.iterations or history.validation else None)
        QTimer.singleShot(0, self._inside_model_changed)

    def _inside_model_changed(self) -> None:
        self._inside_note()
        if self.controller.running:  # a new run: its samples arrive as it trains
            return
        if self.model is None:
            self.inner_loop_state.set_result(None)
            self.parameter_space_state.set_result(None)
            return
        self._ask_still()
        self._inside_tab_shown()

    def _load_anatomy(self, checkpoint: Checkpoint | None) -> None:
        text = None if checkpoint is None else checkpoint.info.get(METADATA_KEY)
        if not text:
            self.anatomy.clear()
            return
        try:
            self.anatomy.replace(from_json(text))
        except ValueError as exc:
            self.anatomy.clear()
            self.statusBar().showMessage(f"The run's meta-gradient samples are unusable ({exc})", 10000)

    def _inside_note(self) -> None:
        config = self.run_config if self.controller.running else \
            (self.model.config if self.model is not None else None)
        if config is None:
            self.meta_gradient_view.set_note("")
            return
        self.meta_gradient_view.set_note(algorithm_note(config.algorithm.name,
                                                        config.algorithm.first_order))

    def show_runs(self, run_ids: list[str]) -> None:
        super().show_runs(run_ids)
        self._inside_stale["inner"] = True
        self._inside_tab_shown()

    def _inside_tab_shown(self) -> None:
        current = self.tabs.currentWidget()
        for key, view in (("inner", self.inner_loop_view), ("slice", self.parameter_space_view)):
            if current is view and self._inside_stale[key]:
                self.refresh_inside(key)

    def refresh_inside(self, key: str) -> bool:
        """Compute the Inner loop ("inner") or Parameter space ("slice") view now."""
        if self.model is None:
            return False
        if self.controller.running and self.model.config is not self.run_config:
            return False  # a run starting: the model on show is still the one before it
        self._inside_serial += 1
        self._inside_stale[key] = False
        self._inside_asked[key] = time.perf_counter()
        if key == "inner":
            tasks = INNER_LOOP_LIVE_TASKS if self.controller.running else INNER_LOOP_TASKS
            iteration = self.history.last_iteration
            self._inner_worker.submit(InnerLoopRequest(tuple(self._curve_models()), self._inside_serial,
                                                       tasks=tasks, iteration=iteration))
            shown = self.inner_loop_state.result
            earlier = f" (shown: iteration {shown.iteration:,})" if shown is not None else ""
            self.inner_loop_view.set_status(f"Computing the curves at iteration {iteration:,} on "
                                            f"{tasks} fresh tasks…{earlier}")
        else:
            self._slice_worker.submit(SliceRequest(self.model, self.parameter_space_state.directions,
                                                   self._inside_serial,
                                                   iteration=self.history.last_iteration))
            if self.parameter_space_state.result is None:
                self.parameter_space_view.set_status("Computing the slice…")
        return True

    def _curve_models(self) -> list[CurveModel]:
        colours = VIEW_COLORS[self.theme]
        models = [CurveModel("meta-learned", _hex(colours["maml"]), self.model)]
        if self.model.baseline_state is not None:
            models.append(CurveModel("pretrained baseline", _hex(colours["pretrained"]), self.model, True))
        for run_id in self.runs_panel.shown_ids():
            try:
                info = self.store.get(run_id)
                models.append(CurveModel(info.name, info.colour, self._checkpoint_of(run_id)))
            except (CheckpointError, WorkspaceError):
                continue  # the Runs dock says what is wrong with it
        return models

    # -- during training ---------------------------------------------------------------------------
    def _inside_progress(self, update) -> None:
        if update.progress is not None:  # training (again, after a pause): the sampler looks
            self._training_live = True
            self.anatomy_sampler.wake()

    def _inside_snapshot(self, _snapshot) -> None:
        if not self.controller.running or self.model is None:
            return
        now = time.perf_counter()
        current = self.tabs.currentWidget()
        workers = {"inner": self._inner_worker, "slice": self._slice_worker}
        for key, view in (("inner", self.inner_loop_view), ("slice", self.parameter_space_view)):
            self._inside_stale[key] = True
            if current is view and not workers[key].busy \
                    and now - self._inside_asked[key] >= LIVE_INTERVAL[key]:
                self.refresh_inside(key)

    def _inside_finished(self, _event) -> None:
        self._training_live = False
        self._inside_note()
        self._ask_still()
        self._inside_stale = dict.fromkeys(self._inside_stale, True)
        self._inside_tab_shown()

    def _live_run(self) -> LiveRun | None:
        """On the sampler's thread: the run training now, if any (never waits for it)."""
        if not self._training_live:
            return None
        worker = self.controller.worker
        trainer = getattr(worker, "trainer", None)
        if trainer is None or trainer.paused:
            return None
        batch = trainer.latest_batch()
        if batch is None:
            return None
        if self._sampler_learner is None or self._sampler_learner[0] is not trainer:
            self._sampler_learner = (trainer, Experiment.from_config(trainer.config).learner)
        device = batch.support_x.device

        def weights():
            return {k: v.to(device) for k, v in trainer.snapshot()["state"].items()}

        return LiveRun(trainer, self._sampler_learner[1], trainer.history.iterations, batch, weights)

    def _sample_arrived(self, sample, token) -> None:
        worker = self.controller.worker
        if worker is not None and token is worker.trainer:
            self.anatomy.append(sample)

    def _meta_gradient_setting(self, what: str) -> None:
        if what == "sampling":
            self.anatomy_sampler.set_enabled(self.meta_gradient_state.sampling)

    def _parameter_space_setting(self, what: str) -> None:
        if what == "directions":
            self._inside_floor["slice"] = self._inside_serial + 1
            self._inside_stale["slice"] = True
            self.parameter_space_view.set_status("Computing the slice along the new directions…")
            self._inside_tab_shown()

    # -- results ------------------------------------------------------------------------------------
    def _ask_still(self) -> None:
        if self.model is None:
            return
        self._inside_serial += 1
        self._still_worker.submit((self._inside_serial, self.model))

    @staticmethod
    def _compute_still(request):
        serial, checkpoint = request
        return serial, still_anatomy(checkpoint)

    def _still_done(self, result) -> None:
        serial, sample = result
        if serial >= self._inside_floor["still"] and not self.controller.running:
            self.anatomy.set_still(sample)

    def _inner_done(self, result) -> None:
        self._inside_asked["inner"] = time.perf_counter()  # the next live one after the interval
        if result.serial >= self._inside_floor["inner"]:
            self.inner_loop_state.set_result(result)

    def _slice_done(self, result) -> None:
        self._inside_asked["slice"] = time.perf_counter()
        if result.serial >= self._inside_floor["slice"]:
            self.parameter_space_state.set_result(result)
