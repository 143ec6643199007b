"""Figure 3 (left) for several runs: one curve per model, same tasks, stoppable between runs."""

import csv

import numpy as np
import pytest

from maml_studio.evaluation import evaluate
from maml_studio.evaluation_curves import evaluation_curves, write_curves_csv


def test_curves_are_the_protocols_scores_and_other_kinds_are_left_out(sine, circle, tmp_path):
    done = []
    result = evaluation_curves([("a", "#1f77b4", sine), ("c", "#d95f02", circle)], steps=[0, 1, 5],
                               tasks=30, progress=done.append)
    assert result.metric == "mse" and [c.name for c in result.curves] == ["a", "a (pretrained)"]
    assert result.skipped == ["c: a classification model; the curves show mse"]
    expected = evaluate(sine, steps=[0, 1, 5], tasks=30)
    assert result.curves[0].values == pytest.approx([s.mean for s in expected["maml"]])
    assert result.curves[1].ci95 == pytest.approx([s.ci95 for s in expected["pretrained"]])
    assert done == [1]
    write_curves_csv(result, tmp_path / "e.csv")
    rows = list(csv.DictReader((tmp_path / "e.csv").read_text().splitlines()))
    assert len(rows) == 6 and rows[3]["model"] == "pretrained" and rows[0]["mse_ci95"]
    assert float(rows[1]["mse_median"]) == pytest.approx(result.curves[0].quartiles[1][1], rel=1e-5)


def test_the_quartiles_are_those_of_the_per_task_query_losses(sine):
    """Against the tasks adapted one by one here, and numpy's nearest-rank percentiles."""
    from maml_studio.experiment import seed_stream

    scores = evaluate(sine, steps=[0, 2], tasks=25)["maml"]
    experiment = sine.experiment()
    batch = experiment.family.evaluation_family().sample(25, 5, 100, seed_stream(0, "evaluation"))
    *_, adapted = experiment.learner.adapt_steps(sine.state, batch.support_x, batch.support_y, 2)
    losses = experiment.query_scores(experiment.learner, adapted, batch.query_x, batch.query_y)[0]
    expected = np.percentile(losses.double().numpy(), [25, 50, 75], method="nearest")
    np.testing.assert_allclose(scores[1].quartiles, expected, rtol=1e-5)
    curve = evaluation_curves([("a", "#1f77b4", sine)], steps=[0, 2], tasks=25).curves[0]
    centre, low, high = curve.band("median")
    assert centre == pytest.approx([s.quartiles[1] for s in scores])
    assert low == pytest.approx([s.quartiles[0] for s in scores])
    assert high == pytest.approx([s.quartiles[2] for s in scores])
    mean, below, above = curve.band("mean")
    assert above[1] - mean[1] == pytest.approx(scores[1].ci95) and below[1] < mean[1]
    with pytest.raises(ValueError, match="mean, median"):
        curve.band("mode")


def test_a_stop_request_ends_the_evaluation_between_runs(sine):
    asked = []

    def stopped():
        asked.append(1)
        return len(asked) > 1  # stop before the second run

    result = evaluation_curves([("a", "#1f77b4", sine), ("b", "#d95f02", sine)], steps=[0, 1],
                               tasks=10, stopped=stopped)
    assert [c.name for c in result.curves] == ["a", "a (pretrained)"]
