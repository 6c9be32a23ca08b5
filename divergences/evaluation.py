"""The metrics generative models are compared with, on features the user extracted.

:func:`frechet_distance` is the Fréchet (FID) distance between the Gaussians fitted
to two feature sets, and :func:`kernel_inception_distance` the KID, the unbiased
MMD² with the cubic polynomial kernel averaged over random subsets. Both take
the features as arrays: no network is loaded and no weights are downloaded, so
the same numbers come out whatever extracted them (Inception, CLIP, DINOv2).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np

from divergences._backend import (
    ArrayLike,
    Backend,
    TorchBackend,
    exponent_above,
    precise,
    times_power_of_two,
)
from divergences._validation import (
    ArgumentError,
    as_samples,
    backend_for,
    check_count,
    check_real,
    check_seed,
)
from divergences.kernels import mmd

__all__ = ["KernelInceptionResult", "frechet_distance", "kernel_inception_distance"]

_EPS = float(np.finfo(np.float64).eps)
# Features up to 2**200 in size (and down to 2**-200) leave the fourth powers in
# S_x^{1/2} S_y S_x^{1/2}, and sums of a billion of them, well within float64.
_SAFE_EXPONENT = 200


def _sample_pair(x: Any, y: Any, backend: Backend, *, minimum: int, why: str) -> tuple[Any, Any]:
    """``x`` and ``y`` as (n, d) and (m, d) samples of one dimension, each of at least
    ``minimum`` rows (``why`` says what needs them)."""
    samples_x = as_samples(x, "x", backend)
    samples_y = as_samples(y, "y", backend)
    (n, d), (m, d_y) = samples_x.shape, samples_y.shape
    if d != d_y:
        raise ValueError(
            f"x and y must have the same number of features d; got d = {d} and d = {d_y}"
        )
    for name, count in (("x", n), ("y", m)):
        if count < minimum:
            raise ArgumentError(name, f"must hold at least {minimum} samples ({why}); got {count}")
    return samples_x, samples_y


def _resolved(values: Any, backend: Backend) -> Any:
    """The eigenvalues ``values`` of a positive semi-definite matrix with those that
    eigh cannot tell from 0 set to 0.

    The threshold is ``numpy.linalg.matrix_rank``'s: the largest eigenvalue times
    the matrix's size times the float64 epsilon. Below it an eigenvalue is
    rounding (an exact 0 comes out as ``±1e-17`` times the largest), whose square
    root, ``1e-8`` times the largest's, would otherwise be counted once per null
    direction and change with the order of the samples. The discarded values get
    a zero gradient rather than the infinite one of the square root at 0.
    """
    peak = float(np.max(backend.to_numpy(backend.detach(values)), initial=0.0))
    return backend.where(values > values.shape[-1] * _EPS * peak, values, 0.0)


def _psd_root(a: Any, backend: Backend) -> Any:
    """The symmetric square root of the positive semi-definite ``a``, from ``eigh``,
    its unresolved eigenvalues taken as 0; for tensors, with the gradient of
    :func:`_psd_root_function`."""
    if isinstance(backend, TorchBackend):
        return _psd_root_function().apply(a)
    values, vectors = backend.eigh(a)
    return (vectors * backend.sqrt(_resolved(values, backend))) @ backend.transpose(vectors)


@functools.cache
def _psd_root_function() -> Any:
    """The autograd function ``S -> S^{1/2}``, built on first use (importing the module
    does not import torch).

    Differentiating ``P P = S`` gives ``P dP + dP P = dS``, so in the eigenbasis of
    ``S`` the gradient is ``G_ij / (r_i + r_j)`` for the square roots ``r`` of the
    eigenvalues: a sum, where autograd through ``eigh`` divides by the differences of
    the eigenvalues and returns NaN when they repeat (the zeros of dead units, the
    null space of ``n < d`` samples). Pairs of two zero roots, where the square root
    has no derivative, get 0.
    """
    import torch
    from torch.autograd.function import once_differentiable

    class PsdRoot(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: torch.Tensor) -> torch.Tensor:
            values, vectors = torch.linalg.eigh(a)
            threshold = values.shape[-1] * _EPS * values.max().clamp(min=0)
            roots = torch.where(values > threshold, values, 0.0).sqrt()
            ctx.save_for_backward(roots, vectors)
            return (vectors * roots) @ vectors.mT

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
            roots, vectors = ctx.saved_tensors
            sums = roots[:, None] + roots[None, :]
            inner = vectors.mT @ ((grad + grad.mT) / 2) @ vectors
            inner = torch.where(sums > 0, inner / torch.where(sums > 0, sums, 1.0), 0.0)
            return vectors @ inner @ vectors.mT

    return PsdRoot


def _root_trace(a: Any, b: Any, backend: Backend) -> Any:
    r"""``tr (S_a^{1/2} S_b S_a^{1/2})^{1/2}`` for ``S_a = a^T a``, ``S_b = b^T b``.

    The eigenvalues of :math:`S_a^{1/2} S_b S_a^{1/2}` are the squares of the
    singular values of :math:`F_a F_b^T` for any factors with
    :math:`F^T F = S` (the nonzero eigenvalues of :math:`S_a S_b`): the trace is
    the sum of those singular values. Each factor is the sample matrix itself
    where it has fewer rows than columns, else the symmetric root
    :math:`S^{1/2}` (d x d), so the decomposition runs in the smallest space.
    Singular values of the product are found to rounding of the product's
    norm; forming :math:`S_a^{1/2} S_b S_a^{1/2}` and taking its eigenvalues
    would square the condition number, and lose every direction whose
    variance is below about :math:`10^{-8}` of the largest (FD of features of
    spread :math:`10^4` beside spreads of 1 came out 7.8 where it is 0.01).
    """
    (n, d), m = a.shape, b.shape[0]
    factors = [
        side if rows < d else _psd_root(backend.transpose(side) @ side, backend)
        for side, rows in ((a, n), (b, m))
    ]
    product = factors[0] @ backend.transpose(factors[1])
    values = backend.svdvals(product)
    # numpy.linalg.matrix_rank's threshold: below it a singular value is rounding of
    # a 0, and gets gradient 0 (the least-norm subgradient) instead of U V^T's
    peak = float(np.max(backend.to_numpy(backend.detach(values)), initial=0.0))
    threshold = max(product.shape) * _EPS * peak
    return backend.sum(backend.where(values > threshold, values, 0.0))


def frechet_distance(x: ArrayLike, y: ArrayLike) -> Any:
    r"""The Fréchet distance between the Gaussians fitted to two feature sets (FID).

    .. math::

        \mathrm{FD}(x, y) = \|\mu_x - \mu_y\|^2 + \operatorname{tr} S_x
        + \operatorname{tr} S_y
        - 2 \operatorname{tr} \big(S_x^{1/2} S_y S_x^{1/2}\big)^{1/2},

    with :math:`\mu` the sample means and :math:`S` the sample covariances
    (``ddof=1``, as ``numpy.cov`` and pytorch-fid compute them). It is the squared
    2-Wasserstein distance between :math:`N(\mu_x, S_x)` and
    :math:`N(\mu_y, S_y)` (:func:`divergences.closed_form.gaussian_w2` squared);
    on Inception-v3 pool features it is the FID of Heusel et al.

    Parameters
    ----------
    x : (n, d) array-like or torch.Tensor
        Features of the first set (say, the data), one row a sample; ``n >= 2``.
    y : (m, d) array-like or torch.Tensor
        Features of the second set (the generated samples), same ``d``; ``m >= 2``.

    Returns
    -------
    float or torch.Tensor
        The distance, in squared units of the features, ``>= 0``. For tensors, a
        0-dim tensor of their dtype on their device, with autograd to both sets
        (see Notes).

    Raises
    ------
    ValueError
        On NaN or inf, sets with different ``d``, a set of fewer than two samples,
        tensors on different devices, or a value beyond the range of float64 (or
        of the tensors' dtype).
    TypeError
        If an input is not an array of real numbers.
    RuntimeError
        When a gradient of it, taken with ``create_graph=True``, is
        differentiated again (see Notes).

    Notes
    -----
    **Computed from singular values in float64**, whatever the input's dtype
    (float32 features give the float64 value of their own numbers, returned in
    float32 for tensors). pytorch-fid and most others take
    ``scipy.linalg.sqrtm`` of the non-symmetric product :math:`S_x S_y`, whose
    eigenvalues are real and non-negative in exact arithmetic but, when a
    covariance is singular (fewer samples than features, constant or collinear
    features), come out slightly negative or complex: ``sqrtm`` then returns a
    complex matrix, or NaN, and the FID a complex number, a warning or an error.
    Here the trace term is the sum of the singular values of
    :math:`F_x F_y^\top`, for factors with :math:`F^\top F = S`: the centred
    sample matrix :math:`A = (x - \bar x) / \sqrt{n - 1}` where it has fewer
    rows than columns, else the symmetric root :math:`S^{1/2}` from
    ``eigh(S)``. Their squares are the eigenvalues of
    :math:`S_x^{1/2} S_y S_x^{1/2}`, but forming that matrix would square the
    condition number: every direction of variance below about :math:`10^{-8}`
    of the largest would be lost to rounding (one feature of spread
    :math:`10^4` beside four of spread 1 gave 7.8 for a distance of 0.01),
    where singular values of the product are exact to rounding of its norm.
    Eigenvalues of :math:`S` and singular values below
    ``numpy.linalg.matrix_rank``'s threshold (the largest times the matrix
    size times the float64 epsilon) are set to 0: they are rounding of an
    exact 0. So the value is finite and non-negative for singular covariances
    and stable under a permutation of the samples; on covariances whose
    eigenvalues span ten or twelve decades it agrees with the formula in
    60-digit arithmetic to about :math:`10^{-13}` relative (pytorch-fid's:
    :math:`10^{-6}`), and on well-conditioned features with pytorch-fid's to
    :math:`10^{-9}` or better (``benchmarks/frechet.py``).

    **Accuracy.** What no float64 formula resolves is a distance below the
    rounding of the traces it is the difference of: about :math:`d\,\epsilon`
    times :math:`\operatorname{tr} S_x + \operatorname{tr} S_y`.

    **Smaller space.** With fewer samples than features the factor of that
    side is its :math:`n \times d` sample matrix, so the singular values are
    those of an :math:`n \times m` (or :math:`n \times d`) product, for the
    same value.

    **Non-negative.** Mathematically the trace term is at most
    :math:`(\operatorname{tr} S_x + \operatorname{tr} S_y) / 2`, so a negative
    result can only be rounding of a distance near 0; it is returned as 0 when
    it is within the rounding bound (:math:`d \cdot 64\,\epsilon` times the sum
    of the three non-negative terms).

    Features larger than :math:`2^{200}` or all smaller than :math:`2^{-200}`
    are first scaled together by a power of two (exactly; the distance is
    homogeneous of degree 2), so features up to the float range neither
    overflow nor underflow in the covariances' squares.

    **Gradients** (tensors) flow to both sets. The singular values go through
    ``torch.linalg.svdvals``, whose gradient :math:`U V^\top` needs no gaps
    between them; :math:`S^{1/2}` has its own backward, the solution of
    :math:`P\,dP + dP\,P = dS` in the eigenbasis
    (:math:`G_{ij} / (\sqrt{\lambda_i} + \sqrt{\lambda_j})`), which stays finite
    when eigenvalues repeat, where autograd through ``eigh``, dividing by their
    differences, gives NaN (dead units: constant features). Where the function
    has no derivative (a value set to 0 above) the gradient takes 0 there. The
    gradient is exact where the covariances and the product are nonsingular;
    it cannot be differentiated again (a second derivative raises a
    ``RuntimeError``).

    Cost: two symmetric eigendecompositions and one singular value
    decomposition of :math:`d \times d` matrices after the covariances,
    :math:`O((n + m) d^2 + d^3)` (at 2048 features about half the time of the
    ``sqrtm`` formula; ``benchmarks/frechet.py``);
    with fewer samples than features on a side, :math:`O(n m d)` and a
    decomposition of the smaller product; memory :math:`O(d^2 + (n + m) d)`.

    References
    ----------
    .. [1] M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler and S. Hochreiter,
       "GANs trained by a two time-scale update rule converge to a local Nash
       equilibrium", NeurIPS 2017.
    .. [2] D. C. Dowson and B. V. Landau, "The Fréchet distance between
       multivariate normal distributions", J. Multivariate Analysis 12, 1982.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> dv.frechet_distance(x, x + 3.0)  # a translation: |mu_x - mu_y|^2 = 9 + 9
    18.0
    >>> from scipy.linalg import sqrtm
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(500, 4)), rng.normal(size=(400, 4)) * 1.5
    >>> sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    >>> gap = a.mean(0) - b.mean(0)
    >>> reference = gap @ gap + np.trace(sa + sb - 2 * sqrtm(sa @ sb).real)
    >>> bool(np.isclose(dv.frechet_distance(a, b), reference, rtol=1e-10))
    True
    """
    backend = precise(backend_for(x=x, y=y))
    samples_x, samples_y = _sample_pair(x, y, backend, minimum=2, why="for a covariance")
    (n, d), m = samples_x.shape, samples_y.shape[0]
    # Features beyond 2**±200 are scaled together by a power of two (exact), so that
    # no square over- or underflows; no translation is needed, as the centring below
    # removes the means. Within that range the squares are safe as they are.
    peak = max(
        max(backend.scalar(backend.max(s, axis=None)), -backend.scalar(backend.min(s, axis=None)))
        for s in (samples_x, samples_y)
    )
    exponent = exponent_above(peak)
    exponent = 0 if abs(exponent) <= _SAFE_EXPONENT else exponent
    scaled_x, scaled_y = (times_power_of_two(s, -exponent) for s in (samples_x, samples_y))
    mean_x = backend.sum(scaled_x, axis=0) / n
    mean_y = backend.sum(scaled_y, axis=0) / m
    a = (scaled_x - mean_x) / math.sqrt(n - 1)
    b = (scaled_y - mean_y) / math.sqrt(m - 1)
    gap = mean_x - mean_y
    terms = backend.sum(gap * gap) + backend.sum(a * a) + backend.sum(b * b)
    value = terms - 2 * _root_trace(a, b, backend)
    low = backend.scalar(value)
    if low < 0:
        bound = 64 * d * _EPS * backend.scalar(terms)
        if low < -bound:  # pragma: no cover - the trace term cannot exceed the traces' mean
            raise RuntimeError(
                f"frechet_distance came out {low:.3g}, below its rounding bound {-bound:.3g}: "
                "please report this with the features"
            )
        value = value * 0.0  # keeps the dtype, device and a (zero) gradient
    value = times_power_of_two(value, 2 * exponent)
    if not math.isfinite(backend.scalar(value)):
        raise ValueError(
            "the Fréchet distance of these features exceeds the float64 range (features "
            "more than about 1e154 apart)"
        )
    return backend.to_output(value)


@dataclasses.dataclass(frozen=True)
class KernelInceptionResult:
    """The kernel inception distance over random subsets, with its spread.

    Attributes
    ----------
    mean : float or torch.Tensor
        The mean of ``values``: the KID.
    std : float or torch.Tensor
        Their standard deviation with ``ddof=0``, as torchmetrics reports it (the
        spread of one subset's value, not the standard error of ``mean``, which
        is about ``std / sqrt(subsets)``).
    values : (subsets,) numpy.ndarray or torch.Tensor
        The unbiased MMD² of each pair of subsets.
    subset_size : int
        The samples drawn from each set for each value.
    """

    mean: Any
    std: Any
    values: Any
    subset_size: int


def kernel_inception_distance(
    x: ArrayLike,
    y: ArrayLike,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int | None = None,
) -> KernelInceptionResult:
    r"""The kernel inception distance (KID): unbiased MMD² over random subsets.

    .. math::

        \mathrm{KID} = \frac 1 S \sum_{s=1}^S \widehat{\mathrm{MMD}}^2_u
        (x_{I_s}, y_{J_s}), \qquad k(u, v) = (\gamma\, u \cdot v + c_0)^p,

    where :math:`I_s` and :math:`J_s` are ``subset_size`` rows of ``x`` and of
    ``y`` drawn without replacement, and the unbiased estimate of a pair of
    subsets of size :math:`s` is

    .. math::

        \frac{\sum_{i \ne j} k(x_i, x_j) + \sum_{i \ne j} k(y_i, y_j)}{s (s - 1)}
        - \frac{2}{s^2} \sum_{i, j} k(x_i, y_j).

    The defaults (``S = 100`` subsets of 1000, :math:`p = 3`,
    :math:`\gamma = 1/d`, :math:`c_0 = 1`) are those of Bińkowski et al.,
    torchmetrics and torch-fidelity.

    Parameters
    ----------
    x : (n, d) array-like or torch.Tensor
        Features of the first set (the data).
    y : (m, d) array-like or torch.Tensor
        Features of the second set, same ``d``.
    subsets : int, default 100
        Number of subset pairs :math:`S`.
    subset_size : int, default 1000
        Rows drawn from each set per subset, at least 2 and at most ``min(n, m)``.
    degree : int, default 3
        The kernel's degree :math:`p`.
    gamma : float, optional
        The kernel's scale :math:`\gamma > 0`; ``None`` means ``1 / d``.
    coef0 : float, default 1.0
        The kernel's offset :math:`c_0`.
    seed : int, optional
        Seeds the draws (``numpy.random.default_rng(seed)``); ``None`` draws
        fresh ones.

    Returns
    -------
    KernelInceptionResult
        ``mean`` (the KID), ``std`` (``ddof=0``, as torchmetrics), the
        per-subset ``values`` and ``subset_size``: Python floats and a numpy
        array for numpy input, tensors of the input's dtype (with autograd) for
        tensors.

    Raises
    ------
    ValueError
        On NaN or inf, sets with different ``d``, a ``subset_size`` below 2 or
        above the size of either set, ``subsets`` below 1, a ``gamma`` that is
        not positive, tensors on different devices.
    TypeError
        If an input is not an array of real numbers, or an option not a number
        of the right kind.

    Notes
    -----
    **Draws.** For each subset, first ``x``'s rows
    ``rng.permutation(n)[:subset_size]`` then ``y``'s
    ``rng.permutation(m)[:subset_size]``, with ``rng = default_rng(seed)``: the
    rows within a subset are distinct, subsets are drawn independently (as
    torchmetrics draws them, with ``torch.randperm``). The estimate of each
    subset is unbiased, so the KID of two sets from one law is near 0 and can
    be negative.

    Each subset's value is :func:`divergences.mmd` with ``kernel="polynomial"``
    and ``unbiased=True``, whose kernel is :math:`(a \cdot b / d + c_0)^p`; a
    ``gamma`` other than :math:`1/d` is applied by scaling both subsets by
    :math:`\sqrt{\gamma d}` first. Computed in float64 (float32 tensors give
    float32 results, with autograd); each subset costs :math:`O(s^2 d)` time and
    memory linear in :math:`s` (:func:`divergences.mmd` works in blocks).

    References
    ----------
    .. [1] M. Bińkowski, D. J. Sutherland, M. Arbel and A. Gretton,
       "Demystifying MMD GANs", ICLR 2018.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 1.0
    >>> kid = dv.kernel_inception_distance(x, y, subsets=10, subset_size=100, seed=0)
    >>> bool(kid.mean > 5 * kid.std), kid.values.shape  # shifted by 1 in each coordinate
    (True, (10,))
    >>> same = dv.kernel_inception_distance(x, rng.normal(size=(300, 8)), subsets=10,
    ...                                     subset_size=100, seed=0)
    >>> bool(abs(same.mean) < same.std)  # one law: near 0, of either sign
    True
    """
    backend = precise(backend_for(x=x, y=y))
    samples_x, samples_y = _sample_pair(x, y, backend, minimum=2, why="for an unbiased MMD²")
    (n, d), m = samples_x.shape, samples_y.shape[0]
    subsets = check_count(subsets, "subsets", minimum=1)
    subset_size = check_count(
        subset_size,
        "subset_size",
        minimum=2,
        maximum=min(n, m),
        why=f", the size of the smaller set (x has {n} samples, y has {m})",
    )
    degree = check_count(degree, "degree", minimum=1)
    scale = 1.0 / d if gamma is None else check_real(gamma, "gamma")
    if scale <= 0:
        raise ArgumentError("gamma", f"must be positive (or None for 1/d); got {gamma!r}")
    offset = check_real(coef0, "coef0")
    rng = np.random.default_rng(check_seed(seed))
    # mmd's polynomial kernel is (a.b / d + c0)^p: another gamma is a rescaling of the
    # samples by sqrt(gamma d), exact but for the rounding of one product.
    factor = 1.0 if gamma is None else math.sqrt(scale * d)
    values = []
    for _ in range(subsets):
        rows_x = rng.permutation(n)[:subset_size]
        rows_y = rng.permutation(m)[:subset_size]
        value = mmd(
            samples_x[backend.index(rows_x)] * factor,
            samples_y[backend.index(rows_y)] * factor,
            kernel="polynomial",
            degree=degree,
            coef0=offset,
            unbiased=True,
        )
        values.append(value if isinstance(backend, TorchBackend) else np.float64(value))
    stacked = backend.stack(values, axis=0)
    mean = backend.sum(stacked) / subsets
    spread = stacked - mean
    std = backend.sqrt(backend.sum(spread * spread) / subsets)
    if isinstance(backend, TorchBackend):
        return KernelInceptionResult(
            backend.to_output(mean),
            backend.to_output(std),
            backend.to_output(stacked),
            subset_size,
        )
    return KernelInceptionResult(float(mean), float(std), stacked, subset_size)
