"""The anatomy of a run over its iterations: the model the Meta-gradient view draws, the
sampler that fills it while a run trains, and the samples kept in the run's checkpoint."""

import json
import math
import threading
import time

import numpy as np
import pytest

from maml_studio.anatomy import meta_gradient_anatomy, sample_batch
from maml_studio.anatomy_history import (
    MAX_SAMPLES,
    METADATA_KEY,
    AnatomyHistory,
    AnatomySample,
    from_json,
)
from maml_studio.anatomy_sampler import AnatomySampler, LiveRun
from maml_studio.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from maml_studio.config import ExperimentConfig
from maml_studio.experiment import Experiment
from maml_studio.tasks import generator_for
from maml_studio.training import Progress, Trainer


def _sample(iteration, cosine=0.5, milliseconds=math.nan):
    return AnatomySample(iteration, cosine, -cosine, 0.25,
                         {"maml": 2.0, "fomaml": 1.5, "second_order": 0.5, "reptile": 0.1},
                         {"layer0.weight": {"maml": 1.0, "fomaml": 0.9, "second_order": 0.2,
                                            "reptile": 0.05},
                          "layer0.bias": {"maml": 0.5, "fomaml": 0.0, "second_order": 0.5,
                                          "reptile": 0.01}},
                         milliseconds=milliseconds, peak_memory_mb=1.5, query_loss=0.4, tasks=25,
                         seconds=0.01)


def _events(history):
    seen = []
    history.reset.connect(lambda: seen.append("reset"))
    history.extended.connect(lambda n: seen.append(("extended", n)))
    history.still_changed.connect(lambda: seen.append("still"))
    return seen


def test_a_sample_holds_the_anatomy_of_its_iteration():
    config = ExperimentConfig()
    learner = Experiment.from_config(config).learner
    state = learner.init_state(generator_for(0))
    anatomy = meta_gradient_anatomy(learner, state, sample_batch(config, 10, 1), measure_cost=True)
    sample = AnatomySample.of(anatomy, 123, 0.5)
    assert sample.iteration == 123 and sample.seconds == 0.5 and sample.tasks == 10
    assert sample.cosine_maml_fomaml == anatomy.cosine_maml_fomaml
    assert sample.second_order_ratio == anatomy.second_order_ratio
    assert sample.milliseconds == anatomy.cost.milliseconds
    assert sample.per_layer == anatomy.per_layer
    assert sample.value("norm:reptile") == anatomy.norms["reptile"]


def test_the_history_grows_in_iteration_order_and_announces_it():
    history = AnatomyHistory()
    seen = _events(history)
    assert history.append(_sample(10)) and history.append(_sample(20, 0.7))
    assert not history.append(_sample(20))  # the same iteration again: refused
    assert not history.append(_sample(5))
    assert seen == [("extended", 1), ("extended", 1)]
    assert history.iterations().tolist() == [10, 20]
    assert history.column("cosine_maml_fomaml").tolist() == [0.5, 0.7]
    assert history.layer_names() == ("layer0.weight", "layer0.bias")
    assert history.layer_column("layer0.bias", "fomaml").tolist() == [0.0, 0.0]
    assert history.stride() == 10
    history.set_still(_sample(30))
    history.clear()
    assert len(history) == 0 and history.still is not None  # the model on show stays
    assert seen[-2:] == ["still", "reset"]


def test_a_long_run_is_thinned_keeping_its_latest_sample():
    history = AnatomyHistory()
    for i in range(MAX_SAMPLES):
        history.append(_sample(i))
    seen = _events(history)
    history.append(_sample(MAX_SAMPLES))
    assert seen == ["reset"]
    assert MAX_SAMPLES // 2 <= len(history) <= MAX_SAMPLES // 2 + 1
    assert history.samples[0].iteration == 0 and history.samples[-1].iteration == MAX_SAMPLES


def test_samples_survive_the_checkpoint_with_nan_kept(tmp_path):
    history = AnatomyHistory()
    history.append(_sample(1, milliseconds=3.25))
    history.append(_sample(2))  # no cost measured: NaN
    config = ExperimentConfig()
    checkpoint = Checkpoint(config, Experiment.from_config(config).learner.init_state(generator_for(0)),
                            info={METADATA_KEY: history.to_json()})
    save_checkpoint(checkpoint, tmp_path / "run.safetensors")
    loaded = from_json(load_checkpoint(tmp_path / "run.safetensors").info[METADATA_KEY])
    assert [s.iteration for s in loaded] == [1, 2]
    assert loaded[0].milliseconds == 3.25 and math.isnan(loaded[1].milliseconds)
    assert loaded[0].per_layer == history.samples[0].per_layer
    assert loaded[1].cosine_maml_reptile == pytest.approx(-0.5)
    again = AnatomyHistory()
    again.replace([*loaded, loaded[0]])  # duplicates and disorder are sorted out
    assert again.iterations().tolist() == [1, 2]


@pytest.mark.parametrize("change", [
    lambda d: d.update(format="other"),
    lambda d: d.update(version=2),
    lambda d: d.update(parts=["maml"]),
    lambda d: d.update(layers=["x"] * 2),
    lambda d: d.update(layers=[7]),
    lambda d: d["rows"][0].pop(),
    lambda d: d["rows"][0].__setitem__(0, -1),
    lambda d: d["rows"][0].__setitem__(0, 1.5),
    lambda d: d["rows"][0].__setitem__(0, True),
    lambda d: d["rows"][0].__setitem__(1, "0.5"),
    lambda d: d["rows"][0].__setitem__(2, 1e400),
    lambda d: d.update(rows=[d["rows"][0]] * (MAX_SAMPLES + 1)),
    lambda d: d.update(rows={}),
])
def test_a_damaged_history_is_refused_with_a_reason(change):
    history = AnatomyHistory()
    history.append(_sample(1))
    data = json.loads(history.to_json())
    change(data)
    with pytest.raises(ValueError):
        from_json(json.dumps(data))
    with pytest.raises(ValueError, match="JSON"):
        from_json("[" * 100_000)


# -- the sampler ----------------------------------------------------------------------------------
def _live(config, token="run", iteration=lambda: 1):
    learner = Experiment.from_config(config).learner
    state = learner.init_state(generator_for(0))
    batch = sample_batch(config, 10, 3)
    taken = []

    def weights():
        taken.append(1)
        return state

    def source():
        return LiveRun(token, learner, iteration(), batch, weights)
    return source, learner, state, batch, taken


def _wait(condition, seconds=120.0):  # generous: CI machines may be loaded
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


def test_the_sampler_delivers_the_anatomy_of_the_latest_batch_and_weights():
    config = ExperimentConfig()
    counter = iter(range(1, 10**6))
    source, learner, state, batch, _ = _live(config, iteration=lambda: next(counter))
    delivered = []
    sampler = AnatomySampler(source, lambda sample, token: delivered.append((sample, token)),
                             min_interval=0.01, budget=1.0, cost_interval=0.0).start()
    try:
        assert _wait(lambda: len(delivered) >= 3)
    finally:
        sampler.stop()
    assert not sampler.alive
    sample, token = delivered[0]
    expected = meta_gradient_anatomy(learner, state, batch)
    assert token == "run" and sample.iteration >= 1
    assert sample.cosine_maml_fomaml == pytest.approx(expected.cosine_maml_fomaml, abs=1e-6)
    assert sample.second_order_ratio == pytest.approx(expected.second_order_ratio, rel=1e-5)
    assert all(math.isfinite(s.peak_memory_mb) for s, _ in delivered)  # cost_interval 0: every time
    assert math.isnan(sample.milliseconds)  # no rate before a second look at the run
    assert all(s.milliseconds > 0 for s, _ in delivered[1:])
    iterations = [s.iteration for s, _ in delivered]
    assert iterations == sorted(set(iterations))


def test_the_sampler_keeps_to_its_budget_and_measures_the_cost_now_and_then():
    source, *_ = _live(ExperimentConfig(), iteration=lambda: int(time.monotonic() * 1000))
    delivered = []
    sampler = AnatomySampler(source, lambda sample, token: delivered.append(sample),
                             min_interval=0.01, budget=0.25, cost_interval=3600).start()
    try:
        assert _wait(lambda: len(delivered) >= 4)
    finally:
        sampler.stop()
    assert sampler.interval >= sampler.last_seconds / 0.25 - 1e-9
    assert sampler.interval >= 0.01
    assert math.isfinite(delivered[0].peak_memory_mb)  # the first sample is costed
    assert all(math.isnan(s.peak_memory_mb) for s in delivered[1:])  # not again within the hour


def test_the_sampler_computes_nothing_while_paused_idle_or_switched_off():
    iteration = [5]
    source, _, _, _, taken = _live(ExperimentConfig(), iteration=lambda: iteration[0])
    live = [True]
    delivered = []
    sampler = AnatomySampler(lambda: source() if live[0] else None,
                             lambda sample, token: delivered.append(sample), min_interval=0.02,
                             budget=1.0).start()
    try:
        assert _wait(lambda: len(delivered) == 1)
        time.sleep(0.3)  # the same iteration (paused): no second sample, no weights copied
        assert len(delivered) == 1 and len(taken) == 1
        live[0] = False
        iteration[0] = 6
        time.sleep(0.3)  # nothing trains: it waits to be woken
        assert len(delivered) == 1
        sampler.set_enabled(False)
        live[0] = True
        sampler.wake()
        time.sleep(0.3)
        assert len(delivered) == 1
        sampler.set_enabled(True)
        assert _wait(lambda: len(delivered) == 2)
        assert delivered[-1].iteration == 6
    finally:
        sampler.stop()


def test_a_failing_sample_is_reported_and_sampling_goes_on():
    config = ExperimentConfig()
    source, learner, state, batch, _ = _live(config)
    calls, failures, delivered = [0], [], []

    def flaky():
        calls[0] += 1
        live = source()
        if calls[0] == 1:
            return LiveRun("run", learner, 1, batch, lambda: {"nonsense": state["layer0.bias"]})
        return LiveRun("run", learner, calls[0], batch, live.weights)

    sampler = AnatomySampler(flaky, lambda sample, token: delivered.append(sample),
                             failed=failures.append, min_interval=0.01, budget=1.0).start()
    try:
        assert _wait(lambda: len(delivered) >= 1)
    finally:
        sampler.stop()
    assert failures and "Error" in failures[0]


def test_the_sampler_follows_a_training_run(small_config):
    """A real run on one thread, the sampler on another: samples arrive as the run goes on."""
    small_config.training.iterations = 100_000
    trainer = Trainer(small_config)
    learner = Experiment.from_config(small_config).learner
    give_up = time.monotonic() + 120.0  # the run ends once samples have come, however slow the CPU

    def source():
        batch = trainer.latest_batch()
        return None if batch is None else LiveRun(trainer, learner, trainer.history.iterations,
                                                  batch, lambda: trainer.snapshot()["state"])
    delivered = []
    # A larger share of the time than the app's, so that a slow CPU samples often enough too.
    sampler = AnatomySampler(source, lambda sample, token: delivered.append(sample),
                             budget=0.5, min_interval=0.2)
    sampler.start()

    def train():
        for event in trainer.run():
            if isinstance(event, Progress):
                sampler.wake()
                if len(delivered) >= 3 or time.monotonic() > give_up:
                    trainer.stop()
    thread = threading.Thread(target=train)
    started = time.monotonic()
    thread.start()
    thread.join(240)
    ended = time.monotonic()
    sampler.stop()
    assert not thread.is_alive()
    assert len(delivered) >= 2
    assert [s.iteration for s in delivered] == sorted({s.iteration for s in delivered})
    assert delivered[-1].iteration > delivered[0].iteration > 0
    assert all(-1 <= s.cosine_maml_fomaml <= 1 for s in delivered)
    # A sample's milliseconds are the run's wall time per meta-iteration since the previous
    # sample: times the iterations between them, a span that holds the sampler's wait (0.2 s at
    # least) and lies within the run.
    assert math.isnan(delivered[0].milliseconds)
    gaps = np.diff([s.iteration for s in delivered])
    spans = [s.milliseconds * gap for s, gap in zip(delivered[1:], gaps, strict=True)]
    assert all(0.99 * 200 <= span <= 1000 * (ended - started) for span in spans), spans
