"""The table and measured sentences of the KL/JS page, rendered from the committed
results (benchmarks/results/information.json) while the site is built."""

from __future__ import annotations

from typing import Any

from results_report import count, load, machine, number, table


def results() -> dict[str, Any]:
    return load("information")


def machine_line(payload: dict[str, Any]) -> str:
    return (
        f"Machine: {machine(payload)}. Median of {payload['repeats']} timed runs after one "
        "warm-up; seeded data with 10% zeros in p; both libraries timed in the same run."
    )


def _difference(value: float) -> str:
    return "0" if value == 0 else number(value, 2)


def ratio_table(payload: dict[str, Any]) -> str:
    rows = []
    for case in payload["cases"]:
        kl, js = case["kl"], case["js"]
        rows.append(
            [
                f"{count(case['batch'])} × {count(case['outcomes'])}",
                f"{kl['ratio']:.2f}",
                f"{js['ratio']:.2f}",
                _difference(max(kl["max_abs_difference"], js["max_abs_difference"])),
            ]
        )
    header = [
        "batch × outcomes",
        "`dv.kl` / `scipy.stats.entropy`",
        "`dv.js` / `jensenshannon`²",
        "max \\|difference\\|",
    ]
    return table(header, rows)


def findings(payload: dict[str, Any]) -> str:
    smallest = min(payload["cases"], key=lambda c: c["batch"] * c["outcomes"])
    js = smallest["js"]
    large = [c for c in payload["cases"] if c["batch"] * c["outcomes"] >= 1e5]
    worst = max(max(c["kl"]["ratio"], c["js"]["ratio"]) for c in large)
    return (
        "The ratio is our time over SciPy's (below 1: faster). On tiny inputs the input "
        f"checks dominate (about {js['divergences_s'] * 1e6:.0f} µs for a "
        f"{smallest['outcomes']}-outcome JS against SciPy's {js['scipy_s'] * 1e6:.0f} µs); "
        f"from 10⁵ entries on our time is at most {worst:.2f} of SciPy's, and the values agree "
        "with it to rounding."
    )
