"""The ``divergences`` command.

``divergences demo`` prints KL and JS of the disjoint-segments example, from
histograms of samples and in closed form, next to the closed-form Wasserstein
distance: the table that shows why JS gives a generator nothing to follow.
``divergences gradients`` runs the headline benchmark (values and gradients of
every method over theta, training dynamics, the critic over the plane) into a
folder of JSON, CSV and figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from divergences.closed_form import segments
from divergences.families import segment_samples
from divergences.information import js, kl

__all__ = ["main"]

_DEFAULT_THETAS = (-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0)


def _segment_histograms(
    theta: float, n: int, bin_width: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Histograms of P and Q_theta samples on one grid; x bins centred on multiples of h."""
    p_samples = np.asarray(segment_samples(0.0, n, seed=seed))
    q_samples = np.asarray(segment_samples(theta, n, seed=seed + 1))
    reach = max(abs(theta), bin_width) + bin_width
    x_edges = np.arange(-reach - bin_width / 2, reach + bin_width, bin_width)
    y_edges = np.linspace(0.0, 1.0, 11)
    hist_p, _, _ = np.histogram2d(p_samples[:, 0], p_samples[:, 1], bins=(x_edges, y_edges))
    hist_q, _, _ = np.histogram2d(q_samples[:, 0], q_samples[:, 1], bins=(x_edges, y_edges))
    return hist_p.ravel(), hist_q.ravel()


def demo_table(
    thetas: Sequence[float], *, n: int = 10_000, bin_width: float = 0.25, seed: int = 0
) -> str:
    """The demo's table as text: one row per theta.

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
        hist_p, hist_q = _segment_histograms(theta, n, bin_width, seed)
        row = (
            kl(hist_p, hist_q),
            segments(theta, measure="kl").value,
            js(hist_p, hist_q),
            segments(theta, measure="js").value,
            segments(theta, measure="wasserstein").value,
        )
        lines.append(f"{theta:6.2f}" + "".join(f"{value:10.4f}" for value in row))
    return "\n".join(lines)


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
        help="folder for the results (created if missing; default: %(default)s)",
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
    from divergences.gradients import run, summary_table

    try:
        paths = run(
            args.output,
            quick=args.quick,
            seeds=args.seeds,
            device=args.device,
            progress=not args.no_progress,
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
