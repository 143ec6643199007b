"""Forward pass, backward pass and Hessian-vector products of the MLP, by hand, for all tasks at once.

A layer's weight is ``[out, in]`` (shared by every task) or ``[T, out, in]``
(one per task, after an inner step); activations are ``[T, points, width]``.
Each pass is a handful of batched matrix products (``matmul``, ``bmm``,
``baddbmm``), so a whole meta-step costs a few dozen dispatches instead of the
hundreds that `torch.func` issues, with no autograd graph.

Notation: ``h[0]`` is the input, ``z[i] = h[i] W[i]ᵀ + b[i]`` and
``h[i+1] = act(z[i])``; the output is ``z[L-1]``. ``delta[i]`` is the loss's
gradient with respect to ``z[i]``. Hessian-vector products are Pearlmutter's
R-operator: a forward pass of tangents, then a backward pass of tangents.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

_relu_derivative_times = torch.ops.aten.threshold_backward
_tanh_derivative_times = torch.ops.aten.tanh_backward

Layer = tuple[torch.Tensor, torch.Tensor]  # (weight, bias)


def derivative_times(activation: str, grad: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``act'(z) · grad``, from the layer's output ``h = act(z)``."""
    if activation == "relu":
        return _relu_derivative_times(grad, h, 0)
    return _tanh_derivative_times(grad, h)


def second_derivative_times(activation: str, grad: torch.Tensor, h: torch.Tensor,
                            direction: torch.Tensor) -> torch.Tensor | None:
    """``act''(z) · grad · direction`` (None where it vanishes, as for ReLU)."""
    if activation == "relu":
        return None
    return _tanh_derivative_times(grad * direction * h, h).mul_(-2.0)  # tanh'' = −2·tanh·tanh'


def _apply(h: torch.Tensor, layer: Layer, scale: float = 1.0) -> torch.Tensor:
    """``scale · (h Wᵀ + b)``."""
    weight, bias = layer
    if weight.dim() == 2 and scale == 1.0:
        return F.linear(h, weight, bias)
    return torch.baddbmm(bias.unsqueeze(-2), h, weight.transpose(-1, -2), beta=scale, alpha=scale)


def _weight_gradient(delta: torch.Tensor, h: torch.Tensor, sum_tasks: bool) -> Layer:
    """``(δᵀ h, Σ δ)`` over each task's points, or over all tasks' points at once."""
    if sum_tasks:
        return (torch.mm(delta.flatten(0, 1).t(), h.flatten(0, 1)), delta.sum(dim=(0, 1)))
    return torch.bmm(delta.transpose(-1, -2), h), delta.sum(-2)


def _times_weight(grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``grad W``: back through a layer to its input."""
    return torch.matmul(grad, weight) if weight.dim() == 2 else torch.bmm(grad, weight)


@dataclass
class Pass:
    """What one forward (and later backward) pass keeps for the passes that follow it."""

    layers: list[Layer]
    h: list[torch.Tensor]  # inputs of every layer
    output: torch.Tensor
    delta: dict[int, torch.Tensor] = field(default_factory=dict)
    # delta[i+1] W[i+1], before the activation's derivative: tanh's second-order term needs it
    back: dict[int, torch.Tensor] = field(default_factory=dict)


def forward(layers: list[Layer], activation: str, x: torch.Tensor,
            reuse: Pass | None = None, start: int = 0) -> Pass:
    """Run the MLP; with ``reuse``, keep its inputs of layers up to ``start`` (unchanged layers)."""
    h = [x] if reuse is None else reuse.h[:start + 1]
    act = torch.relu if activation == "relu" else torch.tanh
    last = len(layers) - 1
    out = h[-1]
    for i in range(len(h) - 1, last + 1):
        out = _apply(h[i], layers[i])
        if i < last:
            out = act(out)
            h.append(out)
    return Pass(layers, h, out)


def backward(p: Pass, activation: str, delta_out: torch.Tensor, stop: int = 0,
             sum_tasks: bool = False) -> dict[int, Layer]:
    """Per-task gradients ``(dW [T, out, in], db [T, out])`` of layers ``stop`` … L-1.

    With ``sum_tasks``, their sums over tasks. Keeps ``delta`` of those layers
    in ``p`` for the Hessian-vector products.
    """
    grads = {}
    delta = delta_out
    for i in range(len(p.layers) - 1, stop - 1, -1):
        p.delta[i] = delta
        grads[i] = _weight_gradient(delta, p.h[i], sum_tasks)
        if i > stop:
            p.back[i - 1] = _times_weight(delta, p.layers[i][0])
            delta = derivative_times(activation, p.back[i - 1], p.h[i])
    return grads


def hessian_times(p: Pass, activation: str, loss, saved: torch.Tensor,
                  direction: dict[int, Layer], scale: float = 1.0, sum_tasks: bool = False
                  ) -> dict[int, Layer]:
    """Per-task ``H (scale · u)`` for the support loss of pass ``p`` (after `backward`).

    ``direction`` holds ``u`` for some layers ``[T, …]`` (the others are zero);
    the product covers every layer, summed over tasks with ``sum_tasks``.
    ``backward`` must have gone down to the lowest layer of ``direction``.
    """
    layers, h, last = p.layers, p.h, len(p.layers) - 1
    lowest = min(direction)
    # forward pass of tangents: r_z[i] = R{z[i]}, r_h[i] = R{h[i]} (None: zero)
    r_h: dict[int, torch.Tensor | None] = dict.fromkeys(range(lowest + 1))
    r_z: dict[int, torch.Tensor] = {}
    for i in range(lowest, last + 1):
        tangent = None
        if r_h[i] is not None:
            tangent = _times_weight(r_h[i], layers[i][0].transpose(-1, -2))
        if i in direction:
            u = _apply(h[i], direction[i], scale)
            tangent = u if tangent is None else tangent + u
        r_z[i] = tangent
        if i < last:
            r_h[i + 1] = derivative_times(activation, tangent, h[i + 1])
    # backward pass of tangents: r_delta = R{delta[i]}
    r_delta = loss.hessian_times(saved, r_z[last])
    products = {}
    for i in range(last, -1, -1):
        d_weight, d_bias = _weight_gradient(r_delta, h[i], sum_tasks)
        if i > lowest and r_h[i] is not None:
            d_weight = d_weight + _weight_gradient(p.delta[i], r_h[i], sum_tasks)[0]
        products[i] = (d_weight, d_bias)
        if i == 0:
            break
        back = _times_weight(r_delta, layers[i][0])
        if i in direction:
            back = torch.baddbmm(back, p.delta[i], direction[i][0], alpha=scale)
        r_delta = derivative_times(activation, back, h[i])
        if i - 1 >= lowest:
            curvature = second_derivative_times(activation, p.back[i - 1], h[i], r_z[i - 1])
            if curvature is not None:
                r_delta = r_delta + curvature
    return products
