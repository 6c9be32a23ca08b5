"""Kernels and the maximum mean discrepancy (MMD²) between two sample sets, block by block.

One blocked driver, :func:`_kernel_statistics`, computes the MMD² of every split of a
pooled sample given by a label matrix: :func:`mmd` is its one-column case, and the
permutation test of :mod:`divergences.two_sample` its many-column case, so that the
observed statistic and the null statistics come from the same arithmetic.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from divergences._backend import (
    ArrayLike,
    Backend,
    TorchBackend,
    array_module,
    precise,
    standardise,
    times_power_of_two,
)
from divergences._validation import (
    ArgumentError,
    ArgumentTypeError,
    as_samples,
    backend_for,
    check_count,
    check_flag,
    check_option,
    check_real,
)

__all__ = ["KERNELS", "mmd"]

#: The kernels :func:`mmd` knows, by name.
KERNELS = ("gaussian", "laplacian", "energy", "polynomial")
#: The kernels that have a bandwidth; the others refuse a numeric one.
_BANDWIDTH_KERNELS = ("gaussian", "laplacian")

# Kernel entries per block of rows: a block of r rows against the N - s columns from its
# own start holds r x (N - s) entries (and, under autograd, the few temporaries of one
# block), near 16 MiB in float64 whatever N, so the memory stays linear in N.
_BLOCK_VALUES = 1 << 21
#: The pooled points the median heuristic looks at, at most (a seeded subsample beyond).
MEDIAN_POINTS = 1000
_MEDIAN_SEED = 0


@dataclass(frozen=True)
class _Kernel:
    """A kernel with its parameters; ``bandwidth`` is in the units of the arrays given."""

    name: str
    bandwidth: float = 1.0
    degree: int = 3
    coef0: float = 1.0

    def block(self, a: Any, b: Any, backend: Backend) -> Any:
        """The (r, c) kernel matrix ``k(a_i, b_j)``."""
        if self.name == "polynomial":
            return (a @ backend.transpose(b) / a.shape[1] + self.coef0) ** self.degree
        # From the coordinate differences (not |a|^2 - 2 a.b + |b|^2, which cancels for
        # close points and leaves k(a, a) short of 1).
        distances = backend.distances(a, b)
        xp = array_module(distances)
        # outside autograd, in place: one (r, c) array per block, not five
        out = None if getattr(distances, "requires_grad", False) else distances
        if self.name == "energy":
            return xp.negative(distances, out=out)
        scaled = xp.divide(distances, self.bandwidth, out=out)
        if self.name == "gaussian":
            scaled = xp.multiply(xp.multiply(scaled, scaled, out=out), -0.5, out=out)
        else:
            scaled = xp.negative(scaled, out=out)
        return xp.exp(scaled, out=out)


def _block_sums(
    rows: Any,
    columns: Any,
    labels: Any,
    carried: Any,
    kernel: _Kernel,
    backend: Backend,
) -> tuple[Any, ...]:
    """One block's share of the sums :func:`_kernel_statistics` needs.

    ``rows`` are the points ``s .. s + r`` of the pooled sample and ``columns`` the points
    ``s .. N``: by symmetry each pair of distinct blocks is visited once, from the upper
    triangle, and counted twice. ``labels`` are those of ``columns`` (the rows' first),
    and ``carried`` holds, for these rows, the kernel sums over
    the columns before ``s`` (visited as earlier blocks' columns).
    """
    block = kernel.block(rows, columns, backend)
    size = rows.shape[0]
    labels_rows = labels[:size]
    row_sums = backend.sum(block, axis=1) + carried
    linear = backend.sum(labels_rows * row_sums[:, None], axis=0)
    diagonal = backend.diagonal(block[:, :size])
    on_diagonal = backend.sum(labels_rows * diagonal[:, None], axis=0)
    trace = backend.sum(diagonal)
    column_sums = backend.sum(block[:, size:], axis=0)
    total = backend.sum(block[:, :size]) + 2 * backend.sum(column_sums)
    if kernel.name == "polynomial":
        absolute = backend.sum(backend.abs(backend.detach(block[:, :size])))
        absolute = absolute + 2 * backend.sum(backend.abs(backend.detach(block[:, size:])))
    else:  # the kernel has one sign
        absolute = backend.abs(backend.detach(total))
    # the diagonal block is visited once, from both sides at once: half its weight
    if getattr(block, "requires_grad", False):
        halves = np.ones(columns.shape[0])
        halves[:size] = 0.5
        block = block * backend.from_numpy(halves)[None, :]
    else:
        block[:, :size] *= 0.5
    quadratic = 2 * backend.sum(labels_rows * (block @ labels), axis=0)
    return quadratic, linear, on_diagonal, column_sums, total, trace, absolute


def _kernel_statistics(
    z: Any, labels: Any, n: int, kernel: _Kernel, backend: Backend, *, unbiased: bool
) -> tuple[Any, float]:
    """The MMD² of each split of the pooled sample ``z`` that a column of ``labels`` gives.

    Parameters
    ----------
    z : (N, d) array or tensor
        The pooled sample, of ``backend``'s kind.
    labels : (N, B) array or tensor
        1 where a point belongs to the first set, 0 where to the second; every column
        has ``n`` ones.
    n : int
        The size of the first set (the second has ``N - n``).
    kernel : _Kernel
        The kernel, its bandwidth in the units of ``z``.
    backend : Backend
        Operations for ``z``'s kind.
    unbiased : bool
        U-statistics within the sets (their diagonals left out) instead of V-statistics.

    Returns
    -------
    values : (B,) array or tensor
        With ``a`` a column and ``K`` the kernel matrix: ``S_xx = a'Ka``,
        ``S_xy = a'K1 - S_xx``, ``S_yy = 1'K1 - 2 a'K1 + S_xx``, the diagonals
        ``D_x = a'diag(K)`` and ``D_y = tr K - D_x``, and then
        ``S_xx/n² + S_yy/m² - 2 S_xy/(nm)`` (biased) or
        ``(S_xx - D_x)/(n(n-1)) + (S_yy - D_y)/(m(m-1)) - 2 S_xy/(nm)`` (unbiased).
        Only ``a'Ka`` depends on the labels quadratically: it is the one blocked product
        ``sum over rows of L[rows] * (K[rows, :] @ L)``.
    mean_absolute : float
        The mean of ``|k|`` over all pairs: the size of the terms, hence of the rounding.

    Notes
    -----
    Blocks of rows of about ``_BLOCK_VALUES`` kernel entries (coordinate differences
    under autograd), over the upper triangle only; under autograd each block is
    checkpointed (recomputed in the backward pass), so the memory is that of one block
    plus ``z`` and ``labels``, forward and backward.
    """
    count = z.shape[0]
    m = count - n
    checkpoint: Any = None
    coordinates = 1
    if isinstance(backend, TorchBackend) and backend.torch.is_grad_enabled() and z.requires_grad:
        from torch.utils.checkpoint import checkpoint

        # the backward pass of torch's cdist holds the rows x columns x d differences
        coordinates = z.shape[1]
    step = max(1, _BLOCK_VALUES // (count * coordinates))
    carried = backend.from_numpy(np.zeros(count))
    sums: list[Any] = [0.0] * 6
    absolute = 0.0
    for start in range(0, count, step):
        stop = min(count, start + step)
        arguments = (z[start:stop], z[start:], labels[start:], carried[start:stop])
        if checkpoint is not None:
            parts = checkpoint(_block_sums, *arguments, kernel, backend, use_reentrant=False)
        else:
            parts = _block_sums(*arguments, kernel, backend)
        quadratic, linear, on_diagonal, column_sums, total, trace, block_absolute = parts
        carried = backend.concatenate([carried[:stop], carried[stop:] + column_sums])
        for index, part in enumerate((quadratic, linear, on_diagonal, total, trace)):
            sums[index] = sums[index] + part
        absolute += backend.scalar(block_absolute)
    quadratic, linear, on_diagonal, total, trace = sums[:5]
    within_x = quadratic
    between = linear - quadratic
    within_y = total - 2 * linear + quadratic
    if unbiased:
        value = (
            (within_x - on_diagonal) / (n * (n - 1))
            + (within_y - (trace - on_diagonal)) / (m * (m - 1))
            - 2 * between / (n * m)
        )
    else:
        value = within_x / (n * n) + within_y / (m * m) - 2 * between / (n * m)
    return value, absolute / (count * count)


def _check_kernel(kernel: Any, bandwidth: Any, degree: Any, coef0: Any) -> tuple[Any, ...]:
    """The checked ``(kernel, bandwidth, degree, coef0)``; ``bandwidth`` a float or
    ``"median"``."""
    kernel = check_option(kernel, "kernel", KERNELS)
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise ArgumentError(
                "bandwidth", f"must be 'median' or a positive number; got {bandwidth!r}"
            )
    else:
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, numbers.Real):
            raise ArgumentTypeError(
                "bandwidth", f"must be 'median' or a positive number; got {bandwidth!r}"
            )
        bandwidth = float(bandwidth)
        if not (math.isfinite(bandwidth) and bandwidth > 0):
            raise ArgumentError("bandwidth", f"must be a positive finite number; got {bandwidth}")
        if kernel not in _BANDWIDTH_KERNELS:
            raise ArgumentError(
                "bandwidth",
                f"applies to the {' and '.join(_BANDWIDTH_KERNELS)} kernels only; the "
                f"{kernel!r} kernel has none (leave bandwidth at its default); got {bandwidth}",
            )
    degree = check_count(degree, "degree", minimum=1)
    coef0 = check_real(coef0, "coef0")
    return kernel, bandwidth, degree, coef0


def median_distance(z: Any, backend: Backend) -> float:
    """The median distance between distinct points of ``z`` (pairs ``i < j``).

    Over at most :data:`MEDIAN_POINTS` points, drawn without replacement by a fixed seed
    where ``z`` has more, so that the bandwidth is a deterministic function of the pooled
    sample. Where more than half the pairs coincide (discrete data), the median of the
    positive distances; 1 where every point coincides (any bandwidth then gives 0).
    """
    from scipy.spatial.distance import pdist

    count = z.shape[0]
    if count > MEDIAN_POINTS:
        rows = np.sort(
            np.random.default_rng(_MEDIAN_SEED).choice(count, MEDIAN_POINTS, replace=False)
        )
        z = z[backend.index(rows)]
    distances = pdist(backend.to_numpy(z))
    median = float(np.median(distances)) if distances.size else 0.0
    if median == 0.0:
        positive = distances[distances > 0]
        median = float(np.median(positive)) if positive.size else 1.0
    return median


def _pooled_kernel(
    samples_x: Any,
    samples_y: Any,
    backend: Backend,
    kernel: str,
    bandwidth: Any,
    degree: int,
    coef0: float,
) -> tuple[Any, _Kernel, int]:
    """The pooled sample, the kernel in its units, and the exponent ``e`` such that the
    MMD² of the samples given is ``2**e`` times that of the pooled sample returned.

    Translation-invariant kernels see the samples moved into ``[-1, 1]^d`` by
    :func:`~divergences._backend.standardise` (exact powers of two), so that no square
    overflows at any scale; the bandwidth follows them. The polynomial kernel, which
    depends on the origin, sees the samples as given.
    """
    if kernel == "polynomial":
        return (
            backend.concatenate([samples_x, samples_y]),
            _Kernel(kernel, degree=degree, coef0=coef0),
            0,
        )
    (scaled_x, scaled_y), exponent = standardise([samples_x, samples_y], backend)
    z = backend.concatenate([scaled_x, scaled_y])
    if kernel == "energy":
        return z, _Kernel(kernel), exponent
    if bandwidth == "median":
        scaled_bandwidth = median_distance(backend.detach(z), backend)
    else:
        scaled_bandwidth = math.ldexp(bandwidth, -exponent)
        if scaled_bandwidth == 0.0 or not math.isfinite(scaled_bandwidth):
            raise ArgumentError(
                "bandwidth",
                f"is out of the float64 range relative to the samples' spread (about "
                f"2**{exponent}); got {bandwidth}",
            )
    return z, _Kernel(kernel, bandwidth=scaled_bandwidth), 0


def _membership(n: int, m: int, backend: Backend) -> Any:
    """The (n + m, 1) labels of the split ``x`` first, ``y`` after."""
    return backend.from_numpy(np.concatenate([np.ones(n), np.zeros(m)])[:, None])


def mmd(
    x: ArrayLike,
    y: ArrayLike,
    *,
    kernel: str = "gaussian",
    bandwidth: float | str = "median",
    unbiased: bool = True,
    degree: int = 3,
    coef0: float = 1.0,
) -> Any:
    r"""The squared maximum mean discrepancy MMD² between two sample sets.

    .. math::

        \mathrm{MMD}^2(P, Q) = \mathbb E\,k(X, X') + \mathbb E\,k(Y, Y')
        - 2\,\mathbb E\,k(X, Y), \qquad X, X' \sim P,\; Y, Y' \sim Q,

    over the samples' empirical distributions: all pairs (the V-statistic,
    ``unbiased=False``), or distinct pairs within each set (the U-statistic,
    unbiased for the population value, and then possibly negative). The kernels:

    * ``"gaussian"``: :math:`k(a, b) = \exp(-\|a - b\|^2 / (2 h^2))`;
    * ``"laplacian"``: :math:`k(a, b) = \exp(-\|a - b\| / h)`;
    * ``"energy"``: :math:`k(a, b) = -\|a - b\|`, for which MMD² is the energy
      distance, with factor 1: the biased MMD² equals
      ``energy_distance(x, y)`` and the unbiased one
      ``energy_distance(x, y, unbiased=True)``;
    * ``"polynomial"``: :math:`k(a, b) = (a \cdot b / d + c_0)^{\text{degree}}`,
      torchmetrics' KID convention (:math:`\gamma = 1/d`; with the defaults,
      the cubic kernel of the kernel inception distance).

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of P; a 1-D array means ``d = 1``.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of Q, same ``d``.
    kernel : {"gaussian", "laplacian", "energy", "polynomial"}, default "gaussian"
        The kernel :math:`k`.
    bandwidth : "median" or float, default "median"
        :math:`h` of the Gaussian and Laplacian kernels: a positive number, or
        ``"median"``, the median distance between distinct points of the pooled
        sample (see Notes). The energy and polynomial kernels have no bandwidth:
        they ignore the default and refuse a number.
    unbiased : bool, default True
        The U-statistic (each set's diagonal ``k(x_i, x_i)`` left out; needs two
        samples a side) instead of the V-statistic.
    degree : int, default 3
        The polynomial kernel's degree, a positive integer (checked always, used
        by that kernel only).
    coef0 : float, default 1.0
        The polynomial kernel's constant :math:`c_0`.

    Returns
    -------
    float or torch.Tensor
        MMD², squared (no square root is taken). For tensors, a 0-dim tensor in
        their dtype, on their device, with autograd to both sets; the median
        bandwidth is a constant for autograd.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, sets of different dimension, tensors on
        different devices, an unknown ``kernel``, a ``bandwidth`` that is not
        positive and finite (or given to a kernel without one), a ``degree``
        below 1, ``unbiased`` with a set of one sample, or a value beyond the
        float64 range (a polynomial kernel of huge samples).
    TypeError
        If an input is not an array of real numbers, ``bandwidth`` neither
        ``"median"`` nor a number, ``degree`` not an integer or ``unbiased``
        not a bool.

    Notes
    -----
    **Median heuristic.** Over at most 1000 points of the pooled sample ``x``
    and ``y`` (drawn without replacement with a fixed seed where there are more,
    so the result is deterministic); where more than half the pairs coincide,
    the median of the positive distances.

    **GeomLoss's convention.** ``SamplesLoss("gaussian" | "laplacian", blur=h)``
    uses the same kernels with :math:`h` = ``blur`` and returns half the biased
    MMD², and ``SamplesLoss("energy")`` half the energy distance:
    ``SamplesLoss(name, blur=h)(x, y) == mmd(x, y, kernel=name, bandwidth=h,
    unbiased=False) / 2``.

    **Cost.** The kernel matrix is never held: blocks of rows spanning about
    :math:`2^{21}` entries (:math:`2^{21} / d` under autograd, whose backward
    pass holds a block's coordinate differences), over the upper triangle of
    the pooled sample's kernel matrix only (it is symmetric). Under autograd
    each block is checkpointed (recomputed in the backward pass), so value and
    gradient take :math:`O((n + m)^2 d)` operations and
    :math:`O(2^{21} + (n + m) d)` memory.
    Tensors compute in float64 (float32 on Apple's MPS) and are returned in
    their dtype. The Gaussian, Laplacian and energy kernels see the samples
    moved into :math:`[-1, 1]^d` by an exact power of two (with the bandwidth),
    so no square overflows at any scale; the polynomial kernel, which depends on
    the origin, sees them as given.

    References
    ----------
    Gretton, A., Borgwardt, K. M., Rasch, M. J., Schölkopf, B. and Smola, A.
    (2012). A kernel two-sample test. *J. Machine Learning Research* 13, 723-773.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> dv.mmd([0.0, 1.0], [0.0, 1.0], unbiased=False)
    0.0
    >>> round(dv.mmd([0.0], [1.0], bandwidth=1.0, unbiased=False), 6)  # 2 - 2 exp(-1/2)
    0.786939
    >>> u, v = np.random.default_rng(0).normal(size=(2, 50, 3))
    >>> energy = dv.mmd(u, v, kernel="energy", unbiased=False)
    >>> bool(np.isclose(energy, dv.energy_distance(u, v)))
    True
    """
    backend = precise(backend_for(x=x, y=y))
    kernel, bandwidth, degree, coef0 = _check_kernel(kernel, bandwidth, degree, coef0)
    unbiased = check_flag(unbiased, "unbiased")
    samples_x = as_samples(x, "x", backend)
    samples_y = as_samples(y, "y", backend)
    (n, d), (m, d_y) = samples_x.shape, samples_y.shape
    if d != d_y:
        raise ValueError(f"x and y must have the same dimension d; got d = {d} and d = {d_y}")
    if unbiased and min(n, m) < 2:
        raise ValueError(
            f"unbiased=True needs at least two samples in each of x and y; got {n} and {m}"
        )
    z, kernel_function, exponent = _pooled_kernel(
        samples_x, samples_y, backend, kernel, bandwidth, degree, coef0
    )
    # a polynomial kernel of huge samples overflows: refused below, by name
    with np.errstate(over="ignore", invalid="ignore"):
        values, _ = _kernel_statistics(
            z, _membership(n, m, backend), n, kernel_function, backend, unbiased=unbiased
        )
        value = times_power_of_two(values[0], exponent)
    if not bool(np.isfinite(backend.to_numpy(backend.detach(value)))):
        raise ValueError(
            f"the MMD² of these samples with the {kernel} kernel exceeds the float64 range"
        )
    return backend.to_output(value)
