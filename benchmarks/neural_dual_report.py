"""The tables of the neural dual estimator's page, rendered from the committed results.

The page (docs/benchmarks/neural_dual.md) calls these while the site is built, so
every number it states is the one in benchmarks/results/neural_dual.json, with the
machine and date of the run that wrote it.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from neural_dual import FAMILIES, GRID_CONES, GRID_DIMS, PAPER

RESULTS = Path(__file__).resolve().parent / "results" / "neural_dual.json"


def load(path: Path = RESULTS) -> dict[str, Any]:
    return json.loads(path.read_text())


def _percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:+.{digits}f}%"


def _share(flags: list[bool]) -> str:
    return f"{sum(flags)}/{len(flags)}"


def machine(payload: dict[str, Any]) -> str:
    record = payload["machine"]
    packages = record.get("packages", {})
    return (
        f"{record['cpu']}, {record['cores']} cores, CPU only; Python {record['python']}, "
        f"torch {packages.get('torch')}, POT {packages.get('pot')}; run "
        f"{record['date'][:10]}, {payload['benchmark_seconds'] / 60:.0f} minutes in all "
        "(two worker processes of one thread each)"
    )


def grid_table(payload: dict[str, Any]) -> str:
    rows = {
        (r["dim"], r["cones"]): r
        for r in payload["rows"]
        if r["kind"] == "grid" and r.get("method", "ours") == "ours"
    }
    fresh = {
        (r["dim"], r["cones"]): r
        for r in payload["rows"]
        if r["kind"] == "grid" and r.get("method") == "callable"
    }
    lines = [
        "| D | N | W1 | ours | our lower bound | covers | ours, fresh samples (covers) | "
        "the paper's GP | the paper's LP |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for dim in GRID_DIMS:
        for cones in GRID_CONES:
            row = rows.get((dim, cones))
            if row is None:
                continue
            gp, lp = PAPER[(dim, cones)]
            lines.append(
                f"| {dim} | {cones} | {row['true']:.3f} | {_percent(row['relative_error'])} | "
                f"{_percent(row['lower_bound'] / row['true'] - 1)} | "
                f"{'yes' if row['covers'] else '**no**'} | {_fresh(fresh.get((dim, cones)))} | "
                f"{_percent(gp, 0)} | {_percent(lp, 0)} |"
            )
    grid = [r for r in payload["rows"] if r["kind"] == "grid"]
    return "\n".join(lines) + _array_reruns(payload) + margin_note(grid)


def _fresh(row: dict[str, Any] | None) -> str:
    if row is None:
        return "–"
    return f"{_percent(row['relative_error'])} ({'yes' if row['covers'] else '**no**'})"


def _paired(payload: dict[str, Any], kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(run on arrays, same problem on callables) for every problem of ``kind`` run both ways."""

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r.get("family"), r["dim"], r.get("cones"), r.get("theta"), r["seed"])

    rows = [r for r in payload["rows"] if r["kind"] == kind and r.get("scale", 1.0) == 1.0]
    arrays = {key(r): r for r in rows if r.get("method", "ours") == "ours"}
    return [
        (arrays[key(r)], r) for r in rows if r.get("method") == "callable" and key(r) in arrays
    ]


def fresh_gain(payload: dict[str, Any]) -> str:
    """The grid cells where fresh samples moved the estimate most, as a sentence."""
    pairs = sorted(
        _paired(payload, "grid"),
        key=lambda pair: pair[1]["relative_error"] - pair[0]["relative_error"],
        reverse=True,
    )
    if not pairs:
        return "(the grid was not run on callables in this run)"
    cells = "; ".join(
        f"D = {a['dim']} with {a['cones']} cones, {_percent(a['relative_error'])} on arrays "
        f"and {_percent(b['relative_error'])} on callables"
        for a, b in pairs[:3]
    )
    closer = sum(abs(b["relative_error"]) < abs(a["relative_error"]) for a, b in pairs)
    return (
        f"Fresh samples help most where the tips must travel far ({cells}); they bring the "
        f"estimate closer to W1 in {closer} of {len(pairs)} cells."
    )


def callable_time(payload: dict[str, Any]) -> str:
    """How much longer a run on callables took than the same problem on arrays."""
    ratios = {
        kind: [b["seconds"] / a["seconds"] for a, b in _paired(payload, kind)]
        for kind in ("family", "grid")
    }
    every = ratios["family"] + ratios["grid"]
    if not every:
        return "(no problem was run on callables in this run)"
    return (
        "The runs on callables in the JSON took a median "
        f"{statistics.median(ratios['family']):.1f}× as long as the same problem on arrays "
        f"on the closed-form families, {statistics.median(ratios['grid']):.1f}× on the grid "
        f"and {max(every):.1f}× at most, on the two worker processes that shared the "
        "machine, with the benchmark's own samplers."
        + _rerun(payload, "callables_machine", "The runs on callables")
    )


def _rerun(payload: dict[str, Any], key: str, subject: str) -> str:
    """Where and when a part of the file was rerun on its own (empty if it was not)."""
    run = payload.get(key)
    if not run:
        return ""
    load = f", {run['load']}" if run.get("load") else ""
    return (
        f" {subject} were run {run['date'][:10]} ({run['cpu']}, {run['cores']} cores, "
        f"one thread each), apart from the rest of the file{load}."
    )


def _ours(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Our runs at data scale 1 (the runs at 10^3 repeat them exactly; see equivariance)."""
    return [
        r
        for r in payload["rows"]
        if r.get("method", "ours") in ("ours", "callable") and r.get("scale", 1.0) == 1.0
    ]


def equivariance(payload: dict[str, Any]) -> float:
    """The largest difference of relative error between a run at data scale 10^3 and the
    same run at scale 1."""
    rows = payload["rows"]
    base = {
        (r["family"], r["dim"], r["theta"], r["seed"]): r
        for r in rows
        if r["kind"] == "family" and r.get("method", "ours") == "ours" and r["scale"] == 1.0
    }
    return max(
        abs(
            r["relative_error"]
            - base[(r["family"], r["dim"], r["theta"], r["seed"])]["relative_error"]
        )
        for r in rows
        if r["kind"] == "family" and r.get("method", "ours") == "ours" and r["scale"] != 1.0
    )


def _groups(payload: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    ours = _ours(payload)
    grid = [r for r in ours if r["kind"] == "grid"]
    groups = [
        ("published grid (paper's seed)", [r for r in grid if r.get("method", "ours") == "ours"]),
        ("published grid, fresh samples", [r for r in grid if r.get("method") == "callable"]),
    ]
    for family in ("cones", "embedded"):
        for role in ("choice", "report"):
            label = f"drawn {family}, {role} seeds"
            groups.append(
                (
                    label,
                    [
                        r
                        for r in ours
                        if r["kind"] == "drawn" and r["family"] == family and r["role"] == role
                    ],
                )
            )
    for family in (*FAMILIES, "segments"):
        groups.append(
            (family, [r for r in ours if r["kind"] == "family" and r["family"] == family])
        )
    return [(label, group) for label, group in groups if group]


def margin_note(rows: list[dict[str, Any]]) -> str:
    """A sentence where some rows' lower bounds are a normal quantile's (empty if none)."""
    old = sum(r.get("margin") != "betting" for r in rows)
    if not old:
        return ""
    return (
        f"\n\nThe lower bounds and intervals of {old} of these {len(rows)} runs are the "
        "normal quantile's on the held-out mean: they were run before the certified margin "
        "replaced it (see the rare parts under the hostile inputs), and their rerun is "
        "pending. The certified margin was 0.95 to 1.4 times the normal one on "
        "Gaussian translations and scalings with 4000 test samples a side."
    )


def coverage_table(payload: dict[str, Any]) -> str:
    lines = [
        "| problems | runs | interval covers | lower bound ≤ W1 | median error | "
        "largest error | median width | potential's median error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, group in _groups(payload):
        lines.append(
            f"| {label} | {len(group)} | {_share([r['covers'] for r in group])} | "
            f"{_share([r['lower_below'] for r in group])} | "
            f"{100 * statistics.median(abs(r['relative_error']) for r in group):.1f}% | "
            f"{100 * max(abs(r['relative_error']) for r in group):.1f}% | "
            f"{100 * statistics.median(r['relative_width'] for r in group):.0f}% | "
            f"{100 * statistics.median(abs(r['potential_error']) for r in group):.1f}% |"
        )
    return "\n".join(lines) + _array_reruns(payload) + margin_note(_ours(payload))


def _array_reruns(payload: dict[str, Any]) -> str:
    """Where runs on arrays were rerun apart from the rest (``--arrays [--kind K]``)."""
    subjects = {
        "arrays": "The runs on arrays",
        "arrays_grid": "The published grid's runs on arrays",
        "arrays_drawn": "The drawn problems' runs on arrays",
        "arrays_family": "The closed-form families' runs on arrays",
    }
    said = "".join(_rerun(payload, f"{key}_machine", subject) for key, subject in subjects.items())
    return f"\n\n{said.strip()}" if said else ""


def drawn_table(payload: dict[str, Any]) -> str:
    rows = [r for r in _ours(payload) if r["kind"] == "drawn"]
    lines = [
        "| family | d | seed | W1 | ours | lower bound | covers | potential |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(
        rows, key=lambda r: (r["family"], r["role"] != "report", r["dim"], r["seed"])
    ):
        lines.append(
            f"| {row['family']} | {row['dim']} | {row['seed']} ({row['role']}) | "
            f"{row['true']:.3f} | {_percent(row['relative_error'])} | "
            f"{_percent(row['lower_bound'] / row['true'] - 1)} | "
            f"{'yes' if row['covers'] else '**no**'} | {row['potential']} |"
        )
    return "\n".join(lines)


def families_table(payload: dict[str, Any]) -> str:
    ours = [r for r in _ours(payload) if r["kind"] == "family"]
    lp = [r for r in payload["rows"] if r["kind"] == "family" and r.get("method") == "lp"]
    lines = [
        "| d | potential's largest error (10⁵ fresh samples) | estimate's largest error | "
        "critic's largest error | exact LP, 2000 a side (largest) |",
        "|---|---|---|---|---|",
    ]
    for dim in sorted({r["dim"] for r in ours}):
        here = [r for r in ours if r["dim"] == dim]
        exact = [abs(r["relative_error"]) for r in lp if r["dim"] == dim]
        lines.append(
            f"| {dim} | {100 * max(abs(r['potential_error']) for r in here):.2f}% | "
            f"{100 * max(abs(r['relative_error']) for r in here):.2f}% | "
            f"{100 * max(abs(r['critic_error']) for r in here):.2f}% | "
            f"{'–' if not exact else f'{100 * max(exact):+.0f}%'} |"
        )
    return "\n".join(lines)


def hostile_table(payload: dict[str, Any]) -> str:
    hostile = payload["hostile"]
    sign = hostile["sign_d1"]
    runs = sign["runs"]
    narrow = hostile["narrow_coordinate"]
    lines = [
        "| input | truth | results |",
        "|---|---|---|",
        f"| N(0, 1) against N(2, 1) in d = 1, 2000 a side, seeds 0-{len(runs) - 1} | "
        f"{sign['exact_lp']:.3f} (exact, these samples) | estimates "
        f"{min(r['distance'] for r in runs):.3f} to {max(r['distance'] for r in runs):.3f}; "
        f"critic {min(r['critic_distance'] for r in runs):.3f} to "
        f"{max(r['critic_distance'] for r in runs):.3f}; "
        f"{sum(r['interval'][0] <= 2.0 <= r['interval'][1] for r in runs)}/{len(runs)} "
        "intervals hold W1 = 2 |",
        f"| (N(0, 10¹⁶), N(0, 1)) against (N(0, 10¹⁶), N(3, 1)), 4000 a side | "
        f"{narrow['true']:.1f} | "
        + "<br>".join(
            f"seed {r['seed']}: {r['distance']:.3f} [{r['interval'][0]:.3f}, "
            f"{r['interval'][1]:.3g}] ({r['potential']})"
            for r in narrow["runs"]
        )
        + " |",
    ]
    if "narrow_coordinate_js" in hostile:
        js = hostile["narrow_coordinate_js"]
        lines.append(
            f"| the same with `js_dual` | JS {js['true']:.3f} | "
            + "<br>".join(
                f"seed {r['seed']}: {r['divergence']:.3f}, lower bound {r['lower_bound']:.3f}"
                for r in js["runs"]
            )
            + " |"
        )
    return "\n".join(lines)


def unnamed_table(payload: dict[str, Any]) -> str:
    """One default call (seed 0) on each input of kinds that no issue named."""
    runs = payload["hostile"].get("unnamed")
    if not runs:
        return "(not run in this results file)"
    lines = [
        "| input | W1 | estimate | interval | holds W1 | certified by | critic (no bound) | s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        low, high = r["interval"]
        lines.append(
            f"| {r['what']} | {r['true']:.4g} | {r['distance']:.4g} | [{low:.4g}, {high:.4g}] | "
            f"{'yes' if r['covers'] else '**no**'} | {r['potential']} | "
            f"{r['critic_distance']:.4g} | {r['seconds']:.0f} |"
        )
    held = sum(r["covers"] for r in runs)
    below = sum(r["lower_below"] for r in runs)
    lines.append("")
    when = _rerun(payload, "hostile_machine", "These calls")
    lines.append(
        f"The interval holds W1 in {held} of {len(runs)} inputs, the lower bound is below "
        f"it in {below} of {len(runs)}.{when}"
    )
    return "\n".join(lines) + margin_note(runs)


def rare_table(payload: dict[str, Any]) -> str:
    """The certified lower bounds beside a normal quantile's where a rare part of one law
    lies where the other is (one default call per seed)."""
    rare = payload["hostile"].get("rare_mass")
    if not rare:
        return "(not run in this results file)"
    lines = [
        "| pair | truth | runs | certified bound above the truth | its median "
        "| normal quantile's above the truth | its median | interval holds the truth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {
        "w1": "W1: (5, 0) with probability 0.99, else 0, against 0; 1000 a side",
        "js": "JS: N(0, 1) against N(4, 1), 1000 a side",
    }
    for kind in ("w1", "js"):
        true, runs = rare[kind]["true"], rare[kind]["runs"]
        certified = [r["lower_bound"] for r in runs]
        normal = [r["normal_lower"] for r in runs]
        lines.append(
            f"| {names[kind]} | {true:.4f} | {len(runs)} | "
            f"{sum(v > true for v in certified)} | {statistics.median(certified):.4f} | "
            f"{sum(v > true for v in normal)} | {statistics.median(normal):.4f} | "
            f"{sum(r['lower_bound'] <= true <= r['upper'] for r in runs)}/{len(runs)} |"
        )
    return "\n".join(lines)


def timing_table(payload: dict[str, Any]) -> str:
    seconds = payload.get("default_call_seconds", {})
    if not seconds:
        return "(not measured in this run)"
    lines = ["| | d = 2 | d = 16 | d = 128 |", "|---|---|---|---|"]
    for load in ("idle", "one busy process"):
        for threads in ("default", 2):
            cells = [seconds.get(f"{load}, d={d}, threads={threads}") for d in (2, 16, 128)]
            name = "default threads (one)" if threads == "default" else "torch's two threads"
            lines.append(
                f"| {load}, {name} | "
                + " | ".join("–" if c is None else f"{c:.1f}" for c in cells)
                + " |"
            )
    return "\n".join(lines)


def js_table(payload: dict[str, Any]) -> str:
    rows = payload.get("js", [])
    lines = [
        "| pair | d | JS | js_dual (seeds) | lower bound below JS | interval covers | js_knn |",
        "|---|---|---|---|---|---|---|",
    ]
    for family in ("gaussian", "mixture", "segments"):
        for dim in sorted({r["dim"] for r in rows}):
            here = [r for r in rows if r["family"] == family and r["dim"] == dim]
            if not here:
                continue
            below = [r.get("lower_bound", r["interval"][0]) <= r["true"] for r in here]
            lines.append(
                f"| {family} | {dim} | {here[0]['true']:.3f} | "
                + ", ".join(f"{r['js_dual']:.3f}" for r in here)
                + f" | {_share(below)} | {_share([r['covers'] for r in here])} | "
                + ", ".join(f"{r['js_knn']:.3f}" for r in here)
                + " |"
            )
    if rows:
        width = statistics.median(r["interval"][1] - r["interval"][0] for r in rows)
        error = statistics.median(abs(r["js_dual"] - r["true"]) for r in rows)
        lines.append("")
        lines.append(
            f"Median interval width {width:.3f} nats beside a median error of {error:.3f}."
            + _rerun(payload, "js_machine", "These calls")
        )
    return "\n".join(lines)


def summary_numbers(payload: dict[str, Any]) -> dict[str, Any]:
    """A few figures the page's prose quotes, computed here."""
    ours = _ours(payload)
    d128 = [r["seconds"] for r in ours if r["dim"] == 128]
    return {
        "runs": len(ours),
        "covers": sum(r["covers"] for r in ours),
        "below": sum(r["lower_below"] for r in ours),
        "median_width": statistics.median(r["relative_width"] for r in ours),
        "median_error": statistics.median(abs(r["relative_error"]) for r in ours),
        "max_seconds_128": max(d128) if d128 else None,
    }
