"""A 2-D slice of parameter space through θ: the mean query-loss landscape, inner-loop paths
and meta-gradient arrows on it.

The slice is the plane θ + a·d₁ + b·d₂. Its directions are either

- ``"pca"`` (the default): the two leading principal directions of the
  adapted offsets U_i(θ) − θ of a batch of tasks — the right singular
  vectors of the ``[tasks, P]`` matrix of offsets, not centred, so that the
  plane holds as much of the inner loop's movement away from θ as any plane
  can; orthonormal. With two parameters (a network with no hidden layer on
  a 1-D family) they span the whole space, and the slice is exact.
- ``"random"``: two filter-normalised Gaussian directions (Li et al. 2018):
  each row of a weight direction (one unit's incoming weights) is scaled to
  the norm of the same row of θ. Li et al. set bias directions to zero; here
  each layer's bias direction is scaled to the norm of that layer's bias as
  one more filter, so that a network with few weights keeps two independent
  directions.

The landscape is the mean query loss of the batch's tasks at every point of a
grid over the plane, as forward passes batched over grid points (256 points
to a pass).
Paths are projected onto the plane by least squares (orthogonally for PCA
directions); ``path_residual`` says how far off the plane they lie. The arrows
are the projections of the descent directions −g_MAML and −g_FO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from maml_studio.algorithms import MetaLearner
from maml_studio.anatomy import Anatomy, meta_gradient_anatomy
from maml_studio.flat_params import flatten, shapes_of, unflatten
from maml_studio.losses import LossFn
from maml_studio.model import MLP, Params
from maml_studio.tasks import TaskBatch

DirectionKind = Literal["pca", "random"]
# Grid points per batched forward pass: 64×64 points in one pass took 3× longer on a 2-core
# machine than in chunks of 256, whose activations stay in the cache.
GRID_CHUNK = 256


@dataclass(frozen=True)
class SliceDirections:
    kind: str  # "pca" or "random"
    vectors: np.ndarray  # [2, P] float64, in the order of ``names``
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    explained: tuple[float, float] | None  # PCA: share of the offsets' squared length per direction


@dataclass(frozen=True)
class ParameterSlice:
    directions: SliceDirections
    alphas: np.ndarray  # [R] coordinates along d₁
    betas: np.ndarray  # [R] coordinates along d₂
    losses: np.ndarray  # [R, R]: losses[i, j] at θ + alphas[i]·d₁ + betas[j]·d₂
    paths: np.ndarray  # [tasks, steps + 1, 2]: each task's θ → U_i(θ) after every step, projected
    path_residual: float  # largest distance of a path point from the plane / its offset's length
    arrows: dict[str, np.ndarray]  # "maml", "fomaml": projected −g ([2], gradient units)
    centre_loss: float  # the landscape at θ itself
    anatomy: Anatomy | None


def _as_numpy(vector: torch.Tensor) -> np.ndarray:
    return vector.detach().double().cpu().numpy()


def _offsets(learner: MetaLearner, state: Params, batch: TaskBatch, steps: int,
             names: tuple[str, ...]) -> torch.Tensor:
    """``[tasks, steps + 1, P]``: every task's U_i(θ) − θ after 0 … ``steps`` inner steps."""
    trajectory = learner.adapt(state, batch.support_x, batch.support_y, steps)
    theta = flatten(learner.network(state), names)
    return torch.stack([flatten(params, names, batch_dims=1) for params in trajectory], dim=1) - theta


def principal_directions(learner: MetaLearner, state: Params, batch: TaskBatch,
                         steps: int | None = None) -> SliceDirections:
    """The two leading principal directions of the offsets U_i(θ) − θ (orthonormal)."""
    names = tuple(learner.model.shapes())
    steps = learner.config.inner_steps if steps is None else steps
    offsets = _offsets(learner, state, batch, steps, names)[:, -1].double()
    if offsets.shape[-1] < 2:
        raise ValueError("a slice needs at least two parameters")
    # the reduced decomposition, unless fewer tasks than directions are given
    _, singular, vh = torch.linalg.svd(offsets, full_matrices=offsets.shape[0] < 2)
    energy = float((singular ** 2).sum())
    shares = [float(s ** 2) / energy if energy > 0 else 0.0 for s in singular[:2]]
    shares += [0.0] * (2 - len(shares))
    return SliceDirections("pca", _as_numpy(vh[:2]), names, shapes_of(state, names),
                           (shares[0], shares[1]))


def random_directions(learner: MetaLearner, state: Params, seed: int = 0) -> SliceDirections:
    """Two filter-normalised random directions (Li et al. 2018), independent of each other.

    With very few parameters they can be nearly parallel: a network with no hidden
    layer on a 1-D family has two, and each direction is (±|w|, ±|b|). The
    principal directions suit such a network better.
    """
    names = tuple(learner.model.shapes())
    generator = torch.Generator().manual_seed(seed)
    first = _filter_normalised(state, names, generator)
    for _ in range(100):
        second = _filter_normalised(state, names, generator)
        cosine = float(torch.dot(first, second) / (first.norm() * second.norm()).clamp_min(1e-300))
        if abs(cosine) < 1 - 1e-6:
            return SliceDirections("random", _as_numpy(torch.stack([first, second])), names,
                                   shapes_of(state, names), None)
    raise ValueError("no two independent filter-normalised directions: the weights are too few "
                     "or zero; use the principal directions")


def _filter_normalised(state: Params, names: tuple[str, ...], generator: torch.Generator
                       ) -> torch.Tensor:
    parts = []
    for name in names:
        theta = state[name].detach().double().cpu()
        direction = torch.randn(theta.shape, generator=generator, dtype=torch.float64)
        if theta.dim() == 2:  # a weight: one filter per row (a unit's incoming weights)
            scale = theta.norm(dim=1, keepdim=True) / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
        else:  # a bias: the layer's bias as one filter
            scale = theta.norm() / direction.norm().clamp_min(1e-12)
        parts.append((direction * scale).reshape(-1))
    return torch.cat(parts)


def landscape(model: MLP, loss_fn: LossFn, theta: torch.Tensor, directions: torch.Tensor,
              alphas: torch.Tensor, betas: torch.Tensor, names: tuple[str, ...],
              shapes: tuple[tuple[int, ...], ...], query_x: torch.Tensor, query_y: torch.Tensor,
              chunk: int = GRID_CHUNK) -> torch.Tensor:
    """``[R_a, R_b]``: mean query loss over the tasks at θ + a·d₁ + b·d₂ for every grid point.

    ``theta [P]``, ``directions [2, P]``, ``query_x [T, Q, d]``. Each chunk of ``chunk``
    grid points is one forward pass of the network batched over grid points, every
    task's query points in it (`grid_forward`).
    """
    a, b = torch.meshgrid(alphas, betas, indexing="ij")
    coefficients = torch.stack([a.reshape(-1), b.reshape(-1)], dim=1).to(theta.dtype)
    tasks, points = query_x.shape[:2]
    inputs = query_x.reshape(tasks * points, -1)
    losses = []
    with torch.no_grad():
        for part in coefficients.split(chunk):
            params = unflatten(theta + part @ directions, names, shapes)  # [G, …] each
            output = grid_forward(model, params, inputs)
            per_task = loss_fn(output.reshape(len(part), tasks, points, -1), query_y)  # [G, T]
            losses.append(per_task.mean(dim=1))
    return torch.cat(losses).reshape(len(alphas), len(betas))


def grid_forward(model: MLP, params: Params, x: torch.Tensor) -> torch.Tensor:
    """``[G, N, m]``: the network at G parameter points (``params`` ``[G, …]``) on inputs ``x [N, d]``.

    What ``vmap(model.forward, in_dims=(0, None))`` computes, written out so that each
    layer is one fused batched product with its bias (``baddbmm``) and the activations
    are applied in place: a third faster on the 64×64 grid than the vmapped forward.
    """
    activation = torch.relu_ if model.activation == "relu" else torch.tanh_
    last = model.num_layers - 1
    h = None
    for i in range(model.num_layers):
        weight, bias = params[f"layer{i}.weight"], params[f"layer{i}.bias"]
        if h is None and x.shape[-1] == 1:  # one input: a broadcast product, no matrix product
            h = torch.addcmul(bias.unsqueeze(1), x.unsqueeze(0), weight.transpose(1, 2))
        elif h is None:
            h = torch.matmul(x, weight.transpose(1, 2)).add_(bias.unsqueeze(1))
        else:
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        if i < last:
            h = activation(h)
    return h


def project(vectors: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares coordinates ``[..., 2]`` of ``vectors [..., P]`` on the plane, and the
    distances of the vectors from it."""
    gram = directions @ directions.T
    coordinates = torch.linalg.solve(gram, directions @ vectors.reshape(-1, vectors.shape[-1]).T).T
    rest = vectors.reshape(-1, vectors.shape[-1]) - coordinates @ directions
    return (coordinates.reshape(*vectors.shape[:-1], 2),
            torch.linalg.vector_norm(rest, dim=-1).reshape(vectors.shape[:-1]))


def parameter_slice(learner: MetaLearner, state: Params, batch: TaskBatch, *,
                    directions: DirectionKind | SliceDirections = "pca", resolution: int = 64,
                    extent: float | None = None, steps: int | None = None, seed: int = 0,
                    with_arrows: bool = True) -> ParameterSlice:
    """The slice through ``state`` for ``batch``'s tasks (the landscape over all of them).

    ``extent``: the grid spans ±extent along both directions (default 1.5 times the
    farthest projected path point, so that every path is on it). ``steps``: inner steps
    of the paths and of the PCA offsets (default the run's training steps).
    ``with_arrows`` also computes the meta-gradient anatomy (second-order MAML, as
    `meta_gradient_anatomy` does by default) for the arrows.
    """
    steps = learner.config.inner_steps if steps is None else steps
    if isinstance(directions, str):
        directions = principal_directions(learner, state, batch, steps) if directions == "pca" \
            else random_directions(learner, state, seed)
    names, shapes = directions.names, directions.shapes
    d = torch.from_numpy(directions.vectors)
    offsets = _offsets(learner, state, batch, steps, names).double().cpu()
    paths, distances = project(offsets, d)
    lengths = torch.linalg.vector_norm(offsets, dim=-1)
    moved = lengths > 1e-12 * max(1.0, float(lengths.max()))
    residual = float((distances[moved] / lengths[moved]).max()) if bool(moved.any()) else 0.0
    if extent is None:
        farthest = float(paths.abs().max())
        extent = 1.5 * farthest if farthest > 0 else 1.0
    grid = torch.linspace(-extent, extent, resolution, dtype=torch.float64)
    network = learner.network(state)
    dtype, device = network[names[0]].dtype, network[names[0]].device
    theta = flatten(network, names).detach()
    losses = landscape(learner.model, learner.loss_fn, theta, d.to(dtype=dtype, device=device),
                       grid.to(dtype=dtype, device=device), grid.to(dtype=dtype, device=device),
                       names, shapes, batch.query_x, batch.query_y)
    with torch.no_grad():
        centre = float(learner.loss_fn(learner.model.forward(network, batch.query_x),
                                       batch.query_y).mean())
    anatomy, arrows = None, {}
    if with_arrows:
        anatomy = meta_gradient_anatomy(learner, state, batch)
        order = [anatomy.names.index(name) for name in names]
        for part in ("maml", "fomaml"):
            vector = _reordered(anatomy.vectors[part], anatomy.shapes, order)
            arrows[part] = project(-torch.from_numpy(vector), d)[0].numpy()
    return ParameterSlice(directions, grid.numpy(), grid.numpy(),
                          losses.double().cpu().numpy(), paths.numpy(), residual, arrows,
                          centre, anatomy)


def _reordered(vector: np.ndarray, shapes: tuple[tuple[int, ...], ...], order: list[int]
               ) -> np.ndarray:
    sizes = [int(np.prod(shape)) for shape in shapes]
    pieces = np.split(vector, np.cumsum(sizes)[:-1])
    return np.concatenate([pieces[i] for i in order])
