"""The tables and measured sentences of the generator-training page, rendered from the
committed results while the site is built: benchmarks/results/generators.json (the
trainings, the step speed), sinkhorn.json (the solver comparison) and
gpu-nvidia-h200.json (the GPU figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from results_report import RESULTS, load, machine, number, seconds, table

GENERATORS = RESULTS / "generators.json"
GPU = "gpu-nvidia-h200"

#: The losses as a user writes them, in the page's order.
LOSSES = {
    "wasserstein": "`WassersteinLoss()`",
    "exact": "`ExactWassersteinLoss()`",
    "sinkhorn": "`SinkhornLoss()`",
    "energy": "`EnergyLoss()`",
    "gan_saturating": '`GANLoss("saturating")`',
    "gan_non_saturating": '`GANLoss("non_saturating")`',
}

TARGETS = {"ring": "8 Gaussians on a ring", "grid": "25 Gaussians on a grid", "roll": "Swiss roll"}


def results(path: Path = GENERATORS) -> dict[str, Any]:
    return load(path.stem)


def summary(path: Path = GENERATORS) -> list[dict[str, Any]]:
    from divergences.experiments.report import generator_summary

    return generator_summary(path)


def machine_line(payload: dict[str, Any]) -> str:
    settings = payload["settings"]
    return (
        f"Machine: {machine(payload, threads=False)} (one thread per run, two runs at a "
        f"time); {settings['seeds']} seeds, {settings['steps']} generator steps of "
        f"{settings['batch_size']} samples, {payload['benchmark_seconds'] / 60:.0f} minutes "
        "for the whole benchmark."
    )


def rates(payload: dict[str, Any]) -> str:
    """The learning rates the sweep chose, one sentence."""
    chosen = payload["settings"]["learning_rates"]
    values = set(chosen.values())
    if len(values) == 1:
        return (
            f"The sweep chose a generator learning rate of {number(values.pop())} for every loss."
        )
    return (
        "The sweep chose the generator learning rates "
        + ", ".join(
            f"{number(rate)} for {LOSSES.get(loss, loss)}" for loss, rate in chosen.items()
        )
        + "."
    )


def sweep(payload: dict[str, Any]) -> str:
    """How the generator's learning rate was chosen, from the recorded settings."""
    chosen = payload["settings"]["sweep"]
    candidates = ", ".join(number(rate) for rate in chosen["rates"])
    return (
        f"The generator's learning rate for each loss is chosen by the same sweep: "
        f"{candidates}, {chosen['steps']} steps on the {chosen['target']} with the same decay "
        f"and seed 0; the largest rate whose final W1 is within "
        f"{100 * chosen['tolerance']:.0f}% of the lowest wins (a short run tells rates apart "
        "to a few percent only, and under a decay to 0 it favours small rates). " + rates(payload)
    )


def floors(payload: dict[str, Any]) -> str:
    """The noise floor of each target and the spread of one pair's W1 around it."""
    seen: dict[str, tuple[float, float]] = {}
    for run in payload["runs"]:
        seen.setdefault(run["target"], (run["floor"], run["floor_sd"]))
    parts = [
        f"{TARGETS.get(target, target)}: {floor:.3f} ± {sd:.3f}"
        for target, (floor, sd) in seen.items()
    ]
    return (
        "The noise floor (mean) and the spread of a single pair's W1 around it (sd): "
        + "; ".join(parts)
        + ". A ratio of two single draws can be off by half in either direction, which is "
        "why the final W1 and the floor are both averages."
    )


def _modes(row: dict[str, Any], count: int) -> str:
    low, high = row["modes_fewest"], row["modes_most"]
    return f"{low}/{count}" if low == high else f"{low}-{high}/{count}"


def _mode_count(target: str) -> int:
    from divergences.experiments.generators import TARGETS as SPECS

    return len(SPECS[target].modes)


def target_tables(rows: list[dict[str, Any]]) -> str:
    """One table per target: the losses' final W1 over the floor, modes, share near a
    mode and seconds."""
    parts = []
    for target in dict.fromkeys(row["target"] for row in rows):
        count = _mode_count(target)
        body = []
        mine = {row["loss"]: row for row in rows if row["target"] == target}
        for loss in [*LOSSES, *(name for name in mine if name not in LOSSES)]:
            if loss not in mine:
                continue
            row = mine[loss]
            modes = [_modes(row, count)] if count else []
            body.append(
                [
                    LOSSES.get(loss, loss),
                    f"{row['w1_over_floor_median']:.2f}",
                    f"{row['w1_over_floor_worst']:.2f}",
                    *modes,
                    f"{row['near']:.2f}",
                    f"{row['seconds']:.0f}",
                ]
            )
        # the Swiss roll has no modes: its "near" is the share of samples near the curve
        header = [
            "loss",
            "W1 / floor, median",
            "worst seed",
            *(["modes covered", "near a mode"] if count else ["near the curve"]),
            "seconds",
        ]
        parts.append(f"**{TARGETS.get(target, target)}**\n\n{table(header, body)}")
    return "\n\n".join(parts)


def findings(rows: list[dict[str, Any]]) -> str:
    """What the tables show, computed from them."""
    losses = list(dict.fromkeys(row["loss"] for row in rows))
    targets = list(dict.fromkeys(row["target"] for row in rows))

    def of(loss: str) -> list[dict[str, Any]]:
        return [row for row in rows if row["loss"] == loss]

    def covers(row: dict[str, Any]) -> bool:
        count = _mode_count(row["target"])
        return not count or row["modes_fewest"] == count

    every = [loss for loss in losses if all(covers(row) for row in of(loss))]
    drop = {
        loss: [row["target"] for row in of(loss) if not covers(row)]
        for loss in losses
        if loss not in every
    }
    within_two = [loss for loss in losses if all(r["w1_over_floor_worst"] < 2 for r in of(loss))]
    best = {
        target: min(
            (r for r in rows if r["target"] == target), key=lambda r: r["w1_over_floor_median"]
        )
        for target in targets
    }
    name = LOSSES.get
    lines = [
        "- **Every mode in every seed:** "
        + (", ".join(name(loss, loss) for loss in every) or "no loss")
        + ". **Within 2× the noise floor on every target, worst seed included:** "
        + (", ".join(name(loss, loss) for loss in within_two) or "no loss")
        + ".",
        "- **Lowest median W1 / floor:** "
        + "; ".join(
            f"{TARGETS.get(target, target)}: {name(row['loss'], row['loss'])} "
            f"({row['w1_over_floor_median']:.2f})"
            for target, row in best.items()
        )
        + ".",
    ]
    if drop:
        lines.append(
            "- **Modes dropped in some seed:** "
            + "; ".join(
                f"{name(loss, loss)} on the {' and the '.join(where)}"
                for loss, where in drop.items()
            )
            + "."
        )
    return "\n".join(lines)


def speed(payload: dict[str, Any]) -> str:
    record = payload["generator_step_speed"]
    return (
        f"Median of the {record['rounds']} paired ratios ({record['steps']} steps a round, "
        f"batches of {record['batch_size']}): **{record['ours_steps_per_second']:.1f} against "
        f"{record['straightforward_steps_per_second']:.1f} generator steps per second, "
        f"{record['speedup']:.2f}×**, on the machine above. The ratio moves with the "
        "machine's load from hour to hour: compare ratios measured in the same run."
    )


def gpu(payload: dict[str, Any]) -> str:
    """The GPU check's generator figures beside the CPU runs of the same loss and seed."""
    check = load(GPU)
    record = check["generators"]
    fast = record["speed"]
    trainings = record["trainings"]
    cpu_seconds = [
        run["seconds"]
        for run in payload["runs"]
        if run["loss"] == "wasserstein"
        and run["seed"] == 0
        and run["target"] in {t["target"] for t in trainings}
    ]
    runs = "; ".join(
        f"{seconds(t['seconds'])} on the {t['target']} ({t['modes']}/{t['of_modes']} modes, "
        f"{t['w1_over_floor']:.2f}× the floor)"
        for t in trainings
    )
    steps = trainings[0]["steps"]
    return (
        f"On a GPU (`python benchmarks/gpu.py`; {machine(check, threads=False)}; "
        f"[results](neural_dual.md#gpu)): the same comparison ran "
        f"**{fast['ours_steps_per_second']:.0f} against "
        f"{fast['straightforward_steps_per_second']:.0f} generator steps per second, "
        f"{fast['speedup']:.2f}×**; the loop is bound by kernel launches there, and the loss "
        f"launches fewer. One full-length training with `WassersteinLoss` (seed 0, {steps} "
        f"steps of {fast['batch_size']}) took {runs}, against "
        f"{seconds(min(cpu_seconds))} to {seconds(max(cpu_seconds))} for the same runs on one "
        "CPU thread of the benchmark above (two runs at a time)."
    )


# The Sinkhorn solver ----------------------------------------------------------------

SOLVERS = {
    "geomloss scaling 0.5": "GeomLoss, ε-scaling 0.5",
    "geomloss scaling 0.9": "GeomLoss, ε-scaling 0.9",
    "geomloss scaling 0.95": "GeomLoss, ε-scaling 0.95",
    "pot solve sinkhorn_log (torch, envelope)": "POT `ot.solve`, envelope gradient",
    "pot sinkhorn_log (torch, autograd)": "POT, autograd through the loop",
}


def sinkhorn() -> dict[str, Any]:
    return load("sinkhorn")


def sinkhorn_machine(payload: dict[str, Any]) -> str:
    return f"Machine: {machine(payload)}."


def _error(row: dict[str, Any]) -> str:
    error = (row["value"] - row["reference"]) / row["reference"]
    if abs(error) < 1e-4:
        return f"error {number(abs(error), 1)}"
    return f"{100 * abs(error):.2g}% {'low' if error < 0 else 'high'}"


def sinkhorn_table(payload: dict[str, Any]) -> str:
    """Rows the solvers, columns the blurs: time of value and gradient, and the error."""
    blurs = sorted({row["blur"] for row in payload["rows"]})
    body = []
    for solver in dict.fromkeys(row["solver"] for row in payload["rows"]):
        cells = [SOLVERS.get(solver, solver)]
        for blur in blurs:
            row = next(
                (r for r in payload["rows"] if r["solver"] == solver and r["blur"] == blur), None
            )
            cells.append(f"{seconds(row['seconds'])}, {_error(row)}" if row else "not run")
        body.append(cells)
    return table(["solver", *(f"blur {number(blur)}" for blur in blurs)], body)


def sinkhorn_findings(payload: dict[str, Any]) -> str:
    smallest = min(row["blur"] for row in payload["rows"])
    at = [row for row in payload["rows"] if row["blur"] == smallest]
    pot = next(row for row in at if row["solver"].startswith("pot solve"))
    geomloss = [row for row in at if row["solver"].startswith("geomloss")]
    factors = [pot["seconds"] / row["seconds"] for row in geomloss]
    return (
        f"At blur {number(smallest)} GeomLoss is {min(factors):.0f} to "
        f"{max(factors):.0f} times faster than POT's converged solver, at the price of a bias "
        "that its scaling parameter trades against time."
    )
