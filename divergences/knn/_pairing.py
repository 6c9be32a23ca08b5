"""The paired-sample check: refuse samples of Q that are perturbations of P's own points.

The k-NN estimators assume two independent samples; Q made as ``x + small
noise`` puts a point of Q next to nearly every point of P and makes the
estimates meaningless (negative). :func:`_check_independent` tells such pairs
from independent samples by how often Q comes much nearer than P's own
nearest neighbour.
"""

from __future__ import annotations

import numpy as np

from divergences._validation import ArgumentsError

# Paired samples: a point of Q closer to x_i than this share of x_i's distance to
# its nearest other point of P (scaled down in low dimension so that independent
# samples do it at a rate of at most 1%), at more than this share of P's points.
_PAIRED_RATIO = 0.1
_PAIRED_RATE = 0.01
_PAIRED_SHARE = 0.25
_PAIRED_MIN_COUNT = 3


def _nearest_distances(a: np.ndarray, b: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``|a_i - b_{indices_i}|`` in numpy: the distances the check compares."""
    differences = a - b[indices]
    return np.sqrt(np.einsum("ij,ij->i", differences, differences))


def _check_independent(
    own_nearest: np.ndarray,
    other_nearest: np.ndarray,
    n_other: int,
    d: int,
    names: tuple[str, str],
) -> None:
    r"""Refuse samples of Q that sit on top of P's own points (paired, not independent).

    ``own_nearest`` and ``other_nearest`` are each x_i's distances to its nearest
    other point of P and to its nearest point of Q (both at positive distance).
    For independent samples, locally Poisson, Q's nearest point falls within a
    ratio :math:`\delta` of P's with probability
    :math:`m q \delta^d / (m q \delta^d + (n - 1) p)`, whose mean under P is at
    most :math:`\delta^d m / (n - 1)` since :math:`E_P[q / p] \le 1`. With
    :math:`\delta` chosen to make that at most 1%, a quarter of the points is
    far beyond sampling noise; Q made by perturbing P's points (``x + noise``)
    puts nearly all of them there.
    """
    n = len(own_nearest)
    ratio = min(_PAIRED_RATIO, (_PAIRED_RATE * max(n - 1, 1) / n_other) ** (1.0 / d))
    close = int(np.count_nonzero(other_nearest < ratio * own_nearest))
    if close >= max(_PAIRED_MIN_COUNT, _PAIRED_SHARE * n):
        # {0}: the first sample's name, {1}: the second's (ArgumentsError fills them)
        raise ArgumentsError(
            f"{{1}} looks paired with {{0}}: for {close} of the {n} points of {{0}} "
            f"a point of {{1}} lies closer than {ratio:.2g} times the distance to the "
            f"nearest other point of {{0}}, which independent samples do for at most about "
            f"{_PAIRED_RATE:.0%} of them. The k-NN estimates assume two independent "
            "samples; {1} made by perturbing the points of {0} (adding small noise) "
            "makes them meaningless (they come out negative). Draw {1} independently "
            "of {0}.",
            names,
        )
