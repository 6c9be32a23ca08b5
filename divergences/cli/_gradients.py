"""``divergences gradients``: the headline benchmark, into a folder of JSON, CSV and figures."""

from __future__ import annotations

import argparse
from typing import Any

from divergences.cli._messages import InputError
from divergences.cli._options import (
    _EXIT_STATUS,
    _add_run_options,
    _HelpFormatter,
    _integer,
    _resolve_device,
)


def _check_plotting() -> None:
    """Refuse to start a run whose figures matplotlib is not installed to draw."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise InputError(
            "the figures need matplotlib; install it with: pip install 'divergences[bench]'"
        )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the subcommand to ``subparsers`` (of :class:`_Parser`); returns its parser."""
    parser = subparsers.add_parser(
        "gradients",
        help="values and gradients of every method on the disjoint segments, with figures",
        description="Run the headline benchmark: the value and d/dtheta of every method "
        "(closed forms, histogram JS, k-NN KL and JS, exact W, the neural critic, the GAN "
        "discriminator) over a grid of theta and seeds; gradient descent on theta with each "
        "loss; the trained critic and discriminator over the plane; the batched-critic timing. "
        "Writes gradients.json, gradients.csv, gradients.png, dynamics.png and critic_2d.png. "
        "The plots need matplotlib (pip install 'divergences[bench]').\n\n"
        "Nothing is lost: a folder that already holds files is refused unless --overwrite is "
        "given, whether the folder can be written is checked before the run, and the results "
        "are written to a temporary folder beside it and moved into place at the end, so an "
        "interrupted run leaves the folder as it was. Files that another run wrote there "
        "meanwhile are not replaced either: this run's results then stay in the temporary "
        "folder, which the error names.",
        epilog="examples:\n  divergences gradients --output results\n"
        "  divergences gradients --quick --output /tmp/smoke --device cpu\n\n" + _EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--output",
        default="gradients-output",
        metavar="DIR",
        help="folder for the results: new or empty, unless --overwrite (default: %(default)s)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in an output folder that already holds files "
        "(without it, such a folder is refused)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a small run: one seed, five theta, shorter training"
    )
    parser.add_argument(
        "--seeds", type=_integer(1), default=3, help="seeds of the sweep (default: %(default)s)"
    )
    _add_run_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the benchmark into ``--output``, print its summary and files; returns 0."""
    _check_plotting()
    _resolve_device(args.device)
    from divergences.cli import _TERMINATED
    from divergences.experiments.report import run as run_all
    from divergences.experiments.report import summary_table

    paths = run_all(
        args.output,
        quick=args.quick,
        seeds=args.seeds,
        device=args.device,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        stop=_TERMINATED.is_set,
    )
    print(summary_table(paths["json"]))
    for name, path in paths.items():
        print(f"wrote {name:9s} {path}")
    return 0
