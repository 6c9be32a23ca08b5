"""k-nearest-neighbour estimators of KL and Jensen-Shannon divergences from samples.

The plain estimator of Wang, Kulkarni and Verdú compares, at every sample of
P, the distance to its k-th nearest neighbour among the other samples of P with
the distance to its k-th nearest neighbour among the samples of Q. It is
consistent, but at practical sample sizes it is badly biased wherever the
density of Q varies across the neighbour ball, which is the case wherever Q is
more concentrated than P. The default estimator removes most of that bias by
telescoping through Gaussian references fitted to P and to Q (see
:func:`kl_knn`). Neighbour searches run on k-d trees (SciPy's ``cKDTree``, all
cores) in low dimension and on blocked matrix products of all pairs above it,
where trees degrade; torch inputs get gradients through the neighbour distances,
with the neighbour indices held fixed. Samples beyond ``max_samples`` rows are
subsampled, reading only the rows drawn (memory-mapped files included).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from divergences._backend import (
    ArrayLike,
    Backend,
    Result,
    TorchBackend,
    precise,
    standardise,
    torch_module,
)
from divergences._validation import (
    as_samples,
    backend_for,
    check_base,
    check_count,
    check_option,
    check_seed,
    sample_rows,
)

__all__ = ["METHODS", "SEARCHES", "js_knn", "kl_knn"]

_LOG2 = math.log(2.0)
# Ridge added to fitted covariances, relative to their mean variance: it keeps the
# Gaussian references proper for nearly degenerate samples and changes nothing
# measurable otherwise (any reference gives a consistent estimate).
_RIDGE = 1e-6
# Samples whose covariance has an eigenvalue below this share of the largest lie on
# a lower-dimensional set: no Gaussian reference fits them, the plain estimator runs.
_DEGENERATE = 1e-10
# Below this Gaussian ball probability SciPy's noncentral chi-square CDF loses
# accuracy (it underflows to 0 from about 1e-90); the far-ball asymptotic takes over,
# whose relative error in the probability is O(1/gap^2), a few percent there.
_SMALL_BALL = 1e-50
# SciPy's noncentral chi-square CDF sums about sqrt(lambda) Poisson terms: 1.5 us
# at offset 10, 60 us at 1000, 0.06 s (and NaN) at 1e6. Balls centred farther
# out than this offset use the quadrature below instead.
_CDF_OFFSET = 40.0
# Gauss-Laguerre nodes for the ball probability as an expectation over a
# chi-square variable: agrees with SciPy's CDF to 1e-9 in the log for d <= 300,
# wherever the ball's squared radius clears the chi-square bulk by this margin.
_QUADRATURE_NODES = 48
_QUADRATURE_MARGIN = 40.0
# Paired samples: a point of Q closer to x_i than this share of x_i's distance to
# its nearest other point of P (scaled down in low dimension so that independent
# samples do it at a rate of at most 1%), at more than this share of P's points.
_PAIRED_RATIO = 0.1
_PAIRED_RATE = 0.01
_PAIRED_SHARE = 0.25
_PAIRED_MIN_COUNT = 3

# Rows of each sample that kl_knn and js_knn use at most, by default: a random
# subset beyond (the `max_samples` option).
_MAX_SAMPLES = 200_000

# Neighbour search. SciPy's k-d tree visits a number of points that grows about
# exponentially with d, where all pairs by matrix products cost the same whatever
# d. The tree is used up to the dimension where it is the faster, as measured by
# benchmarks/knn_search.py on a 2-core CPU (docs/benchmarks/knn.md): d <= 8 from
# 5e3 points, 9 from 2e4, 10 from 5e4 (with 1e5 and 2e5 points the tree is 1.3
# times faster at d = 10, the blocked search 1.2 times faster at d = 11). Rows:
# (points searched, at least; largest dimension for the tree).
_TREE_DIMENSIONS = ((0, 8), (20_000, 9), (50_000, 10))
# For tensors searched on a GPU, against the tree on the host: up to d = 5 (an
# H100 and its host's 16 cores, 2e5 points a side: 1.0 s and 1.3 s at d = 5, 1.4 s
# each at d = 6; at 2e4 points, 0.1 s or less either way).
_DEVICE_TREE_MAX_DIMENSION = 5
# Bytes of scores per block of query rows, in host memory or on a GPU, where larger
# blocks launch fewer kernels (2e5 points a side on an H100, selecting by top-k in
# whole rows: 8.2 s in blocks of 64 MB, 3.2 s in blocks of 1 GB).
_BLOCK_BYTES = {"numpy": 64 * 2**20, "torch": 2**30}
# Candidates kept beyond the k + 1 needed, so that a near-tie at the k-th
# neighbour rarely sends a row to the exact settlement.
_SPARE_CANDIDATES = 4
# Entries per group in the two-stage selection of the smallest scores of a row.
_GROUP = 16
_EPS = float(np.finfo(np.float64).eps)
# Precisions in which the matrix product proposes candidates, cheapest first: rows
# that float32 leaves in doubt are proposed again in float64. Tensors get float64
# only, since a GPU may run float32 products in TF32 (10 mantissa bits).
_PROPOSALS = {"numpy": ("float32", "float64"), "torch": ("float64",)}
# Score of the padding columns: above any point's, finite in float32.
_PADDING_SCORE = float(np.finfo(np.float32).max)
# Tensors on these devices are searched in torch where they are (a GPU's matrix
# product), others in numpy on the host (the CPU tensors' memory, not a copy).
_DEVICE_SEARCH: tuple[str, ...] = ("cuda",)


def _kth_neighbours(
    points: Any, queries: Any, k: int, name: str, backend: Backend, search: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the k-th nearest and the nearest distinct points, and how many each query sees.

    Repeated points count once: the search sees the distinct points only, and a
    query's own location (distance 0) is skipped and not counted. ``points`` and
    ``queries`` are arrays of ``backend``; the results are numpy arrays.
    """
    distinct, first = _distinct_rows(backend.to_numpy(points))
    if len(distinct) < k:
        raise ValueError(f"{name} must hold at least k={k} distinct points; got {len(distinct)}")
    width = min(k + 1, len(distinct))
    if search == "auto":
        search = "tree" if _uses_tree(distinct.shape[1], len(distinct), backend) else "blocked"
    found, where = _SEARCHES[search](distinct, first, points, queries, width, backend)
    at_query = found[:, 0] == 0
    column = k - 1 + at_query
    if np.any(column >= width):
        raise ValueError(
            f"{name} must have at least k={k} distinct points at a positive distance "
            "from every query point; repeated points leave fewer. Use a smaller k or "
            "remove the repeats."
        )
    rows = np.arange(len(found))
    indices = first[where[rows, column]]
    nearest = first[where[rows, at_query.astype(int)]]
    return indices, nearest, len(distinct) - at_query.astype(float)


def _distinct_rows(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``points`` and the index of each one's first occurrence.

    Where the first coordinates already differ (continuous data) the rows are
    the points themselves, in their order: ``np.unique`` sorts rows, 0.15 s for
    2e4 rows in ``d = 64``, where sorting one column takes a millisecond.
    """
    if len(np.unique(points[:, 0])) == len(points):
        return points, np.arange(len(points))
    return np.unique(points, axis=0, return_index=True)


def _uses_tree(d: int, n: int, backend: Backend) -> bool:
    """Whether the k-d tree is the faster search among ``n`` points in ``d`` dimensions."""
    if isinstance(backend, TorchBackend) and backend.device.type in _DEVICE_SEARCH:
        return d <= _DEVICE_TREE_MAX_DIMENSION
    return d <= max(dimension for points, dimension in _TREE_DIMENSIONS if n >= points)


def _tree_search(
    distinct: np.ndarray,
    first: np.ndarray,
    points: Any,
    queries: Any,
    width: int,
    backend: Backend,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each query to its ``width`` nearest distinct points, ascending, and rows.

    ``distinct`` are the distinct rows of ``points`` (``points[first]``); the
    rows returned index ``distinct``. Equally distant points come in either
    order. SciPy's ``cKDTree``, queried on all cores.
    """
    from scipy.spatial import cKDTree

    found, where = cKDTree(distinct).query(backend.to_numpy(queries), k=width, workers=-1)
    return found.reshape(-1, width), where.reshape(-1, width)


def _blocked_search(
    distinct: np.ndarray,
    first: np.ndarray,
    points: Any,
    queries: Any,
    width: int,
    backend: Backend,
) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`_tree_search` returns, from all pairwise distances.

    :func:`_blocked_neighbours` on the distinct points. Tensors on a device of
    ``_DEVICE_SEARCH`` are searched there, and only the chosen distances and
    indices come back; other arrays in numpy on the host.
    """
    if isinstance(backend, TorchBackend) and backend.device.type in _DEVICE_SEARCH:
        found, where = _blocked_neighbours(
            backend.detach(points)[backend.index(first)], backend.detach(queries), width
        )
        return backend.to_numpy(found), where.cpu().numpy()
    return _blocked_neighbours(distinct, backend.to_numpy(queries), width)


def _blocked_neighbours(points: Any, queries: Any, width: int) -> tuple[Any, Any]:
    r"""What ``cKDTree(points).query(queries, k=width)`` returns, from all pairwise distances.

    A block of query rows at a time (``_BLOCK_BYTES`` of scores), one matrix
    product ranks every point for each query by
    :math:`|p|^2/2 - q \cdot p = (|q - p|^2 - |q|^2)/2`; the ``width`` plus
    ``_SPARE_CANDIDATES`` lowest are the candidates, whose distances are
    recomputed as :math:`|q - p|` in float64 and sorted. The product form loses
    digits to cancellation, up to about :math:`(d + 2)\,\varepsilon\,(|q| + |p|)^2`
    in a squared distance (the dot products' rounding bound), so it only
    proposes: a row whose candidates do not clear its ``width``-th distance by
    that bound (near-ties, or points much closer together than their norms) is
    proposed again in the next precision of ``_PROPOSALS``, and after the last
    settled from the exact distances of every point the bound leaves in doubt.
    The result is what exact distances give, up to the order of ties.

    ``points`` and ``queries`` are float64 numpy arrays or torch tensors on any
    device; the results are of the same kind.
    """
    xp = _array_module(points)
    n, d = int(points.shape[0]), int(points.shape[1])
    m = int(queries.shape[0])
    count = min(width + _SPARE_CANDIDATES, n)
    squared = xp.sum(points * points, axis=1)
    query_squared = xp.sum(queries * queries, axis=1)
    # Twice the rounding bounds: of a product-form squared distance, relative to
    # (|q| + |p|)^2, in each precision; of a direct one, relative to itself.
    reach = (xp.sqrt(query_squared) + xp.sqrt(xp.max(squared))) ** 2
    relative = 2 * (d + 2) * _EPS
    # Padding to whole groups of _GROUP columns, with scores above any point's.
    padded = -(-n // _GROUP) * _GROUP
    ranking = xp.concatenate([-points, squared[:, None] / 2], axis=1)
    padding = _empty_like(ranking, (padded - n, d + 1))
    padding[:] = 0.0
    padding[:, -1] = _PADDING_SCORE
    ranking = xp.concatenate([ranking, padding]).T
    augmented = xp.concatenate([queries, xp.ones_like(queries[:, :1])], axis=1)
    proposals = _PROPOSALS[xp.__name__]
    tiers = [
        (_cast(ranking, dtype), _cast(augmented, dtype), 2 * (d + 2) * float(np.finfo(dtype).eps))
        for dtype in proposals
    ]
    # Rows per block: the scores (float64 at most) and the candidates' differences
    # within the budget.
    budget = _BLOCK_BYTES[xp.__name__]
    rows = max(1, budget // (8 * max(padded, count * d)))
    buffers: dict[int, Any] = {}
    first_tier = 0
    found, where = [], []
    for start in range(0, m, rows):
        block = slice(start, min(start + rows, m))
        pending = _arange_like(queries, block.stop - start)
        found_block: Any = None
        where_block: Any = None
        for tier in range(first_tier, len(tiers)):
            tier_ranking, tier_queries, tier_relative = tiers[tier]
            if tier not in buffers:
                buffers[tier] = _empty_like(tier_ranking, (min(rows, m), padded))
            scores = xp.matmul(
                tier_queries[block][pending], tier_ranking, out=buffers[tier][: len(pending)]
            )
            candidates = _smallest(scores, count)
            distances, indices, farthest = _sorted_exactly(
                queries[block][pending], points, candidates, width
            )
            if found_block is None:
                found_block, where_block = distances, indices
            else:
                found_block[pending], where_block[pending] = distances, indices
            if count == n:
                break
            # Every other point scores at least the candidates' highest; a point scoring
            # up to `limit` could still be nearer than the width-th.
            squared_width = distances[:, -1] ** 2 * (1 + relative)
            limit = (squared_width + tier_relative * reach[block][pending]) / 2
            limit = limit - query_squared[block][pending] / 2
            highest = xp.amax(_take(scores, candidates), axis=1)
            unsure = (highest <= limit) | ~xp.isfinite(highest)
            settle = unsure
            if tier < len(tiers) - 1:
                # A finer product helps only where the candidates do not all tie with
                # the width-th (integer data), which no precision resolves.
                settle = unsure & (farthest**2 <= squared_width)
            if bool(settle.any()):
                found_block[pending[settle]], where_block[pending[settle]] = _settle(
                    scores[settle], limit[settle], queries[block][pending[settle]], points, width
                )
            passed_on = pending[unsure & ~settle]
            if tier == first_tier and 2 * len(passed_on) > len(pending):
                # Points closer together than this precision tells apart (low
                # dimension, tight clusters): the next blocks start one finer.
                first_tier = tier + 1
            pending = passed_on
            if len(pending) == 0:
                break
        found.append(found_block)
        where.append(where_block)
    return xp.concatenate(found), xp.concatenate(where)


def _sorted_exactly(
    queries: Any, points: Any, candidates: Any, width: int
) -> tuple[Any, Any, Any]:
    """The ``width`` candidates nearest to each query by ``|q - p|``, ascending; the farthest."""
    xp = _array_module(points)
    differences = queries[:, None, :] - points[candidates]
    exact = xp.sqrt(xp.sum(differences * differences, axis=2))
    order = _stable_argsort(exact)[:, :width]
    return _take(exact, order), _take(candidates, order), xp.amax(exact, axis=1)


def _settle(scores: Any, limit: Any, queries: Any, points: Any, width: int) -> tuple[Any, Any]:
    """The ``width`` nearest points by ``|q - p|`` among those scoring at most ``limit``."""
    xp = _array_module(points)
    rows, columns = _nonzero(scores <= limit[:, None])
    exact = xp.concatenate(
        [
            _row_distances(queries[rows[part]], points[columns[part]])
            for part in _parts(len(rows), int(points.shape[1]), _BLOCK_BYTES[xp.__name__])
        ]
    )
    # Nearest first within each row, the rows in order: the pairs of row i start at starts[i].
    order = _stable_argsort(exact)
    order = order[_stable_argsort(rows[order])]
    counts = xp.bincount(rows, minlength=int(queries.shape[0]))
    starts = xp.cumsum(counts, axis=0) - counts
    picks = order[starts[:, None] + _arange_like(rows, width)]
    return exact[picks], columns[picks]


def _row_distances(a: Any, b: Any) -> Any:
    xp = _array_module(a)
    differences = a - b
    return xp.sqrt(xp.sum(differences * differences, axis=1))


def _parts(total: int, d: int, budget: int) -> list[slice]:
    """Slices of ``range(total)`` whose ``(size, d)`` float64 differences fit in ``budget``."""
    size = max(1, budget // (8 * d))
    return [slice(start, start + size) for start in range(0, max(total, 1), size)]


def _smallest(values: Any, count: int) -> Any:
    """Column indices of the ``count`` smallest entries of each row, in no particular order.

    Every other entry of a row is at least the largest of those returned. Rows
    hold whole groups of ``_GROUP`` columns (``_blocked_neighbours`` pads them).
    """
    rows, n = int(values.shape[0]), int(values.shape[1])
    groups = n // _GROUP
    if groups < 4 * count:
        return _lowest(values, count)
    # Columns j, j + groups, j + 2 groups, ... form group j. The `count` smallest
    # entries of a row lie in the `count` groups of smallest minimum, so one pass
    # for the minima and selections in 1/_GROUP of the row replace a selection
    # in all of it, which took as long as the matrix product.
    xp = _array_module(values)
    minima = xp.amin(values.reshape(rows, _GROUP, groups), axis=1)
    chosen = _lowest(minima, count)
    columns = (chosen[:, :, None] + groups * _arange_like(chosen, _GROUP)).reshape(rows, -1)
    return _take(columns, _lowest(_take(values, columns), count))


def _lowest(values: Any, count: int) -> Any:
    """:func:`_smallest` by a selection in each whole row."""
    if isinstance(values, np.ndarray):
        return np.argpartition(values, count - 1, axis=1)[:, :count]
    return values.topk(count, dim=1, largest=False, sorted=False).indices


def _array_module(x: Any) -> Any:
    """numpy for numpy arrays, torch for tensors: the blocked search is written once for both."""
    return np if isinstance(x, np.ndarray) else torch_module()


def _take(values: Any, columns: Any) -> Any:
    """``values[i, columns[i, j]]`` for every row ``i``."""
    if isinstance(values, np.ndarray):
        return np.take_along_axis(values, columns, axis=1)
    return values.gather(1, columns)


def _stable_argsort(values: Any) -> Any:
    """Sorting order along the last axis; equal values keep their order."""
    if isinstance(values, np.ndarray):
        return np.argsort(values, axis=-1, kind="stable")
    return values.argsort(dim=-1, stable=True)


def _nonzero(mask: Any) -> tuple[Any, Any]:
    """Row and column indices of the true entries of a 2-D mask."""
    rows, columns = mask.nonzero() if isinstance(mask, np.ndarray) else mask.nonzero(as_tuple=True)
    return rows, columns


def _cast(x: Any, dtype: str) -> Any:
    if isinstance(x, np.ndarray):
        return x.astype(dtype)
    return x.to(getattr(torch_module(), dtype))


def _empty_like(like: Any, shape: tuple[int, int]) -> Any:
    if isinstance(like, np.ndarray):
        return np.empty(shape, dtype=like.dtype)
    return like.new_empty(shape)


def _arange_like(like: Any, stop: int) -> Any:
    if isinstance(like, np.ndarray):
        return np.arange(stop)
    return _array_module(like).arange(stop, device=like.device)


_SEARCHES: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "tree": _tree_search,
    "blocked": _blocked_search,
}
#: The neighbour searches :func:`kl_knn` and :func:`js_knn` accept; ``"auto"``
#: picks one by dimension and size.
SEARCHES: tuple[str, ...] = ("auto", *_SEARCHES)


def _distances(a: Any, b: Any, indices: np.ndarray, backend: Backend) -> Any:
    """``|a_i - b_{indices_i}|`` in the backend, so that torch differentiates it."""
    differences = a - b[backend.index(indices)]
    return backend.sqrt(backend.sum(differences * differences, axis=1))


def _check_independent(
    own_nearest: np.ndarray, other_nearest: np.ndarray, n_other: int, d: int, names: str
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
        first, second = names.split(" and ")
        raise ValueError(
            f"{second} looks paired with {first}: for {close} of the {n} points of {first} "
            f"a point of {second} lies closer than {ratio:.2g} times the distance to the "
            f"nearest other point of {first}, which independent samples do for at most about "
            f"{_PAIRED_RATE:.0%} of them. The k-NN estimates assume two independent "
            f"samples; {second} made by perturbing the points of {first} (x + small noise) "
            f"makes them meaningless (they come out negative). Draw {second} independently "
            f"of {first}."
        )


def _check_sizes(n: int, m: int, k: int) -> None:
    if n < k + 1:
        raise ValueError(
            f"samples_p must hold at least k + 1 = {k + 1} samples (each one's k-th "
            f"neighbour among the others); got {n}"
        )
    if m < k:
        raise ValueError(f"samples_q must hold at least k = {k} samples; got {m}")


def _nearest_distances(a: np.ndarray, b: np.ndarray, indices: np.ndarray) -> np.ndarray:
    differences = a - b[indices]
    return np.sqrt(np.einsum("ij,ij->i", differences, differences))


def _plain(x: Any, y: Any, k: int, backend: Backend, search: str) -> Any:
    """The Wang-Kulkarni-Verdú estimator: (d/n) sum_i log(nu_k(i) / rho_k(i)) + log(m / (n-1))."""
    n, d = int(x.shape[0]), int(x.shape[1])
    x_np, y_np = backend.to_numpy(x), backend.to_numpy(y)
    own, own_nearest, others_p = _kth_neighbours(x, x, k, "samples_p", backend, search)
    other, other_nearest, others_q = _kth_neighbours(y, x, k, "samples_q", backend, search)
    _check_independent(
        _nearest_distances(x_np, x_np, own_nearest),
        _nearest_distances(x_np, y_np, other_nearest),
        int(y.shape[0]),
        d,
        "samples_p and samples_q",
    )
    rho = _distances(x, x, own, backend)
    nu = _distances(x, y, other, backend)
    # log(m / (n - 1)) without repeats; with them, the distinct points each x_i sees.
    counts = float(np.mean(np.log(others_q) - np.log(others_p)))
    return d * backend.sum(backend.log(nu) - backend.log(rho)) / n + counts


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


def _gaussian_fit(x: Any, backend: Backend) -> tuple[Any, Any]:
    """Mean and lower Cholesky factor of the (ridged) sample covariance."""
    n, d = int(x.shape[0]), int(x.shape[1])
    mean = backend.sum(x, axis=0) / n
    centred = x - mean
    cov = backend.transpose(centred) @ centred / max(n - 1, 1)
    ridge = _RIDGE * max(backend.scalar(backend.trace(cov)) / d, 1e-300)
    eye = backend.from_numpy(np.eye(d))
    lower = backend.cholesky(cov + ridge * eye)
    while lower is None:  # pragma: no cover - the ridge makes cov definite
        ridge *= 10
        lower = backend.cholesky(cov + ridge * eye)
    return mean, lower


def _whiten(x: Any, mean: Any, lower: Any, backend: Backend) -> Any:
    return backend.transpose(backend.solve_lower(lower, backend.transpose(x - mean)))


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


def _spans_all_dimensions(x: Any, backend: Backend) -> bool:
    """Whether the sample covariance is definite (relative to its largest eigenvalue)."""
    data = backend.to_numpy(x)
    if data.shape[0] <= data.shape[1]:
        return False
    eigenvalues = np.linalg.eigvalsh(np.cov(data, rowvar=False).reshape(data.shape[1], -1))
    return bool(eigenvalues[0] > _DEGENERATE * eigenvalues[-1])


def _reference(x: Any, y: Any, k: int, backend: Backend, search: str) -> Any:
    """Telescoping through Gaussian fits: log(p/q) = log(p/g_P) + log(g_P/g_Q) + log(g_Q/q)."""
    from scipy.special import digamma

    if not (_spans_all_dimensions(x, backend) and _spans_all_dimensions(y, backend)):
        return _plain(x, y, k, backend, search)
    n, d = int(x.shape[0]), int(x.shape[1])
    mean_p, lower_p = _gaussian_fit(x, backend)
    mean_q, lower_q = _gaussian_fit(y, backend)
    # E_P log(p / g_P), in coordinates where g_P is standard normal.
    zx = _whiten(x, mean_p, lower_p, backend)
    zx_np = backend.to_numpy(zx)
    own, own_nearest, others_p = _kth_neighbours(zx, zx, k, "samples_p", backend, search)
    rho = _distances(zx, zx, own, backend)
    # The ball to the k-th of N other points holds a Beta(k, N - k + 1) mass.
    own_term = float(digamma(k) - np.mean(digamma(others_p + 1))) - _log_ball(zx, rho, d, backend)
    # E_P log(g_Q / q), in coordinates where g_Q is standard normal.
    wx = _whiten(x, mean_q, lower_q, backend)
    wy = _whiten(y, mean_q, lower_q, backend)
    other, other_nearest, others_q = _kth_neighbours(wy, wx, k, "samples_q", backend, search)
    # Paired samples, judged in P's coordinates: the Q point nearest in Q's
    # coordinates is no nearer there, so independent samples pass as often.
    zy_np = backend.to_numpy(_whiten(y, mean_p, lower_p, backend))
    _check_independent(
        _nearest_distances(zx_np, zx_np, own_nearest),
        _nearest_distances(zx_np, zy_np, other_nearest),
        int(y.shape[0]),
        d,
        "samples_p and samples_q",
    )
    nu = _distances(wx, wy, other, backend)
    other_term = _log_ball(wx, nu, d, backend) - float(digamma(k) - np.mean(digamma(others_q + 1)))
    # E_P log(g_P / g_Q), exactly on the samples; the (2 pi)^(d/2) factors cancel.
    log_det_p = backend.sum(backend.log(backend.diagonal(lower_p)))
    log_det_q = backend.sum(backend.log(backend.diagonal(lower_q)))
    middle = (
        backend.sum(wx * wx) / (2 * n) - backend.sum(zx * zx) / (2 * n) + log_det_q - log_det_p
    )
    return own_term + middle + other_term


_METHODS: dict[str, Callable[[Any, Any, int, Backend, str], Any]] = {
    "reference": _reference,
    "plain": _plain,
}
#: The estimators :func:`kl_knn` accepts, the default first.
METHODS: tuple[str, ...] = tuple(_METHODS)


def _sample_pair(
    samples_p: Any, samples_q: Any, k: Any, max_samples: Any, seed: Any
) -> tuple[Any, Any, int, Backend, np.random.Generator]:
    """Validated samples, at most ``max_samples`` rows each, moved and scaled together.

    Larger samples are cut to ``max_samples`` rows first, drawn by the generator
    of ``seed`` (:func:`divergences._validation.sample_rows`), for ``samples_p``
    and then ``samples_q``, before anything reads them: a memory map is read
    only at those rows. The generator comes back for further draws.

    The kept samples are moved and scaled together into ``[-1, 1]^d``, in
    float64. The estimators are invariant under a common translation and
    scaling (the neighbour ratios and the Gaussian references are), so this
    changes no value in exact arithmetic; in floating point it keeps squared
    distances from underflowing (data at 1e-300) or overflowing (1e300).
    """
    k = check_count(k, "k")
    limit = _check_max_samples(max_samples, k)
    backend = precise(backend_for(samples_p=samples_p, samples_q=samples_q))
    rng = np.random.default_rng(check_seed(seed))
    x = as_samples(sample_rows(samples_p, "samples_p", limit, rng, backend), "samples_p", backend)
    y = as_samples(sample_rows(samples_q, "samples_q", limit, rng, backend), "samples_q", backend)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            "samples_p and samples_q must have the same dimension d; got shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)}"
        )
    (x, y), _ = standardise([x, y], backend)
    return x, y, k, backend, rng


def _check_max_samples(max_samples: Any, k: int) -> int | None:
    if max_samples is None:
        return None
    limit = check_count(max_samples, "max_samples")
    if limit < k + 1:
        raise ValueError(
            f"max_samples must be at least k + 1 = {k + 1} (each sample's k-th neighbour "
            f"among the others), or None for no limit; got {limit}"
        )
    return limit


def kl_knn(
    samples_p: ArrayLike,
    samples_q: ArrayLike,
    *,
    k: int = 5,
    method: str = "reference",
    base: float | None = None,
    max_samples: int | None = _MAX_SAMPLES,
    seed: int | None = 0,
    search: str = "auto",
) -> Result:
    r"""k-nearest-neighbour estimate of :math:`\mathrm{KL}(P \,\|\, Q)` from samples.

    With :math:`n` samples :math:`x_i` of :math:`P` and :math:`m` samples
    :math:`y_j` of :math:`Q` in :math:`d` dimensions, let :math:`\rho_k(i)` be
    the distance from :math:`x_i` to its k-th nearest neighbour among the other
    :math:`x`, and :math:`\nu_k(i)` to its k-th nearest neighbour among the
    :math:`y`. The plain estimator (``method="plain"``, [1]_) is

    .. math::

        \widehat{\mathrm{KL}} = \frac dn \sum_{i=1}^n \log\frac{\nu_k(i)}{\rho_k(i)}
        + \log\frac{m}{n - 1}.

    The default (``method="reference"``) telescopes through Gaussians
    :math:`g_P, g_Q` fitted to each sample (their means and covariances):

    .. math::

        \mathrm{KL}(P \,\|\, Q) = \mathbb E_P \log\frac{p}{g_P}
        + \mathbb E_P \log\frac{g_P}{g_Q} + \mathbb E_P \log\frac{g_Q}{q}.

    The middle term is exact at the samples. The outer ones are k-NN estimates
    that use the reference's probability of each neighbour ball instead of
    assuming the density is constant on it: the ball reaching the k-th
    neighbour holds probability mass whose logarithm has mean
    :math:`\psi(k) - \psi(N + 1)` among :math:`N` samples, so

    .. math::

        \mathbb E_P \log\frac{p}{g_P} \approx \psi(k) - \psi(n)
        - \frac1n \sum_i \log G_P\big(B(x_i, \rho_k(i))\big),

    and likewise for :math:`q / g_Q` with :math:`\nu_k(i)` and :math:`\psi(m + 1)`.
    Each ball probability is a noncentral chi-square CDF in coordinates where the
    reference is standard normal.

    Parameters
    ----------
    samples_p : (n, d) or (n,) array-like or torch.Tensor
        Samples of :math:`P`; a 1-D array means ``d = 1``. ``n >= k + 1``.
    samples_q : (m, d) or (m,) array-like or torch.Tensor
        Samples of :math:`Q`, same ``d``. ``m >= k``.
    k : int, default 5
        Which neighbour. Larger ``k`` lowers the variance; for the plain
        estimator it raises the bias.
    method : {"reference", "plain"}, default "reference"
        The Gaussian-reference estimator, or the plain one of [1]_.
    base : float, optional
        Logarithm base; natural when ``None``.
    max_samples : int or None, default 200000
        Most rows of each sample used: a sample with more is replaced by
        ``max_samples`` of its rows drawn uniformly without replacement (see
        Notes); ``None`` uses every row. At least ``k + 1``.
    seed : int or None, default 0
        Seed of those draws (unused when no sample exceeds ``max_samples``);
        ``None`` draws fresh entropy.
    search : {"auto", "tree", "blocked"}, default "auto"
        The neighbour search: k-d trees, all pairs by blocked matrix products,
        or (``"auto"``) the one measured faster for the dimension and size (see
        Notes). All give the same estimate.

    Returns
    -------
    float or torch.Tensor
        The estimate, never below 0 (sampling noise that would push it there
        gives 0; in a base below 1 the units flip the sign, as in
        :func:`divergences.kl`). For tensors, a 0-d tensor in their dtype and
        on their device, with autograd to both samples (gradient 0 where
        clipped).

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, different dimensions, too few samples for
        ``k``, fewer than ``k`` distinct neighbours (repeated points), ``k < 1``,
        ``max_samples < k + 1``, a negative seed, an unknown method or search,
        masked arrays or ``meta`` tensors; and for paired samples (see Notes).
    TypeError
        If a sample array is not an array of real numbers, or ``k``,
        ``max_samples`` or ``seed`` not an integer.

    Notes
    -----
    Accuracy: over 8 seeds with ``n = m = 20000`` in ``d = 3``, the default's
    root-mean-square error is a fraction of the plain estimator's best ``k``
    where :math:`Q` is more concentrated than :math:`P` (plain: −29% for
    :math:`Q = \mathcal N(0, \mathrm{diag}(0.25, 1, 1))`, default: −2%), and no
    larger on the easy pairs; ``docs/benchmarks/knn.md`` has the tables. The
    reference step is exact for Gaussians but needs no Gaussianity: any
    reference gives a consistent estimate, a closer one a smaller bias (the
    benchmark includes a bimodal :math:`P`).

    Overlap: both estimators are consistent only for distributions with
    densities whose supports overlap (:math:`P \ll Q`). For disjoint supports,
    or samples on a lower-dimensional set (segments), the true divergence is
    infinite but the estimates are finite numbers that grow with the gap; do
    not read them as divergences. A Gaussian reference needs samples that
    span all ``d`` dimensions: where either sample's covariance is singular
    (smallest eigenvalue below ``1e-10`` of the largest, as for points on a
    line or fewer points than dimensions) the default falls back to the plain
    estimator, whose values then grow like :math:`d \log` of the gap instead
    of with the inverse of a ridge.

    Repeated points count once: :math:`\rho_k(i)` and :math:`\nu_k(i)` are
    distances to the k-th nearest *distinct* point at a positive distance, and
    :math:`n - 1` and :math:`m` become the numbers of distinct points other
    than :math:`x_i`. This keeps the
    logarithms finite for data with repeats (rounded values, bootstrap
    resamples), and repeating every sample the same number of times changes
    nothing; a ``ValueError`` is raised if fewer than ``k`` distinct points
    remain.

    Independent samples: the estimators assume that the two samples are drawn
    independently. Samples of Q made by perturbing P's own points
    (``x + 1e-3``) put a point of Q next to nearly every point of P and give
    meaningless, negative values; they are refused with a ``ValueError`` that
    says so. The test: x_i's nearest point of Q closer than
    :math:`\delta` times its nearest other point of P, with
    :math:`\delta = \min(0.1, (0.01 (n - 1) / m)^{1/d})`, for a quarter of
    P's points; independent samples (locally Poisson) do that for at most 1%
    of them whatever the two densities, since :math:`E_P[q/p] \le 1`.
    Identical samples are not paired (repeated points count once).

    Scale: the estimate is invariant under a common translation and scaling of
    both samples, and so is the computation: they are moved and scaled
    together (by a power of two) into :math:`[-1, 1]^d` first, so data at
    1e-300 or 1e300 give the same value as at 1. Tensors of any floating dtype
    are computed in float64 and the result returned in their dtype.

    Cost: two neighbour searches and one Gaussian ball probability per
    sample. A k-d tree (SciPy's ``cKDTree``, queried on all cores) costs
    :math:`O((n + m) \log(n + m))` in low dimension, but the points it visits
    grow about exponentially with ``d``; all pairs by blocked matrix products
    cost :math:`O(n (n + m) d)` whatever the data, with at most 64 MB of
    scores at a time (1 GB on a GPU). ``search="auto"`` takes the tree where
    it was measured faster on a 2-core CPU: ``d <= 8``, ``d <= 9`` from
    20 000 distinct points, ``d <= 10`` from 50 000; for CUDA tensors, against
    the blocked search on the GPU, ``d <= 5`` (``docs/benchmarks/knn.md``).
    The ball probabilities come from SciPy's noncentral chi-square CDF near
    the reference and from a fixed quadrature (or Laplace's method) farther
    out, whose cost does not grow with the distance, so samples far apart cost
    no more than near ones.

    Large samples: a sample of more than ``max_samples`` rows is replaced by
    ``max_samples`` of them, ``rows = numpy.sort(rng.choice(n, max_samples,
    replace=False))`` with ``rng = numpy.random.default_rng(seed)``, drawn for
    ``samples_p`` first and then for ``samples_q``. Only those rows are read
    (and checked for NaN), so a ``numpy.memmap`` (``numpy.load(path,
    mmap_mode="r")``) costs the rows drawn, not the file. The estimate is that
    of the subsample, with its sampling noise. Tensors are indexed alike, on
    their device; gradients reach the rows drawn.

    Gradients (torch): the neighbour search runs on the host (in the CPU
    tensors' own memory), or on the GPU for CUDA tensors when the blocked
    search is chosen; only neighbour indices leave it. The selected
    distances are then recomputed in torch from the neighbour indices, held
    fixed, so gradients flow through the distances (and, for the default, the
    Gaussian fits and the ball probabilities, whose derivatives are analytic)
    to both samples. Between neighbour switches the estimate is a smooth
    function of the samples and this is its exact gradient. As an estimate of
    the divergence's gradient it is noisy in low dimension: each sample
    contributes a term of size :math:`1/\nu_k \sim n^{1/d}`, so the noise
    shrinks like :math:`n^{1/d - 1/2}`; in ``d = 1`` it grows with ``n`` and
    the gradient is useless, from ``d = 3`` on it is within about 10% of the
    true one at :math:`n = 10^4` (for a translation).

    References
    ----------
    .. [1] Q. Wang, S. R. Kulkarni and S. Verdú, "Divergence estimation for
       multidimensional densities via k-nearest-neighbor distances", IEEE
       Transactions on Information Theory 55(5), 2009.
    .. [2] B. Rhodes, K. Xu and M. U. Gutmann, "Telescoping density-ratio
       estimation", NeurIPS 2020 (bridging a large density ratio through
       intermediate distributions).
    .. [3] Y.-K. Noh et al., "Bias reduction and metric learning for
       nearest-neighbor estimation of Kullback-Leibler divergence", AISTATS
       2014 (the bias from density variation across the neighbour ball, and
       Gaussian models to remove it).

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(5000, 2))
    >>> y = rng.normal(size=(5000, 2)) + [1.0, 0.0]
    >>> round(dv.kl_knn(x, y), 1)  # true value |shift|^2 / 2 = 0.5
    0.5
    >>> dv.kl_knn(x, y, search="blocked") == dv.kl_knn(x, y, search="tree")
    True

    Samples beyond ``max_samples`` rows are replaced by that many of their
    rows, drawn by the generator of ``seed``, for ``samples_p`` first:

    >>> draw = np.random.default_rng(1)
    >>> rows_x = np.sort(draw.choice(5000, 1000, replace=False))
    >>> rows_y = np.sort(draw.choice(5000, 1000, replace=False))
    >>> dv.kl_knn(x, y, max_samples=1000, seed=1) == dv.kl_knn(x[rows_x], y[rows_y])
    True
    """
    x, y, k, backend, _ = _sample_pair(samples_p, samples_q, k, max_samples, seed)
    method = check_option(method, "method", METHODS)
    search = check_option(search, "search", SEARCHES)
    log_base = check_base(base)
    _check_sizes(int(x.shape[0]), int(y.shape[0]), k)
    # Sampling noise can push the estimate below 0, where no divergence is.
    value = backend.clip(_METHODS[method](x, y, k, backend, search), 0.0, math.inf)
    return backend.to_output(value / log_base)


def _kl_to_mixture(
    x: Any, mixture: Any, k: int, names: tuple[str, str], backend: Backend, search: str
) -> Any:
    """Plain k-NN estimate of KL(P || M) from samples ``x`` of P and ``mixture`` of M.

    ``names`` are those of ``x`` and of the other sample, half of the mixture.
    """
    n, d = int(x.shape[0]), int(x.shape[1])
    x_np, mixture_np = backend.to_numpy(x), backend.to_numpy(mixture)
    own, own_nearest, others_p = _kth_neighbours(x, x, k, names[0], backend, search)
    # The pooled sample seen from x_i leaves x_i itself out when it belongs to it.
    other, other_nearest, others_m = _kth_neighbours(
        mixture, x, k, "the pooled samples", backend, search
    )
    # Only the other sample's half can come nearer than x_i's own nearest neighbour.
    _check_independent(
        _nearest_distances(x_np, x_np, own_nearest),
        _nearest_distances(x_np, mixture_np, other_nearest),
        int(mixture.shape[0]) // 2,
        d,
        " and ".join(names),
    )
    rho = _distances(x, x, own, backend)
    nu = _distances(x, mixture, other, backend)
    counts = float(np.mean(np.log(others_m) - np.log(others_p)))
    return d * backend.sum(backend.log(nu) - backend.log(rho)) / n + counts


def js_knn(
    samples_p: ArrayLike,
    samples_q: ArrayLike,
    *,
    k: int = 5,
    base: float | None = None,
    seed: int | None = 0,
    max_samples: int | None = _MAX_SAMPLES,
    search: str = "auto",
) -> Result:
    r"""k-nearest-neighbour estimate of the Jensen-Shannon divergence from samples.

    .. math::

        \mathrm{JS}(P, Q) = \tfrac12 \mathrm{KL}(P \,\|\, M) + \tfrac12 \mathrm{KL}(Q \,\|\, M),
        \qquad M = \tfrac12 (P + Q),

    with each term the plain estimator of :func:`kl_knn` ([1]_), where the
    samples of :math:`M` are those of :math:`P` and :math:`Q` pooled, the
    same number from each side: with equal sample sizes, all of them (then it
    is the k-NN entropy form :math:`H(M) - \frac12 H(P) - \frac12 H(Q)` of the
    ITE toolbox, [2]_); otherwise all of the smaller sample and a random subset
    of the larger one of the same size. Every sample of both sides is still
    used for the two averages. At :math:`x_i` the pooled sample leaves out
    :math:`x_i` itself, and the :math:`\log(|M| / (n - 1))` term counts that.

    The estimate is clipped to the divergence's range :math:`[0, \log 2]`
    (the unclipped estimate can fall a little outside it by sampling noise,
    below 0 for identical distributions, above :math:`\log 2` for separated
    ones).

    Parameters
    ----------
    samples_p : (n, d) or (n,) array-like or torch.Tensor
        Samples of :math:`P`; a 1-D array means ``d = 1``. ``n >= k + 1``.
    samples_q : (m, d) or (m,) array-like or torch.Tensor
        Samples of :math:`Q`, same ``d``. ``m >= k + 1``.
    k : int, default 5
        Which neighbour.
    base : float, optional
        Logarithm base; natural when ``None``. The range is then
        :math:`[0, \log_{base} 2]`.
    seed : int or None, default 0
        Seed of the random draws: the rows kept of a sample larger than
        ``max_samples``, then the subset of the larger sample that enters the
        pooled sample when ``n != m``; ``None`` draws fresh entropy.
    max_samples : int or None, default 200000
        Most rows of each sample used, as in :func:`kl_knn`; ``None`` uses
        every row. At least ``k + 1``.
    search : {"auto", "tree", "blocked"}, default "auto"
        The neighbour search, as in :func:`kl_knn`.

    Returns
    -------
    float or torch.Tensor
        The estimate in :math:`[0, \log 2]` nats, divided by ``log(base)``
        (so in :math:`[\log_b 2, 0]` for a base below 1, SciPy's convention).
        For tensors, a 0-d tensor in their dtype with autograd through the
        neighbour distances (zero gradient where clipped).

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, different dimensions, too few samples for
        ``k``, fewer than ``k`` distinct neighbours (repeated points),
        ``k < 1``, ``max_samples < k + 1``, a negative seed, an unknown search,
        masked arrays or ``meta`` tensors, and for paired samples (as
        :func:`kl_knn`).
    TypeError
        If a sample array is not an array of real numbers, or ``k``,
        ``max_samples`` or ``seed`` not an integer.

    Notes
    -----
    The mixture's density is at least half of :math:`p` wherever :math:`p > 0`,
    so the log ratios stay bounded (:math:`\log p/m \le \log 2`) and the plain
    estimator's bias is much smaller here than for KL between concentrated
    and spread distributions; ``docs/benchmarks/knn.md`` has measurements.
    Repeated points follow the rule of :func:`kl_knn` (they count once), so
    identical samples give exactly 0. For disjoint supports the estimate is close to
    :math:`\log 2` and the gradient close to 0, as for the true JS. Gradients
    flow as in :func:`kl_knn`, with the neighbour indices and the pooled subset
    held fixed. Paired samples, scale, dtypes, the neighbour search and
    samples beyond ``max_samples`` (drawn first, from the same generator as
    the pooled subset) are handled as in :func:`kl_knn`; the searches here run
    on the pooled sample, of up to twice the size.

    References
    ----------
    .. [1] Q. Wang, S. R. Kulkarni and S. Verdú, "Divergence estimation for
       multidimensional densities via k-nearest-neighbor distances", IEEE
       Transactions on Information Theory 55(5), 2009.
    .. [2] Z. Szabó, "Information theoretical estimators toolbox", JMLR 15,
       2014 (Jensen-Shannon divergence from entropies of pooled samples).

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 2))
    >>> dv.js_knn(x, x + 100.0)  # far apart: log 2
    0.6931...
    >>> dv.js_knn(x, rng.normal(size=(2000, 2)))  # same distribution: near 0
    0.0...
    """
    x, y, k, backend, rng = _sample_pair(samples_p, samples_q, k, max_samples, seed)
    log_base = check_base(base)
    search = check_option(search, "search", SEARCHES)
    n, m = int(x.shape[0]), int(y.shape[0])
    if m < k + 1:
        raise ValueError(
            f"samples_q must hold at least k + 1 = {k + 1} samples (each one's k-th "
            f"neighbour among the others); got {m}"
        )
    _check_sizes(n, m, k)
    size = min(n, m)
    chosen = []
    for count in (n, m):
        mask = np.zeros(count, dtype=bool)
        mask[rng.choice(count, size, replace=False) if count > size else slice(None)] = True
        chosen.append(mask)
    mixture = backend.concatenate(
        [x[backend.index(np.flatnonzero(chosen[0]))], y[backend.index(np.flatnonzero(chosen[1]))]]
    )
    value = (
        _kl_to_mixture(x, mixture, k, ("samples_p", "samples_q"), backend, search)
        + _kl_to_mixture(y, mixture, k, ("samples_q", "samples_p"), backend, search)
    ) / 2
    return backend.to_output(backend.clip(value, 0.0, _LOG2) / log_base)
