"""Exact values (and derivatives) of divergences for families with known answers.

These are the references that tests and benchmarks compare estimates with:

* :func:`segments`: the disjoint-segments family of the WGAN paper,
  :math:`P = (0, U[0, 1])` and :math:`Q_\\theta = (\\theta, U[0, 1])`;
* :func:`gaussian_kl` and :func:`gaussian_w2`: multivariate normals;
* :func:`translation_wasserstein`: any distribution against its translate;
* :func:`gaussian_scale_wasserstein`: :math:`N(\\mu, \\sigma^2 I)` against
  :math:`N(\\mu, s^2 \\sigma^2 I)`;
* :func:`radial_wasserstein`: radially symmetric distributions with radii
  uniform on intervals (concentric shells).

Samples of these families come from :mod:`divergences.families`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from divergences._backend import (
    ArrayLike,
    Backend,
    Result,
    exponent_above,
    psd_factor,
    scaled_norm,
    times_power_of_two,
)
from divergences._validation import (
    as_array,
    as_covariance,
    as_vector,
    backend_for,
    check_base,
    check_count,
    check_distance_base,
    check_finite,
    check_not_empty,
    check_option,
    check_real,
)

__all__ = [
    "SEGMENT_MEASURES",
    "Reference",
    "gaussian_kl",
    "gaussian_scale_wasserstein",
    "gaussian_w2",
    "radial_wasserstein",
    "segments",
    "translation_wasserstein",
]

_LOG2 = math.log(2.0)


@dataclass(frozen=True)
class Reference:
    """A closed-form value of a divergence and its derivative in the parameter.

    Attributes
    ----------
    value : float, numpy.ndarray or torch.Tensor
        The divergence, shaped like the parameter.
    derivative : float, numpy.ndarray or torch.Tensor
        Its derivative with respect to the parameter; NaN where none exists.
    """

    value: Result
    derivative: Result


def _segments_kl(theta: Any, backend: Backend, p: float, log_base: float) -> tuple[Any, Any]:
    apart = theta != 0
    value = backend.where(apart, math.inf, 0.0)
    # +inf on both sides of 0 and 0 at 0: no derivative anywhere.
    return value, backend.full_like(theta, math.nan)


def _segments_js(theta: Any, backend: Backend, p: float, log_base: float) -> tuple[Any, Any]:
    apart = theta != 0
    # theta * 0 keeps a torch value attached to theta's graph, with the true
    # gradient 0, so the closed form can be differentiated like any estimate.
    value = backend.where(apart, _LOG2 / log_base, 0.0) + theta * 0
    return value, backend.where(apart, 0.0, math.nan)


def _segments_js_distance(
    theta: Any, backend: Backend, p: float, log_base: float
) -> tuple[Any, Any]:
    apart = theta != 0
    value = backend.where(apart, math.sqrt(_LOG2 / log_base), 0.0) + theta * 0
    return value, backend.where(apart, 0.0, math.nan)


def _segments_wasserstein(
    theta: Any, backend: Backend, p: float, log_base: float
) -> tuple[Any, Any]:
    # Every point moves horizontally by |theta|, whatever p: W_p = |theta|.
    return backend.abs(theta), backend.sign(theta)


_SEGMENT_REFERENCES: dict[str, Callable[[Any, Backend, float, float], tuple[Any, Any]]] = {
    "kl": _segments_kl,
    "js": _segments_js,
    "js_distance": _segments_js_distance,
    "wasserstein": _segments_wasserstein,
}
#: The measures :func:`segments` knows.
SEGMENT_MEASURES: tuple[str, ...] = tuple(_SEGMENT_REFERENCES)


def segments(
    theta: ArrayLike,
    *,
    measure: str = "wasserstein",
    p: float | None = None,
    base: float | None = None,
) -> Reference:
    r"""Closed-form divergence between the segments :math:`P` and :math:`Q_\theta`.

    :math:`P` is uniform on the vertical segment :math:`\{0\} \times [0, 1]`
    and :math:`Q_\theta` is the same segment moved to :math:`x = \theta`
    (Arjovsky et al. 2017, Example 1). For :math:`\theta \ne 0` the supports
    are disjoint and

    .. math::

        \mathrm{KL}(P \,\|\, Q_\theta) = \mathrm{KL}(Q_\theta \,\|\, P) = +\infty,
        \qquad \mathrm{JS}(P, Q_\theta) = \log 2,
        \qquad W_p(P, Q_\theta) = |\theta| \quad (p \ge 1),

    and all of them are 0 at :math:`\theta = 0`.

    Parameters
    ----------
    theta : float, (...) array-like or torch.Tensor
        The horizontal offset(s) of :math:`Q_\theta`.
    measure : {"kl", "js", "js_distance", "wasserstein"}, default "wasserstein"
        Which divergence. ``"kl"`` is the same in both directions here.
    p : float, optional
        Order of the Wasserstein distance (``>= 1``, default 1); only with
        ``measure="wasserstein"``. The value does not depend on it.
    base : float, optional
        Logarithm base for ``"kl"``, ``"js"`` and ``"js_distance"``; natural
        when ``None``. As in :func:`divergences.js`, a base below 1 makes JS
        negative (``log 2 / log base``); the JS distance needs a base above 1.

    Returns
    -------
    Reference
        ``value`` and ``derivative`` (d value / d theta), shaped like ``theta``.
        For a tensor ``theta`` both are tensors; ``value`` carries autograd for
        ``"wasserstein"``, ``"js"`` and ``"js_distance"`` (with gradient 0 for
        the last two).

    Raises
    ------
    ValueError
        If ``theta`` is empty or holds NaN or inf, ``measure`` is unknown,
        ``p < 1``, ``base`` is invalid (below 1 for ``"js_distance"``, whose
        square root would be of a negative number), or an option is given that
        the measure does not take.
    TypeError
        If ``theta`` is not a number or an array of numbers.

    Notes
    -----
    Derivatives: KL has none (it is :math:`+\infty` on both sides of 0), so
    its derivative is NaN everywhere. JS and the JS distance are constant for
    :math:`\theta \ne 0` (derivative 0) and jump at 0 (NaN there). :math:`W_p`
    has derivative :math:`\operatorname{sign}\theta`, and at 0 the value 0, the
    smallest subgradient, which is also what autograd gives for
    :math:`|\theta|`.

    References
    ----------
    .. [1] M. Arjovsky, S. Chintala and L. Bottou, "Wasserstein GAN", ICML 2017,
       Example 1.

    Examples
    --------
    >>> from divergences.closed_form import segments
    >>> segments([-1.0, 0.0, 0.5], measure="wasserstein")
    Reference(value=array([1. , 0. , 0.5]), derivative=array([-1.,  0.,  1.]))
    >>> segments(0.5, measure="js", base=2).value
    1.0
    >>> segments(0.5, measure="kl").value
    inf
    """
    measure = check_option(measure, "measure", SEGMENT_MEASURES)
    if measure == "wasserstein":
        if base is not None:
            raise ValueError("base applies to 'kl', 'js' and 'js_distance', not 'wasserstein'")
        order = 1.0 if p is None else check_real(p, "p", minimum=1.0)
        log_base = 1.0
    else:
        if p is not None:
            raise ValueError(f"p applies to measure 'wasserstein', not {measure!r}")
        order = 1.0
        log_base = check_distance_base(base) if measure == "js_distance" else check_base(base)
    backend = backend_for(theta=theta)
    theta = as_array(theta, "theta", backend)
    check_not_empty(theta, "theta")
    check_finite(theta, "theta", backend)
    value, derivative = _SEGMENT_REFERENCES[measure](theta, backend, order, log_base)
    if backend.name == "torch":
        derivative = derivative.detach()
    return Reference(value=backend.to_output(value), derivative=backend.to_output(derivative))


def _gaussian_pair(
    mean_p: ArrayLike,
    cov_p: ArrayLike,
    mean_q: ArrayLike,
    cov_q: ArrayLike,
    *,
    definite: bool,
) -> tuple[Any, Any, Any, Any, Backend]:
    backend = backend_for(mean_p=mean_p, cov_p=cov_p, mean_q=mean_q, cov_q=cov_q)
    mp = as_vector(mean_p, "mean_p", backend)
    mq = as_vector(mean_q, "mean_q", backend)
    if mq.shape[0] != mp.shape[0]:
        raise ValueError(
            f"mean_p and mean_q must have the same dimension; got {mp.shape[0]} and {mq.shape[0]}"
        )
    dim = int(mp.shape[0])
    cp = as_covariance(cov_p, "cov_p", backend, dim, definite=definite)
    cq = as_covariance(cov_q, "cov_q", backend, dim, definite=definite)
    return mp, cp, mq, cq, backend


def gaussian_kl(
    mean_p: ArrayLike,
    cov_p: ArrayLike,
    mean_q: ArrayLike,
    cov_q: ArrayLike,
    *,
    base: float | None = None,
) -> Result:
    r"""KL divergence between two multivariate normal distributions.

    .. math::

        \mathrm{KL}(\mathcal N(\mu_p, \Sigma_p) \,\|\, \mathcal N(\mu_q, \Sigma_q))
        = \tfrac12 \Big( \operatorname{tr}(\Sigma_q^{-1} \Sigma_p)
        + (\mu_q - \mu_p)^\top \Sigma_q^{-1} (\mu_q - \mu_p) - d
        + \log \frac{\det \Sigma_q}{\det \Sigma_p} \Big)

    Parameters
    ----------
    mean_p, mean_q : (d,) array-like or torch.Tensor
        The means; a scalar means ``d = 1``.
    cov_p, cov_q : (d, d) array-like or torch.Tensor
        Symmetric positive definite covariances; a scalar is a variance when
        ``d = 1``.
    base : float, optional
        Logarithm base; natural when ``None``.

    Returns
    -------
    float or torch.Tensor
        The divergence, ``>= 0``; a tensor with autograd if any input is one.

    Raises
    ------
    ValueError
        On NaN or inf, mismatched dimensions, a covariance that is not
        symmetric positive definite, or a divergence beyond the float range
        (means 1e200 apart with unit covariances).
    TypeError
        If an input is not an array of real numbers.

    Notes
    -----
    Computed through Cholesky factors (no explicit inverse or determinant), so
    it stays accurate for ill-conditioned covariances; near equal covariances
    it sums :math:`t_i - \log(1 + t_i)` over the eigenvalues :math:`t_i` of
    :math:`L_q^{-1} (\Sigma_p - \Sigma_q) L_q^{-\top}`, so that a small
    divergence keeps its relative precision (a variance of 1 against
    :math:`1 + 10^{-8}` gives :math:`2.5 \cdot 10^{-17}`, not 0). The value is
    invariant under a common change of scale of both Gaussians. Half-precision
    tensors are computed in float32 and returned in their dtype.

    References
    ----------
    .. [1] J. Duchi, "Derivations for linear algebra and optimization", 2007,
       section 9 (KL divergence between normal distributions).

    Examples
    --------
    >>> from divergences.closed_form import gaussian_kl
    >>> gaussian_kl([0.0], [[1.0]], [1.0], [[1.0]])  # (mu_p - mu_q)^2 / 2
    0.5
    >>> gaussian_kl([0, 0], [[2, 0], [0, 2]], [0, 0], [[1, 0], [0, 1]])
    0.3068...
    """
    log_base = check_base(base)
    mp, cp, mq, cq, backend = _gaussian_pair(mean_p, cov_p, mean_q, cov_q, definite=True)
    dim = mp.shape[0]
    lower_p, lower_q = psd_factor(cp, backend), psd_factor(cq, backend)
    # Halves: means near the float limit can be more than the largest float apart.
    half_shift = backend.solve_lower(lower_q, backend.reshape(mq / 2 - mp / 2, (dim, 1)))
    with np.errstate(over="ignore"):  # an overflow is refused below, by name
        mahalanobis = 4 * backend.sum(half_shift * half_shift)
    # The eigenvalues t_i of L_q^-1 (C_p - C_q) L_q^-T are those of Sigma_q^-1 Sigma_p
    # minus 1, formed without cancelling against the identity, so that
    # sum(t - log1p(t)) keeps the relative precision of a near-identity ratio.
    change = backend.solve_lower(lower_q, backend.transpose(backend.solve_lower(lower_q, cp - cq)))
    shifts = backend.eigvalsh((change + backend.transpose(change)) / 2)
    if backend.scalar(backend.abs(shifts).max()) < 0.5:
        spread = backend.sum(shifts - backend.log1p(shifts))
    else:
        # Far from the identity nothing cancels, and the Cholesky diagonals give
        # log det accurately even for eigenvalues near 0.
        whitened_cov = backend.solve_lower(lower_q, lower_p)
        log_det_ratio = 2 * backend.sum(
            backend.log(backend.diagonal(lower_q)) - backend.log(backend.diagonal(lower_p))
        )
        spread = backend.sum(whitened_cov * whitened_cov) - dim + log_det_ratio
    value = backend.clip((spread + mahalanobis) / 2, 0.0, math.inf) / log_base
    _check_representable(value, "the divergence", backend)
    return backend.to_output(value)


def gaussian_w2(
    mean_p: ArrayLike,
    cov_p: ArrayLike,
    mean_q: ArrayLike,
    cov_q: ArrayLike,
) -> Result:
    r"""2-Wasserstein distance between two multivariate normal distributions.

    .. math::

        W_2^2 = \|\mu_p - \mu_q\|^2 + \operatorname{tr}\Big(\Sigma_p + \Sigma_q
        - 2 \big(\Sigma_p^{1/2} \Sigma_q \Sigma_p^{1/2}\big)^{1/2}\Big)

    The trace term is the squared Bures distance between the covariances.

    Parameters
    ----------
    mean_p, mean_q : (d,) array-like or torch.Tensor
        The means; a scalar means ``d = 1``.
    cov_p, cov_q : (d, d) array-like or torch.Tensor
        Symmetric positive semi-definite covariances (singular ones, such as
        a point mass, are allowed); a scalar is a variance when ``d = 1``.

    Returns
    -------
    float or torch.Tensor
        :math:`W_2` (not its square), with Euclidean ground cost; a tensor with
        autograd if any input is one.

    Raises
    ------
    ValueError
        On NaN or inf, mismatched dimensions, a covariance that is not
        symmetric positive semi-definite, or a distance beyond the float range.
    TypeError
        If an input is not an array of real numbers.

    Notes
    -----
    The Bures term is computed without the cancellation of
    :math:`\operatorname{tr}\Sigma_p + \operatorname{tr}\Sigma_q - 2 \ldots`:
    with square roots :math:`L_p L_p^\top = \Sigma_p`,
    :math:`L_q L_q^\top = \Sigma_q`, it equals
    :math:`\min_R \|L_p R - L_q\|_F^2` over rotations (orthogonal
    Procrustes: :math:`R = U V^\top` from the SVD
    :math:`L_p^\top L_q = U S V^\top`), and that residual and the mean shift
    enter one scaled norm. So small distances keep their relative precision
    (means :math:`10^{-8}` apart give :math:`10^{-8}`; variances 1 and
    :math:`1 + 10^{-8}` give :math:`5 \cdot 10^{-9}`), and covariances up to
    the float range neither overflow nor underflow:
    :math:`W_2(s\mu_p, s^2\Sigma_p, s\mu_q, s^2\Sigma_q) = s W_2`. Gradients
    hold the rotation fixed (envelope theorem), so they stay finite when
    eigenvalues repeat (identity covariances, say).

    References
    ----------
    .. [1] D. C. Dowson and B. V. Landau, "The Fréchet distance between
       multivariate normal distributions", J. Multivariate Analysis 12, 1982.
    .. [2] C. R. Givens and R. M. Shortt, "A class of Wasserstein metrics for
       probability distributions", Michigan Math. J. 31, 1984.

    Examples
    --------
    >>> from divergences.closed_form import gaussian_w2
    >>> gaussian_w2([0.0], [[1.0]], [3.0], [[4.0]])  # sqrt(3**2 + (1 - 2)**2)
    3.1622776601683795
    """
    mp, cp, mq, cq, backend = _gaussian_pair(mean_p, cov_p, mean_q, cov_q, definite=False)
    factor_p, factor_q = psd_factor(cp, backend), psd_factor(cq, backend)
    rotation = backend.from_numpy(
        _procrustes(backend.to_numpy(factor_p), backend.to_numpy(factor_q))
    )
    # Envelope theorem: with the optimal rotation held fixed the residual has the
    # Bures distance's gradient, as the rotation maximises the matched trace.
    residual = backend.reshape(factor_p @ rotation - factor_q, (-1,))
    # Halves (exact): means near the float limit can be more than the largest float apart.
    halves = backend.concatenate([mp / 2 - mq / 2, residual / 2])
    with np.errstate(over="ignore"):  # an overflow is refused below, by name
        value = 2 * scaled_norm(halves, backend)
    _check_representable(value, "W2", backend)
    return backend.to_output(value)


def translation_wasserstein(shift: ArrayLike, *, p: float = 1) -> Result:
    r"""Wasserstein distance between a distribution and its translate.

    For any distribution :math:`\mu` on :math:`\mathbb R^d` with finite
    :math:`p`-th moment and :math:`\nu = \mu(\cdot - v)`,

    .. math::

        W_p(\mu, \nu) = \|v\|_2 \qquad \text{for every } p \ge 1,

    with Euclidean ground cost: moving every point by :math:`v` costs
    :math:`\|v\|` and no coupling does better (Jensen's inequality on the mean
    displacement).

    Parameters
    ----------
    shift : (d,) array-like or torch.Tensor
        The translation :math:`v`; a scalar means ``d = 1``.
    p : float, default 1
        Order of the distance, ``>= 1``; the value does not depend on it.

    Returns
    -------
    float or torch.Tensor
        :math:`\|v\|_2`, computed as a scaled norm (no overflow at 1e200, no
        underflow at 1e-200); a tensor with autograd for a tensor ``shift``,
        whose gradient is :math:`v / \|v\|` (0 at :math:`v = 0`).

    Raises
    ------
    ValueError
        If ``shift`` is empty, not 1-D, holds NaN or inf, or ``p < 1``, or if
        its length exceeds the float range.
    TypeError
        If ``shift`` is not an array of real numbers.

    References
    ----------
    .. [1] C. Villani, "Optimal transport: old and new", Springer 2009.

    Examples
    --------
    >>> from divergences.closed_form import translation_wasserstein
    >>> translation_wasserstein([3.0, 4.0], p=2)
    5.0
    """
    check_real(p, "p", minimum=1.0)
    backend = backend_for(shift=shift)
    vector = as_vector(shift, "shift", backend)
    value = scaled_norm(vector, backend)
    _check_representable(value, "the shift's length", backend)
    return backend.to_output(value)


def gaussian_scale_wasserstein(scale: float, dim: int, *, sigma: float = 1.0) -> float:
    r"""W1 between an isotropic normal and the same normal scaled by ``scale``.

    For :math:`P = N(\mu, \sigma^2 I_d)` and :math:`Q = N(\mu, s^2\sigma^2 I_d)`,

    .. math::

        W_1(P, Q) = |1 - s|\,\sigma\,\mathbb E\|z\|
        = |1 - s|\,\sigma\,\sqrt 2\,\frac{\Gamma((d + 1)/2)}{\Gamma(d/2)},

    with :math:`z \sim N(0, I_d)`: the coupling :math:`x \mapsto \mu + s(x - \mu)`
    moves each point by :math:`|1 - s|\,\|x - \mu\|`, and the 1-Lipschitz
    :math:`f(x) = \pm\|x - \mu\|` reaches the same value in the dual, so both
    are optimal. The ratio of gamma functions is computed through their
    logarithms, so any dimension works.

    Parameters
    ----------
    scale : float
        The factor :math:`s > 0`.
    dim : int
        The dimension :math:`d \ge 1`.
    sigma : float, default 1.0
        The standard deviation of P per coordinate, :math:`> 0`.

    Returns
    -------
    float
        :math:`W_1(P, Q)`.

    Raises
    ------
    ValueError
        If ``scale`` or ``sigma`` is not positive and finite, or ``dim < 1``.
    TypeError
        If ``dim`` is not an integer.

    Examples
    --------
    >>> from divergences.closed_form import gaussian_scale_wasserstein
    >>> gaussian_scale_wasserstein(2.0, 1)  # |1 - 2| E|z| = sqrt(2 / pi)
    0.7978845608...
    """
    scale = _positive(scale, "scale")
    sigma = _positive(sigma, "sigma")
    dim = check_count(dim, "dim")
    mean_norm = math.sqrt(2.0) * math.exp(math.lgamma((dim + 1) / 2) - math.lgamma(dim / 2))
    # A factor near the float limits can overflow a partial product where the
    # whole does not: multiply the mantissas, add the exponents.
    factors = [math.frexp(value) for value in (abs(1.0 - scale), sigma, mean_norm)]
    mantissa = math.prod(fraction for fraction, _ in factors)
    try:
        return math.ldexp(mantissa, sum(exponent for _, exponent in factors))
    except OverflowError:
        raise ValueError(
            f"W1 = |1 - scale| * sigma * E|z| = {abs(1.0 - scale):g} * {sigma:g} * "
            f"{mean_norm:g} exceeds the float range"
        ) from None


def radial_wasserstein(radii_p: tuple[float, float], radii_q: tuple[float, float]) -> float:
    r"""W1 between two radially symmetric distributions with uniform radii.

    P and Q have uniformly random directions about one centre and radii
    uniform on :math:`[a, b]` and :math:`[c, e]` (a point of the interval
    for :math:`a = b`: a sphere). For radially symmetric distributions W1
    is the 1-D W1 of the radii, in any dimension: moving each point along
    its ray by the quantile coupling of the radii costs
    :math:`\int_0^1 |F_P^{-1}(u) - F_Q^{-1}(u)|\,du`, and
    :math:`f(x) = g(\|x\|)` with :math:`g` the 1-D optimal potential is
    1-Lipschitz and reaches it. With uniform radii the quantile functions
    are linear, :math:`a + (b - a)u` and :math:`c + (e - c)u`, and the
    integral of the absolute value of their difference is exact.

    Parameters
    ----------
    radii_p, radii_q : tuple of float
        The intervals :math:`(a, b)` and :math:`(c, e)` of the radii,
        :math:`0 \le a \le b`.

    Returns
    -------
    float
        :math:`W_1(P, Q)`.

    Raises
    ------
    ValueError
        If an interval is not two finite numbers ``0 <= low <= high``.

    Examples
    --------
    >>> from divergences.closed_form import radial_wasserstein
    >>> radial_wasserstein((1.0, 1.0), (1.0, 2.0))  # a sphere against a shell
    0.5
    """
    radii = [*_radii(radii_p, "radii_p"), *_radii(radii_q, "radii_q")]
    # W1 scales with the radii: work with them below 1 (a power of two, exact), so
    # that no difference below overflows at radii near the float limit.
    exponent = exponent_above(max(radii))
    low_p, high_p, low_q, high_q = (times_power_of_two(r, -exponent) for r in radii)
    # g(u) = alpha + beta u, the difference of the quantile functions; integrate |g|.
    alpha, beta = low_q - low_p, (high_q - low_q) - (high_p - low_p)
    if beta == 0 or not 0 < -alpha / beta < 1:  # no sign change inside (0, 1)
        value = abs(alpha + beta / 2)
    else:
        root = -alpha / beta
        value = abs(alpha * root + beta * root**2 / 2) + abs(
            alpha * (1 - root) + beta * (1 - root**2) / 2
        )
    return float(times_power_of_two(value, exponent))


def _procrustes(factor_p: np.ndarray, factor_q: np.ndarray) -> np.ndarray:
    """The rotation ``R`` that minimises ``|factor_p R - factor_q|_F`` (orthogonal Procrustes).

    ``R = U V^T`` from the SVD ``factor_p^T factor_q = U S V^T``; each factor is
    first divided by a power of two near its largest entry (``R`` does not depend
    on positive scales), so that the product cannot overflow.
    """
    scaled = [
        times_power_of_two(f, -exponent_above(float(np.abs(f).max())))
        for f in (factor_p, factor_q)
    ]
    left, _, right = np.linalg.svd(scaled[0].T @ scaled[1])
    return left @ right


def _check_representable(value: Any, what: str, backend: Backend) -> None:
    """Refuse a finite quantity that came out inf because it lies beyond the float range."""
    if not backend.all_finite(value):
        raise ValueError(
            f"{what} of these inputs exceeds the float range (about "
            f"{float(backend.finfo.max):.3g}); rescale the inputs"
        )


def _positive(value: Any, name: str) -> float:
    number = check_real(value, name)
    if not number > 0:
        raise ValueError(f"{name} must be positive; got {number:g}")
    return number


def _radii(interval: Any, name: str) -> tuple[float, float]:
    try:
        low, high = interval
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an interval (low, high) of radii; got {interval!r}"
        ) from None
    low, high = check_real(low, f"{name}[0]"), check_real(high, f"{name}[1]")
    if not 0 <= low <= high:
        raise ValueError(f"{name} must satisfy 0 <= low <= high; got ({low:g}, {high:g})")
    return low, high
