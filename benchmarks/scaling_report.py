"""The tables and measured sentences of the scaling page, rendered from the committed
results while the site is built: benchmarks/results/scaling.json (CPU),
scaling_cuda.json (GPU), large_files.json, distributed.json and knn_search.json."""

from __future__ import annotations

import math
import re
from typing import Any

from results_report import count, load, machine, megabytes, seconds, span, table


def cpu() -> dict[str, Any]:
    return load("scaling")


def gpu() -> dict[str, Any]:
    return load("scaling_cuda")


def machine_lines(cpu_run: dict[str, Any], gpu_run: dict[str, Any]) -> str:
    return (
        f"Machine: {machine(cpu_run)}, {cpu_run['available_memory_gb']:.0f} GB available; "
        f"{cpu_run['seconds'] / 60:.0f} minutes for the whole run.\n\n"
        f"GPU rows: {machine(gpu_run, threads=False)}."
    )


def settings(payload: dict[str, Any]) -> str:
    limit = f"{payload['limit_seconds']:.0f} s"
    return (
        f"A method **stops** at the first point that its memory guard refuses, that takes "
        f"more than {limit}, or whose time, predicted from the last two points' log-log "
        f"slope, is above {limit}; the neural estimator ({payload['steps']} steps, whose "
        f"time is set by its steps, not by n) stops only after a point above {limit}. The "
        f"sliced W1 uses {payload['projections']} directions."
    )


def _points(payload: dict[str, Any], sweep: str, name: str) -> list[dict[str, Any]]:
    return payload[sweep][name]["points"]


def _memory(point: dict[str, Any]) -> str:
    if "gpu_peak_mb" in point:
        return f"{megabytes(point['gpu_peak_mb'])} (GPU)"
    return megabytes(point["peak_mb"])


def _growth(name: str, points: list[dict[str, Any]]) -> str:
    if name.startswith("neural"):
        return "set by the steps"
    if len(points) < 2:
        return "one point"
    a, b = points[-2], points[-1]
    slope = math.log(b["seconds"] / a["seconds"]) / math.log(b["n"] / a["n"])
    return f"n^{slope:.1f}"


def _stop(entry: dict[str, Any]) -> str:
    stopped = entry["stopped"]
    if not stopped:
        return "not reached on this grid"
    if stopped["reason"] == "time":
        return (
            f"n = {count(stopped['n'])}: about {seconds(stopped['predicted_seconds'])} predicted"
        )
    return f"n = {count(stopped['n'])}: {stopped['reason']}"


def size_table(cpu_run: dict[str, Any], gpu_run: dict[str, Any]) -> str:
    rows = []
    for run, where in ((cpu_run, ""), (gpu_run, ", GPU")):
        for name, entry in run["n_sweep"].items():
            points = entry["points"]
            last = points[-1]
            rows.append(
                [
                    name + where,
                    count(last["n"]),
                    seconds(last["seconds"]),
                    _memory(last),
                    _growth(name, points),
                    _stop(entry),
                ]
            )
    header = [
        "method",
        "largest n run",
        "time there",
        "memory there",
        "time ∝ nᵃ (last two points)",
        "stops",
    ]
    return table(header, rows)


def _name(run: dict[str, Any], sweep: str, prefix: str) -> str:
    return next(name for name in run[sweep] if name.startswith(prefix))


def bytes_per_pair(run: dict[str, Any], prefix: str) -> float:
    """Bytes of the largest point of an exact linear program per pair of its cost matrix
    (``peak_mb`` is in 10⁶ bytes)."""
    last = _points(run, "n_sweep", _name(run, "n_sweep", prefix))[-1]
    return last["peak_mb"] * 1e6 / last["n"] ** 2


def size_findings(cpu_run: dict[str, Any]) -> str:
    sort = _points(cpu_run, "n_sweep", _name(cpu_run, "n_sweep", "exact W1, d = 1"))[-1]
    lp = _points(cpu_run, "n_sweep", _name(cpu_run, "n_sweep", "exact W1, d = 2"))[-1]
    sliced = [
        p["peak_mb"] for p in _points(cpu_run, "n_sweep", _name(cpu_run, "n_sweep", "sliced"))
    ]
    knn = _points(cpu_run, "n_sweep", _name(cpu_run, "n_sweep", "k-NN"))[-1]
    neural = _points(cpu_run, "n_sweep", _name(cpu_run, "n_sweep", "neural"))
    fullest = max(neural, key=lambda p: p["peak_mb"])
    last = neural[-1]
    return "\n".join(
        [
            f"- **Exact W1 in one dimension** is a sort, O(n log n): {count(sort['n'])} "
            f"samples a side in {seconds(sort['seconds'])} and {megabytes(sort['peak_mb'])} "
            f"({sort['peak_mb'] * 1e6 / (2 * sort['n']):.0f} bytes a sample), so the exact value "
            "is available at any size that fits in memory. In d ≥ 2 the linear program's "
            f"n × m cost matrix sets the limit: {megabytes(lp['peak_mb'])} at n = m = "
            f"{count(lp['n'])} in d = 2 ({bytes_per_pair(cpu_run, 'exact W1, d = 2'):.0f} bytes "
            f"a pair), and its time grows faster than n² ({seconds(lp['seconds'])} there). The "
            "memory guard refuses a problem from the two sizes, before any sample is read.",
            f"- **Sliced W1** holds {span(sliced[1:], megabytes)} from n = "
            f"{count(_points(cpu_run, 'n_sweep', _name(cpu_run, 'n_sweep', 'sliced'))[1]['n'])} "
            "on: the directions go to POT's 1-D solver a block at a time (2²⁰ projected values "
            "a block). Its time is POT's general 1-D solver, linear in n.",
            f"- **k-NN KL** in d = 8 searches with a k-d tree; its memory is small "
            f"({megabytes(knn['peak_mb'])} at {count(knn['n'])}) and its time grows a little "
            "faster than n. `kl_knn` keeps at most `max_samples` = 200 000 rows a side by "
            "default, drawn with its `seed` (reading only those rows of a memory map); this "
            "benchmark turns that off to show the estimator itself.",
            f"- **Neural W1** takes {span([p['seconds'] for p in neural], seconds)} on the CPU "
            "at every n: the steps dominate, then the held-out evaluation on 20% of the rows "
            f"(at {count(fullest['n'])} rows a side: {seconds(fullest['seconds'])} and "
            f"{megabytes(fullest['peak_mb'])}, as the arrays are copied and standardised in "
            "memory). Arrays of more than 256 MB are read row by row, with at most 10 000 "
            f"held-out rows a side: {seconds(last['seconds'])} and "
            f"{megabytes(last['peak_mb'])} at {count(last['n'])}.",
        ]
    )


def dimension_table(cpu_run: dict[str, Any], gpu_run: dict[str, Any]) -> str:
    """Rows d, columns the methods: the time and the memory (the GPU's, for the GPU
    column) of one call at n = d_sweep_n."""
    columns = [(cpu_run, name, name) for name in cpu_run["d_sweep"]]
    columns += [(gpu_run, name, f"{name}, GPU") for name in gpu_run["d_sweep"]]
    dims = [p["d"] for p in _points(cpu_run, "d_sweep", columns[0][1])]
    rows = []
    for d in dims:
        cells = [f"d = {d}"]
        for run, name, _ in columns:
            point = next((p for p in _points(run, "d_sweep", name) if p["d"] == d), None)
            if point:
                memory = point.get("gpu_peak_mb", point["peak_mb"])
                cells.append(f"{seconds(point['seconds'])}, {megabytes(memory)}")
            else:
                cells.append("-")
        rows.append(cells)
    return table(["", *(label for _, _, label in columns)], rows)


def dimension_findings(cpu_run: dict[str, Any]) -> str:
    knn = {p["d"]: p for p in _points(cpu_run, "d_sweep", _name(cpu_run, "d_sweep", "k-NN"))}
    below = max(d for d in knn if d <= 8)
    above = min(d for d in knn if d > 8)
    return (
        "The exact linear program's memory is the n × m table whatever d; its time grows "
        "with d mostly through the pivots. The sliced W1 hardly depends on d (the projection "
        "is one matrix product). The k-NN estimators switch from the k-d tree to a blocked "
        "search above d = 8 (see below), which is where their memory steps from "
        f"{megabytes(knn[below]['peak_mb'])} (d = {below}) to {megabytes(knn[above]['peak_mb'])} "
        f"(d = {above})."
    )


def gpu_table(cpu_run: dict[str, Any], gpu_run: dict[str, Any]) -> str:
    ours = _points(cpu_run, "n_sweep", _name(cpu_run, "n_sweep", "neural"))
    theirs = {p["n"]: p for p in _points(gpu_run, "n_sweep", _name(gpu_run, "n_sweep", "neural"))}
    device = gpu_run.get("device_name", "GPU")
    rows = [
        [
            count(p["n"]),
            seconds(p["seconds"]),
            seconds(theirs[p["n"]]["seconds"]),
            megabytes(theirs[p["n"]]["gpu_peak_mb"]),
        ]
        for p in ours
        if p["n"] in theirs
    ]
    cores = cpu_run["machine"]["cores"]
    return table(["n a side", f"CPU ({cores} cores)", device, "GPU memory"], rows)


def gpu_findings(cpu_run: dict[str, Any], gpu_run: dict[str, Any]) -> str:
    ours = {p["n"]: p for p in _points(cpu_run, "n_sweep", _name(cpu_run, "n_sweep", "neural"))}
    theirs = _points(gpu_run, "n_sweep", _name(gpu_run, "n_sweep", "neural"))
    ratios = [ours[p["n"]]["seconds"] / p["seconds"] for p in theirs if p["n"] in ours]
    fullest = max(theirs, key=lambda p: p["gpu_peak_mb"])
    last = theirs[-1]
    return (
        f"On the GPU, {gpu_run['steps']} steps take "
        f"{span([p['seconds'] for p in theirs], seconds)} from {count(theirs[0]['n'])} to "
        f"{count(last['n'])} samples a side: {span(ratios, lambda v: f'{v:.0f}')} times "
        "faster than the CPU above, and nearly flat in n. The GPU's memory follows the data "
        f"where the arrays fit in memory ({megabytes(fullest['gpu_peak_mb'])} at "
        f"{count(fullest['n'])} rows a side, which are moved to the device whole) and drops "
        f"to {megabytes(last['gpu_peak_mb'])} at {count(last['n'])}, where the rows are read "
        "as the batches need them."
    )


# Large files --------------------------------------------------------------------------


def large_files() -> dict[str, Any]:
    return load("large_files")


def large_setting(payload: dict[str, Any]) -> str:
    files = payload["files"]
    size = files["bytes_each"] / 1e9
    rows = f"{files['rows']:,}".replace(",", " ")
    return (
        f"`benchmarks/large_files.py` writes two {files['dtype']} `.npy` files of "
        f"{size:.1f} GB each (d = {files['d']}, {rows} rows; "
        f"P = {files['p']}, Q = {files['q']}) and runs `divergences compare` on them as "
        f"a user would, in a subprocess, sampling its `/proc/<pid>/status` every "
        f"{payload['sample_seconds']} s. Machine: {machine(payload)}."
    )


def _command(run: dict[str, Any]) -> str:
    words = [w for w in run["command"] if w not in ("--device", "cpu")]
    return "`" + " ".join(words) + "`"


def large_table(payload: dict[str, Any]) -> str:
    imports = payload["imports_only"]["peak_rss_anon_above_start_mb"]
    rows = [
        [
            _command(run),
            seconds(run["seconds"]),
            f"**{megabytes(run['peak_rss_anon_above_start_mb'])}**",
            megabytes(imports),
            megabytes(run["peak_rss_file_mb"]),
        ]
        for run in payload["runs"]
    ]
    header = [
        "command",
        "wall time",
        "peak `RssAnon` above the start",
        "the imports alone",
        "peak `RssFile`",
    ]
    return table(header, rows)


def printed_value(payload: dict[str, Any], measure: str) -> str:
    """The value (and interval, if any) the command printed for ``measure``."""
    for run in payload["runs"]:
        for line in run["stdout"].splitlines():
            if line.startswith(measure + " "):
                return re.sub(r"\s+", " ", line[len(measure) :].strip())
    raise KeyError(measure)


def large_findings(payload: dict[str, Any]) -> str:
    imports = payload["imports_only"]["peak_rss_anon_above_start_mb"]
    added = [run["peak_rss_anon_above_start_mb"] - imports for run in payload["runs"]]
    bound = payload["target_rss_anon_mb"]
    held = all(run["within_target"] for run in payload["runs"])
    return (
        f"Both commands stay {'below' if held else 'above'} {bound} MB: beyond the libraries "
        "the command imports (NumPy, SciPy, POT, and torch, which POT imports), the rows add "
        f"at most {megabytes(max(added))}, and nothing grows with the files. Every page of "
        "both files is read once, by the check that every value is finite (16 MB of rows "
        "at a time), which is why `RssFile` reaches their size.\n\n"
        "The exact W1 is refused from the two sizes (the row says so and points to "
        "`--neural`); the sliced W1, the Sinkhorn divergence, the energy distance and the "
        "k-NN rows are computed on seeded subsamples, which each row's note names (rows and "
        "seed); the neural rows read their batches and at most 10 000 held-out rows a side "
        "from the files. The values agree with the laws: W1 = 1 (the critic: "
        f"{printed_value(payload, 'W1 neural critic')}), KL = 0.5 (the k-NN rows: "
        f"{printed_value(payload, 'KL(P||Q) k-NN')} and "
        f"{printed_value(payload, 'KL(Q||P) k-NN')}), "
        "and sliced W1 = E|ω₁| = 0.291 over the sphere in d = 8 "
        f"({printed_value(payload, 'Sliced W1')})."
    )


# Several processes --------------------------------------------------------------------


def distributed() -> dict[str, Any]:
    return load("distributed")


def distributed_findings(payload: dict[str, Any]) -> str:
    agree = "return the same estimate" if payload["ranks_agree"] else "disagree"
    return (
        f"Machine: {machine(payload)}. One process took "
        f"{seconds(payload['one_process_seconds'])}, two took "
        f"{seconds(payload['two_processes_seconds'])}: a speed-up of "
        f"**{payload['speedup']:.2f}×**; both processes {agree}."
    )
