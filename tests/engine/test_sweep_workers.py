"""Several `sweep` processes share one SQLite study; a worker killed mid-trial loses nothing."""

import os
import signal

import pytest

from tests.engine.sweep_helpers import (
    check_runs_of_complete_trials,
    load,
    logs,
    space_file,
    start_worker,
    trial_state,
    wait,
    wait_for,
)

pytest.importorskip("optuna")


def test_two_workers_share_one_study_and_end_with_the_count(tmp_path):
    space_file(tmp_path)
    workers = [start_worker(tmp_path, "--trials", "6") for _ in range(2)]
    codes = [wait(worker, tmp_path) for worker in workers]
    assert codes == [0, 0], logs(tmp_path)
    study = load(tmp_path)
    trials = study.get_trials()
    numbers = [trial.number for trial in trials]
    assert sorted(numbers) == list(range(len(trials)))  # every number once
    complete = [t for t in trials if t.state == trial_state().COMPLETE]
    assert len(complete) == 6, logs(tmp_path)
    # Both processes took trials of the one study, and each trial ran in one process only.
    workers_of = {t.user_attrs["worker"] for t in complete}
    assert {f":{worker.pid}" for worker in workers} == {w[w.rindex(":"):] for w in workers_of}
    check_runs_of_complete_trials(study, tmp_path / "workspace")
    # Both printed the same end: the study's count, not their own.
    for number in range(2):
        out = (tmp_path / f"worker-{number}.out").read_text()
        assert "6 of 6 trials complete" in out, logs(tmp_path)


def test_a_worker_killed_mid_trial_loses_nothing_and_the_other_finishes_the_count(tmp_path):
    space_file(tmp_path)
    survivor = start_worker(tmp_path, "--trials", "5", "--heartbeat", "2")
    doomed = start_worker(tmp_path, "--trials", "5", "--heartbeat", "2")
    states = trial_state()

    def doomed_trial():
        if not (tmp_path / "workspace" / "sweeps.db").exists():
            return None
        try:
            trials = load(tmp_path).get_trials(deepcopy=False)
        except Exception:  # the study is being created
            return None
        complete = sum(t.state == states.COMPLETE for t in trials)
        return next((t for t in trials if t.state == states.RUNNING and complete >= 1
                     and t.user_attrs.get("worker", "").endswith(f":{doomed.pid}")), None)

    wait_for(lambda: doomed_trial() is not None or doomed.poll() is not None, what="a trial of the worker")
    killed = doomed_trial()
    assert killed is not None, logs(tmp_path)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert wait(survivor, tmp_path) == 0, logs(tmp_path)

    study = load(tmp_path)
    trials = {t.number: t for t in study.get_trials()}
    assert sorted(trials) == list(range(len(trials)))
    assert trials[killed.number].state == states.FAIL  # its worker stopped beating
    # It was queued again with the same parameters, and the survivor ran it.
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert retries[0].state == states.COMPLETE
    assert retries[0].user_attrs["worker"].endswith(f":{survivor.pid}")
    assert sum(t.state == states.COMPLETE for t in trials.values()) == 5, logs(tmp_path)
    check_runs_of_complete_trials(study, tmp_path / "workspace")
    assert "5 of 5 trials complete" in (tmp_path / "worker-0.out").read_text()
