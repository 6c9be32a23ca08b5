"""The tables and figures' numbers of the gradients page, rendered from the committed results.

The page (docs/benchmarks/gradients.md) calls these while the site is built, so every
number it states is the one in benchmarks/results/gradients.json, with the machine and
date of the run that wrote it.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "gradients.json"

#: The rows of the page's table, in its order, with the names a reader knows them by.
ROWS = {
    "w_exact": "W1, closed form",
    "w_lp": "W1, exact LP of the samples (POT)",
    "w_critic": "W1, neural critic",
    "js_exact": "JS, closed form",
    "js_histogram": "JS, histograms",
    "js_knn": "JS, k-NN",
    "js_discriminator": "JS, GAN discriminator",
    "gan_saturating": "GAN loss log(1 − D) (saturating)",
    "gan_non_saturating": "GAN loss −log D (non-saturating)",
    "kl_knn": "KL, k-NN",
    "sinkhorn_0.02": "Sinkhorn divergence, blur 0.02",
    "sinkhorn_0.2": "Sinkhorn divergence, blur 0.2",
    "energy": "energy distance",
}

#: The θ of the table.
THETAS = (-1.0, -0.1, 0.05, 0.25, 1.0, 2.0)

#: The dynamics' losses as the page names them.
LOSSES = {
    "w_lp": "W1, exact LP",
    "w_critic": "W1, neural critic",
    "gan_saturating": "GAN, saturating log(1 − D)",
    "gan_non_saturating": "GAN, non-saturating −log D",
    "js_histogram": "JS of histograms",
}


def load(path: Path = RESULTS) -> dict[str, Any]:
    return json.loads(path.read_text())


def number(value: float) -> str:
    """Three significant digits, or a power of ten for the huge and the tiny."""
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPTS)}".replace("-", "−")
    return f"{value:.3g}".replace("-", "−")


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def machine(payload: dict[str, Any]) -> str:
    record = payload["machine"]
    packages = record.get("packages", {})
    return (
        f"{record['cpu']}, {record['cores']} cores, CPU only (torch threads: "
        f"{record['torch_threads']}); Python {record['python']}, torch "
        f"{packages.get('torch')}, POT {packages.get('pot')}; run {record['date'][:10]}, "
        f"{payload['seconds'] / 60:.1f} minutes for the whole run"
    )


#: The experiment behind each phase of the run, whose defaults hold what the JSON omits.
PHASES = {
    "sweep": "gradient_sweep",
    "dynamics": "training_dynamics",
    "picture": "critic_picture",
    "timing": "batched_timing",
}


def argument(payload: dict[str, Any], phase: str, key: str) -> Any:
    """An argument of a phase's experiment: as the run recorded it, else the default the
    run used (the full run passes only what differs from the defaults)."""
    entry = payload["settings"][phase]
    if key in entry:
        return entry[key]
    from divergences.experiments import gradients

    signature = inspect.signature(getattr(gradients, PHASES[phase]))
    return signature.parameters[key].default


def network_setting(payload: dict[str, Any], phase: str, key: str) -> Any:
    """A training option of a phase's networks, as the run recorded it."""
    return payload["settings"][phase]["networks"][key]


def derivative(payload: dict[str, Any], method: str, theta: float) -> tuple[float, float]:
    """Mean and sd over the seeds of d value / d θ of ``method`` at ``theta``."""
    entry = payload["summary"][method]
    index = entry["theta"].index(theta)
    return float(entry["derivative"][index]), float(entry["derivative_sd"][index])


def gradient_table(payload: dict[str, Any]) -> str:
    lines = [
        "| method | " + " | ".join(f"θ = {number(t)}" for t in THETAS) + " |",
        "|---|" + "---|" * len(THETAS),
    ]
    for method, name in ROWS.items():
        cells = []
        for theta in THETAS:
            mean, sd = derivative(payload, method, theta)
            cell = number(mean)
            if sd > 0.01 * max(1.0, abs(mean)):
                cell += f" (sd {number(sd)})"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def final_theta(payload: dict[str, Any], method: str, theta0: float) -> float:
    for run in payload["dynamics"]:
        if run["method"] == method and run["theta0"] == theta0:
            return float(run["thetas"][-1])
    raise KeyError((method, theta0))


def _ending(theta0: float, final: float) -> str:
    if not math.isfinite(final) or abs(final) > 10 * abs(theta0):
        return f"{number(final)} (diverged)"
    if abs(final - theta0) < 0.1 * abs(theta0):
        return f"{number(final)} (stalled)"
    return number(final)


def dynamics_table(payload: dict[str, Any]) -> str:
    starts = sorted({run["theta0"] for run in payload["dynamics"]}, reverse=True)
    iterations = len(payload["dynamics"][0]["thetas"]) - 1
    lines = [
        "| loss | "
        + " | ".join(f"θ after {iterations} iterations from θ₀ = {number(t)}" for t in starts)
        + " |",
        "|---|" + "---|" * len(starts),
    ]
    for method, name in LOSSES.items():
        cells = [_ending(t, final_theta(payload, method, t)) for t in starts]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stack_table(payload: dict[str, Any]) -> str:
    timing = payload["batched_timing"]
    return "\n".join(
        [
            "| | seconds |",
            "|---|---|",
            f"| one critic | {timing['one_seconds']:.2f} |",
            f"| {timing['count']} critics as one stack | {timing['stack_seconds']:.2f} |",
            f"| ratio | **{timing['ratio']:.2f}×** |",
        ]
    )
