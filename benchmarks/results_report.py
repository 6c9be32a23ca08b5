"""What every benchmark page's generated blocks share: reading a result file, the machine
line, and numbers written as the pages write them.

The pages (docs/benchmarks/*.md, docs/scaling.md) call the page modules beside this one
while the site is built, so every measured figure they state is the one in the committed
``benchmarks/results/*.json``, with the machine and date of the run that wrote it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def load(name: str) -> dict[str, Any]:
    """The committed result file ``benchmarks/results/<name>.json``."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def machine(payload: dict[str, Any], *, threads: bool = True) -> str:
    """The machine, its libraries and the date of the run that wrote ``payload``."""
    record = payload["machine"]
    packages = record.get("packages", {})
    names = {"numpy": "numpy", "scipy": "SciPy", "pot": "POT", "torch": "torch"}
    versions = ", ".join(
        f"{label} {packages[key]}" for key, label in names.items() if packages.get(key)
    )
    where = record.get("gpu") or "CPU only"
    cpu = record["cpu"].replace("(R)", "").replace(" Processor", "")
    line = f"{cpu}, {record['cores']} cores, {where}"
    if threads and record.get("torch_threads"):
        line += f" (torch threads: {record['torch_threads']})"
    return f"{line}; Python {record['python']}, {versions}; run {record['date'][:10]}"


def number(value: float, digits: int = 3) -> str:
    """``digits`` significant digits, a power of ten for the huge and the tiny, and a
    true minus sign."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return "∞" if value > 0 else "−∞"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        power = f"10{str(int(exponent)).translate(_SUPERSCRIPTS)}"
        text = power if mantissa == "1" else f"{mantissa}·{power}"
        return text.replace("-", "−")
    text = f"{value:.{digits}g}"
    if "e" in text:  # 12345 with three digits: write it out
        text = f"{value:.0f}"
    return text.replace("-", "−")


def signed(value: float, decimals: int = 3) -> str:
    """A signed error: +0.010, −0.063."""
    return f"{value:+.{decimals}f}".replace("-", "−")


def percent(value: float, decimals: int = 0) -> str:
    """A fraction as a signed percentage: −0.29 is −29%."""
    return f"{100 * value:+.{decimals}f}%".replace("-", "−")


def seconds(value: float) -> str:
    """A time in seconds: 0.026 s, 1.9 s, 34.2 s, 153 s (one unit down a column)."""
    if value < 0.001:
        return f"{number(value, 2)} s"
    if value < 1:
        return f"{value:#.2g} s"
    if value < 99.95:
        return f"{value:#.3g} s"
    return f"{value:.0f} s"


def megabytes(value: float) -> str:
    """Megabytes, or gigabytes from 1000 MB on."""
    if value >= 1000:
        return f"{value / 1000:.1f} GB"
    if value >= 10:
        return f"{value:.0f} MB"
    return f"{value:.1f} MB"


def count(value: float) -> str:
    """A sample size: 2500, 20 000, 10⁵, 3.2·10⁶."""
    if value >= 1e5:
        return number(value, 2)
    text = f"{value:.0f}"
    return text if len(text) <= 4 else f"{text[:-3]} {text[-3:]}"


def span(values: list[float], write: Any = number) -> str:
    """The range of ``values`` as "low to high" (one value when they agree)."""
    low, high = write(min(values)), write(max(values))
    return low if low == high else f"{low} to {high}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
