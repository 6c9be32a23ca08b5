"""Shared fixtures and the hypothesis profiles.

``DIVERGENCES_HYPOTHESIS_PROFILE`` picks the profile: ``ci`` (the default:
derandomized, no example database, no deadline, so every run checks the same
examples) or ``dev`` (random, more examples, for hunting bugs locally).
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=100)
settings.register_profile("dev", deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("DIVERGENCES_HYPOTHESIS_PROFILE", "ci"))

# Under pytest-xdist every worker is a process of its own: one torch thread each, so that
# two workers on two cores do not thrash (small networks run slower on two busy threads).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

# A test run started in the background by a non-interactive shell inherits SIGINT
# ignored, and so would every command it starts: the tests of Ctrl-C need Python's own
# handler (an exec resets a handler to the default, while an ignored signal stays so).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(params=["cpu", "cuda"])
def device(request: pytest.FixtureRequest) -> str:
    """Where a torch test runs: the CPU always, CUDA where a GPU is present (else skipped)."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device here: the same test runs on CUDA where one is present")
    return request.param


@pytest.fixture(params=["numpy", "torch"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which array kind a test feeds the public functions."""
    return request.param


def convert(value, kind: str):
    """``value`` as a float64 numpy array or a float64 torch tensor."""
    array = np.asarray(value, dtype=np.float64)
    return torch.from_numpy(array.copy()) if kind == "torch" else array


def to_numpy(value) -> np.ndarray:
    """A result of either kind as a numpy array, for comparisons."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)
