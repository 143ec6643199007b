"""Opt-in (`pytest -m slow`): the paper's Table 2 protocol for sine-finn2017.

Trains the preset's full 70 000 iterations (a few minutes with compilation)
and evaluates 5-shot on 600 fresh tasks.
"""

import pytest

from maml_studio.checkpoint import Checkpoint
from maml_studio.config import load_preset
from maml_studio.evaluation import evaluate
from maml_studio.training import Finished, Trainer

PAPER_MAML = {1: 0.67, 5: 0.38, 10: 0.35}


@pytest.mark.slow
def test_sine_table2_maml_row_is_matched_or_beaten():
    config = load_preset("sine-finn2017")
    config.training.compile = "wait"
    trainer = Trainer(config)
    events = list(trainer.run())
    assert isinstance(events[-1], Finished) and events[-1].status == "completed"
    snapshot = trainer.snapshot()
    checkpoint = Checkpoint(config, snapshot["state"], snapshot["baseline"], trainer.history)
    results = evaluate(checkpoint, shots=5, steps=[1, 5, 10], tasks=600)
    for score in results["maml"]:
        print(f"MAML after {score.step}: {score.mean:.3f} ± {score.ci95:.3f}")
        assert score.mean - score.ci95 <= PAPER_MAML[score.step]
    for maml, pretrained in zip(results["maml"], results["pretrained"], strict=True):
        assert maml.mean < pretrained.mean
