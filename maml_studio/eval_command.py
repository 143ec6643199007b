"""``maml-studio eval``: the paper's evaluation protocol on a checkpoint, as tables or JSON.

The query loss after each requested step, mean with its 95% interval and the median
with its quartiles over the tasks (query accuracy too for classifiers), for the
meta-learned model and its pretrained baseline.
"""

from __future__ import annotations

import json
import math

from maml_studio.command_checks import engine_threads
from maml_studio.errors import UsageError

MAX_EVAL_STEPS = 10_000


def run_eval(args) -> int:
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.evaluation import evaluate
    from maml_studio.inputs import parse_step_list

    try:
        steps = parse_step_list(args.steps, MAX_EVAL_STEPS)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for name in ("shots", "tasks", "query_points"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    engine_threads()
    checkpoint = load_checkpoint(args.checkpoint)
    results = evaluate(checkpoint, shots=args.shots, steps=steps, tasks=args.tasks, seed=args.seed,
                       query_points=args.query_points, lr=args.lr)
    shots = args.shots or checkpoint.config.algorithm.support_size
    for name, scores in results.items():
        broken = [s.step for s in scores if not math.isfinite(s.mean)]
        if broken:
            raise UsageError(f"adaptation of the {name} model diverged (step {broken[0]} gives "
                             f"NaN or infinite losses); try a smaller --lr")
    experiment = checkpoint.experiment()
    task_family = experiment.family
    classification = task_family.kind == "classification"
    loss_name = experiment.kind.loss_name
    if args.json:
        def row(s):
            item = {"step": s.step, "mean": s.mean, "ci95": s.ci95, "q25": s.quartiles[0],
                    "median": s.quartiles[1], "q75": s.quartiles[2]}
            if classification:
                item.update(accuracy=s.accuracy, accuracy_ci95=s.accuracy_ci95,
                            accuracy_median=s.accuracy_quartiles[1])
            return item

        print(json.dumps({
            "checkpoint": str(args.checkpoint), "family": checkpoint.config.task.family,
            "shots": shots, "tasks": args.tasks, "seed": args.seed, "metric": loss_name,
            "results": {name: [row(s) for s in scores] for name, scores in results.items()},
        }, indent=2))
        return 0
    family = checkpoint.config.task.family
    if classification:
        ways = task_family.num_classes
        print(f"{family}, {ways}-way {shots}-shot, {args.tasks} tasks: query accuracy "
              f"(mean ± 95% interval) after each step")
        _print_table(steps, results, lambda s: f"{100 * s.accuracy:.1f} ± {100 * s.accuracy_ci95:.1f}%")
        print("query cross-entropy (mean ± 95% interval)")
    else:
        print(f"{family}, {shots}-shot, {args.tasks} tasks: "
              f"query MSE (mean ± 95% interval) after each step")
    _print_table(steps, results, lambda s: f"{s.mean:.3f} ± {s.ci95:.3f}")
    print(f"query {'MSE' if loss_name == 'mse' else loss_name} "
          "(median [25th, 75th percentile] over the tasks)")
    _print_table(steps, results, _median_cell)
    return 0


def _median_cell(score) -> str:
    low, median, high = score.quartiles
    return f"{median:.3f} [{low:.2f}, {high:.2f}]"


def _print_table(steps, results, cell) -> None:
    cells = {name: [cell(s) for s in scores] for name, scores in results.items()}
    width = max([18, *(len(text) + 3 for row in cells.values() for text in row)])
    print("model".ljust(12) + "".join(f"{'step ' + str(s):>{width}}" for s in steps))
    for name, row in cells.items():
        print(name.ljust(12) + "".join(f"{text:>{width}}" for text in row))


# -- compare --------------------------------------------------------------------------------------
