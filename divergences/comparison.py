"""Every measure that applies to two sample sets, each with a note on what it estimates.

:func:`compare` is the policy behind ``divergences compare``: which estimators
run on two samples P and Q, on which rows (a seeded subsample where a measure
would not fit, said in its note), and what each value estimates and how it is
biased. It returns :class:`Comparison` rows that the command line prints as a
table or as JSON, and that a notebook can use as they are.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from divergences import knn
from divergences._backend import exponent_above, is_tensor, times_power_of_two
from divergences._validation import (
    ArgumentError,
    ArgumentTypeError,
    check_count,
    check_flag,
    check_same_dimension,
)

__all__ = [
    "ENERGY_ROWS",
    "MAPPED_SAMPLE_ROWS",
    "SINKHORN_ROWS",
    "SINKHORN_TEST_ROWS",
    "TEST_ROWS",
    "Comparison",
    "compare",
]

#: The most rows of a memory-mapped sample that :func:`compare` reads into memory
#: for a measure that needs the whole sample there (the sliced W1, and the k-NN estimators
#: as their ``max_samples``). A memory-mapped sample with more rows is represented by this
#: many rows drawn without replacement with the seed (:func:`compare` says which rows,
#: and each such row's note says so).
MAPPED_SAMPLE_ROWS = 1 << 16

#: The most rows a side that the Sinkhorn and energy rows of :func:`compare` use:
#: both cost O(n m) (GeomLoss's Sinkhorn also holds the (n + m)^2 cost tables, 200 MB at
#: 1000 rows a side); larger samples are represented by a seeded subsample, said in the note.
SINKHORN_ROWS = 1000
ENERGY_ROWS = 10_000

#: The most rows a side of the permutation tests behind ``compare(test=True)``'s
#: p-values: each test computes its measure once per re-split, so a seeded subsample of
#: this many rows keeps every test within seconds; the note says when one was used.
TEST_ROWS = 500
#: The Sinkhorn row's test: its solver (eps-scaling 0.95) is the slowest statistic.
SINKHORN_TEST_ROWS = 200

# What each row of compare() estimates and how it errs; the fields in braces are
# filled in per call. The notes name the options of ``divergences compare`` (--k,
# --seed, --neural), which are compare()'s keywords of the same names.
_NOTES = {
    "W1 exact": "the exact W1 between the two samples ({how}). It estimates W1(P, Q) but "
    "is biased upward by the sampling (it matches noise with noise), by about {rate} for "
    "n the smaller sample size{floor}",
    "W1 within P": "the exact W1 between two disjoint random parts of P ({sizes} points): "
    "what two samples of one law give at about these sizes. W1 exact near this value is "
    "sampling bias, not a difference between P and Q",
    "Sliced W1": "the sliced W1: the mean over 200 random directions of the 1-D W1 between "
    "the projected samples. A different metric, smaller than W1 (equal in d = 1): not an "
    "estimate of W1. Biased upward by the sampling too, by about n^(-1/2)",
    "Sinkhorn divergence": "the debiased Sinkhorn divergence (GeomLoss's solver) with the "
    "cost |x - y| and blur {blur:.3g} (5% of the pooled samples' RMS spread): near W1 when "
    "the blur is small against the distances that matter, an MMD when it is large; biased "
    "upward by the sampling like W1 exact",
    "Energy distance": "the energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (in the samples' "
    "units; the square of SciPy's energy_distance in d = 1): zero only for P = Q, its "
    "gradient never vanishes; biased upward by the sampling by about 1/n",
    "KL(P||Q) k-NN": "estimates KL(P||Q) in nats from each point of P's distance to its "
    "{k} nearest neighbour (--k) in P and in Q, with a fitted Gaussian as reference. "
    "Consistent where the densities overlap; biased for few samples or many dimensions; "
    "clipped at 0, so a 0 may hide a negative sampling error",
    "KL(Q||P) k-NN": "estimates KL(Q||P) in nats, as the row above with P and Q swapped",
    "JS k-NN": "estimates JS(P, Q) in nats, in [0, log 2], from each point's distance to "
    "its {k} nearest neighbour (--k) in its own sample and in the pooled samples. Biased "
    "for few samples or many dimensions",
    "W1 neural critic": "estimates W1(P, Q) by Kantorovich-Rubinstein duality: a potential "
    "that is 1-Lipschitz by construction (cones or a ridge, fitted beside a WGAN-GP critic) "
    "evaluated on a held-out 20% of each sample. The interval's lower end is a certified "
    "97.5% lower bound of W1 for any data; its upper end is the exact W1 of the held-out "
    "samples, whose expectation is above W1 (far above in many dimensions)",
    "JS discriminator": "a lower bound of JS(P, Q) in nats: the GAN discriminator's "
    "variational bound on a held-out 20% of each sample, reached only by an optimal "
    "discriminator",
}


@dataclass(frozen=True)
class Comparison:
    """One measure of :func:`compare`: its value, or why there is none, and what it means.

    Attributes
    ----------
    measure : str
        The measure's name (``"W1 exact"``, ``"JS k-NN"``, ...).
    value : float or None
        A finite value, or None where it could not be computed.
    interval : (float, float) or None
        A 95% interval (the neural estimators'), or None.
    note : str
        What the value estimates, its known bias, the rows it was computed
        from where a subsample was used, and any warning the library gave.
    error : str or None
        None, or why ``value`` is None, in the words of the rows (P and Q).
    pvalue : float or None
        With ``compare(test=True)``, the p-value of a permutation test of
        :math:`P = Q` with this measure as its statistic (the note says on which
        rows); None without a test, for a reference row, or where the test failed
        (the note says why).
    """

    measure: str
    value: float | None
    interval: tuple[float, float] | None
    note: str
    error: str | None
    pvalue: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as plain JSON data: ``interval`` a list of two floats, or None."""
        return {
            "measure": self.measure,
            "value": self.value,
            "interval": None if self.interval is None else list(self.interval),
            "pvalue": self.pvalue,
            "note": self.note,
            "error": self.error,
        }


def _reason(error: BaseException) -> str:
    """An exception's message on one line, without ``[Errno 17]``-style prefixes."""
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror[0].lower()}{error.strerror[1:]}"
    text = " ".join(str(error).split())
    if not text:
        return type(error).__name__
    # torch's C++ errors append a stack dump; the first sentence says what happened
    return text if len(text) <= 400 else text[:400] + " ..."


# The library's names of the two samples, x and y, in the order of a call f(P, Q);
# f(Q, P) swaps them.
_IN_ORDER = {"x": "P", "y": "Q"}
_SWAPPED = {"x": "Q", "y": "P"}


def _described(error: BaseException, names: Mapping[str, str]) -> str:
    """A library error in the words of the caller: ``names`` maps ``x`` to ``"P"``.

    The errors of :mod:`divergences._validation` carry the arguments they are about as
    data (``ArgumentError`` and ``ArgumentTypeError`` one, ``ArgumentsError`` several),
    so they are put in those words from that data; any other message is kept as it
    is. An exception that no check raises on purpose is marked as a bug.
    """
    from divergences._validation import ArgumentError, ArgumentsError, ArgumentTypeError
    from divergences.transport import SolverError

    if isinstance(error, (ArgumentError, ArgumentTypeError)) and error.argument in names:
        text = " ".join(f"{names[error.argument]} {error.detail}".split())
    elif isinstance(error, ArgumentsError):
        text = " ".join(error.in_words(names).split())
    else:
        text = _reason(error)
    expected = (ValueError, TypeError, ArithmeticError, MemoryError, OSError, SolverError)
    if not isinstance(error, expected):
        text = f"unexpected {type(error).__name__} (a bug; please report it): {text}"
    return text


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _bias_rate(d: int) -> str:
    if d == 1:
        return "n^(-1/2)"
    if d == 2:
        return "(log(n) / n)^(1/2)"
    return f"n^(-1/{d})"


def _reference_split(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random parts of P's n rows, sized like the comparison where P allows.

    Q's size m and the rest of P when m is at most half of n (the W1 of
    n - m against m points is what one law gives at nearly n against m);
    two halves otherwise.
    """
    order = np.random.default_rng(seed).permutation(n)
    size = m if m <= n // 2 else n // 2
    return order[size:], order[:size]


def _is_mapped(x: np.ndarray) -> bool:
    return isinstance(x, np.memmap)


def _subsample_index(n: int, size: int, seed: int, stream: int) -> np.ndarray:
    """``size`` of ``n`` row numbers drawn without replacement, in increasing order.

    ``numpy.random.default_rng([seed, stream]).choice(n, size, replace=False)``, sorted so
    that a memory map is read front to back; P is stream 0, Q stream 1. Its memory is
    O(size) where ``size`` is under 2% of ``n`` (NumPy then draws by Floyd's algorithm),
    O(n) otherwise, that is below 50 ``size`` integers.
    """
    chosen = np.random.default_rng([seed, stream]).choice(n, size, replace=False)
    chosen.sort()
    return chosen


def _in_memory(x: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """``x`` as float64 in memory: whole, or a subsample of a large memory map's rows."""
    if not _is_mapped(x):
        return x
    if x.shape[0] <= MAPPED_SAMPLE_ROWS:
        return np.array(x, dtype=np.float64)
    index = _subsample_index(x.shape[0], MAPPED_SAMPLE_ROWS, seed, stream)
    return np.array(x[index], dtype=np.float64)


def _at_most(x: np.ndarray, rows: int, seed: int, stream: int) -> np.ndarray:
    """``x`` as float64, or ``rows`` of its rows drawn as :func:`_subsample_index` says."""
    if x.shape[0] <= rows:
        return np.asarray(x, dtype=np.float64)
    return np.asarray(x[_subsample_index(x.shape[0], rows, seed, stream)], dtype=np.float64)


def _blur(p: np.ndarray, q: np.ndarray) -> float:
    """5% of the pooled samples' RMS spread (the critics' standardisation); 0 if they coincide.

    At a blur of 0 the Sinkhorn divergence is not defined; the standardisation gives
    coinciding points a spread of 1, which would hide that.
    """
    pooled = np.concatenate([p, q])
    if not (pooled != pooled[0]).any():
        return 0.0
    import torch

    from divergences.neural._networks import standardisation

    # scaled by a power of two first (exactly), so that samples near the float64 limit
    # do not overflow in the squares
    exponent = exponent_above(float(np.max(np.abs(pooled))))
    _, spread = standardisation(torch.from_numpy(times_power_of_two(pooled, -exponent)))
    return 0.05 * math.ldexp(float(spread), exponent)


def _rows_note(samples: dict[str, np.ndarray], rows: int, seed: int) -> str:
    """What a row computed on at most ``rows`` rows a side was given; "" if all of them."""
    parts = [
        f"{rows} of {name}'s {x.shape[0]} rows" for name, x in samples.items() if x.shape[0] > rows
    ]
    if not parts:
        return ""
    return (
        f". From a subsample: {' and '.join(parts)}, drawn without replacement with --seed {seed}"
    )


def _subsample_note(samples: dict[str, np.ndarray], seed: int) -> str:
    """What a row computed from :func:`_in_memory`'s samples was given; "" if all of them."""
    parts = [
        f"{MAPPED_SAMPLE_ROWS} of {name}'s {x.shape[0]} rows"
        for name, x in samples.items()
        if _is_mapped(x) and x.shape[0] > MAPPED_SAMPLE_ROWS
    ]
    if not parts:
        return ""
    return (
        f". From a subsample of the memory-mapped files: {' and '.join(parts)}, drawn "
        f"without replacement with --seed {seed} (numpy.random.default_rng([seed, 0]) for "
        "P, [seed, 1] for Q)"
    )


def _knn_note(samples: dict[str, np.ndarray], limit: int | None, seed: int) -> str:
    """What a k-NN row was given when a sample has more than ``limit`` rows; "" otherwise.

    The estimators' own rule (``max_samples``): one generator, the first sample's rows
    drawn first.
    """
    parts = [
        f"{limit} of {name}'s {x.shape[0]} rows"
        for name, x in samples.items()
        if limit is not None and x.shape[0] > limit
    ]
    if not parts:
        return ""
    first = next(iter(samples))
    return (
        f". From a subsample: {' and '.join(parts)}, drawn without replacement by the "
        f"estimator with --seed {seed} (numpy.random.default_rng(seed), {first}'s rows first)"
    )


def _neural_note(samples: dict[str, np.ndarray], seed: int) -> str:
    """What the neural estimators read of memory-mapped samples; "" if none is mapped."""
    from divergences.neural import TrainingOptions

    mapped = [name for name, x in samples.items() if _is_mapped(x)]
    if not mapped:
        return ""
    most = TrainingOptions().evaluation_size
    return (
        f". {' and '.join(mapped)} memory-mapped: training batches are read as drawn, and "
        f"the estimate uses at most {most} held-out rows a side, chosen by a hash of the "
        f"row number seeded with --seed {seed}"
    )


def _default_max_samples(estimator: Callable[..., Any]) -> int | None:
    """The ``max_samples`` that a k-NN estimator uses when none is given (None: no limit)."""
    try:
        parameter = inspect.signature(estimator).parameters.get("max_samples")
    except (TypeError, ValueError):  # a callable without a signature
        return None
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def _as_samples(value: Any, name: str) -> np.ndarray:
    """``value`` as (n, d) samples: a memory map as it is (read as needed), else float64
    (a tensor's values, detached and on the host)."""
    if is_tensor(value):
        value = value.detach().cpu().numpy()
    if not _is_mapped(value):
        try:
            value = np.asarray(value, dtype=np.float64)
        except ValueError as error:
            raise ArgumentError(name, f"must be a rectangular array of numbers: {error}") from None
        except TypeError as error:
            raise ArgumentTypeError(name, f"must be an array of real numbers: {error}") from None
    if value.ndim == 1:
        value = value.reshape(-1, 1)
    if value.ndim != 2:
        raise ValueError(
            f"{name} must be samples of shape (n, d) or (n,); got shape {value.shape}"
        )
    return value


def _row(
    measure: str,
    note: str,
    value: float | None = None,
    interval: tuple[float, float] | None = None,
    error: str | None = None,
    pvalue: float | None = None,
) -> Comparison:
    ends = None if interval is None else (float(interval[0]), float(interval[1]))
    return Comparison(measure, value, ends, note, error, pvalue)


def compare(
    x: Any,
    y: Any,
    *,
    neural: bool = False,
    steps: int = 2000,
    k: int = 5,
    seed: int = 0,
    device: str = "auto",
    test: bool = False,
    permutations: int = 199,
) -> tuple[Comparison, ...]:
    """Every measure that applies to samples ``x`` of P and ``y`` of Q, each with a note.

    The exact W1 (and, for d > 2, the exact W1 between two parts of P as a
    reference for its sampling bias), the sliced W1, the Sinkhorn divergence,
    the energy distance, the k-NN KL in both directions and JS, and with
    ``neural`` the critic's W1 and the discriminator's JS. Each row's note
    says what its value estimates and how it is biased; the rows are what
    ``divergences compare`` prints.

    A :class:`numpy.memmap` (what the command line reads a large ``.npy``
    file into) is never read whole unless a measure needs every row: the
    exact W1 is refused from the shapes when its problem would not fit in
    memory (in one dimension, when the sorted copies would not); the sliced
    W1 gets at most :data:`MAPPED_SAMPLE_ROWS` rows of each memory-mapped
    sample (rows ``numpy.random.default_rng([seed, i]).choice(n,
    MAPPED_SAMPLE_ROWS, replace=False)``, ``i = 0`` for P and 1 for Q), and
    the k-NN estimators are called with ``max_samples=MAPPED_SAMPLE_ROWS``
    (their own seeded draw, which reads only the rows drawn); each such row's
    note says how many rows and which seed. The neural estimators read their
    training batches and held-out rows from the map as they need them. The
    k-NN estimators keep their default ``max_samples`` for samples in
    memory, and their notes say so where it applies. The Sinkhorn and energy
    rows use at most :data:`SINKHORN_ROWS` and :data:`ENERGY_ROWS` rows a side
    (drawn the same way), as their cost is quadratic.

    A measure that fails does not end the comparison: its row gets ``value``
    None and the reason in ``error`` (a value of NaN or inf is such a
    failure; an interval with a NaN or infinite end is dropped and the note
    says so). A warning of the library goes into its row's note.

    Parameters
    ----------
    x, y : (n, d) and (m, d) array-like or numpy.memmap
        Samples of P and Q; a 1-D array is ``n`` samples in ``d = 1``.
    neural : bool, default False
        Also train the neural critic and discriminator.
    steps : int, default 2000
        Their training steps.
    k : int, default 5
        The neighbour of the k-NN estimators.
    seed : int, default 0
        Seed of every random choice (projections, splits, subsamples, training).
    device : str, default "auto"
        Where the networks train.
    test : bool, default False
        Also give each measure's row a p-value: a permutation test of
        :math:`P = Q` (:func:`~divergences.two_sample_test`) with the measure as
        its statistic, on at most :data:`TEST_ROWS` rows a side
        (:data:`SINKHORN_TEST_ROWS` for the Sinkhorn divergence); the neural
        critic's row gets the test of its held-out scores
        (:attr:`~divergences.DualResult.pvalue`). The reference row
        (W1 within P) and the discriminator's have none.
    permutations : int, default 199
        Re-splits of each test (p-values are multiples of ``1 / (1 + permutations)``).

    Returns
    -------
    tuple of Comparison
        One row per measure, in the order above.

    Raises
    ------
    ValueError
        If ``x`` or ``y`` is not 1-D or 2-D, or they differ in dimension.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> rows = dv.compare(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + [1.0, 0.0])
    >>> [row.measure for row in rows]  # doctest: +NORMALIZE_WHITESPACE
    ['W1 exact', 'Sliced W1', 'Sinkhorn divergence', 'Energy distance',
     'KL(P||Q) k-NN', 'KL(Q||P) k-NN', 'JS k-NN']
    >>> 0.8 < rows[0].value < 1.2
    True
    >>> rows = dv.compare(rng.normal(size=(300, 3)), rng.normal(size=(100, 3)))
    >>> print(rows[1].measure, "-", rows[1].note)  # doctest: +ELLIPSIS
    W1 within P - the exact W1 between two disjoint random parts of P (200 and 100 points): ...
    """
    from divergences.transport import ProblemTooLargeError, sliced_wasserstein, wasserstein
    from divergences.two_sample import two_sample_test

    p, q = _as_samples(x, "x"), _as_samples(y, "y")
    check_same_dimension(p, q)
    test = check_flag(test, "test")
    neural = check_flag(neural, "neural")
    permutations = check_count(permutations, "permutations")
    seed = check_count(seed, "seed", minimum=0)
    k = check_count(k, "k")
    if neural:  # checked before anything runs, not once per row
        from divergences.neural.options import TrainingOptions

        TrainingOptions.build(None, steps=steps, seed=seed, device=device)
    d = p.shape[1]
    rows: list[Comparison] = []

    subsamples: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def permutation(
        statistic: str, swap: bool = False, rows: int = TEST_ROWS, **options: Any
    ) -> Callable[[], Any]:
        """The p-value of the test with ``statistic`` on at most ``rows`` rows a side."""

        def pvalue() -> tuple[float, str]:
            # the tests' subsample, drawn (and a memory map read) once per size: streams 2
            # and 3, apart from the measures' own draws
            if rows not in subsamples:
                subsamples[rows] = (_at_most(p, rows, seed, 2), _at_most(q, rows, seed, 3))
            a, b = subsamples[rows]
            if swap:
                a, b = b, a
            result = two_sample_test(
                a, b, statistic=statistic, permutations=permutations, seed=seed, **options
            )
            where = _rows_note({"P": p, "Q": q}, rows, seed).removeprefix(". From a subsample: ")
            return result.pvalue, f"{result.permutations} re-splits" + (
                f" of {where}" if where else ""
            )

        return pvalue

    def add(
        measure: str,
        compute: Callable[[], Any],
        *,
        names: Mapping[str, str] = _IN_ORDER,
        subsample: str = "",
        tested: Callable[[], Any] | None = None,
        **fill: Any,
    ) -> bool:
        note = _NOTES[measure].format(k=_ordinal(k), **fill) + subsample
        try:
            with warnings.catch_warnings(record=True) as caught:
                # a library warning belongs to its row, not to stderr above the table
                warnings.simplefilter("always")
                value = compute()
        except ProblemTooLargeError:
            rows.append(
                _row(
                    measure,
                    note,
                    error="too large for the exact solver in this memory; --neural estimates W1",
                )
            )
            return False
        except Exception as error:  # one row's failure must not end the table
            rows.append(_row(measure, note, error=_described(error, names)))
            return False
        value, interval = value if isinstance(value, tuple) else (value, None)
        value = float(value)
        if not math.isfinite(value):
            rows.append(
                _row(measure, note, error=f"the estimator returned {value}, not an estimate")
            )
            return False
        if interval is not None and not all(math.isfinite(float(end)) for end in interval):
            note += f" (no interval: its ends came out as {interval[0]}, {interval[1]})"
            interval = None
        for message in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
            note += f". Warning: {message}"
        pvalue = None
        if test and tested is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the measure's own warnings are noted
                    pvalue, how = tested()
                note += f". p-value: a permutation test of P = Q with this statistic, {how}"
            except Exception as error:  # a failed test leaves the value standing
                note += f". No p-value: {_described(error, names)}"
        rows.append(_row(measure, note, value, interval, pvalue=pvalue))
        return True

    floor = "; compare it with W1 within P below" if d > 2 else ""
    how = "from the sorted values" if d == 1 else "POT's network simplex"
    exact = add(
        "W1 exact",
        lambda: wasserstein(p, q),
        tested=permutation("wasserstein"),
        how=how,
        rate=_bias_rate(d),
        floor=floor,
    )
    if exact and d > 2:
        first, second = _reference_split(p.shape[0], q.shape[0], seed)
        add(
            "W1 within P",
            lambda: wasserstein(p[first], p[second]),
            sizes=f"{len(first)} and {len(second)}",
        )
    # The sliced W1 holds both samples in memory: at most MAPPED_SAMPLE_ROWS rows of a map.
    add(
        "Sliced W1",
        lambda: sliced_wasserstein(_in_memory(p, seed, 0), _in_memory(q, seed, 1), seed=seed),
        subsample=_subsample_note({"P": p, "Q": q}, seed),
        tested=permutation("sliced", projection_seed=seed),
    )
    # Quadratic in the sample sizes: a seeded subsample beyond these many rows a side.
    energy_p, energy_q = _at_most(p, ENERGY_ROWS, seed, 0), _at_most(q, ENERGY_ROWS, seed, 1)
    blur = _blur(energy_p, energy_q)
    sinkhorn_p, sinkhorn_q = (
        _at_most(p, SINKHORN_ROWS, seed, 0),
        _at_most(q, SINKHORN_ROWS, seed, 1),
    )
    if not (math.isfinite(blur) and blur > 0):

        def no_blur() -> float:
            reason = "every sample is one point" if blur == 0 else "their spread is not finite"
            raise ValueError(f"{reason}: the blur, 5% of the pooled spread, would be {blur}")

        add("Sinkhorn divergence", no_blur, blur=0.0)
    else:
        from divergences.sinkhorn import sinkhorn_divergence

        add(
            "Sinkhorn divergence",
            lambda: sinkhorn_divergence(sinkhorn_p, sinkhorn_q, blur=blur),
            tested=permutation("sinkhorn", rows=SINKHORN_TEST_ROWS, blur=blur),
            blur=blur,
            subsample=_rows_note({"P": p, "Q": q}, SINKHORN_ROWS, seed),
        )
    from divergences.energy import energy_distance

    add(
        "Energy distance",
        lambda: energy_distance(energy_p, energy_q),
        subsample=_rows_note({"P": p, "Q": q}, ENERGY_ROWS, seed),
        tested=permutation("energy", device="cpu"),
    )
    # The k-NN estimators draw their own subsample beyond max_samples rows, reading only
    # those rows of a memory map. Looked up at the call, as the estimators are.
    kl_knn, js_knn = knn.kl_knn, knn.js_knn
    options: dict[str, Any] = {"k": k, "seed": seed}
    if _is_mapped(p) or _is_mapped(q):
        options["max_samples"] = MAPPED_SAMPLE_ROWS
    limit = options.get("max_samples", _default_max_samples(kl_knn))
    p_first = _knn_note({"P": p, "Q": q}, limit, seed)
    add(
        "KL(P||Q) k-NN",
        lambda: kl_knn(p, q, **options),
        subsample=p_first,
        tested=permutation("kl_knn", k=k),
    )
    add(
        "KL(Q||P) k-NN",
        lambda: kl_knn(q, p, **options),
        names=_SWAPPED,
        subsample=_knn_note({"Q": q, "P": p}, limit, seed),
        tested=permutation("kl_knn", swap=True, k=k),
    )
    add(
        "JS k-NN",
        lambda: js_knn(p, q, **options),
        subsample=p_first,
        tested=permutation("js_knn", k=k),
    )
    if neural:
        from divergences.neural import js_dual, wasserstein_dual

        training: dict[str, Any] = {"steps": steps, "seed": seed, "device": device}

        held_out: dict[str, float] = {}

        def critic() -> tuple[float, tuple[float, float]]:
            result = wasserstein_dual(p, q, **training)
            if test:
                held_out["pvalue"] = result.pvalue
            return result.distance, result.interval

        def discriminator() -> tuple[float, tuple[float, float]]:
            result = js_dual(p, q, **training)
            return result.divergence, result.interval

        mapped = _neural_note({"P": p, "Q": q}, seed)
        add(
            "W1 neural critic",
            critic,
            subsample=mapped,
            tested=lambda: (held_out["pvalue"], "999 re-splits of the held-out scores"),
        )
        add("JS discriminator", discriminator, subsample=mapped)
    return tuple(rows)
