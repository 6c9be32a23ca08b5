"""``divergences compare P Q``: the rows of :func:`divergences.compare` for two sample files.

The measurement policy (which measures, on which rows, with which notes) is the
library's; this module reads the files, checks what the library would only find out
late (the dimensions, whether ``--k`` fits the samples, the device), and prints the rows
as a table or as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from divergences.cli._files import MAPPED_BYTES, _blocks, load_samples
from divergences.cli._format import _format_table
from divergences.cli._messages import InputError, _option_words
from divergences.cli._options import (
    _device,
    _HelpFormatter,
    _integer,
    _resolve_device,
)
from divergences.comparison import MAPPED_SAMPLE_ROWS, TEST_ROWS, _is_mapped

__all__ = ["compare"]


# A bound far above any useful run, and below the step counts near 2^63 that overflow
# in torch.
_MAX_STEPS = 10_000_000


def compare(
    p: np.ndarray,
    q: np.ndarray,
    *,
    neural: bool = False,
    steps: int = 2000,
    k: int = 5,
    seed: int = 0,
    device: str = "auto",
    test: bool = False,
    permutations: int = 199,
) -> list[dict[str, Any]]:
    """The rows of :func:`divergences.compare` as the command prints them with ``--json``.

    Parameters
    ----------
    p, q : (n, d) and (m, d) numpy.ndarray
        The samples of P and Q.
    neural, steps, k, seed, device, test, permutations
        As for :func:`divergences.compare`.

    Returns
    -------
    list of dict
        Per measure, ``measure``, ``value``, ``interval`` (two floats, or
        None), ``pvalue`` (a float with ``test``, or None), ``note`` and
        ``error`` (None, or the error in the command's words: ``--k 5``, not
        ``k=5``).

    Raises
    ------
    InputError
        If P and Q differ in dimension.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rows = compare(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + [1.0, 0.0])
    >>> rows[0]["measure"], rows[0]["error"]
    ('W1 exact', None)
    """
    from divergences.comparison import compare as measure

    if p.shape[1] != q.shape[1]:
        raise InputError(
            f"P and Q must have the same dimension d; got d = {p.shape[1]} and d = {q.shape[1]}"
        )
    rows = measure(
        p,
        q,
        neural=neural,
        steps=steps,
        k=k,
        seed=seed,
        device=device,
        test=test,
        permutations=permutations,
    )
    return [
        row.as_dict() | {"error": None if row.error is None else _option_words(row.error)}
        for row in rows
    ]


def _check_k(samples: dict[str, np.ndarray], k: int) -> None:
    """Refuse a --k above the distinct points of a sample less one, naming the largest."""
    counts = {name: _distinct_rows(x, k + 1) for name, x in samples.items()}
    name, distinct = min(counts.items(), key=lambda item: item[1])
    if distinct >= k + 1:
        return
    rows = samples[name].shape[0]
    have = f"{name} has {distinct}" + (f" (of {rows} samples)" if distinct < rows else "")
    if distinct < 2:  # one statement of the need: no --k would do
        raise InputError(
            "the k-NN estimators need at least 2 distinct points in each of P and Q (each "
            f"point's nearest neighbour among the others, --k 1); {have}, so no --k works"
        )
    raise InputError(
        f"--k {k} needs at least {k + 1} distinct points in each of P and Q (each point's "
        f"k-th nearest neighbour among the others); {have}: choose --k {distinct - 1} or less"
    )


def _distinct_rows(x: np.ndarray, enough: int) -> int:
    """How many distinct rows ``x`` has; for a memory map, counting stops at ``enough``."""
    if not _is_mapped(x):
        return len(np.unique(x, axis=0))
    seen = np.empty((0, x.shape[1]), dtype=x.dtype)
    for _, block in _blocks(x):
        seen = np.unique(np.concatenate([seen, np.unique(block, axis=0)]), axis=0)
        if len(seen) >= enough:
            break
    return len(seen)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the subcommand to ``subparsers`` (of :class:`_Parser`); returns its parser."""
    parser = subparsers.add_parser(
        "compare",
        help="every applicable divergence between two sample files",
        description="Read two sample files of shape (n, d) or (n,) and print the exact "
        "Wasserstein-1 distance, the sliced W1 (a different, smaller metric), the k-NN KL in "
        "both directions and JS, and with --neural the neural critic's W1 and the GAN "
        "discriminator's JS with 95% intervals; with --test a p-value for each (a "
        "permutation test of P = Q with that measure as its statistic). A note under the "
        "table says what each number "
        "estimates and how it is biased; for d > 2 a row gives the exact W1 between two parts "
        "of P, the value that two samples of one law give.\n\n"
        "Files: .npy holding real numbers (floating or integer), or text (.csv, .txt, .tsv) "
        "with one sample per line, values separated by commas, semicolons, tabs or spaces, "
        "an optional header line, and # comments.\n\n"
        f"Files larger than memory: a .npy file of more than {MAPPED_BYTES >> 20} MiB is "
        "memory-mapped, not loaded. It is checked for NaN and inf a block of rows at a time; "
        "the exact W1 is refused from the sizes when it would not fit in memory; the sliced "
        f"W1 and the k-NN rows use {MAPPED_SAMPLE_ROWS} of its rows, drawn with --seed (their "
        "notes say so); --neural reads the rows it trains on as it needs them.",
        epilog="examples:\n  divergences compare p.npy q.npy\n"
        "  divergences compare data.csv model.csv --neural --steps 1000 --json\n"
        "  divergences compare before.csv after.csv --test\n\n"
        "exit status: 0 when every measure was computed; 1 when a file or option is "
        "unusable, or a measure could not be computed (the table still shows the others and "
        "their notes say why); 2 for a usage error.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("p", metavar="P", help="samples of P: .npy, or text (.csv, .txt, .tsv)")
    parser.add_argument("q", metavar="Q", help="samples of Q: .npy, or text (.csv, .txt, .tsv)")
    parser.add_argument(
        "--json", action="store_true", help="print JSON (strict: no NaN), not a table"
    )
    parser.add_argument(
        "--neural", action="store_true", help="also train the neural critic and discriminator"
    )
    parser.add_argument(
        "--test",
        action="store_true",
        help="also a p-value per measure: a permutation test of P = Q with the measure as "
        f"its statistic, on at most {TEST_ROWS} rows a side (the neural critic: its "
        "held-out scores); each test computes its measure once per re-split",
    )
    parser.add_argument(
        "--permutations",
        type=_integer(1, _MAX_STEPS),
        default=199,
        help="re-splits of each --test; p-values are multiples of 1 / (1 + this) "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=_integer(1, _MAX_STEPS),
        default=2000,
        help="training steps of each neural estimator (default: %(default)s)",
    )
    parser.add_argument(
        "--k",
        type=_integer(1),
        default=5,
        help="the k-NN estimators use each point's distance to its k-th nearest neighbour; "
        "each file needs at least k + 1 distinct points (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=_integer(0), default=0, help="random seed (default: %(default)s)"
    )
    parser.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="where the neural estimators train: auto (a GPU when there is one), cpu, cuda "
        "or cuda:N (default: %(default)s)",
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Read the two files and print their comparison; returns the exit status."""
    p = load_samples(args.p, "P")
    q = load_samples(args.q, "Q")
    if p.shape[1] != q.shape[1]:
        raise InputError(
            f"P and Q must have the same dimension d; got d = {p.shape[1]} ({args.p}) "
            f"and d = {q.shape[1]} ({args.q})"
        )
    _check_k({"P": p, "Q": q}, args.k)
    if args.neural:
        _resolve_device(args.device)
    rows = compare(
        p,
        q,
        neural=args.neural,
        steps=args.steps,
        k=args.k,
        seed=args.seed,
        device=args.device,
        test=args.test,
        permutations=args.permutations,
    )
    if args.json:
        payload = {
            "p": {"path": str(args.p), "n": p.shape[0], "d": p.shape[1]},
            "q": {"path": str(args.q), "n": q.shape[0], "d": q.shape[1]},
            "measures": rows,
        }
        # allow_nan=False: strict JSON; compare() has already turned NaN and inf into None
        print(json.dumps(payload, indent=1, allow_nan=False))
    else:
        header = (
            f"P: {args.p} ({p.shape[0]} samples), Q: {args.q} ({q.shape[0]} samples), "
            f"d = {p.shape[1]}"
        )
        print(_format_table(rows, header))
    failed = [row["measure"] for row in rows if row["error"] is not None]
    if failed:
        sys.stdout.flush()
        print(
            f"divergences compare: {len(failed)} of {len(rows)} measures could not be computed "
            f"({', '.join(failed)}); their notes say why",
            file=sys.stderr,
        )
        return 1
    return 0
