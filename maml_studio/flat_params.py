"""Parameters as one flat vector and back: the coordinates of the meta-gradient views.

A vector holds the named tensors in the order given, each flattened; a leading
batch dimension (tasks, grid points) is kept in front.
"""

from __future__ import annotations

import math

import torch

from maml_studio.model import Params


def flatten(params: Params, names: tuple[str, ...] | list[str], batch_dims: int = 0) -> torch.Tensor:
    """``[*batch, P]``: the tensors ``names`` of ``params`` flattened and joined, in order."""
    return torch.cat([params[name].reshape(*params[name].shape[:batch_dims], -1) for name in names],
                     dim=-1)


def unflatten(vector: torch.Tensor, names: tuple[str, ...] | list[str],
              shapes: tuple[tuple[int, ...], ...] | list[tuple[int, ...]]) -> Params:
    """The inverse of `flatten`: ``vector [*batch, P]`` as named tensors ``[*batch, *shape]``."""
    batch = vector.shape[:-1]
    sizes = [math.prod(shape) for shape in shapes]
    parts = torch.split(vector, sizes, dim=-1)
    return {name: part.reshape(*batch, *shape)
            for name, part, shape in zip(names, parts, shapes, strict=True)}


def shapes_of(params: Params, names: tuple[str, ...] | list[str]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(params[name].shape) for name in names)
