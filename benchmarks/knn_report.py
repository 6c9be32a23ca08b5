"""The tables and measured sentences of the k-NN page, rendered from the committed results.

docs/benchmarks/knn.md calls these while the site is built: the accuracy, JS and time
tables come from benchmarks/results/knn.json, the neighbour-search ones from
benchmarks/results/knn_search.json (docs/scaling.md reuses the latter).
"""

from __future__ import annotations

from typing import Any

from results_report import count, load, machine, number, percent, seconds, signed, span, table

#: The pairs as the page names them (the JSON's names are ASCII shorthands), and the
#: short names of the sentences under the tables.
PAIRS = {
    "easy: N(0, AA^T), d=3": "easy: Q = N(0, AAᵀ), d = 3",
    "easy: shift (1,0,0), d=3": "easy: Q = N((1, 0, 0), I), d = 3",
    "hard: N(0, diag(.25,1,1)), d=3": "hard: Q = N(0, diag(¼, 1, 1)), d = 3",
    "hard: N(0, diag(.25,.25,1,1,1)), d=5": "hard: Q = N(0, diag(¼, ¼, 1, 1, 1)), d = 5",
    "hard: bimodal P vs N(0, diag(.25,1,1)), d=3": (
        "hard, non-Gaussian: P bimodal, Q = N(0, diag(¼, 1, 1)), d = 3"
    ),
}

SHORT = {
    "easy: N(0, AA^T), d=3": "N(0, AAᵀ)",
    "easy: shift (1,0,0), d=3": "N((1, 0, 0), I)",
    "hard: N(0, diag(.25,1,1)), d=3": "N(0, diag(¼, 1, 1)) in d = 3",
    "hard: N(0, diag(.25,.25,1,1,1)), d=5": "N(0, diag(¼, ¼, 1, 1, 1)) in d = 5",
    "hard: bimodal P vs N(0, diag(.25,1,1)), d=3": "the bimodal pair",
}

DEFAULT = "default (reference, k=5)"
PLAIN_SHOWN = (1, 5, 10)


def accuracy() -> dict[str, Any]:
    return load("knn")


def search() -> dict[str, Any]:
    return load("knn_search")


def machine_line(payload: dict[str, Any]) -> str:
    return f"Machine: {machine(payload)}; {payload['seconds']:.0f} s for the whole run."


def pairs(payload: dict[str, Any]) -> list[str]:
    """The pairs in the order the run measured them."""
    return list(dict.fromkeys(row["pair"] for row in payload["accuracy"]))


def _cell(entry: dict[str, float]) -> str:
    return f"{signed(entry['bias'])} / {entry['sd']:.3f}"


def _rows(payload: dict[str, Any], pair: str) -> list[dict[str, Any]]:
    return [row for row in payload["accuracy"] if row["pair"] == pair]


def pair_table(payload: dict[str, Any], pair: str) -> str:
    """One pair's cells: bias / sd of the default and of the plain estimator, and the RMSE
    ratio (a ratio above 1, where the default did worse, in bold)."""
    rows = []
    for row in _rows(payload, pair):
        ratio = row["rmse_ratio_default_over_best_plain"]
        rows.append(
            [
                count(row["n"]),
                _cell(row[DEFAULT]),
                *(_cell(row[f"plain k={k}"]) for k in PLAIN_SHOWN),
                str(row["best_plain_k"]),
                f"**{ratio:.2f}**" if ratio > 1 else f"{ratio:.2f}",
            ]
        )
    header = [
        "n",
        "default",
        *(f"plain k = {k}" for k in PLAIN_SHOWN),
        "best plain k",
        "RMSE default / best plain",
    ]
    return table(header, rows)


def accuracy_tables(payload: dict[str, Any]) -> str:
    """A heading and a table for each pair, with its true KL."""
    parts = []
    for pair in pairs(payload):
        true = _rows(payload, pair)[0]["true"]
        parts.append(
            f"**{PAIRS.get(pair, pair)}**, KL = {true:.3f}\n\n{pair_table(payload, pair)}"
        )
    return "\n\n".join(parts)


def seeds(payload: dict[str, Any]) -> int:
    return int(payload["accuracy"][0]["seeds"])


def sizes(payload: dict[str, Any]) -> str:
    values = sorted({row["n"] for row in payload["accuracy"]})
    return ", ".join(count(n) for n in values)


def findings(payload: dict[str, Any]) -> str:
    """The measured sentences under the accuracy tables."""
    largest = max(row["n"] for row in payload["accuracy"])
    hard = [row for row in payload["accuracy"] if row["hard"]]
    easy = [row for row in payload["accuracy"] if not row["hard"]]
    plain_at_largest = []
    for pair in dict.fromkeys(row["pair"] for row in hard):
        row = next(r for r in _rows(payload, pair) if r["n"] == largest)
        best = row[f"plain k={row['best_plain_k']}"]
        plain_at_largest.append(
            f"{percent(best['bias'] / row['true'])} on {SHORT.get(pair, pair)}"
        )
    default_relative = [abs(row[DEFAULT]["bias"]) / row["true"] for row in hard]
    hard_ratios = [row["rmse_ratio_default_over_best_plain"] for row in hard]
    easy_ratios = [row["rmse_ratio_default_over_best_plain"] for row in easy]
    worse = [row for row in easy if row["rmse_ratio_default_over_best_plain"] > 1]
    lines = [
        f"- **Hard pairs.** At its best k, with {count(largest)} samples a side, the plain "
        f"estimator is off by {', '.join(plain_at_largest)}. The default's bias is at most "
        f"{100 * max(default_relative):.0f}% of the KL in every cell, and its RMSE is "
        f"{span(hard_ratios, lambda v: f'{v:.2f}')} times the plain estimator's best.",
        f"- **Easy pairs.** RMSE ratio {span(easy_ratios, lambda v: f'{v:.2f}')}; "
        f"{len(easy) - len(worse)} of the {len(easy)} cells are below 1.",
    ]
    if worse:
        cells = "; ".join(
            f"{SHORT.get(r['pair'], r['pair'])} at n = {count(r['n'])}, "
            f"{r['rmse_ratio_default_over_best_plain']:.2f}"
            for r in worse
        )
        lines[-1] += (
            f" Above 1: {cells}. With {seeds(payload)} seeds an RMSE ratio is itself uncertain "
            "by about a quarter, so such a cell shows the two estimators alike rather than "
            "the default worse."
        )
    return "\n".join(lines)


def js_table(payload: dict[str, Any]) -> str:
    js = payload["js"]
    ks = sorted(int(key.split("=")[1]) for key in js if key.startswith("k="))
    header = ["k", *(f"{k} (default)" if k == 5 else str(k) for k in ks)]
    return table(header, [["bias / sd", *(_cell_js(js[f"k={k}"]) for k in ks)]])


def _cell_js(entry: dict[str, float]) -> str:
    return f"{signed(entry['bias'], 4)} / {entry['sd']:.4f}"


def js_setting(payload: dict[str, Any]) -> str:
    js = payload["js"]
    return (
        f"P = N(0, I₃), Q = N((1, 0, 0), I₃), n = m = {count(js['n'])}, {js['seeds']} seeds; "
        f"the true JS, {js['true']:.4f}, is a Monte Carlo average over 2·10⁶ draws."
    )


def js_findings(payload: dict[str, Any]) -> str:
    js = payload["js"]
    default, one = js["k=5"], js["k=1"]
    return (
        "The mixture's density is at least half of each side's, so the plain log ratios "
        f"stay bounded and the bias is small ({percent(default['bias'] / js['true'])} at "
        f"k = 5); k = 5 trades it for a standard deviation {one['sd'] / default['sd']:.1f} "
        "times smaller than k = 1."
    )


def robustness_table(payload: dict[str, Any]) -> str | None:
    """The inputs outside the accuracy cells: default and plain, mean ± sd over seeds."""
    rows = payload.get("robustness")
    if not rows:
        return None
    body = [
        [
            row["case"],
            f"{row['true']:.3f}",
            f"{row['reference']['mean']:.3f} ± {row['reference']['sd']:.3f}",
            f"{row['plain']['mean']:.3f} ± {row['plain']['sd']:.3f}",
        ]
        for row in rows
    ]
    return table(["pair", "KL", "default", '`method="plain"`'], body)


def robustness_setting(payload: dict[str, Any]) -> str:
    rows = payload.get("robustness") or [{"n": 0}]
    return f"n = m = {count(rows[0]['n'])}, 5 seeds; estimates clipped at 0, as returned."


def timing_table(payload: dict[str, Any]) -> str:
    rows = []
    for row in payload["timings"]:
        brute = row.get("brute_force_plain")
        peer = f"{seconds(brute)} ({row['brute_over_tree']:.1f}× the tree)" if brute else "not run"
        rows.append(
            [
                count(row["n"]),
                seconds(row["kl_default"]),
                seconds(row["kl_plain"]),
                seconds(row["js"]),
                peer,
            ]
        )
    header = ["n = m", "`kl_knn` (default)", "`kl_knn` plain", "`js_knn`", "all-pairs plain"]
    return table(header, rows)


def timing_setting(payload: dict[str, Any]) -> str:
    first = payload["timings"][0]
    largest_peer = max(row["n"] for row in payload["timings"] if row.get("brute_force_plain"))
    return (
        f"d = {first['d']}, P = N(0, I) against N(0.5, I), median of {first['repeats']} runs "
        "after a warm-up. The peer is the same plain estimate (k = 5) from all-pairs distance "
        "matrices (SciPy's `cdist` and a partial sort), up to n = "
        f"{count(largest_peer)} (at 10⁵ a side it would need two 80 GB matrices)."
    )


def timing_findings(payload: dict[str, Any]) -> str:
    last = payload["timings"][-1]
    return (
        f"{count(last['n'])} points a side take {seconds(last['kl_default'])} for KL and "
        f"{seconds(last['js'])} for JS (two trees on the pooled points). The default costs "
        f"{last['kl_default'] / last['kl_plain']:.1f}× the plain estimator there: the "
        "whitening, the distinct-point check and one noncentral χ² CDF (and its derivatives) "
        "per sample."
    )


def load_range(payload: dict[str, Any]) -> str:
    """The range of the one-minute load averages the search benchmark recorded."""
    values = [
        value
        for part in ("searches", "crossover_by_size", "kl_knn")
        for value in payload[part]["load"]
    ]
    return f"{min(values):.1f} to {max(values):.1f}"


def search_machine(payload: dict[str, Any]) -> str:
    return (
        f"Machine: {machine(payload)}; load {load_range(payload)} on "
        f"{payload['machine']['cores']} cores while it ran, so the times are slow and the "
        "ratios, taken in the same run, are the numbers to read."
    )


def estimator_table(payload: dict[str, Any]) -> str:
    """`kl_knn` with the k-d tree for every d against the default search choice."""
    rows = []
    for row in payload["kl_knn"]["rows"]:
        ratio = row["old_over_new"]
        rows.append(
            [
                f"d = {row['d']}",
                seconds(row["old_tree_only"]),
                seconds(row["new_default"]),
                f"{ratio:.1f}×",
            ]
        )
    size = count(payload["kl_knn"]["rows"][0]["n"])
    header = [f"`kl_knn`, {size} samples a side", "k-d tree at every d", "default", "speed-up"]
    return table(header, rows)


def _search_ratio(payload: dict[str, Any], d: int) -> float:
    row = next(r for r in payload["searches"]["rows"] if r["d"] == d)
    return float(row["tree_over_blocked"])


def search_findings(payload: dict[str, Any]) -> str:
    """The crossover dimensions and the searches' ratios at the ends of the sweep."""
    rows = payload["searches"]["rows"]
    size = count(rows[0]["n"])
    low, high = rows[0]["d"], rows[-1]["d"]
    by_size = ", ".join(
        f"{number(entry['crossover_d'], 3)} for {count(entry['m'])}"
        for entry in payload["crossover_by_size"]["sizes"]
    )
    speedups = [row["old_over_new"] for row in payload["kl_knn"]["rows"] if row["d"] > 8]
    return (
        f"The tree wins in low dimension ({1 / _search_ratio(payload, low):.0f}× faster in "
        f"d = {low}, {1 / _search_ratio(payload, 8):.1f}× in d = 8 at n = {size}) and loses "
        f"above: the crossover (the searches alone) is at d ≈ "
        f"{number(payload['searches']['crossover_d'], 2)} for n = {size}, and by the number "
        f"of points searched at d ≈ {by_size}; at d = {high} the blocked search is "
        f"{_search_ratio(payload, high):.0f}× faster. The default search made `kl_knn` "
        f"{span(speedups, lambda v: f'{v:.0f}')}× faster than the tree alone above d = 8."
    )
