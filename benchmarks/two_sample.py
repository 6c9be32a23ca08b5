"""Two-sample permutation tests: validity under the null, power, and speed against SciPy.

Three questions about :func:`divergences.two_sample_test`, each answered beside a peer in
the same run:

- **validity**: with x and y drawn from one law (Gaussian, Student t with 2 degrees of
  freedom, Poisson(3): heavy ties), the rejection rate at alpha = 0.05 and a KS test of the
  p-values against their null law, for every statistic;
- **power**: against a shift, a scale change and a mixture, for every statistic, beside
  ``scipy.stats.permutation_test`` with the energy statistic and the classical 1-D tests
  (``ks_2samp``, ``cramervonmises_2samp``) on the same samples;
- **speed**: the energy and MMD tests with 999 permutations on 5000 + 5000 points in
  d = 32 against ``scipy.stats.permutation_test`` with the same statistic over a
  precomputed matrix, peak memory from a fresh process, and a fraction of a test on
  10^5 + 10^5 points.

Everything runs on one thread (torch, BLAS). Results go to
benchmarks/results/two_sample.json, written after every cell so that a partial run
keeps what it measured; the figure to docs/figures/two_sample_power.png.

Run: ``python benchmarks/two_sample.py`` (``--quick``: a smoke run under a minute that
writes two_sample_quick.json and no figure; ``--replot``: the figure from the JSON).
"""

from __future__ import annotations

import os

# One thread everywhere, ours and SciPy's BLAS alike, set before numpy is imported.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _common import RESULTS, machine, write_json  # noqa: E402
from scipy import stats  # noqa: E402
from scipy.spatial.distance import cdist  # noqa: E402

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
ALPHA = 0.05
LAWS = ("gaussian", "student_t2", "poisson3")

#: Per statistic: permutations B, options, and replicates per dimension under the null.
#: Energy and MMD (one blocked product per batch of splits) afford B = 999 and every
#: dimension; Sinkhorn solves a batch of splits at once, and the others call the
#: statistic once per split, B + 1 times a test, so they run B = 99 in d = 1 and 64.
VALIDITY: dict[str, dict[str, Any]] = {
    "energy": {"permutations": 999, "options": {}, "reps": {1: 2000, 8: 2000, 64: 2000}},
    "mmd": {"permutations": 999, "options": {}, "reps": {1: 2000, 8: 2000, 64: 2000}},
    "wasserstein": {"permutations": 99, "options": {}, "reps": {1: 2000, 64: 2000}},
    "sliced": {"permutations": 99, "options": {"n_projections": 20}, "reps": {1: 2000, 64: 2000}},
    "kl_knn": {"permutations": 99, "options": {}, "reps": {1: 2000, 64: 2000}},
    "js_knn": {"permutations": 99, "options": {}, "reps": {1: 2000, 64: 2000}},
    "sinkhorn": {"permutations": 99, "options": {}, "reps": {1: 2000, 64: 2000}},
}
VALIDITY_SIZE = 20  # n = m under the null

#: The alternatives in d = 1: y = x-law shifted, scaled, or a mixture with a shifted copy.
EFFECTS = {
    "shift": [0.0, 0.25, 0.5, 0.75, 1.0, 1.25],
    "scale": [1.0, 1.3, 1.6, 1.9, 2.2, 2.5],
    "mixture": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
}
MIXTURE_SHIFT = 2.0
POWER_SIZE = 30
#: Per statistic of the power curves: permutations and replicates per point.
POWER: dict[str, dict[str, Any]] = {
    "energy": {"permutations": 999, "options": {}, "reps": 200},
    "mmd": {"permutations": 999, "options": {}, "reps": 200},
    "wasserstein": {"permutations": 99, "options": {}, "reps": 200},
    "sliced": {"permutations": 99, "options": {"n_projections": 20}, "reps": 100},
    "kl_knn": {"permutations": 99, "options": {}, "reps": 100},
    "js_knn": {"permutations": 99, "options": {}, "reps": 100},
    "sinkhorn": {"permutations": 99, "options": {}, "reps": 100},
}
#: The peers, on the same samples as the energy test.
PEERS = ("scipy_energy", "ks_2samp", "cramervonmises_2samp")
SCIPY_PERMUTATIONS = 999


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def draw(law: str, rng: np.random.Generator, size: int, d: int) -> np.ndarray:
    """``size`` samples in ``d`` dimensions with independent coordinates of ``law``."""
    if law == "gaussian":
        return rng.standard_normal((size, d))
    if law == "student_t2":
        return rng.standard_t(2.0, (size, d))
    if law == "poisson3":
        return rng.poisson(3.0, (size, d)).astype(np.float64)
    raise ValueError(f"law must be one of {', '.join(LAWS)}; got {law!r}")


def randomised_pvalue(result: Any, rng: np.random.Generator) -> float:
    """The p-value with its ties broken at random: exactly uniform under the null.

    With ``g`` null statistics above the observed one and ``t`` tied with it,
    ``(g + U (t + 1)) / (B + 1)``, U uniform on (0, 1), is uniform on (0, 1) when the
    pooled sample is exchangeable, whatever B and however many ties: it checks the splits
    without the discreteness of ``k / (B + 1)`` or the conservatism of ties.
    """
    null = np.asarray(result.null)
    observed = result.statistic
    spread = max(abs(observed), float(np.std(null)), np.finfo(float).tiny)
    tolerance = 1e-9 * spread
    greater = int(np.count_nonzero(null > observed + tolerance))
    ties = int(np.count_nonzero(np.abs(null - observed) <= tolerance))
    return (greater + rng.uniform() * (ties + 1)) / (null.size + 1)


def _discrete_uniform(permutations: int) -> Any:
    """The CDF of a permutation p-value without ties: uniform on k / (B + 1)."""
    size = permutations + 1
    return lambda t: np.clip(np.floor(np.asarray(t) * size + 1e-9) / size, 0.0, 1.0)


def validity_cell(
    statistic: str, law: str, d: int, reps: int, permutations: int, options: dict[str, Any]
) -> dict[str, Any]:
    """Rejection rate and uniformity of the p-values of ``reps`` tests under the null."""
    import divergences as dv

    rng = np.random.default_rng([11, LAWS.index(law), d, len(statistic)])
    pvalues, randomised = [], []
    start = time.perf_counter()
    for rep in range(reps):
        x = draw(law, rng, VALIDITY_SIZE, d)
        y = draw(law, rng, VALIDITY_SIZE, d)
        try:
            result = dv.two_sample_test(
                x, y, statistic=statistic, permutations=permutations, seed=rep, **options
            )
        except ValueError as error:
            # the k-NN estimators refuse samples with too few distinct points (ties)
            return {"statistic": statistic, "law": law, "d": d, "refused": str(error)}
        pvalues.append(result.pvalue)
        randomised.append(randomised_pvalue(result, rng))
    seconds = time.perf_counter() - start
    p = np.asarray(pvalues)
    rate = float(np.mean(p <= ALPHA))
    return {
        "statistic": statistic,
        "law": law,
        "d": d,
        "n": VALIDITY_SIZE,
        "reps": reps,
        "permutations": permutations,
        "options": options,
        "rejection_rate": rate,
        "rejection_se": math.sqrt(ALPHA * (1 - ALPHA) / reps),
        "ks_pvalue_discrete": float(stats.kstest(p, _discrete_uniform(permutations)).pvalue),
        "ks_pvalue_randomised": float(stats.kstest(randomised, "uniform").pvalue),
        "pvalue_one_fraction": float(np.mean(p == 1.0)),
        "seconds_per_test": seconds / reps,
    }


def _alternative(kind: str, effect: float, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws of Q for the alternative ``kind`` at ``effect`` (P = N(0, 1))."""
    z = rng.standard_normal((size, 1))
    if kind == "shift":
        return z + effect
    if kind == "scale":
        return z * effect
    shifted = rng.uniform(size=(size, 1)) < effect
    return z + MIXTURE_SHIFT * shifted


def _scipy_statistic(matrix: np.ndarray, n: int, *, unbiased: bool) -> Any:
    """The MMD² with kernel matrix ``matrix`` of splits given as index rows, vectorised.

    ``-D`` (the distance matrix) gives the energy statistic. The rows ``ix``, ``iy`` of a
    batch become a 0/1 membership matrix ``L`` and the quadratic forms come from one BLAS
    product ``matrix @ L``, the fastest way we know to vectorise it over a batch.
    """
    count = matrix.shape[0]
    m = count - n
    row_sums = matrix.sum(axis=1)
    total = float(row_sums.sum())
    trace = float(np.trace(matrix))
    diagonal = np.diag(matrix).copy()

    def statistic(ix: np.ndarray, iy: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = np.atleast_2d(ix).astype(np.intp)
        labels = np.zeros((count, rows.shape[0]))
        labels[rows.T, np.arange(rows.shape[0])] = 1.0
        s_xx = np.einsum("ib,ib->b", labels, matrix @ labels)
        cross = labels.T @ row_sums
        s_xy = cross - s_xx
        s_yy = total - 2 * cross + s_xx
        if unbiased:
            d_x = labels.T @ diagonal
            d_y = trace - d_x
            values = (s_xx - d_x) / (n * (n - 1)) + (s_yy - d_y) / (m * (m - 1))
        else:
            values = s_xx / n**2 + s_yy / m**2
        values = values - 2 * s_xy / (n * m)
        return values if np.ndim(ix) > 1 else values[0]

    return statistic


def _scipy_gather_statistic(distances: np.ndarray) -> Any:
    """The energy statistic of index rows by gathering the distance blocks (no BLAS)."""

    def statistic(ix: np.ndarray, iy: np.ndarray, axis: int = -1) -> np.ndarray:
        ix = np.atleast_2d(ix).astype(np.intp)
        iy = np.atleast_2d(iy).astype(np.intp)
        values = []
        for a, b in zip(ix, iy, strict=True):
            xy = distances[np.ix_(a, b)].mean()
            xx = distances[np.ix_(a, a)].mean()
            yy = distances[np.ix_(b, b)].mean()
            values.append(2 * xy - xx - yy)
        return np.asarray(values)

    return statistic


def scipy_energy_test(x: np.ndarray, y: np.ndarray, seed: int, *, batch: int = 1000) -> Any:
    """SciPy's permutation test of the energy statistic, B = 999, on index arrays."""
    n = x.shape[0]
    z = np.concatenate([x, y])
    statistic = _scipy_statistic(-cdist(z, z), n, unbiased=False)
    return stats.permutation_test(
        (np.arange(n), np.arange(n, z.shape[0])),
        statistic,
        permutation_type="independent",
        vectorized=True,
        n_resamples=SCIPY_PERMUTATIONS,
        batch=batch,
        alternative="greater",
        rng=np.random.default_rng(seed),
    )


def power_point(
    kind: str, effect: float, scale: float, only: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Rejection rates at one effect size of every statistic and peer, same samples
    (``only``: of these statistics alone, on the same samples, without the peers)."""
    import divergences as dv

    rng = np.random.default_rng([23, list(EFFECTS).index(kind), round(1000 * effect)])
    most = max(config["reps"] for config in POWER.values())
    most = max(2, round(most * scale))
    names = [*POWER, *PEERS] if only is None else list(only)
    rejections: dict[str, list[bool]] = {name: [] for name in names}
    seconds: dict[str, float] = dict.fromkeys(rejections, 0.0)
    for rep in range(most):
        x = rng.standard_normal((POWER_SIZE, 1))
        y = _alternative(kind, effect, rng, POWER_SIZE)
        for name, config in POWER.items():
            if name not in rejections or rep >= max(2, round(config["reps"] * scale)):
                continue
            start = time.perf_counter()
            result = dv.two_sample_test(
                x,
                y,
                statistic=name,
                permutations=config["permutations"],
                seed=rep,
                **config["options"],
            )
            seconds[name] += time.perf_counter() - start
            rejections[name].append(result.pvalue <= ALPHA)
        if only is not None:
            continue
        start = time.perf_counter()
        peer = scipy_energy_test(x, y, seed=rep)
        seconds["scipy_energy"] += time.perf_counter() - start
        rejections["scipy_energy"].append(peer.pvalue <= ALPHA)
        for name, test in (
            ("ks_2samp", stats.ks_2samp),
            ("cramervonmises_2samp", stats.cramervonmises_2samp),
        ):
            start = time.perf_counter()
            value = test(x[:, 0], y[:, 0]).pvalue
            seconds[name] += time.perf_counter() - start
            rejections[name].append(value <= ALPHA)
    return {
        "alternative": kind,
        "effect": effect,
        "power": {name: float(np.mean(values)) for name, values in rejections.items()},
        "reps": {name: len(values) for name, values in rejections.items()},
        "permutations": {
            name: POWER[name]["permutations"] for name in rejections if name in POWER
        },
        "seconds_per_test": {
            name: seconds[name] / len(values) for name, values in rejections.items()
        },
    }


def _standardised_differences(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours against SciPy's energy test at each point, in binomial standard errors."""
    rows = []
    for point in points:
        ours, theirs = point["power"]["energy"], point["power"]["scipy_energy"]
        reps_ours, reps_theirs = point["reps"]["energy"], point["reps"]["scipy_energy"]
        variance = ours * (1 - ours) / reps_ours + theirs * (1 - theirs) / reps_theirs
        # a point where both always (or never) reject differs by nothing
        z = (ours - theirs) / math.sqrt(variance) if variance > 0 else 0.0
        rows.append(
            {
                "alternative": point["alternative"],
                "effect": point["effect"],
                "ours": ours,
                "scipy": theirs,
                "z": z,
            }
        )
    return rows


def _vm_hwm() -> float:
    """This process's peak resident memory in MB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One timed test in a fresh process: its times and its peak memory above the baseline.

    The baseline is the peak after the imports, the samples and a warm-up test on a few
    points, so that the difference is what the test itself holds.
    """
    import torch

    torch.set_num_threads(1)
    import divergences as dv

    rng = np.random.default_rng(5)
    size, d = spec["size"], spec["d"]
    x = rng.standard_normal((size, d))
    y = rng.standard_normal((size, d)) + 0.02
    options = spec.get("options", {})
    dv.two_sample_test(x[:50], y[:50], statistic=spec["statistic"], permutations=9, **options)
    baseline = _vm_hwm()
    times = []
    result = None
    load_start = _load()
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        result = dv.two_sample_test(
            x,
            y,
            statistic=spec["statistic"],
            permutations=spec["permutations"],
            seed=0,
            **options,
        )
        times.append(time.perf_counter() - start)
    assert result is not None
    return {
        "times": times,
        "seconds": float(np.median(times)),
        "baseline_mb": baseline,
        "peak_mb": _vm_hwm(),
        "peak_over_baseline_mb": _vm_hwm() - baseline,
        "statistic_value": result.statistic,
        "pvalue": result.pvalue,
        "load": [load_start, _load()],
    }


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def speed(quick: bool) -> dict[str, Any]:
    """Ours against SciPy's permutation_test at 5000 + 5000, and a fraction at 10^5 + 10^5."""
    import torch

    import divergences as dv

    torch.set_num_threads(1)
    size = 1000 if quick else 5000
    d, permutations = 32, 999
    rng = np.random.default_rng(5)
    x = rng.standard_normal((size, d))
    y = rng.standard_normal((size, d)) + 0.02
    z = np.concatenate([x, y])
    distances = cdist(z, z)
    bandwidth = float(np.median(distances[np.triu_indices(2 * size, 1)]))
    configurations = {
        "energy": ({}, -distances, False),
        "mmd": (
            {"bandwidth": bandwidth},
            np.exp(-0.5 * (distances / bandwidth) ** 2),
            True,
        ),
    }
    out: dict[str, Any] = {
        "n": size,
        "m": size,
        "d": d,
        "permutations": permutations,
        "bandwidth": bandwidth,
        "tests": {},
    }
    for name, (options, matrix, unbiased) in configurations.items():
        ours = _run_child(
            {
                "size": size,
                "d": d,
                "statistic": name,
                "permutations": permutations,
                "repeats": 1 if quick else 3,
                "options": options,
            }
        )
        reference = dv.two_sample_test(
            x, y, statistic=name, permutations=1, seed=0, **options
        ).statistic
        statistic = _scipy_statistic(matrix, size, unbiased=unbiased)
        observed = float(statistic(np.arange(size)[None], np.arange(size, 2 * size)[None])[0])
        data = (np.arange(size), np.arange(size, 2 * size))
        # SciPy with the BLAS statistic: batches of 128 index rows keep L at 10 MB while
        # each product is wide enough for BLAS; the whole test is run.
        batch = 128
        load_start = _load()
        start = time.perf_counter()
        blas = stats.permutation_test(
            data,
            statistic,
            permutation_type="independent",
            vectorized=True,
            n_resamples=permutations,
            batch=batch,
            alternative="greater",
            rng=np.random.default_rng(0),
        )
        blas_seconds = time.perf_counter() - start
        # SciPy with the gather statistic: a full test would take many minutes, so a
        # fraction of the permutations is timed and scaled to B + 1 statistics.
        fraction = 2 if quick else 8
        gather = _scipy_gather_statistic(-matrix if name == "energy" else matrix)
        start = time.perf_counter()
        stats.permutation_test(
            data,
            gather,
            permutation_type="independent",
            vectorized=True,
            n_resamples=fraction,
            batch=1,
            alternative="greater",
            rng=np.random.default_rng(0),
        )
        gather_seconds = (time.perf_counter() - start) * (permutations + 1) / (fraction + 1)
        out["tests"][name] = {
            "options": options,
            "ours": ours,
            "scipy_blas": {
                "seconds": blas_seconds,
                "batch": batch,
                "pvalue": float(blas.pvalue),
                "load": [load_start, _load()],
            },
            "scipy_gather": {
                "seconds_extrapolated": gather_seconds,
                "permutations_timed": fraction,
                "batch": 1,
                "statistic": "energy" if name == "energy" else "mmd (biased)",
            },
            "observed_ours": reference,
            "observed_scipy": observed if name == "energy" else None,
            "relative_difference_of_observed": abs(observed - reference) / abs(reference)
            if name == "energy"
            else None,
            "ratio_blas": blas_seconds / ours["seconds"],
            "ratio_gather": gather_seconds / ours["seconds"],
        }
        print(
            f"speed {name}: ours {ours['seconds']:.2f} s ({ours['peak_over_baseline_mb']:.0f} MB)"
            f", scipy blas {blas_seconds:.2f} s, gather ~{gather_seconds:.0f} s",
            flush=True,
        )
    large = 10_000 if quick else 100_000
    fraction = 20
    result = _run_child(
        {"size": large, "d": d, "statistic": "energy", "permutations": fraction, "repeats": 1}
    )
    per_statistic = result["seconds"] / (fraction + 1)
    out["large"] = {
        "n": large,
        "m": large,
        "d": d,
        "statistic": "energy",
        "permutations_run": fraction,
        **result,
        "seconds_per_permutation": per_statistic,
        "seconds_999_extrapolated": per_statistic * (permutations + 1),
    }
    print(f"speed large: {result['seconds']:.1f} s, {result['peak_over_baseline_mb']:.0f} MB")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run under a minute")
    parser.add_argument("--replot", action="store_true", help="the figure from the JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only",
        help="comma-separated statistics: rerun those of their validity cells and power "
        "points whose stored configuration differs from the script's (same samples) and "
        "replace them in the committed JSON",
    )
    parser.add_argument(
        "--force",
        metavar="REASON",
        help="with --only: rerun every cell and point of those statistics (the statistic "
        "changed); the reason is recorded with the rerun",
    )
    args = parser.parse_args()
    if args.only:
        rerun(tuple(args.only.split(",")), args.force)
        return
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if args.replot:
        plot(json.loads((RESULTS / "two_sample.json").read_text()), FIGURES)
        return
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    name = "two_sample_quick" if args.quick else "two_sample"
    scale = 0.01 if args.quick else 1.0
    started = time.perf_counter()
    payload: dict[str, Any] = {
        "threads": 1,
        "alpha": ALPHA,
        "quick": args.quick,
        "load_start": _load(),
        "validity": [],
        "power": [],
    }

    def save() -> None:
        payload["load_end"] = _load()
        payload["seconds"] = time.perf_counter() - started
        write_json(name, payload)

    payload["speed"] = speed(args.quick)
    save()
    for kind, effects in EFFECTS.items():
        for effect in effects if not args.quick else effects[::2]:
            point = power_point(kind, effect, scale)
            payload["power"].append(point)
            payload["power_vs_scipy"] = _standardised_differences(payload["power"])
            save()
            print(f"power {kind} {effect}: {point['power']}", flush=True)
    # cheap statistics first, so that an interrupted run keeps the most cells
    for statistic, config in VALIDITY.items():
        for d, reps in config["reps"].items():
            for law in LAWS:
                cell = validity_cell(
                    statistic,
                    law,
                    d,
                    max(3, round(reps * scale)),
                    config["permutations"] if not args.quick else 19,
                    config["options"],
                )
                payload["validity"].append(cell)
                save()
                if "refused" in cell:
                    print(f"validity {statistic} {law} d={d}: refused", flush=True)
                    continue
                print(
                    f"validity {statistic} {law} d={d}: rate {cell['rejection_rate']:.3f}, "
                    f"KS {cell['ks_pvalue_discrete']:.3f} / {cell['ks_pvalue_randomised']:.3f}, "
                    f"{cell['seconds_per_test']:.3f} s a test",
                    flush=True,
                )
    save()
    if not args.quick:
        plot(payload, FIGURES)
    print(f"wrote {RESULTS / (name + '.json')} in {payload['seconds']:.0f} s")


def _validity_current(cell: dict[str, Any]) -> bool:
    """Whether a stored validity cell was run with its statistic's configuration now
    (a refused cell stays refused: its samples are drawn from the same seeds)."""
    config = VALIDITY[cell["statistic"]]
    return "refused" in cell or (
        cell["reps"] == config["reps"][cell["d"]]
        and cell["permutations"] == config["permutations"]
        and cell["options"] == config["options"]
    )


def _power_current(point: dict[str, Any], name: str) -> bool:
    """Whether a stored power point holds ``name`` at its configuration now (points
    stored before the permutations were recorded count as stale)."""
    config = POWER[name]
    return (
        point["reps"].get(name) == config["reps"]
        and point.get("permutations", {}).get(name) == config["permutations"]
    )


def rerun(only: tuple[str, ...], force: str | None = None) -> None:
    """Rerun the validity cells and power points of the ``only`` statistics whose stored
    configuration (replicates, permutations, options) is not the one above, or all of
    them where ``force`` gives a reason (the statistic itself changed), and replace them
    in the committed results."""
    import torch

    unknown = set(only) - set(VALIDITY)
    if unknown:
        raise SystemExit(f"--only: unknown statistics {sorted(unknown)}")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    path = RESULTS / "two_sample.json"
    payload = json.loads(path.read_text())
    # the file keeps the full run's machine; each rerun records its own
    started = time.perf_counter()
    for point in payload["power"]:
        stale = tuple(name for name in only if force or not _power_current(point, name))
        if not stale:
            continue
        fresh = power_point(point["alternative"], point["effect"], 1.0, stale)
        for field in ("power", "reps", "permutations", "seconds_per_test"):
            point.setdefault(field, {}).update(fresh[field])
        print(f"power {point['alternative']} {point['effect']}: {fresh['power']}", flush=True)
    payload["power_vs_scipy"] = _standardised_differences(payload["power"])
    for index, cell in enumerate(payload["validity"]):
        if cell["statistic"] not in only or (not force and _validity_current(cell)):
            continue
        config = VALIDITY[cell["statistic"]]
        payload["validity"][index] = validity_cell(
            cell["statistic"],
            cell["law"],
            cell["d"],
            config["reps"][cell["d"]],
            config["permutations"],
            config["options"],
        )
        print(f"validity {cell['statistic']} {cell['law']} d={cell['d']}", flush=True)
    # every rerun since the full run, in order: which statistics, and how long
    payload.setdefault("reruns", []).append(
        {
            "statistics": list(only),
            "seconds": time.perf_counter() - started,
            "machine": machine(),
            **({"reason": force} if force else {}),
        }
    )
    payload["load_end"] = _load()
    write_json("two_sample", payload)
    plot(payload, FIGURES)


#: How the figure draws each statistic and peer.
STYLES: dict[str, dict[str, Any]] = {
    "energy": {"color": "C0", "marker": "o", "label": "energy"},
    "mmd": {"color": "C1", "marker": "s", "label": "MMD (Gaussian)"},
    "wasserstein": {"color": "C2", "marker": "^", "label": "Wasserstein (exact)"},
    "sliced": {"color": "C3", "marker": "v", "label": "sliced W"},
    "kl_knn": {"color": "C4", "marker": "D", "label": "k-NN KL"},
    "js_knn": {"color": "C5", "marker": "P", "label": "k-NN JS"},
    "sinkhorn": {"color": "C6", "marker": "X", "label": "Sinkhorn"},
    "scipy_energy": {
        "color": "black",
        "marker": "o",
        "linestyle": "none",
        "markerfacecolor": "none",
        "markersize": 10,
        "label": "SciPy permutation_test, energy",
    },
    "ks_2samp": {"color": "0.4", "linestyle": "--", "marker": "", "label": "SciPy ks_2samp"},
    "cramervonmises_2samp": {
        "color": "0.4",
        "linestyle": ":",
        "marker": "",
        "label": "SciPy cramervonmises_2samp",
    },
}
AXIS_LABELS = {
    "shift": "shift δ: Q = N(δ, 1)",
    "scale": "scale σ: Q = N(0, σ²)",
    "mixture": f"ε: Q = (1 − ε) N(0, 1) + ε N({MIXTURE_SHIFT:g}, 1)",
}


def plot(payload: dict[str, Any], folder: Path) -> None:
    """Power against effect size, one panel per alternative, one line per test."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 5.2), sharey=True)
    for ax, kind in zip(axes, EFFECTS, strict=True):
        points = [point for point in payload["power"] if point["alternative"] == kind]
        effects = [point["effect"] for point in points]
        for name, style in STYLES.items():
            values = [point["power"][name] for point in points]
            label = f"{style['label']} ({points[0]['reps'][name]} replicates)"
            ax.plot(
                effects, values, **{"linewidth": 1.4, "markersize": 5, **style, "label": label}
            )
        ax.axhline(ALPHA, color="red", linewidth=0.8, linestyle="-.")
        if ax is axes[0] and effects:
            ax.text(effects[-1], ALPHA + 0.02, "α = 0.05", color="red", ha="right")
        ax.set_xlabel(AXIS_LABELS[kind])
        ax.set_title(f"{kind}, d = 1, n = m = {POWER_SIZE}")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("rejection rate at α = 0.05")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.15, 1, 1))
    save_figure_path = folder / "two_sample_power.png"
    save_figure_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(save_figure_path, dpi=120)
    plt.close(fig)
    print(f"wrote {save_figure_path}")


if __name__ == "__main__":
    main()
