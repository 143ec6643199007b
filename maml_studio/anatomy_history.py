"""The meta-gradient anatomy of a run over its iterations, without Qt: what the view draws.

While a run trains, samples of `maml_studio.anatomy.meta_gradient_anatomy` on the
meta-batch training just used arrive every so often (`anatomy_sampler`); this
model keeps them in order, with the anatomy of the model on show on a batch of
fresh tasks (`still`) for when nothing trains. The Meta-gradient view binds to
its events. A run's samples travel with its checkpoint as JSON in the
checkpoint's metadata (`to_json`, `from_json`), read back with every value
checked, so a hostile file can at worst lose its samples.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
from psygnal import Signal

from maml_studio.anatomy import PARTS, Anatomy
from maml_studio.inputs import DocumentError, parse_json

METADATA_KEY = "meta_gradient_anatomy"  # the checkpoint metadata entry that holds the samples
FORMAT = "maml-studio-anatomy-history"
MAX_SAMPLES = 4000  # beyond this, every other sample is dropped (a run's shape stays visible)
MAX_LAYERS = 64
SCALARS = ("cosine_maml_fomaml", "cosine_maml_reptile", "second_order_ratio", "milliseconds",
           "peak_memory_mb", "query_loss", "seconds")


@dataclass(frozen=True)
class AnatomySample:
    """One anatomy of a run at one iteration (NaN where a value is not known)."""

    iteration: int
    cosine_maml_fomaml: float
    cosine_maml_reptile: float
    second_order_ratio: float
    norms: dict[str, float]  # PARTS → norm
    per_layer: dict[str, dict[str, float]]  # tensor name → PARTS → norm
    # While training: the run's wall time per meta-iteration since the previous sample; for the
    # model on show: one eager meta-step, timed (median of repeats).
    milliseconds: float = math.nan
    peak_memory_mb: float = math.nan  # tensor memory of one meta-step, above what existed before
    query_loss: float = math.nan  # mean query loss after the inner steps
    tasks: int = 0
    seconds: float = math.nan  # what computing this sample took
    first_order: bool = False  # g_MAML was taken first-order (never, in the view's "maml" mode)
    layers: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def of(cls, anatomy: Anatomy, iteration: int, seconds: float = math.nan) -> AnatomySample:
        cost = anatomy.cost
        return cls(int(iteration), anatomy.cosine_maml_fomaml, anatomy.cosine_maml_reptile,
                   anatomy.second_order_ratio, dict(anatomy.norms),
                   {name: dict(parts) for name, parts in anatomy.per_layer.items()},
                   cost.milliseconds if cost else math.nan,
                   cost.peak_memory_mb if cost else math.nan, anatomy.query_loss, anatomy.tasks,
                   float(seconds), anatomy.first_order, tuple(anatomy.per_layer))

    def value(self, name: str) -> float:
        """A scalar by name (one of `SCALARS`) or ``"norm:PART"``."""
        if name.startswith("norm:"):
            return self.norms.get(name[5:], math.nan)
        return float(getattr(self, name))


class AnatomyHistory:
    """Samples in iteration order; emits `reset`, `extended` and `still_changed`."""

    reset = Signal()  # cleared, loaded or thinned: redraw everything
    extended = Signal(int)  # samples added at the end
    still_changed = Signal()  # the anatomy of the model on show on fresh tasks

    def __init__(self) -> None:
        self.samples: list[AnatomySample] = []
        self.still: AnatomySample | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def clear(self) -> None:
        self.samples = []
        self.reset.emit()

    def append(self, sample: AnatomySample) -> bool:
        """Add a sample of a later iteration than the last one; False (and nothing changes) if not."""
        if self.samples and sample.iteration <= self.samples[-1].iteration:
            return False
        self.samples.append(sample)
        if len(self.samples) > MAX_SAMPLES:
            self.samples = [*self.samples[:-1:2], self.samples[-1]]  # the latest stays
            self.reset.emit()
        else:
            self.extended.emit(1)
        return True

    def set_still(self, sample: AnatomySample | None) -> None:
        self.still = sample
        self.still_changed.emit()

    def replace(self, samples: list[AnatomySample]) -> None:
        """Show these samples instead (a loaded run's); they are sorted and deduplicated."""
        kept: dict[int, AnatomySample] = {}
        for sample in samples:
            kept[sample.iteration] = sample
        self.samples = [kept[i] for i in sorted(kept)][-MAX_SAMPLES:]
        self.reset.emit()

    # -- columns for drawing ----------------------------------------------------------------------
    def iterations(self) -> np.ndarray:
        return np.array([s.iteration for s in self.samples], dtype=float)

    def column(self, name: str) -> np.ndarray:
        """A scalar of every sample (see `AnatomySample.value`), NaN where unknown."""
        return np.array([s.value(name) for s in self.samples], dtype=float)

    def layer_names(self) -> tuple[str, ...]:
        """The parameter tensors of the samples, in the network's order."""
        names: dict[str, None] = {}
        for sample in self.samples[-1:] or ([self.still] if self.still else []):
            names.update(dict.fromkeys(sample.per_layer))
        return tuple(names)

    def layer_column(self, layer: str, part: str) -> np.ndarray:
        return np.array([s.per_layer.get(layer, {}).get(part, math.nan) for s in self.samples],
                        dtype=float)

    def stride(self) -> float | None:
        """The median number of meta-iterations between samples, once there are two."""
        if len(self.samples) < 2:
            return None
        return float(np.median(np.diff(self.iterations()[-200:])))

    def latest(self) -> AnatomySample | None:
        return self.samples[-1] if self.samples else None

    # -- with the run's checkpoint ----------------------------------------------------------------
    def to_json(self) -> str:
        """The samples as compact JSON (NaN as null), for a checkpoint's metadata."""
        layers = list(self.layer_names())
        rows = []
        for s in self.samples:
            row = [s.iteration, *(s.value(name) for name in SCALARS),
                   *(s.norms.get(part, math.nan) for part in PARTS), s.tasks]
            row += [s.per_layer.get(layer, {}).get(part, math.nan) for layer in layers
                    for part in PARTS]
            rows.append([_number(v) for v in row])
        return json.dumps({"format": FORMAT, "version": 1, "layers": layers, "parts": list(PARTS),
                           "scalars": list(SCALARS), "rows": rows}, separators=(",", ":"))


def _number(value):
    if isinstance(value, int):
        return value
    return round(float(value), 7) if math.isfinite(value) else None


def from_json(text: str) -> list[AnatomySample]:
    """The samples `AnatomyHistory.to_json` wrote; ValueError, saying why, for anything else."""
    try:
        data = parse_json(text)
    except DocumentError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != 1:
        raise ValueError("not a meta-gradient anatomy history of this version")
    layers, parts, scalars, rows = (data.get(k) for k in ("layers", "parts", "scalars", "rows"))
    if parts != list(PARTS) or scalars != list(SCALARS):
        raise ValueError("its columns are not the ones this version writes")
    if not (isinstance(layers, list) and len(layers) <= MAX_LAYERS
            and all(isinstance(n, str) and 0 < len(n) <= 100 for n in layers)
            and len(set(layers)) == len(layers)):
        raise ValueError("its layer names are unusable")
    if not isinstance(rows, list) or len(rows) > MAX_SAMPLES:
        raise ValueError(f"it must hold a list of at most {MAX_SAMPLES} samples")
    width = 1 + len(SCALARS) + len(PARTS) + 1 + len(layers) * len(PARTS)
    samples = []
    for row in rows:
        if not isinstance(row, list) or len(row) != width:
            raise ValueError(f"every sample holds {width} values")
        iteration, tasks = row[0], row[1 + len(SCALARS) + len(PARTS)]
        if not (_is_int(iteration) and 0 <= iteration < 2**53 and _is_int(tasks)
                and 0 <= tasks < 2**31):
            raise ValueError("a sample's iteration or task count is not a whole number in range")
        values = [_float(v) for v in row[1:1 + len(SCALARS) + len(PARTS)]]
        scalar = dict(zip(SCALARS, values[:len(SCALARS)], strict=True))
        norms = dict(zip(PARTS, values[len(SCALARS):], strict=True))
        rest = [_float(v) for v in row[2 + len(SCALARS) + len(PARTS):]]
        per_layer = {layer: dict(zip(PARTS, rest[i * len(PARTS):(i + 1) * len(PARTS)], strict=True))
                     for i, layer in enumerate(layers)}
        samples.append(AnatomySample(iteration, scalar["cosine_maml_fomaml"],
                                     scalar["cosine_maml_reptile"], scalar["second_order_ratio"],
                                     norms, per_layer, scalar["milliseconds"],
                                     scalar["peak_memory_mb"], scalar["query_loss"], tasks,
                                     scalar["seconds"], False, tuple(layers)))
    return samples


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _float(value) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("a sample holds a value that is not a finite number or null")
    return float(value)
