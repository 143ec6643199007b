"""Few-shot classification families: every task is a random labelling of the input space.

Labels are class indices (stored as floats ``[tasks, points, 1]`` next to the
inputs). A support set holds K points of every class (or the shares that
``class_balance`` sets), a query set Q of every class. Points come from the
family's input distribution and are kept by the class they fall in, so within
a class they follow the family's own distribution. Optional label noise flips
an observed label (support and query alike) to another class; `truth` stays
the noise-free labelling. Losses and accuracies score the observed labels, so
with label noise p even a perfect classifier scores about 1 − p.
"""

from __future__ import annotations

import math

import torch

from maml_studio.errors import ConfigError
from maml_studio.tasks.base import ParamSpec, TaskBatch, TaskFamily

MAX_ROUNDS = 60  # redraws for the tasks whose candidates lacked a class


class ClassificationFamily(TaskFamily):
    kind = "classification"
    dim_in = 2
    num_classes = 2
    default_x_range = (-2.0, 2.0)
    accepts_dim = False  # True where `dim_in` may be chosen
    accepts_classes = False  # True where N > 2 classes are possible

    def __init__(self, ranges=None, x_range=None, label_noise: float = 0.0,
                 class_balance: list[float] | None = None, dim_in: int = 0,
                 num_classes: int = 0) -> None:
        if dim_in and dim_in != self.dim_in:
            if not self.accepts_dim:
                raise ConfigError(f"task.dim_in: the '{self.name}' family is {self.dim_in}-D only")
            if not 1 <= dim_in <= 100:
                raise ConfigError(f"task.dim_in: must be 1 to 100 for '{self.name}', got {dim_in}")
            self.dim_in = dim_in
        if num_classes and num_classes != self.num_classes:
            if not self.accepts_classes:
                raise ConfigError(f"task.num_classes: the '{self.name}' family is binary; "
                                  f"'blobs' takes N classes")
            if not 2 <= num_classes <= 10:
                raise ConfigError(f"task.num_classes: must be 2 to 10, got {num_classes}")
            self.num_classes = num_classes
        self.dim_out = 1 if self.num_classes == 2 else self.num_classes
        super().__init__(ranges, x_range, 0.0)
        if not (math.isfinite(label_noise) and 0 <= label_noise <= 0.5):
            raise ConfigError(f"task.label_noise: must be 0 to 0.5, got {label_noise}")
        self.label_noise = float(label_noise)
        balance = list(class_balance or [])
        if balance and len(balance) != self.num_classes:
            raise ConfigError(f"task.class_balance: {len(balance)} shares for "
                              f"{self.num_classes} classes")
        if balance and (min(balance) < 0 or sum(balance) <= 0):
            raise ConfigError(f"task.class_balance: shares must be >= 0 with a positive sum, "
                              f"got {balance}")
        self.class_balance = [float(v) for v in balance]

    # -- what subclasses provide --------------------------------------------------------------
    def labels(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """True classes ``[T, N]`` (integers) of tasks ``params [T, P]`` at ``x [T, N, d]``."""
        raise NotImplementedError

    def sample_inputs(self, params: torch.Tensor, count: int, generator: torch.Generator
                      ) -> torch.Tensor:
        """Candidate inputs ``[T, count, d]``; uniform over the x range unless overridden."""
        return self.sample_x(params.shape[0], count, generator)

    # -- shared machinery ---------------------------------------------------------------------
    @property
    def target_dim(self) -> int:
        return 1

    def truth(self, params, x):
        return self.labels(params, x).to(torch.float32).unsqueeze(-1)

    def support_counts(self, shots: int) -> list[int]:
        """Support points of each class: K each, or N·K split by the class shares."""
        if not self.class_balance:
            return [shots] * self.num_classes
        total = shots * self.num_classes
        weights = torch.tensor(self.class_balance, dtype=torch.float64)
        exact = weights / weights.sum() * total
        counts = exact.floor().long()
        remainder = (exact - counts).argsort(descending=True, stable=True)
        counts[remainder[: total - int(counts.sum())]] += 1  # largest remainders first
        return counts.tolist()

    def points_by_class(self, params: torch.Tensor, counts: list[int],
                        generator: torch.Generator) -> torch.Tensor:
        """``counts[c]`` inputs of every class c per task, grouped by class: ``[T, Σcounts, d]``."""
        tasks, total = params.shape[0], sum(counts)
        out = torch.zeros(tasks, total, self.dim_in)
        todo = torch.arange(tasks)
        pool = 3 * total + 8
        for _ in range(MAX_ROUNDS):
            x = self.sample_inputs(params[todo], pool, generator)
            labels = self.labels(params[todo], x)
            taken = [(labels == cls) for cls in range(self.num_classes)]
            ranks = [member.cumsum(1) for member in taken]
            enough = torch.stack([rank[:, -1] >= count for rank, count in zip(ranks, counts, strict=True)]
                                 ).all(0)
            found = int(enough.sum())
            if found:
                # The first `count` members of every class, in the order they were drawn.
                index = torch.cat([
                    (member[enough] & (rank[enough] <= count)).nonzero()[:, 1].reshape(found, count)
                    for member, rank, count in zip(taken, ranks, counts, strict=True)], dim=1)
                index = index.unsqueeze(-1).expand(-1, -1, self.dim_in)
                out[todo[enough]] = torch.gather(x[enough], 1, index)
            todo = todo[~enough]
            if len(todo) == 0:
                return out
            pool = min(pool * 2, 64 * total + 4096)
        raise ConfigError(
            f"task.ranges: in some '{self.name}' tasks a class covers almost none of the inputs "
            f"(not {max(counts)} points of it in {pool:,} draws); choose ranges that give every "
            f"class room, such as a larger radius or a smaller offset")

    def observe_labels(self, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Labels with each flipped to another class with probability ``label_noise``."""
        if self.label_noise == 0:
            return labels
        flip = torch.rand(labels.shape, generator=generator) < self.label_noise
        other = (labels + torch.randint(1, self.num_classes, labels.shape, generator=generator)) \
            % self.num_classes
        return torch.where(flip, other, labels)

    def sample(self, num_tasks, support_size, query_size, generator) -> TaskBatch:
        params = self.sample_params(num_tasks, generator)
        support_x = self.points_by_class(params, self.support_counts(support_size), generator)
        query_x = self.points_by_class(params, [query_size] * self.num_classes, generator)
        support_y, query_y = (
            self.observe_labels(self.labels(params, x), generator).to(torch.float32).unsqueeze(-1)
            for x in (support_x, query_x))
        return TaskBatch(support_x, support_y, query_x, query_y, params)

    def plane(self, resolution: int = 100) -> torch.Tensor:
        """A ``resolution × resolution`` grid over the x range, ``[resolution², 2]``, rows along x."""
        if self.dim_in != 2:
            raise ValueError(f"the '{self.name}' family has {self.dim_in}-D inputs, not a plane")
        axis = torch.linspace(*self.x_range, resolution)
        ys, xs = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([xs.flatten(), ys.flatten()], dim=-1)

    def grid(self, num_points: int = 200):
        raise ValueError(f"the '{self.name}' family classifies points; it has no 1-D grid")

    def summary(self) -> dict:
        info = super().summary()
        info.update(num_classes=self.num_classes, label_noise=self.label_noise,
                    class_balance=list(self.class_balance))
        del info["noise_std"]
        return info


def _rotate(points: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate ``points [T, N, 2]`` by ``angle [T]`` counter-clockwise."""
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    x, y = points[..., 0], points[..., 1]
    return torch.stack([cos * x - sin * y, sin * x + cos * y], dim=-1)


class HalfPlane(ClassificationFamily):
    name = "halfplane"
    title = "Linear boundary"
    description = ("Class B lies on one side of a random line, n·x > c; in d dimensions "
                   "(task.dim_in) a random hyperplane with a direction uniform on the sphere.")
    accepts_dim = True
    param_specs = (
        ParamSpec("angle", "θ", 0.0, 2 * math.pi, "Direction of the line's normal (2-D only)"),
        ParamSpec("offset", "c", -1.0, 1.0, "Signed distance of the boundary from the origin"),
    )

    def __init__(self, ranges=None, x_range=None, *args, **kwargs) -> None:
        super().__init__(ranges, x_range, *args, **kwargs)
        if self.dim_in != 2 and not x_range:
            # In d dimensions inputs default to the unit cube, as in the common d = 10 tutorial
            # set-up (a sigmoid classifier of random hyperplanes).
            self.x_range = (-1.0, 1.0)

    @property
    def num_params(self) -> int:
        return self.dim_in + 1  # the unit normal n, then c

    def sample_params(self, num_tasks, generator):
        (a_low, a_high), (c_low, c_high) = self.ranges["angle"], self.ranges["offset"]
        if self.dim_in == 2:
            angle = a_low + (a_high - a_low) * torch.rand(num_tasks, generator=generator)
            normal = torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)
        else:
            normal = torch.randn(num_tasks, self.dim_in, generator=generator)
            normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        offset = c_low + (c_high - c_low) * torch.rand(num_tasks, 1, generator=generator)
        return torch.cat([normal, offset], dim=-1)

    def labels(self, params, x):
        normal, offset = params[:, : self.dim_in], params[:, self.dim_in]
        return ((x @ normal.unsqueeze(-1))[..., 0] > offset[:, None]).long()

    def describe(self, params):
        if self.dim_in == 2:
            angle = math.atan2(float(params[1]), float(params[0])) % (2 * math.pi)
            return f"θ = {angle:.2f}, c = {float(params[2]):.2f}"
        return f"{self.dim_in}-D normal, c = {float(params[self.dim_in]):.2f}"


class Circle(ClassificationFamily):
    name = "circle"
    title = "Circle"
    description = "Class B lies inside a circle of random centre and radius."
    param_specs = (
        ParamSpec("centre_x", "cx", -1.0, 1.0, "Centre, first coordinate"),
        ParamSpec("centre_y", "cy", -1.0, 1.0, "Centre, second coordinate"),
        ParamSpec("radius", "r", 0.5, 1.5, "Radius"),
    )

    def labels(self, params, x):
        distance = (x - params[:, None, :2]).norm(dim=-1)
        return (distance < params[:, None, 2]).long()


class Ring(ClassificationFamily):
    name = "ring"
    title = "Ring"
    description = "Class B lies in a ring (annulus) of random centre, inner radius and width."
    param_specs = (
        ParamSpec("centre_x", "cx", -0.5, 0.5, "Centre, first coordinate"),
        ParamSpec("centre_y", "cy", -0.5, 0.5, "Centre, second coordinate"),
        ParamSpec("inner_radius", "r", 0.3, 0.9, "Inner radius"),
        ParamSpec("width", "w", 0.4, 0.8, "Width of the ring"),
    )

    def labels(self, params, x):
        distance = (x - params[:, None, :2]).norm(dim=-1)
        inner = params[:, None, 2]
        return ((distance > inner) & (distance < inner + params[:, None, 3])).long()


class RotatedXor(ClassificationFamily):
    name = "xor"
    title = "Rotated XOR"
    description = "Class B holds two opposite quadrants of axes rotated by a random angle."
    param_specs = (ParamSpec("angle", "θ", 0.0, math.pi, "Rotation of the quadrants"),)

    def labels(self, params, x):
        local = _rotate(x, -params[:, 0])
        return (local[..., 0] * local[..., 1] > 0).long()


# Two moons as in scikit-learn's make_moons, centred on the origin.
_MOONS_CENTRE = torch.tensor([0.5, 0.25])


def _half_circle_distance(p: torch.Tensor) -> torch.Tensor:
    """Distance from ``p [..., 2]`` to the unit upper half-circle (its arc, not its disc)."""
    to_end = torch.minimum((p - torch.tensor([1.0, 0.0])).norm(dim=-1),
                           (p - torch.tensor([-1.0, 0.0])).norm(dim=-1))
    return torch.where(p[..., 1] >= 0, (p.norm(dim=-1) - 1).abs(), to_end)


class TwoMoons(ClassificationFamily):
    name = "moons"
    title = "Two moons"
    description = ("Two interleaved half-circles, randomly rotated and shifted; points scatter "
                   "around the arcs and take the class of the nearer arc.")
    default_x_range = (-2.5, 2.5)
    param_specs = (
        ParamSpec("rotation", "θ", 0.0, 2 * math.pi, "Rotation of the pair"),
        ParamSpec("shift_x", "sx", -0.5, 0.5, "Shift, first coordinate"),
        ParamSpec("shift_y", "sy", -0.5, 0.5, "Shift, second coordinate"),
        ParamSpec("spread", "σ", 0.1, 0.2, "Scatter of the points around the arcs"),
    )

    def sample_inputs(self, params, count, generator):
        tasks = params.shape[0]
        t = math.pi * torch.rand(tasks, count, generator=generator)
        lower = torch.rand(tasks, count, generator=generator) < 0.5
        upper_arc = torch.stack([torch.cos(t), torch.sin(t)], dim=-1)
        lower_arc = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], dim=-1)
        points = torch.where(lower.unsqueeze(-1), lower_arc, upper_arc)
        points = points + params[:, None, 3:4] * torch.randn(tasks, count, 2, generator=generator)
        return _rotate(points - _MOONS_CENTRE, params[:, 0]) + params[:, None, 1:3]

    def labels(self, params, x):
        local = _rotate(x - params[:, None, 1:3], -params[:, 0]) + _MOONS_CENTRE
        to_upper = _half_circle_distance(local)
        to_lower = _half_circle_distance(torch.tensor([1.0, 0.5]) - local)
        return (to_lower < to_upper).long()


class Blobs(ClassificationFamily):
    name = "blobs"
    title = "Gaussian blobs (N-way)"
    description = ("N Gaussian blobs with random means (task.num_classes, task.dim_in); a point "
                   "takes the class of the nearest mean, the best boundary for equal blobs.")
    default_x_range = (-3.0, 3.0)
    accepts_dim = True
    accepts_classes = True
    param_specs = (
        ParamSpec("mean", "μ", -1.5, 1.5, "Range of every coordinate of every mean"),
        ParamSpec("spread", "σ", 0.3, 0.5, "Standard deviation of every blob"),
    )

    @property
    def num_params(self) -> int:
        return self.num_classes * self.dim_in + 1  # the means, then σ

    def sample_params(self, num_tasks, generator):
        u = torch.rand(num_tasks, self.num_params, generator=generator)
        (m_low, m_high), (s_low, s_high) = self.ranges["mean"], self.ranges["spread"]
        means = m_low + (m_high - m_low) * u[:, :-1]
        return torch.cat([means, s_low + (s_high - s_low) * u[:, -1:]], dim=-1)

    def means(self, params: torch.Tensor) -> torch.Tensor:
        return params[:, :-1].reshape(params.shape[0], self.num_classes, self.dim_in)

    def sample_inputs(self, params, count, generator):
        tasks = params.shape[0]
        component = torch.randint(self.num_classes, (tasks, count), generator=generator)
        centres = torch.gather(self.means(params), 1,
                               component.unsqueeze(-1).expand(-1, -1, self.dim_in))
        noise = torch.randn(tasks, count, self.dim_in, generator=generator)
        return centres + params[:, None, -1:] * noise

    def labels(self, params, x):
        return torch.cdist(x, self.means(params)).argmin(dim=-1)

    def describe(self, params):
        means = self.means(params.unsqueeze(0))[0]
        shown = "; ".join("(" + ", ".join(f"{v:.2f}" for v in m[:3].tolist())
                          + (", …" if self.dim_in > 3 else "") + ")" for m in means[:4])
        more = ", …" if self.num_classes > 4 else ""
        return f"μ = {shown}{more}, σ = {float(params[-1]):.2f}"


CLASSIFICATION_2D = (HalfPlane, Circle, Ring, RotatedXor, TwoMoons, Blobs)
