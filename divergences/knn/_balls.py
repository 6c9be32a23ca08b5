"""Gaussian ball probabilities: the noncentral chi-square CDF, near and far, with derivatives.

The reference estimator needs, at every sample, the log probability that a
standard normal puts on the neighbour ball ``B(w, r)`` and its derivatives in
``|w|`` and ``r`` (:func:`_log_gaussian_ball`): SciPy's noncentral chi-square
CDF near the origin, a fixed Gauss-Laguerre quadrature farther out
(:func:`_log_ball_by_quadrature`), Laplace's method for narrow balls far out.
:func:`_log_ball` attaches those derivatives to torch offsets and radii.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from divergences._backend import Backend

# Below this Gaussian ball probability SciPy's noncentral chi-square CDF loses
# accuracy (it underflows to 0 from about 1e-90); the far-ball asymptotic takes over,
# whose relative error in the probability is O(1/gap^2), a few percent there.
_SMALL_BALL = 1e-50
# SciPy's noncentral chi-square CDF sums about sqrt(lambda) Poisson terms, so its
# cost grows with the offset (and it returns NaN for very far balls). Balls centred
# farther out than this offset use the quadrature below, whose cost is fixed.
_CDF_OFFSET = 40.0
# Gauss-Laguerre nodes for the ball probability as an expectation over a
# chi-square variable: agrees with SciPy's CDF to 1e-9 in the log for d <= 300,
# wherever the ball's squared radius clears the chi-square bulk by this margin.
_QUADRATURE_NODES = 48
_QUADRATURE_MARGIN = 40.0


@lru_cache(maxsize=32)
def _chi_square_nodes(degrees: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes ``u_k`` and log-weights for :math:`E f(U)`, :math:`U \sim \chi^2_{degrees}`."""
    from scipy.special import gammaln, roots_genlaguerre

    if degrees == 0:
        return np.zeros(1), np.zeros(1)
    shape = degrees / 2
    # U = 2V with V ~ Gamma(shape): generalised Gauss-Laguerre with weight v^(shape-1) e^-v.
    nodes, weights = roots_genlaguerre(_QUADRATURE_NODES, shape - 1)
    return 2 * nodes, np.log(weights) - gammaln(shape)


def _log_ball_by_quadrature(
    offset: np.ndarray, radius: np.ndarray, d: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":func:`_log_gaussian_ball` as an expectation over a chi-square variable.

    Along :math:`w`, :math:`z = (t, u)` with :math:`t \sim N(0, 1)` and
    :math:`|u|^2 = U \sim \chi^2_{d-1}`; the ball holds :math:`z` when
    :math:`|t - a| \le s = \sqrt{r^2 - U}`, so
    :math:`F = E[\Phi(s - a) - \Phi(-s - a)]`, and
    :math:`\partial_a F = -E[\phi(s - a) - \phi(s + a)]`,
    :math:`\partial_r F = E[(\phi(s - a) + \phi(s + a)) r / s]`. Any offset
    costs the same, all in logarithms, so no tail underflows.
    """
    from scipy.special import log_ndtr, logsumexp

    nodes, log_weights = _chi_square_nodes(d - 1)
    a, r = offset[:, None], radius[:, None]
    squared = r * r - nodes[None, :]
    inside = squared > 0
    s = np.sqrt(np.where(inside, squared, 1.0))
    upper, lower = log_ndtr(s - a), log_ndtr(-s - a)
    log_density = -0.5 * (s - a) ** 2 - 0.5 * math.log(2 * math.pi)
    with np.errstate(divide="ignore"):
        log_mass = upper + np.log1p(-np.exp(lower - upper))
        # phi(s + a) / phi(s - a) = exp(-2 a s)
        log_slope_offset = log_density + np.log1p(-np.exp(-2 * a * s))
    log_slope_radius = log_density + np.log1p(np.exp(-2 * a * s)) + np.log(r / s)
    weights = np.where(inside, log_weights[None, :], -np.inf)
    value = logsumexp(weights + log_mass, axis=1)
    d_offset = -np.exp(logsumexp(weights + log_slope_offset, axis=1) - value)
    d_radius = np.exp(logsumexp(weights + log_slope_radius, axis=1) - value)
    return value, d_offset, d_radius


def _log_gaussian_ball(
    offset: np.ndarray, radius: np.ndarray, d: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``log N(0, I_d)(B(w, r))`` and its derivatives in ``|w|`` and ``r``.

    The probability is the noncentral chi-square CDF
    :math:`F_d(r^2; \lambda = |w|^2)`; :math:`\partial_r \log F = 2r f_d / F_d` and
    :math:`\partial_{|w|} \log F = -|w| (1 - F_{d+2} / F_d)`, from SciPy for
    balls centred within ``_CDF_OFFSET`` of the origin. Elsewhere, and where that
    CDF is below ``_SMALL_BALL``, balls wide enough for it take
    :func:`_log_ball_by_quadrature`, whose cost does not grow with the offset;
    narrow balls far out take Laplace's method at the ball's point nearest the
    origin: with :math:`b = |w| - r`,
    :math:`F \approx (2\pi)^{-d/2} e^{-b^2/2} b^{-1} (2\pi r / |w|)^{(d-1)/2}`.
    """
    from scipy import special
    from scipy.stats import ncx2

    lam, x = offset * offset, radius * radius
    cdf = np.zeros_like(radius)
    tabulated = offset <= _CDF_OFFSET
    cdf[tabulated] = special.chndtr(x[tabulated], d, lam[tabulated])
    near = cdf > _SMALL_BALL
    value = np.empty_like(radius)
    d_offset = np.empty_like(radius)
    d_radius = np.empty_like(radius)
    log_cdf = np.log(cdf[near])
    value[near] = log_cdf
    d_radius[near] = 2 * radius[near] * np.exp(ncx2.logpdf(x[near], d, lam[near]) - log_cdf)
    d_offset[near] = -offset[near] * (1 - special.chndtr(x[near], d + 2, lam[near]) / cdf[near])
    gap = offset - radius
    # The quadrature's integrand is smooth where r^2 clears the chi-square bulk;
    # Laplace's method needs the ball clear of the origin.
    wide = ~near & ((x >= 2 * (d - 1) + _QUADRATURE_MARGIN) | (gap <= 0))
    if np.any(wide):
        value[wide], d_offset[wide], d_radius[wide] = _log_ball_by_quadrature(
            offset[wide], radius[wide], d
        )
    far = ~near & ~wide
    if np.any(far):
        a, r, b = offset[far], radius[far], gap[far]
        value[far] = (
            -0.5 * d * math.log(2 * math.pi)
            - 0.5 * b * b
            - np.log(b)
            + 0.5 * (d - 1) * np.log(2 * math.pi * r / a)
        )
        d_radius[far] = b + 1 / b + 0.5 * (d - 1) / r
        d_offset[far] = -b - 1 / b - 0.5 * (d - 1) / a
    return value, d_offset, d_radius


def _log_ball(w: Any, r: Any, d: int, backend: Backend) -> Any:
    """Mean log standard-normal probability of the balls ``B(w_i, r_i)``, differentiable."""
    squared = backend.sum(w * w, axis=1)
    positive = squared > 0
    # A ball centred on the reference's mean: no derivative of |w| there; use 0, not NaN.
    offset: Any = backend.where(positive, backend.sqrt(backend.where(positive, squared, 1.0)), 0.0)
    value, d_offset, d_radius = _log_gaussian_ball(
        backend.to_numpy(offset), backend.to_numpy(r), d
    )
    result = backend.from_numpy(value)
    if backend.name == "torch":
        # First-order surrogate: the value from SciPy, the derivatives attached to
        # the torch offsets and radii (exact first derivatives, no second ones).
        result = (
            result
            + backend.from_numpy(d_offset) * (offset - offset.detach())
            + backend.from_numpy(d_radius) * (r - r.detach())
        )
    return backend.sum(result) / int(w.shape[0])
