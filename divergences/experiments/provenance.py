"""What a result was measured on: the one machine record of every result file.

The experiments (``divergences gradients``) and the benchmark scripts write
:func:`machine` into each JSON file they produce, so that a figure in the
documentation can always be traced to the machine, the library versions and
the date of the run that produced it.
"""

from __future__ import annotations

import datetime
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["PACKAGES", "machine"]

#: The packages whose versions a record names.
PACKAGES = ("divergences", "numpy", "scipy", "pot", "torch", "matplotlib")


def machine() -> dict[str, Any]:
    """The processor, cores, torch threads, GPU, Python, package versions and date.

    Examples
    --------
    >>> record = machine()
    >>> sorted(record)  # doctest: +NORMALIZE_WHITESPACE
    ['cores', 'cpu', 'date', 'gpu', 'packages', 'platform', 'python', 'torch_threads']
    >>> "pot" in record["packages"]
    True
    """
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    threads, gpu = None, None
    try:
        import torch

        threads = torch.get_num_threads()
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": threads,
        "gpu": gpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
