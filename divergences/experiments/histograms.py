"""Histograms of disjoint-segment samples, and the JS between them.

Used by ``divergences demo`` and by the headline experiment: the one place
where samples of the segments are binned.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from divergences._backend import ArrayLike, Result
from divergences._validation import as_samples, backend_for, check_count, check_real, renamed
from divergences.information import js

__all__ = ["MAX_BINS", "histogram_js", "segment_histograms"]

#: The most bins a histogram may have: beyond this a tiny ``bin_width`` would
#: ask for gigabytes, and the call is refused before anything is allocated.
MAX_BINS = 10_000_000


@renamed(samples_p="x", samples_q="y")
def segment_histograms(
    x: ArrayLike,
    y: ArrayLike,
    *,
    bin_width: float = 0.1,
    y_bins: int = 10,
) -> tuple[Result, Result]:
    r"""Histograms of two sets of points in :math:`\mathbb R \times [0, 1]`, on one grid.

    The x bins are centred on the multiples of ``bin_width`` and reach past
    the farthest sample; y has ``y_bins`` bins over [0, 1]. Each sample's mass
    is shared between the two x bins around it in proportion to its distance
    to their centres (linear binning), so for tensors the histograms move
    continuously with the x positions and autograd gives their gradient; a
    sample on a bin centre falls wholly in that bin.

    Parameters
    ----------
    x, y : (n, 2) and (m, 2) array-like or torch.Tensor
        The points (position, height), height in [0, 1] (values outside go to the
        edge bins).
        Formerly ``samples_p`` and ``samples_q``: those keywords still work, with a
        ``DeprecationWarning``, until the next release.
    bin_width : float, default 0.1
        Width of the x bins, > 0.
    y_bins : int, default 10
        Number of y bins.

    Returns
    -------
    tuple of (numpy.ndarray or torch.Tensor)
        The two flattened histograms (counts, not normalised), on one grid.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, samples that are not 2-D points, a
        ``bin_width`` that is not positive, or a grid of more than
        :data:`MAX_BINS` bins.

    Examples
    --------
    >>> hist_p, hist_q = segment_histograms([[0.0, 0.5]], [[0.05, 0.5]], bin_width=0.1)
    >>> float(hist_p.sum()), float(hist_q.max())  # Q's point is half-way: split evenly
    (1.0, 0.5)
    """
    bin_width = check_real(bin_width, "bin_width")
    if not bin_width > 0:
        raise ValueError(f"bin_width must be positive; got {bin_width:g}")
    y_bins = check_count(y_bins, "y_bins")
    backend = backend_for(x=x, y=y)
    sets = [
        as_samples(x, "x", backend),
        as_samples(y, "y", backend),
    ]
    for points, name in zip(sets, ("x", "y"), strict=True):
        if points.shape[1] != 2:
            raise ValueError(
                f"{name} must be (n, 2) points (position, height); got shape {tuple(points.shape)}"
            )
    reach = max(float(np.max(np.abs(backend.to_numpy(points[:, 0])))) for points in sets)
    half = math.ceil(reach / bin_width) + 1
    x_bins = 2 * half + 1
    if x_bins * y_bins > MAX_BINS:
        raise ValueError(
            f"bin_width={bin_width:g} needs {x_bins} x bins to reach x = {reach:g}, more "
            f"than {MAX_BINS} bins in all; choose a larger bin_width"
        )

    def histogram(x: Any) -> Any:
        position = x[:, 0] / bin_width + half
        left = np.clip(np.floor(backend.to_numpy(position)), 0, x_bins - 2)
        share_right = position - backend.from_numpy(left)
        row = np.clip((backend.to_numpy(x[:, 1]) * y_bins).astype(np.int64), 0, y_bins - 1)
        index = left.astype(np.int64) * y_bins + row
        size = x_bins * y_bins
        return backend.bincount(index, 1 - share_right, size) + backend.bincount(
            index + y_bins, share_right, size
        )

    return histogram(sets[0]), histogram(sets[1])


@renamed(samples_p="x", samples_q="y")
def histogram_js(x: ArrayLike, y: ArrayLike, bin_width: float = 0.1) -> Result:
    """JS between the :func:`segment_histograms` of two sample sets (nats).

    Differentiable in the x positions for tensors. Once the segments are more
    than one bin apart the histograms are disjoint: JS is :math:`\\log 2` and
    its gradient 0.

    Examples
    --------
    >>> import math, torch
    >>> from divergences.families import segment_samples
    >>> p = segment_samples(torch.tensor(0.0, dtype=torch.float64), 1000, seed=0)
    >>> q = segment_samples(torch.tensor(1.0, dtype=torch.float64), 1000, seed=1)
    >>> math.isclose(float(histogram_js(p, q)), math.log(2), rel_tol=1e-9)
    True
    """
    hist_p, hist_q = segment_histograms(x, y, bin_width=bin_width)
    return js(hist_p, hist_q)
