"""The machine record every result file carries."""

from __future__ import annotations

import os
from importlib.metadata import version

from divergences.experiments.provenance import PACKAGES, machine


def test_record_names_the_machine_and_every_package():
    record = machine()
    assert record["cores"] == os.cpu_count()
    assert set(record["packages"]) == set(PACKAGES)
    assert record["packages"]["pot"] == version("pot")
    assert record["packages"]["torch"] == version("torch")
    assert record["torch_threads"] >= 1
    assert record["date"].endswith("+00:00")
