"""Neighbour searches: k-d trees, all pairs by blocked matrix products, and the rule between them.

:func:`_kth_neighbours` is what the estimators call: the k-th nearest and the
nearest distinct point of each query, found by one of :data:`SEARCHES`. SciPy's
``cKDTree`` in low dimension (:func:`_tree_search`), all pairwise distances by
blocked matrix products above it (:func:`_blocked_search`, on the GPU for CUDA
tensors), where trees degrade; ``"auto"`` picks one by dimension and size
(:func:`_uses_tree`). Only neighbour indices come out: the estimators recompute
the distances they use, so that torch differentiates them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from divergences._backend import (
    Backend,
    TorchBackend,
    arange_like,
    array_module,
    astype,
    empty_like,
    nonzero_indices,
    smallest_in_rows,
    stable_argsort,
    take_along_rows,
)
from divergences._validation import ArgumentError

# Neighbour search. SciPy's k-d tree visits a number of points that grows about
# exponentially with d, where all pairs by matrix products cost the same whatever
# d. The tree is used up to the dimension where it is the faster; the crossover
# moves up slowly with the number of points (benchmarks/knn_search.py, "The
# neighbour search in high dimension" in docs/benchmarks/knn.md). Rows: (points
# searched, at least; largest dimension for the tree).
_TREE_DIMENSIONS = ((0, 8), (20_000, 9), (50_000, 10))
# For tensors searched on a GPU, against the tree on the host: a GPU's matrix
# product is faster than the host's, so the tree keeps a smaller range of d.
_DEVICE_TREE_MAX_DIMENSION = 5
# Bytes of scores per block of query rows, in host memory or on a GPU: a GPU runs a
# few kernels per block whatever its size, so it takes larger blocks.
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
# Queries from which the tree is searched on all cores: starting the worker threads
# costs about 4 ms on a 2-core machine, more than a whole single-threaded search of
# fewer queries (1-D and 3-D, k = 6: 0.6 and 1.3 ms for 1000, 2.9 and 6.3 ms for 4000).
_PARALLEL_QUERIES = 8192
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
        raise ArgumentError(
            name,
            f"must hold at least k={k} distinct points; got {len(distinct)} (counted once both "
            "samples are moved and scaled together into [-1, 1]^d, where the points of a "
            "sample far narrower than the other, or far from it, can become equal)",
        )
    width = min(k + 1, len(distinct))
    if search == "auto":
        search = "tree" if _uses_tree(distinct.shape[1], len(distinct), backend) else "blocked"
    found, where = _SEARCHES[search](distinct, first, points, queries, width, backend)
    at_query = found[:, 0] == 0
    column = k - 1 + at_query
    if np.any(column >= width):
        raise ArgumentError(
            name,
            f"must have at least k={k} distinct points at a positive distance "
            "from every query point; repeated points leave fewer. Use a smaller k or "
            "remove the repeats.",
        )
    rows = np.arange(len(found))
    indices = first[where[rows, column]]
    nearest = first[where[rows, at_query.astype(int)]]
    return indices, nearest, len(distinct) - at_query.astype(float)


def _distinct_rows(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``points`` and the index of each one's first occurrence.

    Where the first coordinates already differ (continuous data) the rows are
    the points themselves, in their order: ``np.unique`` sorts whole rows, far
    dearer than the one column that settles it for continuous data.
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
    order. SciPy's ``cKDTree``, queried on all cores from ``_PARALLEL_QUERIES`` queries.
    """
    from scipy.spatial import cKDTree

    workers = -1 if len(queries) >= _PARALLEL_QUERIES else 1
    found, where = cKDTree(distinct).query(backend.to_numpy(queries), k=width, workers=workers)
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
    xp = array_module(points)
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
    padding = empty_like(ranking, (padded - n, d + 1))
    padding[:] = 0.0
    padding[:, -1] = _PADDING_SCORE
    ranking = xp.concatenate([ranking, padding]).T
    augmented = xp.concatenate([queries, xp.ones_like(queries[:, :1])], axis=1)
    proposals = _PROPOSALS[xp.__name__]
    tiers = [
        (
            astype(ranking, dtype),
            astype(augmented, dtype),
            2 * (d + 2) * float(np.finfo(dtype).eps),
        )
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
        pending = arange_like(queries, block.stop - start)
        found_block: Any = None
        where_block: Any = None
        for tier in range(first_tier, len(tiers)):
            tier_ranking, tier_queries, tier_relative = tiers[tier]
            if tier not in buffers:
                buffers[tier] = empty_like(tier_ranking, (min(rows, m), padded))
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
            highest = xp.amax(take_along_rows(scores, candidates), axis=1)
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
    xp = array_module(points)
    differences = queries[:, None, :] - points[candidates]
    exact = xp.sqrt(xp.sum(differences * differences, axis=2))
    order = stable_argsort(exact)[:, :width]
    return (
        take_along_rows(exact, order),
        take_along_rows(candidates, order),
        xp.amax(exact, axis=1),
    )


def _settle(scores: Any, limit: Any, queries: Any, points: Any, width: int) -> tuple[Any, Any]:
    """The ``width`` nearest points by ``|q - p|`` among those scoring at most ``limit``."""
    xp = array_module(points)
    rows, columns = nonzero_indices(scores <= limit[:, None])
    exact = xp.concatenate(
        [
            _row_distances(queries[rows[part]], points[columns[part]])
            for part in _parts(len(rows), int(points.shape[1]), _BLOCK_BYTES[xp.__name__])
        ]
    )
    # Nearest first within each row, the rows in order: the pairs of row i start at starts[i].
    order = stable_argsort(exact)
    order = order[stable_argsort(rows[order])]
    counts = xp.bincount(rows, minlength=int(queries.shape[0]))
    starts = xp.cumsum(counts, axis=0) - counts
    picks = order[starts[:, None] + arange_like(rows, width)]
    return exact[picks], columns[picks]


def _row_distances(a: Any, b: Any) -> Any:
    xp = array_module(a)
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
        return smallest_in_rows(values, count)
    # Columns j, j + groups, j + 2 groups, ... form group j. The `count` smallest
    # entries of a row lie in the `count` groups of smallest minimum, so one pass
    # for the minima and selections in 1/_GROUP of the row replace a selection
    # in all of it, which would cost about as much as the matrix product itself.
    xp = array_module(values)
    minima = xp.amin(values.reshape(rows, _GROUP, groups), axis=1)
    chosen = smallest_in_rows(minima, count)
    columns = (chosen[:, :, None] + groups * arange_like(chosen, _GROUP)).reshape(rows, -1)
    return take_along_rows(columns, smallest_in_rows(take_along_rows(values, columns), count))


_SEARCHES: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "tree": _tree_search,
    "blocked": _blocked_search,
}
#: The neighbour searches :func:`kl_knn` and :func:`js_knn` accept; ``"auto"``
#: picks one by dimension and size.
SEARCHES: tuple[str, ...] = ("auto", *_SEARCHES)
