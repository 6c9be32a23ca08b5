r"""Functions that are 1-Lipschitz by construction: what makes a lower bound of W1 certain.

Kantorovich-Rubinstein duality gives :math:`W_1(P, Q) \ge \mathbb E_P f - \mathbb E_Q f`
for every 1-Lipschitz :math:`f`, however it was found, so long as the samples that
estimate the two means played no part in finding it. A trained critic is not
1-Lipschitz (its penalty only pushes its slope towards 1 where it is measured), so
its held-out mean difference is no bound. The families here are 1-Lipschitz for every
value of their parameters: fitting them can make the bound loose, never wrong.

* :class:`ConePotential`: :math:`f(x) = s \min_j (h_j + \|x - c_j\|)`, :math:`s = \pm 1`.
  Every Kantorovich potential has this form (it is its own c-transform), with cone
  tips on the support of :math:`Q` for :math:`s = 1`; :math:`s = -1` is the same
  with the roles of :math:`P` and :math:`Q` exchanged. The centres and heights are
  learned by the training loop of every other objective (:func:`fit_cones`).
* :class:`RidgePotential`: :math:`f(x) = \phi(\langle w, x\rangle)` with
  :math:`\|w\| = 1` and :math:`\phi` piecewise linear with slopes in
  :math:`[-1, 1]`: the one-dimensional optimal potential of the projections on a
  learned direction (:func:`fit_ridge`).

Every potential computes in float64 and works in the data's units: it keeps the
centre and spread of the standardised coordinates it was fitted in, and
:math:`f(x) = \text{spread}\; g((x - \text{centre}) / \text{spread})` is 1-Lipschitz
exactly when :math:`g` is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from divergences.neural._networks import Critic, CriticStack
from divergences.neural._trainer import train
from divergences.neural.options import TrainingOptions

# Numbers per block when a potential is evaluated on many samples: bounds the
# (rows, cones, d) differences.
_BLOCK_ELEMENTS = 1 << 22
# Smoothing of the cones' distances, in standardised units: sqrt(r^2 + eps^2) - eps is
# 1-Lipschitz, within eps of r, and differentiable at the tips.
_TIP = 1e-6


class Potential(nn.Module):
    """A 1-Lipschitz function of (N, d) samples in the data's units, (N,) out.

    Subclasses define ``standardised(z)``, a 1-Lipschitz function of
    standardised samples ``z = (x - center) / spread``; the potential is
    ``spread * standardised(z)``, computed in float64 and differentiable in
    ``x``. ``kind`` names the family.
    """

    kind: str = "potential"
    center: torch.Tensor
    spread: torch.Tensor

    def __init__(self, center: torch.Tensor, spread: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("center", center.detach().to(torch.float64).clone())
        self.register_buffer("spread", spread.detach().to(torch.float64).reshape(()).clone())

    @property
    def dim(self) -> int:
        """Input dimension ``d``."""
        return int(self.center.shape[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(x).to(device=self.center.device, dtype=torch.float64)
        z = (x - self.center) / self.spread
        return self.spread * self.standardised(z)

    def standardised(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def moved(self, center: torch.Tensor, spread: torch.Tensor) -> Potential:
        """This potential in other coordinates (the same function of the data)."""
        with torch.no_grad():
            self.center.copy_(center.to(self.center))
            self.spread.copy_(spread.to(self.spread).reshape(()))
        return self


class ConePotential(Potential):
    r""":math:`g(z) = s \min_j (h_j + \|z - c_j\|)`: 1-Lipschitz for any centres and heights.

    Parameters
    ----------
    center, spread : torch.Tensor
        The standardisation, (d,) and a scalar.
    centres : (M, d) torch.Tensor
        The cones' tips :math:`c_j`, in standardised units.
    heights : (M,) torch.Tensor
        :math:`h_j`.
    sign : {1, -1}
        :math:`s`: a minimum of cones, or a maximum of inverted ones.
    fit : str, default ""
        ``"smoothed_"`` where the cones come from the smoothed fit: a prefix of ``kind``.
    """

    centres: torch.Tensor
    heights: torch.Tensor

    def __init__(
        self,
        center: torch.Tensor,
        spread: torch.Tensor,
        centres: torch.Tensor,
        heights: torch.Tensor,
        sign: int,
        fit: str = "",
    ) -> None:
        super().__init__(center, spread)
        self.register_buffer("centres", centres.detach().to(torch.float64).clone())
        self.register_buffer("heights", heights.detach().to(torch.float64).clone())
        self.sign = int(sign)
        self.fit = fit

    @property
    def kind(self) -> str:  # type: ignore[override]
        """``"cones"`` (a minimum of cones) or ``"inverted_cones"`` (a maximum of inverted),
        prefixed ``"smoothed_"`` where the smoothed fit found them."""
        return self.fit + ("cones" if self.sign > 0 else "inverted_cones")

    def standardised(self, z: torch.Tensor) -> torch.Tensor:
        # the differences themselves, not the Gram form, whose cancellation would leave
        # rounding errors above the precision the bound is stated to
        rows = max(1, _BLOCK_ELEMENTS // max(1, self.centres.numel()))
        blocks = []
        for i in range(0, z.shape[0], rows):
            squares = (z[i : i + rows, None, :] - self.centres).square().sum(-1)
            distances = torch.sqrt(squares + _TIP**2) - _TIP
            blocks.append(self.sign * (distances + self.heights).min(dim=-1).values)
        return torch.cat(blocks) if blocks else z.new_zeros(0)


def cone_minimum(z: torch.Tensor, centres: torch.Tensor, heights: torch.Tensor) -> torch.Tensor:
    r""":math:`\min_j (h_j + \sqrt{\|z - c_j\|^2 + \epsilon^2} - \epsilon)` for (..., N, d)
    rows and (..., M, d) centres (a leading axis for a stack), differentiable everywhere.

    The minimum's gradient reaches only the cone that attains it, so the (..., N, M)
    table that finds that cone is built without autograd, and the value is recomputed
    from the chosen cone alone, from the differences: the backward pass costs
    :math:`O(N d)` per network instead of :math:`O(N M d)`, and keeps no table."""
    with torch.no_grad():  # one table, updated in place: each pass over it costs as much
        table = z @ centres.transpose(-1, -2)
        table.mul_(-2).add_(centres.square().sum(-1).unsqueeze(-2))
        table.add_(z.square().sum(-1, keepdim=True)).clamp_(min=0)
        table.add_(_TIP**2).sqrt_().add_(heights.unsqueeze(-2))
        index = table.argmin(dim=-1, keepdim=True)
    chosen = torch.take_along_dim(centres, index, dim=-2)
    height = torch.take_along_dim(heights, index.squeeze(-1), dim=-1)
    return torch.sqrt((z - chosen).square().sum(-1) + _TIP**2) - _TIP + height


class RidgePotential(Potential):
    r""":math:`g(z) = \phi(\langle w, z\rangle)`, unit :math:`w`, slopes of :math:`\phi` in [-1,1].

    :math:`\phi` interpolates linearly between ``knots`` (increasing) and
    ``values`` and is constant beyond them; its slopes are clipped to
    :math:`[-1, 1]` when it is built, and ``direction`` is normalised, so the
    ridge is 1-Lipschitz whatever is passed.
    """

    kind = "ridge"
    direction: torch.Tensor
    knots: torch.Tensor
    values: torch.Tensor

    def __init__(
        self,
        center: torch.Tensor,
        spread: torch.Tensor,
        direction: torch.Tensor,
        knots: torch.Tensor,
        slopes: torch.Tensor,
    ) -> None:
        super().__init__(center, spread)
        direction = direction.detach().to(torch.float64)
        knots = knots.detach().to(torch.float64)
        steps = torch.diff(knots) * slopes.detach().to(torch.float64).clamp(-1, 1)
        values = torch.cat([knots.new_zeros(1), torch.cumsum(steps, 0)])
        self.register_buffer("direction", direction / torch.linalg.vector_norm(direction))
        self.register_buffer("knots", knots.clone())
        self.register_buffer("values", values)

    def standardised(self, z: torch.Tensor) -> torch.Tensor:
        return interpolate(z @ self.direction, self.knots, self.values)


def interpolate(s: torch.Tensor, knots: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Linear interpolation through (knots, values), constant beyond the ends; differentiable
    in ``s``."""
    clamped = s.clamp(knots[0], knots[-1])
    index = torch.searchsorted(knots, clamped.detach().contiguous()).clamp(1, knots.numel() - 1)
    left, right = knots[index - 1], knots[index]
    weight = (clamped - left) / (right - left)
    return values[index - 1] + weight * (values[index] - values[index - 1])


class ConeStack(nn.Module):
    r"""Cone potentials trained together by :func:`~divergences.neural.train`.

    Network :math:`k` is :math:`s_k \min_j (h_{kj} + \|z - c_{kj}\|)`;
    ``forward`` maps (K, N, d) standardised samples to (K, N) values.

    With a positive ``temperature`` :math:`\tau_k` (standardised units) the
    minimum is smoothed while the stack trains,
    :math:`-\tau_k \log \sum_j \exp(-(h_{kj} + \|z - c_{kj}\|)/\tau_k)`
    (1-Lipschitz too: its gradient is an average of the cones' unit gradients),
    so that every tip learns from the samples of its neighbours' regions, not
    only its own; :meth:`cool` lowers :math:`\tau` linearly to 0 over
    ``cooling_steps`` steps. Evaluated (``eval()``), the stack is the plain
    minimum, the function the bound certifies.
    """

    activation = "cones"
    signs: torch.Tensor
    temperature: torch.Tensor

    def __init__(
        self,
        centres: torch.Tensor,
        signs: torch.Tensor,
        temperature: torch.Tensor | None = None,
        cooling_steps: int = 1,
    ) -> None:
        super().__init__()
        self.centres = nn.Parameter(centres.detach().clone())
        self.heights = nn.Parameter(centres.new_zeros(centres.shape[:-1]))
        self.register_buffer("signs", signs.to(centres).reshape(-1, 1))
        start = centres.new_zeros(centres.shape[0]) if temperature is None else temperature
        self.register_buffer("temperature", start.to(centres).reshape(-1, 1, 1).clone())
        self._cooling = self.temperature.clone() / max(1, cooling_steps)

    def cool(self) -> None:
        """One step of the linear cooling of the training temperature."""
        with torch.no_grad():
            self.temperature.sub_(self._cooling).clamp_(min=0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.training and bool((self.temperature > 0).any()):
            return self.signs * soft_cone_minimum(z, self.centres, self.heights, self.temperature)
        return self.signs * cone_minimum(z, self.centres, self.heights)


def soft_cone_minimum(
    z: torch.Tensor, centres: torch.Tensor, heights: torch.Tensor, temperature: torch.Tensor
) -> torch.Tensor:
    r""":math:`-\tau \log \sum_j \exp(-(h_j + \|z - c_j\|)/\tau)` for (K, N, d) rows,
    (K, M, d) centres and (K, 1, 1) temperatures; the plain minimum where
    :math:`\tau = 0`."""
    squares = z.square().sum(-1, keepdim=True) - 2 * z @ centres.transpose(-1, -2)
    squares = (squares + centres.square().sum(-1).unsqueeze(-2)).clamp(min=0)
    cones = torch.sqrt(squares + _TIP**2) - _TIP + heights.unsqueeze(-2)
    tau = temperature.clamp(min=1e-12)
    soft = -tau[..., 0] * torch.logsumexp(-cones / tau, dim=-1)
    return torch.where(temperature[..., 0] > 0, soft, cones.min(dim=-1).values)


@dataclass(frozen=True)
class MeanDifference:
    """The objective :math:`\\mathbb E_p f - \\mathbb E_q f` with no penalty: for networks
    that are 1-Lipschitz by construction (:class:`ConeStack`)."""

    optimizer: str = "adam"

    def backward(
        self,
        network: nn.Module,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        value = network(x_p).mean(dim=-1) - network(x_q).mean(dim=-1)
        loss = -value.sum()
        loss.backward()
        zero = torch.zeros_like(value)
        return loss.detach(), torch.stack([value, zero, zero, zero], dim=-1).detach()

    def after_step(self, network: nn.Module) -> None:
        if isinstance(network, ConeStack):
            network.cool()

    @torch.no_grad()
    def score(
        self,
        network: nn.Module,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        interpolates: torch.Tensor,
    ) -> torch.Tensor:
        return network(x_p).mean(dim=-1) - network(x_q).mean(dim=-1)


#: Settings of the cone fits: cones per potential, optimiser steps (where the options set
#: none), batch, learning rate (in standardised units).
CONES = 256
CONE_STEPS = 1000
CONE_BATCH = 1024
CONE_RATE = 3e-3
#: The smoothed fit: its starting temperature, as a share of the median distance between
#: the two samples, and its learning rate.
SMOOTHING = 0.06
SMOOTHED_RATE = 1e-2
_CONE_CHECKS = 10


def fit_cones(
    sample: Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    tuning: tuple[torch.Tensor, torch.Tensor],
    generator: torch.Generator,
    options: TrainingOptions,
) -> dict[str, ConeStack]:
    """Fit, for each of K problems, minima of cones and maxima of inverted cones, twice.

    ``sample(size, generator)`` draws (K, size, d) training batches of each side;
    ``tuning`` holds (K, v, d) samples of each side on which each potential
    keeps its best checkpoint. The tips start at training samples of the side
    where the potential is low (Q for the cones, P for the inverted ones), with
    equal heights, and train for ``CONE_STEPS`` steps, or the options' ``steps``
    where they set them: once with the plain minimum (``"cones"``,
    ``"inverted_cones"``), once with a minimum smoothed at a temperature that
    cools from ``SMOOTHING`` times the median distance between the two samples
    to 0 (``"smoothed_cones"``, ``"smoothed_inverted_cones"``), at the faster
    rate ``SMOOTHED_RATE``. The plain fit does better where the tips have
    little to travel (low dimension, many cones), the smoothed one where they
    must cross the space to meet (high dimension); which is better is the
    validation split's to say. Returns a stack of K per name.
    """
    draw_p, draw_q = sample(CONES, generator)
    count = draw_p.shape[0]
    signs = torch.cat([torch.ones(count), -torch.ones(count)])
    steps = CONE_STEPS if options.steps is None else options.steps
    tuning_p, tuning_q = (torch.cat([x, x]) for x in tuning)
    objective = MeanDifference()
    rows = min(512, tuning[0].shape[1], tuning[1].shape[1])
    spacing = torch.cdist(tuning[0][:, :rows], tuning[1][:, :rows]).flatten(1).median(1).values

    def doubled(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x_p, x_q = sample(size, generator)
        return torch.cat([x_p, x_p]), torch.cat([x_q, x_q])

    def monitor(network: nn.Module) -> torch.Tensor:
        return objective.score(network, tuning_p, tuning_q, tuning_p)

    stacks: dict[str, ConeStack] = {}
    for prefix, temperature, rate in (
        ("", None, CONE_RATE),
        ("smoothed_", SMOOTHING * torch.cat([spacing, spacing]), SMOOTHED_RATE),
    ):
        stack = ConeStack(torch.cat([draw_q, draw_p]).float(), signs, temperature, steps)
        fitting = options.replace(
            steps=steps,
            batch_size=CONE_BATCH,
            learning_rate=rate,
            optimizer="adam",
            weight_decay=0.0,
            progress=False,
        )
        train(
            stack,
            objective,
            doubled,
            fitting,
            generator=generator,
            monitor=monitor,
            check_every=max(1, steps // _CONE_CHECKS),
        )
        for name, part in (("cones", slice(0, count)), ("inverted_cones", slice(count, None))):
            half = ConeStack(stack.centres[part], stack.signs[part])
            with torch.no_grad():
                half.heights.copy_(stack.heights[part])
            stacks[prefix + name] = half.eval()
    return stacks


#: Optimiser steps of each search for a ridge's direction (fewer where the options set
#: fewer steps), and the samples per side of its projected distance.
RIDGE_STEPS = 150
RIDGE_BATCH = 16384
_RIDGE_RATE = 0.02
_RIDGE_CHECKS = 5
# knots of the one-dimensional potential
_KNOTS = 1024


def projected_potential(
    s_p: torch.Tensor, s_q: torch.Tensor, knots: int = _KNOTS
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Knots and slopes of the one-dimensional potential of projections ``s_p``, ``s_q``.

    The optimal :math:`\phi` has slope :math:`\operatorname{sign}(F_Q - F_P)`; the
    empirical CDFs' difference is divided by its noise level
    :math:`\tfrac12\sqrt{1/n_p + 1/n_q}` and clipped to [-1, 1] instead, so that
    noise alone does not flip the slope. Any slopes in [-1, 1] keep the ridge
    1-Lipschitz.
    """
    s_p, s_q = s_p.detach().double(), s_q.detach().double()
    low = torch.minimum(s_p.min(), s_q.min())
    high = torch.maximum(s_p.max(), s_q.max())
    if not bool(high > low):
        high = low + 1.0
    grid = torch.linspace(float(low), float(high), knots, dtype=torch.float64, device=s_p.device)
    middle = 0.5 * (grid[1:] + grid[:-1])
    cdf_p = torch.searchsorted(torch.sort(s_p).values, middle).double() / s_p.numel()
    cdf_q = torch.searchsorted(torch.sort(s_q).values, middle).double() / s_q.numel()
    noise = 0.5 * math.sqrt(1 / s_p.numel() + 1 / s_q.numel())
    return grid, ((cdf_q - cdf_p) / noise).clamp(-1, 1)


#: The one-sided normal quantile of the lower confidence bounds (97.5%).
Z = 1.959963984540054


#: Fewer held-out values than this on a side, and js_dual's interval is all of [0, log 2]:
#: its upper end is a t quantile on a mean, and a handful of values can agree by chance (a
#: saturated discriminator gives equal values and a standard error of about 0).
CONFIDENT_ROWS = 10


#: The relative rounding error allowed for in a certified mean difference: a potential is
#: 1-Lipschitz in exact arithmetic, and its float64 values (a cumulative sum over a
#: ridge's 1024 knots, a distance over d coordinates) can err by a few hundred units in
#: the last place of the largest value. Two point masses √2 apart gave a mean
#: difference 1.9e-14 above √2 (85 units), a lower bound above W1 and above the
#: interval's upper end.
ROUNDING = 1e-11
#: What standardising a point in float64 can move it by, relative to its norm: the test
#: points a bound is evaluated at are (x - centre) / spread in float64, each coordinate
#: within two roundings (2^-53 each) of the exact value, and rounding can raise a mean
#: difference of a 1-Lipschitz function by the mean displacement on each side (W1 of the
#: rounded laws is at most W1 plus the mean displacements). Twice that, for safety.
STANDARDISED_ROUNDOFF = 2.0**-51


def rounding_allowance(
    values_p: torch.Tensor, values_q: torch.Tensor, x_p: torch.Tensor, x_q: torch.Tensor
) -> float:
    """What rounding can add to the mean difference of a 1-Lipschitz function whose
    float64 values on the standardised float64 points ``x_p``, ``x_q`` are ``values_p``,
    ``values_q``: :data:`ROUNDING` times the largest value in absolute value, and
    :data:`STANDARDISED_ROUNDOFF` times the points' mean norm on each side."""
    largest = max((float(v.abs().max()) for v in (values_p, values_q) if v.numel()), default=0.0)
    moved = sum(
        float(torch.linalg.vector_norm(x.double(), dim=-1).mean()) for x in (x_p, x_q) if x.numel()
    )
    return ROUNDING * largest + STANDARDISED_ROUNDOFF * moved


def student_quantile(count_p: int, count_q: int) -> float:
    """The one-sided 97.5% quantile for a difference of two means of ``count_p`` and
    ``count_q`` values: Student's t with ``min(count_p, count_q) - 1`` degrees of freedom.

    Welch's degrees of freedom are never fewer, so the quantile is conservative
    for any two variances: 1.961 with 2000 values a side, 2.57 with 6, 12.7 with 2.
    With 2 Gaussian values a side the normal 1.96 would leave the bound above the
    difference of means in about a tenth of draws, four times its level.
    """
    from scipy import stats

    freedom = max(1, min(count_p, count_q) - 1)
    return float(stats.t.ppf(0.975, freedom))


def simultaneous_quantile(count: int) -> float:
    """The normal quantile that makes ``count`` one-sided 97.5% bounds hold together
    (Bonferroni): 1.96 for one, 2.50 for four, 3.3 for fifty."""
    return statistics.NormalDist().inv_cdf(1 - 0.025 / max(1, count))


def mean_difference(
    function: Callable[[torch.Tensor], torch.Tensor], x_p: torch.Tensor, x_q: torch.Tensor
) -> tuple[float, float]:
    r""":math:`\bar f(x_p) - \bar f(x_q)` in float64 and its standard error."""
    return difference_of_means(*function_values(function, x_p, x_q))


def function_values(
    function: Callable[[torch.Tensor], torch.Tensor], x_p: torch.Tensor, x_q: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``function`` on each set of points, in float64, without autograd."""
    with torch.no_grad():
        return function(x_p.double()).double(), function(x_q.double()).double()


def difference_of_means(values_p: torch.Tensor, values_q: torch.Tensor) -> tuple[float, float]:
    """The difference of two sets of values' means, and its standard error."""
    mean = float(values_p.mean()) - float(values_q.mean())
    variance = sum(
        float(v.var()) / v.numel() if v.numel() > 1 else 0.0 for v in (values_p, values_q)
    )
    return mean, math.sqrt(variance)


def lower_confidence(
    function: Callable[[torch.Tensor], torch.Tensor],
    x_p: torch.Tensor,
    x_q: torch.Tensor,
    z: float = Z,
) -> float:
    r""":math:`\bar f(x_p) - \bar f(x_q) - z\,\mathrm{se}`: what a candidate certifies.

    Choosing by the mean alone would prefer a candidate whose noise is large
    over one whose signal is small but sure (a wide coordinate beside a narrow
    one that carries the distance); choosing the largest of many such bounds
    needs the ``z`` of :func:`simultaneous_quantile`, or the noisiest candidate
    wins by chance.
    """
    mean, stderr = mean_difference(function, x_p, x_q)
    return mean - z * stderr


def _projected_w1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The 1-D W1 of two equal-size samples: mean gap of the sorted values."""
    return (torch.sort(a).values - torch.sort(b).values).abs().mean()


def fit_ridge(
    train_p: torch.Tensor,
    train_q: torch.Tensor,
    val_p: torch.Tensor,
    val_q: torch.Tensor,
    starts: list[torch.Tensor],
    generator: torch.Generator,
    steps: int = RIDGE_STEPS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Direction, knots and slopes of the best ridge on the validation split.

    From each starting direction, the projected W1 of the training samples (up
    to ``RIDGE_BATCH`` a side, the same at every step) is climbed by Adam; every few steps the
    ridge of the current direction is built from all training samples and
    scored on the validation split by :func:`lower_confidence` (all of them
    together, :func:`simultaneous_quantile`); the best is kept. In d = 1 the
    only direction is used as it is.
    """
    x_p, x_q = train_p.double(), train_q.double()
    dim = x_p.shape[1]
    best: tuple[float, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def consider(direction: torch.Tensor) -> None:
        nonlocal best
        unit = direction.detach() / torch.linalg.vector_norm(direction.detach())
        knots, slopes = projected_potential(x_p @ unit, x_q @ unit)
        ridge = RidgePotential(unit.new_zeros(dim), unit.new_ones(()), unit, knots, slopes)
        score = lower_confidence(ridge.standardised, val_p, val_q, z)
        if best is None or score > best[0]:
            best = (score, unit, knots, slopes)

    # one fixed batch of equal size a side: the ascent is then deterministic
    z = simultaneous_quantile(len(starts) * (1 + _RIDGE_CHECKS))
    size = min(RIDGE_BATCH, x_p.shape[0], x_q.shape[0])
    rows_p = torch.randperm(x_p.shape[0], generator=generator, device=x_p.device)[:size]
    rows_q = torch.randperm(x_q.shape[0], generator=generator, device=x_q.device)[:size]
    batch_p, batch_q = x_p[rows_p], x_q[rows_q]
    for start in starts:
        consider(start)
        if dim == 1:
            break
        direction = start.detach().clone().double().requires_grad_(True)
        optimizer = torch.optim.Adam([direction], lr=_RIDGE_RATE)
        for step in range(steps):
            unit = direction / torch.linalg.vector_norm(direction)
            loss = -_projected_w1(batch_p @ unit, batch_q @ unit)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if (step + 1) % max(1, steps // _RIDGE_CHECKS) == 0:
                consider(direction)
    assert best is not None  # at least one start
    return best[1], best[2], best[3]


def ridge_starts(
    train_p: torch.Tensor, train_q: torch.Tensor, extra: list[torch.Tensor]
) -> list[torch.Tensor]:
    """Starting directions from the moments of the two samples, and ``extra``.

    Where the two laws differ along one direction only, each moment's
    difference points along it as soon as the lower ones agree: the mean
    difference; the leading eigenvector (by absolute eigenvalue) of the
    covariance difference; the difference of :math:`\\mathbb E \\|x\\|^2 x`
    (skewness); and the leading eigenvector of the difference of
    :math:`\\mathbb E (\\|x\\|^2 - \\mathbb E\\|x\\|^2) x x^\top` (kurtosis), each
    side centred on its own mean. The same four again with every coordinate
    divided by its spread first (and the directions mapped back), so that a
    coordinate of small spread that carries the difference is not drowned by
    the noise of a wide one.
    """
    x_p, x_q = train_p.double(), train_q.double()
    dim = x_p.shape[1]
    starts = _moment_directions(x_p, x_q)
    if dim > 1:
        spreads = torch.cat([x_p, x_q]).std(0)
        spreads = torch.where(spreads > 0, spreads, torch.ones_like(spreads))
        starts += [d / spreads for d in _moment_directions(x_p / spreads, x_q / spreads)]
    starts += [e.double() for e in extra]
    unit = x_p.new_zeros(dim)
    unit[0] = 1.0
    return [s if bool(torch.linalg.vector_norm(s) > 0) else unit for s in starts]


def _moment_directions(x_p: torch.Tensor, x_q: torch.Tensor) -> list[torch.Tensor]:
    directions = [x_p.mean(0) - x_q.mean(0)]
    if x_p.shape[1] == 1:
        return directions
    centred = [x - x.mean(0) for x in (x_p, x_q)]
    # ||x||^2 less its mean: the same differences, a fraction of the noise in high d
    weights = []
    for c in centred:
        square = c.square().sum(1, keepdim=True)
        weights.append(square - square.mean())
    second = [c.T @ c / c.shape[0] for c in centred]
    fourth = [(w * c).T @ c / c.shape[0] for w, c in zip(weights, centred, strict=True)]
    directions.append(_leading_eigenvector(second[0] - second[1]))
    directions.append((weights[0] * centred[0]).mean(0) - (weights[1] * centred[1]).mean(0))
    directions.append(_leading_eigenvector(fourth[0] - fourth[1]))
    return directions


def _leading_eigenvector(matrix: torch.Tensor) -> torch.Tensor:
    """The eigenvector of a symmetric matrix whose eigenvalue is largest in absolute value."""
    eigenvalues, eigenvectors = torch.linalg.eigh(0.5 * (matrix + matrix.T))
    return eigenvectors[:, int(torch.argmax(eigenvalues.abs()))]


def critic_direction(network: Critic | CriticStack, x: torch.Tensor) -> torch.Tensor:
    """The mean input gradient of a critic over ``x`` (standardised)."""
    points = x.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(network(points).sum(), points)
    return gradient.mean(0).detach()
