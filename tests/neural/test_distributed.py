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


DISAGREEING = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    import torch.distributed as dist
    import divergences as dv

    torch.set_num_threads(1)
    rank, out, store = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2))
    y = rng.normal(size=(60, 2)) + np.array([1.0, 0.0])
    wide = np.hstack([x, x[:, :1]])

    def draws(dim):
        source = np.random.default_rng(rank)
        return lambda size: source.normal(size=(size, dim))

    cases = {
        "equal": (x, y, {}),
        "d": (x, y, {}) if rank == 0 else (wide, np.hstack([y, y[:, :1]]), {}),
        "n": (x, y, {}) if rank == 0 else (x[:50], y, {}),
        "data": (x, y, {}) if rank == 0 else (x[::-1], y, {}),
        "options": (x, y, {}) if rank == 0 else (x, y, {"learning_rate": 1e-2}),
        "callable d": (x, draws(2), {}) if rank == 0 else (x, draws(3), {}),
        "equal again": (x, y, {}),
    }
    results = {}
    for name, (p, q, options) in cases.items():
        try:
            w = dv.wasserstein_dual(p, q, steps=5, seed=0, device="cpu", **options)
            results[name] = ["value", w.distance]
        except ValueError as error:
            results[name] = ["error", str(error)]
    with open(f"{out}/rank{rank}.json", "w") as handle:
        json.dump(results, handle)
    dist.destroy_process_group()
    """
)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_ranks_given_different_inputs_fail_alike_and_say_which_rank_differs_in_what(tmp_path):
    """Two gloo processes, one call per case on both: where rank 1 was given another d,
    n, data, option or callable's d, both raise the same ValueError (no C++ abort, no
    hang, no silent run), and the group stays usable; equal inputs give equal results."""
    script = tmp_path / "disagree.py"
    script.write_text(DISAGREEING)
    store = tmp_path / "store"
    ranks = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), str(tmp_path), str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [process.communicate(timeout=300)[0] for process in ranks]
    assert [process.returncode for process in ranks] == [0, 0], "\n".join(outputs)
    zero, one = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert zero == one  # the same result, or the same message, on every rank
    for name in ("equal", "equal again"):
        kind, value = zero[name]
        assert kind == "value" and np.isfinite(value)
    assert zero["equal"] == zero["equal again"]
    expected = {
        "d": "rank 1 has samples_p d = 3, rank 0 samples_p d = 2",
        "n": "rank 1 has samples_p n = 50, rank 0 samples_p n = 60",
        "data": "rank 1 has the hash of samples_p[:8] = ",
        "options": "rank 1 has learning_rate = 0.01, rank 0 learning_rate = None",
        "callable d": "rank 1 has samples_q d = 3, rank 0 samples_q d = 2",
    }
    for name, message in expected.items():
        kind, text = zero[name]
        assert kind == "error", (name, text)
        assert text.startswith("every process must be given the same samples"), text
        assert message in text, (name, text)


def test_the_message_names_each_differing_fact_with_its_ranks():
    from divergences.neural._distributed import disagreement

    facts = [
        {"problems": "1", "samples_p d": "2", "steps": "5"},
        {"problems": "1", "samples_p d": "3", "steps": "5"},
        {"problems": "1", "samples_p d": "3", "steps": "6"},
        {"problems": "1", "samples_p d": "2", "steps": "5", "samples_p[1] d": "2"},
    ]
    message = disagreement(facts)
    assert message.endswith(
        "but ranks 1, 2 have samples_p d = 3, ranks 0, 3 samples_p d = 2; "
        "rank 2 has steps = 6, ranks 0, 1, 3 steps = 5; "
        "rank 3 has samples_p[1] d = 2, ranks 0, 1, 2 no samples_p[1] d"
    )


def test_one_process_checks_nothing_and_draws_nothing_early():
    from divergences.neural._distributed import Group, _Replayed, check_inputs
    from divergences.neural.options import TrainingOptions

    calls = []

    def draw(size):
        calls.append(size)
        return np.zeros((size, 1))

    pairs = [(draw, draw, "")]
    assert check_inputs(Group(), None, pairs, [None], TrainingOptions(), False) is pairs
    assert calls == []
    # across processes the first draw is taken early and handed back: the callable sees
    # the calls it would have seen
    replayed = _Replayed(draw)
    early = replayed.first
    assert calls == [2]
    assert replayed(2) is early and calls == [2]
    replayed(2)
    replayed(5)
    assert calls == [2, 2, 5]
