"""One-dimensional regression families with the parameter ranges found in the literature."""

from __future__ import annotations

import math

import torch

from maml_studio.tasks.base import ParamSpec, TaskFamily


def _columns(params: torch.Tensor) -> list[torch.Tensor]:
    """Each parameter as ``[T, 1, 1]``, ready to broadcast against ``x [T, N, 1]``."""
    return [params[:, i, None, None] for i in range(params.shape[1])]


class Sine(TaskFamily):
    name = "sine"
    title = "Sine wave"
    description = "y = A·sin(x − φ); ranges of Finn et al. 2017."
    param_specs = (
        ParamSpec("amplitude", "A", 0.1, 5.0, "Amplitude"),
        ParamSpec("phase", "φ", 0.0, math.pi, "Phase shift"),
    )

    def truth(self, params, x):
        a, phase = _columns(params)
        return a * torch.sin(x - phase)


class Line(TaskFamily):
    name = "line"
    title = "Line"
    description = "y = a·x + b; ranges of Probabilistic MAML."
    param_specs = (
        ParamSpec("slope", "a", -3.0, 3.0, "Slope"),
        ParamSpec("intercept", "b", -3.0, 3.0, "Intercept"),
    )

    def truth(self, params, x):
        a, b = _columns(params)
        return a * x + b


class Quadratic(TaskFamily):
    name = "quadratic"
    title = "Quadratic"
    description = "y = ±α·(x − c)² + b, the sign random; ranges of Multimodal MAML."
    param_specs = (
        ParamSpec("curvature", "α", 0.02, 0.15, "Curvature magnitude (its sign is random)"),
        ParamSpec("center", "c", -3.0, 3.0, "Vertex position"),
        ParamSpec("offset", "b", -3.0, 3.0, "Vertical offset"),
    )

    def sample_params(self, num_tasks, generator):
        params = super().sample_params(num_tasks, generator)
        sign = torch.randint(0, 2, (num_tasks,), generator=generator) * 2 - 1
        params[:, 0] *= sign
        return params

    def truth(self, params, x):
        alpha, c, b = _columns(params)
        return alpha * (x - c) ** 2 + b


class Cubic(TaskFamily):
    name = "cubic"
    title = "Cubic polynomial"
    description = "y = c₃x³ + c₂x² + c₁x + c₀; ranges of the official MAML code."
    default_x_range = (-3.0, 3.0)
    param_specs = tuple(
        ParamSpec(f"c{i}", f"c{i}", -1.0, 1.0, f"Coefficient of x^{i}") for i in (3, 2, 1, 0)
    )

    def truth(self, params, x):
        c3, c2, c1, c0 = _columns(params)
        return ((c3 * x + c2) * x + c1) * x + c0


class Absolute(TaskFamily):
    name = "absolute"
    title = "Absolute value"
    description = "y = s·|x − c| + b; ranges of Multimodal MAML."
    param_specs = (
        ParamSpec("slope", "s", -3.0, 3.0, "Slope of both arms"),
        ParamSpec("center", "c", -3.0, 3.0, "Position of the kink"),
        ParamSpec("offset", "b", -3.0, 3.0, "Vertical offset"),
    )

    def truth(self, params, x):
        s, c, b = _columns(params)
        return s * torch.abs(x - c) + b


class Tanh(TaskFamily):
    name = "tanh"
    title = "Hyperbolic tangent"
    description = "y = s·tanh(x − c) + b; ranges of Multimodal MAML."
    param_specs = (
        ParamSpec("scale", "s", -3.0, 3.0, "Height of the step"),
        ParamSpec("center", "c", -3.0, 3.0, "Position of the step"),
        ParamSpec("offset", "b", -3.0, 3.0, "Vertical offset"),
    )

    def truth(self, params, x):
        s, c, b = _columns(params)
        return s * torch.tanh(x - c) + b


class Square(TaskFamily):
    name = "square"
    title = "Square wave"
    description = "y = A·sign(sin(x − φ)): steps of height ±A, period 2π."
    param_specs = (
        ParamSpec("amplitude", "A", 0.1, 5.0, "Height of the steps"),
        ParamSpec("phase", "φ", 0.0, math.pi, "Phase shift"),
    )

    def truth(self, params, x):
        a, phase = _columns(params)
        return a * torch.sign(torch.sin(x - phase))


class Sawtooth(TaskFamily):
    name = "sawtooth"
    title = "Sawtooth wave"
    description = "y = A·(2·frac((x − φ)/2π) − 1): ramps from −A to A, period 2π."
    param_specs = (
        ParamSpec("amplitude", "A", 0.1, 5.0, "Height of the ramps"),
        ParamSpec("phase", "φ", 0.0, 2 * math.pi, "Phase shift"),
    )

    def truth(self, params, x):
        a, phase = _columns(params)
        t = (x - phase) / (2 * math.pi)
        return a * (2 * (t - torch.floor(t)) - 1)


class GaussianBump(TaskFamily):
    name = "gaussian"
    title = "Gaussian bump"
    description = "y = h·exp(−(x − μ)² / 2σ²): one bump of random height, place and width."
    param_specs = (
        ParamSpec("height", "h", -5.0, 5.0, "Height of the bump"),
        ParamSpec("center", "μ", -4.0, 4.0, "Position of the bump"),
        ParamSpec("width", "σ", 0.3, 2.0, "Width of the bump"),
    )

    def truth(self, params, x):
        h, mu, sigma = _columns(params)
        return h * torch.exp(-((x - mu) ** 2) / (2 * sigma**2))


class Harmonic(TaskFamily):
    name = "harmonic"
    title = "Sum of two sines"
    description = "y = A₁·sin(ωx + φ₁) + A₂·sin(2ωx + φ₂): a tone and its first harmonic."
    param_specs = (
        ParamSpec("amplitude1", "A₁", 0.1, 2.5, "Amplitude of the fundamental"),
        ParamSpec("amplitude2", "A₂", 0.1, 2.5, "Amplitude of the harmonic"),
        ParamSpec("frequency", "ω", 0.5, 1.5, "Angular frequency of the fundamental"),
        ParamSpec("phase1", "φ₁", 0.0, 2 * math.pi, "Phase of the fundamental"),
        ParamSpec("phase2", "φ₂", 0.0, 2 * math.pi, "Phase of the harmonic"),
    )

    def truth(self, params, x):
        a1, a2, w, p1, p2 = _columns(params)
        return a1 * torch.sin(w * x + p1) + a2 * torch.sin(2 * w * x + p2)


REGRESSION_1D = (Sine, Line, Quadratic, Cubic, Absolute, Tanh, Square, Sawtooth, GaussianBump,
                 Harmonic)
