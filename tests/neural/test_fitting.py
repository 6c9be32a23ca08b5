"""The one driver: the held-out split, single problems as the batch case K = 1, warm
starts, callables, sample sets of a batch, and the errors that name the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.families import segment_samples
from divergences.neural import Critic

FAST = {"steps": 300, "batch_size": 256}


def test_held_out_split_is_recorded_and_is_what_the_estimate_uses(device):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(500, 2)) + np.array([1.0, 0.0])
    result = dv.wasserstein_dual(x, y, steps=20, seed=0, device=device)
    held_p, held_q = result.held_out_index
    assert len(held_p) == 20 and len(set(held_p.tolist())) == 20
    assert len(held_q) == 100 and len(set(held_q.tolist())) == 100
    with torch.no_grad():
        for f, reported in (
            (result.critic, result.critic_distance),
            (result.potential, result.distance),
        ):
            direct = float(f(torch.tensor(x[held_p])).double().mean())
            direct -= float(f(torch.tensor(y[held_q])).double().mean())
            np.testing.assert_allclose(reported, direct, rtol=1e-5)


def test_a_single_problem_is_exactly_the_batch_of_one():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(300, 2)) + 1
    options = {"steps": 40, "batch_size": 64, "seed": 2, "device": "cpu"}
    single = dv.wasserstein_dual(x, y, **options)
    (batch,) = dv.wasserstein_dual_batch([x], [y], **options)
    assert single.distance == batch.distance and single.interval == batch.interval
    for a, b in zip(single.critic.parameters(), batch.critic.parameters(), strict=True):
        assert torch.equal(a, b)
    js_single = dv.js_dual(x, y, **options)
    (js_batch,) = dv.js_dual_batch([x], [y], **options)
    assert js_single.divergence == js_batch.divergence


def test_unequal_sample_sizes_are_split_in_proportion():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(500, 2)), rng.normal(size=(20_000, 2)) + np.array([1.5, 0.0])
    result = dv.wasserstein_dual(x, y, steps=200, seed=0, device="cpu")
    assert [len(index) for index in result.held_out_index] == [100, 4000]
    assert abs(result.distance - 1.5) < 4 * result.stderr + 0.1


def test_callables_are_accepted(device):
    rng = np.random.default_rng(3)

    def draw_p(k):
        return rng.normal(size=(k, 2))

    def draw_q(k):
        return torch.randn(k, 2) + torch.tensor([2.0, 0.0])

    result = dv.wasserstein_dual(
        draw_p, draw_q, seed=0, evaluation_size=4000, device=device, **FAST
    )
    assert result.held_out_index == (None, None)
    assert abs(result.distance - 2.0) < 4 * result.stderr + 0.06


def test_callables_give_the_certified_fits_many_fresh_rows(monkeypatch):
    from divergences.neural import _bounds

    rng = np.random.default_rng(4)
    requests: list[int] = []

    def draw(shift):
        def sample(k):
            requests.append(k)
            return rng.normal(size=(k, 2)) + shift

        return sample

    options = {"steps": 50, "batch_size": 64, "evaluation_size": 1000, "seed": 0}

    def chunks(run):
        requests.clear()
        run()
        assert max(requests) <= 1000  # never more than evaluation_size at a time
        return sum(k for k in requests if k > options["batch_size"])  # not the steps' batches

    def single():
        result = dv.wasserstein_dual(draw(0.0), draw(np.array([1.0, 0.0])), **options)
        assert abs(result.distance - 1.0) < 4 * result.stderr + 0.05

    # test and validation, 1000 a side each, and the certified fits' training rows
    assert chunks(single) == 2 * (2000 + _bounds.CERTIFIED_ROWS)
    # fewer where the rows would pass the byte budget: 3000 a side here, shared by the
    # problems of a batch, and never fewer than evaluation_size
    monkeypatch.setattr(_bounds, "CERTIFIED_BYTES", 8 * 2 * 3000)
    assert chunks(single) == 2 * (2000 + 3000)

    def batch():
        pairs = [(draw(0.0), draw(np.array([1.0, 0.0]))) for _ in range(2)]
        dv.wasserstein_dual_batch(*zip(*pairs, strict=True), **options)

    assert chunks(batch) == 2 * 2 * (2000 + 1500)


def test_warm_start_continues_from_the_given_critic():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2000, 2)), rng.normal(size=(2000, 2)) + np.array([2.0, 0.0])
    first = dv.wasserstein_dual(x, y, seed=0, device="cpu", **FAST)
    before = [p.detach().clone() for p in first.critic.parameters()]
    frozen = dv.wasserstein_dual(
        x,
        y,
        warm_start=first.critic,
        learning_rate=1e-30,
        steps=1,
        rescale=False,
        device="cpu",
    )
    for original, copy_, kept in zip(
        first.critic.parameters(), frozen.critic.parameters(), before, strict=True
    ):
        np.testing.assert_allclose(copy_.detach().numpy(), kept.numpy(), atol=1e-25)
        np.testing.assert_array_equal(original.detach().numpy(), kept.numpy())  # not mutated
    assert frozen.critic is not first.critic
    # a few more steps from a trained critic beat the same few steps from scratch
    moved = y + np.array([0.5, 0.0])
    fresh_x = rng.normal(size=(50_000, 2))
    short = {"steps": 20, "seed": 1, "device": "cpu"}

    def population(result):
        with torch.no_grad():
            return float(result.estimate(fresh_x, fresh_x + np.array([2.5, 0.0])))

    warm = population(dv.wasserstein_dual(x, moved, warm_start=first.critic, **short))
    cold = population(dv.wasserstein_dual(x, moved, **short))
    assert abs(warm - 2.5) < abs(cold - 2.5)
    assert abs(warm - 2.5) < 0.1


def test_warm_start_shape_must_agree_with_the_options():
    critic = Critic(2, 8, 1)
    x = np.zeros((20, 2))
    with pytest.raises(ValueError, match="warm_start has width 8, but the options ask for 16"):
        dv.wasserstein_dual(x, x + 1, warm_start=critic, width=16, steps=2, device="cpu")
    with pytest.raises(ValueError, match="warm_start has depth 1"):
        dv.js_dual(x, x + 1, warm_start=critic, depth=3, steps=2, device="cpu")
    with pytest.raises(ValueError, match="warm_start was built for d = 2, but the samples"):
        dv.wasserstein_dual(np.zeros((20, 3)), np.ones((20, 3)), warm_start=critic)
    with pytest.raises(TypeError, match="warm_start must be a divergences Critic"):
        dv.wasserstein_dual(x, x + 1, warm_start=torch.nn.Linear(2, 1))
    result = dv.wasserstein_dual(x, x + 1, warm_start=critic, steps=2, device="cpu")
    assert (result.critic.width, result.critic.depth) == (8, 1)


def test_batch_estimates_each_problem(device):
    p = segment_samples(0.0, 1500, seed=0)
    thetas = [-1.0, 0.5, 2.0]
    qs = [segment_samples(t, 1500, seed=1) for t in thetas]
    results = dv.wasserstein_dual_batch(p, qs, seed=0, device=device, **FAST)
    assert len(results) == 3
    for result, theta in zip(results, thetas, strict=True):
        # closed form |theta|; a 300-step critic on 1200 samples: within 3%
        np.testing.assert_allclose(result.distance, abs(theta), rtol=0.03)
        assert isinstance(result.critic, Critic)
        assert result.history.objective.shape == result.history.step.shape


def test_batch_accepts_a_stacked_array_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3000, 2))
    y = rng.normal(size=(2, 3000, 2)) + np.array([1.0, 0.0])
    first = dv.wasserstein_dual_batch(x, y, seed=3, device="cpu", **FAST)
    second = dv.wasserstein_dual_batch(x, y, seed=3, device="cpu", **FAST)
    assert [r.distance for r in first] == [r.distance for r in second]
    # closed form 1; 600 held-out samples a side: the 95% interval holds it
    for result in first:
        low, high = result.interval
        assert low - 0.02 <= 1.0 <= high + 0.02


def test_batch_warm_starts_each_problem():
    p = segment_samples(0.0, 1000, seed=0)
    qs = [segment_samples(t, 1000, seed=1) for t in (1.0, -1.0)]
    first = dv.wasserstein_dual_batch(p, qs, seed=0, device="cpu", **FAST)
    again = dv.wasserstein_dual_batch(
        p, qs, warm_start=[r.critic for r in first], seed=1, steps=20, device="cpu"
    )
    for before, after in zip(first, again, strict=True):
        np.testing.assert_allclose(after.distance, before.distance, rtol=0.03)


@pytest.mark.parametrize(
    ("args", "options", "error", "message"),
    [
        ((np.zeros((10, 2)), np.ones((10, 2))), {}, ValueError, "sequence of K sample sets"),
        (
            ([np.zeros((10, 2))] * 2, [np.ones((10, 2))] * 3),
            {},
            ValueError,
            "same number of sample sets",
        ),
        (
            ([np.zeros((10, 2)), np.zeros((10, 3))], np.ones((10, 2))),
            {},
            ValueError,
            "same dimension",
        ),
        (
            ([np.zeros((10, 2))] * 2, np.ones((10, 2))),
            {"warm_start": [None]},
            ValueError,
            "warm_start must hold one entry per problem",
        ),
        (
            ([np.zeros((10, 2))] * 2, np.ones((10, 2))),
            {"warm_start": Critic(2, 8, 1)},
            TypeError,
            "warm_start must be a sequence of K",
        ),
        (
            ([np.zeros((10, 2)), np.full((10, 2), np.nan)], np.ones((10, 2))),
            {},
            ValueError,
            r"x\[1\] must contain only finite",
        ),
    ],
)
def test_batch_bad_inputs(args, options, error, message):
    with pytest.raises(error, match=message):
        dv.wasserstein_dual_batch(*args, device="cpu", steps=2, **options)


GOOD = np.zeros((50, 2))


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((np.full((50, 2), np.nan), GOOD), ValueError, "x must contain only finite"),
        ((GOOD, np.zeros((0, 2))), ValueError, "y must hold at least one sample"),
        ((GOOD, np.zeros((50, 3))), ValueError, "must have the same dimension"),
        ((np.zeros((3, 2)), GOOD), ValueError, "too few to hold out"),
        (("abc", GOOD), TypeError, "x must be"),
        (
            (lambda k: np.zeros((k, 3)), lambda k: np.zeros((k + 1, 3))),
            ValueError,
            "returned a batch of shape",
        ),
    ],
)
def test_bad_samples(args, error, message):
    with pytest.raises(error, match=message):
        dv.wasserstein_dual(*args, steps=5, device="cpu")


class _CountingArray(np.ndarray):
    """An array that counts the rows read from it (as a memory map would page them in)."""

    rows_read = 0

    def __getitem__(self, index):
        out = super().__getitem__(index)
        if isinstance(index, np.ndarray):
            _CountingArray.rows_read += index.size
        return out


def test_large_arrays_are_read_row_by_row(monkeypatch):
    from divergences.neural import _fitting

    monkeypatch.setattr(_fitting, "LAZY_BYTES", 0)  # treat every array as too large to copy
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1_000_000, 2)).view(_CountingArray)
    y = (rng.normal(size=(1_000_000, 2)) + np.array([1.0, 0.0])).view(_CountingArray)
    _CountingArray.rows_read = 0
    result = dv.wasserstein_dual(
        x, y, steps=100, batch_size=64, evaluation_size=2000, seed=0, device="cpu"
    )
    # batches, 2000 validation and 2000 test rows a side, the certified fits' 10^5
    # training rows a side and the calibration's draws: a small share of the 2 x 10^6
    assert _CountingArray.rows_read < 250_000
    assert abs(result.distance - 1.0) < 4 * result.stderr + 0.05
    test_p, _ = result.held_out_index
    assert len(test_p) == len(set(test_p.tolist())) <= 2000


def test_a_memory_mapped_file(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "p.npy", rng.normal(size=(30_000, 3)).astype(np.float32))
    np.save(tmp_path / "q.npy", (rng.normal(size=(30_000, 3)) * 2).astype(np.float32))
    p = np.load(tmp_path / "p.npy", mmap_mode="r")
    q = np.load(tmp_path / "q.npy", mmap_mode="r")
    result = dv.wasserstein_dual(p, q, steps=300, seed=0, device="cpu")
    from divergences.closed_form import gaussian_scale_wasserstein

    truth = gaussian_scale_wasserstein(2.0, 3)
    assert abs(result.distance - truth) < 4 * result.stderr + 0.05 * truth
    bad = np.lib.format.open_memmap(tmp_path / "bad.npy", mode="w+", shape=(100, 2))
    bad[:] = np.nan
    with pytest.raises(ValueError, match="y must contain only finite"):
        dv.wasserstein_dual(p, bad, steps=5, device="cpu")
