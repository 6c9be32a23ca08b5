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
:math:`\lambda_i \in [0, c]` chosen from :math:`u_1, \dots, u_{i-1}` alone, is a
nonnegative supermartingale whenever the mean is at most :math:`m`; by Ville's
inequality it ever reaches :math:`1/\alpha` with probability at most :math:`\alpha`.
Every :math:`m` at which it does is rejected, and the bound is the largest rejected
:math:`m`. The bets do not depend on :math:`m` and are nonnegative, so the capital
falls as :math:`m` rises: the rejected set runs from 0 to the bound, which bisection
finds. The bets are the predictable plug-in of that paper, the variance-adaptive bet
that a normal mean would call for, capped at :data:`MAXIMUM_BET` so that a value at 0
costs at most a tenth of the capital.
"""

from __future__ import annotations

import math

import numpy as np

#: The largest bet: a value at the bottom of the range multiplies the capital by at
#: least ``1 - MAXIMUM_BET``.
MAXIMUM_BET = 0.9
_BISECTIONS = 60


def bounded_mean_lower(values: np.ndarray, level: float = 0.975) -> float:
    r"""A lower confidence bound of the common mean of independent ``values`` in
    :math:`[0, 1]`, at ``level`` for every distribution on :math:`[0, 1]` (each value
    may have a law of its own, so long as the means agree).

    The values are taken in the order given, which must not depend on them (shuffle
    with a generator of its own first where it might); 0 when there are none. The
    bound falls short of the sample mean by about the normal quantile's margin where
    the values spread, and by about :math:`\log(1/\alpha) / (c n)` where they do not:
    the price of a mass that :math:`n` samples cannot see.
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
    bets = np.minimum(np.sqrt(2.0 * threshold / (n * before)), MAXIMUM_BET)

    def rejected(m: float) -> bool:
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
