"""The run model owns the history the window shows; views learn of changes by its events."""

from maml_studio.history import History
from maml_studio.run_model import RunModel


def test_appends_grow_the_one_history_and_say_how_much_was_added():
    run, seen = RunModel(), []
    run.extended.connect(lambda *added: seen.append(added))
    history = run.history
    run.append([1.0, 0.5], [2.0])
    run.append([], [], [(2, 1.0, 0.4, 1.1, 0.9)])
    run.append([], [])  # nothing added: no event
    assert run.history is history and history.train_loss == [1.0, 0.5]
    assert history.baseline_loss == [2.0] and history.validation == [(2, 1.0, 0.4, 1.1, 0.9)]
    assert seen == [(2, 1, 0), (0, 0, 1)]


def test_a_loaded_history_is_a_copy_and_clear_starts_a_new_one():
    run, resets = RunModel(), []
    run.reset.connect(lambda: resets.append(run.history.iterations))
    stored = History([0.3, 0.2], [], [(2, 0.5, 0.2, 0.6, 0.4)])
    run.load(stored)
    run.append([0.1])
    assert stored.train_loss == [0.3, 0.2] and run.history.train_loss == [0.3, 0.2, 0.1]
    run.clear()
    assert run.history.iterations == 0 and run.history.validation == []
    assert resets == [2, 0]
