"""The public surface: names, version, and an import that stays light."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import divergences


def test_all_names_exist_and_version_matches_the_metadata():
    for name in divergences.__all__:
        assert hasattr(divergences, name), name
    assert divergences.__version__ == version("divergences")


def test_import_loads_neither_matplotlib_nor_torch():
    code = (
        "import sys, divergences as dv\n"
        "assert dv.kl([0.5, 0.5], [0.25, 0.75]) > 0\n"
        "assert dv.js([1, 0], [0, 1]) > 0\n"
        "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
