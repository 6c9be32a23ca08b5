r"""A lower confidence bound of the mean of bounded values that holds for every distribution.

A normal or Student's t quantile on a sample mean assumes the mean near normal. Values
with a rare, far lower tail break it: where a value far below the rest turns up in one
draw in a few hundred, most samples of a few hundred miss it, and their mean and spread
both overstate the truth. No bound that holds for every distribution exists for values
unbounded below (a small enough mass far enough down moves the mean anywhere); for
values in :math:`[0, 1]` one does, and it pays about :math:`\log(1/\alpha) / n` for the
mass no sample of :math:`n` can rule out.

The bound here tests by betting (Waudby-Smith and Ramdas, "Estimating means of bounded
random variables by betting", JRSS B, 2024). For a candidate mean :math:`m` the capital
:math:`K_t(m) = \prod_{i \le t} (1 + \lambda_i (u_i - m))`, with bets
:math:`\lambda_i \in [0, c/m]` chosen from :math:`u_1, \dots, u_{i-1}` alone, is a
nonnegative supermartingale whenever the mean is at most :math:`m`; by Ville's
inequality it ever reaches :math:`1/\alpha` with probability at most :math:`\alpha`.
Every :math:`m` at which it does is rejected, and the bound is the largest rejected
:math:`m`. The bets are nonnegative and depend on :math:`m` only through a cap
:math:`c/m`, under which the log of each factor still falls as :math:`m` rises (its
derivative is :math:`-c u_i / m^2` or :math:`-\lambda_i`, over a positive factor): the
rejected set runs from 0 to the bound, which bisection finds. The bets are the
predictable plug-in of that paper, the variance-adaptive bet that a normal mean would
call for, capped with :math:`c` = :data:`MAXIMUM_BET`, so that a value at 0 costs at
most nine tenths of the capital. On :math:`n` values all at 1 the bound is within 13% of
the exact :math:`0.025^{1/n}` in its distance from 1.
"""

from __future__ import annotations

import math

import numpy as np

#: The largest bet is this over the candidate mean: a value at the bottom of the range
#: multiplies the capital by at least ``1 - MAXIMUM_BET``.
MAXIMUM_BET = 0.9
_BISECTIONS = 60


def bounded_mean_lower(values: np.ndarray, level: float = 0.975) -> float:
    r"""A lower confidence bound of the common mean of independent ``values`` in
    :math:`[0, 1]`, at ``level`` for every distribution on :math:`[0, 1]` (each value
    may have a law of its own, so long as the means agree).

    The values are taken in the order given, which must not depend on them (shuffle
    with a generator of its own first where it might); 0 when there are none. The
    bound falls short of the sample mean by about the normal quantile's margin where
    the values spread, and by about :math:`m \log(1/\alpha) / (c n)` where they do not
    (:math:`m` the mean): the price of a mass at 0 that :math:`n` samples cannot see.
    """
    u = np.asarray(values, dtype=np.float64).reshape(-1)
    if u.size == 0:
        return 0.0
    u = np.clip(u, 0.0, 1.0)
    n = u.size
    seen = np.arange(1, n + 1)
    # running mean and variance, each started from the value of the uniform law on [0, 1]
    mean = (0.5 + np.cumsum(u)) / (seen + 1)
    variance = (0.25 + np.cumsum((u - mean) ** 2)) / (seen + 1)
    before = np.concatenate([[0.25], variance[:-1]])
    threshold = math.log(1.0 / (1.0 - level))
    plug_in = np.sqrt(2.0 * threshold / (n * before))

    def rejected(m: float) -> bool:
        # a value at 0 multiplies the capital by 1 - bet * m, at least 1 - MAXIMUM_BET
        bets = np.minimum(plug_in, MAXIMUM_BET / m) if m > 0 else plug_in
        return float(np.max(np.cumsum(np.log1p(bets * (u - m))))) >= threshold

    low, high = 0.0, 1.0
    if not rejected(low):
        return 0.0
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        if rejected(middle):
            low = middle
        else:
            high = middle
    return low


def difference_lower(
    values_p: np.ndarray,
    range_p: tuple[float, float],
    values_q: np.ndarray,
    range_q: tuple[float, float],
    level: float = 0.975,
) -> float:
    r"""A lower confidence bound of :math:`\mathbb E v_p - \mathbb E v_q` at ``level``
    for every pair of distributions, from independent samples of each, clipped to
    their ranges ``(low, high)``.

    Each value of the smaller side is paired with the mean of its own block of the
    larger side's, both sides shuffled first by a generator of their own (any order
    that does not depend on the values), the blocks as even in size as can be and
    every value in one: the differences are independent with one mean, and
    :func:`bounded_mean_lower` bounds it on their range. The order of the values as
    given does not matter, so a sorted sample is as good as a shuffled one.
    -inf where a side has no values.
    """
    shuffle = np.random.default_rng(0)
    sides = []
    for values, (low, high) in ((values_p, range_p), (values_q, range_q)):
        v = np.clip(np.asarray(values, dtype=np.float64).reshape(-1), low, high)
        sides.append(v[shuffle.permutation(v.size)])
    p, q = sides
    if p.size == 0 or q.size == 0:
        return -math.inf
    small, large = (p, q) if p.size <= q.size else (q, p)
    edges = (np.arange(small.size + 1) * large.size) // small.size
    blocks = np.add.reduceat(large, edges[:-1]) / np.diff(edges)
    differences = small - blocks if small is p else blocks - small
    bottom = range_p[0] - range_q[1]
    width = (range_p[1] - range_p[0]) + (range_q[1] - range_q[0])
    if width <= 0:
        return float(np.mean(differences))
    return bottom + width * bounded_mean_lower((differences - bottom) / width, level)
