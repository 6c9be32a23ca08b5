"""The ``divergences`` command, end to end in a subprocess."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "divergences", *args], capture_output=True, text=True
    )


def test_demo_prints_the_closed_forms_and_histogram_estimates():
    result = run("demo", "--thetas", "-1", "0", "1", "--samples", "2000")
    assert result.returncode == 0, result.stderr
    rows = {
        float(line.split()[0]): [float(v) for v in line.split()[1:]]
        for line in result.stdout.splitlines()[2:]
    }
    assert set(rows) == {-1.0, 0.0, 1.0}
    kl_hist, kl_exact, js_hist, js_exact, w_exact = rows[1.0]
    assert kl_hist == math.inf
    assert kl_exact == math.inf
    assert js_hist == js_exact == round(math.log(2), 4)
    assert w_exact == 1.0
    assert rows[0.0][1] == rows[0.0][3] == rows[0.0][4] == 0.0
    assert 0.0 < rows[0.0][0] < 0.1  # finite-sample histograms of P against P


def test_no_command_prints_help_and_fails():
    result = run()
    assert result.returncode == 2
    assert "demo" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--samples", "0"], "--samples must be at least 1"),
        (["demo", "--bin-width", "-1"], "--bin-width must be positive"),
        (["demo", "--thetas", "x"], "invalid float value"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_fail_with_a_message(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
