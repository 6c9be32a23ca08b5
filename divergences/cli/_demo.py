"""``divergences demo``: KL, JS and W of the disjoint-segments example, from histograms.

The table that shows why JS gives a generator nothing to follow: histograms of samples
of P = (0, U[0,1]) and Q_theta = (theta, U[0,1]), next to the closed forms.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any

from divergences.cli._format import _number, _theta_text
from divergences.cli._messages import InputError
from divergences.cli._options import _EXIT_STATUS, _finite, _HelpFormatter, _integer, _positive
from divergences.closed_form import segments
from divergences.experiments.histograms import MAX_BINS, segment_histograms
from divergences.families import segment_samples
from divergences.information import js, kl

__all__ = ["MAX_DEMO_SAMPLES", "demo_table"]

_DEFAULT_THETAS = (-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0)

#: The most samples ``divergences demo`` draws per distribution, about 1 GB at the peak;
#: a larger ``--samples`` is refused before anything is allocated.
MAX_DEMO_SAMPLES = 10_000_000

# The demo's histograms have this many bins in y (and MAX_BINS in all at most).
_DEMO_Y_BINS = 10


def demo_table(
    thetas: Sequence[float], *, n: int = 10_000, bin_width: float = 0.25, seed: int = 0
) -> str:
    """The demo's table as text: one row per theta.

    KL and JS of histograms of ``n`` samples of P = (0, U[0,1]) and of
    Q_theta = (theta, U[0,1]) (x bins ``bin_width`` wide centred on its
    multiples, samples shared linearly between the two nearest, ten y bins),
    next to the closed forms and the exact W1 = |theta|.

    Parameters
    ----------
    thetas : sequence of float
        The offsets of Q_theta, one row each.
    n : int, default 10000
        Samples per distribution.
    bin_width : float, default 0.25
        The histograms' bin width in x.
    seed : int, default 0
        Seeds P's samples (Q's use ``seed + 1``).

    Returns
    -------
    str
        A header line, the column names, and one line per theta.

    Raises
    ------
    ValueError
        If a theta is NaN or inf, ``n`` is not positive, or the histogram
        grid would exceed :data:`~divergences.experiments.histograms.MAX_BINS`
        bins (a tiny ``bin_width`` or a huge theta).

    Examples
    --------
    >>> print(demo_table([0.0, 1.0], n=1000))  # doctest: +NORMALIZE_WHITESPACE
    P = (0, U[0,1]), Q_theta = (theta, U[0,1]); 1000 samples each; histogram bins 0.25 wide in x
     theta   KL hist  KL exact   JS hist  JS exact   W exact
      0.00    0.0104    0.0000    0.0027    0.0000    0.0000
      1.00       inf       inf    0.6931    0.6931    1.0000
    """
    lines = [
        f"P = (0, U[0,1]), Q_theta = (theta, U[0,1]); {n} samples each; "
        f"histogram bins {bin_width:g} wide in x",
        f"{'theta':>6}{'KL hist':>10}{'KL exact':>10}{'JS hist':>10}{'JS exact':>10}"
        f"{'W exact':>10}",
    ]
    for theta in thetas:
        hist_p, hist_q = segment_histograms(
            segment_samples(0.0, n, seed=seed),
            segment_samples(theta, n, seed=seed + 1),
            bin_width=bin_width,
            y_bins=_DEMO_Y_BINS,
        )
        row = (
            kl(hist_p, hist_q),
            segments(theta, measure="kl").value,
            js(hist_p, hist_q),
            segments(theta, measure="js").value,
            segments(theta, measure="wasserstein").value,
        )
        numbers = "".join(f"{_number(float(value), 1e-4):>10s}" for value in row)
        lines.append(_theta_text(theta) + numbers)
    return "\n".join(lines)


def _demo_bins(theta: float, bin_width: float) -> float:
    """How many bins :func:`segment_histograms` needs for P at 0 and Q at ``theta``."""
    # in floating point, so that a huge ratio gives a huge count (or inf), not an overflow
    ratio = abs(theta) / bin_width
    if not math.isfinite(ratio):
        return math.inf
    try:
        return float(_DEMO_Y_BINS * (2 * (math.ceil(ratio) + 1) + 1))
    except OverflowError:  # more bins than a float can count
        return math.inf


def _check_demo_grid(thetas: Sequence[float], bin_width: float) -> None:
    """Refuse a grid of more than MAX_BINS bins before any sample is drawn."""
    reach = max(abs(theta) for theta in thetas)
    needed = _demo_bins(reach, bin_width)
    if needed <= MAX_BINS:
        return
    # the smallest width whose grid fits: ceil(reach / width) <= MAX_BINS / y_bins / 2 - 3 / 2
    most_steps = (MAX_BINS // _DEMO_Y_BINS - 3) // 2
    smallest = reach / most_steps
    suggestion = float(f"{smallest:.2g}")
    while _demo_bins(reach, suggestion) > MAX_BINS:  # rounding to 2 digits may go below
        suggestion = float(f"{suggestion * 1.05:.2g}")
    raise InputError(
        f"--bin-width {bin_width:g} with a theta of {reach:g} needs {needed:.3g} histogram "
        f"bins, more than the {MAX_BINS} allowed; choose --bin-width {suggestion:g} or more, "
        "or smaller --thetas"
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the subcommand to ``subparsers`` (of :class:`_Parser`); returns its parser."""
    parser = subparsers.add_parser(
        "demo",
        help="KL, JS and W on the disjoint-segments example at a few theta",
        description="Print KL and JS of P = (0, U[0,1]) and Q_theta = (theta, U[0,1]) from "
        "histograms of samples and in closed form, with the closed-form Wasserstein "
        "distance |theta|.",
        epilog="example:\n  divergences demo --thetas -1 0 0.1 1 --samples 5000\n\n"
        + _EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--thetas",
        type=_finite,
        nargs="+",
        default=list(_DEFAULT_THETAS),
        metavar="THETA",
        help="offsets of Q_theta (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=_integer(1, MAX_DEMO_SAMPLES, " (about 1 GB of memory)"),
        default=10_000,
        help=f"samples per distribution, at most {MAX_DEMO_SAMPLES} (default: %(default)s)",
    )
    parser.add_argument(
        "--bin-width",
        type=_positive,
        default=0.25,
        help=f"histogram bin width in x; the grid may have at most {MAX_BINS} bins "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=_integer(0), default=0, help="random seed (default: %(default)s)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the demo's table; returns the exit status."""
    _check_demo_grid(args.thetas, args.bin_width)
    print(demo_table(args.thetas, n=args.samples, bin_width=args.bin_width, seed=args.seed))
    return 0
