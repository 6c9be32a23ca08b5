"""Training across processes: two CPU processes on the gloo backend, launched by torchrun.

Both ranks are given the same arrays; each trains on its shard and draws its own
batches, the gradients are averaged every step, and the held-out statistics are
reduced, so both must return the same numbers, close to the closed form.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import torch
    import torch.distributed as dist
    import divergences as dv

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = rng.normal(size=(4000, 2)) + np.array([1.5, 0.0])
    w = dv.wasserstein_dual(x, y, steps=400, seed=0, device="cpu")
    unseeded = dv.wasserstein_dual(x, y, steps=20, device="cpu")  # rank 0's seed for all
    batch = dv.wasserstein_dual_batch(x, [y, y + np.array([0.5, 0.0])], steps=200, seed=1)
    js = dv.js_dual(x, y, steps=200, seed=2, device="cpu")
    weights = torch.cat([p.detach().reshape(-1) for p in w.critic.parameters()])
    out = {
        "distance": w.distance,
        "stderr": w.stderr,
        "unseeded": unseeded.distance,
        "interval": list(w.interval),
        "lipschitz": w.lipschitz,
        "weights": float(weights.double().sum()),
        "batch": [r.distance for r in batch],
        "js": js.divergence,
    }
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as handle:
        json.dump(out, handle)
    dist.destroy_process_group()
    """
)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_two_processes_return_the_same_result_close_to_the_closed_form(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]  # the same networks and the same reduced statistics
    result = ranks[0]
    # closed form |shift|, within the test split's noise (800 samples a side)
    assert abs(result["distance"] - 1.5) < 4 * result["stderr"] + 0.02
    assert result["interval"][0] <= 1.5 <= result["interval"][1]
    np.testing.assert_allclose(result["batch"], [1.5, 2.0], rtol=0.05)
    from scipy import integrate, stats

    def terms(t):
        p, q = stats.norm.pdf(t), stats.norm.pdf(t, loc=1.5)
        return 0.5 * p * np.log(2 * p / (p + q)) + 0.5 * q * np.log(2 * q / (p + q))

    js_true = integrate.quad(terms, -15, 16.5)[0]
    np.testing.assert_allclose(result["js"], js_true, atol=0.03)
