"""k-NN neighbour searches: k-d tree against blocked all-pairs products, by dimension and size.

Questions, each answered against its peer in the same run (median of repeats):

1. With n = m = 2 * 10^4 samples a side, how long do the two neighbour searches
   of ``dv.kl_knn(x, y, method="plain")`` take (P among P, P among Q) with
   ``search="tree"`` (SciPy's cKDTree) and ``search="blocked"`` (matrix
   products of all pairs), for d from 1 to 128? Where do they cross?
2. Does the crossover move with the number of points searched? 2000 queries
   against m = 5000 to 2 * 10^5 points (``kl_knn(x[:2000], y)``: the search
   of P among Q dominates), d from 6 to 12.
3. The whole default ``dv.kl_knn`` for d = 3, 20, 48, 64: the tree alone
   (``search="tree"``) against the default rule (``search="auto"``).

The samples are P = N(0, I) and Q = N(0.3, I). The machine is shared: the load
average at the start and end of each part is recorded with the timings.

Run: ``python benchmarks/knn_search.py`` (about half an hour: the tree takes
minutes in high dimension; ``--quick`` for a smoke run of under 30 s). Writes
benchmarks/results/knn_search.json and docs/figures/knn_search.png.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _common import median_time, save_figure, write_json

import divergences as dv

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "knn_search.png"
SEARCHES = ("tree", "blocked")
RESULTS = Path(__file__).resolve().parent / "results"


def samples(n: int, m: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + 0.3


def load() -> float:
    return os.getloadavg()[0]


def timed(function: Any, repeats: int) -> float:
    """Median seconds over ``repeats`` calls.

    The first call is a warm-up where calls are quick; a slow one (a tree in
    high dimension, up to a minute) counts as the first repeat instead, as
    there is nothing left to warm up (the imports ran before the timings).
    """
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    if first < 1.0:
        return median_time(function, repeats=repeats, warmup=0)
    rest = [median_time(function, repeats=1, warmup=0) for _ in range(repeats - 1)]
    return float(np.median([first, *rest]))


def by_dimension(n: int, dims: list[int], repeats: int) -> dict[str, Any]:
    rows = []
    before = load()
    for d in dims:
        x, y = samples(n, n, d)
        row: dict[str, Any] = {"d": d, "n": n}
        for search in SEARCHES:
            row[search] = timed(partial(dv.kl_knn, x, y, method="plain", search=search), repeats)
        row["tree_over_blocked"] = row["tree"] / row["blocked"]
        print(
            f"searches n={n} d={d:4d}: tree {row['tree']:8.3f} s, blocked "
            f"{row['blocked']:7.3f} s, tree/blocked {row['tree_over_blocked']:6.2f}",
            flush=True,
        )
        rows.append(row)
    return {"rows": rows, "crossover_d": crossover(rows), "load": [before, load()]}


def crossover(rows: list[dict[str, Any]]) -> float | None:
    """The dimension where tree/blocked first passes 1 (interpolated in the log); else None."""
    for low, high in itertools.pairwise(rows):
        a, b = np.log(low["tree_over_blocked"]), np.log(high["tree_over_blocked"])
        if a < 0 <= b:
            return float(low["d"] + (high["d"] - low["d"]) * (-a) / (b - a))
    return None


def by_size(queries: int, sizes: list[int], dims: list[int], repeats: int) -> dict[str, Any]:
    result = []
    before = load()
    for m in sizes:
        rows = []
        for d in dims:
            x, y = samples(queries, m, d)
            row: dict[str, Any] = {"d": d, "m": m, "queries": queries}
            for search in SEARCHES:
                row[search] = timed(
                    partial(dv.kl_knn, x, y, method="plain", search=search), repeats
                )
            row["tree_over_blocked"] = row["tree"] / row["blocked"]
            print(
                f"crossover m={m:6d} d={d:3d}: tree {row['tree']:7.3f} s, blocked "
                f"{row['blocked']:7.3f} s, tree/blocked {row['tree_over_blocked']:5.2f}",
                flush=True,
            )
            rows.append(row)
        result.append({"m": m, "rows": rows, "crossover_d": crossover(rows)})
        print(f"crossover m={m}: d = {result[-1]['crossover_d']}", flush=True)
    return {"sizes": result, "load": [before, load()]}


def full_estimator(n: int, dims: list[int], repeats: int) -> dict[str, Any]:
    rows = []
    before = load()
    for d in dims:
        x, y = samples(n, n, d)
        row: dict[str, Any] = {"d": d, "n": n}
        for label, search in (("old_tree_only", "tree"), ("new_default", "auto")):
            row[label] = timed(partial(dv.kl_knn, x, y, search=search), repeats)
        row["old_over_new"] = row["old_tree_only"] / row["new_default"]
        # Same neighbours, same estimate.
        row["estimate"] = dv.kl_knn(x, y)
        row["estimate_tree"] = dv.kl_knn(x, y, search="tree")
        print(
            f"kl_knn n={n} d={d:3d}: tree {row['old_tree_only']:7.3f} s, auto "
            f"{row['new_default']:6.3f} s ({row['old_over_new']:.1f}x); estimates "
            f"{row['estimate']:.6f} / {row['estimate_tree']:.6f}",
            flush=True,
        )
        rows.append(row)
    return {"rows": rows, "load": [before, load()]}


def plot(searches: dict, sizes: dict, estimator: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (left, right) = plt.subplots(1, 2, figsize=(13.0, 5.2), width_ratios=[1.5, 1])
    rows = searches["rows"]
    dims = [row["d"] for row in rows]
    n = rows[0]["n"]
    left.plot(dims, [r["tree"] for r in rows], "o-", color="C1", label="k-d tree (search='tree')")
    left.plot(
        dims,
        [r["blocked"] for r in rows],
        "s-",
        color="C0",
        label="blocked products (search='blocked')",
    )
    est = estimator["rows"]
    left.plot(
        [r["d"] for r in est],
        [r["old_tree_only"] for r in est],
        "x",
        color="C1",
        ms=11,
        mew=2,
        label="whole kl_knn, search='tree'",
    )
    left.plot(
        [r["d"] for r in est],
        [r["new_default"] for r in est],
        "*",
        color="C2",
        ms=14,
        label="whole kl_knn, search='auto' (the default)",
    )
    if searches["crossover_d"] is not None:
        left.axvline(searches["crossover_d"], color="0.4", ls="--", lw=1)
        left.text(
            searches["crossover_d"] * 1.04,
            0.03,
            f"crossover\nd ≈ {searches['crossover_d']:.1f}",
            transform=left.get_xaxis_transform(),
            va="bottom",
            fontsize=9,
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xticks(dims)
    left.set_xticklabels([str(d) for d in dims])
    left.minorticks_off()
    left.set_xlabel("dimension d")
    left.set_ylabel("seconds (median)")
    left.set_title(f"Two neighbour searches (plain kl_knn), n = m = {n:,} a side")
    left.grid(True, which="major", alpha=0.3)
    left.legend(fontsize=8, loc="upper left")
    for entry, color in zip(sizes["sizes"], ("C4", "C0", "C1", "C3", "C2"), strict=False):
        right.plot(
            [r["d"] for r in entry["rows"]],
            [r["tree_over_blocked"] for r in entry["rows"]],
            "o-",
            color=color,
            label=f"{entry['m']:,} points",
        )
    right.axhline(1.0, color="k", lw=0.8)
    right.set_yscale("log")
    right.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    right.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xticks([r["d"] for r in sizes["sizes"][0]["rows"]])
    right.set_xlabel("dimension d")
    right.set_ylabel("tree time / blocked time (above 1: blocked faster)")
    queries = sizes["sizes"][0]["rows"][0]["queries"]
    right.set_title(f"Crossover by size: {queries} queries against m points")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--replot", action="store_true", help="redraw the figure from the committed JSON"
    )
    args = parser.parse_args()
    if args.replot:
        committed = json.loads((RESULTS / "knn_search.json").read_text())
        plot(committed["searches"], committed["crossover_by_size"], committed["kl_knn"], FIGURE)
        print(f"wrote {FIGURE}")
        return
    if args.quick:
        n, dims, repeats = 2000, [1, 3, 8, 16, 64], 1
        queries, sizes, cross_dims, full_dims = 500, [2000, 8000], [6, 10], [3, 64]
    else:
        n, repeats = 20_000, args.repeats
        dims = [1, 2, 3, 5, 8, 12, 16, 24, 32, 48, 64, 128]
        queries, sizes = 2000, [5000, 20_000, 100_000, 200_000]
        cross_dims, full_dims = [6, 8, 9, 10, 11, 12], [3, 20, 48, 64]
    dv.kl_knn(*samples(500, 500, 3))  # imports (SciPy's special functions, the tree)
    start = time.perf_counter()
    searches = by_dimension(n, dims, repeats)
    size_rows = by_size(queries, sizes, cross_dims, repeats)
    estimator = full_estimator(n, full_dims, repeats)
    name = "knn_search_quick" if args.quick else "knn_search"
    path = write_json(
        name,
        {
            "repeats": repeats,
            "searches": searches,
            "crossover_by_size": size_rows,
            "kl_knn": estimator,
            "seconds": time.perf_counter() - start,
        },
    )
    print(f"wrote {path}")
    figure = Path(tempfile.gettempdir()) / "knn_search_quick.png" if args.quick else FIGURE
    plot(searches, size_rows, estimator, figure)
    print(f"wrote {figure}")


if __name__ == "__main__":
    main()
