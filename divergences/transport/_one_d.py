"""Exact transport in one dimension: sorted samples (the quantile functions), no cost matrix."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from divergences._backend import Backend, exponent_above, times_power_of_two
from divergences._memory import refuse_beyond_memory
from divergences.transport._problem import _Problem
from divergences.transport._scale import _refuse_resolution, _ScaledCost

# Peak memory of the 1-D path per sample, whatever the input dtype: the sorted float64
# copies where equal uniform weights pair the sorted samples directly; the order, the
# sorted copies, the cumulative weights and the merged levels where the two quantile
# functions are merged.
_SORT_BYTES_MATCHED = 32
_SORT_BYTES_MERGED = 112
# numpy releases the GIL while sorting, so two large 1-D sample sets are sorted in two
# threads at once (docs/benchmarks/exact_wasserstein.md, "One dimension").
_PARALLEL_SORT_SIZE = 1 << 16


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
