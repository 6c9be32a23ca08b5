"""The ground metrics and the pairwise cost matrices of exact transport, in float64.

The metrics apply to rows of coordinate differences through any backend (so that
torch inputs keep their gradients); the matrices are numpy arrays for POT's solver
(:func:`_distance_matrix`) and for the exact potentials (:func:`_unit_cost_matrix`,
``d^p`` without the rounding of a square root where an even power makes it exact).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from divergences._backend import Backend, NumpyBackend

# From this dimension on, Euclidean cost matrices go through a matrix product
# (BLAS), faster there than SciPy's cdist (docs/benchmarks/exact_wasserstein.md).
_GRAM_MIN_DIMENSION = 24
# Gram entries below this share of the squared norms lose digits to cancellation
# and are recomputed from differences.
_GRAM_RECOMPUTE = 1e-4


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
