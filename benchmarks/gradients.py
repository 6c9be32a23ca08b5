"""The headline benchmark: values and gradients of every method on disjoint supports.

Runs :func:`divergences.experiments.report.run` (the ``divergences gradients`` command)
and files its outputs where the docs find them: the JSON and CSV in
benchmarks/results/, the figures gradients.png, dynamics.png and critic_2d.png
in docs/figures/.

Run: ``python benchmarks/gradients.py`` (``--quick`` for a smoke run, which
writes gradients_quick.* and no figures into docs/).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import RESULTS

from divergences.experiments.report import run, summary_table

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def replot() -> None:
    """The sweep's and the dynamics' figures again from benchmarks/results/gradients.json
    (the critic picture needs the trained networks, which the JSON does not keep)."""
    import json

    from divergences.experiments.gradients import SweepRow, Trajectory
    from divergences.experiments.plots import plot_dynamics, plot_sweep

    payload = json.loads((RESULTS / "gradients.json").read_text())
    rows = [
        SweepRow(**{k: float(v) if k in ("value", "derivative") else v for k, v in row.items()})
        for row in payload["rows"]
    ]
    plot_sweep(rows, FIGURES / "gradients.png")
    plot_dynamics([Trajectory(**run) for run in payload["dynamics"]], FIGURES / "dynamics.png")
    print(f"wrote {FIGURES / 'gradients.png'} and {FIGURES / 'dynamics.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, five theta, few steps")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--replot", action="store_true", help="redraw gradients.png and dynamics.png from the JSON"
    )
    args = parser.parse_args()
    if args.replot:
        replot()
        return
    with tempfile.TemporaryDirectory() as folder:
        paths = run(Path(folder) / "run", quick=args.quick, seeds=args.seeds, device=args.device)
        print(summary_table(paths["json"]))
        suffix = "_quick" if args.quick else ""
        RESULTS.mkdir(parents=True, exist_ok=True)
        for kind in ("json", "csv"):
            target = RESULTS / f"gradients{suffix}.{kind}"
            shutil.copy(paths[kind], target)
            print(f"wrote {target}")
        if not args.quick:
            for kind in ("gradients", "dynamics", "picture"):
                target = FIGURES / paths[kind].name
                shutil.copy(paths[kind], target)
                print(f"wrote {target}")


if __name__ == "__main__":
    main()
