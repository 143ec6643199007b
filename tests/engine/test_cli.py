import json

import numpy as np
import pytest

from maml_studio.checkpoint import load_checkpoint
from maml_studio.cli import main
from tests.conftest import TEST_THREADS


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short sine run written by `maml-studio train`."""
    path = tmp_path_factory.mktemp("ckpt") / "sine.safetensors"
    code = main(["train", "--preset", "sine-finn2017", "--iterations", "300", "--compile", "off",
                 "--set", "training.validate_every=150", "--set", f"training.threads={TEST_THREADS}",
                 "--quiet", "--out", str(path)])
    assert code == 0
    return path


def test_train_writes_a_checkpoint_with_history(trained):
    checkpoint = load_checkpoint(trained)
    assert checkpoint.history.iterations == 300
    assert checkpoint.baseline_state is not None
    assert checkpoint.config.algorithm.support_size == 5


def test_eval_reports_mse_with_intervals_for_both_models(trained, capsys):
    assert main(["eval", str(trained), "--tasks", "50", "--steps", "0,1,10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["shots"] == 5 and report["metric"] == "mse"
    maml = report["results"]["maml"]
    assert [r["step"] for r in maml] == [0, 1, 10]
    assert all(r["ci95"] > 0 for r in maml)
    assert "pretrained" in report["results"]
    assert main(["eval", str(trained), "--tasks", "20"]) == 0
    assert "step 10" in capsys.readouterr().out


def test_eval_shows_that_adaptation_helps_a_meta_trained_model(capsys):
    """The bundled model (the paper's 70 000 iterations) on 100 fresh 5-shot tasks.

    Measured: MSE 3.0 ± 0.8 before adapting, 0.37 ± 0.14 after ten steps on 50 tasks.
    A model trained for a few hundred iterations cannot show this: its ten-step and
    unadapted losses differ by less than their intervals.
    """
    from maml_studio.resources import bundled_checkpoint

    assert main(["eval", str(bundled_checkpoint()), "--tasks", "100", "--steps", "0,10", "--json"]) == 0
    before, after = json.loads(capsys.readouterr().out)["results"]["maml"]
    assert after["mean"] + after["ci95"] < before["mean"] - before["ci95"]
    assert after["q25"] <= after["median"] <= after["q75"]  # the quartiles over the tasks too
    assert main(["eval", str(bundled_checkpoint()), "--tasks", "20", "--steps", "0,1"]) == 0
    text = capsys.readouterr().out
    assert "(mean ± 95% interval)" in text and "median [25th, 75th percentile]" in text
    medians = text.splitlines()[-2].split()  # "maml  0.358 [0.18, 0.77] …"
    assert medians[0] == "maml" and medians[2].startswith("[")


def test_adapt_csv_on_a_grid_and_with_a_query_file(trained, tmp_path):
    support = tmp_path / "support.csv"
    support.write_text("x,y\n-2,1.0\n0,0.2\n1.5,-1.1\n3,0.4\n")
    out = tmp_path / "pred.csv"
    assert main(["adapt", str(trained), "--support", str(support), "--steps", "5",
                 "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "x,y" and len(rows) == 201
    query = tmp_path / "query.csv"
    query.write_text("x\n-2\n3\n")
    assert main(["adapt", str(trained), "--support", str(support), "--steps", "0",
                 "--query", str(query), "--model", "pretrained", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 3


def test_adapt_npz_for_many_tasks(trained, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-5, 5, (4, 5, 1)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x=x, y=np.sin(x))
    np.savez(tmp_path / "q.npz", x=rng.uniform(-5, 5, (4, 7, 1)))
    out = tmp_path / "p.npz"
    assert main(["adapt", str(trained), "--support", str(tmp_path / "s.npz"), "--steps", "3",
                 "--query", str(tmp_path / "q.npz"), "--out", str(out)]) == 0
    with np.load(out) as data:
        assert data["y"].shape == (4, 7, 1)


def test_adapting_fits_the_users_points_better_than_the_prior(trained, tmp_path):
    support = tmp_path / "s.csv"
    xs = np.linspace(-4, 4, 8)
    support.write_text("x,y\n" + "".join(f"{x},{3 * np.sin(x - 1)}\n" for x in xs))
    query = tmp_path / "q.csv"
    query.write_text("x\n" + "".join(f"{x}\n" for x in xs))
    errors = []
    for steps in ("0", "10"):
        out = tmp_path / f"p{steps}.csv"
        main(["adapt", str(trained), "--support", str(support), "--steps", steps,
              "--query", str(query), "--out", str(out)])
        predicted = np.loadtxt(out, delimiter=",", skiprows=1)[:, 1]
        errors.append(np.mean((predicted - 3 * np.sin(xs - 1)) ** 2))
    assert errors[1] < errors[0]


@pytest.mark.parametrize("argv, message", [
    (["train", "--preset", "nope", "--out", "x.safetensors"], "unknown preset 'nope'"),
    (["train", "--preset", "sine-finn2017", "--set", "training.outer_lr=-1", "--out", "x"],
     "training.outer_lr"),
    (["eval", "missing.safetensors"], "no such file"),
    (["eval", "{ckpt}", "--steps", "1,a"], "--steps expects"),
    (["adapt", "{ckpt}", "--support", "{bad_header}", "--steps", "1", "--out", "o.csv"], "header"),
    (["adapt", "{ckpt}", "--support", "{wide}", "--steps", "1", "--out", "o.csv"],
     "inputs have 2 dimension"),
    (["adapt", "{ckpt}", "--support", "{text}", "--steps", "1", "--out", "o.csv"],
     "not a number"),
    (["adapt", "{ckpt}", "--support", "{npz3}", "--steps", "1", "--out", "o.npz"],
     "\\[tasks, points, dim\\]"),
])
def test_failures_are_one_line_on_stderr_and_a_nonzero_exit(argv, message, trained, tmp_path,
                                                             capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    (tmp_path / "wide.csv").write_text("x1,x2,y\n1,2,3\n")
    (tmp_path / "text.csv").write_text("x,y\n1,two\n")
    np.savez(tmp_path / "flat.npz", x=np.zeros(3), y=np.zeros(3))
    files = {"ckpt": trained, "bad_header": "bad.csv", "wide": "wide.csv", "text": "text.csv",
             "npz3": "flat.npz"}
    code = main([a.format(**files) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert pytest.importorskip("re").search(message, err), err


def test_families_and_presets_are_listed(capsys):
    assert main(["families", "--json"]) == 0
    names = [f["name"] for f in json.loads(capsys.readouterr().out)]
    assert {"sine", "sine_line", "multimodal", "linear", "harmonic"} <= set(names)
    assert main(["presets"]) == 0
    assert "sine-finn2017" in capsys.readouterr().out
    assert main(["families"]) == 0
    assert "circle  (Circle, classification, 2-D inputs, 2 classes" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("maml-studio ")


def test_bench_reports_speed_and_memory(capsys):
    assert main(["bench", "--seconds", "0.5", "--no-compile", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    row = report["speed"]["second_order"]
    assert row["per_task_loop"] > 0 and row["engine_eager"] > 0
    assert report["memory_mb"]["second_order_10_steps"] > report["memory_mb"]["second_order_1_steps"]
    assert set(report["classification_speed"]) == {"halfplane", "circle", "ring", "xor", "moons", "blobs"}
    assert all(r["engine_eager"] > 0 for r in report["classification_speed"].values())
    assert report["decision_map_latency_ms"]["median"] > 0


def test_more_bad_files_are_refused_with_one_line(trained, tmp_path, capsys):
    np.save(tmp_path / "array.npy", np.zeros((1, 3, 1)))
    (tmp_path / "array.npy").rename(tmp_path / "single.npz")
    (tmp_path / "header.csv").write_text("x,y\n")
    np.savez(tmp_path / "complex.npz", x=np.zeros((1, 3, 1), complex), y=np.zeros((1, 3, 1)))
    np.savez(tmp_path / "empty.npz", x=np.zeros((1, 0, 1)), y=np.zeros((1, 0, 1)))
    for name, message in (("single.npz", "single array"), ("header.csv", "no points"),
                          ("complex.npz", "real numbers"), ("empty.npz", "empty")):
        code = main(["adapt", str(trained), "--support", str(tmp_path / name), "--steps", "1",
                     "--out", str(tmp_path / "o.csv")])
        err = capsys.readouterr().err.strip()
        assert code != 0 and message in err and len(err.splitlines()) == 1, err


def test_csv_columns_are_read_in_numeric_order(tmp_path):
    from maml_studio.pointsets import read_points

    path = tmp_path / "swapped.csv"
    path.write_text("x2,x1,y\n20,10,1\n")
    points = read_points(path, 2, 1, need_y=True)
    assert points.x[0, 0].tolist() == [10.0, 20.0]


def test_train_checks_the_output_path_before_training(tmp_path, capsys):
    code = main(["train", "--preset", "sine-finn2017", "--out",
                 str(tmp_path / "missing-folder" / "a.safetensors")])
    assert code != 0 and "does not exist" in capsys.readouterr().err


def test_eval_reports_a_diverging_step_size(trained, capsys):
    code = main(["eval", str(trained), "--tasks", "10", "--steps", "0,10", "--lr", "1000"])
    assert code != 0 and "diverged" in capsys.readouterr().err


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A short circle run written by `maml-studio train`."""
    path = tmp_path_factory.mktemp("ckpt") / "circle.safetensors"
    assert main(["train", "--preset", "circle-2d", "--iterations", "300", "--compile", "off",
                 "--set", "training.validate_every=150", "--set", f"training.threads={TEST_THREADS}",
                 "--quiet", "--out", str(path)]) == 0
    return path


def test_eval_of_a_classifier_reports_accuracy_with_intervals(classifier, capsys):
    assert main(["eval", str(classifier), "--tasks", "60", "--steps", "0,1,10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["metric"] == "cross-entropy" and report["shots"] == 5
    for name in ("maml", "pretrained"):
        rows = report["results"][name]
        assert all(0 <= r["accuracy"] <= 1 and r["accuracy_ci95"] >= 0 for r in rows)
    assert report["results"]["maml"][1]["accuracy"] > 0.6
    assert main(["eval", str(classifier), "--tasks", "20"]) == 0
    out = capsys.readouterr().out
    assert "2-way 5-shot" in out and "query accuracy" in out and "%" in out


def test_adapt_takes_integer_class_labels_and_writes_probabilities(classifier, tmp_path, capsys):
    support = tmp_path / "support.csv"
    support.write_text("x1,x2,y\n-1,-1,0\n-1.2,-0.8,0\n1,1,1\n0.8,1.2,1\n")
    out = tmp_path / "pred.csv"
    assert main(["adapt", str(classifier), "--support", str(support), "--steps", "10",
                 "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0] == "x1,x2,y,p0,p1" and len(rows) == 1 + 50 * 50
    values = np.array([[float(v) for v in row.split(",")] for row in rows[1:]])
    np.testing.assert_allclose(values[:, 3] + values[:, 4], 1, rtol=1e-5)
    assert set(values[:, 2]) <= {0.0, 1.0}
    corner = values[np.argmin(np.hypot(values[:, 0] + 1, values[:, 1] + 1))]
    assert corner[2] == 0  # the class-A corner is predicted as class A
    npz = tmp_path / "support.npz"
    np.savez(npz, x=np.zeros((2, 3, 2)), y=np.array([[[0], [1], [1]], [[1], [0], [0]]]))
    query = tmp_path / "query.npz"
    np.savez(query, x=np.zeros((2, 4, 2)))
    assert main(["adapt", str(classifier), "--support", str(npz), "--query", str(query),
                 "--steps", "2", "--out", str(tmp_path / "pred.npz")]) == 0
    with np.load(tmp_path / "pred.npz") as data:
        assert data["y"].shape == (2, 4, 1) and data["probabilities"].shape == (2, 4, 2)
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2,y\n-1,-1,0\n1,1,2\n")
    assert main(["adapt", str(classifier), "--support", str(bad), "--steps", "1",
                 "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "class labels, integers 0 to 1; point 2 has 2.0" in error
