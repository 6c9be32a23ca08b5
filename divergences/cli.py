"""The ``divergences`` command.

``divergences demo`` prints KL and JS of the disjoint-segments example, from
histograms of samples and in closed form, next to the closed-form Wasserstein
distance: the table that shows why JS gives a generator nothing to follow.
``divergences gradients`` runs the headline benchmark (values and gradients of
every method over theta, training dynamics, the critic over the plane) into a
folder of JSON, CSV and figures. ``divergences compare P Q`` reads two sample
files and prints every measure that applies to them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from divergences.closed_form import segments
from divergences.experiments.histograms import segment_histograms
from divergences.families import segment_samples
from divergences.information import js, kl

__all__ = ["InputError", "compare", "load_samples", "main"]

_DEFAULT_THETAS = (-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0)


def demo_table(
    thetas: Sequence[float], *, n: int = 10_000, bin_width: float = 0.25, seed: int = 0
) -> str:
    """The demo's table as text: one row per theta.

    KL and JS of histograms of ``n`` samples of P and of Q_theta (x bins
    ``bin_width`` wide centred on its multiples, samples shared linearly
    between the two nearest, ten y bins), next to the closed forms.

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
        )
        row = (
            kl(hist_p, hist_q),
            segments(theta, measure="kl").value,
            js(hist_p, hist_q),
            segments(theta, measure="js").value,
            segments(theta, measure="wasserstein").value,
        )
        lines.append(f"{theta:6.2f}" + "".join(f"{value:10.4f}" for value in row))
    return "\n".join(lines)


class InputError(ValueError):
    """A sample file that cannot be used; the command prints it and exits with 1."""


def load_samples(path: str | Path, name: str) -> np.ndarray:
    """Samples from a ``.npy`` or ``.csv`` file as an (n, d) float array.

    CSV files are comma-separated, one sample per line; a first line that is
    not numeric (a header) is skipped. A 1-D array is ``n`` samples in
    ``d = 1``.

    Raises
    ------
    InputError
        If the file is missing or unreadable, of another type, not 1-D or
        2-D, empty, or holds NaN or inf; the message names ``name`` and the path.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{name}: no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data = np.load(path, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            try:
                data = np.loadtxt(path, delimiter=",", ndmin=2)
            except ValueError:
                data = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
        else:
            raise InputError(f"{name}: expected a .npy or .csv file; got {path}")
        data = np.asarray(data, dtype=float)
    except InputError:
        raise
    except (ValueError, OSError, TypeError) as error:
        raise InputError(f"{name}: cannot read {path} as numbers: {error}") from None
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    if data.ndim != 2:
        raise InputError(f"{name}: expected samples of shape (n, d) or (n,); got {data.shape}")
    if data.size == 0:
        raise InputError(f"{name}: {path} holds no samples")
    if not np.all(np.isfinite(data)):
        raise InputError(f"{name}: {path} holds NaN or inf")
    return data


def compare(
    p: np.ndarray,
    q: np.ndarray,
    *,
    neural: bool = False,
    steps: int = 2000,
    k: int = 5,
    seed: int = 0,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Every measure that applies to two sample sets, as rows for a table.

    Each row has ``measure``, ``value`` (None where it could not be computed),
    ``interval`` (a 95% interval or None) and ``note``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rows = compare(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + [1.0, 0.0])
    >>> [row["measure"] for row in rows]
    ['W1 exact', 'Sliced W1', 'KL(P||Q) k-NN', 'KL(Q||P) k-NN', 'JS k-NN']
    >>> 0.8 < rows[0]["value"] < 1.2
    True
    """
    from divergences.knn import js_knn, kl_knn
    from divergences.transport import ProblemTooLargeError, sliced_wasserstein, wasserstein

    if p.shape[1] != q.shape[1]:
        raise InputError(
            f"P and Q must have the same dimension d; got d = {p.shape[1]} and d = {q.shape[1]}"
        )
    rows: list[dict[str, Any]] = []

    def add(measure: str, compute: Callable[[], Any], note: str = "") -> None:
        try:
            value = compute()
        except ProblemTooLargeError:
            rows.append(
                _row(measure, None, None, "too large for the exact solver; --neural estimates W1")
            )
            return
        except ValueError as error:
            rows.append(_row(measure, None, None, str(error)))
            return
        if isinstance(value, tuple):
            rows.append(_row(measure, value[0], value[1], note))
        else:
            rows.append(_row(measure, float(value), None, note))

    add("W1 exact", lambda: wasserstein(p, q), "POT network simplex (sort-based in 1-D)")
    add(
        "Sliced W1",
        lambda: sliced_wasserstein(p, q, seed=seed),
        "a different metric, a lower bound of W1 (not an estimate of it); 200 projections",
    )
    add("KL(P||Q) k-NN", lambda: kl_knn(p, q, k=k), f"k = {k}; consistent if densities overlap")
    add("KL(Q||P) k-NN", lambda: kl_knn(q, p, k=k), f"k = {k}")
    add("JS k-NN", lambda: js_knn(p, q, k=k), f"k = {k}; in [0, log 2]")
    if neural:
        from divergences.neural import js_dual, wasserstein_dual

        options: dict[str, Any] = {"steps": steps, "seed": seed, "device": device}

        def critic() -> tuple[float, tuple[float, float]]:
            result = wasserstein_dual(p, q, **options)
            return result.distance, result.interval

        def discriminator() -> tuple[float, tuple[float, float]]:
            result = js_dual(p, q, **options)
            return result.divergence, result.interval

        add("W1 neural critic", critic, "held-out 20%; WGAN-GP, rescaled")
        add("JS discriminator", discriminator, "held-out 20%; a lower bound")
    return rows


def _row(
    measure: str, value: float | None, interval: tuple[float, float] | None, note: str
) -> dict[str, Any]:
    return {
        "measure": measure,
        "value": value,
        "interval": None if interval is None else [float(interval[0]), float(interval[1])],
        "note": note,
    }


def _format_table(rows: list[dict[str, Any]], header: str) -> str:
    lines = [header, f"{'measure':18s}{'value':>10s}  {'95% interval':21s}  notes"]
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:10.4f}"
        interval = row["interval"]
        span = "" if interval is None else f"[{interval[0]:.4f}, {interval[1]:.4f}]"
        lines.append(f"{row['measure']:18s}{value:>10s}  {span:21s}  {row['note']}")
    return "\n".join(lines)


def _run_compare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.k < 1:
        parser.error("--k must be at least 1")
    if args.seed < 0:
        parser.error("--seed must be non-negative")
    try:
        p = load_samples(args.p, "P")
        q = load_samples(args.q, "Q")
        rows = compare(
            p,
            q,
            neural=args.neural,
            steps=args.steps,
            k=args.k,
            seed=args.seed,
            device=args.device,
        )
    except InputError as error:
        print(f"divergences compare: {error}", file=sys.stderr)
        return 1
    if args.json:
        payload = {
            "p": {"path": str(args.p), "n": p.shape[0], "d": p.shape[1]},
            "q": {"path": str(args.q), "n": q.shape[0], "d": q.shape[1]},
            "measures": [
                {
                    **row,
                    "value": row["value"]
                    if row["value"] is None or math.isfinite(row["value"])
                    else str(row["value"]),
                }
                for row in rows
            ],
        }
        print(json.dumps(payload, indent=1))
    else:
        header = (
            f"P: {args.p} ({p.shape[0]} samples), Q: {args.q} ({q.shape[0]} samples), "
            f"d = {p.shape[1]}"
        )
        print(_format_table(rows, header))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="divergences",
        description="Divergences between distributions, and what their gradients do "
        "when the supports do not overlap.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="KL, JS and W on the disjoint-segments example at a few theta",
        description="Print KL and JS of P = (0, U[0,1]) and Q_theta = (theta, U[0,1]) from "
        "histograms of samples and in closed form, with the closed-form Wasserstein "
        "distance |theta|.",
        epilog="example: divergences demo --thetas -1 0 0.1 1 --samples 5000",
    )
    demo.add_argument(
        "--thetas",
        type=float,
        nargs="+",
        default=list(_DEFAULT_THETAS),
        metavar="THETA",
        help="offsets of Q_theta (default: %(default)s)",
    )
    demo.add_argument(
        "--samples", type=int, default=10_000, help="samples per distribution (default: 10000)"
    )
    demo.add_argument(
        "--bin-width", type=float, default=0.25, help="histogram bin width in x (default: 0.25)"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    gradients = commands.add_parser(
        "gradients",
        help="values and gradients of every method on the disjoint segments, with figures",
        description="Run the headline benchmark: the value and d/dtheta of every method "
        "(closed forms, histogram JS, k-NN KL and JS, exact W, the neural critic, the GAN "
        "discriminator) over a grid of theta and seeds; gradient descent on theta with each "
        "loss; the trained critic and discriminator over the plane; the batched-critic timing. "
        "Writes gradients.json, gradients.csv, gradients.png, dynamics.png and critic_2d.png. "
        "The plots need matplotlib (pip install 'divergences[bench]').",
        epilog="examples:\n  divergences gradients --output results\n"
        "  divergences gradients --quick --output /tmp/smoke --device cpu",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gradients.add_argument(
        "--output",
        default="gradients-output",
        metavar="DIR",
        help="folder for the results: new or empty, unless --overwrite (default: %(default)s)",
    )
    gradients.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in an output folder that already holds files "
        "(without it, such a folder is refused)",
    )
    gradients.add_argument(
        "--quick", action="store_true", help="a small run (one seed, five theta) in seconds"
    )
    gradients.add_argument(
        "--seeds", type=int, default=3, help="seeds of the sweep (default: %(default)s)"
    )
    gradients.add_argument(
        "--device", default="auto", help="auto, cpu or cuda (default: %(default)s)"
    )
    gradients.add_argument("--no-progress", action="store_true", help="do not show progress bars")
    compare_parser = commands.add_parser(
        "compare",
        help="every applicable divergence between two sample files",
        description="Read two sample files (.npy, or .csv with one sample per line and an "
        "optional header) of shape (n, d) or (n,), and print the exact Wasserstein-1 "
        "distance, the sliced W1 (a smaller, different metric), the k-NN KL in both "
        "directions and JS, and with --neural the neural critic's W1 and the GAN "
        "discriminator's JS with 95% intervals.",
        epilog="examples:\n  divergences compare p.npy q.npy\n"
        "  divergences compare data.csv model.csv --neural --steps 1000 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare_parser.add_argument("p", metavar="P", help="samples of P (.npy or .csv)")
    compare_parser.add_argument("q", metavar="Q", help="samples of Q (.npy or .csv)")
    compare_parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    compare_parser.add_argument(
        "--neural", action="store_true", help="also train the neural critic and discriminator"
    )
    compare_parser.add_argument(
        "--steps",
        type=int,
        default=2000,
        help="training steps of the neural estimators (default: %(default)s)",
    )
    compare_parser.add_argument(
        "--k", type=int, default=5, help="neighbour of the k-NN estimators (default: %(default)s)"
    )
    compare_parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    compare_parser.add_argument(
        "--device", default="auto", help="auto, cpu or cuda (default: %(default)s)"
    )
    return parser


def _run_gradients(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import importlib.util

    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if importlib.util.find_spec("matplotlib") is None:
        print(
            "divergences gradients: the figures need matplotlib; "
            "install it with: pip install 'divergences[bench]'",
            file=sys.stderr,
        )
        return 1
    from divergences.experiments.report import run, summary_table

    try:
        paths = run(
            args.output,
            quick=args.quick,
            seeds=args.seeds,
            device=args.device,
            progress=not args.no_progress,
            overwrite=args.overwrite,
        )
    except (ValueError, OSError) as error:
        print(f"divergences gradients: {error}", file=sys.stderr)
        return 1
    print(summary_table(paths["json"]))
    for name, path in paths.items():
        print(f"wrote {name:9s} {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> main(["demo", "--thetas", "2", "--samples", "100"])  # doctest: +ELLIPSIS
    P = (0, U[0,1]), Q_theta = (theta, U[0,1]); 100 samples each; ...
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "gradients":
        return _run_gradients(args, parser)
    if args.command == "compare":
        return _run_compare(args, parser)
    if args.samples < 1:
        parser.error("--samples must be at least 1")
    if not args.bin_width > 0:
        parser.error("--bin-width must be positive")
    if args.seed < 0:
        parser.error("--seed must be non-negative")
    print(demo_table(args.thetas, n=args.samples, bin_width=args.bin_width, seed=args.seed))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
