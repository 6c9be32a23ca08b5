"""Training across processes: two CPU processes on the gloo backend, launched by torchrun.

Both ranks are given the same arrays and ``group=WORLD``; each trains on its shard and
draws its own batches, the gradients are averaged every step, and the held-out
statistics are reduced, so both must return the same numbers, close to the closed form.
Without ``group`` nothing communicates, even inside an initialised process group.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.neural import train

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
    world = dist.group.WORLD
    w = dv.wasserstein_dual(x, y, steps=400, seed=0, device="cpu", group=world)
    # rank 0's seed for all
    unseeded = dv.wasserstein_dual(x, y, steps=20, device="cpu", group=world)
    batch = dv.wasserstein_dual_batch(
        x, [y, y + np.array([0.5, 0.0])], steps=200, seed=1, group=world
    )
    js = dv.js_dual(x, y, steps=200, seed=2, device="cpu", group=world)
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
    # both ranks done before either tears down: a rank that leaves while gloo's
    # threads still serve the other aborts with 'terminate called without an active
    # exception'
    dist.barrier()
    dist.destroy_process_group()
    """
)


#: gloo's C++ abort at teardown on a loaded machine (see test_two_processes_...): the one
#: failure that launches the ranks again, at most twice.
GLOO_ABORT = "terminate called without an active"


def _two_ranks(script, tmp_path, timeout: int, hung: str) -> tuple[list[int], list[str]]:
    """Run ``script RANK OUT STORE`` as ranks 0 and 1 (a fresh file store each launch);
    their exit codes and outputs. Fails with ``hung`` where a rank outlives ``timeout``."""
    for launch in range(3):
        store = tmp_path / f"store{launch}"
        ranks = [
            subprocess.Popen(
                [sys.executable, str(script), str(rank), str(tmp_path), str(store)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for rank in (0, 1)
        ]
        try:
            outputs = [process.communicate(timeout=timeout)[0] for process in ranks]
        except subprocess.TimeoutExpired:
            for process in ranks:
                process.kill()
            pytest.fail(hung)
        codes = [process.returncode for process in ranks]
        if codes == [0, 0] or not any(GLOO_ABORT in output for output in outputs):
            break
    return codes, outputs


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_two_processes_return_the_same_result_close_to_the_closed_form(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    # A gloo rank sometimes aborts in torch's C++ ("terminate called without an active
    # exception", exit -6) on a loaded machine, wherever the script is; the same script
    # then passes on a rerun. Up to three launches, and only for that abort.
    for _ in range(3):
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
        output = launched.stdout + launched.stderr
        if launched.returncode == 0 or GLOO_ABORT not in output:
            break
    assert launched.returncode == 0, output
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
            w = dv.wasserstein_dual(
                p, q, steps=5, seed=0, device="cpu", group=dist.group.WORLD, **options
            )
            results[name] = ["value", w.distance]
        except ValueError as error:
            results[name] = ["error", str(error)]
    with open(f"{out}/rank{rank}.json", "w") as handle:
        json.dump(results, handle)
    dist.barrier()  # both done before either tears down (see SCRIPT)
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
    codes, outputs = _two_ranks(script, tmp_path, 300, "a rank hung")
    assert codes == [0, 0], "\n".join(outputs)
    zero, one = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert zero == one  # the same result, or the same message, on every rank
    for name in ("equal", "equal again"):
        kind, value = zero[name]
        assert kind == "value" and np.isfinite(value)
    assert zero["equal"] == zero["equal again"]
    expected = {
        "d": "rank 1 has x d = 3, rank 0 x d = 2",
        "n": "rank 1 has x n = 50, rank 0 x n = 60",
        "data": "rank 1 has the hash of x[:8] = ",
        "options": "rank 1 has learning_rate = 0.01, rank 0 learning_rate = None",
        "callable d": "rank 1 has y d = 3, rank 0 y d = 2",
    }
    for name, message in expected.items():
        kind, text = zero[name]
        assert kind == "error", (name, text)
        assert text.startswith("every process must be given the same samples"), text
        assert message in text, (name, text)


ALONE = textwrap.dedent(
    """
    import json, os, sys, time
    import numpy as np
    import torch
    import torch.distributed as dist
    import divergences as dv
    from divergences.losses import GANLoss, WassersteinLoss

    torch.set_num_threads(1)
    rank, out, store = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = rng.normal(size=(200, 2)) + np.array([1.0, 0.0])
    batches = torch.Generator().manual_seed(10 + rank)  # each rank its own batches
    fake = torch.randn(32, 2, generator=batches)
    real = torch.randn(32, 2, generator=batches) + 1.0
    results = {}
    done = os.path.join(out, "alone.done")
    if rank == 0:
        # rank 0 alone, rank 1 in no collective: these must return, not wait for it
        alone = dv.wasserstein_dual(x, y, steps=20, seed=0, device="cpu")
        results["alone"] = alone.distance
        results["alone js"] = dv.js_dual(x, y, steps=20, seed=0, device="cpu").divergence
        results["alone batch"] = [
            r.distance for r in dv.wasserstein_dual_batch(x, [y, y], steps=20, seed=0)
        ]
        results["alone loss"] = float(WassersteinLoss(seed=0)(fake, real))
        results["alone gan"] = float(GANLoss(seed=0)(fake, real))
        open(done, "w").close()
    else:
        deadline = time.monotonic() + 120
        while not os.path.exists(done) and time.monotonic() < deadline:
            time.sleep(0.1)
        results["waited"] = os.path.exists(done)
    world = dist.group.WORLD
    together = dv.wasserstein_dual(x, y, steps=20, seed=0, device="cpu", group=world)
    results["together"] = together.distance
    results["together js"] = dv.js_dual(
        x, y, steps=20, seed=0, device="cpu", group=world
    ).divergence
    # one critic over both ranks (each its own seed and batches): the first rank's
    # start, averaged gradients, equal critics
    loss = WassersteinLoss(seed=rank, group=world)
    for _ in range(3):
        value = loss(fake, real)
    results["loss weights"] = [
        float(p.detach().double().sum()) for p in loss.critic.parameters()
    ]
    results["loss spread"] = float(loss.critic.spread)
    results["loss value"] = float(value)
    with open(f"{out}/rank{rank}.json", "w") as handle:
        json.dump(results, handle)
    dist.barrier()  # both done before either tears down (see SCRIPT)
    dist.destroy_process_group()
    """
)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_without_a_group_a_call_on_one_rank_communicates_with_no_one(tmp_path):
    """Inside an initialised group of two gloo processes, calls on rank 0 alone (the
    estimators and the adversarial losses, without ``group``) return instead of waiting
    for rank 1; with ``group=WORLD`` on both ranks they return equal results, and the
    losses' critics stay equal across the ranks."""
    script = tmp_path / "alone.py"
    script.write_text(ALONE)
    codes, outputs = _two_ranks(
        script,
        tmp_path,
        240,
        "a call without group on rank 0 waited for rank 1 (a hidden collective)",
    )
    assert codes == [0, 0], "\n".join(outputs)
    zero, one = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert one["waited"]
    for name in ("alone", "alone js", "alone loss", "alone gan"):
        assert np.isfinite(zero[name]), name
    assert np.all(np.isfinite(zero["alone batch"]))
    for name in ("together", "together js", "loss weights", "loss spread"):
        assert zero[name] == one[name], name
    # one critic, each rank's own batches: its own value
    assert (
        np.isfinite(zero["together"])
        and np.isfinite([zero["loss value"], one["loss value"]]).all()
    )


def test_group_must_be_a_process_group():
    x = np.random.default_rng(0).normal(size=(40, 1))
    with pytest.raises(TypeError, match=r"group must be None .* or a torch.distributed"):
        dv.wasserstein_dual(x, x + 1, steps=2, seed=0, device="cpu", group="world")
    with pytest.raises(TypeError, match="group must be None"):
        dv.js_dual_batch(x, [x, x + 1], steps=2, seed=0, device="cpu", group=1)
    with pytest.raises(TypeError, match="group must be None"):
        train(torch.nn.Linear(1, 1), None, None, group=0)  # type: ignore[arg-type]


def test_the_message_names_each_differing_fact_with_its_ranks():
    from divergences.neural._distributed import disagreement

    facts = [
        {"problems": "1", "x d": "2", "steps": "5"},
        {"problems": "1", "x d": "3", "steps": "5"},
        {"problems": "1", "x d": "3", "steps": "6"},
        {"problems": "1", "x d": "2", "steps": "5", "x[1] d": "2"},
    ]
    message = disagreement(facts)
    assert message.endswith(
        "but ranks 1, 2 have x d = 3, ranks 0, 3 x d = 2; "
        "rank 2 has steps = 6, ranks 0, 1, 3 steps = 5; "
        "rank 3 has x[1] d = 2, ranks 0, 1, 2 no x[1] d"
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
