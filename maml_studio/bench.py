"""``maml-studio bench``: meta-training speed and memory, regression and classification.

Measures, in one run and one thread, meta-iterations per second of the real
trainer for second- and first-order MAML on the paper's sine set-up: eager
with the `torch.func` step (the reference), eager with the hand-batched step,
compiled, and as a user without a C++ compiler meets it (a fresh process
whose PATH holds no compiler and whose compile cache is empty); and of a
plain per-task loop written here as the yardstick every MAML tutorial starts
from; the trainer's rate on every 2-D classification family; the peak memory
of one meta-step for 1, 5 and 10 inner steps; and the latency of the
adaptation panel's computations (curves and decision maps).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch

from maml_studio import __version__
from maml_studio.config import ExperimentConfig
from maml_studio.experiment import Experiment, seed_stream
from maml_studio.peak_memory import peak_memory_bytes
from maml_studio.training import CompileStatus, Finished, Progress, Trainer


def paper_sine_config(first_order: bool = False, inner_steps: int = 1) -> ExperimentConfig:
    config = ExperimentConfig()  # the defaults are the paper's sine set-up
    config.algorithm.first_order = first_order
    config.algorithm.inner_steps = inner_steps
    config.training.train_baseline = False
    config.training.threads = 1
    config.training.iterations = 10_000_000
    config.training.validate_every = 10_000_000
    return config


CLASSIFICATION_FAMILIES = ("halfplane", "circle", "ring", "xor", "moons", "blobs")


def classification_config(family: str) -> ExperimentConfig:
    """Second-order MAML on a 2-D family: MLP 2-40-40-1, 25 tasks × (5 + 10 points per class)."""
    config = paper_sine_config()
    config.task.family = family
    config.algorithm.inner_lr = 0.5
    config.algorithm.support_size = 5
    config.algorithm.query_size = 10
    return config


def formula_vs_sine_rate(seconds: float, compile: bool, log: Callable[[str], None]) -> dict:
    """Meta-iterations/s of the sine family and of the same family written as a formula."""
    rates = {}
    for label in ("sine", "formula"):
        config = paper_sine_config()
        if label == "formula":
            config.set("task.family", "formula")
            config.set("task.formula", "a * sin(x - p)")
            config.set("task.ranges", {"a": [0.1, 5.0], "p": [0.0, 3.141592653589793]})
        config.training.compile = "wait" if compile else "off"
        log(f"{label}: engine, {'compiled' if compile else 'eager'} …")
        rates[label] = trainer_rate(config, seconds, log)["it_per_s"]
    rates["ratio"] = rates["formula"] / rates["sine"] if rates["sine"] else None
    rates["compiled"] = compile
    return rates


def trainer_rate(config: ExperimentConfig, seconds: float, log: Callable[[str], None],
                 hand_batched: bool = True) -> dict:
    """Iterations per second of `Trainer.run` once warmed up (after compiling, if asked)."""
    trainer = Trainer(config, progress_interval=0.25, hand_batched=hand_batched)
    rates: list[float] = []
    started = None
    compile_seconds = None
    compile_status = None
    for event in trainer.run():
        if isinstance(event, CompileStatus):
            compile_status = f"{event.status}: {event.message}"
        elif isinstance(event, Progress):
            if started is None:
                started = time.perf_counter()
            elif event.iterations_per_second > 0:
                rates.append(event.iterations_per_second)
            if time.perf_counter() - started >= seconds:
                trainer.stop()
        elif isinstance(event, Finished):
            break
    if trainer.compile_seconds is not None:
        compile_seconds = trainer.compile_seconds
    return {"it_per_s": statistics.median(rates) if rates else 0.0,
            "samples": len(rates), "compile_s": compile_seconds, "compile_status": compile_status}


def no_compiler_rate(first_order: bool, seconds: float) -> dict:
    """`trainer_rate` with ``compile = "auto"`` as a user without a C++ compiler meets it.

    A fresh process whose PATH holds no compiler (an empty folder; $CC and $CXX
    unset) and whose compile cache (TORCHINDUCTOR_CACHE_DIR) is an empty folder.
    """
    with tempfile.TemporaryDirectory() as empty_path, tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k not in ("CC", "CXX")}
        env.update(PATH=empty_path, TORCHINDUCTOR_CACHE_DIR=cache)
        code = ("import json; from maml_studio.bench import paper_sine_config, trainer_rate\n"
                f"config = paper_sine_config({first_order})\n"
                "config.training.compile = 'auto'\n"
                f"print(json.dumps(trainer_rate(config, {seconds}, print)))")
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=600 + 10 * seconds, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def per_task_loop_rate(config: ExperimentConfig, seconds: float) -> float:
    """A plain loop over tasks with `torch.autograd.grad`, the textbook MAML implementation."""
    torch.set_num_threads(1)
    experiment = Experiment.from_config(config)
    model, alg = experiment.model, config.algorithm
    params = [p.requires_grad_() for p in model.init_params(seed_stream(0, "init")).values()]
    names = list(model.shapes())
    optimizer = torch.optim.Adam(params, lr=config.training.outer_lr)
    generator = seed_stream(0, "data")

    def step() -> None:
        batch = experiment.family.sample(config.training.meta_batch_size, alg.support_size,
                                         alg.query_size, generator)
        total = 0.0
        for t in range(batch.num_tasks):
            fast = dict(zip(names, params, strict=True))
            for _ in range(alg.inner_steps):
                loss = ((model.forward(fast, batch.support_x[t]) - batch.support_y[t]) ** 2).mean()
                grads = torch.autograd.grad(loss, list(fast.values()),
                                            create_graph=not alg.first_order)
                fast = {n: w - alg.inner_lr * g for (n, w), g in zip(fast.items(), grads, strict=True)}
            total = total + ((model.forward(fast, batch.query_x[t]) - batch.query_y[t]) ** 2).mean()
        optimizer.zero_grad()
        (total / batch.num_tasks).backward()
        optimizer.step()

    for _ in range(3):
        step()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        count += 1
    return count / (time.perf_counter() - started)


def peak_memory_mb(inner_steps: int, first_order: bool = False) -> float:
    """Peak memory allocated by one meta-gradient, from the profiler's allocation events."""
    config = paper_sine_config(first_order, inner_steps)
    experiment = Experiment.from_config(config)
    state = experiment.learner.init_state(seed_stream(0, "init"))
    batch = experiment.family.sample(25, 10, 10, seed_stream(0, "data"))
    args = (state, batch.support_x, batch.support_y, batch.query_x, batch.query_y)
    experiment.learner.meta_gradient(*args)
    cuda = torch.cuda.is_available() and state[next(iter(state))].is_cuda
    return peak_memory_bytes(lambda: experiment.learner.meta_gradient(*args), cuda=cuda) / 2**20


def adaptation_latency_ms(steps: int, runs: int = 50, points: int = 10) -> dict:
    """Time to adapt the bundled sine models (meta-learned, baseline, random init) to new points.

    What the adaptation panel computes after every point change: ``steps`` steps
    on ``points`` support points, predictions on a 300-point grid after each.
    """
    from maml_studio.adaptation import adapt_models_together
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.resources import bundled_checkpoint

    checkpoint = load_checkpoint(bundled_checkpoint())
    experiment = checkpoint.experiment()
    models = [(experiment.learner, checkpoint.state),
              (experiment.baseline, checkpoint.baseline_state),
              (experiment.baseline, experiment.baseline.init_state(seed_stream(0, "random-init")))]
    generator = seed_stream(0, "latency")
    grid = experiment.family.grid(300)
    timings = []
    for run in range(runs + 3):
        batch = experiment.family.sample(1, points, 0, generator)
        query = torch.cat([grid, batch.support_x[0]])
        started = time.perf_counter()
        with torch.no_grad():
            adapt_models_together(models, batch.support_x[0], batch.support_y[0], query, steps)
        if run >= 3:  # the first runs warm up
            timings.append(1000 * (time.perf_counter() - started))
    return {"median": statistics.median(timings), "worst": max(timings), "runs": runs}


def decision_map_latency_ms(steps: int = 10, resolution: int = 100, runs: int = 50,
                            points: int = 10) -> dict:
    """Time from new points to the decision maps of the bundled circle models after ``steps``.

    What the panel's plane computes after every point change: three models
    (meta-learned, baseline, random init) adapt to ``points`` labelled points,
    then their class probabilities on a ``resolution``² grid.
    """
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.decision_map import decision_maps
    from maml_studio.resources import bundled_checkpoint

    checkpoint = load_checkpoint(bundled_checkpoint("circle-2d"))
    experiment = checkpoint.experiment()
    models = {"maml": (experiment.learner, checkpoint.state),
              "pretrained": (experiment.baseline, checkpoint.baseline_state),
              "random": (experiment.baseline,
                         experiment.baseline.init_state(seed_stream(0, "random-init")))}
    plane = experiment.family.plane(resolution)
    generator = seed_stream(0, "latency")
    timings = []
    for run in range(runs + 3):
        batch = experiment.family.sample(1, points // 2, 50, generator)
        started = time.perf_counter()
        decision_maps(models, batch.support_x[0], batch.support_y[0], plane, steps, steps,
                      query_x=batch.query_x[0], query_y=batch.query_y[0])
        if run >= 3:
            timings.append(1000 * (time.perf_counter() - started))
    return {"median": statistics.median(timings), "worst": max(timings), "runs": runs}


def landscape_latency_ms(runs: int = 15, resolution: int = 64, tasks: int = 25) -> dict:
    """Time of the parameter-space view's loss landscape, and of the whole slice.

    The bundled sine model (MLP 1-40-40-1), ``tasks`` tasks of 10 query points, the
    mean query loss on a ``resolution``² grid over the plane of the two principal
    directions of its adapted offsets: `parameter_slice.landscape` alone (median and
    worst of ``runs``), and `parameter_slice.parameter_slice` with the directions,
    paths and meta-gradient arrows (median of a third as many).
    """
    from maml_studio.anatomy import sample_batch
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.flat_params import flatten
    from maml_studio.parameter_slice import landscape, parameter_slice, principal_directions
    from maml_studio.resources import bundled_checkpoint

    checkpoint = load_checkpoint(bundled_checkpoint())
    learner = checkpoint.experiment().learner
    batch = sample_batch(checkpoint.config, tasks, seed=0)
    directions = principal_directions(learner, checkpoint.state, batch)
    names, shapes = directions.names, directions.shapes
    theta = flatten(checkpoint.state, names)
    vectors = torch.from_numpy(directions.vectors).to(theta.dtype)
    grid = torch.linspace(-1.0, 1.0, resolution)
    timings = []
    for run in range(runs + 2):
        started = time.perf_counter()
        landscape(learner.model, learner.loss_fn, theta, vectors, grid, grid, names, shapes,
                  batch.query_x, batch.query_y)
        if run >= 2:  # the first runs warm up
            timings.append(1000 * (time.perf_counter() - started))
    whole = []
    for run in range(max(3, runs // 3) + 1):
        started = time.perf_counter()
        parameter_slice(learner, checkpoint.state, batch, resolution=resolution)
        if run >= 1:
            whole.append(1000 * (time.perf_counter() - started))
    return {"median": statistics.median(timings), "worst": max(timings), "runs": runs,
            "slice_median": statistics.median(whole), "slice_runs": len(whole),
            "grid": resolution, "tasks": tasks}


def run_bench(seconds: float = 3.0, compile: bool = True,
              log: Callable[[str], None] = lambda message: None) -> dict:
    report: dict = {
        "setup": "sine (Finn 2017): MLP 1-40-40-1 ReLU, 25 tasks × (10 support + 10 query), "
                 "1 inner step, Adam; one thread",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "maml_studio": __version__, "processor": platform.machine(),
                    "cores": os.cpu_count()},
        "speed": {},
        "memory_mb": {},
    }
    for label, first_order in (("second_order", False), ("first_order", True)):
        row = {}
        log(f"{label}: plain per-task loop …")
        row["per_task_loop"] = per_task_loop_rate(paper_sine_config(first_order), seconds)
        eager = paper_sine_config(first_order)
        eager.training.compile = "off"
        log(f"{label}: engine, eager torch.func step …")
        row["engine_eager_torch_func"] = trainer_rate(eager, seconds, log, hand_batched=False)["it_per_s"]
        log(f"{label}: engine, eager hand-batched step …")
        row["engine_eager"] = trainer_rate(eager, seconds, log)["it_per_s"]
        log(f"{label}: engine, no C++ compiler (a fresh process) …")
        result = no_compiler_rate(first_order, seconds)
        row["no_compiler"], row["no_compiler_status"] = result["it_per_s"], result["compile_status"]
        if compile:
            log(f"{label}: engine, compiled (first compile can take ~30 s) …")
            compiled = paper_sine_config(first_order)
            compiled.training.compile = "wait"
            result = trainer_rate(compiled, seconds, log)
            row["engine_compiled"] = result["it_per_s"]
            row["compile_seconds"] = result["compile_s"]
            if row["engine_compiled"]:
                for key in ("engine_eager_torch_func", "engine_eager", "no_compiler"):
                    row[f"{key}_vs_compiled"] = row[key] / row["engine_compiled"]
        best = max(row.get("engine_compiled") or 0.0, row["engine_eager"])
        row["speedup_vs_loop"] = best / row["per_task_loop"] if row["per_task_loop"] else None
        report["speed"][label] = row
    best_second_order = max(report["speed"]["second_order"].get("engine_compiled") or 0.0,
                            report["speed"]["second_order"]["engine_eager"])
    report["paper_budget_70000_iterations_s"] = 70000 / best_second_order if best_second_order else None
    report["classification_speed"] = {}
    for family in CLASSIFICATION_FAMILIES:
        row = {}
        log(f"classification, {family}: engine, eager …")
        eager = classification_config(family)
        eager.training.compile = "off"
        row["engine_eager"] = trainer_rate(eager, seconds, log)["it_per_s"]
        if compile:
            log(f"classification, {family}: engine, compiled …")
            compiled = classification_config(family)
            compiled.training.compile = "wait"
            row["engine_compiled"] = trainer_rate(compiled, seconds, log)["it_per_s"]
        report["classification_speed"][family] = row
    report["formula_speed"] = formula_vs_sine_rate(seconds, compile, log)
    torch.set_num_threads(1)
    report["adaptation_latency_ms"] = {}
    for steps in (10, 50, 100):
        log(f"adaptation latency: 10 points, {steps} steps …")
        report["adaptation_latency_ms"][f"{steps}_steps"] = adaptation_latency_ms(steps)
    log("decision map: 10 points, 10 steps, 100×100 grid …")
    report["decision_map_latency_ms"] = decision_map_latency_ms()
    log("parameter space: 64×64 loss landscape over 25 tasks …")
    report["landscape_latency_ms"] = landscape_latency_ms()
    for steps in (1, 5, 10):
        log(f"memory: {steps} inner step(s) …")
        report["memory_mb"][f"second_order_{steps}_steps"] = peak_memory_mb(steps)
        report["memory_mb"][f"first_order_{steps}_steps"] = peak_memory_mb(steps, first_order=True)
    return report


def format_report(report: dict) -> str:
    lines = [f"MAML Studio {report['machine']['maml_studio']} bench, torch "
             f"{report['machine']['torch']}", report["setup"], ""]
    columns = (("per_task_loop", "per-task loop"), ("engine_eager_torch_func", "eager torch.func"),
               ("engine_eager", "eager hand-batched"), ("no_compiler", "no compiler"),
               ("engine_compiled", "compiled"))
    lines.append(f"{'meta-iterations/s':<14}" + "".join(f"{title:>20}" for _, title in columns)
                 + f"{'speed-up':>10}")
    for label, row in report["speed"].items():
        speedup = row["speedup_vs_loop"]
        lines.append(f"{label.replace('_', '-'):<14}" + "".join(
            f"{(f'{row[key]:.1f}' if row.get(key) else 'skipped'):>20}" for key, _ in columns)
            + f"{(f'{speedup:.1f}x' if speedup else '-'):>10}")
        if row.get("engine_compiled"):
            lines.append(f"{'  of compiled':<14}{'':>20}" + "".join(
                f"{row[f'{key}_vs_compiled']:>20.0%}" for key, _ in columns[1:4]))
        if row.get("compile_seconds") is not None:
            lines.append(f"{'':<14}(compile took {row['compile_seconds']:.1f} s)")
        lines.append(f"{'':<14}(no compiler: {row['no_compiler_status']})")
    budget = report.get("paper_budget_70000_iterations_s")
    if budget:
        lines.append(f"\nthe paper's 70 000 iterations would take {budget:.0f} s "
                     f"({budget / 60:.1f} min) at the best second-order rate")
    lines.append("\nadaptation panel: 10 new points → curves after every step of three models "
                 "(median / worst of 50)")
    for key, value in report.get("adaptation_latency_ms", {}).items():
        lines.append(f"  {key.replace('_', ' '):<12}{value['median']:8.1f} ms {value['worst']:8.1f} ms")
    lines.append("\nclassification, second-order MAML, MLP 2-40-40-1, 25 tasks × 5 shots + 10 queries "
                 "per class (meta-iterations/s)")
    for family, row in report.get("classification_speed", {}).items():
        compiled = row.get("engine_compiled")
        lines.append(f"  {family:<12}{row['engine_eager']:>10.1f} eager"
                     f"{(f'{compiled:>10.1f} compiled' if compiled else ''):>20}")
    formula = report.get("formula_speed")
    if formula:
        mode = "compiled" if formula["compiled"] else "eager"
        lines.append(f"\nsine family vs the formula a * sin(x - p) ({mode}, meta-iterations/s): "
                     f"sine {formula['sine']:.1f}, formula {formula['formula']:.1f}"
                     f" (ratio {formula['ratio'] or 0:.2f})")
    latency = report.get("decision_map_latency_ms")
    if latency:
        lines.append(f"\nadaptation panel plane: 10 new points → decision maps of three models after "
                     f"10 steps on a 100×100 grid: median {latency['median']:.1f} ms, "
                     f"worst {latency['worst']:.1f} ms (of {latency['runs']})")
    landscape = report.get("landscape_latency_ms")
    if landscape:
        lines.append(f"\nparameter space: {landscape['grid']}×{landscape['grid']} mean query-loss "
                     f"landscape of MLP 1-40-40-1 over {landscape['tasks']} tasks: median "
                     f"{landscape['median']:.1f} ms, worst {landscape['worst']:.1f} ms (of "
                     f"{landscape['runs']}); the whole slice with directions, paths and arrows: "
                     f"median {landscape['slice_median']:.1f} ms")
    lines.append("\npeak memory of one meta-gradient (MB):")
    for key, value in report["memory_mb"].items():
        lines.append(f"  {key.replace('_', ' '):<28}{value:8.2f}")
    return "\n".join(lines)
