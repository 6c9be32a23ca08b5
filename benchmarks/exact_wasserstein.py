"""Exact Wasserstein distance: our overhead over raw POT, SciPy's LP, and the 1-D path.

Questions, each answered against its peer in the same run (median of repeats):

1. What does ``dv.wasserstein`` add over calling ``ot.dist`` + ``ot.emd2`` by
   hand (target: at most 5%), for n = m from 500 to 8000 in 2-D and n = 2000 in
   64-D? Both get the same iteration cap, so both reach the optimum; POT's
   default cap (100 000) would stop early from n = 4000 on.
2. How does ``scipy.stats.wasserstein_distance_nd`` (HiGHS LP) compare, up to
   n = 1000?
3. In 1-D with 10^6 points a side, how does the sort-based path compare with
   ``scipy.stats.wasserstein_distance``, ``ot.wasserstein_1d`` and a plain
   sort in numpy (target: 10x faster than SciPy and POT)?

Peak memory of each exact solve is measured in a fresh child process (its
``VmHWM``, the resident high-water mark, which unlike ``ru_maxrss`` is not
inherited from the parent across ``exec``), so one case cannot hide another's.

Run: ``python benchmarks/exact_wasserstein.py`` (a few minutes; ``--quick`` for a
smoke run). Writes benchmarks/results/exact_wasserstein.json and
docs/figures/exact_wasserstein.png.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import ot
import scipy.stats
from _common import RESULTS, save_figure, write_json

import divergences as dv
from divergences.transport import default_max_iter

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "exact_wasserstein.png"


def problem(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clouds, the second shifted by 1 along every axis."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)), rng.normal(size=(n, dim)) + 1.0


def raw_pot(x: np.ndarray, y: np.ndarray) -> float:
    """What a user writes by hand: uniform weights, ot.dist, ot.emd2 with a cap that suffices."""
    a = np.full(len(x), 1.0 / len(x))
    b = np.full(len(y), 1.0 / len(y))
    cost = ot.dist(x, y, metric="euclidean")
    return float(ot.emd2(a, b, cost, numItermax=default_max_iter(len(x), len(y))))


SOLVERS = {
    "divergences": lambda x, y: dv.wasserstein(x, y),
    "pot": raw_pot,
    "scipy_nd": lambda x, y: scipy.stats.wasserstein_distance_nd(x, y),
}


def high_water_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(solver: str, n: int, dim: int) -> None:
    """Run one solve and print its time and peak memory (in a fresh process)."""
    x, y = problem(n, dim)
    SOLVERS[solver](x[:2], y[:2])  # imports and first-call costs out of the way
    before = high_water_mb()
    start = time.perf_counter()
    value = SOLVERS[solver](x, y)
    seconds = time.perf_counter() - start
    peak = high_water_mb()
    print(
        json.dumps(
            {"value": value, "seconds": seconds, "peak_mb": peak, "added_mb": peak - before}
        )
    )


def measure_in_child(solver: str, n: int, dim: int) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", solver, str(n), str(dim)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def paired_ratio(ours, peer, repeats: int) -> tuple[float, float, float]:
    """Time ``ours`` and ``peer`` alternately; return both medians and the median ratio.

    Alternating puts each pair under the same machine load, so the ratio is far
    steadier on a shared machine than a ratio of two separate medians.
    """
    ours(), peer()
    times_ours, times_peer = [], []
    for _ in range(repeats):
        for function, times in ((ours, times_ours), (peer, times_peer)):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times_ours, times_peer, strict=True)]
    return statistics.median(times_ours), statistics.median(times_peer), statistics.median(ratios)


def exact_cases(sizes: list[tuple[int, int]], repeats: int, scipy_max: int) -> list[dict]:
    rows = []
    for n, dim in sizes:
        x, y = problem(n, dim)
        row: dict = {"n": n, "dim": dim}
        ours = functools.partial(SOLVERS["divergences"], x, y)
        pot = functools.partial(SOLVERS["pot"], x, y)
        ours_s, pot_s, ratio = paired_ratio(ours, pot, repeats)
        row["divergences"] = {"seconds": ours_s, "repeats": repeats, "value": ours()}
        row["pot"] = {"seconds": pot_s, "repeats": repeats, "value": pot()}
        row["overhead_vs_pot"] = ratio - 1
        if n <= scipy_max:
            runs = 1 if n > 500 else repeats
            times, value = [], None
            for _ in range(runs):  # minutes per solve at n = 1000: no warm-up, no extra call
                start = time.perf_counter()
                value = SOLVERS["scipy_nd"](x, y)
                times.append(time.perf_counter() - start)
            row["scipy_nd"] = {
                "seconds": statistics.median(times),
                "repeats": runs,
                "value": value,
            }
            row["scipy_nd_over_ours"] = row["scipy_nd"]["seconds"] / ours_s
        for solver in ("divergences", "pot"):
            memory = measure_in_child(solver, n, dim)
            row[solver].update(peak_mb=memory["peak_mb"], added_mb=memory["added_mb"])
        row["abs_difference_vs_pot"] = abs(row["divergences"]["value"] - row["pot"]["value"])
        print(
            f"n={n:5d} d={dim:2d}: ours {ours_s:8.3f} s, POT {pot_s:8.3f} s "
            f"(median paired overhead {100 * row['overhead_vs_pot']:+.1f}%), "
            + (f"SciPy {row['scipy_nd']['seconds']:8.2f} s, " if "scipy_nd" in row else "")
            + f"memory added {row['divergences']['added_mb']:.0f} MB vs "
            f"{row['pot']['added_mb']:.0f} MB",
            flush=True,
        )
        rows.append(row)
    return rows


def one_dimensional(n: int, rounds: int) -> dict:
    """Time the four 1-D methods round-robin; report medians and median paired ratios."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=n), rng.normal(size=n) + 0.5
    candidates = {
        "divergences": lambda: dv.wasserstein(x, y),
        "scipy": lambda: scipy.stats.wasserstein_distance(x, y),
        "pot": lambda: float(ot.wasserstein_1d(x, y, p=1)),
        "numpy_sort": lambda: float(np.mean(np.abs(np.sort(x) - np.sort(y)))),
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    values = {name: function() for name, function in candidates.items()}  # warm-up
    for _ in range(rounds):
        for name, function in candidates.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    result: dict = {"n": n, "rounds": rounds}
    for name in candidates:
        result[name] = {"seconds": statistics.median(times[name]), "value": values[name]}
    for name in ("scipy", "pot", "numpy_sort"):
        ratios = [a / b for a, b in zip(times[name], times["divergences"], strict=True)]
        result[f"{name}_over_ours"] = statistics.median(ratios)
    print(
        f"1-D n={n}: ours {result['divergences']['seconds'] * 1e3:.1f} ms; "
        f"SciPy {result['scipy_over_ours']:.1f}x, POT {result['pot_over_ours']:.1f}x, "
        f"plain numpy sort {result['numpy_sort_over_ours']:.2f}x slower than ours "
        "(median paired ratios)",
        flush=True,
    )
    return result


def plot(rows: list[dict], result_1d: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, (ax, bars) = plt.subplots(1, 2, figsize=(11.0, 4.2), width_ratios=(3, 2))
    for solver, label, marker in (
        ("divergences", "dv.wasserstein", "o"),
        ("pot", "ot.dist + ot.emd2", "s"),
        ("scipy_nd", "scipy wasserstein_distance_nd", "^"),
    ):
        for dim, style in ((2, "-"), (64, ":")):
            points = [
                (r["n"], r[solver]["seconds"]) for r in rows if r["dim"] == dim and solver in r
            ]
            if points:
                ns, seconds = zip(*points, strict=True)
                ax.loglog(
                    ns,
                    seconds,
                    style,
                    marker=marker,
                    label=f"{label}, d = {dim}",
                    color={"divergences": "C0", "pot": "C1", "scipy_nd": "C2"}[solver],
                )
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([r["n"] for r in rows if r["dim"] == 2])
    ax.set_xlabel("n = m (samples per side)")
    ax.set_ylabel("seconds (median)")
    ax.set_title("Exact W1, general dimension (linear program)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    names = ["divergences", "numpy_sort", "pot", "scipy"]
    labels = [
        "dv.wasserstein",
        "plain np.sort",
        "ot.wasserstein_1d",
        "scipy\nwasserstein_distance",
    ]
    seconds = [result_1d[name]["seconds"] for name in names]
    bars.bar(labels, seconds, color=["C0", "C7", "C1", "C2"])
    for i, value in enumerate(seconds):
        bars.text(i, value, f"{value * 1e3:.0f} ms", ha="center", va="bottom", fontsize=8)
    bars.set_ylabel("seconds (median)")
    bars.set_title(f"Exact W1 in 1-D, n = m = {result_1d['n']:,}")
    bars.tick_params(axis="x", labelsize=8)
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--only-1d", action="store_true", help="rerun the 1-D comparison into the existing JSON"
    )
    parser.add_argument("--child", nargs=3, metavar=("SOLVER", "N", "DIM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        solver, n, dim = args.child
        child(solver, int(n), int(dim))
        return
    if args.quick:
        sizes, scipy_max, n_1d = [(200, 2), (400, 2), (200, 64)], 200, 10**5
    else:
        sizes = [(500, 2), (1000, 2), (2000, 2), (4000, 2), (8000, 2), (500, 64), (2000, 64)]
        scipy_max, n_1d = 1000, 10**6
    name = "exact_wasserstein_quick" if args.quick else "exact_wasserstein"
    if args.only_1d:
        rows = json.loads((RESULTS / f"{name}.json").read_text())["exact"]
    else:
        rows = exact_cases(sizes, args.repeats, scipy_max)
    result_1d = one_dimensional(n_1d, rounds=max(2 * args.repeats, 9))
    path = write_json(name, {"repeats": args.repeats, "exact": rows, "one_dimensional": result_1d})
    print(f"wrote {path}")
    if not args.quick:
        plot(rows, result_1d, FIGURE)
        print(f"wrote {FIGURE}")


if __name__ == "__main__":
    main()
