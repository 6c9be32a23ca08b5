"""The memory guard: how many bytes a computation may take, and the refusal beyond them.

Every solver that builds tables whose size follows the input (the exact LP's cost
matrix, the Sinkhorn solver's pairwise tables, the CLI's text reader) asks here
before allocating, so that a problem too large for the machine gets an error that
says so instead of being killed.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = [
    "MEMORY_FRACTION",
    "ProblemTooLargeError",
    "allowed_memory",
    "available_memory",
    "refuse_beyond_memory",
]

#: The share of the available memory a computation may take by default.
MEMORY_FRACTION = 0.5


class ProblemTooLargeError(MemoryError):
    """A problem would need more memory than allowed."""


def available_memory() -> int | None:
    """Bytes of memory available to new allocations, or ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def allowed_memory(memory_limit: float | None) -> tuple[float, str] | None:
    """The bytes a problem may use and where that bound comes from; None if unknown."""
    if memory_limit is not None:
        return memory_limit, "memory_limit"
    available = available_memory()
    if available is None:
        return None
    return MEMORY_FRACTION * available, f"half of the {available / 1e9:.1f} GB available"


def refuse_beyond_memory(
    needed: float, memory_limit: float | None, explain: Callable[[float, str], str]
) -> None:
    """Raise :class:`ProblemTooLargeError` when ``needed`` bytes exceed the memory allowed
    (``memory_limit``, or half of what is available); ``explain(limit, origin)`` words it."""
    allowed = allowed_memory(memory_limit)
    if allowed is not None and needed > allowed[0]:
        raise ProblemTooLargeError(explain(*allowed))
