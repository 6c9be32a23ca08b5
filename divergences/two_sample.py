"""Two-sample permutation tests: is the distance between two sample sets more than chance?

:func:`two_sample_test` compares the observed statistic with its values on random
re-splits of the pooled sample. The energy and MMD statistics of a whole batch of
splits are one blocked product over the kernel matrix
(:func:`divergences.kernels._kernel_statistics`), on torch and on the GPU where there is
one; the Sinkhorn divergences of a batch are one GeomLoss solve over its batch axis
(:func:`divergences.sinkhorn.split_divergences`); every other statistic is called once
per split.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from divergences._backend import ArrayLike, TorchBackend, precise
from divergences._validation import (
    ArgumentError,
    ArgumentTypeError,
    as_samples,
    backend_for,
    check_count,
    check_flag,
    check_option,
    check_seed,
)
from divergences.kernels import _check_kernel, _kernel_statistics, _pooled_kernel

__all__ = ["ALTERNATIVES", "STATISTICS", "TwoSampleResult", "two_sample_test"]

#: The alternatives, as SciPy names them.
ALTERNATIVES = ("greater", "less", "two-sided")

#: The options each named statistic takes (``device``: where the blocked product runs).
STATISTICS: dict[str, tuple[str, ...]] = {
    "energy": ("unbiased", "device"),
    "mmd": ("kernel", "bandwidth", "unbiased", "degree", "coef0", "device"),
    "wasserstein": ("p", "metric"),
    "sliced": ("p", "n_projections", "projection_seed"),
    "kl_knn": ("k", "method"),
    "js_knn": ("k",),
    "sinkhorn": ("blur", "p", "scaling"),
}

#: Above this many pooled points in d > 1, the exact W1 (one linear program per split)
#: is refused: ``statistic="sliced"`` or ``"energy"`` scale to large samples.
MAX_EXACT_POINTS = 1000

# Label entries per batch of permutations (float64: 128 MiB), so that the (N, B) label
# matrix stays bounded for large N; each batch sweeps the kernel matrix once.
_LABEL_VALUES = 1 << 24
# Null statistics within this many units of rounding (times N and the mean |k|) of the
# observed one count as ties: the same split computed in another column must not fall
# below the observed value by a rounding error.
_TIE_ROUNDING = 16


@dataclass(frozen=True)
class TwoSampleResult:
    """The outcome of :func:`two_sample_test`.

    Attributes
    ----------
    statistic : float
        The statistic of the samples as given (``x`` against ``y``).
    pvalue : float
        The permutation p-value, in (0, 1].
    permutations : int
        ``B``, the number of null statistics (the distinct re-splits when ``exact``).
    null : (B,) numpy.ndarray
        The statistic on each re-split (read-only); :attr:`null_mean`,
        :attr:`null_std` and :meth:`null_quantile` summarise it.
    method : str
        The statistic's name (``"callable"`` for a function).
    alternative : str
        ``"greater"``, ``"less"`` or ``"two-sided"``.
    exact : bool
        Whether every split of the pooled sample was enumerated.
    """

    statistic: float
    pvalue: float
    permutations: int
    null: np.ndarray = field(repr=False, compare=False)
    method: str
    alternative: str = "greater"
    exact: bool = False

    @property
    def null_mean(self) -> float:
        """The mean of the null statistics."""
        return float(np.mean(self.null))

    @property
    def null_std(self) -> float:
        """The standard deviation of the null statistics (``ddof = 0``)."""
        return float(np.std(self.null))

    def null_quantile(self, q: float) -> float:
        """The ``q`` quantile of the null statistics (``numpy.quantile``'s default)."""
        return float(np.quantile(self.null, q))

    def __repr__(self) -> str:
        quantiles = ", ".join(f"{q}: {self.null_quantile(q):.6g}" for q in (0.5, 0.95, 0.99))
        return (
            f"TwoSampleResult(statistic={self.statistic:.6g}, pvalue={self.pvalue:.6g}, "
            f"permutations={self.permutations}, method={self.method!r}, "
            f"alternative={self.alternative!r}, exact={self.exact}, "
            f"null(mean={self.null_mean:.6g}, std={self.null_std:.6g}, "
            f"quantiles {{{quantiles}}}))"
        )


def _splits(
    count: int, n: int, permutations: int, seed: int | None, batch: int
) -> tuple[Iterator[np.ndarray], int, bool]:
    """Batches of splits of ``count`` pooled points, ``n`` of them in the first set.

    Returns the batches (boolean arrays ``(b, count)``, True for the first set), the
    number ``B`` of null splits and whether they are all the distinct splits. The first
    row of the first batch is the split as given (the first ``n`` points), the observed
    statistic's; ``B`` rows follow. When ``permutations`` reaches the number of distinct
    splits other than that one, they are enumerated (SciPy's exact test); otherwise
    ``B = permutations`` independent uniform shuffles are drawn by
    ``numpy.random.default_rng(seed)``, ``batch`` rows at a time.
    """
    identity = np.zeros(count, dtype=bool)
    identity[:n] = True
    distinct = math.comb(count, n)
    if permutations >= distinct - 1:

        def enumerate_all() -> Iterator[np.ndarray]:
            # combinations() starts with (0, ..., n - 1): the split as given
            subsets = itertools.combinations(range(count), n)
            while rows := list(itertools.islice(subsets, batch)):
                masks = np.zeros((len(rows), count), dtype=bool)
                masks[np.repeat(np.arange(len(rows)), n), np.concatenate(rows)] = True
                yield masks

        return enumerate_all(), distinct - 1, True

    def draw() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(seed)
        remaining = permutations + 1
        first = True
        while remaining:
            size = min(batch, remaining)
            masks = rng.permuted(np.broadcast_to(identity, (size, count)), axis=1)
            if first:
                masks[0] = identity
                first = False
            remaining -= size
            yield masks

    return draw(), permutations, False


def _pvalue(observed: float, null: np.ndarray, tolerance: float, alternative: str) -> float:
    """``(1 + #{null >= observed}) / (1 + B)`` (or ``<=``), ties within ``tolerance``."""
    size = null.size + 1
    greater = (1 + int(np.count_nonzero(null >= observed - tolerance))) / size
    less = (1 + int(np.count_nonzero(null <= observed + tolerance))) / size
    if alternative == "greater":
        return greater
    if alternative == "less":
        return less
    return min(1.0, 2 * min(greater, less))


def score_pvalue(
    scores_x: Any,
    scores_y: Any,
    *,
    permutations: int = 999,
    seed: int | None = None,
    alternative: str = "greater",
) -> tuple[float, int]:
    """The permutation p-value of a mean difference of fixed per-point scores.

    ``scores_x`` and ``scores_y`` are the values ``f(x_i)`` and ``f(y_j)`` of one
    function ``f`` chosen without these points (a critic trained on other samples):
    under P = Q the pooled scores are exchangeable, so re-splitting them tests
    P = Q exactly, and each re-split costs a sum, not a new ``f``. Returns the
    p-value, ``(1 + #{null >= observed}) / (1 + B)``, and ``B``.
    """
    values = np.concatenate(
        [
            np.asarray(scores_x, dtype=np.float64).ravel(),
            np.asarray(scores_y, dtype=np.float64).ravel(),
        ]
    )
    n, count = int(np.size(scores_x)), int(values.size)
    if n < 1 or count - n < 1:
        raise ValueError(
            f"scores_x and scores_y must hold at least one score each; got {n} and {count - n}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("scores_x and scores_y must be finite")
    batch = max(1, _LABEL_VALUES // count)
    splits, _, _ = _splits(count, n, permutations, seed, batch)
    total = float(np.sum(values))
    differences = []
    for masks in splits:
        first = masks @ values
        differences.append(first / n - (total - first) / (count - n))
    statistics = np.concatenate(differences)
    tolerance = _TIE_ROUNDING * np.finfo(np.float64).eps * count * float(np.max(np.abs(values)))
    return _pvalue(
        float(statistics[0]), statistics[1:], tolerance, alternative
    ), statistics.size - 1


def _kernel_null(
    z: Any, n: int, splits: Iterator[np.ndarray], method: str, options: dict[str, Any]
) -> tuple[float, np.ndarray, float]:
    """Observed statistic, null statistics and tie tolerance of the energy or MMD test."""
    import torch

    from divergences.neural.options import resolve_device

    device = resolve_device(options.get("device", "auto"))
    backend = TorchBackend(torch.float64, device)
    # the defaults of energy_distance (a V-statistic) and of mmd (a U-statistic)
    unbiased = check_flag(options.get("unbiased", method == "mmd"), "unbiased")
    kernel = options.get("kernel", "gaussian") if method == "mmd" else "energy"
    name, bandwidth, degree, coef0 = _check_kernel(
        kernel,
        options.get("bandwidth", "median"),
        options.get("degree", 3),
        options.get("coef0", 1.0),
    )
    count = z.shape[0]
    if unbiased and min(n, count - n) < 2:
        raise ValueError(
            f"unbiased=True needs at least two samples in each of x and y; got {n} and {count - n}"
        )
    samples = torch.as_tensor(z, dtype=torch.float64, device=device)
    # The bandwidth comes from the pooled sample, the same for every split: the
    # statistic is then a fixed function of the split, and the permutation test exact.
    pooled, kernel_function, exponent = _pooled_kernel(
        samples[:n], samples[n:], backend, name, bandwidth, degree, coef0
    )
    values = []
    scale = 0.0
    with torch.no_grad():
        for masks in splits:
            # one float64 copy, laid out (N, b) for the row blocks
            labels = torch.empty((count, masks.shape[0]), dtype=torch.float64, device=device)
            labels.copy_(torch.from_numpy(masks).T)
            batch_values, scale = _kernel_statistics(
                pooled, labels, n, kernel_function, backend, unbiased=unbiased
            )
            del labels
            values.append(batch_values.cpu().numpy())
    statistics = np.ldexp(np.concatenate(values), exponent)
    if not np.all(np.isfinite(statistics)):
        raise ValueError(
            f"the MMD² of these samples with the {name} kernel exceeds the float64 range"
        )
    tolerance = math.ldexp(_TIE_ROUNDING * np.finfo(np.float64).eps * count * scale, exponent)
    return float(statistics[0]), statistics[1:], tolerance


def _named_function(statistic: str, options: dict[str, Any]) -> Callable[[Any, Any], Any]:
    """The function of two sample sets that a named (not blocked) statistic computes."""
    import divergences as dv
    from divergences.knn._estimators import _js_knn, _kl_knn

    if statistic == "wasserstein":
        return lambda a, b: dv.wasserstein(a, b, **options)
    if statistic == "sliced":
        sliced = {key: value for key, value in options.items() if key != "projection_seed"}
        # One seed for every split: the same projections, so the statistic is a fixed
        # function of the split.
        seed = options.get("projection_seed", 0)
        return lambda a, b: dv.sliced_wasserstein(a, b, seed=seed, **sliced)
    # The k-NN estimates unclipped: clipped at 0, many re-splits of similar samples tie
    # at 0 with the observed one, and the test loses its power (it stays exact).
    if statistic == "kl_knn":
        k, method = options.get("k", 5), options.get("method", "reference")
        return lambda a, b: _kl_knn(a, b, k, method, None, None, 0, "auto", clip=False)
    if statistic == "js_knn":
        k = options.get("k", 5)
        return lambda a, b: _js_knn(a, b, k, None, None, 0, "auto", clip=False)
    raise ValueError(f"statistic {statistic!r} is not computed one split at a time")


def _looped_null(
    z: np.ndarray, splits: Iterator[np.ndarray], function: Callable[[Any, Any], Any]
) -> tuple[float, np.ndarray, float]:
    """Observed and null statistics of a statistic called once per split."""
    values = []
    for masks in splits:
        for mask in masks:
            value = function(z[mask], z[~mask])
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ArgumentTypeError(
                    "statistic", f"must return a real number; got {type(value).__name__}"
                ) from None
            if math.isnan(number):
                raise ArgumentError("statistic", "returned NaN for a split of the samples")
            values.append(number)
    statistics = np.asarray(values)
    # SciPy's relative tolerance for ties (permutation_test), wider: a statistic that is
    # symmetric in the two sets may round differently with them swapped.
    return values[0], statistics[1:], 1e-12 * abs(values[0])


def two_sample_test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    statistic: str | Callable[[np.ndarray, np.ndarray], float] = "energy",
    permutations: int = 999,
    seed: int | None = None,
    alternative: str = "greater",
    **options: Any,
) -> TwoSampleResult:
    r"""A permutation test of :math:`P = Q` from samples ``x`` of P and ``y`` of Q.

    With :math:`T` the statistic, :math:`T_0 = T(x, y)` and :math:`T_1, \dots, T_B`
    its values on ``B`` uniformly random re-splits of the pooled sample into sets of
    sizes ``n`` and ``m``,

    .. math::

        p = \frac{1 + \#\{b : T_b \ge T_0\}}{1 + B}

    for ``alternative="greater"`` (large distances are evidence against
    :math:`P = Q`), with :math:`\le` for ``"less"`` and
    :math:`\min(1, 2 \min(p_\ge, p_\le))` for ``"two-sided"``, as SciPy's
    :func:`~scipy.stats.permutation_test` defines them.

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of P; a 1-D array means ``d = 1``.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of Q, same ``d``.
    statistic : str or callable, default "energy"
        ``"energy"`` (:func:`~divergences.energy_distance`; option ``unbiased``,
        default False), ``"mmd"`` (:func:`~divergences.mmd`; options ``kernel``,
        ``bandwidth``, ``unbiased`` (default True), ``degree``, ``coef0``),
        ``"wasserstein"`` (exact, :func:`~divergences.wasserstein`; options ``p``,
        ``metric``; at most :data:`MAX_EXACT_POINTS` pooled points when d > 1),
        ``"sliced"`` (:func:`~divergences.sliced_wasserstein`; options ``p``,
        ``n_projections``, ``projection_seed``, default 0, the same projections for
        every split), ``"kl_knn"`` (options ``k``, ``method``), ``"js_knn"``
        (option ``k``; both k-NN estimates unclipped, so that splits below 0 do not
        tie), ``"sinkhorn"`` (:func:`~divergences.sinkhorn_divergence`;
        options ``blur``, ``p``, ``scaling``; the splits of a batch solved
        together, each to the same value as a call of its own), or a function ``f(x, y) -> float``
        of two float64 numpy arrays ``(n, d)`` and ``(m, d)``, called once per split
        (not vectorised).
    permutations : int, default 999
        ``B``, the number of random re-splits, at least 1. When it reaches the
        number of distinct re-splits, :math:`\binom{n+m}{n} - 1`, all of them are
        enumerated instead (an exact test, as SciPy does).
    seed : int or None, default None
        Seed of the ``numpy.random.Generator`` that draws the re-splits (``None``:
        fresh entropy). The same seed gives the same splits and p-value.
    alternative : {"greater", "less", "two-sided"}, default "greater"
        Which tail of the null distribution counts as evidence.
    **options
        The chosen statistic's options (listed above); ``"energy"`` and ``"mmd"``
        also take ``device``: ``"auto"`` (CUDA where available, the default),
        ``"cpu"``, ``"cuda"`` or a ``torch.device``. An option the statistic does
        not take is an error.

    Returns
    -------
    TwoSampleResult
        ``statistic`` (:math:`T_0`), ``pvalue``, ``permutations`` (``B`` used),
        ``null`` (the ``B`` values :math:`T_b`; summarised by ``null_mean``,
        ``null_std`` and ``null_quantile``), ``method``, ``alternative`` and
        ``exact``. Values are Python floats whatever the inputs' kind.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, sets of different dimension, an unknown
        ``statistic``, ``alternative`` or option, ``permutations`` below 1, a
        negative ``seed``, ``unbiased`` with a set of one sample, the exact
        Wasserstein statistic beyond :data:`MAX_EXACT_POINTS` points, or a
        callable that returns NaN.
    TypeError
        If an input is not an array of real numbers, ``permutations`` or ``seed``
        not an integer, ``statistic`` neither a name nor a callable, or a
        callable's value not a real number.

    Notes
    -----
    **Why (1 + k) / (1 + B).** Under :math:`P = Q` the pooled sample is
    exchangeable, so :math:`T_0` is as likely to hold any rank among
    :math:`T_0, \dots, T_B`; the count includes :math:`T_0` itself, and
    :math:`P(p \le \alpha) \le \alpha` holds exactly for every ``B``, and ``p``
    is never 0. The ``k/B`` of some libraries is anti-conservative and can be 0.

    **Ties.** :math:`T_0` is the first column of the same computation as the null
    statistics, and a null statistic within a rounding tolerance of :math:`T_0`
    (16 ε N times the mean :math:`|k|` for energy and MMD, :math:`10^{-12}
    |T_0|` for the others) counts as a tie, on the side of ``>=``: the same split
    computed in another column, or with the sets swapped, must not fall below
    :math:`T_0` by a rounding error. Ties make the test conservative, never
    invalid.

    **Bandwidth.** MMD's median bandwidth is computed once, from the pooled
    sample, which every split shares: the statistic is then the same function
    for every split, as exchangeability needs. A bandwidth computed from each
    split's own ``x`` and ``y`` would change with the split, and the test would
    no longer be exact.

    **Energy and MMD in batches.** For a batch of splits, with ``L`` the
    ``(N, b)`` 0/1 matrix of first-set membership and ``K`` the kernel matrix of
    the pooled sample, the quadratic forms ``diag(L' K L)`` come from blocks of
    rows, ``sum over rows of L[rows] * (K[rows, :] @ L)``, over the upper triangle
    of ``K`` (it is symmetric), and the rest of each statistic from ``K``'s row
    sums and diagonal, which do not depend on the split. ``K`` is never held
    whole: the memory is one block of rows plus ``L``, whose batches hold at most
    :math:`2^{24}` entries (each batch sweeps ``K`` once). The arithmetic is
    torch float64, on ``device``. The observed statistic is that of the first
    column.

    References
    ----------
    Phipson, B. and Smyth, G. K. (2010). Permutation p-values should never be
    zero. *Statistical Applications in Genetics and Molecular Biology* 9(1).

    Examples
    --------
    >>> import numpy as np
    >>> from divergences.two_sample import two_sample_test
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + 1.0
    >>> result = two_sample_test(x, y, permutations=99, seed=0)
    >>> result.pvalue  # no split is as far apart as the given one: 1 / (1 + 99)
    0.01
    >>> two_sample_test([0.0, 1.0], [2.0, 3.0], permutations=999).exact  # 6 splits
    True
    """
    if callable(statistic):
        method = "callable"
        if options:
            raise ArgumentError(
                "options",
                f"are not taken by a callable statistic; got {', '.join(sorted(options))}",
            )
    elif isinstance(statistic, str):
        method = check_option(statistic, "statistic", STATISTICS)
        unknown = sorted(set(options) - set(STATISTICS[method]))
        if unknown:
            listing = ", ".join(STATISTICS[method])
            raise ArgumentError(
                "options",
                f"for statistic={method!r} must be among {listing}; got {', '.join(unknown)}",
            )
    else:
        names = ", ".join(repr(name) for name in STATISTICS)
        raise ArgumentTypeError(
            "statistic", f"must be one of {names} or a callable; got {statistic!r}"
        )
    permutations = check_count(permutations, "permutations", minimum=1)
    seed = check_seed(seed)
    alternative = check_option(alternative, "alternative", ALTERNATIVES)
    backend = precise(backend_for(x=x, y=y))
    samples_x = backend.to_numpy(as_samples(x, "x", backend))
    samples_y = backend.to_numpy(as_samples(y, "y", backend))
    (n, d), (m, d_y) = samples_x.shape, samples_y.shape
    if d != d_y:
        raise ValueError(f"x and y must have the same dimension d; got d = {d} and d = {d_y}")
    if method == "wasserstein" and d > 1 and n + m > MAX_EXACT_POINTS:
        raise ArgumentError(
            "statistic",
            f"'wasserstein' solves one exact linear program per split, refused above "
            f"{MAX_EXACT_POINTS} pooled points in d > 1; got {n} + {m}: use "
            "statistic='sliced' or 'energy', which scale to large samples",
        )
    pooled = np.concatenate([samples_x, samples_y])
    count = n + m
    if method in ("energy", "mmd"):
        splits, used, exact = _splits(count, n, permutations, seed, max(1, _LABEL_VALUES // count))
        observed, null, tolerance = _kernel_null(pooled, n, splits, method, options)
    elif method == "sinkhorn":
        from divergences.sinkhorn import split_divergences

        splits, used, exact = _splits(count, n, permutations, seed, 1024)
        statistics = np.concatenate(
            [split_divergences(pooled, masks, **options) for masks in splits]
        )
        # the looped statistics' tolerance: the same values, to the last bit
        observed, null, tolerance = float(statistics[0]), statistics[1:], 1e-12 * statistics[0]
    else:
        function = statistic if callable(statistic) else _named_function(method, options)
        splits, used, exact = _splits(count, n, permutations, seed, 1024)
        observed, null, tolerance = _looped_null(pooled, splits, function)
    null.setflags(write=False)
    return TwoSampleResult(
        statistic=observed,
        pvalue=_pvalue(observed, null, tolerance, alternative),
        permutations=used,
        null=null,
        method=method,
        alternative=alternative,
        exact=exact,
    )
