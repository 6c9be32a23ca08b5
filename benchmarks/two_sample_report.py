"""The tables and measured sentences of the two-sample test page, from the committed results.

docs/benchmarks/two_sample.md calls these while the site is built: validity, power and
speed come from benchmarks/results/two_sample.json, the Fréchet distance and KID section
from benchmarks/results/frechet.json.
"""

from __future__ import annotations

import math
from typing import Any

from results_report import count, load, machine, megabytes, number, seconds, span, table

#: The target band of the rejection rate at alpha = 0.05 under the null, and the level at
#: which the KS test of the p-values should not reject.
BAND = (0.035, 0.065)
KS_LEVEL = 0.01

LAWS = {"gaussian": "Gaussian", "student_t2": "Student t, 2 dof", "poisson3": "Poisson(3)"}
SHORT_LAWS = {"gaussian": "Gaussian", "student_t2": "t₂", "poisson3": "Poisson(3)"}
NAMES = {
    "energy": "energy",
    "mmd": "MMD (Gaussian, median bandwidth)",
    "wasserstein": "Wasserstein (exact)",
    "sliced": "sliced Wasserstein",
    "kl_knn": "k-NN KL",
    "js_knn": "k-NN JS",
    "sinkhorn": "Sinkhorn",
    "scipy_energy": "SciPy `permutation_test`, energy",
    "ks_2samp": "SciPy `ks_2samp`",
    "cramervonmises_2samp": "SciPy `cramervonmises_2samp`",
}


def results() -> dict[str, Any]:
    return load("two_sample")


def frechet() -> dict[str, Any]:
    return load("frechet")


def _load_range(payload: dict[str, Any]) -> str:
    values = [*payload["load_start"], *payload["load_end"]]
    speed = payload.get("speed", {})
    for test in speed.get("tests", {}).values():
        values += [*test["ours"]["load"][0], *test["ours"]["load"][1]]
    return f"{min(values):.1f} to {max(values):.1f}"


def _duration(value: float) -> str:
    if value < 120:
        return seconds(value)
    return f"{value / 60:.0f} minutes" if value < 7200 else f"{value / 3600:.1f} hours"


def machine_line(payload: dict[str, Any]) -> str:
    line = (
        f"Machine: {machine(payload)}; one-minute load {_load_range(payload)} on "
        f"{payload['machine']['cores']} cores while it ran; {_duration(payload['seconds'])} "
        "for the whole run, on one thread."
    )
    for rerun in payload.get("reruns", []):
        if "machine" not in rerun:
            continue
        why = f" ({rerun['reason']})" if rerun.get("reason") else ""
        line += (
            f" Rerun on {machine(rerun)}, "
            f"{_duration(rerun['seconds'])}: {', '.join(rerun['statistics'])}{why}."
        )
    return line


# --- validity -------------------------------------------------------------------------


def _cells(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [cell for cell in payload["validity"] if "refused" not in cell]


def _inside(cell: dict[str, Any]) -> bool:
    return BAND[0] <= cell["rejection_rate"] <= BAND[1]


def validity_setting(payload: dict[str, Any]) -> str:
    cells = _cells(payload)
    first = cells[0]
    by_statistic: dict[str, set[int]] = {}
    for cell in cells:
        by_statistic.setdefault(cell["statistic"], set()).add(cell["permutations"])
    permutations = "; ".join(
        f"{NAMES[name]} {', '.join(str(b) for b in sorted(values))}"
        for name, values in by_statistic.items()
    )
    return (
        f"x and y are {first['n']} draws each from one law, with independent coordinates. "
        f"Permutations B: {permutations}. Each cell is the rejection rate at "
        f"α = {payload['alpha']} over its replicates, and in brackets the p-value of a KS "
        "test of the replicates' p-values against their null law."
    )


def validity_table(payload: dict[str, Any]) -> str:
    """Statistic and dimension by row, law by column: rejection rate (KS p-value)."""
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for cell in payload["validity"]:
        rows.setdefault((cell["statistic"], cell["d"]), {})[cell["law"]] = cell
    body = []
    for (statistic, d), laws in rows.items():
        ran = [cell for cell in laws.values() if "refused" not in cell]
        reps = span([cell["reps"] for cell in ran], count) if ran else "–"
        entries = []
        for law in LAWS:
            cell = laws.get(law)
            if cell is None:
                entries.append("not run")
            elif "refused" in cell:
                entries.append("refused: repeated points")
            else:
                rate = f"{cell['rejection_rate']:.3f}"
                if not _inside(cell):
                    rate = f"**{rate}**"
                entries.append(f"{rate} ({number(cell['ks_pvalue_discrete'], 2)})")
        body.append([NAMES[statistic], str(d), reps, *entries])
    header = ["statistic", "d", "replicates", *LAWS.values()]
    return table(header, body)


def validity_findings(payload: dict[str, Any]) -> str:
    cells = _cells(payload)
    inside = [cell for cell in cells if _inside(cell)]
    outside = [cell for cell in cells if not _inside(cell)]
    full = [cell for cell in cells if cell["reps"] >= 2000]
    full_inside = [cell for cell in full if _inside(cell)]
    rejected = [cell for cell in cells if cell["ks_pvalue_discrete"] < KS_LEVEL]
    randomised = [cell for cell in cells if cell["ks_pvalue_randomised"] < KS_LEVEL]
    refused = [cell for cell in payload["validity"] if "refused" in cell]
    lines = [
        f"- **Rejection rate.** {len(inside)} of the {len(cells)} cells lie in "
        f"[{BAND[0]}, {BAND[1]}]; of the {len(full)} cells with {count(2000)} replicates, "
        f"{len(full_inside)}. The rates span "
        f"{span([c['rejection_rate'] for c in cells], lambda v: f'{v:.3f}')}.",
    ]
    if outside:
        groups: dict[str, list[dict[str, Any]]] = {}
        for cell in outside:
            groups.setdefault(cell["statistic"], []).append(cell)
        lines[-1] += " Outside (in bold above): " + "; ".join(
            f"{NAMES[name]}, {len(group)} cell{'s' if len(group) > 1 else ''}, "
            f"{span([c['reps'] for c in group], count)} replicates (one standard error "
            f"{span([c['rejection_se'] for c in group], lambda v: f'{v:.3f}')}), "
            f"rate{'s' if len(group) > 1 else ''} "
            f"{span([c['rejection_rate'] for c in group], lambda v: f'{v:.3f}')}"
            for name, group in groups.items()
        )
        lines[-1] += "."
    lines.append(
        f"- **Uniformity.** The KS test of the p-values against their null law rejects at "
        f"1% in {len(rejected)} of {len(cells)} cells"
        + (": " + _ks_groups(rejected) + "." if rejected else ".")
        + f" With ties broken at random it rejects in {len(randomised)}"
        + (": " + "; ".join(_ks_cell(c, "randomised") for c in randomised) if randomised else "")
        + "."
    )
    tied = [c for c in rejected if c["ks_pvalue_randomised"] >= KS_LEVEL]
    if tied:
        lines[-1] += (
            f" In {len(tied)} of the cells where the first check rejects, the randomised "
            "one does not: the departure comes from ties (integer-valued samples in d = 1, "
            "where the null statistic takes few distinct values) or from the coarseness "
            "of k/(B + 1), not from the permutations. A tie "
            "counts as evidence for the null, so the test stays valid (the rejection rates "
            "above), conservative by the weight of the ties."
        )
    ones = [
        c
        for c in cells
        if c["statistic"] in ("kl_knn", "js_knn") and c["pvalue_one_fraction"] > 0.2
    ]
    fractions: dict[str, list[float]] = {}
    for cell in ones:
        fractions.setdefault(cell["statistic"], []).append(cell["pvalue_one_fraction"])
    if ones:
        lines.append(
            "- **Ties at p = 1.** The observed k-NN statistic and most of the null tie: "
            "p = 1 in "
            + "; ".join(
                f"{span(fractions[name], _share)}"
                f" of the {NAMES[name]} tests ("
                + ", ".join(
                    f"{SHORT_LAWS[c['law']]} in d = {c['d']}"
                    for c in ones
                    if c["statistic"] == name
                )
                + ")"
                for name in fractions
            )
            + ". Ties count against rejection, so such a test is valid but conservative, "
            "and its p-values are not uniform."
        )
    if refused:
        lines.append(
            "- **Refused.** "
            + "; ".join(
                f"{NAMES[c['statistic']]}, {LAWS[c['law']]}, d = {c['d']}" for c in refused
            )
            + f": {refused[0]['refused'].split(';')[0]}."
        )
    return "\n".join(lines)


def _share(value: float) -> str:
    return f"{100 * value:.0f}%"


def _ks_groups(cells: list[dict[str, Any]]) -> str:
    """The cells by statistic: the laws and dimensions where the KS check rejects."""
    groups: dict[str, list[str]] = {}
    for cell in cells:
        groups.setdefault(NAMES[cell["statistic"]], []).append(
            f"{SHORT_LAWS[cell['law']]} in d = {cell['d']}"
        )
    return "; ".join(f"{name} ({', '.join(where)})" for name, where in groups.items())


def _ks_cell(cell: dict[str, Any], kind: str = "discrete") -> str:
    return (
        f"{NAMES[cell['statistic']]}, {LAWS[cell['law']]}, d = {cell['d']} "
        f"(p = {number(cell[f'ks_pvalue_{kind}'], 2)})"
    )


def validity_cost(payload: dict[str, Any]) -> str:
    """Seconds per test under the null, slowest statistic first."""
    per: dict[str, list[float]] = {}
    for cell in _cells(payload):
        per.setdefault(cell["statistic"], []).append(cell["seconds_per_test"])
    listing = ", ".join(f"{NAMES[name]} {span(values, seconds)}" for name, values in per.items())
    return f"Time per test (n = m = {_cells(payload)[0]['n']}): {listing}."


# --- power ----------------------------------------------------------------------------


def _points(payload: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [point for point in payload["power"] if point["alternative"] == kind]


def alternatives(payload: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(point["alternative"] for point in payload["power"]))


def power_table(payload: dict[str, Any], kind: str) -> str:
    """One alternative: a row per test, a column per effect size."""
    points = _points(payload, kind)
    header = ["test (replicates)", *(f"{point['effect']:g}" for point in points)]
    body = []
    for name in points[0]["power"]:
        reps = points[0]["reps"][name]
        body.append(
            [f"{NAMES[name]} ({reps})", *(f"{point['power'][name]:.2f}" for point in points)]
        )
    return table(header, body)


def power_versus_scipy(payload: dict[str, Any]) -> str:
    rows = payload["power_vs_scipy"]
    worst = max(rows, key=lambda row: abs(row["z"]))
    reps = payload["power"][0]["reps"]
    return (
        f"Our energy test and SciPy's `permutation_test` of the same statistic (B = 999 "
        f"both, {span([reps['energy'], reps['scipy_energy']], count)} replicates a point "
        "each, the same "
        f"samples, different permutations) differ by at most {abs(worst['z']):.2f} binomial "
        f"standard errors over the {len(rows)} points (at {worst['alternative']} "
        f"{worst['effect']:g}: {worst['ours']:.2f} against {worst['scipy']:.2f}); the "
        "standard error assumes independent samples, and shared samples make the real "
        "noise of the difference smaller."
    )


def power_cost(payload: dict[str, Any]) -> str:
    names = list(payload["power"][0]["seconds_per_test"])
    means = {
        name: sum(point["seconds_per_test"][name] for point in payload["power"])
        / len(payload["power"])
        for name in names
    }
    return (
        "Mean time per test: "
        + ", ".join(f"{NAMES[name]} {seconds(value)}" for name, value in means.items())
        + "."
    )


# --- speed ----------------------------------------------------------------------------


def speed_setting(payload: dict[str, Any]) -> str:
    speed = payload["speed"]
    gather = speed["tests"]["energy"]["scipy_gather"]
    blas = speed["tests"]["energy"]["scipy_blas"]
    return (
        f"{count(speed['n'])} + {count(speed['m'])} points in d = {speed['d']}, "
        f"B = {speed['permutations']}, one thread. Ours: the median of "
        f"{len(speed['tests']['energy']['ours']['times'])} runs in a fresh process after a "
        "warm-up, its peak resident memory (VmHWM) above the process's peak before the "
        'test. SciPy\'s `permutation_test` (`permutation_type="independent"`, '
        "`vectorized=True`) permutes index arrays over a precomputed matrix (distances, or "
        "the Gaussian kernel at the same bandwidth), in two forms: a statistic from one "
        f"BLAS product of the matrix with a batch of 0/1 membership columns (`batch="
        f"{blas['batch']}`, the whole test timed), and a statistic that gathers the x–x, "
        f"x–y and y–y blocks of each index row (`batch={gather['batch']}`, as the blocks "
        f"fill memory; {gather['permutations_timed']} permutations timed and scaled to "
        f"{speed['permutations'] + 1} statistics)."
    )


def speed_table(payload: dict[str, Any]) -> str:
    body = []
    for name, test in payload["speed"]["tests"].items():
        body.append(
            [
                NAMES[name].split(" (")[0],
                seconds(test["ours"]["seconds"]),
                megabytes(test["ours"]["peak_over_baseline_mb"]),
                seconds(test["scipy_blas"]["seconds"]),
                f"{test['ratio_blas']:.1f}×",
                seconds(test["scipy_gather"]["seconds_extrapolated"]),
                f"{test['ratio_gather']:.0f}×",
            ]
        )
    header = [
        "test",
        "ours",
        "ours: peak memory",
        "SciPy, BLAS statistic",
        "SciPy BLAS / ours",
        "SciPy, gather statistic (scaled)",
        "SciPy gather / ours",
    ]
    return table(header, body)


def speed_findings(payload: dict[str, Any]) -> str:
    speed = payload["speed"]
    energy = speed["tests"]["energy"]
    large = speed["large"]
    load = [*energy["ours"]["load"][0], *energy["ours"]["load"][1]]
    return (
        f"- The observed energy statistics of the two implementations agree to "
        f"{number(energy['relative_difference_of_observed'], 2)} relative. The one-minute "
        f"load during our energy test was {span(load, lambda v: f'{v:.1f}')}.\n"
        f"- **{count(large['n'])} + {count(large['m'])} points**, d = {large['d']}: "
        f"{large['permutations_run']} permutations (and the observed split) in "
        f"{seconds(large['seconds'])}, {seconds(large['seconds_per_permutation'])} a "
        f"statistic, peak memory {megabytes(large['peak_over_baseline_mb'])} above the "
        f"baseline (the pooled sample alone is "
        f"{megabytes((large['n'] + large['m']) * large['d'] * 8 / 1e6)}). Scaled linearly to "
        f"B = {speed['permutations']}: {_duration(large['seconds_999_extrapolated'])}, an "
        "upper bound, as each sweep of the kernel matrix serves up to a whole batch of "
        "permutations."
    )


# --- Fréchet distance and KID ---------------------------------------------------------


def frechet_line(payload: dict[str, Any]) -> str:
    return (
        f"Machine: {machine(payload)}; benchmarks/frechet.py, median of "
        f"{payload.get('repeats', 1)} runs."
    )


def frechet_table(payload: dict[str, Any]) -> str:
    body = [
        [
            str(row["d"]),
            count(row["n"]),
            number(row["relative_difference"], 2),
            seconds(row["ours_seconds"]),
            seconds(row["reference_seconds"]),
        ]
        for row in payload["well_conditioned"]
    ]
    header = ["d", "n", "relative difference", "ours", "`scipy.linalg.sqrtm` formula"]
    return table(header, body)


def frechet_singular_table(payload: dict[str, Any]) -> str:
    body = [
        [
            row["case"].replace("<", "&lt;"),
            number(row["relative_difference_svd"], 2),
            "complex" if row.get("sqrtm_complex") else "real",
            number(row["sqrtm_imaginary_max"], 2),
            number(row["relative_change_permutation"], 2),
            number(row["relative_change_float32"], 2),
        ]
        for row in payload["singular"]
    ]
    header = [
        "features",
        "ours against an SVD reference",
        "`sqrtm`",
        "largest imaginary part",
        "change: permuted samples",
        "change: float32 input",
    ]
    return table(header, body)


def frechet_ill_conditioned_table(payload: dict[str, Any]) -> str | None:
    """Covariances over many decades: ours and the sqrtm formula against a closed form or
    60-digit arithmetic (None where the run did not measure them)."""
    rows = payload.get("ill_conditioned")
    if not rows:
        return None
    body = [
        [
            row["case"],
            f"{row['reference']:.6g} ({row['reference_kind']})",
            number(row["ours_relative_error"], 2),
            number(row["sqrtm_relative_error"], 2),
        ]
        for row in rows
    ]
    header = ["features", "reference", "ours: relative error", "`sqrtm` formula: relative error"]
    return table(header, body)


def kid_table(payload: dict[str, Any]) -> str | None:
    """The KID rows, where the Fréchet benchmark measured them (None otherwise)."""
    rows = payload.get("kid")
    if not rows:
        return None
    if isinstance(rows, dict):
        rows = [rows]
    keys = [key for key in rows[0] if not isinstance(rows[0][key], (list, dict))]
    body = [
        [number(row[k], 3) if isinstance(row[k], float) else str(row[k]) for k in keys]
        for row in rows
    ]
    return table(keys, body)


def power_setting(payload: dict[str, Any]) -> str:
    """The samples, permutations and replicates of the power curves, from the results."""
    import two_sample

    first = payload["power"][0]
    permutations = "; ".join(
        f"{NAMES[name]} {first['permutations'][name]}" for name in two_sample.POWER
    )
    fewest = min(first["reps"][name] for name in two_sample.POWER)
    return (
        f"P = N(0, 1), d = 1, n = m = {two_sample.POWER_SIZE}; the mixture's shifted "
        f"component is N({two_sample.MIXTURE_SHIFT:g}, 1). Every test sees the same "
        f"samples at a replicate. Permutations B: {permutations}; SciPy's "
        f"`permutation_test` {two_sample.SCIPY_PERMUTATIONS}. The statistics computed once "
        "per split (or, Sinkhorn, once per batch of splits) run fewer permutations, and the "
        "slowest fewer replicates (the legend and the tables give each test's count); a "
        "smaller B costs a little power, never validity: p ≤ α still has probability at "
        f"most α. A rate from {fewest} replicates has a standard error of at most "
        f"{0.5 / math.sqrt(fewest):.3f} (at a rate of 0.5)."
    )


def neural() -> dict[str, Any]:
    return load("neural_pvalue")


def neural_setting(payload: dict[str, Any]) -> str:
    return (
        f"Machine: {machine(payload)}. Each problem: N(0, I) against N(δ e₁, I) in "
        f"d = {payload['d']}, "
        f"{count(payload['n'])} samples a side, `wasserstein_dual(x, y, steps="
        f"{payload['steps']}, seed=...)` (its test split: a fifth of each sample), and the "
        f"energy test with B = 999 on the same samples; {count(payload['replicates'])} "
        f"problems per δ; {_duration(payload['seconds'])} in all on one thread."
    )


def neural_table(payload: dict[str, Any]) -> str:
    rows = []
    for entry in payload["by_shift"]:
        row = [f"{entry['shift']:g}"]
        for test in ("neural", "energy"):
            result = entry[test]
            row.append(f"{result['rejection_rate']:.3f}")
            if entry["shift"] == 0:
                row.append(f"{result['ks_uniform_pvalue']:.2f}")
            else:
                row.append("–")
        rows.append(row)
    return table(
        [
            "shift δ",
            "critic: rejection rate at 0.05",
            "critic: KS p-value vs uniform",
            "energy: rejection rate",
            "energy: KS p-value",
        ],
        rows,
    )
