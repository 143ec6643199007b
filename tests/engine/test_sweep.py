"""One sweep worker in this process: the objective, its direction, pruning, joining a study."""

import math

import pytest
import torch

from maml_studio.config import load_preset
from maml_studio.experiment import Experiment
from maml_studio.run_store import RunStore
from maml_studio.sweep import run_sweep
from maml_studio.sweep_plan import Protocol, SweepPlan
from maml_studio.sweep_space import SweepError, parse_space
from maml_studio.sweep_storage import default_storage_url
from tests.conftest import TEST_THREADS

optuna = pytest.importorskip("optuna")
TrialState = optuna.trial.TrialState


def short(preset: str, iterations: int = 300, **changes):
    config = load_preset(preset)
    for key, value in {"training.iterations": iterations, "training.validate_every": 100,
                       "training.validation_tasks": 10, "training.train_baseline": False,
                       "training.compile": "off", "training.threads": TEST_THREADS, **changes}.items():
        config.set(key, value)
    return config


def plan_for(config, space, workspace, **options) -> SweepPlan:
    protocol = Protocol.for_config(config, steps=options.pop("steps", 5), tasks=20, shots=None)
    return SweepPlan(config, parse_space(space), study=options.pop("study", "test"),
                     storage=default_storage_url(workspace), protocol=protocol, **options)


def test_pruning_stops_the_hopeless_trials_and_only_those(tmp_path):
    """Five good trials first (the median pruner's start-up), then two with an outer learning
    rate so small that meta-training does nothing: at their first validation they score what
    an untrained network scores, far above the median of the good ones."""
    workspace = tmp_path / "workspace"
    config = short("sine-finn2017")
    space = {"training.outer_lr": [0.001, 1e-7]}
    plan = plan_for(config, space, workspace, trials=6, prune=True)
    storage = default_storage_url(workspace)
    workspace.mkdir()
    study = optuna.create_study(storage=storage, study_name="test", direction="minimize")
    for outer_lr in [0.001] * 5 + [1e-7] * 2 + [0.001]:
        study.enqueue_trial({"training.outer_lr": outer_lr})
    lines = []
    outcome = run_sweep(plan, RunStore(workspace), log=lines.append)

    trials = optuna.load_study(study_name="test", storage=storage).get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert [t.number for t in pruned] == [5, 6], lines
    assert all(t.params["training.outer_lr"] == 1e-7 for t in pruned)
    assert all(len(t.intermediate_values) == 1 for t in pruned)  # stopped at the first report
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 6
    assert outcome.pruned == [5, 6] and outcome.complete == 6
    assert any(line.startswith("trial 5: pruned at iteration 100") for line in lines), lines
    # A pruned trial's run is kept too, stopped where the pruner stopped it.
    runs = {run.name: run for run in RunStore(workspace).runs()}
    assert runs["test trial 5"].status == "stopped" and runs["test trial 5"].iterations == 100
    # Without --prune the same hopeless trial runs to its end.
    plain = plan_for(config, space, workspace, trials=7, study="test")
    study.enqueue_trial({"training.outer_lr": 1e-7})
    run_sweep(plain, RunStore(workspace), log=lines.append)
    last = optuna.load_study(study_name="test", storage=storage).get_trials()[-1]
    assert last.params["training.outer_lr"] == 1e-7 and last.state == TrialState.COMPLETE


def test_a_classifier_study_maximises_accuracy(tmp_path):
    workspace = tmp_path / "workspace"
    # Lines through the plane: a fixed prior is at chance, only adaptation classifies.
    config = short("circle-2d", iterations=200, **{"task.family": "halfplane"})
    plan = plan_for(config, {"algorithm.inner_lr": [0.5, 1e-4]}, workspace, trials=2, sampler="grid",
                    steps=1)
    lines = []
    outcome = run_sweep(plan, RunStore(workspace), log=lines.append)
    study = optuna.load_study(study_name="test", storage=default_storage_url(workspace))
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert study.user_attrs["objective"]["metric"] == "accuracy"
    values = {t.params["algorithm.inner_lr"]: t.value for t in study.get_trials()}
    assert set(values) == {0.5, 1e-4}
    assert all(0.0 <= value <= 1.0 for value in values.values())
    # The preset's step of 0.5 adapts; 1e-4 leaves the initialisation (at chance) as it is.
    assert values[0.5] > values[1e-4]
    assert study.best_trial.params["algorithm.inner_lr"] == 0.5
    assert outcome.best[0] == study.best_trial.number and outcome.best[1] == values[0.5]
    assert any("accuracy" in line for line in lines)


def test_the_objective_is_scored_on_tasks_no_trial_changes():
    """Two configs that differ only in their training seed are scored on the same tasks, so a
    model scores the same under either config."""
    config = short("sine-finn2017")
    other = config.copy()
    other.training.seed = 12345
    protocol = Protocol.for_config(config, steps=1, tasks=30, shots=None)
    state = Experiment.from_config(config).learner.init_state(torch.Generator())
    first, second = protocol.score(config, state), protocol.score(other, state)
    assert math.isfinite(first) and first == second
    assert Protocol.for_config(config, steps=None, tasks=30, shots=None).steps == \
        config.algorithm.test_inner_steps


def test_joining_a_study_made_with_another_config_is_refused(tmp_path):
    workspace = tmp_path / "workspace"
    space = {"algorithm.inner_lr": {"low": 0.005, "high": 0.02, "log": True}}
    run_sweep(plan_for(short("sine-finn2017", iterations=100), space, workspace, trials=1),
              RunStore(workspace), log=lambda _: None)
    with pytest.raises(SweepError, match=r"was started with training.iterations = 100 \(here 200\)"):
        run_sweep(plan_for(short("sine-finn2017", iterations=200), space, workspace, trials=2),
                  RunStore(workspace), log=lambda _: None)
    with pytest.raises(SweepError, match=r"was started with another search space"):
        run_sweep(plan_for(short("sine-finn2017", iterations=100), {"algorithm.inner_lr": [0.01]},
                           workspace, trials=2), RunStore(workspace), log=lambda _: None)
    # Per-machine fields may differ between workers.
    outcome = run_sweep(plan_for(short("sine-finn2017", iterations=100, **{"training.threads": 2}),
                                 space, workspace, trials=2), RunStore(workspace), log=lambda _: None)
    assert outcome.complete == 2 and len(outcome.ran) == 1


def test_a_study_that_already_has_its_trials_runs_none(tmp_path):
    workspace = tmp_path / "workspace"
    space = {"algorithm.inner_lr": [0.01]}
    run_sweep(plan_for(short("sine-finn2017", iterations=100), space, workspace, trials=1),
              RunStore(workspace), log=lambda _: None)
    lines = []
    outcome = run_sweep(plan_for(short("sine-finn2017", iterations=100), space, workspace, trials=1),
                        RunStore(workspace), log=lines.append)
    assert outcome.ran == [] and outcome.complete == 1
    assert "1 of 1 trials complete" in lines[0]


def test_another_storage_is_noted_in_the_workspace_without_its_password(tmp_path):
    from maml_studio.sweep_results import remember_storage, remembered_storages, workspace_storages

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    remember_storage(workspace, "postgresql://maml:secret@db.example.org:5432/sweeps")
    remember_storage(workspace, "postgresql://maml:secret@db.example.org:5432/sweeps")
    remember_storage(workspace, default_storage_url(workspace))  # its own is never noted
    assert remembered_storages(workspace) == ["postgresql://maml@db.example.org:5432/sweeps"]
    assert "secret" not in (workspace / "sweep-storages.json").read_text()
    remember_storage(workspace, f"sqlite:///{tmp_path / 'gone.db'}")  # a file that is not there
    assert workspace_storages(workspace) == ["postgresql://maml@db.example.org:5432/sweeps"]
    run_sweep(plan_for(short("sine-finn2017", iterations=100), {"algorithm.inner_lr": [0.01]}, workspace,
                       trials=1), RunStore(workspace), log=lambda _: None)
    assert workspace_storages(workspace)[0] == default_storage_url(workspace)
