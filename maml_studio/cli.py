"""The ``maml-studio`` command: gui, train, eval, compare, sweep, adapt, figure, bench, families.

This interface is a contract other tools rely on; keep it stable. Every
failure is one clear line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from maml_studio import __version__, anatomy_command
from maml_studio.command_checks import check_writable as _check_writable
from maml_studio.errors import UsageError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.self_test:
        import importlib

        # Loaded by name so that the command line itself stays free of Qt.
        return importlib.import_module("maml_studio.gui.self_test").run_self_test()
    if args.command is None:
        args = parser.parse_args(["gui", *(argv or sys.argv[1:])])
    try:
        status = args.handler(args)
        _finish_compiles()
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into a pager or `head` that closed early
        sys.stderr.close()
        return 0
    except Exception as exc:  # every expected failure type carries a user-facing message
        from maml_studio.anatomy_command import AnatomyUsageError
        from maml_studio.checkpoint import CheckpointError
        from maml_studio.compare import CompareError
        from maml_studio.errors import ConfigError
        from maml_studio.figure_data import FigureError
        from maml_studio.inputs import one_line
        from maml_studio.pointsets import PointFileError

        if isinstance(exc, UsageError | ConfigError | CheckpointError | PointFileError | FigureError
                                | CompareError | AnatomyUsageError | OSError):
            print(f"maml-studio {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
            return EXIT_ERROR
        if isinstance(exc, MemoryError):
            print(f"maml-studio {args.command}: error: out of memory; use fewer tasks or points",
                  file=sys.stderr)
            return EXIT_ERROR
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="maml-studio",
        description="Meta-learning workbench: train, evaluate and explore MAML and friends.",
    )
    parser.add_argument("--version", action="version", version=f"maml-studio {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation offscreen (window, training, adaptation, "
                             "checkpoints) and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop app (the default command)")
    source = gui.add_mutually_exclusive_group()
    source.add_argument("--preset", help="start from a bundled preset")
    source.add_argument("--config", type=Path, help="start from a config file (TOML or JSON)")
    source.add_argument("--open", type=Path, dest="open_file",
                        help="open a checkpoint or session file")
    gui.add_argument("--autostart", action="store_true", help="start training at once")
    gui.set_defaults(handler=_run_gui)

    train = sub.add_parser("train", help="meta-train from a preset or config, write a checkpoint")
    _add_config_source(train, required=True)
    train.add_argument("--iterations", type=int, help="override training.iterations")
    train.add_argument("--seed", type=int, help="override training.seed")
    train.add_argument("--device", help="override training.device (auto, cpu, cuda, mps)")
    train.add_argument("--compile", choices=("auto", "off", "wait"), help="override training.compile")
    train.add_argument("--out", type=Path, required=True,
                       help="checkpoint file to write (an existing one is kept unless --overwrite)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace an existing --out when the run completes (an interrupted or "
                            "failed run is written beside it instead)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--workspace", type=Path, nargs="?", const="default", default=None,
                       help="also keep the run in a workspace the window lists (its folder; "
                            "without one, the default workspace)")
    train.set_defaults(handler=_run_train)

    ev = sub.add_parser("eval", help="the paper's evaluation protocol on fresh tasks")
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("--shots", type=int, help="support points per task, per class for classifiers "
                                              "(default: the training K)")
    ev.add_argument("--steps", default="0,1,5,10", help="comma-separated step counts")
    ev.add_argument("--tasks", type=int, default=600)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--query-points", type=int, default=100,
                    help="query points per task, per class for classifiers")
    ev.add_argument("--lr", type=float, help="inner step size (default: the checkpoint's)")
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ev.set_defaults(handler=_run_eval)

    cmp = sub.add_parser("compare", help="train algorithms × seeds into a workspace, evaluate each "
                                          "and write a summary table")
    _add_config_source(cmp, required=True)
    cmp.add_argument("--algorithms", required=True,
                     help="comma-separated, e.g. maml,fomaml,reptile,anil,metasgd")
    cmp.add_argument("--seeds", type=int, default=1,
                     help="seeds per algorithm, counting up from training.seed (default 1)")
    cmp.add_argument("--iterations", type=int, help="override training.iterations")
    cmp.add_argument("--shots", type=int, help="evaluation support points per task, per class for "
                                               "classifiers (default: the training K)")
    cmp.add_argument("--steps", default="0,1,5,10", help="comma-separated step counts to evaluate")
    cmp.add_argument("--tasks", type=int, default=600, help="evaluation tasks (default 600)")
    cmp.add_argument("--out", type=Path, required=True,
                     help="workspace folder: a checkpoint per run, summary.csv and summary.md")
    cmp.add_argument("--json", action="store_true", help="also print the summary as JSON")
    cmp.add_argument("--quiet", action="store_true", help="no progress bars")
    cmp.set_defaults(handler=_run_compare)

    from maml_studio.sweep_cli import HELP as SWEEP_HELP
    from maml_studio.sweep_cli import add_sweep_arguments

    sweep = sub.add_parser("sweep", help=SWEEP_HELP)
    _add_config_source(sweep, required=True)
    add_sweep_arguments(sweep)
    sweep.set_defaults(handler=_run_sweep)

    ad = sub.add_parser("adapt", help="adapt to your own support points and write predictions")
    ad.add_argument("checkpoint", type=Path)
    ad.add_argument("--support", type=Path, required=True, help="CSV (one task) or NPZ (many)")
    ad.add_argument("--steps", type=int, required=True)
    ad.add_argument("--lr", type=float, help="inner step size (default: the checkpoint's)")
    ad.add_argument("--query", type=Path, help="inputs to predict at (default: a 200-point grid, "
                                               "or a 50×50 grid of the plane for 2-D classifiers)")
    ad.add_argument("--model", choices=("maml", "pretrained"), default="maml")
    ad.add_argument("--out", type=Path, required=True)
    ad.set_defaults(handler=lambda args: _point_commands().run_adapt(args))

    anatomy_command.add_parser(sub)

    fig = sub.add_parser("figure", help="draw the adaptation figure (or the paper's Figure 2) as "
                                        "PNG, SVG, animated GIF or MP4, without a window")
    fig.add_argument("checkpoint", type=Path)
    points = fig.add_mutually_exclusive_group()
    points.add_argument("--points", type=Path, help="support points: a CSV with columns x, y")
    points.add_argument("--sample-task", action="store_true",
                        help="draw a task of the family and K points of it (the default without --points)")
    fig.add_argument("--shots", type=int, default=10, help="K, the points of a sampled task (default 10)")
    fig.add_argument("--seed", type=int, default=0, help="seed of the sampled task")
    fig.add_argument("--steps", default="0,1,10",
                     help="comma-separated step counts to draw (a .gif or .mp4 animates 0 … the largest)")
    fig.add_argument("--lr", type=float, help="inner step size (default: the checkpoint's)")
    fig.add_argument("--paper", action="store_true",
                     help="the MAML paper's Figure 2: MAML and pretrained in two panels")
    fig.add_argument("--theme", choices=("light", "dark"), default="light")
    fig.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT in pixels (default 1920x1080)")
    fig.add_argument("--out", type=Path, required=True,
                     help="FIG.png, FIG.svg, ANIM.gif or ANIM.mp4 (MP4 needs the video extra)")
    fig.set_defaults(handler=lambda args: _point_commands().run_figure(args))

    bench = sub.add_parser("bench", help="measure meta-training speed and memory")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--seconds", type=float, default=3.0, help="timing budget per measurement")
    bench.add_argument("--no-compile", action="store_true", help="skip the compiled measurement")
    bench.add_argument("--gui", action="store_true",
                       help="measure the window's responsiveness while it trains (offscreen)")
    bench.set_defaults(handler=_run_bench)

    fam = sub.add_parser("families", help="list the task families and their parameters")
    fam.add_argument("--json", action="store_true")
    fam.set_defaults(handler=_run_families)

    presets = sub.add_parser("presets", help="list the bundled presets")
    presets.set_defaults(handler=_run_presets)
    return parser


def _add_config_source(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--preset", help="a bundled preset (see `maml-studio presets`)")
    group.add_argument("--config", type=Path, help="a config file (TOML or JSON)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a field, e.g. --set algorithm.inner_lr=0.02")


def _load_config(args):
    from maml_studio.config import load_config, load_preset

    config = load_preset(args.preset) if args.preset else load_config(args.config)
    for assignment in args.set:
        config.set_from_string(assignment)
    for key, value in (("training.iterations", getattr(args, "iterations", None)),
                       ("training.seed", getattr(args, "seed", None)),
                       ("training.device", getattr(args, "device", None)),
                       ("training.compile", getattr(args, "compile", None))):
        if value is not None:
            config.set(key, value)
    config.check()
    return config


# -- gui ------------------------------------------------------------------------------------------
def _run_gui(args) -> int:
    import importlib

    # Loaded by name so that the command line itself stays free of Qt.
    try:
        run_app = importlib.import_module("maml_studio.gui.app").run_app
    except ImportError as exc:
        raise UsageError(f"the desktop app cannot start: {exc}") from None
    return run_app(preset=args.preset, config=args.config, open_file=args.open_file,
                   autostart=args.autostart)


# -- train ----------------------------------------------------------------------------------------
def _run_train(args) -> int:
    from maml_studio.checkpoint import Checkpoint, save_checkpoint
    from maml_studio.memory import check_memory
    from maml_studio.training import Trainer
    from maml_studio.training_progress import follow, progress_bar

    config = _load_config(args)
    _check_writable(args.out, args.overwrite)  # before training: a run is never lost to a bad path
    check_memory(config)  # before anything is allocated
    store = _workspace(args.workspace)  # a workspace that cannot be used is refused up front
    trainer = Trainer(config)
    started = time.perf_counter()
    bar = None if args.quiet else progress_bar(config.training.iterations)
    interrupted = 0
    received: list[int] = []

    def on_interrupt(signum, frame):
        nonlocal interrupted
        interrupted += 1
        received.append(signum)
        if interrupted > 1:
            raise KeyboardInterrupt
        trainer.stop()
        _say(bar, "stopping after this step and saving (Ctrl-C again to quit without saving)")

    previous = {sig: signal.signal(sig, on_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        finished = follow(trainer, bar)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.close()
    snapshot = trainer.snapshot()
    out = args.out
    if finished.status != "completed" and out.exists():
        out = _beside(out, finished.iteration)  # a partial run never replaces a file
    checkpoint = Checkpoint(config, snapshot["state"], snapshot["baseline"], trainer.history)
    save_checkpoint(checkpoint, out)
    if store is not None and finished.iteration > 0:
        seconds = time.perf_counter() - started
        run = store.add(checkpoint, status=finished.status, seconds=seconds,
                        iterations_per_second=finished.iteration / seconds)
        print(f"kept the run as {run.name!r} in the workspace {store.folder}", file=sys.stderr)
    for line in finished.message.splitlines():
        print(line, file=sys.stderr)
    if out != args.out:
        print(f"kept the existing {args.out}; wrote the partial run "
              f"({finished.iteration:,} iterations) to {out}", file=sys.stderr)
    else:
        done = "" if finished.status == "completed" else \
            f" (a partial run: {finished.iteration:,} iterations)"
        print(f"wrote {out}{done}", file=sys.stderr)
    if finished.status == "diverged":
        return 1
    if finished.status == "stopped":
        return 128 + received[0] if received else EXIT_INTERRUPTED
    return 0


def _workspace(folder: Path | None):
    """The run store of ``--workspace`` (None when not asked for)."""
    if folder is None:
        return None
    from maml_studio.run_store import RunStore

    return _warned(RunStore(None if str(folder) == "default" else folder))


def _warned(store):
    """A store that says on stderr when its index cannot be written (the runs' files are safe)."""
    def say(problem: str | None) -> None:
        if problem is not None:
            print(f"warning: {problem}; every run is in its own file, and the index is rebuilt "
                  "from them when the workspace is next opened", file=sys.stderr)

    say(store.index_problem)  # opening the workspace writes its index too
    store.index_problem_changed.connect(say)
    return store


def _beside(path: Path, iteration: int) -> Path:
    """A free file name next to ``path`` for a partial run: NAME.partial-ITERATION[-N].SUFFIX."""
    for number in range(1000):
        extra = f"-{number}" if number else ""
        candidate = path.with_name(f"{path.stem}.partial-{iteration}{extra}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise UsageError(f"--out {path}: no free name beside it for the partial run")


def _say(bar, message: str) -> None:
    from maml_studio.training_progress import say

    say(bar, message)


# -- eval -----------------------------------------------------------------------------------------
def _run_eval(args) -> int:
    from maml_studio.eval_command import run_eval

    return run_eval(args)


def _run_compare(args) -> int:
    from maml_studio.compare import check_counts, compare, parse_algorithms, parse_steps, summary_json
    from maml_studio.run_store import RunStore

    algorithms = parse_algorithms(args.algorithms)  # refused before anything is read or made
    steps = parse_steps(args.steps)
    check_counts(args.seeds, args.shots, args.tasks)
    config = _load_config(args)
    store = _warned(RunStore(args.out))
    for line in store.repairs:
        print(f"workspace {args.out}: {line}", file=sys.stderr)
    comparison = compare(config, algorithms, args.seeds, store, shots=args.shots, steps=steps,
                         tasks=args.tasks, progress=not args.quiet)
    if comparison.results:
        count = len(comparison.results)
        csv_path, md_path = comparison.summary_paths
        print(f"wrote {count} run{'' if count == 1 else 's'} to {args.out} and their summary to "
              f"{csv_path} and {md_path.name}", file=sys.stderr)
    else:
        print("no run finished and was evaluated: no summary written", file=sys.stderr)
    if args.json:
        print(json.dumps(summary_json(comparison), indent=2))
    if comparison.interrupted:
        return 128 + comparison.signals[0]
    return 0


# -- sweep ----------------------------------------------------------------------------------------
def _run_sweep(args) -> int:
    from maml_studio.sweep_cli import run_sweep_command

    return run_sweep_command(args, _load_config)


def _run_bench(args) -> int:
    if args.gui:
        import importlib

        # Loaded by name so that the command line itself stays free of Qt.
        gui_bench = importlib.import_module("maml_studio.gui.bench_gui")
        report = gui_bench.run_gui_bench(seconds=max(args.seconds, 2.0),
                                         log=lambda m: print(m, file=sys.stderr))
        print(json.dumps(report, indent=2) if args.json else gui_bench.format_gui_report(report))
        return 0
    from maml_studio.bench import format_report, run_bench

    report = run_bench(seconds=args.seconds, compile=not args.no_compile,
                       log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _run_families(args) -> int:
    from maml_studio.tasks import GRAMMAR, TASK_FILES_HELP, family_summaries

    summaries = family_summaries()
    if args.json:
        user = [{"name": "formula", "kind": "regression or classification", "grammar": GRAMMAR},
                {"name": "tasks", "kind": "regression or classification", "help": TASK_FILES_HELP}]
        print(json.dumps(summaries + user, indent=2, ensure_ascii=False))
        return 0
    for info in summaries:
        dims = f"{info['dim_in']} → {info['dim_out']}" if info["kind"] == "regression" else \
            f"{info['dim_in']}-D inputs, {info['num_classes']} classes"
        print(f"{info['name']}  ({info['title']}, {info['kind']}, {dims}, "
              f"x in [{info['x_range'][0]:g}, {info['x_range'][1]:g}])")
        print(f"    {info['description']}")
        for pname, p in info["parameters"].items():
            print(f"    {pname:<22} {p['symbol']:<4} [{p['range'][0]:g}, {p['range'][1]:g}]  "
                  f"{p['description']}")
        if "members" in info:
            print(f"    members: {', '.join(info['members'])}")
    print("\nformula  (your own expression, regression or classification)")
    print("    " + GRAMMAR.replace("\n", "\n    "))
    print("\ntasks  (your own tasks from files, regression or classification)")
    print("    " + TASK_FILES_HELP.replace("\n", "\n    "))
    return 0


def _run_presets(args) -> int:
    from maml_studio.config import load_preset
    from maml_studio.resources import preset_names

    for name in preset_names():
        cfg = load_preset(name)
        print(f"{name:<18} {cfg.task.family:<11} {cfg.algorithm.name:<8} "
              f"{cfg.training.iterations:>7} iterations")
    return 0


def _point_commands():
    from maml_studio import point_commands

    return point_commands


def _finish_compiles() -> None:
    """Say why the process does not end yet: a run that ended early left its compile going
    (it finishes into the compile cache, so later runs start compiled sooner)."""
    compilation = sys.modules.get("maml_studio.compilation")
    if compilation is not None and (count := compilation.pending_compiles()):
        print(f"finishing {count} background compile{'s' if count > 1 else ''} before exiting "
              "(kept in the compile cache for later runs)…", file=sys.stderr)
