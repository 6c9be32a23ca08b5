r"""The certified side of :func:`~divergences.neural.wasserstein_dual`: bounds by construction.

For each problem, after the critic is trained:

1. **Fit** potentials that are 1-Lipschitz for any parameters
   (:mod:`divergences.neural._certified`) on the training split: a minimum of
   cones and a maximum of inverted cones, each fitted twice, with the plain
   minimum and with a smoothed one (the K problems of a batch as one stack),
   and a ridge along a learned direction (the trained critic's mean
   gradient is one of the directions it starts from). The critic itself is not
   a candidate: its penalty does not make it 1-Lipschitz, and the product of its
   layers' spectral norms, which would, is several times its actual constant.
2. **Choose** the one that certifies most on half of the validation split (the
   other half made each family's own choices): the highest mean difference
   less 2.58 standard errors (five bounds that hold together at 97.5%).
3. **Estimate** its mean difference on the test split, which no fit and no
   choice has seen: the estimate of a number that is at most :math:`W_1`; and
   **bound** it below at 97.5% for every distribution, with the potential
   clipped to a range chosen on the validation split (:func:`clipped_lower`).
4. **Bound above**, where a bound holds: the exact :math:`W_1` between the test
   samples has an expectation of at least :math:`W_1(P, Q)` (the empirical
   measures' transport cost is convex in them, and they average to :math:`P`
   and :math:`Q`); it is biased upwards.

Everything runs in the problem's standardised coordinates; the caller maps the
numbers back. In a process group every rank gathers the parts of every split and
certifies the same way, so all return the same bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from divergences.neural._bounded_mean import difference_lower
from divergences.neural._certified import (
    RIDGE_STEPS,
    ConePotential,
    Potential,
    RidgePotential,
    critic_direction,
    difference_of_means,
    fit_cones,
    fit_ridge,
    function_values,
    lower_confidence,
    mean_difference,
    projected_potential,
    ridge_starts,
    rounding_allowance,
    simultaneous_quantile,
    student_quantile,
)
from divergences.neural._distributed import Group
from divergences.neural._fitting import Fitted, Problem
from divergences.neural._networks import Critic
from divergences.neural.options import TrainingOptions
from divergences.two_sample import score_pvalue

#: Re-splits of the held-out scores behind :attr:`DualResult.pvalue`.
PERMUTATIONS = 999
#: Test samples per side of the exact upper side (d >= 2: the simplex costs about n^2).
EMPIRICAL_SAMPLES = 2000
#: Training rows per side of the certified fits where the samples come from a callable
#: or a large (memory-mapped) array, drawn ``evaluation_size`` at a time (at least that
#: many), and at most ``CERTIFIED_BYTES`` per side in float64 for all the problems of a
#: call together: fresh samples cost nothing more there, and
#: the fits need them where the tips must travel far (the published pair at D = 128
#: with 16 cones: 10^5 rows took the smoothed cones from 30% to 17% below W1, on
#: fresh samples) or a direction must be told from noise. Arrays in memory give
#: their training part as it is.
CERTIFIED_ROWS = 100_000
CERTIFIED_BYTES = 1 << 28
# rows of a critic's gradient that choose a ridge's starting direction
_DIRECTION_ROWS = 2048


@dataclass(frozen=True)
class Certificate:
    """One problem's certified numbers, in standardised units."""

    potential: Potential
    distance: float
    stderr: float
    lower_bound: float
    empirical_distance: float
    upper_bound: float
    scores: dict[str, float]
    train_distance: float
    pvalue: float


@dataclass(frozen=True)
class _Parts:
    """The standardised splits of one problem, the same on every rank.

    The validation split is halved: ``tuning`` makes each family's own choices
    (the cones' checkpoint, the ridge's direction), ``choice`` chooses among
    the families, which a choice made on the same samples would favour the
    family that fitted their noise most.
    """

    train: tuple[torch.Tensor, torch.Tensor]
    tuning: tuple[torch.Tensor, torch.Tensor]
    choice: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]


def _parts(problem: Problem, size: int, group: Group, count: int = 1) -> _Parts:
    """The splits of one of ``count`` problems certified together."""

    def both(take: Callable) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(group.gather(take(source)).double() for source in (problem.p, problem.q))  # type: ignore[return-value]

    validation = both(lambda source: source.calibration(size))
    halves = [max(1, v.shape[0] // 2) for v in validation]
    rows = min(CERTIFIED_ROWS, CERTIFIED_BYTES // (8 * problem.dim * count))
    rows = max(size, -(-rows // group.size))  # this rank's share
    return _Parts(
        train=both(lambda source: source.training(rows, size)),
        tuning=(validation[0][: halves[0]], validation[1][: halves[1]]),
        choice=(validation[0][halves[0] :], validation[1][halves[1] :]),
        test=both(lambda source: source.exact_test),
    )


def certify(fitted: list[Fitted], critics: list[Critic]) -> list[Certificate]:
    """Fit, choose and evaluate the certified potentials of each problem (see the module)."""
    group = fitted[0].group  # the ranks the networks were trained over
    options = fitted[0].options
    parts = [_parts(f.problem, options.evaluation_size, group, len(fitted)) for f in fitted]
    device = parts[0].test[0].device
    # one seed for every rank: the training generator's, less the rank it was offset by
    seed = fitted[0].generator.initial_seed() - group.rank + 1
    generator = torch.Generator(device=device).manual_seed(seed)
    sample = _stack_sampler([p.train for p in parts], device)
    shortest = min(min(side.shape[0] for side in p.tuning) for p in parts)
    tuning = tuple(
        torch.stack([p.tuning[side][:shortest] for p in parts]).float() for side in (0, 1)
    )
    stacks = fit_cones(sample, tuning, generator, options)  # type: ignore[arg-type]
    certificates = []
    for k, (part, critic) in enumerate(zip(parts, critics, strict=True)):
        zero, one = part.test[0].new_zeros(part.test[0].shape[1]), part.test[0].new_ones(())
        candidates: list[Potential] = [
            ConePotential(
                zero,
                one,
                stack.centres[k],
                stack.heights[k],
                int(stack.signs[k]),
                "smoothed_" if name.startswith("smoothed_") else "",
            )
            for name, stack in stacks.items()
        ]
        candidates.append(_ridge(part, critic, generator, options))
        z = simultaneous_quantile(len(candidates))
        scores = {c.kind: lower_confidence(c, *part.choice, z) for c in candidates}
        best = max(candidates, key=lambda c: scores[c.kind])
        held_out = function_values(best, *part.test)
        mean, stderr = difference_of_means(*held_out)
        distance = max(mean, 0.0)  # W1 is never negative; the mean difference can be
        # the test split is no fit's and no choice's: given the others, best is fixed
        pvalue, _ = score_pvalue(
            *(values.cpu().numpy() for values in held_out), permutations=PERMUTATIONS, seed=seed
        )
        empirical, empirical_stderr = empirical_distance(*part.test)
        counts = (part.test[0].shape[0], part.test[1].shape[0])
        # the exact W1 of all the test samples is at least the potential's mean difference
        # on them; the subsample's, or rounding, can fall short of it
        upper = max(empirical + student_quantile(*counts) * empirical_stderr, distance)
        certified = clipped_lower(function_values(best, *part.choice), held_out)
        certified -= rounding_allowance(*held_out, *part.test)
        certificates.append(
            Certificate(
                potential=best,
                distance=distance,
                stderr=stderr,
                lower_bound=max(0.0, min(certified, distance)),
                empirical_distance=empirical,
                upper_bound=upper,
                scores=scores,
                train_distance=mean_difference(best, *part.train)[0],
                pvalue=pvalue,
            )
        )
    return certificates


#: Shares of the validation values cut off at each end by the clips the certified
#: bound chooses among (0: their smallest and largest value).
TRIMS = (0.0, 0.001, 0.01, 0.05, 0.1, 0.25)


def clipped_lower(
    choosing: tuple[torch.Tensor, torch.Tensor], held_out: tuple[torch.Tensor, torch.Tensor]
) -> float:
    r"""A one-sided 97.5% lower bound of :math:`W_1` that holds for every pair of
    distributions: the held-out mean difference of the potential clipped to a range
    (:math:`\min(\max(f, a), b)` is 1-Lipschitz too), less the margin that
    :func:`~divergences.neural._bounded_mean.difference_lower` gives values in that
    range. The range is the one, among the pooled validation values' quantiles
    :data:`TRIMS` from each end, that certifies most on the validation values
    ``choosing``: wide enough to keep the mean difference, narrow enough to keep the
    margin (at most about :math:`2 (b - a) \log 40 / (0.9 n)` beyond the normal one on
    :math:`n` test values a side). A normal quantile on the held-out mean does not
    hold where a rare part of one law lies far from the rest and a small test split
    misses it.
    """
    valid = [v.detach().double().cpu().numpy() for v in choosing]
    test = [v.detach().double().cpu().numpy() for v in held_out]
    pooled = np.concatenate(valid)
    if pooled.size == 0:
        return -math.inf

    def bound(values: list[np.ndarray], trim: float) -> float:
        low, high = (float(np.quantile(pooled, share)) for share in (trim, 1.0 - trim))
        return difference_lower(values[0], (low, high), values[1], (low, high))

    trim = max(TRIMS, key=lambda share: bound(valid, share))
    return bound(test, trim)


def _ridge(
    part: _Parts, critic: Critic, generator: torch.Generator, options: TrainingOptions
) -> RidgePotential:
    train_p, train_q = part.train
    rows = torch.cat([train_p[:_DIRECTION_ROWS], train_q[:_DIRECTION_ROWS]])
    starts = ridge_starts(train_p, train_q, [critic_direction(critic, rows.float())])
    steps = RIDGE_STEPS if options.steps is None else min(RIDGE_STEPS, options.steps)
    direction, knots, slopes = fit_ridge(
        train_p, train_q, *part.tuning, starts, generator, steps=steps
    )
    zero, one = train_p.new_zeros(train_p.shape[1]), train_p.new_ones(())
    return RidgePotential(zero, one, direction, knots, slopes)


def _stack_sampler(
    trains: list[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]:
    """(K, size, d) float32 batches drawn with replacement from each problem's training parts."""
    stacks = []
    for side in (0, 1):
        longest = max(train[side].shape[0] for train in trains)
        data = torch.zeros(len(trains), longest, trains[0][side].shape[1], device=device)
        for k, train in enumerate(trains):
            data[k, : train[side].shape[0]] = train[side]
        sizes = torch.tensor([train[side].shape[0] for train in trains], device=device)
        stacks.append((data, sizes))
    rows = torch.arange(len(trains), device=device).unsqueeze(1)

    def sample(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        drawn = []
        for data, sizes in stacks:
            uniform = torch.rand(len(trains), size, generator=generator, device=device)
            index = (uniform * sizes.unsqueeze(1)).long().clamp_(max=data.shape[1] - 1)
            drawn.append(data[rows, index])
        return drawn[0], drawn[1]

    return sample


def empirical_distance(x_p: torch.Tensor, x_q: torch.Tensor) -> tuple[float, float]:
    r"""The exact :math:`W_1` between two samples and its standard error.

    Up to ``EMPIRICAL_SAMPLES`` rows a side in d >= 2 (the network simplex), all
    of them in d = 1 (sorting). The standard error is the delta method's,
    :math:`\sqrt{\operatorname{Var} u / n + \operatorname{Var} v / m}` with
    :math:`u, v` the dual potentials of the solution.
    """
    from divergences.transport import optimal_transport

    if x_p.shape[1] == 1:
        s_p, s_q = x_p[:, 0].double(), x_q[:, 0].double()
        knots, slopes = projected_potential(s_p, s_q, knots=4 * 1024)
        ridge = RidgePotential(
            s_p.new_zeros(1), s_p.new_ones(()), s_p.new_ones(1), knots, torch.sign(slopes)
        )
        value = float(_exact_1d(s_p, s_q))
        return value, mean_difference(ridge, x_p, x_q)[1]
    a = x_p[:EMPIRICAL_SAMPLES].double().cpu().numpy()
    b = x_q[:EMPIRICAL_SAMPLES].double().cpu().numpy()
    solution = optimal_transport(a, b)
    spread = math.sqrt(
        float(np.var(solution.potential_x)) / a.shape[0]
        + float(np.var(solution.potential_y)) / b.shape[0]
    )
    return float(solution.distance), spread


def _exact_1d(s_p: torch.Tensor, s_q: torch.Tensor) -> torch.Tensor:
    """:math:`\\int |F_P - F_Q|` of two empirical laws, by merging their sorted values."""
    values = torch.cat([s_p, s_q])
    order = torch.argsort(values)
    ordered = values[order]
    steps = torch.where(
        order < s_p.numel(),
        torch.tensor(1.0 / s_p.numel(), dtype=torch.float64, device=values.device),
        torch.tensor(-1.0 / s_q.numel(), dtype=torch.float64, device=values.device),
    )
    gap = torch.cumsum(steps, 0)[:-1]
    return (gap.abs() * torch.diff(ordered)).sum()
