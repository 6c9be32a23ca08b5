"""k-NN divergence estimators: bias and spread against the plain estimator, and speed.

Questions, each answered in the same run:

1. Bias and standard deviation over seeds of ``dv.kl_knn`` (default: the
   Gaussian-reference estimator, k = 5) against the plain Wang-Kulkarni-Verdú
   estimator for k = 1, 2, 3, 5, 10, for n = m from 2500 to 20000, on
   - easy pairs (d = 3): P = N(0, I) against N(0, A A^T) and N((1, 0, 0), I);
   - hard pairs, where Q is more concentrated than P in some directions:
     N(0, I) against N(0, diag(0.25, 1, 1)) (d = 3) and
     N(0, diag(0.25, 0.25, 1, 1, 1)) (d = 5), and a non-Gaussian one: P a
     two-component mixture along x1 against N(0, diag(0.25, 1, 1)), whose KL
     comes from a Monte Carlo average of log p/q over 2 * 10^6 draws.
   Target: the default's root-mean-square error at most half the plain
   estimator's best k on the hard pairs, and no larger on the easy ones.
2. ``dv.js_knn`` against JS by Monte Carlo, for P = N(0, I), Q = N((1, 0, 0), I).
3. Inputs outside those cells, 2000 a side, 5 seeds: P = Q in d = 20, 50, 100;
   two Cauchy samples; one coordinate in units 10^3 and 10^5 times the others'
   (KL does not change); a Student-t(5) pair in d = 3 (KL by Monte Carlo).
4. Time against n up to 10^5 a side in d = 3, against an all-pairs distance
   matrix (SciPy's cdist) computing the same plain estimate, up to n = 4000.

Run: ``python benchmarks/knn.py`` (a few minutes; ``--quick`` for a smoke run).
Writes benchmarks/results/knn.json and docs/figures/knn.png.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, median_time, save_figure, write_json
from scipy.spatial.distance import cdist
from scipy.special import logsumexp

import divergences as dv
from divergences.closed_form import gaussian_kl

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "knn.png"
A = np.array([[1.0, 0.3, 0.0], [0.0, 0.8, 0.2], [0.1, 0.0, 1.2]])
PLAIN_KS = (1, 2, 3, 5, 10)
MIXTURE_MEANS = np.array([[-1.2, 0.0, 0.0], [1.2, 0.0, 0.0]])
MIXTURE_SCALE = 0.6
NARROW = np.array([0.5, 1.0, 1.0])


def gaussian_sampler(mean, cov):
    mean, lower = np.asarray(mean, float), np.linalg.cholesky(np.asarray(cov, float))
    return lambda rng, n: mean + rng.standard_normal((n, len(mean))) @ lower.T


def mixture_sampler(rng, n):
    return MIXTURE_MEANS[rng.integers(0, 2, n)] + MIXTURE_SCALE * rng.standard_normal((n, 3))


def mixture_kl(draws: int) -> float:
    """KL(mixture || N(0, diag(NARROW^2))) by Monte Carlo over ``draws`` samples."""
    x = mixture_sampler(np.random.default_rng(12345), draws)
    log_p = (
        logsumexp(
            [-0.5 * np.sum((x - mu) ** 2, axis=1) / MIXTURE_SCALE**2 for mu in MIXTURE_MEANS],
            axis=0,
        )
        + math.log(0.5)
        - 3 * math.log(MIXTURE_SCALE)
    )
    log_q = -0.5 * np.sum((x / NARROW) ** 2, axis=1) - np.sum(np.log(NARROW))
    return float(np.mean(log_p - log_q))


def pairs(draws: int) -> dict:
    """name -> (d, sampler of P, sampler of Q, true KL, hard?)."""
    result = {}
    for name, mean_q, cov_q, hard in (
        ("easy: N(0, AA^T), d=3", [0, 0, 0], A @ A.T, False),
        ("easy: shift (1,0,0), d=3", [1, 0, 0], np.eye(3), False),
        ("hard: N(0, diag(.25,1,1)), d=3", [0, 0, 0], np.diag([0.25, 1, 1]), True),
        ("hard: N(0, diag(.25,.25,1,1,1)), d=5", [0] * 5, np.diag([0.25, 0.25, 1, 1, 1]), True),
    ):
        d = len(mean_q)
        true = gaussian_kl(np.zeros(d), np.eye(d), mean_q, cov_q)
        result[name] = (
            d,
            gaussian_sampler(np.zeros(d), np.eye(d)),
            gaussian_sampler(mean_q, cov_q),
            true,
            hard,
        )
    result["hard: bimodal P vs N(0, diag(.25,1,1)), d=3"] = (
        3,
        mixture_sampler,
        gaussian_sampler([0, 0, 0], np.diag(NARROW**2)),
        mixture_kl(draws),
        True,
    )
    return result


def accuracy(sizes: list[int], seeds: int, draws: int) -> list[dict]:
    rows = []
    for name, (_, sample_p, sample_q, true, hard) in pairs(draws).items():
        for n in sizes:
            estimates: dict[str, list[float]] = {f"plain k={k}": [] for k in PLAIN_KS}
            estimates["default (reference, k=5)"] = []
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                x, y = sample_p(rng, n), sample_q(rng, n)
                for k in PLAIN_KS:
                    estimates[f"plain k={k}"].append(dv.kl_knn(x, y, k=k, method="plain"))
                estimates["default (reference, k=5)"].append(dv.kl_knn(x, y))
            row = {"pair": name, "hard": hard, "n": n, "true": true, "seeds": seeds}
            for method, values in estimates.items():
                errors = np.asarray(values) - true
                row[method] = {
                    "bias": float(errors.mean()),
                    "sd": float(errors.std(ddof=1)),
                    "rmse": float(np.sqrt(np.mean(errors**2))),
                }
            best = min((row[f"plain k={k}"]["rmse"], k) for k in PLAIN_KS)
            row["best_plain_k"] = best[1]
            row["rmse_ratio_default_over_best_plain"] = (
                row["default (reference, k=5)"]["rmse"] / best[0]
            )
            ours, theirs = row["default (reference, k=5)"], row[f"plain k={best[1]}"]
            print(
                f"{name:45s} n={n:6d} true {true:.3f}: default {ours['bias']:+.3f} / "
                f"{ours['sd']:.3f}, best plain k={best[1]} {theirs['bias']:+.3f} / "
                f"{theirs['sd']:.3f}, RMSE ratio {row['rmse_ratio_default_over_best_plain']:.2f}",
                flush=True,
            )
            rows.append(row)
    return rows


def js_accuracy(n: int, seeds: int, draws: int) -> dict:
    rng = np.random.default_rng(777)
    shift = np.array([1.0, 0.0, 0.0])

    def log_ratio(z, other):  # log(2 p / (p + q)) for unit Gaussians centred at 0 and `other`
        a, b = -0.5 * np.sum(z**2, axis=1), -0.5 * np.sum((z - other) ** 2, axis=1)
        return math.log(2.0) + a - np.logaddexp(a, b)

    xp = rng.standard_normal((draws, 3))
    true = float(0.5 * np.mean(log_ratio(xp, shift)) + 0.5 * np.mean(log_ratio(xp, -shift)))
    result: dict = {"n": n, "true": true, "seeds": seeds}
    for k in (1, 3, 5, 10):
        values = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            values.append(
                dv.js_knn(rng.standard_normal((n, 3)), rng.standard_normal((n, 3)) + shift, k=k)
            )
        errors = np.asarray(values) - true
        result[f"k={k}"] = {"bias": float(errors.mean()), "sd": float(errors.std(ddof=1))}
        print(
            f"JS n={n} true {true:.4f} k={k}: {errors.mean():+.4f} / {errors.std(ddof=1):.4f}",
            flush=True,
        )
    return result


def robustness(seeds: int, n: int, draws: int) -> list[dict]:
    """Inputs no accuracy cell above covers, default and plain: P = Q in high dimension,
    two Cauchy samples, one coordinate in other units, and a heavy-tailed pair."""
    from scipy import stats

    def gaussian(d: int) -> dict:
        return {
            "case": f"P = Q = N(0, I), d = {d}",
            "true": 0.0,
            "draw": lambda rng: (rng.normal(size=(n, d)), rng.normal(size=(n, d))),
        }

    def units(scale: float) -> dict:
        factor = np.array([scale, 1.0, 1.0])
        return {
            "case": f"N(0, I) against N((0, .5, 0), diag(1, 1, .25)), x1 in units x{scale:g}",
            "true": gaussian_kl(
                np.zeros(3), np.eye(3), np.array([0.0, 0.5, 0.0]), np.diag([1.0, 1.0, 0.25])
            ),
            "draw": lambda rng: (
                rng.normal(size=(n, 3)) * factor,
                (rng.normal(size=(n, 3)) * [1.0, 1.0, 0.5] + [0.0, 0.5, 0.0]) * factor,
            ),
        }

    law_p = stats.multivariate_t(np.zeros(3), np.eye(3), df=5)
    law_q = stats.multivariate_t([0.5, 0.0, 0.0], np.diag([1.0, 0.5, 0.25]), df=5)
    sample = law_p.rvs(size=draws, random_state=np.random.default_rng(10**6))
    t_kl = float(np.mean(law_p.logpdf(sample) - law_q.logpdf(sample)))
    cases = [
        gaussian(20),
        gaussian(50),
        gaussian(100),
        {
            "case": "P = Q = Cauchy, d = 1",
            "true": 0.0,
            "draw": lambda rng: (rng.standard_cauchy((n, 1)), rng.standard_cauchy((n, 1))),
        },
        units(1.0),
        units(1e3),
        units(1e5),
        {
            "case": "t(5) of I, d = 3, against t(5) of diag(1, .5, .25) moved by .5",
            "true": t_kl,
            "draw": lambda rng: (
                law_p.rvs(size=n, random_state=rng),
                law_q.rvs(size=n, random_state=rng),
            ),
        },
    ]
    rows = []
    for case in cases:
        values: dict[str, list[float]] = {"reference": [], "plain": []}
        for seed in range(seeds):
            x, y = case["draw"](np.random.default_rng(seed))
            for method in values:
                values[method].append(float(dv.kl_knn(x, y, method=method)))
        rows.append(
            {
                "case": case["case"],
                "true": case["true"],
                "n": n,
                **{
                    method: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1))}
                    for method, v in values.items()
                },
            }
        )
        print(rows[-1], flush=True)
    return rows


def brute_force_plain(x: np.ndarray, y: np.ndarray, k: int) -> float:
    own = np.partition(cdist(x, x), k, axis=1)[:, k]
    other = np.partition(cdist(x, y), k - 1, axis=1)[:, k - 1]
    return x.shape[1] * float(np.mean(np.log(other / own))) + math.log(len(y) / (len(x) - 1))


def timings(sizes: list[int], brute_max: int, repeats: int) -> list[dict]:
    rows = []
    for n in sizes:
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((n, 3)), rng.standard_normal((n, 3)) + 0.5
        row: dict = {"n": n, "d": 3, "repeats": repeats}
        # Each lambda runs inside median_time, before x and y change: B023 does not apply.
        row["kl_default"] = median_time(lambda: dv.kl_knn(x, y), repeats=repeats)  # noqa: B023
        row["kl_plain"] = median_time(
            lambda: dv.kl_knn(x, y, method="plain"),  # noqa: B023
            repeats=repeats,
        )
        row["js"] = median_time(lambda: dv.js_knn(x, y), repeats=repeats)  # noqa: B023
        if n <= brute_max:
            row["brute_force_plain"] = median_time(
                lambda: brute_force_plain(x, y, 5),  # noqa: B023
                repeats=repeats,
            )
            row["brute_over_tree"] = row["brute_force_plain"] / row["kl_plain"]
        print(
            f"time n={n:6d}: default {row['kl_default']:.3f} s, plain {row['kl_plain']:.3f} s, "
            f"js {row['js']:.3f} s"
            + (
                f", all-pairs {row['brute_force_plain']:.3f} s"
                if "brute_force_plain" in row
                else ""
            ),
            flush=True,
        )
        rows.append(row)
    return rows


def plot(rows: list[dict], time_rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    names = list(dict.fromkeys(row["pair"] for row in rows))
    fig, axes = plt.subplots(2, 3, figsize=(14.0, 8.0))
    styles = {
        "plain k=1": ("C1", "s"),
        "plain k=5": ("C2", "^"),
        "plain k=10": ("C3", "v"),
        "default (reference, k=5)": ("C0", "o"),
    }
    for ax, name in zip(axes.flat, names, strict=False):
        subset = [row for row in rows if row["pair"] == name]
        ns = np.array([row["n"] for row in subset])
        true = subset[0]["true"]
        for offset, (method, (color, marker)) in enumerate(styles.items()):
            bias = np.array([row[method]["bias"] for row in subset]) / true * 100
            sd = np.array([row[method]["sd"] for row in subset]) / true * 100
            ax.errorbar(
                ns * (1 + 0.04 * (offset - 1.5)),
                bias,
                yerr=sd,
                color=color,
                marker=marker,
                capsize=3,
                label=method,
            )
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xscale("log")
        # the sizes themselves as ticks: the log axis's own labels collide at 3-4 x 10^3
        sizes = sorted(set(ns.tolist()))
        ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{name}\nKL = {true:.3f}", fontsize=9)
        ax.set_xlabel("n = m")
        ax.set_ylabel("error, % of KL (mean ± sd over seeds)")
        ax.grid(True, alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    ax = axes.flat[5]
    ns = [row["n"] for row in time_rows]
    for key, label, color in (
        ("kl_default", "kl_knn (default)", "C0"),
        ("kl_plain", "kl_knn plain", "C1"),
        ("js", "js_knn", "C2"),
        ("brute_force_plain", "plain, all-pairs cdist", "C7"),
    ):
        points = [(row["n"], row[key]) for row in time_rows if key in row]
        ax.loglog(*zip(*points, strict=True), marker="o", label=label, color=color)
    ax.set_xlabel("n = m (d = 3)")
    ax.set_ylabel("seconds (median)")
    ax.set_title("Time against n")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--replot", action="store_true", help="redraw the figure from the JSON")
    args = parser.parse_args()
    if args.replot:
        payload = json.loads((RESULTS / "knn.json").read_text())
        plot(payload["accuracy"], payload["timings"], FIGURE)
        print(f"wrote {FIGURE}")
        return
    if args.quick:
        sizes, seeds, draws, time_sizes, brute_max, repeats = (
            [1000, 2000],
            3,
            200_000,
            [1000, 10_000],
            1000,
            3,
        )
    else:
        sizes, seeds, draws = [2500, 5000, 10_000, 20_000], 8, 2_000_000
        time_sizes, brute_max, repeats = [1000, 4000, 10_000, 30_000, 100_000], 4000, 5
    start = time.perf_counter()
    rows = accuracy(sizes, seeds, draws)
    js = js_accuracy(sizes[-1], seeds, draws)
    hostile = robustness(3 if args.quick else 5, 2000, 40_000 if args.quick else 400_000)
    time_rows = timings(time_sizes, brute_max, repeats)
    name = "knn_quick" if args.quick else "knn"
    path = write_json(
        name,
        {
            "accuracy": rows,
            "js": js,
            "robustness": hostile,
            "timings": time_rows,
            "seconds": time.perf_counter() - start,
        },
    )
    print(f"wrote {path}")
    if not args.quick:
        plot(rows, time_rows, FIGURE)
        print(f"wrote {FIGURE}")


if __name__ == "__main__":
    main()
