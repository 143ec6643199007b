"""A training run followed on the terminal: a tqdm bar with the loss and the validations.

`train` and `compare` both run a `Trainer` to its end this way; messages (a compile
that finished, a stop requested) are written above the bar so that it stays intact.
"""

from __future__ import annotations

import sys

from maml_studio.training import CompileStatus, Finished, Progress, Trainer, Validation


def progress_bar(total: int, description: str | None = None):
    from tqdm import tqdm

    return tqdm(total=total, unit="it", dynamic_ncols=True, file=sys.stderr, smoothing=0.1,
                desc=description)


def say(bar, message: str) -> None:
    """A line on stderr, above the bar when there is one."""
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def follow(trainer: Trainer, bar) -> Finished | None:
    """Run ``trainer`` to its end, showing its progress on ``bar`` (None: silently)."""
    finished = None
    postfix: dict[str, str] = {}
    for event in trainer.run():
        if isinstance(event, Progress) and bar is not None:
            bar.update(event.iteration - bar.n)
            postfix["loss"] = f"{event.train_loss:.3f}"
            bar.set_postfix(postfix, refresh=False)
        elif isinstance(event, Validation):
            postfix["val after"] = f"{event.after:.3f}"
            if event.accuracy_after is not None:
                postfix["val acc"] = f"{100 * event.accuracy_after:.1f}%"
            if event.baseline_after is not None:
                postfix["baseline"] = f"{event.baseline_after:.3f}"
        elif isinstance(event, CompileStatus) and event.status != "off":
            say(bar, f"compile: {event.message}")
        elif isinstance(event, Finished):
            finished = event
    return finished
