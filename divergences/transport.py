"""Wasserstein distances between sample sets: exact (linear program, 1-D quantiles) and sliced.

The exact distance solves the optimal transport linear program with POT's
network simplex (:func:`ot.emd`), after choosing an iteration cap from the
problem size, checking that the problem fits in memory, and bringing the
samples to a unit scale (POT's tolerances are absolute); one-dimensional
samples take an exact sort-based path instead. Everything runs in float64.
Torch inputs get gradients by the envelope theorem: the optimal plan is held
fixed and the cost of moving along it is differentiated with respect to the
sample positions, the dual potentials give the gradient with respect to the
weights.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from divergences._backend import (
    ArrayLike,
    Backend,
    NumpyBackend,
    Result,
    exponent_above,
    precise,
    standardise,
    times_power_of_two,
)
from divergences._memory import ProblemTooLargeError, refuse_beyond_memory
from divergences._validation import (
    as_samples,
    as_weights,
    backend_for,
    check_count,
    check_option,
    check_real,
    check_seed,
)

__all__ = [
    "METRICS",
    "ProblemTooLargeError",
    "SolverError",
    "TransportResult",
    "optimal_transport",
    "sliced_wasserstein",
    "wasserstein",
]

# Peak memory of ot.emd per cost-matrix entry, measured with POT 0.9.7 at
# n = m = 2000 and 4000 (41 bytes: the cost matrix, the plan and the solver's
# network), rounded up for what our own call adds.
_BYTES_PER_ENTRY = 48
# Peak memory of the 1-D path per sample (tracemalloc, n + m = 2 x 10^6 and 1.7 x 10^6,
# float64 and float32 inputs): 32 bytes where equal uniform weights pair the sorted samples
# directly, 112 where the two quantile functions are merged (the order, the sorted copies,
# the cumulative weights and the merged levels).
_SORT_BYTES_MATCHED = 32
_SORT_BYTES_MERGED = 112
# Share of the available memory a problem may use when no memory_limit is given.
# Sorting two large 1-D sample sets in two threads halves the wall time.
_PARALLEL_SORT_SIZE = 1 << 16
# Projected values (samples of both sets times directions) per call of POT's 1-D solver in
# the sliced distance. That solver keeps about 110 bytes per projected value (sorted
# copies, cumulative weights and their merge; tracemalloc peak at n = m = 2^16 and 2^18
# with 200 directions), so a block of 2^20 values stays near 115 MB, where all 200
# directions at once took 2.8 GB for n = m = 2^16.
_SLICED_BLOCK_VALUES = 1 << 20
# From this dimension on, Euclidean cost matrices go through a matrix product
# (BLAS), which beats SciPy's cdist: 0.03 s against 0.09 s for 2000 x 2000 in 64-D.
_GRAM_MIN_DIMENSION = 24
# Gram entries below this share of the squared norms lose digits to cancellation
# and are recomputed from differences.
_GRAM_RECOMPUTE = 1e-4

# POT's network simplex result codes.
_INFEASIBLE, _OPTIMAL, _UNBOUNDED, _MAX_ITER_REACHED = 0, 1, 2, 3
# POT counts iterations in an unsigned 64-bit integer; a larger cap is a raw
# OverflowError inside it, and any cap this large never stops a solver anyway.
_MAX_ITER_LIMIT = 2**63 - 1
# log2 of the largest float64 and of the smallest normal one.
_LOG2_MAX, _LOG2_TINY = 1024.0, -1022.0
# Exact potentials are recomputed from the plan where the largest cost between the
# unit samples is within 2^+-1000: with room for the sums of costs and potentials.
_LOG2_POLISH_LIMIT = 1000.0
# The separate trees of the plan's support are made dual feasible with each other up
# to this many roundings of the potentials: closer, they would chase roundings.
_RELAXATION_ULPS = 4


class SolverError(RuntimeError):
    """The transport linear program did not reach an optimal solution."""


def _euclidean(differences: Any, backend: Backend) -> Any:
    squared = backend.sum(differences * differences, axis=1)
    positive = squared > 0
    # Coincident points: the norm has no derivative at 0; give 0, never NaN.
    return backend.where(positive, backend.sqrt(backend.where(positive, squared, 1.0)), 0.0)


def _cityblock(differences: Any, backend: Backend) -> Any:
    return backend.sum(backend.abs(differences), axis=1)


def _chebyshev(differences: Any, backend: Backend) -> Any:
    return backend.max(backend.abs(differences), axis=1)


_NUMPY = NumpyBackend()

_METRICS: dict[str, Callable[[Any, Backend], Any]] = {
    "euclidean": _euclidean,
    "cityblock": _cityblock,
    "chebyshev": _chebyshev,
}
#: The ground metrics the exact solver accepts (SciPy ``cdist`` names).
METRICS: tuple[str, ...] = tuple(_METRICS)


@dataclass(frozen=True)
class TransportResult:
    r"""The solution of an exact optimal transport problem.

    Attributes
    ----------
    distance : float or torch.Tensor
        :math:`W_p`, with autograd for tensor inputs.
    cost : float or torch.Tensor
        The optimal transport cost :math:`W_p^p = \sum_{ij} \gamma_{ij} c_{ij}`,
        with :math:`c_{ij} = d(x_i, y_j)^p`; autograd for tensor inputs.
    plan : (n, m) numpy.ndarray or torch.Tensor
        The optimal coupling :math:`\gamma` (rows sum to the weights of ``x``,
        columns to those of ``y``); a tensor (without autograd) for tensor inputs.
    potential_x, potential_y : (n,) and (m,) numpy.ndarray or torch.Tensor
        Dual potentials :math:`u, v` with :math:`u_i + v_j \le c_{ij}`,
        equality on the plan's support, and
        :math:`\sum_i a_i u_i + \sum_j b_j v_j = W_p^p`; centred as POT
        centres them, :math:`\sum_i a_i u_i = \sum_j b_j v_j`. Computed from
        the costs in the samples' own units, they are as tight as POT's on the
        same cost matrix (exact on the support where the costs are integers).
    p : float
        The order of the distance.
    metric : str
        The ground metric.
    """

    distance: Result
    cost: Result
    plan: Any = field(repr=False)
    potential_x: Any = field(repr=False)
    potential_y: Any = field(repr=False)
    p: float
    metric: str


@dataclass(frozen=True)
class _Problem:
    x: Any
    y: Any
    weights_x: Any
    weights_y: Any
    uniform: bool
    p: float
    metric: str
    backend: Backend


def _prepare(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: Any,
    weights_x: ArrayLike | None,
    weights_y: ArrayLike | None,
    metric: Any,
) -> _Problem:
    order = check_real(p, "p", minimum=1.0)
    metric = check_option(metric, "metric", METRICS)
    # The solver runs in float64 whatever the inputs; so does everything around it.
    backend = precise(backend_for(x=x, y=y, weights_x=weights_x, weights_y=weights_y))
    xs = as_samples(x, "x", backend)
    ys = as_samples(y, "y", backend)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(
            f"x and y must have the same dimension d; got x of shape {tuple(xs.shape)} "
            f"and y of shape {tuple(ys.shape)}"
        )
    return _Problem(
        x=xs,
        y=ys,
        weights_x=as_weights(weights_x, "weights_x", int(xs.shape[0]), backend),
        weights_y=as_weights(weights_y, "weights_y", int(ys.shape[0]), backend),
        uniform=weights_x is None and weights_y is None,
        p=order,
        metric=metric,
        backend=backend,
    )


def _solver_options(max_iter: Any, memory_limit: Any) -> tuple[int | None, float | None]:
    """Validate the exact solver's options, whichever path then runs."""
    return (
        None
        if max_iter is None
        else check_count(
            max_iter, "max_iter", maximum=_MAX_ITER_LIMIT, why=" (POT's 64-bit iteration count)"
        ),
        None if memory_limit is None else check_real(memory_limit, "memory_limit", minimum=0.0),
    )


def _root(cost: Any, p: float, backend: Backend) -> Any:
    """``cost ** (1 / p)`` with gradient 0 (not inf) at a zero cost."""
    if p == 1:
        return cost
    positive = cost > 0
    return backend.where(positive, backend.where(positive, cost, 1.0) ** (1.0 / p), 0.0)


@dataclass(frozen=True)
class _ScaledCost:
    r"""An optimal cost kept in a unit of length where it is a normal float.

    :math:`W_p^p = u^p \cdot \text{cost}` with the unit
    :math:`u = \text{mantissa} \cdot 2^\text{exponent}` (a constant for autograd)
    chosen from the data so that ``cost`` neither overflows nor underflows,
    whatever the scale of the samples. The unit is kept as a mantissa and a
    power of two because it can itself lie beyond the float range.
    """

    cost: Any
    mantissa: float
    exponent: int
    p: float
    backend: Backend

    @classmethod
    def of(cls, cost: Any, scale: float, exponent: int, p: float, backend: Backend) -> _ScaledCost:
        """``cost`` in the unit ``scale * 2**exponent`` (``scale`` a positive float)."""
        mantissa, shift = math.frexp(scale)
        return cls(cost, mantissa, exponent + shift, p, backend)

    def distance(self) -> Result:
        r""":math:`W_p = u \cdot \text{cost}^{1/p}`, in the caller's dtype."""
        root = _root(self.cost, self.p, self.backend) * self.mantissa
        value = times_power_of_two(root, self.exponent)
        if not self.backend.all_finite(value):
            raise ValueError(
                f"W_{self.p:g} of these samples exceeds the float64 range (about 1.8e308); "
                "rescale the samples"
            )
        return self.backend.to_output(value)

    def in_cost_units(self, value: Any, what: str) -> Any:
        r"""``value`` (a cost or dual potentials, in units of :math:`u^p`) in the samples' units.

        :math:`u^p` can leave the float range where :math:`W_p` does not
        (``p = 2`` and samples at 1e200): that is an error, not an inf or a 0.
        """
        log2_factor = self.p * (math.log2(self.mantissa) + self.exponent)
        numbers = value if isinstance(value, (float, np.ndarray)) else self.backend.to_numpy(value)
        peak = float(np.max(np.abs(numbers), initial=0.0))
        if peak > 0 and not _LOG2_TINY <= math.log2(peak) + log2_factor < _LOG2_MAX:
            raise ValueError(
                f"the {what} of this problem (about 2^{math.log2(peak) + log2_factor:.0f}, "
                "in units of distance^p) is outside the float64 range, although W_p itself "
                "is representable; use wasserstein() for the distance, or rescale the samples"
            )
        whole = math.floor(log2_factor)
        return times_power_of_two(value * 2.0 ** (log2_factor - whole), whole)


def _in_parallel(function: Callable[[Any], Any], first: Any, second: Any, size: int) -> tuple:
    """``function`` on two arrays, in two threads when they are large numpy arrays.

    NumPy releases the GIL while it sorts, so the two sorts overlap.
    """
    if size < _PARALLEL_SORT_SIZE or not isinstance(first, np.ndarray):
        return function(first), function(second)
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = pool.submit(function, first)
        result_second = function(second)
        return pending.result(), result_second


def _power_mean(
    first: Any, second: Any, widths: Any | None, p: float, backend: Backend
) -> _ScaledCost:
    r""":math:`\sum_k w_k |a_k - b_k|^p` for matched samples (the mean if no widths).

    Where the sum could leave the float range (any ``p != 1``, or a mean of gaps
    near the largest float) the gaps are first divided by a power of two just
    above the largest one, so that the powers stay in ``[0, 1]`` at any scale;
    otherwise they are summed as they are, which keeps the common case exact and
    as fast as before.
    """
    exponent = 0
    with np.errstate(over="ignore"):
        gaps = backend.abs(first - second)
    # Levels of zero width (a zero weight first in order) carry gaps that do not count.
    counted = gaps if widths is None else backend.where(widths > 0, gaps, 0.0)
    peak = backend.scalar(backend.max(counted, axis=None))
    if not math.isfinite(peak):
        # Two finite samples more than the largest float apart: their quarters
        # (exact) are not.
        quarters = _power_mean(first * 0.25, second * 0.25, widths, p, backend)
        return replace(quarters, exponent=quarters.exponent + 2)
    count = int(gaps.shape[0])
    if peak > 0 and (p != 1 or peak > backend.finfo.max / count):
        # A power of two near the peak: exact, and finite even for a subnormal peak.
        exponent = exponent_above(peak)
        gaps = times_power_of_two(gaps, -exponent)
        if p != 1:
            gaps = gaps**p
    total = backend.sum(gaps) / count if widths is None else backend.sum(widths * gaps)
    if peak > 0 and backend.scalar(total) < backend.finfo.tiny:
        # a gap that counts is positive: the p-th powers underflowed
        _refuse_resolution(p)
    return _ScaledCost.of(total, 1.0, exponent, p, backend)


def _cost_1d(problem: _Problem) -> _ScaledCost:
    r"""Exact :math:`W_p^p` in one dimension from the quantile functions.

    :math:`W_p^p = \int_0^1 |F^{-1}(t) - G^{-1}(t)|^p dt`; both quantile
    functions are step functions, constant between consecutive cumulative
    weights, so the integral is a finite sum over the merged levels.
    """
    backend = problem.backend
    x = backend.reshape(problem.x, (-1,))
    y = backend.reshape(problem.y, (-1,))
    n, m = int(x.shape[0]), int(y.shape[0])
    widths = None
    if problem.uniform and n == m:
        # Equal uniform weights: the i-th smallest x goes to the i-th smallest y.
        x_matched, y_matched = _in_parallel(backend.sort, x, y, n + m)
    else:
        order_x, order_y = _in_parallel(backend.argsort, x, y, n + m)
        x_sorted, y_sorted = x[order_x], y[order_y]
        levels_x = backend.cumsum(problem.weights_x[order_x])
        levels_y = backend.cumsum(problem.weights_y[order_y])
        levels = backend.sort(backend.concatenate([levels_x, levels_y]))
        zero = backend.from_numpy(np.zeros(1))
        widths = levels - backend.concatenate([zero, levels[:-1]])
        # On the interval (previous level, level] each quantile function is the first
        # sorted sample whose cumulative weight reaches the level. Rounding can leave
        # the last cumulative weight a hair under 1: clip to the last sample.
        index_x = backend.searchsorted(levels_x, levels).clip(0, n - 1)
        index_y = backend.searchsorted(levels_y, levels).clip(0, m - 1)
        x_matched, y_matched = x_sorted[index_x], y_sorted[index_y]
    return _power_mean(x_matched, y_matched, widths, problem.p, backend)


def _refuse_early(
    x: Any,
    y: Any,
    memory_limit: float | None,
    one_dimension_sorts: bool,
    *,
    matched: bool = False,
) -> None:
    """The memory guard on the arrays' shapes alone, before any sample is read.

    A memory-mapped file too large for the linear program (or, in one
    dimension, for the sorted copies; ``matched``: equal uniform weights,
    which pair the sorted samples directly) is refused without scanning it
    for NaN (which would read every page and allocate a mask of its size);
    lists are small enough to check after validation as usual.
    """
    shapes: list[tuple[int, ...]] = []
    for value in (x, y):
        shape = getattr(value, "shape", None)
        if shape is None or len(shape) not in (1, 2):
            return
        shapes.append(tuple(int(size) for size in shape))
    dims = {1 if len(shape) == 1 else shape[1] for shape in shapes}
    n, m = shapes[0][0], shapes[1][0]
    if one_dimension_sorts and dims == {1}:
        # the 1-D path builds no cost matrix, but its float64 copies grow with n + m
        per_value = _SORT_BYTES_MATCHED if matched and n == m else _SORT_BYTES_MERGED
        _check_sort_memory(n, m, per_value, memory_limit)
        return
    _check_memory(n, m, memory_limit)


def _check_memory(n: int, m: int, memory_limit: float | None) -> None:
    needed = _BYTES_PER_ENTRY * n * m
    refuse_beyond_memory(
        needed,
        memory_limit,
        lambda limit, origin: (
            f"an exact transport problem between {n} and {m} samples needs about "
            f"{needed / 1e9:.2f} GB ({_BYTES_PER_ENTRY} bytes per entry of the {n} x {m} cost "
            f"matrix, for the matrix, the plan and the solver), more than the "
            f"{limit / 1e9:.2f} GB allowed ({origin}). Use wasserstein_dual for a neural "
            "estimate of W1, subsample, raise memory_limit (in bytes), or use "
            "sliced_wasserstein, a different metric that bounds W_p from below."
        ),
    )


def _check_sort_memory(n: int, m: int, per_value: int, memory_limit: float | None) -> None:
    needed = per_value * (n + m)
    refuse_beyond_memory(
        needed,
        memory_limit,
        lambda limit, origin: (
            f"an exact one-dimensional transport problem between {n} and {m} samples needs "
            f"about {needed / 1e9:.2f} GB ({per_value} bytes per sample for the sorted float64 "
            f"copies), more than the {limit / 1e9:.2f} GB allowed ({origin}). Subsample, "
            "raise memory_limit (in bytes), or use wasserstein_dual for a neural estimate of W1."
        ),
    )


def _euclidean_by_gram(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances from ``|x|^2 + |y|^2 - 2 x.y``, accurate to ~1e-15.

    The product form cancels where two points are close compared with their
    norms: the points are centred first (distances do not change), and the
    entries still at risk are recomputed from the differences directly.
    """
    center = (x.sum(axis=0) + y.sum(axis=0)) / (len(x) + len(y))
    x, y = x - center, y - center
    norms_x = np.einsum("ij,ij->i", x, x)
    norms_y = np.einsum("ij,ij->i", y, y)
    squared = x @ y.T
    squared *= -2.0
    squared += norms_x[:, None]
    squared += norms_y[None, :]
    limit = _GRAM_RECOMPUTE * (norms_x + norms_y.max())
    # Usually no row has a pair that close: look inside the few rows that do.
    risky_rows = np.flatnonzero(squared.min(axis=1) < limit)
    if risky_rows.size:
        inner_rows, cols = np.nonzero(squared[risky_rows] < limit[risky_rows, None])
        rows = risky_rows[inner_rows]
        differences = x[rows] - y[cols]
        squared[rows, cols] = np.einsum("ij,ij->i", differences, differences)
    np.maximum(squared, 0.0, out=squared)
    return np.sqrt(squared, out=squared)


def _distance_matrix(x: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """``d(x_i, y_j)`` for all pairs, as a float64 array."""
    from scipy.spatial.distance import cdist

    if metric == "euclidean" and x.shape[1] >= _GRAM_MIN_DIMENSION:
        return _euclidean_by_gram(x, y)
    return cdist(x, y, metric=metric)


def default_max_iter(n: int, m: int) -> int:
    """The network simplex iteration cap used when ``max_iter`` is not given.

    The solver needed about :math:`3 N \\log N` pivots for ``n = m = N`` random
    2-D problems (47 000 at N = 2000, more than POT's default cap of 100 000 from
    N = 4000 on). The cap is ten times the number of variables ``n * m``, far
    above any count seen, so that it only stops a solver that would never finish.

    Examples
    --------
    >>> default_max_iter(4000, 4000)
    160000000
    """
    return max(100_000, 10 * n * m)


@dataclass(frozen=True)
class _Solution:
    """The linear program's solution, in the units of :class:`_ScaledCost`.

    POT solved it for the costs :math:`(d_{ij} / \text{largest})^p`, with the
    distances :math:`d_{ij}` between ``unit_x`` and ``unit_y``: the samples moved
    and divided by ``2**exponent``; ``rows, cols`` index the plan's support.
    """

    scaled: _ScaledCost
    plan: np.ndarray
    potential_x: np.ndarray
    potential_y: np.ndarray
    unit_x: np.ndarray
    unit_y: np.ndarray
    largest: float
    exponent: int
    rows: np.ndarray
    cols: np.ndarray


def _solve_lp(problem: _Problem, max_iter: int | None, memory_limit: float | None) -> _Solution:
    import ot

    backend = problem.backend
    n, m = int(problem.x.shape[0]), int(problem.y.shape[0])
    cap = default_max_iter(n, m) if max_iter is None else max_iter
    _check_memory(n, m, memory_limit)
    # POT's tolerances are absolute: it must see costs of order 1 at any scale of
    # the data, and squares of coordinates that neither overflow nor underflow.
    (x, y), exponent = standardise([problem.x, problem.y], backend)
    x_np, y_np = backend.to_numpy(x), backend.to_numpy(y)
    costs = _distance_matrix(x_np, y_np, problem.metric)
    largest = float(costs.max()) if problem.p != 1 else 0.0
    if largest > 0:
        # Powers of distances up to 1 stay in [0, 1] whatever p is.
        costs *= 1.0 / largest
        np.power(costs, problem.p, out=costs)
    else:
        largest = 1.0
    a = backend.to_numpy(problem.weights_x)
    b = backend.to_numpy(problem.weights_y)
    with warnings.catch_warnings():
        # POT only warns when it stops early; the result code below is checked instead.
        warnings.simplefilter("ignore", UserWarning)
        plan, log = ot.emd(a, b, costs, numItermax=cap, log=True)
    code = log["result_code"]
    if code == _MAX_ITER_REACHED:
        raise SolverError(
            f"the network simplex stopped after max_iter={cap} iterations without reaching "
            "the optimal plan, so its cost is not the Wasserstein distance; pass a larger "
            f"max_iter (for example max_iter={min(10 * cap, _MAX_ITER_LIMIT)})"
        )
    if code != _OPTIMAL:
        state = {_INFEASIBLE: "infeasible", _UNBOUNDED: "unbounded"}.get(code, f"code {code}")
        raise SolverError(f"the transport linear program was reported {state} by POT")
    rows, cols = np.nonzero(plan)
    moves = _METRICS[problem.metric](x_np[rows] - y_np[cols], _NUMPY)
    _check_resolution(moves, costs[rows, cols], problem.p)
    if backend.name == "numpy":
        cost: Any = float(log["cost"])
    else:
        # Envelope theorem: with the optimal plan and potentials held fixed, the
        # cost along the plan has the optimal cost's gradient in the positions,
        # and the potentials are its gradient in the weights.
        mass = backend.from_numpy(plan[rows, cols])
        rows_b, cols_b = backend.index(rows), backend.index(cols)
        pair_costs = _METRICS[problem.metric](x[rows_b] - y[cols_b], backend)
        if problem.p != 1:
            pair_costs = (pair_costs * (1.0 / largest)) ** problem.p
        wx, wy = problem.weights_x, problem.weights_y
        cost = (
            backend.sum(mass * pair_costs)
            + backend.sum((wx - wx.detach()) * backend.from_numpy(log["u"]))
            + backend.sum((wy - wy.detach()) * backend.from_numpy(log["v"]))
        )
    return _Solution(
        scaled=_ScaledCost.of(cost, largest, exponent, problem.p, backend),
        plan=plan,
        potential_x=log["u"],
        potential_y=log["v"],
        unit_x=x_np,
        unit_y=y_np,
        largest=largest,
        exponent=exponent,
        rows=rows,
        cols=cols,
    )


def _check_resolution(moves: np.ndarray, used_costs: np.ndarray, p: float) -> None:
    """Refuse a plan that moves mass over costs float64 cannot resolve.

    Costs are ``(d / d_max)^p``: for a large ``p`` a pair much closer than the
    farthest one gets a cost below the smallest normal float (or 0), and the
    solver cannot tell it from a free move. A plan that uses no such pair is
    optimal for the true costs too (raising the cost of unused pairs keeps it
    optimal), so only the pairs it uses are checked.
    """
    if np.any((moves > 0) & (used_costs < np.finfo(np.float64).tiny)):
        _refuse_resolution(p)


def _refuse_resolution(p: float) -> None:
    raise ValueError(
        f"W_{p:g} of these samples is beyond float64's resolution: the optimal plan "
        f"moves mass over distances whose {p:g}-th powers, relative to the largest "
        "one, are below 1e-308; use a smaller p"
    )


def _unit_costs(differences: np.ndarray, metric: str, p: float) -> np.ndarray:
    """``d^p`` for rows of coordinate differences, without rounding where it is exact.

    An even power of a Euclidean distance is a power of the sum of squares: going
    through the square root would round the cost of integer points (``sqrt(2) ** 2``
    is not 2).
    """
    if metric == "euclidean" and p % 2 == 0:
        squared = np.einsum("ij,ij->i", differences, differences)
        return squared if p == 2 else squared ** (p / 2)
    distances = _METRICS[metric](differences, _NUMPY)
    return distances if p == 1 else distances**p


def _unit_cost_matrix(x: np.ndarray, y: np.ndarray, metric: str, p: float) -> np.ndarray:
    """:func:`_unit_costs` for all pairs of ``x`` and ``y``."""
    from scipy.spatial.distance import cdist

    if metric == "euclidean" and p % 2 == 0:
        squared = cdist(x, y, "sqeuclidean")
        return squared if p == 2 else squared ** (p / 2)
    distances = cdist(x, y, metric)
    return distances if p == 1 else distances**p


def _tight_potentials(
    problem: _Problem, solution: _Solution
) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Dual potentials for the costs :math:`d_{ij}^p` between the unit samples, tight on the
    plan's support to one rounding; ``None`` where those costs leave the float range.

    POT's potentials are for the costs divided by :math:`\text{largest}^p`, and the
    network simplex updates them pivot after pivot: multiplied back, they miss
    :math:`u_i + v_j = c_{ij}` on the support by many roundings, even where every
    :math:`c_{ij}` is an integer (about 1e-13 of the largest cost, where POT on the
    integer costs is exact). The costs between the unit samples are the samples' own
    costs divided by :math:`2^{p \cdot \text{exponent}}`, exactly (the samples were
    moved and divided by a power of two), so potentials tight for them are tight
    for the samples' costs once multiplied by that power of two.

    The support of a basic solution, which the network simplex returns, is a
    forest on the ``n + m`` points, and on each tree :math:`u_i + v_j = c_{ij}`
    determines the potentials up to a constant :math:`s` (:math:`u + s`,
    :math:`v - s`). As in POT, they are first found from 0 at one point of each
    tree (sums and differences of the costs: exact where the costs are integers),
    then moved by a constant per tree: the one that puts that point at POT's value,
    so that the trees stay dual feasible with each other, plus the one that centres
    all of them as POT does (:math:`\sum_i a_i u_i = \sum_j b_j v_j`). Points
    without mass (weight 0), outside every tree, get POT's feasible value: their
    own, lowered where a constraint would fail.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    p, metric = problem.p, problem.metric
    unit_x, unit_y = solution.unit_x, solution.unit_y
    n, m = int(unit_x.shape[0]), int(unit_y.shape[0])
    # POT solved for the costs (d / largest)^p; potentials and costs of this size
    # (and their sums) must stay well inside the float range in units of d^p.
    log2_largest_cost = p * math.log2(solution.largest)
    if not -_LOG2_POLISH_LIMIT < log2_largest_cost < _LOG2_POLISH_LIMIT:
        return None
    pot_values = np.concatenate([solution.potential_x, solution.potential_y])
    pot_values *= solution.largest**p

    rows, cols = solution.rows, solution.cols
    size = n + m
    support = coo_matrix((np.ones(rows.size), (rows, n + cols)), shape=(size, size))
    _, trees = connected_components(support, directed=False)
    degree = np.bincount(np.concatenate([rows, n + cols]), minlength=size)
    _, first = np.unique(trees, return_index=True)
    roots = first[degree[first] > 0]
    # One search from a virtual point joined to a root of every tree orders all the
    # trees at once, each point after the one it is reached from.
    virtual = size
    graph = coo_matrix(
        (
            np.ones(rows.size + roots.size),
            (
                np.concatenate([rows, np.full(roots.size, virtual)]),
                np.concatenate([n + cols, roots]),
            ),
        ),
        shape=(size + 1, size + 1),
    ).tocsr()
    order, parents = breadth_first_order(graph, virtual, directed=False, return_predecessors=True)
    order = order[1:]
    reached = order[parents[order] != virtual]
    reached_from = parents[reached]
    i = np.where(reached < n, reached, reached_from)
    j = np.where(reached < n, reached_from, reached) - n
    differences = unit_x[i] - unit_y[j]
    edge_costs = _unit_costs(differences, metric, p)
    if p != 1 and np.any(
        (edge_costs < np.finfo(np.float64).tiny) & (_METRICS[metric](differences, _NUMPY) > 0)
    ):
        return None  # the p-th powers of short moves underflow in these units
    cost_to_parent = np.zeros(size)
    cost_to_parent[reached] = edge_costs

    # One subtraction per point, in search order: u_i + v_j = c_ij exactly along
    # every edge where the costs' sums are exact, to one rounding otherwise.
    numbers = [0.0] * size
    parent_list, cost_list = parents.tolist(), cost_to_parent.tolist()
    for point in reached.tolist():
        numbers[point] = cost_list[point] - numbers[parent_list[point]]
    from_zero = np.array(numbers)

    sign = np.concatenate([np.ones(n), -np.ones(m)])
    # the shift of each tree closest to POT's values on it (their mean difference)
    shifts = np.bincount(trees, sign * (pot_values - from_zero)) / np.bincount(trees)
    alone = degree == 0
    if roots.size > 1:
        shifts = _feasible_shifts(shifts, from_zero, trees, ~alone, solution, metric, p)
    per_point = shifts[trees]
    a = problem.backend.to_numpy(problem.weights_x)
    b = problem.backend.to_numpy(problem.weights_y)
    moved = from_zero + sign * per_point
    centring = (b @ moved[n:] - a @ moved[:n]) / (a.sum() + b.sum())
    potentials = from_zero + sign * (per_point + centring)
    potential_x, potential_y = potentials[:n], potentials[n:]

    alone_x, alone_y = np.flatnonzero(alone[:n]), np.flatnonzero(alone[n:])
    if alone_x.size:
        slack = _unit_cost_matrix(unit_x[alone_x], unit_y, metric, p) - potential_y
        potential_x[alone_x] = np.minimum(potential_x[alone_x], slack.min(axis=1))
    if alone_y.size:
        slack = _unit_cost_matrix(unit_x, unit_y[alone_y], metric, p) - potential_x[:, None]
        potential_y[alone_y] = np.minimum(potential_y[alone_y], slack.min(axis=0))
    return potential_x, potential_y


def _least_per_group(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Column-wise minima of the groups of rows that begin at ``starts``."""
    if starts.size == values.shape[0]:
        return values  # one row per group (a permutation plan: every tree is one pair)
    return np.minimum.reduceat(np.ascontiguousarray(values), starts, axis=0)


def _feasible_shifts(
    shifts: np.ndarray,
    from_zero: np.ndarray,
    trees: np.ndarray,
    in_tree: np.ndarray,
    solution: _Solution,
    metric: str,
    p: float,
) -> np.ndarray:
    r"""The shifts of the support's trees, lowered until every constraint between trees holds.

    With :math:`u_i = t_i + s_A` on the points of tree :math:`A` in ``x`` and
    :math:`v_j = t_j - s_B` on those of tree :math:`B` in ``y``, the constraint
    :math:`u_i + v_j \le c_{ij}` is :math:`s_A \le s_B + \min (c_{ij} - t_i - t_j)`:
    a system of difference constraints, which Bellman-Ford relaxation solves. Starting
    from POT's values, which miss it by its own roundings (1e-14 of the largest cost),
    relaxations bring the misses to a few roundings of the potentials, and stop there:
    rounding can leave a cycle of tight constraints a hair negative. Time and memory
    :math:`O(nm)` for the least slack between trees, then :math:`O(k)` per tree lowered
    for :math:`k` trees.
    """
    unit_x, unit_y = solution.unit_x, solution.unit_y
    n = int(unit_x.shape[0])
    rows, cols = np.flatnonzero(in_tree[:n]), np.flatnonzero(in_tree[n:])
    slack = _unit_cost_matrix(unit_x[rows], unit_y[cols], metric, p)
    slack -= from_zero[rows, None]
    slack -= from_zero[n + cols][None, :]
    # every tree has points on both sides: the same labels index rows and columns
    labels, tree_x = np.unique(trees[rows], return_inverse=True)
    tree_y = np.searchsorted(labels, trees[n + cols])
    order_x, order_y = np.argsort(tree_x, kind="stable"), np.argsort(tree_y, kind="stable")
    starts_x = np.flatnonzero(np.diff(tree_x[order_x], prepend=-1))
    starts_y = np.flatnonzero(np.diff(tree_y[order_y], prepend=-1))
    least = _least_per_group(slack[order_x], starts_x).T
    least = _least_per_group(least[order_y], starts_y).T
    # within a tree the constraints hold by the plan's optimality, whatever the shift
    np.fill_diagonal(least, np.inf)
    tree_shifts = shifts[labels]
    # Violations within a few roundings of the potentials are left: lowering a shift by
    # less would only chase the roundings of a cycle of tight constraints.
    tolerance = (
        _RELAXATION_ULPS
        * np.finfo(np.float64).eps
        * float(np.abs(from_zero).max() + np.abs(tree_shifts).max())
    )
    bound = (tree_shifts[None, :] + least).min(axis=1)
    # Bellman-Ford needs at most k - 1 rounds; each looks only at the trees just lowered,
    # since lowering a shift can only break the constraints that end at its tree.
    for _ in range(len(labels)):
        violated = tree_shifts - bound > tolerance
        if not violated.any():
            break
        tree_shifts = np.where(violated, bound, tree_shifts)
        lowered = np.flatnonzero(violated)
        bound = (tree_shifts[None, lowered] + least[:, lowered]).min(axis=1)
    shifts = shifts.copy()
    shifts[labels] = tree_shifts
    return shifts


def _potentials(problem: _Problem, solution: _Solution) -> tuple[np.ndarray, np.ndarray]:
    """The dual potentials in the samples' units of distance^p (refused beyond float64)."""
    what = "dual potentials"
    tight = _tight_potentials(problem, solution)
    if tight is None:
        scaled = solution.scaled
        return (
            scaled.in_cost_units(solution.potential_x, what),
            scaled.in_cost_units(solution.potential_y, what),
        )
    # the unit of length 2**exponent: a multiplication by a power of two, exact
    unit = _ScaledCost.of(0.0, 1.0, solution.exponent, problem.p, problem.backend)
    return unit.in_cost_units(tight[0], what), unit.in_cost_units(tight[1], what)


def wasserstein(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: float = 1,
    weights_x: ArrayLike | None = None,
    weights_y: ArrayLike | None = None,
    metric: str = "euclidean",
    max_iter: int | None = None,
    memory_limit: float | None = None,
) -> Result:
    r"""Exact Wasserstein distance :math:`W_p` between two sets of samples.

    .. math::

        W_p(\mu, \nu) = \Big( \min_{\gamma \in \Pi(a, b)}
        \sum_{i, j} \gamma_{ij} \, d(x_i, y_j)^p \Big)^{1/p}

    where :math:`\mu = \sum_i a_i \delta_{x_i}`, :math:`\nu = \sum_j b_j
    \delta_{y_j}` and :math:`\Pi(a, b)` is the set of couplings with those
    marginals. Solved exactly: by POT's network simplex (:func:`ot.emd`) in
    general, from sorted samples (quantile functions) when ``d = 1``.

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of the first distribution; a 1-D array means ``d = 1``.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of the second distribution, same ``d``.
    p : float, default 1
        Order of the distance, ``>= 1``.
    weights_x, weights_y : (n,) and (m,) array-like or torch.Tensor, optional
        Non-negative sample weights, normalised to sum to 1; uniform by default.
    metric : {"euclidean", "cityblock", "chebyshev"}, default "euclidean"
        The ground distance :math:`d` (all agree in one dimension).
    max_iter : int, optional
        Iteration cap of the network simplex; by default
        :func:`default_max_iter`, chosen so that the solver reaches optimality.
    memory_limit : float, optional
        Bytes the exact solver may use; by default half the available memory.

    Returns
    -------
    float or torch.Tensor
        :math:`W_p` (not :math:`W_p^p`). For tensors, a tensor in their dtype
        with autograd to the samples and the weights, on their device.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, ``x`` and ``y`` of different dimension,
        weights of the wrong length, negative or all zero, ``p < 1``, an
        unknown metric, ``max_iter`` above :math:`2^{63} - 1` (POT's counter),
        masked arrays or ``meta`` tensors; if :math:`W_p` exceeds the float64
        range (samples more than 1.8e308 apart) or the caller's dtype; or if
        ``p`` is so large that the moves of the optimal plan have ``p``-th
        powers below float64's resolution relative to the largest distance.
    TypeError
        If an input is not an array of real numbers.
    ProblemTooLargeError
        If ``d > 1`` and the ``n x m`` problem would need more memory than allowed
        (about 48 bytes per pair); use :func:`sliced_wasserstein`, subsample,
        or raise ``memory_limit``. In one dimension, if the sorted float64
        copies would (32 bytes per sample for equal sizes and uniform weights,
        112 otherwise). Both are decided from the arrays' shapes, before any
        sample is read.
    SolverError
        If the solver stops at ``max_iter`` before optimality (never a
        non-optimal value).

    Notes
    -----
    Scale: :math:`W_p(s x + t, s y + t) = s \, W_p(x, y)` holds to rounding for
    every scale whose result is representable (1e-300 to 1e300 and beyond).
    POT's network simplex uses absolute tolerances, so the linear program is
    solved in units of the data: both samples are moved and scaled together
    (by a power of two, exactly) into :math:`[-1, 1]^d` before the cost matrix
    is built, the distances divided by the largest before their ``p``-th
    power, and the result scaled back. The 1-D path divides the gaps by a
    power of two near the largest. Weights are normalised without overflow
    (1e307 each) and subnormal weights count as positive. Tensors of any
    floating dtype (float16 and bfloat16 included) are computed in float64
    and the result is returned in their dtype.

    Cost: the linear program needs :math:`O(nm)` memory and, in practice,
    about :math:`nm` to :math:`(nm)^{1.2}` time (the exact-Wasserstein
    benchmark page gives measured times); the 1-D path is :math:`O((n + m) \log(n + m))` and
    builds no cost matrix.

    Gradients (torch): by the envelope theorem, through the optimal plan held
    fixed (positions) and the dual potentials (weights). They are exact
    wherever the optimal plan is unique. Where two points coincide the
    Euclidean norm has no derivative; 0 is used, never NaN.

    References
    ----------
    .. [1] C. Villani, "Optimal transport: old and new", Springer 2009.
    .. [2] G. Peyré and M. Cuturi, "Computational Optimal Transport",
       Foundations and Trends in Machine Learning 11(5-6), 2019, sections 2.6
       (one dimension) and 3 (network simplex).
    .. [3] R. Flamary et al., "POT: Python Optimal Transport", JMLR 22(78), 2021.

    Examples
    --------
    >>> import divergences as dv
    >>> dv.wasserstein([0.0, 1.0, 3.0], [5.0, 6.0, 8.0])  # every point moves by 5
    5.0
    >>> x = [[0.0, 0.0], [1.0, 0.0]]
    >>> dv.wasserstein(x, [[0.0, 3.0], [1.0, 4.0]], p=2)  # moves of 3 and 4
    3.5355...
    """
    max_iter, memory_limit = _solver_options(max_iter, memory_limit)
    _refuse_early(
        x,
        y,
        memory_limit,
        one_dimension_sorts=True,
        matched=weights_x is None and weights_y is None,
    )
    problem = _prepare(x, y, p=p, weights_x=weights_x, weights_y=weights_y, metric=metric)
    if problem.x.shape[1] == 1:
        return _cost_1d(problem).distance()
    return _solve_lp(problem, max_iter, memory_limit).scaled.distance()


def optimal_transport(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: float = 1,
    weights_x: ArrayLike | None = None,
    weights_y: ArrayLike | None = None,
    metric: str = "euclidean",
    max_iter: int | None = None,
    memory_limit: float | None = None,
) -> TransportResult:
    r"""Solve the exact optimal transport problem: distance, plan and dual potentials.

    .. math::

        \min_{\gamma \in \Pi(a, b)} \sum_{i, j} \gamma_{ij} c_{ij}
        \;=\; \max_{u_i + v_j \le c_{ij}} \sum_i a_i u_i + \sum_j b_j v_j,
        \qquad c_{ij} = d(x_i, y_j)^p

    Same problem and options as :func:`wasserstein`, always through the linear
    program (also for ``d = 1``), returning its whole solution.

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of the first distribution.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of the second distribution.
    p : float, default 1
        Order of the distance, ``>= 1``.
    weights_x, weights_y : (n,) and (m,) array-like or torch.Tensor, optional
        Non-negative sample weights, normalised; uniform by default.
    metric : {"euclidean", "cityblock", "chebyshev"}, default "euclidean"
        The ground distance.
    max_iter : int, optional
        Iteration cap of the network simplex (see :func:`default_max_iter`).
    memory_limit : float, optional
        Bytes the solver may use; by default half the available memory.

    Returns
    -------
    TransportResult
        ``distance`` (:math:`W_p`), ``cost`` (:math:`W_p^p`), ``plan``,
        ``potential_x``, ``potential_y``, ``p`` and ``metric``.

    Raises
    ------
    ValueError
        On the inputs :func:`wasserstein` rejects, and where the cost
        :math:`W_p^p` or the dual potentials (in units of distance to the
        ``p``) are outside the float64 range although :math:`W_p` is not
        (``p = 2`` with samples at 1e200 or 1e-200): then use
        :func:`wasserstein` for the distance, or rescale the samples.
    TypeError
        If an input is not an array of real numbers.
    ProblemTooLargeError
        If the problem would need more memory than allowed.
    SolverError
        If the solver stops before optimality.

    Notes
    -----
    Scale and dtypes as in :func:`wasserstein`: the plan does not depend on the
    scale of the samples, and the cost and potentials scale as :math:`s^p`.

    Potentials: the linear program is solved in rescaled units, whose potentials
    miss :math:`u_i + v_j = c_{ij}` by many roundings once scaled back. They are
    recomputed from the plan's support (a forest) with the costs :math:`c_{ij}`
    of the samples divided by a power of two, which is exact: tight to one
    rounding on the support, dual feasible to a few roundings, and exact on
    integer costs, as POT's are. Where those costs leave the float range (a
    ``p`` in the hundreds) the rescaled potentials are kept.

    References
    ----------
    .. [1] G. Peyré and M. Cuturi, "Computational Optimal Transport",
       Foundations and Trends in Machine Learning 11(5-6), 2019.

    Examples
    --------
    >>> import divergences as dv
    >>> result = dv.optimal_transport([0.0, 1.0], [1.0, 2.0], p=2)
    >>> result.distance
    1.0
    >>> result.plan
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    max_iter, memory_limit = _solver_options(max_iter, memory_limit)
    _refuse_early(x, y, memory_limit, one_dimension_sorts=False)
    problem = _prepare(x, y, p=p, weights_x=weights_x, weights_y=weights_y, metric=metric)
    solution = _solve_lp(problem, max_iter, memory_limit)
    scaled, backend = solution.scaled, problem.backend
    cost = backend.to_output(scaled.in_cost_units(scaled.cost, "cost"))
    potential_x, potential_y = _potentials(problem, solution)
    return TransportResult(
        distance=scaled.distance(),
        cost=cost,
        plan=backend.to_output(backend.from_numpy(solution.plan)),
        potential_x=backend.to_output(backend.from_numpy(potential_x)),
        potential_y=backend.to_output(backend.from_numpy(potential_y)),
        p=problem.p,
        metric=problem.metric,
    )


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
    block at a time, so that its memory (about 110 bytes per projected value)
    stays near 115 MB whatever :math:`L`; for very large samples use a
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
