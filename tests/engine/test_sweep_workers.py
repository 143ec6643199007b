"""Several `sweep` processes share one SQLite study; a worker killed mid-trial loses nothing."""

import signal

import pytest

from maml_studio.run_store import RunStore
from tests.engine.sweep_helpers import (
    a_killed_worker_loses_nothing,
    check_runs_of_complete_trials,
    first_seen,
    load,
    logs,
    space_file,
    start_worker,
    trial_state,
    two_workers_share_one_study,
    wait,
)

pytest.importorskip("optuna")


def test_two_workers_share_one_study_and_end_with_the_count(tmp_path):
    two_workers_share_one_study(tmp_path)


def test_a_worker_killed_mid_trial_loses_nothing_and_the_other_finishes_the_count(tmp_path):
    a_killed_worker_loses_nothing(tmp_path)


def test_ctrl_c_keeps_the_finished_trials_and_the_stopped_run(tmp_path):
    space_file(tmp_path)
    worker = start_worker(tmp_path, "--trials", "50", "--set", "training.iterations=2000")
    states = trial_state()

    def running_after_one():
        try:
            trials = load(tmp_path).get_trials(deepcopy=False)
        except Exception:  # not created yet
            return None
        if sum(t.state == states.COMPLETE for t in trials) < 1:
            return None
        return next((t for t in trials if t.state == states.RUNNING and len(t.intermediate_values)), None)

    stopped = first_seen(running_after_one, worker, tmp_path, what="a second trial")
    worker.send_signal(signal.SIGINT)
    assert wait(worker, tmp_path) == 128 + signal.SIGINT, logs(tmp_path)
    trials = {t.number: t for t in load(tmp_path).get_trials()}
    assert trials[stopped.number].state == states.FAIL
    assert trials[stopped.number].user_attrs["note"] == "interrupted"
    assert not any(t.state == states.RUNNING for t in trials.values())
    complete = [t for t in trials.values() if t.state == states.COMPLETE]
    assert complete and all(t.number < stopped.number for t in complete)
    check_runs_of_complete_trials(load(tmp_path), tmp_path / "workspace")
    run = RunStore(tmp_path / "workspace").get(trials[stopped.number].user_attrs["run_id"])
    assert run.status == "stopped" and 0 < run.iterations < 2000
    assert "interrupted" in (tmp_path / "worker-0.out").read_text()
