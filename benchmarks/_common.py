"""Shared by the benchmark scripts: timing with warm-up and medians, and the JSON record.

Every record names the machine, the library versions and the date, so a figure
in docs/ can always be traced to the run that produced it.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from divergences.experiments.provenance import machine

RESULTS = Path(__file__).resolve().parent / "results"


def median_time(function: Callable[[], Any], *, repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time of ``function()`` in seconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with the machine record to ``benchmarks/results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path


def save_figure(fig: Any, path: Path) -> None:
    """Lay out ``fig`` and write it to ``path`` (a PNG for docs/)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
