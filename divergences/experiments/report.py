"""The headline experiment's files: run everything, write JSON, CSV and figures safely.

:func:`run` is the ``divergences gradients`` command. It never loses a
user's file: it refuses an output folder that already holds files unless told
to overwrite, checks that it can write there before computing anything, writes
into a temporary folder beside the output and moves the results into place
only when all of them are written, so an interrupted run leaves the old
results as they were.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from divergences.experiments.gradients import (
    DEFAULT_THETAS,
    DYNAMICS_NETWORKS,
    METHODS,
    NETWORKS,
    PICTURE_NETWORKS,
    TIMING_NETWORKS,
    batched_timing,
    critic_picture,
    gradient_sweep,
    summarise,
    training_dynamics,
)
from divergences.experiments.provenance import machine
from divergences.neural import TrainingOptions

__all__ = ["FILES", "run", "summary_table"]

#: What :func:`run` writes, by key.
FILES = {
    "json": "gradients.json",
    "csv": "gradients.csv",
    "gradients": "gradients.png",
    "dynamics": "dynamics.png",
    "picture": "critic_2d.png",
}


def _settings(quick: bool, seeds: int, device: str) -> dict[str, dict[str, Any]]:
    """Each phase's keyword arguments; the networks' settings as TrainingOptions."""
    networks = NETWORKS.replace(device=device)
    if quick:
        return {
            "sweep": {
                "thetas": (-1.0, -0.05, 0.0, 0.5, 2.0),
                "seeds": 1,
                "samples": 400,
                "networks": networks.replace(steps=200),
            },
            "dynamics": {
                "theta0s": (2.0,),
                "iterations": 10,
                "learning_rate": 0.2,
                "networks": networks.replace(steps=20),
            },
            "picture": {
                "samples": 200,
                "networks": PICTURE_NETWORKS.replace(steps=200, device=device),
            },
            "timing": {"count": 4, "rounds": 1, "networks": networks.replace(steps=50)},
        }
    return {
        "sweep": {"thetas": DEFAULT_THETAS, "seeds": seeds, "networks": networks},
        "dynamics": {"networks": DYNAMICS_NETWORKS.replace(device=device)},
        "picture": {"networks": PICTURE_NETWORKS.replace(device=device)},
        "timing": {"networks": TIMING_NETWORKS.replace(device=device)},
    }


def run(
    output: str | Path,
    *,
    quick: bool = False,
    seeds: int = 3,
    device: str = "auto",
    progress: bool = True,
    overwrite: bool = False,
    stop: Callable[[], bool] | None = None,
) -> dict[str, Path]:
    """Run the sweep, the dynamics, the picture and the stack timing into ``output``.

    Writes the files of :data:`FILES`: ``gradients.json`` (the machine,
    every setting, rows, summaries and timings), ``gradients.csv`` (the
    sweep's rows) and three figures. ``quick`` runs a small version (five
    theta, one seed, fewer steps). ``stop``, if given, is asked once more
    before the results replace anything: a true answer (an interruption the
    caller recorded) leaves the output as it was and raises
    ``KeyboardInterrupt``. Returns the paths written.

    Raises
    ------
    FileExistsError
        If ``output`` is a file, or a folder that holds files and
        ``overwrite`` is False.
    PermissionError
        If ``output`` (or the folder it would be made in) is not writable;
        checked before anything is computed.
    """
    output = Path(output)
    staging = _staging_folder(output, overwrite)
    try:
        paths = _write_all(staging, quick, seeds, device, progress)
        if stop is not None and stop():
            raise KeyboardInterrupt
        return _move_into_place(staging, output, paths)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging_folder(output: Path, overwrite: bool) -> Path:
    """A fresh folder beside ``output`` to write into; refuses what would lose files."""
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output} exists and is not a folder; choose another --output")
    if output.is_dir():
        if any(output.iterdir()) and not overwrite:
            raise FileExistsError(
                f"{output} already holds files; choose an empty or new folder, or allow "
                "replacing the results in it (--overwrite on the command line, overwrite=True "
                "in Python)"
            )
        if not os.access(output, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write to {output}")
    parent = output.resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot make {output}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to {parent}, where {output.name} would be made")
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=parent))
    mask = os.umask(0)
    os.umask(mask)
    staging.chmod(0o777 & ~mask)  # mkdtemp's 0700 would become the output's mode
    return staging


def _move_into_place(staging: Path, output: Path, paths: dict[str, Path]) -> dict[str, Path]:
    if not output.exists():
        os.replace(staging, output)
    else:
        for path in paths.values():
            os.replace(path, output / path.name)
    return {key: output / path.name for key, path in paths.items()}


def _write_all(
    folder: Path, quick: bool, seeds: int, device: str, progress: bool
) -> dict[str, Path]:
    from divergences.experiments.plots import plot_dynamics, plot_picture, plot_sweep

    start = time.perf_counter()
    settings = _settings(quick, seeds, device)
    sweep = gradient_sweep(progress=progress, **settings["sweep"])
    dynamics = training_dynamics(progress=progress, **settings["dynamics"])
    picture = critic_picture(progress=progress, **settings["picture"])
    timing = batched_timing(progress=progress, **settings["timing"])
    paths = {key: folder / name for key, name in FILES.items()}
    payload = {
        "machine": machine(),
        "quick": quick,
        "seconds": time.perf_counter() - start,
        "settings": _json_settings(settings),
        "networks": {
            "sweep": sweep.networks,
            "picture": picture.networks,
            "timing": timing.networks,
        },
        "methods": METHODS,
        "summary": summarise(sweep.rows),
        "rows": [dataclasses.asdict(row) for row in sweep.rows],
        "dynamics": [dataclasses.asdict(t) for t in dynamics],
        "picture": {
            "w_estimate": picture.w_estimate,
            "js_estimate": picture.js_estimate,
            "median_step_sizes": picture.step_sizes,
        },
        "batched_timing": {
            key: value for key, value in dataclasses.asdict(timing).items() if key != "networks"
        },
    }
    paths["json"].write_text(json.dumps(_json_safe(payload), indent=1) + "\n")
    with paths["csv"].open("w", newline="") as handle:
        fields = [f.name for f in dataclasses.fields(sweep.rows[0])]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(dataclasses.asdict(row) for row in sweep.rows)
    plot_sweep(sweep.rows, paths["gradients"])
    plot_dynamics(dynamics, paths["dynamics"])
    plot_picture(picture, paths["picture"])
    return paths


def _json_settings(settings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        phase: {
            key: value.as_dict() if isinstance(value, TrainingOptions) else value
            for key, value in arguments.items()
        }
        for phase, arguments in settings.items()
    }


def summary_table(
    path: str | Path, thetas: Sequence[float] = (-1.0, -0.05, 0.05, 0.5, 2.0)
) -> str:
    """The derivative of each method at a few theta, from a ``gradients.json``, as text."""
    payload = json.loads(Path(path).read_text())
    summary = payload["summary"]
    present = [t for t in thetas if t in summary["w_exact"]["theta"]]
    lines = [
        "d value / d theta (mean over seeds); P = (0, U[0,1]), Q_theta = (theta, U[0,1])",
        f"{'method':22s}" + "".join(f"{f'theta={t:g}':>13s}" for t in present),
    ]
    for method, entry in summary.items():
        cells = []
        for theta in present:
            value = entry["derivative"][entry["theta"].index(theta)]
            cells.append(f"{value:>13s}" if isinstance(value, str) else f"{value:13.3f}")
        lines.append(f"{method:22s}" + "".join(cells))
    timing = payload["batched_timing"]
    lines.append(
        f"{timing['count']} critics trained as one stack: {timing['ratio']:.2f}x the time of one"
    )
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """Non-finite floats as the strings "inf", "-inf", "nan" (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value
