"""``maml-studio anatomy``: the meta-gradient dissected at a checkpoint's weights.

``maml-studio anatomy CHECKPOINT [--support S.npz --query Q.npz | --tasks 25 --seed S] [--json]``
prints the cosines of MAML's meta-gradient with its first-order part and with
Reptile's direction, the second-order term's share and the norms of each, in
total and per parameter tensor (see `maml_studio.anatomy`). This module is
light at import: the command line builds its parser from it.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

MAX_TASKS = 10_000
PART_TITLES = {"maml": "MAML", "fomaml": "first-order", "second_order": "second-order",
               "reptile": "Reptile"}


class AnatomyUsageError(ValueError):
    """A mistake in the command's arguments or files, reported as one line."""


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "anatomy", help="MAML's meta-gradient at a checkpoint's weights: against its first-order "
                        "part and Reptile's direction, in total and per layer")
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--support", type=Path,
                        help="support sets: NPZ with x [T,K,d] and y [T,K,m] (or a CSV for one task)")
    parser.add_argument("--query", type=Path, help="query sets of the same tasks, with y")
    parser.add_argument("--tasks", type=int,
                        help="without files: fresh tasks of the checkpoint's family (default 25)")
    parser.add_argument("--seed", type=int, help="seed of the fresh tasks (default 0)")
    parser.add_argument("--differentiation", choices=("maml", "run"), default="maml",
                        help="maml: what second-order MAML with the run's step size and steps "
                             "would do at these weights (default); run: the run's own inner loop "
                             "and derivative order (a first-order run has no second-order term)")
    parser.add_argument("--cost", action="store_true",
                        help="also time one meta-step of the run and measure its peak memory")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from maml_studio.anatomy import meta_gradient_anatomy, sample_batch
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.devices import training_threads

    files = args.support is not None or args.query is not None
    if files and (args.tasks is not None or args.seed is not None):
        raise AnatomyUsageError("give --support and --query, or --tasks and --seed, not both")
    if files and (args.support is None or args.query is None):
        raise AnatomyUsageError("--support and --query go together: the query sets need their "
                                "support sets")
    tasks = 25 if args.tasks is None else args.tasks
    if not 1 <= tasks <= MAX_TASKS:
        raise AnatomyUsageError(f"--tasks must be between 1 and {MAX_TASKS:,}, got {tasks}")
    torch.set_num_threads(training_threads(0))
    checkpoint = load_checkpoint(args.checkpoint)
    experiment = checkpoint.experiment()
    batch = _read_batch(args, experiment) if files else \
        sample_batch(checkpoint.config, tasks, args.seed or 0)
    anatomy = meta_gradient_anatomy(experiment.learner, checkpoint.state, batch,
                                    differentiation=args.differentiation, measure_cost=args.cost)
    if not all(math.isfinite(v) for v in anatomy.norms.values()):
        raise AnatomyUsageError("the meta-gradient is NaN or infinite at these weights: the inner "
                                "loop diverges on these tasks (its step size is too large for them)")
    if args.json:
        print(json.dumps(anatomy.to_json(), indent=2))
    else:
        print(_table(anatomy, checkpoint.config))
    return 0


def _read_batch(args, experiment):
    import torch

    from maml_studio.pointsets import read_points
    from maml_studio.tasks import TaskBatch

    family = experiment.family
    classes = family.num_classes if family.kind == "classification" else None
    sets = [read_points(path, family.dim_in, family.target_dim, need_y=True, num_classes=classes)
            for path in (args.support, args.query)]
    support, query = sets
    if support.x.shape[0] != query.x.shape[0]:
        raise AnatomyUsageError(f"{args.query}: {query.x.shape[0]} tasks, the support file has "
                                f"{support.x.shape[0]}")
    if support.x.shape[1] == 0 or query.x.shape[1] == 0:
        raise AnatomyUsageError("every task needs at least one support and one query point")
    count = support.x.shape[0]
    if count > MAX_TASKS:
        raise AnatomyUsageError(f"{args.support}: {count:,} tasks, at most {MAX_TASKS:,}")
    return TaskBatch(support.x, support.y, query.x, query.y, torch.zeros(count, 0))


def _table(anatomy, config) -> str:
    alg = config.algorithm
    how = (f"second-order MAML at these weights (inner step {alg.inner_lr:g}, "
           f"{alg.inner_steps} step{'s' if alg.inner_steps != 1 else ''})"
           if anatomy.differentiation == "maml" else
           f"the run's own inner loop ({alg.name}, {'first' if anatomy.first_order else 'second'} "
           f"order)")
    lines = [f"{config.task.family}, {alg.name} checkpoint, {anatomy.tasks} tasks: {how}",
             f"  cosine(MAML, first-order)   {_number(anatomy.cosine_maml_fomaml)}",
             f"  cosine(MAML, Reptile)       {_number(anatomy.cosine_maml_reptile)}",
             f"  second-order ratio          {_number(anatomy.second_order_ratio)}"
             "   ||g_MAML - g_FO|| / ||g_MAML||",
             f"  mean query loss after the inner steps  {anatomy.query_loss:.4g}"]
    if anatomy.cost is not None:
        lines.append(f"  one meta-step of the run    {anatomy.cost.milliseconds:.2f} ms, "
                     f"peak memory {anatomy.cost.peak_memory_mb:.2f} MB")
    width = max(len(name) for name in anatomy.names) + 2
    lines.append("")
    lines.append("norms".ljust(width) + "".join(f"{title:>14}" for title in PART_TITLES.values()))
    rows = [("all", anatomy.norms), *anatomy.per_layer.items()]
    for name, norms in rows:
        lines.append(name.ljust(width) + "".join(f"{norms[part]:>14.4g}" for part in PART_TITLES))
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.6f}" if math.isfinite(value) else "undefined"
