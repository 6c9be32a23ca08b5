"""``divergences train-generators``: a small generator trained with every loss, with figures."""

from __future__ import annotations

import argparse
from typing import Any

from divergences.cli._gradients import _check_plotting
from divergences.cli._options import (
    _EXIT_STATUS,
    _add_run_options,
    _HelpFormatter,
    _integer,
    _resolve_device,
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the subcommand to ``subparsers`` (of :class:`_Parser`); returns its parser."""
    parser = subparsers.add_parser(
        "train-generators",
        help="train a small generator with every loss on toy targets, with figures",
        description="Train the same small generator (2-D noise to the plane) from the same "
        "initialisation with every loss of divergences.losses (a WGAN-GP critic, the "
        "saturating and non-saturating GAN losses, the exact minibatch W1, the Sinkhorn "
        "divergence, the energy distance) on eight Gaussians on a ring, 25 on a grid and a "
        "Swiss roll, each loss at the learning rate a common sweep picks, and measure it "
        "with the exact W1 to the target (next to the noise floor) and the modes covered. "
        "Writes generators.json, generators.csv, generator_samples.png and generator_w1.png, "
        "as safely as the gradients command.",
        epilog="examples:\n  divergences train-generators --output generators\n"
        "  divergences train-generators --quick --output /tmp/smoke\n\n" + _EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--output",
        default="generators-output",
        metavar="DIR",
        help="folder for the results: new or empty, unless --overwrite (default: %(default)s)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in an output folder that already holds files",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small run: the ring, one seed, 300 steps, no learning-rate sweep",
    )
    parser.add_argument(
        "--seeds", type=_integer(1), default=3, help="seeds per loss and target (default: 3)"
    )
    parser.add_argument(
        "--workers",
        type=_integer(1),
        default=1,
        help="runs trained at once, in separate processes, at most one per CPU core "
        "(default: %(default)s)",
    )
    _add_run_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Train the generators, print their table and the files written; returns 0."""
    _check_plotting()
    device = _resolve_device(args.device)
    from divergences.cli import _TERMINATED
    from divergences.experiments.report import generator_table, run_generators

    paths = run_generators(
        args.output,
        quick=args.quick,
        seeds=args.seeds,
        device=device,
        workers=args.workers,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        stop=_TERMINATED.is_set,
    )
    print(generator_table(paths["json"]))
    for name, path in paths.items():
        print(f"wrote {name:9s} {path}")
    return 0
