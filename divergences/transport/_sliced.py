"""The sliced Wasserstein distance: random directions, each a 1-D problem solved by POT."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from divergences._backend import ArrayLike, Result, exponent_above, standardise, times_power_of_two
from divergences._validation import check_count, check_seed
from divergences.transport._problem import _prepare
from divergences.transport._scale import _ScaledCost

# Projected values (samples of both sets times directions) per call of POT's 1-D solver in
# the sliced distance. That solver keeps about a hundred bytes per projected value (sorted
# copies, cumulative weights and their merge), so its memory follows the block size, where
# all directions at once would grow with their number.
_SLICED_BLOCK_VALUES = 1 << 20


def sliced_wasserstein(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: float = 1,
    n_projections: int = 200,
    weights_x: ArrayLike | None = None,
    weights_y: ArrayLike | None = None,
    seed: int | None = None,
) -> Result:
    r"""Sliced Wasserstein distance: a different metric, at most :math:`W_p`, at any size.

    .. math::

        SW_p(\mu, \nu) = \Big( \mathbb E_{\omega \sim U(S^{d-1})}
        W_p^p(\omega^\top_\# \mu, \omega^\top_\# \nu) \Big)^{1/p}

    estimated with ``n_projections`` random directions :math:`\omega`, each a
    1-D problem solved from sorted projections by POT
    (:func:`ot.sliced_wasserstein_distance`). It is a different distance from
    :math:`W_p`, not an approximation of it: :math:`SW_p \le W_p`, equal
    when ``d = 1``, and smaller by a factor that grows with the dimension (for
    a translation by :math:`t` in the plane :math:`SW_1 = 2|t|/\pi \approx
    0.64\,|t|` while :math:`W_1 = |t|`). Use it to compare distributions with
    each other, not as a value of :math:`W_p`.

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of the first distribution.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of the second distribution.
    p : float, default 1
        Order, ``>= 1``.
    n_projections : int, default 200
        Number of random directions; the Monte Carlo error falls as
        :math:`1 / \sqrt{\text{n\_projections}}`.
    weights_x, weights_y : (n,) and (m,) array-like or torch.Tensor, optional
        Non-negative sample weights, normalised; uniform by default.
    seed : int, optional
        Seed for the directions (drawn by NumPy, the same for numpy and torch
        inputs); ``None`` draws fresh entropy.

    Returns
    -------
    float or torch.Tensor
        The estimate of :math:`SW_p`; a tensor with autograd for tensors.

    Raises
    ------
    ValueError
        On the inputs :func:`wasserstein` rejects, ``n_projections < 1`` or
        ``seed < 0``, and where ``p`` is so large that the projected gaps'
        ``p``-th powers underflow float64.
    TypeError
        If an input is not an array of real numbers.

    Notes
    -----
    Cost :math:`O(L (n + m) (d + \log(n + m)))` time for :math:`L` projections and
    no :math:`n \times m` matrix. The directions are handed to POT's 1-D solver a
    block of about :math:`2^{20}` projected values at a time, so that its memory
    stays bounded whatever :math:`L`; for very large samples use a
    subsample (the ``divergences compare`` command does so for memory-mapped
    files).

    Scale and dtypes as in :func:`wasserstein`: the samples are moved and
    scaled together by a power of two so that every projected gap is at most 1
    inside POT, and :math:`SW_p(s x + t, s y + t) = s \, SW_p(x, y)` for the
    same directions.

    References
    ----------
    .. [1] N. Bonneel, J. Rabin, G. Peyré and H. Pfister, "Sliced and Radon
       Wasserstein barycenters of measures", J. Math. Imaging Vision 51, 2015.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 3))
    >>> sw = dv.sliced_wasserstein(x, x + [3.0, 0.0, 0.0], seed=0)
    >>> bool(sw < dv.wasserstein(x, x + [3.0, 0.0, 0.0]))  # SW <= W
    True
    """
    import ot

    n_projections = check_count(n_projections, "n_projections")
    seed = check_seed(seed)
    problem = _prepare(x, y, p=p, weights_x=weights_x, weights_y=weights_y, metric="euclidean")
    backend = problem.backend
    dim = int(problem.x.shape[1])
    directions = np.random.default_rng(seed).standard_normal((dim, n_projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    # Points in [-1, 1]^d project to within sqrt(d) of 0: one more power of two
    # keeps every projected gap, and so every gap^p inside POT, at most 1.
    (xs, ys), exponent = standardise([problem.x, problem.y], backend)
    shrink = exponent_above(2 * math.sqrt(dim))
    xs, ys = times_power_of_two(xs, -shrink), times_power_of_two(ys, -shrink)

    # The directions go to POT a block at a time, so that memory stays bounded at any n.
    block = max(1, _SLICED_BLOCK_VALUES // (int(xs.shape[0]) + int(ys.shape[0])))

    def sliced(order: float) -> Any:
        total: Any = 0.0
        for start in range(0, n_projections, block):
            _, log = ot.sliced_wasserstein_distance(
                xs,
                ys,
                problem.weights_x,
                problem.weights_y,
                p=order,
                projections=backend.from_numpy(directions[:, start : start + block]),
                log=True,
            )
            total = total + backend.sum(log["projected_emds"])
        # POT's own formula for the mean of W_p^p over all the directions
        return (total / n_projections) ** (1.0 / order)

    value = sliced(problem.p)
    mean_power = backend.scalar(value) ** problem.p
    # Below the normal range either the projections agree (then SW_1 is 0 too)
    # or gap^p underflowed.
    if (
        problem.p != 1
        and mean_power < np.finfo(np.float64).tiny
        and (mean_power > 0 or backend.scalar(sliced(1.0)) > 0)
    ):
        raise ValueError(
            f"SW_{problem.p:g} of these samples is beyond float64's resolution: the "
            f"{problem.p:g}-th powers of the projected gaps, relative to the samples' "
            "extent, are below 1e-308; use a smaller p"
        )
    return _ScaledCost.of(value, 1.0, exponent + shrink, 1.0, backend).distance()
