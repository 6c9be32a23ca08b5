"""The energy distance between two sample sets: MMD with the distance kernel.

Its gradient in the samples never vanishes where the supports are disjoint (in
the segment family it is ``2 sign(θ)`` in the limit of many samples, see
:func:`energy_distance`), and it costs one pass over all pairs of samples, with
no solver and no training: the cheapest differentiable comparison of two
sample sets that sees their geometry.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from divergences._backend import (
    ArrayLike,
    Backend,
    TorchBackend,
    precise,
    standardise,
    times_power_of_two,
)
from divergences._validation import (
    ArgumentsError,
    as_samples,
    backend_for,
    check_flag,
    check_same_dimension,
)

__all__ = ["energy_distance"]

# Coordinates per block of the pairwise distances: the backward pass holds the rows x m x d
# differences of a block of rows against m rows in d dimensions, so the rows per block
# follow m and d and that stays near 16 MiB in float64 whatever the sizes (a fixed number
# of rows would grow with m * d).
_BLOCK_VALUES = 1 << 21


def _block_rows(b: Any) -> int:
    """Rows of ``a`` per block against all of ``b``, so that a block spans about
    ``_BLOCK_VALUES`` coordinate differences."""
    return max(1, _BLOCK_VALUES // max(1, b.shape[0] * b.shape[1]))


def _distance_sum(a: Any, b: Any, backend: Backend) -> Any:
    """The sum of ``|a_i - b_j|`` over all pairs, block by block. Distances come from the
    differences (SciPy's ``cdist``, torch's without the matrix-product shortcut), which
    need no rows x m x d temporary, unlike broadcasting them here."""
    total: Any = 0.0
    rows = _block_rows(b)
    for start in range(0, a.shape[0], rows):
        total = total + backend.sum(backend.distances(a[start : start + rows], b))
    return total


def _unit_vector_sums(a: Any, b: Any, *, rows: bool, columns: bool) -> tuple[Any, Any]:
    """For tensors, ``sum_j u_ij`` for each row ``i`` of ``a`` (if ``rows``) and
    ``-sum_i u_ij`` for each row ``j`` of ``b`` (if ``columns``; else ``None``), with
    ``u_ij = (a_i - b_j) / |a_i - b_j|``: the gradients of ``sum_ij |a_i - b_j|``.

    ``u_ij`` is 0 where two points coincide, the subgradient torch's ``cdist`` takes,
    so that a set compared with itself (its own pairs ``i = j``) gets no NaN. Computed
    block by block from the differences, never from ``|a|^2 - 2 a.b + |b|^2``, which
    cancels for close points.
    """
    import torch

    row_sums = torch.empty_like(a) if rows else None
    column_sums = torch.zeros_like(b) if columns else None
    step = _block_rows(b)
    for start in range(0, a.shape[0], step):
        differences = a[start : start + step, None, :] - b[None, :, :]
        lengths = torch.linalg.vector_norm(differences, dim=-1, keepdim=True)
        units = differences.mul_(torch.where(lengths > 0, lengths.reciprocal(), 0.0))
        if row_sums is not None:
            row_sums[start : start + step] = units.sum(dim=1)
        if column_sums is not None:
            column_sums -= units.sum(dim=0)
    return row_sums, column_sums


@functools.cache
def _pair_sums_function() -> Any:
    """The autograd function ``(x, y) -> (sum |x_i - y_j|, sum |x_i - x_j|,
    sum |y_i - y_j|)`` over all pairs, built on first use so that importing the module
    does not import torch.

    Autograd through the blocks would keep every block of distances for the backward
    pass, :math:`O(nm)` memory; this keeps only ``x`` and ``y`` and
    recomputes each block in the backward pass instead, so the memory is that of one
    block plus the samples, forward and backward alike.
    """
    import torch

    class FirstOrderOnly(torch.autograd.Function):
        """The identity on a gradient, whose own gradient is an error: a gradient
        computed outside autograd would otherwise count as a constant in a second
        derivative (zeros, or a wrong sum, with no warning)."""

        @staticmethod
        def forward(gradient: torch.Tensor, *anchors: torch.Tensor) -> torch.Tensor:
            return gradient.view_as(gradient)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            pass

        @staticmethod
        def backward(ctx: Any, *grads: Any) -> Any:
            raise RuntimeError(
                "energy_distance has no second derivative: a gradient taken with "
                "create_graph=True cannot be differentiated again (the gradient is "
                "computed block by block outside autograd, to keep the memory bounded)"
            )

    class PairSums(torch.autograd.Function):
        @staticmethod
        def forward(x: torch.Tensor, y: torch.Tensor, backend: Backend) -> tuple[Any, ...]:
            return (
                _distance_sum(x, y, backend),
                _distance_sum(x, x, backend),
                _distance_sum(y, y, backend),
            )

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            ctx.save_for_backward(inputs[0], inputs[1])

        @staticmethod
        def backward(
            ctx: Any, grad_between: Any, grad_within_x: Any, grad_within_y: Any
        ) -> tuple[Any, ...]:
            x, y = ctx.saved_tensors
            need_x, need_y = ctx.needs_input_grad[:2]
            grad_x = grad_y = None
            with torch.no_grad():
                between_x, between_y = _unit_vector_sums(x, y, rows=need_x, columns=need_y)
                # Each pair of a set counts twice, once from each end: hence the 2.
                if need_x:
                    within = _unit_vector_sums(x, x, rows=True, columns=False)[0]
                    grad_x = grad_between * between_x + (2 * grad_within_x) * within
                if need_y:
                    within = _unit_vector_sums(y, y, rows=True, columns=False)[0]
                    grad_y = grad_between * between_y + (2 * grad_within_y) * within
            if torch.is_grad_enabled():  # create_graph=True: refuse what would come next
                anchors = [
                    t
                    for t in (x, y, grad_between, grad_within_x, grad_within_y)
                    if t.requires_grad
                ]
                if anchors:
                    grad_x = None if grad_x is None else FirstOrderOnly.apply(grad_x, *anchors)
                    grad_y = None if grad_y is None else FirstOrderOnly.apply(grad_y, *anchors)
            return grad_x, grad_y, None

    return PairSums


def _pair_sums(x: Any, y: Any, backend: Backend) -> tuple[Any, Any, Any]:
    """``sum |x_i - y_j|``, ``sum |x_i - x_j|`` and ``sum |y_i - y_j|`` over all pairs."""
    if isinstance(backend, TorchBackend):
        between, within_x, within_y = _pair_sums_function().apply(x, y, backend)
        return between, within_x, within_y
    return _distance_sum(x, y, backend), _distance_sum(x, x, backend), _distance_sum(y, y, backend)


def energy_distance(x: ArrayLike, y: ArrayLike, *, unbiased: bool = False) -> Any:
    r"""The (squared) energy distance between two sample sets.

    .. math::

        \mathcal E(P, Q) = 2\,\mathbb E \|X - Y\| - \mathbb E \|X - X'\|
        - \mathbb E \|Y - Y'\|, \qquad X, X' \sim P,\; Y, Y' \sim Q,

    with the expectations taken over the samples' empirical distributions
    (all pairs, the V-statistic) or, with ``unbiased``, over distinct pairs
    within each set (the U-statistic, unbiased for the population value). It
    is the squared maximum mean discrepancy with the kernel
    :math:`k(x, y) = -\|x - y\|`, zero exactly when P = Q, and a metric's
    square: :math:`\sqrt{\mathcal E}` is a distance (Székely and Rizzo 2013).

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of P; a 1-D array means ``d = 1``.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of Q, same ``d``.
    unbiased : bool, default False
        Average the within-set distances over distinct pairs only (needs at
        least two samples a side; can then be slightly negative).

    Returns
    -------
    float or torch.Tensor
        :math:`\mathcal E`, in the units of the samples (it is homogeneous of
        degree 1: scaling both sets by ``a`` scales it by ``|a|``). For
        tensors, a 0-dim tensor in their dtype, on their device, with autograd
        to both sets.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, sets of different dimension, tensors on
        different devices, ``unbiased`` with a set of one sample, or a value
        beyond the float64 range.
    TypeError
        If an input is not an array of real numbers, or ``unbiased`` not a bool.
    RuntimeError
        When a gradient of it, taken with ``create_graph=True``, is
        differentiated again (see Notes).

    Notes
    -----
    **SciPy's convention.** :func:`scipy.stats.energy_distance` (1-D only)
    returns the square root, :math:`\sqrt{\mathcal E} = \sqrt 2\,\|F_P - F_Q\|_2`
    with :math:`F` the empirical distribution functions, so in one dimension
    ``energy_distance(u, v) == scipy.stats.energy_distance(u, v) ** 2``.
    GeomLoss's ``SamplesLoss("energy")`` is half of
    :math:`\mathcal E` (it writes the MMD with a factor 1/2).

    **Gradient on disjoint supports.** For P uniform on the segment
    :math:`\{0\} \times [0, 1]` and Q its translate by θ, the energy distance
    grows like :math:`2|\theta|` far away and like :math:`\theta^2 \log(1/|\theta|)`
    near 0; its gradient never vanishes at θ ≠ 0, unlike the JS divergence's.

    The samples are first translated and scaled together by a power of two
    (exactly), so no square overflows or underflows at any scale. The
    distances come from the coordinate differences (SciPy's ``cdist``,
    torch's ``cdist`` without its matrix-product shortcut, which loses digits)
    in blocks of rows spanning about :math:`2^{21}` differences; the backward
    pass keeps only the samples and recomputes each block, accumulating
    :math:`\partial / \partial x_i \sum_j \|x_i - y_j\|
    = \sum_j (x_i - y_j) / \|x_i - y_j\|` (a term is 0 where two points
    coincide, the subgradient torch's ``cdist`` takes). The value and its
    gradient each cost :math:`O((n + m)^2 d)` operations and
    :math:`O(2^{21} + (n + m) d)` memory, whatever ``n``, ``m`` and ``d``.

    **First derivatives only.** A gradient taken with ``create_graph=True``
    cannot be differentiated again: doing so raises a ``RuntimeError`` (rather
    than counting the energy distance's second derivative as 0).

    References
    ----------
    Székely, G. J. and Rizzo, M. L. (2013). Energy statistics: a class of
    statistics based on distances. *J. Statistical Planning and Inference*
    143(8), 1249-1272.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> dv.energy_distance([0.0, 1.0], [0.0, 1.0])
    0.0
    >>> dv.energy_distance([0.0], [3.0])  # two points: 2 * 3 - 0 - 0
    6.0
    >>> from scipy.stats import energy_distance as scipy_energy
    >>> u, v = np.random.default_rng(0).normal(size=(2, 50))
    >>> bool(np.isclose(dv.energy_distance(u, v), scipy_energy(u, v) ** 2))
    True
    """
    backend = precise(backend_for(x=x, y=y))
    unbiased = check_flag(unbiased, "unbiased")
    samples_x = as_samples(x, "x", backend)
    samples_y = as_samples(y, "y", backend)
    check_same_dimension(samples_x, samples_y)
    n, m = samples_x.shape[0], samples_y.shape[0]
    if unbiased and min(n, m) < 2:
        raise ArgumentsError(
            f"unbiased=True needs at least two samples in each of {{}} and {{}}; got {n} and {m}",
            ("x", "y"),
        )
    (scaled_x, scaled_y), exponent = standardise([samples_x, samples_y], backend)
    sum_between, sum_within_x, sum_within_y = _pair_sums(scaled_x, scaled_y, backend)
    # A set's pairs i = i are at distance 0: the U-statistic only changes the count.
    between = sum_between / (n * m)
    within_x = sum_within_x / (n * (n - 1) if unbiased else n * n)
    within_y = sum_within_y / (m * (m - 1) if unbiased else m * m)
    value = times_power_of_two(2 * between - within_x - within_y, exponent)
    if not bool(np.isfinite(backend.to_numpy(backend.detach(value)))):
        raise ValueError(
            "the energy distance of these samples exceeds the float64 range (samples more "
            "than about 1e308 apart)"
        )
    return backend.to_output(value)
