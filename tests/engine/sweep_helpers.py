"""Shared by the sweep tests: a short sweep's command line and what a finished study holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from maml_studio.run_store import RunStore

# The paper's sine set-up, a few hundred eager iterations per trial, no baseline.
SHORT = ["--preset", "sine-finn2017", "--set", "training.iterations=400",
         "--set", "training.validate_every=100", "--set", "training.validation_tasks=10",
         "--set", "training.train_baseline=false", "--set", "training.compile=off",
         "--set", "training.threads=1", "--tasks", "20", "--steps", "5"]
SPACE = '''"algorithm.inner_lr" = { low = 0.002, high = 0.02, log = true }
"training.seed" = { int = [0, 1000] }
'''


def space_file(folder: Path, text: str = SPACE) -> Path:
    path = folder / "space.toml"
    path.write_text(text)
    return path


def start_worker(folder: Path, *extra: str) -> subprocess.Popen:
    """``python -m maml_studio sweep`` with the short set-up, writing its output to files."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "maml_studio", "sweep", *SHORT, "--space", str(folder / "space.toml"),
               "--workspace", str(folder / "workspace"), "--study", "short", *extra]
    number = len(list(folder.glob("worker-*.err")))
    return subprocess.Popen(command, stdout=open(folder / f"worker-{number}.out", "w"),
                            stderr=open(folder / f"worker-{number}.err", "w"), env=env)


def wait(process: subprocess.Popen, folder: Path, timeout: float = 240) -> int:
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"a worker ran past {timeout} s:\n{logs(folder)}") from None


def logs(folder: Path) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text()}" for path in sorted(folder.glob("worker-*")))


def load(folder: Path, name: str = "short", storage: str | None = None):
    import optuna

    return optuna.load_study(study_name=name,
                             storage=storage or f"sqlite:///{folder / 'workspace' / 'sweeps.db'}")


def first_seen(probe, process: subprocess.Popen, folder: Path, timeout: float = 180, what: str = "a trial"):
    """The first thing ``probe`` returns that is not None, polled while ``process`` runs. Kept as
    seen: a second look could find the state moved on."""
    began = time.monotonic()
    while (seen := probe()) is None:
        if process.poll() is not None:
            raise AssertionError(f"the worker ended before {what} was seen:\n{logs(folder)}")
        if time.monotonic() - began > timeout:
            raise AssertionError(f"waited {timeout} s for {what}:\n{logs(folder)}")
        time.sleep(0.1)
    return seen


def check_runs_of_complete_trials(study, workspace: Path) -> None:
    """Every complete trial has its run in the workspace, holding the trial's own config."""
    store = RunStore(workspace)
    runs = {run.id: run for run in store.runs()}
    for trial in study.get_trials(states=(trial_state().COMPLETE,)):
        run_id = trial.user_attrs.get("run_id")
        assert run_id in runs, f"trial {trial.number} has no run in the workspace"
        assert runs[run_id].name == f"{study.study_name} trial {trial.number}"
        assert runs[run_id].status == "completed"
        checkpoint = store.open(run_id)
        facts = json.loads(checkpoint.info["sweep"])
        assert facts["study"] == study.study_name and facts["trial"] == trial.number
        assert facts["params"] == trial.params and facts["value"] == trial.value
        assert checkpoint.config.algorithm.inner_lr == trial.params["algorithm.inner_lr"]
        assert checkpoint.config.training.seed == trial.params["training.seed"]
        assert checkpoint.history.last_iteration == checkpoint.config.training.iterations


def trial_state():
    import optuna

    return optuna.trial.TrialState


# -- the scenarios, on any storage ------------------------------------------------------------------
def two_workers_share_one_study(folder: Path, storage: str | None = None) -> None:
    """Two processes at once: every number once, the count exactly, each trial's run kept."""
    space_file(folder)
    extra = ["--storage", storage] if storage else []
    workers = [start_worker(folder, "--trials", "6", *extra) for _ in range(2)]
    codes = [wait(worker, folder) for worker in workers]
    assert codes == [0, 0], logs(folder)
    study = load(folder, storage=storage)
    trials = study.get_trials()
    numbers = [trial.number for trial in trials]
    assert sorted(numbers) == list(range(len(trials)))  # every number once
    complete = [t for t in trials if t.state == trial_state().COMPLETE]
    assert len(complete) == 6, logs(folder)
    # Both processes took trials of the one study.
    pids = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in complete}
    assert pids == {str(worker.pid) for worker in workers}, logs(folder)
    check_runs_of_complete_trials(study, folder / "workspace")
    for number in range(2):  # both end on the study's count, not their own
        assert "6 of 6 trials complete" in (folder / f"worker-{number}.out").read_text(), logs(folder)


def a_killed_worker_loses_nothing(folder: Path, storage: str | None = None) -> None:
    """One worker is killed (SIGKILL) mid-trial: its trial is marked failed and queued again,
    the other worker runs it and finishes the count."""
    space_file(folder)
    extra = ["--storage", storage] if storage else []
    survivor = start_worker(folder, "--trials", "5", "--heartbeat", "2", *extra)
    doomed = start_worker(folder, "--trials", "5", "--heartbeat", "2", *extra)
    states = trial_state()

    def doomed_trial():
        if storage is None and not (folder / "workspace" / "sweeps.db").exists():
            return None
        try:
            trials = load(folder, storage=storage).get_trials(deepcopy=False)
        except Exception:  # the study is being created
            return None
        # A trial is marked with its worker before its parameters are drawn: wait for both.
        complete = sum(t.state == states.COMPLETE for t in trials)
        return next((t for t in trials if t.state == states.RUNNING and complete >= 1 and len(t.params) == 2
                     and t.user_attrs.get("worker", "").endswith(f":{doomed.pid}")), None)

    # Freeze the worker, then look again: what is seen then is what the kill leaves behind.
    while True:
        seen = first_seen(doomed_trial, doomed, folder, what="a trial of the worker")
        os.kill(doomed.pid, signal.SIGSTOP)
        os.waitpid(doomed.pid, os.WUNTRACED)  # returns once it is stopped
        killed = doomed_trial()
        if killed is not None and killed.number == seen.number:
            os.kill(doomed.pid, signal.SIGKILL)
            break
        os.kill(doomed.pid, signal.SIGCONT)  # it ended in between: wait for its next one
    doomed.wait()
    assert wait(survivor, folder) == 0, logs(folder)

    study = load(folder, storage=storage)
    trials = {t.number: t for t in study.get_trials()}
    assert sorted(trials) == list(range(len(trials)))
    assert trials[killed.number].state == states.FAIL  # its worker stopped beating
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1, logs(folder)
    assert retries[0].params == killed.params == trials[killed.number].params
    assert retries[0].state == states.COMPLETE
    assert retries[0].user_attrs["worker"].endswith(f":{survivor.pid}")
    assert sum(t.state == states.COMPLETE for t in trials.values()) == 5, logs(folder)
    check_runs_of_complete_trials(study, folder / "workspace")
    assert "5 of 5 trials complete" in (folder / "worker-0.out").read_text()
