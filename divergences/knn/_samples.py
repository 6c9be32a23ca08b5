"""The samples the k-NN estimators take: checked, cut to ``max_samples`` rows, put in a cube.

:func:`_sample_pair` validates both samples, draws at most ``max_samples``
rows of each (reading only those), and moves and scales them together into
``[-1, 1]^d``; :func:`_check_sizes` refuses samples too small for ``k``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from divergences._backend import Backend, precise, standardise
from divergences._validation import (
    ArgumentError,
    as_samples,
    backend_for,
    check_count,
    check_same_dimension,
    check_seed,
    sample_rows,
)


def _sample_pair(
    x: Any, y: Any, k: Any, max_samples: Any, seed: Any
) -> tuple[Any, Any, int, Backend, np.random.Generator]:
    """Validated samples, at most ``max_samples`` rows each, moved and scaled together.

    Larger samples are cut to ``max_samples`` rows first, drawn by the generator
    of ``seed`` (:func:`divergences._validation.sample_rows`), for ``x``
    and then ``y``, before anything reads them: a memory map is read
    only at those rows. The generator comes back for further draws.

    The kept samples are moved and scaled together into ``[-1, 1]^d``, in
    float64. The estimators are invariant under a common translation and
    scaling (the neighbour ratios and the Gaussian references are), so this
    changes no value in exact arithmetic; in floating point it keeps squared
    distances from underflowing (data at 1e-300) or overflowing (1e300).
    """
    k = check_count(k, "k")
    limit = _check_max_samples(max_samples, k)
    backend = precise(backend_for(x=x, y=y))
    rng = np.random.default_rng(check_seed(seed))
    x = as_samples(sample_rows(x, "x", limit, rng, backend), "x", backend)
    y = as_samples(sample_rows(y, "y", limit, rng, backend), "y", backend)
    check_same_dimension(x, y)
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


def _check_sizes(n: int, m: int, k: int) -> None:
    if n < k + 1:
        raise ArgumentError(
            "x",
            f"must hold at least k + 1 = {k + 1} samples (each one's k-th "
            f"neighbour among the others); got {n}",
        )
    if m < k:
        raise ArgumentError("y", f"must hold at least k = {k} samples; got {m}")
