"""Kullback-Leibler and Jensen-Shannon divergences between probability vectors.

The conventions are SciPy's (:func:`scipy.stats.entropy`,
:func:`scipy.spatial.distance.jensenshannon`): inputs are weights that get
normalised along ``axis``, logarithms are natural unless ``base`` is given, and
the other axes are a batch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from divergences._backend import ArrayLike, Backend, Result
from divergences._validation import check_base, check_distance_base, check_flag, probability_pair

__all__ = ["js", "js_distance", "kl"]

_LOG2 = math.log(2.0)


def _log_ratio(top: Any, bottom: Any, factor: float, backend: Backend) -> Any:
    """``log(factor * top / bottom)`` for positive arrays, also where the quotient overflows.

    The quotient is the accurate form (its logarithm keeps full relative
    precision near 1, as in SciPy's ``rel_entr``). With normalised weights it
    cannot underflow to 0, and a subnormal quotient only comes with a weight so
    small that its term is negligible; it overflows where ``bottom`` is
    subnormal (``5e-324`` is a positive number), and there the difference of
    logarithms takes over. Each branch only sees the entries it serves, so
    autograd never forms ``0 * inf``.
    """
    with np.errstate(over="ignore"):
        quotient = top / bottom if factor == 1 else top / bottom * factor
    limit = backend.finfo.max
    # One reduction: the common case costs a single pass more than the quotient.
    if backend.scalar(backend.max(quotient, axis=None)) <= limit:
        return backend.log(quotient)
    normal = backend.detach(quotient) <= limit
    inside = backend.log(backend.where(normal, top, 1.0) / backend.where(normal, bottom, 1.0))
    return (
        inside
        + backend.log(backend.where(normal, 1.0, top))
        - backend.log(backend.where(normal, 1.0, bottom))
        + math.log(factor)
    )


def _weighted_log_ratio(x: Any, bottom: Any, backend: Backend, *, factor: float = 1.0) -> Any:
    """``x log(factor * x / bottom)``: 0 where ``x == 0``, +inf where ``bottom == 0 < x``.

    The masked branches only ever see safe values (1 in place of 0), so autograd
    never forms ``0 * inf``: gradients are finite wherever the value is, and the
    derivative of ``0 log 0`` is taken as 0, as ``torch.special.xlogy`` does.
    """
    positive = x > 0
    finite = positive & (bottom > 0)
    x_safe = backend.where(positive, x, 1.0)
    log_ratio = _log_ratio(x_safe, backend.where(finite, bottom, 1.0), factor, backend)
    terms = backend.where(finite, x_safe * log_ratio, math.inf)
    return backend.where(positive, terms, 0.0)


def kl(
    p: ArrayLike,
    q: ArrayLike,
    *,
    base: float | None = None,
    axis: int | None = 0,
    keepdims: bool = False,
) -> Result:
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(p \,\|\, q)` of probability vectors.

    .. math::

        \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log \frac{p_i}{q_i}

    with :math:`0 \log(0 / q) = 0` and :math:`p \log(p / 0) = +\infty` for
    :math:`p > 0`. Same number as ``scipy.stats.entropy(p, q, base=base, axis=axis)``.

    Parameters
    ----------
    p, q : (..., k, ...) array-like or torch.Tensor
        Non-negative weights; each is normalised to sum to 1 along ``axis``.
        The two shapes must broadcast together.
    base : float, optional
        Base of the logarithm; natural logarithm (nats) when ``None``.
    axis : int or None, default 0
        The axis that indexes outcomes; the others are a batch. ``None``
        flattens both inputs into one distribution each.
    keepdims : bool, default False
        Keep the reduced axis with length 1, as in NumPy reductions.

    Returns
    -------
    float or numpy.ndarray or torch.Tensor
        The divergence, ``>= 0`` (``<= 0`` in a base below 1), one per batch
        entry. A float for 1-D numpy or list inputs; a tensor with autograd for
        tensor inputs, in their dtype.

    Raises
    ------
    ValueError
        If an input is empty or a scalar, holds NaN, inf or a negative entry,
        has a slice summing to 0, if the shapes do not broadcast, or if ``axis``
        or ``base`` is invalid (``base <= 0`` or ``base == 1``).
    TypeError
        If an input is not an array of real numbers, or ``keepdims`` not a bool.

    Notes
    -----
    The result is ``+inf`` when ``q`` is 0 where ``p`` is not (``p`` is not
    absolutely continuous with respect to ``q``). Subnormal weights are
    positive numbers: ``kl([0.5, 0.5], [5e-324, 1])`` is 371.5, as in SciPy,
    not inf. Weights are normalised without overflow (``[1e308, 1e308]`` is
    the uniform distribution). Masked entries of a ``numpy.ma`` array, in
    either input, are left out of both (as in ``scipy.stats.entropy``).
    Rounding never makes the divergence negative (it is clipped at 0); with
    ``0 < base < 1`` the logarithm is negative and so is the value, as in SciPy.
    Half-precision tensors are computed in float32 and returned in their dtype.
    For torch inputs, gradients are finite wherever the value is finite,
    including at zero entries of ``p`` (where the derivative of
    :math:`0 \log 0` is taken as 0), except at a subnormal ``q_i``, where
    the derivative itself exceeds the float range.

    References
    ----------
    .. [1] S. Kullback and R. A. Leibler, "On information and sufficiency",
       Annals of Mathematical Statistics 22(1), 1951.

    Examples
    --------
    >>> import divergences as dv
    >>> dv.kl([0.5, 0.5], [0.9, 0.1])
    0.5108256237659907
    >>> dv.kl([1, 0], [0, 1])
    inf
    >>> dv.kl([0.5, 0.5], [0.9, 0.1], base=2)
    0.7369655941662062
    """
    log_base = check_base(base)
    keepdims = check_flag(keepdims, "keepdims")
    p, q, axis, kept_shape, backend = probability_pair(p, q, axis=axis)
    terms = _weighted_log_ratio(p, q, backend)
    # Normalising p == q separately can leave them an ulp apart; KL is never negative.
    value = backend.clip(backend.sum(terms, axis=axis), 0.0, math.inf)
    value = value / log_base
    if keepdims:
        value = backend.reshape(value, kept_shape)
    return backend.to_output(value)


def js(
    p: ArrayLike,
    q: ArrayLike,
    *,
    base: float | None = None,
    axis: int | None = 0,
    keepdims: bool = False,
) -> Result:
    r"""Jensen-Shannon divergence of probability vectors.

    .. math::

        \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m)
        + \tfrac12 \mathrm{KL}(q \,\|\, m), \qquad m = \tfrac12 (p + q).

    This is the *divergence*. :func:`scipy.spatial.distance.jensenshannon`
    returns its square root, the Jensen-Shannon *distance*, which is
    :func:`js_distance` here.

    Parameters
    ----------
    p, q : (..., k, ...) array-like or torch.Tensor
        Non-negative weights; each is normalised to sum to 1 along ``axis``.
        The two shapes must broadcast together.
    base : float, optional
        Base of the logarithm; natural logarithm when ``None``.
    axis : int or None, default 0
        The axis that indexes outcomes; the others are a batch. ``None``
        flattens both inputs.
    keepdims : bool, default False
        Keep the reduced axis with length 1.

    Returns
    -------
    float or numpy.ndarray or torch.Tensor
        The divergence, in :math:`[0, \log 2]` nats, divided by ``log(base)``:
        in :math:`[0, \log_b 2]` for a base above 1, in
        :math:`[\log_b 2, 0]` for one below 1 (SciPy's convention). One per
        batch entry; a float for 1-D numpy or list inputs; a tensor with
        autograd for tensor inputs, in their dtype.

    Raises
    ------
    ValueError
        If an input is empty or a scalar, holds NaN, inf or a negative entry,
        has a slice summing to 0, if the shapes do not broadcast, or if ``axis``
        or ``base`` is invalid.
    TypeError
        If an input is not an array of real numbers.

    Notes
    -----
    JS is always finite. It equals :math:`\log 2` (1 bit with ``base=2``)
    exactly when the supports of ``p`` and ``q`` are disjoint, and the result
    is then exactly ``log(2) / log(base)``: this is the constant whose zero
    gradient stalls a GAN generator on disjoint supports. When the supports
    overlap by a mass too small for floating point (below about 1e-16) the
    computed value can round to :math:`\log 2` too. Rounding never pushes the
    result outside :math:`[0, \log 2]`. Normalisation, subnormal weights and
    masked arrays are handled as in :func:`kl`. Gradients through torch are
    finite everywhere.

    References
    ----------
    .. [1] J. Lin, "Divergence measures based on the Shannon entropy",
       IEEE Transactions on Information Theory 37(1), 1991.

    Examples
    --------
    >>> import divergences as dv
    >>> dv.js([1, 0], [0, 1])  # disjoint supports: log 2
    0.6931471805599453
    >>> dv.js([1, 0], [0, 1], base=2)
    1.0
    >>> dv.js([0.5, 0.5], [0.9, 0.1])
    0.1017...
    """
    value, backend = _js(p, q, log_base=check_base(base), axis=axis, keepdims=keepdims)
    return backend.to_output(value)


def js_distance(
    p: ArrayLike,
    q: ArrayLike,
    *,
    base: float | None = None,
    axis: int | None = 0,
    keepdims: bool = False,
) -> Result:
    r"""Jensen-Shannon distance, the square root of the JS divergence.

    .. math::

        d_{\mathrm{JS}}(p, q) = \sqrt{\mathrm{JS}(p, q)}

    This is what :func:`scipy.spatial.distance.jensenshannon` returns (same
    arguments, same number); unlike the divergence :func:`js` it is a metric
    and satisfies the triangle inequality.

    Parameters
    ----------
    p, q : (..., k, ...) array-like or torch.Tensor
        Non-negative weights; each is normalised to sum to 1 along ``axis``.
    base : float, optional
        Base of the logarithm inside the divergence, greater than 1; natural
        when ``None``.
    axis : int or None, default 0
        The axis that indexes outcomes; the others are a batch.
    keepdims : bool, default False
        Keep the reduced axis with length 1.

    Returns
    -------
    float or numpy.ndarray or torch.Tensor
        The distance, in :math:`[0, \sqrt{\log 2}]` (in units of ``base``).

    Raises
    ------
    ValueError
        On the same inputs as :func:`js`, and for ``base < 1``: the divergence
        is negative in such units and has no real square root (SciPy returns
        NaN there).
    TypeError
        On the same inputs as :func:`js`.

    Notes
    -----
    At ``p == q`` the square root has no derivative; autograd returns 0 there
    (the smallest subgradient) rather than NaN.

    References
    ----------
    .. [1] D. M. Endres and J. E. Schindelin, "A new metric for probability
       distributions", IEEE Transactions on Information Theory 49(7), 2003.

    Examples
    --------
    >>> import divergences as dv
    >>> dv.js_distance([1, 0], [0, 1], base=2)
    1.0
    """
    log_base = check_distance_base(base)
    value, backend = _js(p, q, log_base=log_base, axis=axis, keepdims=keepdims)
    positive = value > 0
    distance = backend.where(positive, backend.sqrt(backend.where(positive, value, 1.0)), 0.0)
    return backend.to_output(distance)


def _js(
    p: Any,
    q: Any,
    *,
    log_base: float,
    axis: int | None,
    keepdims: Any,
) -> tuple[Any, Backend]:
    """The JS divergence as a backend array (not yet converted for output)."""
    keepdims = check_flag(keepdims, "keepdims")
    p, q, axis, kept_shape, backend = probability_pair(p, q, axis=axis)
    # p / m as 2 p / (p + q): the same rounded number where m = (p + q) / 2 is
    # exact, and no subnormal m rounded down to 0 where it is not.
    total = p + q
    terms = _weighted_log_ratio(p, total, backend, factor=2.0) + _weighted_log_ratio(
        q, total, backend, factor=2.0
    )
    value = backend.clip(backend.sum(terms, axis=axis) / 2, 0.0, _LOG2)
    # Summing p_i log 2 over a disjoint support can land an ulp away from log 2;
    # the disjoint case is the one users check, so it is made exact.
    disjoint = ~backend.any((p > 0) & (q > 0), axis=axis)
    value = backend.where(disjoint, _LOG2, value) / log_base
    if keepdims:
        value = backend.reshape(value, kept_shape)
    return value, backend
