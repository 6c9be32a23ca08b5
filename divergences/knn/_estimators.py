"""The estimators kl_knn and js_knn: plain and Gaussian-reference k-NN estimates of KL, and JS.

:func:`kl_knn` runs one of :data:`METHODS` on the prepared samples
(:mod:`divergences.knn._samples`): the plain estimator of Wang, Kulkarni and
Verdú, or (the default) the telescoping through Gaussian references fitted to
P and to Q. :func:`js_knn` is the plain estimator twice, against the pooled
sample. Both get neighbours from :mod:`divergences.knn._search`, refuse paired
samples (:mod:`divergences.knn._pairing`), and recompute the neighbour
distances in the backend so that torch differentiates them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from divergences._backend import ArrayLike, Backend, Result
from divergences._validation import ArgumentError, check_base, check_option, renamed
from divergences.knn._balls import _log_ball
from divergences.knn._pairing import _check_independent, _nearest_distances
from divergences.knn._samples import _check_sizes, _sample_pair
from divergences.knn._search import SEARCHES, _distinct_rows, _kth_neighbours

_LOG2 = math.log(2.0)
# Ridge added to fitted covariances, relative to each coordinate's variance: it keeps the
# Gaussian references proper for nearly degenerate samples and changes nothing
# measurable otherwise (any reference gives a consistent estimate).
_RIDGE = 1e-6
# Samples whose correlation matrix has an eigenvalue below this share of the largest lie on
# a lower-dimensional set: no Gaussian reference fits them, the plain estimator runs.
_DEGENERATE = 1e-10

# Rows of each sample that kl_knn and js_knn use at most, by default: a random
# subset beyond (the `max_samples` option).
_MAX_SAMPLES = 200_000


def _distances(a: Any, b: Any, indices: np.ndarray, backend: Backend) -> Any:
    """``|a_i - b_{indices_i}|`` in the backend, so that torch differentiates it."""
    differences = a - b[backend.index(indices)]
    return backend.sqrt(backend.sum(differences * differences, axis=1))


def _plain(x: Any, y: Any, k: int, backend: Backend, search: str) -> Any:
    """The Wang-Kulkarni-Verdú estimator: (d/n) sum_i log(nu_k(i) / rho_k(i)) + log(m / (n-1))."""
    n, d = int(x.shape[0]), int(x.shape[1])
    x_np, y_np = backend.to_numpy(x), backend.to_numpy(y)
    own, own_nearest, others_p = _kth_neighbours(x, x, k, "x", backend, search)
    other, other_nearest, others_q = _kth_neighbours(y, x, k, "y", backend, search)
    _check_independent(
        _nearest_distances(x_np, x_np, own_nearest),
        _nearest_distances(x_np, y_np, other_nearest),
        int(y.shape[0]),
        d,
        ("x", "y"),
    )
    rho = _distances(x, x, own, backend)
    nu = _distances(x, y, other, backend)
    # log(m / (n - 1)) without repeats; with them, the distinct points each x_i sees.
    counts = float(np.mean(np.log(others_q) - np.log(others_p)))
    return d * backend.sum(backend.log(nu) - backend.log(rho)) / n + counts


def _gaussian_fit(x: Any, backend: Backend) -> tuple[Any, Any]:
    """Mean and lower Cholesky factor of the (ridged) sample covariance.

    The ridge is relative to each coordinate's own variance (``_RIDGE`` times the
    diagonal), so rescaling one coordinate rescales the fit with it: the reference,
    like the divergence, does not depend on the units of each coordinate.
    """
    n, d = int(x.shape[0]), int(x.shape[1])
    mean = backend.sum(x, axis=0) / n
    centred = x - mean
    cov = backend.transpose(centred) @ centred / max(n - 1, 1)
    eye = backend.from_numpy(np.eye(d))
    # A constant coordinate has no variance to be relative to (the span check
    # refuses such samples before this; the floor only keeps the ridge positive).
    ridge = eye * (_RIDGE * backend.clip(backend.diagonal(cov), 1e-300, math.inf))
    lower = backend.cholesky(cov + ridge)
    while lower is None:  # pragma: no cover - the ridge makes cov definite
        ridge = ridge * 10
        lower = backend.cholesky(cov + ridge)
    return mean, lower


def _whiten(x: Any, mean: Any, lower: Any, backend: Backend) -> Any:
    return backend.transpose(backend.solve_lower(lower, backend.transpose(x - mean)))


def _distinct(x: Any, backend: Backend) -> Any:
    """The distinct rows of ``x`` (each at its first occurrence, in order), in the backend."""
    _, first = _distinct_rows(backend.to_numpy(x))
    if len(first) == int(x.shape[0]):
        return x
    return x[backend.index(np.sort(first))]


#: A sample with more than this share of repeated rows gets a warning: k-NN estimates
#: assume densities, and repeated points count once.
_REPEATS_WARNED = 0.01


def _warn_of_repeats(samples: dict[str, Any], backend: Backend) -> None:
    """Warn, once, where samples repeat many of their rows (rounded or discrete data)."""
    counts = []
    for name, x in samples.items():
        n = int(x.shape[0])
        repeated = n - len(_distinct_rows(backend.to_numpy(x))[1])
        if repeated > _REPEATS_WARNED * n:
            counts.append(f"{name}: {repeated} of its {n} rows repeat an earlier one")
    if counts:
        warnings.warn(
            "; ".join(counts) + " (rounded or discrete data?). k-NN estimates assume "
            "densities, and a repeated point counts once, so how much mass sits on repeated "
            "values is not seen: rounding to 2 decimals took KL(N(0, 1) || N(1, 1)) from "
            "0.51 to 0.07. Add noise below the rounding, or compare the counts with dv.kl "
            "or dv.js.",
            UserWarning,
            stacklevel=5,
        )


def _spans_all_dimensions(x: Any, backend: Backend) -> bool:
    """Whether the sample correlation matrix is definite (relative to its largest eigenvalue).

    The correlation, not the covariance: the test then ignores each coordinate's units.
    """
    data = backend.to_numpy(x)
    if data.shape[0] <= data.shape[1]:
        return False
    cov = np.cov(data, rowvar=False).reshape(data.shape[1], -1)
    scale = np.sqrt(np.diagonal(cov))
    if not np.all(scale > 0):
        return False
    eigenvalues = np.linalg.eigvalsh(cov / np.outer(scale, scale))
    return bool(eigenvalues[0] > _DEGENERATE * eigenvalues[-1])


def _no_dominant_point(*squared: np.ndarray) -> bool:
    """Whether no single point carries more than ``2 / sqrt(N)`` of a quadratic sum.

    Each array holds the squared whitened norms that a Gaussian fit or the middle
    term sums. With finite fourth moments the largest of N is ``o(sqrt(N))`` times
    their mean, so this holds with probability tending to 1; without finite
    variances one point keeps a fixed share of the sum and the Gaussian
    telescoping has no limit (its terms are each infinite), so the plain
    estimator, consistent without moments, runs instead.
    """
    return all(float(np.max(q)) <= 2 * math.sqrt(len(q)) * float(np.mean(q)) for q in squared)


def _reference(x: Any, y: Any, k: int, backend: Backend, search: str) -> Any:
    """Telescoping through Gaussian fits: log(p/q) = log(p/g_P) + log(g_P/g_Q) + log(g_Q/q).

    At each x_i the reference for P is the fit to the other points of P (leave one
    out, by a rank-one downdate of the full fit): x_i is then a fresh point for
    its own reference, in the own term and in the middle term alike. The full
    fit, which x_i helps to make, sits closer to x_i than a fresh point would by
    about ``d (d + 3) / (2 n)`` in the log density, a gap that the outer k-NN
    term, whose balls are wide in high dimension, does not see.
    """
    from scipy.special import digamma

    # Repeated points count once here too: the references are fitted to the distinct
    # points, and x_i's reference leaves out its value with all its copies, so that
    # repeating every sample the same number of times changes nothing.
    distinct_x, distinct_y = _distinct(x, backend), _distinct(y, backend)
    if not (
        _spans_all_dimensions(distinct_x, backend) and _spans_all_dimensions(distinct_y, backend)
    ):
        return _plain(x, y, k, backend, search)
    n, d = int(x.shape[0]), int(x.shape[1])
    fitted = int(distinct_x.shape[0])  # the points of P's fit
    mean_p, lower_p = _gaussian_fit(distinct_x, backend)
    mean_q, lower_q = _gaussian_fit(distinct_y, backend)
    zx = _whiten(x, mean_p, lower_p, backend)
    wx = _whiten(x, mean_q, lower_q, backend)
    wy = _whiten(y, mean_q, lower_q, backend)
    squared_p = backend.sum(zx * zx, axis=1)
    squared_q = backend.sum(wx * wx, axis=1)
    if fitted < 3 or not _no_dominant_point(
        backend.to_numpy(squared_p),
        backend.to_numpy(backend.sum(wy * wy, axis=1)),
        backend.to_numpy(squared_q),
    ):
        return _plain(x, y, k, backend, search)
    zx_np = backend.to_numpy(zx)
    # E_P log(p / g_P^(-i)). Neighbours are searched in the full fit's coordinates;
    # the distance to the one found, and the ball's offset, are then measured in
    # those of the fit without x_i (Sherman-Morrison: with u = x_i - mean and
    # D = |z_i|^2, S^(-i) = (n-1)/(n-2) (S - c u u^T), c = n / (n-1)^2).
    own, own_nearest, others_p = _kth_neighbours(zx, zx, k, "x", backend, search)
    c = fitted / (fitted - 1) ** 2
    kept = backend.clip(1 - c * squared_p, 1e-12, math.inf)
    shrink = (fitted - 2) / (fitted - 1)
    offset_sq = (fitted / (fitted - 1)) ** 2 * shrink * squared_p / kept
    step = zx[backend.index(own)] - zx
    along = backend.sum(step * zx, axis=1)
    rho = backend.sqrt(shrink * (backend.sum(step * step, axis=1) + c * along * along / kept))
    offsets = backend.reshape(backend.sqrt(offset_sq), (n, 1))
    # The ball to the k-th of N other points holds a Beta(k, N - k + 1) mass.
    own_term = float(digamma(k) - np.mean(digamma(others_p + 1))) - _log_ball(
        offsets, rho, d, backend
    )
    # E_P log(g_Q / q), in coordinates where g_Q is standard normal.
    other, other_nearest, others_q = _kth_neighbours(wy, wx, k, "y", backend, search)
    # Paired samples, judged in P's coordinates: the Q point nearest in Q's
    # coordinates is no nearer there, so independent samples pass as often.
    zy_np = backend.to_numpy(_whiten(y, mean_p, lower_p, backend))
    _check_independent(
        _nearest_distances(zx_np, zx_np, own_nearest),
        _nearest_distances(zx_np, zy_np, other_nearest),
        int(y.shape[0]),
        d,
        ("x", "y"),
    )
    nu = _distances(wx, wy, other, backend)
    other_term = _log_ball(wx, nu, d, backend) - float(digamma(k) - np.mean(digamma(others_q + 1)))
    # E_P log(g_P^(-i) / g_Q), exactly at the samples; the (2 pi)^(d/2) factors cancel.
    log_det_p = backend.sum(backend.log(backend.diagonal(lower_p)))
    log_det_q = backend.sum(backend.log(backend.diagonal(lower_q)))
    downdate = 0.5 * backend.sum(backend.log(kept)) / n
    log_det_loo = 0.5 * d * math.log((fitted - 1) / (fitted - 2)) + log_det_p + downdate
    middle = (
        backend.sum(squared_q) / (2 * n)
        - backend.sum(offset_sq) / (2 * n)
        + log_det_q
        - log_det_loo
    )
    return own_term + middle + other_term


_METHODS: dict[str, Callable[[Any, Any, int, Backend, str], Any]] = {
    "reference": _reference,
    "plain": _plain,
}
#: The estimators :func:`kl_knn` accepts, the default first.
METHODS: tuple[str, ...] = tuple(_METHODS)


@renamed(samples_p="x", samples_q="y")
def kl_knn(
    x: ArrayLike,
    y: ArrayLike,
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
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of :math:`P`; a 1-D array means ``d = 1``. ``n >= k + 1``.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of :math:`Q`, same ``d``. ``m >= k``.
        Formerly ``samples_p`` and ``samples_q``: those keywords still work, with a
        ``DeprecationWarning``, until the next release.
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
        or (``"auto"``) the one expected to be faster for the dimension and size
        (see Notes). All give the same estimate.

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
    Which method: the plain estimator is biased downward where :math:`Q` is
    more concentrated than :math:`P` (its density varies across the neighbour
    balls); the default removes most of that bias and is about as accurate on
    easy pairs, so use ``method="plain"`` to compare with the literature, or
    for heavy-tailed samples (below; ``docs/benchmarks/knn.md``). Any
    reference gives a consistent estimate, a closer one a smaller bias;
    Gaussian ones are exact for Gaussians.

    The references: each point's reference for P is the fit to the other
    points of P (leave one out, a rank-one downdate of the full fit): the full
    fit sits closer to the points it was fitted to than to fresh ones, by about
    :math:`d (d + 3) / (2 n)` nats in the log density, which the wide
    neighbour balls of high dimension do not cancel (on P = Q = N(0, I_100),
    2000 a side, the full fit gave 2.6 nats). The fits' ridge is
    :math:`10^{-6}` of each coordinate's own variance and the degeneracy test
    below reads the correlation matrix, so the estimate does not depend on the
    units of each coordinate, as KL does not. Where one point carries more than
    :math:`2/\sqrt N` of a fit's sum of squared whitened norms (of P's, of
    Q's, or of P's points in Q's fit), the default runs the plain estimator:
    with finite fourth moments that becomes ever rarer as N grows; without
    finite variances (Cauchy) the telescoping has no limit, and one outlier of
    P far from Q gave 238 nats for two samples of one law. Heavy but finite
    tails remain its weak case: for two Student-t(5) laws in d = 3 (KL 0.51
    by Monte Carlo) it gives about 1.2 at 2000 a side and 0.94 at 30 000,
    where the plain estimator gives 0.31 and 0.46 (the Gaussian reference
    overstates how fast log q falls across a wide ball in the tails).

    Overlap: both estimators are consistent only where :math:`P \ll Q` with
    densities. For disjoint supports, or samples on a lower-dimensional set,
    the true divergence is infinite but the estimates are finite numbers that
    grow with the gap. Where either sample's correlation matrix is singular
    (smallest eigenvalue below ``1e-10`` of the largest: points on a line, a
    constant coordinate, fewer distinct points than dimensions) the default
    falls back to the plain estimator.

    Repeated points count once: :math:`\rho_k(i)` and :math:`\nu_k(i)` reach
    the k-th nearest *distinct* point at a positive distance, and
    :math:`n - 1` and :math:`m` become the numbers of distinct points other
    than :math:`x_i`, so data with repeats give finite logarithms and
    repeating every sample the same number of times changes nothing. The
    rule cannot see how much mass sits on a repeated value, so where more
    than 1% of a sample's rows repeat (rounded or discrete data) a
    ``UserWarning`` says so: rounding N(0, 1) and N(1, 1) samples to 2
    decimals takes the estimate from 0.51 to 0.07.

    Independent samples are assumed. Samples of Q made by perturbing P's own
    points (``x + 1e-3``) give meaningless, negative values and are refused:
    the test is x_i's nearest point of Q closer than :math:`\delta` times its
    nearest other point of P, with
    :math:`\delta = \min(0.1, (0.01 (n - 1) / m)^{1/d})`, for a quarter of
    P's points, which independent samples (locally Poisson) do for at most 1%
    of them whatever the densities, since :math:`E_P[q/p] \le 1`.

    Scale: both samples are moved and scaled together (by a power of two)
    into :math:`[-1, 1]^d` first, so the estimate is invariant under a common
    translation and scaling at any magnitude. Tensors of any floating dtype
    are computed in float64 and the result returned in their dtype.

    Cost: two neighbour searches and one Gaussian ball probability per
    sample. A k-d tree (SciPy's ``cKDTree``, on all cores) costs
    :math:`O((n + m) \log(n + m))` in low dimension, but the points it visits
    grow about exponentially with ``d``; blocked matrix products cost
    :math:`O(n (n + m) d)` whatever the data, with at most 64 MiB of scores at
    a time (1 GiB on a GPU). ``search="auto"`` takes the tree where it is the
    faster: ``d <= 8``, ``d <= 9`` from 20 000 distinct points, ``d <= 10``
    from 50 000, and for CUDA tensors ``d <= 5``. The ball probabilities cost
    the same however far a sample lies from the reference.

    Large samples: a sample of more than ``max_samples`` rows is replaced by
    the rows ``numpy.sort(rng.choice(n, max_samples, replace=False))``,
    ``rng = numpy.random.default_rng(seed)``, drawn for ``x`` first.
    Only those rows are read (and checked), so a ``numpy.memmap`` costs the
    rows drawn, not the file; tensors are indexed alike, on their device.

    Gradients (torch): the neighbour search runs on the host, or on the GPU
    for CUDA tensors with the blocked search; the selected distances are
    recomputed in torch with the neighbour indices held fixed, so gradients
    reach both samples through the distances (and the Gaussian fits and ball
    probabilities, whose derivatives are analytic). This is the exact
    gradient of the estimate between neighbour switches. As an estimate of the
    divergence's gradient its noise shrinks like :math:`n^{1/d - 1/2}`: useless
    in ``d = 1``, usable from ``d = 3`` on with large samples.

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
    rows, drawn by the generator of ``seed``, for ``x`` first:

    >>> draw = np.random.default_rng(1)
    >>> rows_x = np.sort(draw.choice(5000, 1000, replace=False))
    >>> rows_y = np.sort(draw.choice(5000, 1000, replace=False))
    >>> dv.kl_knn(x, y, max_samples=1000, seed=1) == dv.kl_knn(x[rows_x], y[rows_y])
    True
    """
    return _kl_knn(x, y, k, method, base, max_samples, seed, search, clip=True)


def _kl_knn(
    x: Any,
    y: Any,
    k: Any,
    method: Any,
    base: Any,
    max_samples: Any,
    seed: Any,
    search: Any,
    *,
    clip: bool,
) -> Result:
    """:func:`kl_knn`, with the estimate's clipping at 0 on request (a permutation test
    needs the unclipped one: clipped, many re-splits tie at 0)."""
    rows_p, rows_q, k, backend, _ = _sample_pair(x, y, k, max_samples, seed)
    method = check_option(method, "method", METHODS)
    search = check_option(search, "search", SEARCHES)
    log_base = check_base(base)
    _check_sizes(int(rows_p.shape[0]), int(rows_q.shape[0]), k)
    value = _METHODS[method](rows_p, rows_q, k, backend, search)
    _warn_of_repeats({"x": rows_p, "y": rows_q}, backend)  # of an estimate, not an error
    if clip:
        # Sampling noise can push the estimate below 0, where no divergence is.
        value = backend.clip(value, 0.0, math.inf)
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
        names,
    )
    rho = _distances(x, x, own, backend)
    nu = _distances(x, mixture, other, backend)
    counts = float(np.mean(np.log(others_m) - np.log(others_p)))
    return d * backend.sum(backend.log(nu) - backend.log(rho)) / n + counts


@renamed(samples_p="x", samples_q="y")
def js_knn(
    x: ArrayLike,
    y: ArrayLike,
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
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of :math:`P`; a 1-D array means ``d = 1``. ``n >= k + 1``.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of :math:`Q`, same ``d``. ``m >= k + 1``.
        Formerly ``samples_p`` and ``samples_q``: those keywords still work, with a
        ``DeprecationWarning``, until the next release.
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
    and spread distributions (``docs/benchmarks/knn.md``, "JS").
    Repeated points follow the rule of :func:`kl_knn` (they count once, with
    its warning where more than 1% of a sample's rows repeat), so
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
    return _js_knn(x, y, k, base, max_samples, seed, search, clip=True)


def _js_knn(
    x: Any, y: Any, k: Any, base: Any, max_samples: Any, seed: Any, search: Any, *, clip: bool
) -> Result:
    """:func:`js_knn`, with the estimate's clipping to [0, log 2] on request."""
    rows_p, rows_q, k, backend, rng = _sample_pair(x, y, k, max_samples, seed)
    log_base = check_base(base)
    search = check_option(search, "search", SEARCHES)
    n, m = int(rows_p.shape[0]), int(rows_q.shape[0])
    if m < k + 1:
        raise ArgumentError(
            "y",
            f"must hold at least k + 1 = {k + 1} samples (each one's k-th "
            f"neighbour among the others); got {m}",
        )
    _check_sizes(n, m, k)
    size = min(n, m)
    chosen = []
    for count in (n, m):
        mask = np.zeros(count, dtype=bool)
        mask[rng.choice(count, size, replace=False) if count > size else slice(None)] = True
        chosen.append(mask)
    mixture = backend.concatenate(
        [
            rows_p[backend.index(np.flatnonzero(chosen[0]))],
            rows_q[backend.index(np.flatnonzero(chosen[1]))],
        ]
    )
    value = (
        _kl_to_mixture(rows_p, mixture, k, ("x", "y"), backend, search)
        + _kl_to_mixture(rows_q, mixture, k, ("y", "x"), backend, search)
    ) / 2
    _warn_of_repeats({"x": rows_p, "y": rows_q}, backend)
    if clip:
        value = backend.clip(value, 0.0, _LOG2)
    return backend.to_output(value / log_base)
