"""The command's output as text: numbers at a readable precision, and the compare table."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from typing import Any


def _number(value: float, smallest: float = 1e-3) -> str:
    # Four decimals for the usual magnitudes; data at 1e200 would give hundreds of
    # digits, and data at 1e-200 a misleading 0.0000.
    if value == 0 or smallest <= abs(value) < 1e7:
        return f"{value:.4f}"
    return f"{value:.4g}"


def _pvalue(value: float) -> str:
    """A p-value with two significant digits, as tables of tests print them."""
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def _theta_text(theta: float) -> str:
    # fixed point for the usual thetas; a huge or tiny one would be a wall of digits or 0.00
    if theta == 0 or 1e-2 <= abs(theta) < 1e6:
        return f"{theta:6.2f}"
    return f"{theta:6.2g}"


def _format_table(rows: Sequence[dict[str, Any]], header: str, width: int | None = None) -> str:
    """The rows as a table of numbers, then each row's note as a wrapped paragraph."""
    if width is None:
        width = min(max(shutil.get_terminal_size().columns, 60), 100)
    name_width = max(len(row["measure"]) for row in rows) + 2
    # the interval column only where a row has one (the neural rows): an empty column
    # under a heading reads as a value that is missing
    heading = f"{'measure':{name_width}s}{'value':>12s}"
    # likewise the p-value column only where a row has one (compare --test)
    tested = any(row.get("pvalue") is not None for row in rows)
    if tested:
        heading += f"{'p-value':>10s}"
    intervals = [
        ""
        if row["interval"] is None
        else f"[{_number(row['interval'][0])}, {_number(row['interval'][1])}]"
        for row in rows
    ]
    if any(intervals):
        heading += "  95% interval"
    lines = [header, heading]
    for row, span in zip(rows, intervals, strict=True):
        value = "-" if row["value"] is None else _number(row["value"])
        line = f"{row['measure']:{name_width}s}{value:>12s}"
        if tested:
            pvalue = row.get("pvalue")
            line += f"{'-' if pvalue is None else _pvalue(pvalue):>10s}"
        lines.append(f"{line}  {span}".rstrip())
    lines += ["", "notes:"]
    for row in rows:
        text = row["note"] if row["error"] is None else f"not computed: {row['error']}"
        lines += textwrap.wrap(
            text,
            width,
            initial_indent=f"  {row['measure']:{name_width}s}",
            subsequent_indent=" " * (name_width + 2),
            break_on_hyphens=False,
        )
    return "\n".join(lines)
