"""The commands that adapt a checkpoint to points: ``adapt`` (predictions) and ``figure`` (images)."""

from __future__ import annotations

import sys

from maml_studio.command_checks import check_writable, engine_threads
from maml_studio.errors import UsageError


def run_adapt(args) -> int:
    """``maml-studio adapt``: adapt to the points of a file and write the predictions."""
    import torch

    from maml_studio.adaptation import adapt_and_predict
    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.memory import tasks_per_chunk
    from maml_studio.pointsets import read_points, write_predictions

    if args.steps < 0 or args.steps > 100000:
        raise UsageError(f"--steps must be between 0 and 100000, got {args.steps}")
    if args.out.suffix.lower() not in (".csv", ".npz"):
        raise UsageError(f"--out {args.out}: name a .csv file (one task) or an .npz file (many)")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    engine_threads()
    checkpoint = load_checkpoint(args.checkpoint)
    experiment = checkpoint.experiment()
    family = experiment.family
    if args.model == "pretrained":
        if checkpoint.baseline_state is None:
            raise UsageError(f"{args.checkpoint} holds no pretrained baseline (trained without it)")
        learner, state = experiment.baseline, checkpoint.baseline_state
    else:
        learner, state = experiment.learner, checkpoint.state
    classes = family.num_classes if family.kind == "classification" else None
    support = read_points(args.support, family.dim_in, family.target_dim, need_y=True,
                          num_classes=classes)
    if args.query is not None:
        query_x = read_points(args.query, family.dim_in, family.target_dim, need_y=False).x
        if query_x.shape[0] != support.x.shape[0]:
            raise UsageError(f"{args.query}: {query_x.shape[0]} tasks, the support file has "
                             f"{support.x.shape[0]}")
    elif family.dim_in == 1 and classes is None:
        query_x = family.grid(200).expand(support.x.shape[0], 200, 1)
    elif family.dim_in == 2 and classes is not None:
        query_x = family.plane(50).expand(support.x.shape[0], -1, -1)  # 50×50 over the x range
    else:
        raise UsageError(f"the '{family.name}' family has {family.dim_in}-D inputs: give --query")
    as_npz = args.out.suffix.lower() == ".npz"
    if not as_npz and support.x.shape[0] > 1:
        raise UsageError(f"{support.x.shape[0]} tasks need an .npz --out (a CSV holds one task)")
    # Tasks in chunks, so memory does not grow with their number.
    chunk = tasks_per_chunk(checkpoint.config, support.x.shape[1] + query_x.shape[1])
    outputs = []
    for start in range(0, support.x.shape[0], chunk):
        part = slice(start, start + chunk)
        result = adapt_and_predict(learner, state, support.x[part], support.y[part], query_x[part],
                                   args.steps, lr=args.lr, every_step=False)
        if result.diverged_at == 0:
            raise UsageError("the model's predictions are NaN or infinite before any step: "
                             "inputs this far outside the training range are out of its reach")
        if result.diverged_at is not None:
            raise UsageError(f"adaptation diverged at step {result.diverged_at} "
                             f"(the inner step size is too large); try a smaller --lr")
        outputs.append(result.predictions[-1].to(torch.float32))
    output = torch.cat(outputs)
    if classes is None:
        write_predictions(args.out, query_x, output, as_npz)
    else:
        from maml_studio.losses import class_probabilities, predicted_class

        write_predictions(args.out, query_x, predicted_class(output).unsqueeze(-1).float(), as_npz,
                          probabilities=class_probabilities(output))
    print(f"wrote predictions after {args.steps} step{'s' if args.steps != 1 else ''} to {args.out}",
          file=sys.stderr)
    return 0


def run_figure(args) -> int:
    """``maml-studio figure``: the adaptation figure (or the paper's) as an image or animation."""
    import importlib
    import importlib.util

    from maml_studio.checkpoint import load_checkpoint
    from maml_studio.figure_data import check_family, compute_figure, parse_size, parse_steps, sample_task
    from maml_studio.pointsets import read_points

    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".svg", ".gif", ".mp4"):
        raise UsageError(f"--out {args.out}: name a .png, .svg, .gif or .mp4 file")
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise UsageError("MP4 needs imageio-ffmpeg: pip install 'maml-studio[video]' (or write a .gif)")
    check_writable(args.out, overwrite=True)
    steps, size = parse_steps(args.steps), parse_size(args.size)
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if not 1 <= args.shots <= 1000:
        raise UsageError(f"--shots must be between 1 and 1000, got {args.shots}")
    engine_threads()
    checkpoint = load_checkpoint(args.checkpoint)
    family = check_family(checkpoint)
    if args.paper and checkpoint.baseline_state is None:
        raise UsageError(f"{args.checkpoint} holds no pretrained baseline: --paper needs one")
    if args.points is not None:
        support = read_points(args.points, family.dim_in, family.target_dim, need_y=True)
        if support.x.shape[0] != 1:
            raise UsageError(f"{args.points}: {support.x.shape[0]} tasks; figure draws one")
        points = torch_to_points(support)
        params, description = None, ""
    else:
        points, params, description = sample_task(checkpoint, args.shots, args.seed)
    data = compute_figure(checkpoint, points, params, max(steps), lr=args.lr, description=description)
    # Loaded by name so that the command line itself stays free of Qt.
    render = importlib.import_module("maml_studio.gui.figure_render")
    render.ensure_application()
    render.write_figure(data, args.out, steps, paper=args.paper, theme=args.theme, size=size)
    what = f"an animation of steps 0 … {max(steps)}" if suffix in (".gif", ".mp4") else "the figure"
    print(f"wrote {what} to {args.out}", file=sys.stderr)
    return 0


def torch_to_points(support):
    """One task's support points ``[K, 2]`` (x, y) as numpy."""
    import numpy as np

    return np.column_stack([support.x[0, :, 0].numpy(), support.y[0, :, 0].numpy()])


# -- bench, families, presets -----------------------------------------------------------------------
