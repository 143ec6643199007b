"""``maml-studio sweep``: its options and its body (the command line only registers them).

Loading this module imports nothing heavy: Optuna, torch and the engine are imported
when the command runs, so ``maml-studio --help`` stays fast and works without Optuna.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

HELP = "search hyperparameters with Optuna: trials of one study, shared by any number of workers"


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``sweep`` beside ``--preset``/``--config`` and ``--set``."""
    parser.add_argument("--space", type=Path, required=True,
                        help="SPACE.toml: config fields and their ranges, e.g. "
                             "\"algorithm.inner_lr\" = { low = 0.001, high = 0.5, log = true }")
    parser.add_argument("--trials", type=int, default=20,
                        help="the study ends with this many complete trials, counted over every "
                             "worker (default 20)")
    parser.add_argument("--timeout", type=float,
                        help="start no trial after this many seconds (the one under way finishes)")
    parser.add_argument("--storage",
                        help="the study's database: sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB "
                             "(default: sweeps.db in the workspace)")
    parser.add_argument("--study", help="the study's name (default: the space file's name); workers "
                                        "with the same name and storage share it")
    parser.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe",
                        help="how trials are chosen (default tpe; grid needs lists, whole-number "
                             "ranges or float ranges with a step)")
    parser.add_argument("--prune", action="store_true",
                        help="stop trials worse than the median of finished ones at the same iteration")
    parser.add_argument("--workspace", type=Path,
                        help="where each trial's run is kept (default: the default workspace)")
    parser.add_argument("--tasks", type=int, default=None,
                        help="validation tasks every trial is scored on (default 200)")
    parser.add_argument("--steps", type=int, default=None,
                        help="adaptation steps before scoring (default: algorithm.test_inner_steps)")
    parser.add_argument("--shots", type=int, default=None,
                        help="support points per validation task, per class for classifiers "
                             "(default: each trial's K)")
    parser.add_argument("--heartbeat", type=int, default=None,
                        help="seconds between a running trial's heartbeats; a trial silent for three "
                             "is taken as lost and queued again (default 10)")


def run_sweep_command(args: argparse.Namespace, load_config: Callable) -> int:
    """Check everything, then run trials until the study is complete; the exit status."""
    from maml_studio.sweep_storage import require_optuna

    require_optuna()  # before anything else: without it, one line says how to get it
    from maml_studio.run_store import RunStore
    from maml_studio.sweep import run_sweep
    from maml_studio.sweep_plan import DEFAULT_HEARTBEAT, DEFAULT_TASKS, Protocol, SweepPlan, summary_lines
    from maml_studio.sweep_space import load_space
    from maml_studio.sweep_storage import default_storage_url

    space = load_space(args.space)
    config = load_config(args)
    protocol = Protocol.for_config(config, steps=args.steps, shots=args.shots,
                                   tasks=DEFAULT_TASKS if args.tasks is None else args.tasks)
    plan = SweepPlan(config, space, study=args.study or args.space.stem, storage=args.storage or "",
                     trials=args.trials, timeout=args.timeout, sampler=args.sampler, prune=args.prune,
                     protocol=protocol,
                     heartbeat=DEFAULT_HEARTBEAT if args.heartbeat is None else args.heartbeat)
    plan.check()  # every refusal before a folder or a database is made
    store = RunStore(args.workspace)
    for line in store.repairs:
        print(f"workspace {store.folder}: {line}", file=sys.stderr)
    plan.storage = args.storage or default_storage_url(store.folder)
    outcome = run_sweep(plan, store)
    for line in summary_lines(outcome, protocol, space):
        print(line)
    if outcome.interrupted:
        return 128 + outcome.signals[0]
    return 0
