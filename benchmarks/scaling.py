"""How time and memory grow with the sample size n and the dimension d, for every method.

Methods (P = N(0, I_d), Q = N(e_1, I_d), n samples a side):

- exact W1 in d = 1 (``dv.wasserstein``: sorted samples), in d = 2 and d = 8 (POT's
  network simplex, behind the memory guard);
- sliced W1 (``dv.sliced_wasserstein``, 200 directions), d = 8;
- k-NN KL (``dv.kl_knn``, k = 5, the default estimator, on every row:
  ``max_samples=None``), d = 8;
- the neural critic's W1 (``dv.wasserstein_dual``) with a fixed number of training steps, d = 8.

n runs over 10^3, 10^3.5, ..., 10^7. A method stops at the first point that its memory
guard refuses, that takes more than LIMIT_SECONDS, or whose time predicted from the
last two points (the last time times the growth of n to the power of their log-log
slope) is above LIMIT_SECONDS; the JSON and the figure say where and why. The neural
estimator's time is set by its steps, not by n, so it is not predicted: it stops only
after a point above LIMIT_SECONDS.
Then the dimension: d = 1, 2, 4, ..., 64 at a fixed n.

Each method runs in its own process, point after point in increasing size. Time: one
call after a warm-up on 200 samples, or the median of up to five calls where one
takes under a second. Memory: the peak resident memory of the process during the call
above its level just before it, with the samples already in memory, read from the
kernel (the high-water mark ``VmHWM``, reset by writing 5 to /proc/self/clear_refs);
this counts what numpy, POT's C++ solver and torch allocate alike, which tracemalloc
would not. The processes run with ``MALLOC_MMAP_THRESHOLD_=131072`` so that freed
arrays go back to the system and do not hide the next point's needs.

Run: ``python benchmarks/scaling.py`` (about 15 minutes on 2 cores; ``--quick``, a
smoke run, under a minute). ``--device cuda`` times only the neural estimator, on the
GPU, into ``scaling_cuda.json``, which the figure and docs/scaling.md then show beside
the CPU. Writes benchmarks/results/scaling.json and docs/figures/scaling.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import RESULTS, save_figure, write_json

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "scaling.png"
LIMIT_SECONDS = 60.0
STEPS = 500
PROJECTIONS = 200
D_SWEEP_N = 4096

# name -> (kind, d of the n sweep)
METHODS: dict[str, tuple[str, int]] = {
    "exact W1, d = 1 (sort)": ("exact", 1),
    "exact W1, d = 2 (LP)": ("exact", 2),
    "exact W1, d = 8 (LP)": ("exact", 8),
    "sliced W1, d = 8": ("sliced", 8),
    "k-NN KL, d = 8": ("knn", 8),
    "neural W1 ({steps} steps), d = 8": ("neural", 8),
}
# name -> kind, for the sweep over d at n = D_SWEEP_N
D_METHODS = {
    "exact W1 (d = 1: sort; d > 1: LP)": "exact",
    "sliced W1": "sliced",
    "k-NN KL": "knn",
    "neural W1 ({steps} steps)": "neural",
}


# ---------------------------------------------------------------------------
# the measuring process


def _status() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


def _call(kind: str, x: np.ndarray, y: np.ndarray, steps: int, device: str) -> float:
    import divergences as dv

    if kind == "exact":
        return float(dv.wasserstein(x, y))
    if kind == "sliced":
        return float(dv.sliced_wasserstein(x, y, n_projections=PROJECTIONS, seed=0))
    if kind == "knn":  # every row: the default would keep a subsample of 200 000
        return float(dv.kl_knn(x, y, max_samples=None))
    return float(dv.wasserstein_dual(x, y, steps=steps, seed=0, device=device).distance)


def _samples(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d))
    y = rng.standard_normal((n, d))
    y[:, 0] += 1.0
    return x, y


def measure_point(kind: str, n: int, d: int, steps: int, device: str) -> dict[str, Any]:
    """Time and peak memory of one call on n samples a side in dimension d."""
    from divergences.transport import ProblemTooLargeError

    x, y = _samples(n, d)
    before = _status()["VmRSS"]
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        resettable = True
    except OSError:  # a sandbox without it: no host figure rather than a wrong one
        resettable = False
    gpu = device.startswith("cuda")
    if gpu:
        import torch

        torch.cuda.reset_peak_memory_stats()
        allocated = torch.cuda.memory_allocated()
    start = time.perf_counter()
    try:
        value = _call(kind, x, y, steps, device)
    except ProblemTooLargeError as error:
        return {"n": n, "d": d, "refused": " ".join(str(error).split())}
    times = [time.perf_counter() - start]
    peak = _status()["VmHWM"] - before if resettable else None
    extra = {}
    if gpu:
        extra["gpu_peak_mb"] = (torch.cuda.max_memory_allocated() - allocated) / 1e6
    while times[0] < 1.0 and len(times) < 5 and sum(times) < 3.0:
        start = time.perf_counter()
        _call(kind, x, y, steps, device)
        times.append(time.perf_counter() - start)
    return {
        "n": n,
        "d": d,
        "seconds": statistics.median(times),
        "calls": len(times),
        "peak_mb": None if peak is None else peak / 1e6,
        "input_mb": (x.nbytes + y.nbytes) / 1e6,
        "value": value,
        **extra,
    }


def _stop(series: int, n: int, d: int, reason: str, **detail: Any) -> None:
    record = {"series": series, "stopped": {"n": n, "d": d, "reason": reason, **detail}}
    print(json.dumps(record), flush=True)


def worker(kind: str, all_series: list[dict[str, list[int]]], steps: int, device: str) -> None:
    """Measure each series' points in order, printing a JSON line per point or stop.

    A series is ``{"sizes": [...], "dims": [...]}``, one of them a single value.
    """
    _call(kind, *_samples(200, 2), min(steps, 20), device)  # warm-up: imports, kernels
    for series, grid_spec in enumerate(all_series):
        sizes, dims = grid_spec["sizes"], grid_spec["dims"]
        grid = [(n, d) for n in sizes for d in dims]
        points: list[dict[str, Any]] = []
        for index, (n, d) in enumerate(grid):
            if len(points) >= 2 and len(sizes) > 1 and kind != "neural":
                first, last = points[-2], points[-1]
                growth = math.log(last["n"] / first["n"])
                slope = math.log(last["seconds"] / first["seconds"]) / growth
                predicted = last["seconds"] * (n / last["n"]) ** max(0.0, slope)
                if predicted > LIMIT_SECONDS:
                    _stop(series, n, d, "time", predicted_seconds=predicted)
                    break
            point = measure_point(kind, n, d, steps, device)
            if "refused" in point:
                _stop(series, n, d, "memory guard", message=point["refused"])
                break
            print(json.dumps({"series": series, **point}), flush=True)
            points.append(point)
            if point["seconds"] > LIMIT_SECONDS and index + 1 < len(grid):
                following = grid[index + 1]
                _stop(series, *following, "time", previous_seconds=point["seconds"])
                break


# ---------------------------------------------------------------------------
# the driver


def run_kind(kind: str, all_series: list[dict], steps: int, device: str) -> list[dict]:
    """Every series of one method in one process; per series its points and where it stopped."""
    command = [sys.executable, __file__, "--worker", kind, "--series", json.dumps(all_series)]
    command += ["--steps", str(steps), "--device", device]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    runs: list[dict[str, Any]] = [{"points": [], "stopped": None} for _ in all_series]
    for line in result.stdout.splitlines():
        record = json.loads(line)
        run = runs[record.pop("series")]
        if "stopped" in record:
            run["stopped"] = record["stopped"]
        else:
            run["points"].append(record)
    if result.returncode != 0:
        for run in runs:
            run["stopped"] = run["stopped"] or {"reason": "error", "stderr": result.stderr[-2000:]}
    return runs


def describe(name: str, run: dict) -> None:
    for point in run["points"]:
        print(
            f"{name:32s} n={point['n']:>9d} d={point['d']:>3d}  {point['seconds']:9.3f} s  "
            f"{math.nan if point['peak_mb'] is None else point['peak_mb']:9.1f} MB"
            + (f"  GPU {point['gpu_peak_mb']:.1f} MB" if "gpu_peak_mb" in point else ""),
            flush=True,
        )
    if run["stopped"] is not None:
        print(f"{name:32s} stops: {stop_text(run['stopped'])}", flush=True)


def stop_text(stopped: dict) -> str:
    if stopped["reason"] == "memory guard":
        return f"n = {stopped['n']} refused by the memory guard"
    if stopped["reason"] == "time":
        if "predicted_seconds" in stopped:
            return f"n = {stopped['n']} would take about {stopped['predicted_seconds']:.0f} s"
        return f"the last point took {stopped['previous_seconds']:.0f} s"
    return "error: " + stopped.get("stderr", "")[-300:]


def _stop_label(stopped: dict) -> str:
    if stopped["reason"] == "memory guard":
        return "refused by the memory guard"
    if "predicted_seconds" in stopped:
        return f"not run: about {stopped['predicted_seconds']:.0f} s predicted"
    return f"not run: the last point took {stopped['previous_seconds']:.0f} s"


def _memory(point: dict) -> float:
    """The GPU's peak memory for a GPU run, the host's otherwise (MB; 0 if unknown)."""
    return point.get("gpu_peak_mb", point["peak_mb"]) or 0.0


def plot(cpu: dict, gpu: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 11))
    grid = fig.add_gridspec(4, 2, height_ratios=[1, 0.2, 1, 0.13])
    axes = np.array([[fig.add_subplot(grid[row, column]) for column in (0, 1)] for row in (0, 2)])
    legends = [fig.add_subplot(grid[row, :]) for row in (1, 3)]
    colours = plt.get_cmap("tab10")
    neural = colours(len(cpu["n_sweep"]) - 1)
    series = [
        (name, run, "-", colours(i))
        for i, name_run in enumerate(cpu["n_sweep"].items())
        for name, run in [name_run]
    ]
    if gpu is not None:
        series += [
            (f"{name} on {gpu['device_name']} (memory: the GPU's)", run, "--", neural)
            for name, run in gpu["n_sweep"].items()
        ]
    # where a method stops goes into its legend entry: labels beside the crosses ran into
    # each other and into the markers
    for name, run, style, colour in series:
        points = run["points"]
        if not points:
            continue
        n = [p["n"] for p in points]
        memory = [max(_memory(p), 0.1) for p in points]
        stopped = run["stopped"]
        stops = stopped is not None and stopped["reason"] in ("time", "memory guard")
        label = f"{name}; x: n = {stopped['n']:,}, {_stop_label(stopped)}" if stops else name
        axes[0, 0].loglog(
            n, [p["seconds"] for p in points], style, marker="o", color=colour, label=label
        )
        axes[0, 1].loglog(n, memory, style, marker="o", color=colour)
        if stops:
            for axis, y in ((axes[0, 0], points[-1]["seconds"]), (axes[0, 1], memory[-1])):
                axis.plot([stopped["n"]], [y], marker="x", color=colour, markersize=9, mew=2)
    axes[0, 0].axhline(LIMIT_SECONDS, color="grey", lw=0.8, ls=":")
    axes[0, 0].annotate(
        f"{LIMIT_SECONDS:.0f} s: a method stops",
        (1000, LIMIT_SECONDS),
        textcoords="offset points",
        xytext=(0, 3),
        fontsize=8,
        color="grey",
    )
    guard = cpu["available_memory_gb"] * 1e3 / 2
    axes[0, 1].axhline(guard, color="grey", lw=0.8, ls=":")
    axes[0, 1].annotate(
        f"memory guard: half of the {cpu['available_memory_gb']:.0f} GB available",
        (1000, guard),
        textcoords="offset points",
        xytext=(0, -11),
        fontsize=8,
        color="grey",
    )
    axes[0, 0].set(xlabel="n (samples a side)", ylabel="seconds", title="time against n")
    axes[0, 1].set(
        xlabel="n (samples a side)",
        ylabel="MB above the inputs (peak resident)",
        title="peak memory against n (host; GPU runs: device)",
    )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    legends[0].legend(handles, labels, loc="center", ncol=2, fontsize=9, frameon=False)
    d_colours = {"exact": colours(2), "sliced": colours(3), "knn": colours(4), "neural": neural}
    d_series = [
        (name, run, "-", d_colours[kind])
        for (name, run), kind in zip(cpu["d_sweep"].items(), d_colours, strict=False)
    ]
    if gpu is not None:
        d_series += [
            (f"{name} on the GPU (memory: the GPU's)", run, "--", neural)
            for name, run in gpu["d_sweep"].items()
        ]
    for name, run, style, colour in d_series:
        points = run["points"]
        if not points:
            continue
        d = [p["d"] for p in points]
        memory = [max(_memory(p), 0.1) for p in points]
        axes[1, 0].loglog(
            d, [p["seconds"] for p in points], style, marker="o", color=colour, label=name
        )
        axes[1, 1].loglog(d, memory, style, marker="o", color=colour)
    for axis in axes[1]:
        axis.set_xscale("log", base=2)
    axes[1, 0].set(xlabel="d", ylabel="seconds", title=f"time against d (n = {cpu['d_sweep_n']})")
    axes[1, 1].set(
        xlabel="d",
        ylabel="MB above the inputs (peak resident)",
        title=f"peak memory against d (n = {cpu['d_sweep_n']})",
    )
    handles, labels = axes[1, 0].get_legend_handles_labels()
    legends[1].legend(handles, labels, loc="center", ncol=3, fontsize=9, frameon=False)
    for axis in legends:
        axis.axis("off")
    for axis in axes.flat:
        axis.grid(True, which="major", alpha=0.3)
    fig.suptitle(
        f"Time and peak memory on {cpu['machine']['cores']} CPU cores "
        f"({cpu['machine']['cpu']}); x: where a method stops",
        fontsize=11,
    )
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small n, two d")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda: only the neural estimator")
    parser.add_argument("--plot-only", action="store_true", help="redraw the figure from the JSON")
    parser.add_argument(
        "--only",
        choices=("exact", "sliced", "knn", "neural"),
        help="rerun one method and keep the others' points from the last run's JSON",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--series", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=STEPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, json.loads(args.series), args.steps, args.device)
        return
    gpu_path = RESULTS / "scaling_cuda.json"
    if args.plot_only:
        cpu = json.loads((RESULTS / "scaling.json").read_text())
        gpu = json.loads(gpu_path.read_text()) if gpu_path.exists() else None
        plot(cpu, gpu, FIGURE)
        print(f"wrote {FIGURE}")
        return
    if args.quick:
        sizes, dims, d_n, steps = [1000, 3000], [2, 8], 1000, 50
    else:
        sizes = [round(10 ** (3 + k / 2)) for k in range(9)]  # 10^3 ... 10^7
        dims, d_n, steps = [1, 2, 4, 8, 16, 32, 64], D_SWEEP_N, STEPS
    methods = (
        METHODS if args.device == "cpu" else {k: v for k, v in METHODS.items() if v[0] == "neural"}
    )
    d_methods = (
        D_METHODS
        if args.device == "cpu"
        else {k: v for k, v in D_METHODS.items() if v == "neural"}
    )
    meminfo = Path("/proc/meminfo").read_text()
    available_gb = int(re.search(r"MemAvailable:\s+(\d+)", meminfo).group(1)) * 1024 / 1e9
    kind_seconds: dict[str, float] = {}
    n_sweep: dict[str, dict] = {}
    d_sweep: dict[str, dict] = {}
    kinds = [args.only] if args.only else list(dict.fromkeys(k for k, _ in methods.values()))
    for kind in kinds:
        by_n = {t.format(steps=steps): d for t, (k, d) in methods.items() if k == kind}
        by_d = [t.format(steps=steps) for t, k in d_methods.items() if k == kind]
        series = [{"sizes": sizes, "dims": [d]} for d in by_n.values()]
        series += [{"sizes": [d_n], "dims": dims} for _ in by_d]
        began = time.perf_counter()
        runs = run_kind(kind, series, steps, args.device)
        kind_seconds[kind] = time.perf_counter() - began
        for name, run in zip([*by_n, *by_d], runs, strict=True):
            (n_sweep if name in by_n else d_sweep)[name] = run
            describe(name, run)
    name = "scaling" if args.device == "cpu" else f"scaling_{args.device.split(':')[0]}"
    if args.quick:
        name += "_quick"
    if args.only:  # the other methods' points from the last full run
        earlier = json.loads((RESULTS / f"{name}.json").read_text())
        n_sweep = {**earlier["n_sweep"], **n_sweep}
        d_sweep = {**earlier["d_sweep"], **d_sweep}
        n_sweep = {key: n_sweep[key] for key in earlier["n_sweep"]}  # keep the order
        d_sweep = {key: d_sweep[key] for key in earlier["d_sweep"]}
        kind_seconds = {**earlier["kind_seconds"], **kind_seconds}
    payload: dict[str, Any] = {
        "device": args.device,
        "available_memory_gb": available_gb,
        "limit_seconds": LIMIT_SECONDS,
        "steps": steps,
        "projections": PROJECTIONS,
        "sizes": sizes,
        "d_sweep_n": d_n,
        "memory": "peak resident set (VmHWM, reset through /proc/self/clear_refs) above its "
        "level before the call, inputs already in memory; MALLOC_MMAP_THRESHOLD_=131072",
        "n_sweep": n_sweep,
        "d_sweep": d_sweep,
        "kind_seconds": kind_seconds,
        "seconds": sum(kind_seconds.values()),
    }
    if args.device != "cpu":
        import torch

        payload["device_name"] = torch.cuda.get_device_name(0)
    if args.only:
        payload["rerun"] = args.only
    path = write_json(name, payload)
    print(f"wrote {path} ({payload['seconds']:.0f} s)")
    if args.device == "cpu" and not args.quick:
        payload = json.loads(path.read_text())
        plot(payload, json.loads(gpu_path.read_text()) if gpu_path.exists() else None, FIGURE)
        print(f"wrote {FIGURE}")


if __name__ == "__main__":
    main()
