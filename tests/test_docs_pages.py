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
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GENERATED = [
    "benchmarks/gradients.md",
    "benchmarks/neural_dual.md",
    "benchmarks/knn.md",
    "benchmarks/exact_wasserstein.md",
    "benchmarks/information.md",
    "benchmarks/generators.md",
    "scaling.md",
    "benchmarks/two_sample.md",
]
FENCE = re.compile(r"^```python exec=\"on\"[^\n]*\n(.*?)^```", re.M | re.S)
CODE = re.compile(r"^```.*?^```", re.M | re.S)

_NUMBER = r"\d+(?:[.,]\d+)?(?:\s?·\s?10[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)?"
#: A measured figure: a time, an amount of memory, a ratio ("1.4×", not "3 × 128"), a
#: percentage, or "N times faster" ("N times as long").
MEASURED = re.compile(
    _NUMBER + r"\s?(?:ms|µs|s|min|minutes|seconds|hours?|[kMGT]i?B|bytes)(?!\w)"
    r"|" + _NUMBER + r"\s?×(?!\s?\d)"
    r"|" + _NUMBER + r"\s?%"
    r"|\d+(?:\.\d+)?\s?times\s(?:faster|slower|smaller|larger|as\s)"
)
#: Percentages that are settings of the method, not measurements.
SETTINGS = {"1%", "10%", "97.5%"}

#: Lab-notebook phrases: history and goals belong in commit messages, not on a manual's page.
NOTEBOOK = re.compile(
    r"the issue|issue's|\btarget:|\(before\)|\(now\)|\bbefore this change|previous default"
    r"|\bevening\b|\bthis session\b|\bthe session\b|\bwas lent\b|earlier versions?"
    r"|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b"
)
#: A numbered reference entry: "[2] A. Author, ...".
REFERENCE = re.compile(r"(?:^|\s)\[\d+\]\s+[A-Z]")
#: The pages whose wide tables were split: at most this many columns a table.
NARROW = {"benchmarks/knn.md": 7, "benchmarks/generators.md": 6}


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


def _prose(page: str) -> str:
    """The page without its generated blocks and code blocks."""
    return CODE.sub("", FENCE.sub("", _source(page)))


@pytest.mark.parametrize("page", GENERATED)
def test_prose_states_no_measured_figure(page):
    figures = [
        (match.group(), line.strip())
        for line in _prose(page).splitlines()
        for match in MEASURED.finditer(line)
        if match.group().replace(" ", "") not in SETTINGS
    ]
    assert not figures, (
        f"{page} types measured figures outside the generated blocks: {figures[:3]}"
    )


@pytest.mark.parametrize("page", GENERATED)
def test_page_is_a_manual_not_a_lab_notebook(page):
    found = [
        (match.group(), line.strip())
        for line in _prose(page).splitlines()
        for match in NOTEBOOK.finditer(line)
    ]
    assert not found, f"{page} carries history or goals: {found[:3]}"


@pytest.mark.parametrize("page", [*GENERATED, "theory.md"])
def test_each_reference_is_its_own_list_item(page):
    for paragraph in re.split(r"\n\s*\n", _prose(page)):
        entries = REFERENCE.findall(paragraph)
        items = [line for line in paragraph.splitlines() if line.lstrip().startswith(("- ", "* "))]
        assert len(entries) <= max(1, len(items)), (
            f"{page}: numbered references run together in one paragraph: {paragraph[:120]}"
        )


def _rendered(page: str) -> str:
    namespace: dict[str, object] = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in FENCE.findall(_source(page)):
            exec(compile(block, f"{page} block", "exec"), namespace)
    return printed.getvalue()


@pytest.mark.parametrize("page", sorted(NARROW))
def test_wide_tables_are_split(page, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    headers = [
        line
        for text in (_rendered(page), _prose(page))
        for line, rule in zip(text.splitlines(), text.splitlines()[1:], strict=False)
        if rule.startswith("|---|")
    ]
    assert headers, f"{page} has no table"
    for header in headers:
        columns = header.strip().strip("|").count("|") + 1
        assert columns <= NARROW[page], f"{page}: a table of {columns} columns: {header[:80]}"


def test_every_generated_page_names_its_machine_from_the_results():
    """The machine line is printed by a block, never typed: no page says "Machine:" in prose."""
    for page in GENERATED:
        assert "Machine:" not in _prose(page), page


def test_two_sample_results_were_run_with_the_script_settings(monkeypatch):
    """The two-sample page states the script's permutations and replicates beside the
    committed results: every cell and point of the JSON must have been run with them, or
    a changed setting without its rerun would put the wrong settings beside the numbers."""
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(sys, "path", [str(ROOT / "benchmarks"), *sys.path])
    import two_sample

    payload = json.loads((ROOT / "benchmarks/results/two_sample.json").read_text())
    stale = [
        (cell["statistic"], cell["law"], cell["d"])
        for cell in payload["validity"]
        if not two_sample._validity_current(cell)
    ]
    assert not stale, f"validity cells run with other settings than the script's: {stale}"
    cells = {(cell["statistic"], cell["d"]) for cell in payload["validity"]}
    expected = {(name, d) for name, config in two_sample.VALIDITY.items() for d in config["reps"]}
    assert cells >= expected, f"validity cells missing: {sorted(expected - cells)}"
    for point in payload["power"]:
        stale = [name for name in two_sample.POWER if not two_sample._power_current(point, name)]
        assert not stale, f"power at {point['alternative']} {point['effect']}: {stale}"
