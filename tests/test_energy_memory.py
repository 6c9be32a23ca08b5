"""The energy distance's forward and backward passes take bounded memory (issue 25).

On the CPU the peak resident size of a fresh process, so that nothing else the test
session allocated counts; on CUDA torch's own allocator statistics.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import divergences as dv

# 10^4 samples a side in d = 2: keeping every block of distances for autograd added
# over 1.6 GB; one block and the samples are tens of MB.
_N, _D, _LIMIT_BYTES = 10**4, 2, 200e6

_SCRIPT = f"""
import resource
import torch
import divergences as dv

torch.set_num_threads(1)
generator = torch.Generator().manual_seed(0)
x = torch.randn({_N}, {_D}, dtype=torch.float64, generator=generator, requires_grad=True)
y = torch.randn({_N}, {_D}, dtype=torch.float64, generator=generator, requires_grad=True)
dv.energy_distance(x[:10], y[:10]).backward()  # lazy imports and first allocations
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
dv.energy_distance(x, y).backward()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
print((peak - baseline) * 1024)  # ru_maxrss is in KiB on Linux
"""


def test_forward_and_backward_memory_is_bounded_on_the_cpu() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    increase = float(result.stdout.split()[-1])
    assert increase < _LIMIT_BYTES, f"peak memory grew by {increase / 1e6:.0f} MB"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")
def test_forward_and_backward_memory_is_bounded_on_cuda() -> None:
    device = "cuda"
    generator = torch.Generator(device=device).manual_seed(0)
    x, y = (
        torch.randn(
            _N, _D, dtype=torch.float64, device=device, generator=generator
        ).requires_grad_()
        for _ in range(2)
    )
    dv.energy_distance(x[:10], y[:10]).backward()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    baseline = torch.cuda.memory_allocated()
    dv.energy_distance(x, y).backward()
    increase = torch.cuda.max_memory_allocated() - baseline
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    assert increase < _LIMIT_BYTES, f"peak CUDA memory grew by {increase / 1e6:.0f} MB"
