"""Several `sweep` processes share one SQLite study; a worker killed mid-trial loses nothing."""

import pytest

from tests.engine.sweep_helpers import a_killed_worker_loses_nothing, two_workers_share_one_study

pytest.importorskip("optuna")


def test_two_workers_share_one_study_and_end_with_the_count(tmp_path):
    two_workers_share_one_study(tmp_path)


def test_a_worker_killed_mid_trial_loses_nothing_and_the_other_finishes_the_count(tmp_path):
    a_killed_worker_loses_nothing(tmp_path)
