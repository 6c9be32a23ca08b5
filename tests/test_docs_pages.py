"""Benchmark pages state only numbers generated from the committed results.

The pages below render every table (and every sentence with a measured number) from
``benchmarks/results/*.json`` while the site is built, in ``python exec="on"`` blocks. A
table typed by hand next to them would drift when the benchmark is rerun: these tests
fail on one, and run every block against the committed JSON, so that a rerun which
changes the file's layout breaks here rather than in the docs build.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ["benchmarks/gradients.md", "benchmarks/neural_dual.md"]
FENCE = re.compile(r"^```python exec=\"on\"[^\n]*\n(.*?)^```", re.M | re.S)


def _source(page: str) -> str:
    return (ROOT / "docs" / page).read_text()


@pytest.mark.parametrize("page", GENERATED)
def test_no_table_is_typed_by_hand(page):
    prose = FENCE.sub("", _source(page))
    rows = [line for line in prose.splitlines() if line.lstrip().startswith("|")]
    assert not rows, f"{page} states a table outside the generated blocks: {rows[:3]}"


@pytest.mark.parametrize("page", GENERATED)
def test_every_generated_block_renders_from_the_committed_results(page, monkeypatch):
    pytest.importorskip("matplotlib")  # the benchmark modules the reports import draw
    monkeypatch.chdir(ROOT)  # as mkdocs runs them: from the repository's root
    monkeypatch.setattr(sys, "path", list(sys.path))
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    blocks = FENCE.findall(_source(page))
    assert blocks, f"{page} has no generated block"
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, f"{page} block", "exec"), namespace)
    text = printed.getvalue()
    assert "Machine:" in text
    assert "|---|" in text  # the tables came out
    assert not re.search(r"\bnan\b", text, re.I), "a generated number is NaN"
