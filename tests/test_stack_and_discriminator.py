"""Critics trained as a stack, the batch estimators, and the GAN discriminator's JS.

References: per-network autograd for the stack's gradients, the closed-form
|theta| and log 2 on the disjoint segments, single-problem runs for the batch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.families import segment_samples
from divergences.neural import Critic, CriticStack
from divergences.neural import _objectives as objectives

FAST = {"steps": 300, "device": "cpu"}
LOG2 = math.log(2.0)


def _stack(count: int = 3, dim: int = 2):
    torch.manual_seed(0)
    critics = [Critic(dim, 16, 2).double() for _ in range(count)]
    for index, critic in enumerate(critics):
        critic.standardise_inputs(torch.randn(40, dim, dtype=torch.float64) + index)
        critic.scale.fill_(0.5 + index)
    return critics, CriticStack(critics)


@pytest.mark.parametrize(
    "objective", [objectives.KantorovichDual("gp", 10.0), objectives.JensenShannonDual()]
)
def test_stack_gradients_are_each_networks_own(objective, monkeypatch):
    # Every network of the stack must get exactly the gradient it would get
    # alone (autograd on the single network), with the same interpolates.
    critics, stack = _stack()
    x_p = torch.randn(3, 20, 2, dtype=torch.float64)
    x_q = torch.randn(3, 13, 2, dtype=torch.float64) + 1
    t = torch.rand(3, 13, 1, dtype=torch.float64)
    fixed = torch.lerp(x_q, x_p[:, :13], t)
    monkeypatch.setattr(
        objectives, "_interpolates", lambda a, b, g: fixed if a.dim() == 3 else None
    )
    _, stats = objective.backward(stack, x_p, x_q, torch.Generator())
    for k, critic in enumerate(critics):
        monkeypatch.setattr(objectives, "_interpolates", lambda a, b, g, k=k: fixed[k])
        loss, own_stats = objective.loss(critic, x_p[k], x_q[k], torch.Generator())
        loss.backward()
        np.testing.assert_allclose(stats[k].numpy(), own_stats.numpy(), rtol=1e-12, atol=1e-14)
        for (weight, bias), (weights, biases) in zip(critic.layers(), stack.layers(), strict=True):
            np.testing.assert_allclose(weights.grad[k].numpy(), weight.grad.numpy(), atol=1e-13)
            np.testing.assert_allclose(
                biases.grad[k].reshape(bias.shape).numpy(), bias.grad.numpy(), atol=1e-13
            )


def test_stack_forward_and_extraction_match_the_networks():
    critics, stack = _stack()
    x = torch.randn(3, 7, 2, dtype=torch.float64)
    expected = torch.stack([critic(x[k]) for k, critic in enumerate(critics)])
    np.testing.assert_allclose(stack(x).detach().numpy(), expected.detach().numpy(), rtol=1e-13)
    one = stack.critic(2)
    assert isinstance(one, Critic)
    np.testing.assert_allclose(
        one(x[2]).detach().numpy(), critics[2](x[2]).detach().numpy(), rtol=1e-13
    )


def test_stack_rejects_networks_of_different_shapes():
    with pytest.raises(ValueError, match="same dimension, width"):
        CriticStack([Critic(2, 8, 2), Critic(2, 16, 2)])


def test_batch_estimates_each_problem():
    p = segment_samples(0.0, 1500, seed=0)
    thetas = [-1.0, 0.5, 2.0]
    qs = [segment_samples(t, 1500, seed=1) for t in thetas]
    results = dv.wasserstein_dual_batch(p, qs, seed=0, **FAST)
    assert len(results) == 3
    for result, theta in zip(results, thetas, strict=True):
        # closed form |theta|; a 300-step critic on 1200 samples: within 3%
        np.testing.assert_allclose(result.distance, abs(theta), rtol=0.03)
        assert isinstance(result.critic, Critic)
        assert result.history.objective.shape == result.history.step.shape
    # the same problem alone gives the same kind of answer
    alone = dv.wasserstein_dual(p, qs[2], seed=0, **FAST)
    np.testing.assert_allclose(alone.distance, results[2].distance, rtol=0.03)


def test_batch_accepts_a_stacked_array_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3000, 2))
    y = rng.normal(size=(2, 3000, 2)) + np.array([1.0, 0.0])
    first = dv.wasserstein_dual_batch(x, y, seed=3, **FAST)
    second = dv.wasserstein_dual_batch(x, y, seed=3, **FAST)
    assert [r.distance for r in first] == [r.distance for r in second]
    # closed form 1; 600 held-out samples a side: the 95% interval holds it
    for result in first:
        low, high = result.interval
        assert low - 0.02 <= 1.0 <= high + 0.02


def test_batch_warm_starts_each_problem():
    p = segment_samples(0.0, 1000, seed=0)
    qs = [segment_samples(t, 1000, seed=1) for t in (1.0, -1.0)]
    first = dv.wasserstein_dual_batch(p, qs, seed=0, **FAST)
    again = dv.wasserstein_dual_batch(
        p, qs, critics=[r.critic for r in first], seed=1, steps=20, device="cpu"
    )
    for before, after in zip(first, again, strict=True):
        np.testing.assert_allclose(after.distance, before.distance, rtol=0.03)


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        ((np.zeros((10, 2)), np.ones((10, 2))), {}, "sequence of K sample sets"),
        (
            ([np.zeros((10, 2))] * 2, [np.ones((10, 2))] * 3),
            {},
            "same number of sample sets",
        ),
        (([np.zeros((10, 2)), np.zeros((10, 3))], np.ones((10, 2))), {}, "same dimension"),
        (
            ([np.zeros((10, 2))] * 2, np.ones((10, 2))),
            {"critics": [None]},
            "one entry per problem",
        ),
        (([np.zeros((10, 2))] * 2, np.ones((10, 2))), {"steps": 0}, "steps"),
    ],
)
def test_batch_bad_inputs(args, options, message):
    with pytest.raises(ValueError, match=message):
        dv.wasserstein_dual_batch(*args, device="cpu", **options)


def test_batch_warm_start_type_is_checked():
    with pytest.raises(TypeError, match="critics"):
        dv.wasserstein_dual_batch(
            [np.zeros((10, 2))] * 2, np.ones((10, 2)), critics=Critic(2, 8, 1), device="cpu"
        )


def test_js_dual_reaches_log2_on_disjoint_segments_and_saturates():
    p = segment_samples(0.0, 2000, seed=0)
    q = segment_samples(1.0, 2000, seed=1)
    result = dv.js_dual(p, q, seed=0, **FAST)
    # closed form log 2; a separating discriminator's bound is within 1% of it
    np.testing.assert_allclose(result.divergence, LOG2, rtol=0.01)
    low, high = result.interval
    assert 0 <= low <= result.divergence <= high <= LOG2
    assert result.train_divergence <= LOG2
    # the saturating generator loss has (almost) no gradient left in theta
    theta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    loss = result.generator_loss(segment_samples(theta, 2000, seed=2), "saturating")
    (saturating,) = torch.autograd.grad(loss, theta)
    assert abs(float(saturating)) < 0.02
    # the non-saturating one still pushes Q towards P (theta down)
    theta = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    loss = result.generator_loss(segment_samples(theta, 2000, seed=2), "non_saturating")
    (non_saturating,) = torch.autograd.grad(loss, theta)
    assert float(non_saturating) > 0.1


def test_js_dual_of_one_distribution_is_near_zero():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2))
    result = dv.js_dual(x, y, seed=0, **FAST)
    # closed form 0: the held-out bound of a discriminator that can only over-fit
    assert result.divergence < 0.01
    assert result.interval[0] == 0.0


def test_js_dual_matches_gaussian_js():
    # JS between N(0, 1) and N(2, 1): a 1-D integral done by quadrature.
    from scipy import integrate, stats

    def integrand(x):
        p, q = stats.norm.pdf(x), stats.norm.pdf(x, loc=2)
        m = (p + q) / 2
        return 0.5 * p * np.log(p / m) + 0.5 * q * np.log(q / m)

    true, _ = integrate.quad(integrand, -12, 14)
    rng = np.random.default_rng(1)
    result = dv.js_dual(rng.normal(size=8000), rng.normal(size=8000) + 2, seed=0, steps=1000)
    # a variational lower bound: within 3% below, never far above (its interval)
    assert true * 0.97 <= result.divergence <= result.interval[1] + 0.01
    assert result.interval[0] <= true + 0.01


def test_js_dual_estimate_and_probability_have_autograd():
    p = segment_samples(0.0, 500, seed=0)
    q = segment_samples(0.5, 500, seed=1)
    result = dv.js_dual(p, q, seed=0, steps=100, device="cpu")
    x = torch.as_tensor(np.asarray(q), dtype=torch.float32).requires_grad_(True)
    value = result.estimate(p, x)
    value.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    probability = result.probability(p).detach()
    assert probability.shape == (500,)
    assert float(probability.min()) >= 0 and float(probability.max()) <= 1


def test_js_dual_warm_start_and_batch():
    p = segment_samples(0.0, 1000, seed=0)
    q = segment_samples(1.0, 1000, seed=1)
    first = dv.js_dual(p, q, seed=0, **FAST)
    again = dv.js_dual(p, q, discriminator=first.discriminator, seed=1, steps=10, device="cpu")
    np.testing.assert_allclose(again.divergence, first.divergence, atol=0.01)
    batch = dv.js_dual_batch(p, [p, q], seed=0, **FAST)
    assert batch[0].divergence < 0.02
    np.testing.assert_allclose(batch[1].divergence, LOG2, rtol=0.01)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda r, q: r.generator_loss(q, "minimax"), ValueError, "kind must be one of"),
        (lambda r, q: r.generator_loss(np.zeros((3, 3))), ValueError, "d = 2 columns"),
        (lambda r, q: r.estimate(q, np.full((3, 2), np.nan)), ValueError, "samples_q"),
    ],
)
def test_js_dual_result_methods_check_inputs(call, error, message):
    p = segment_samples(0.0, 200, seed=0)
    result = dv.js_dual(p, p + 1, seed=0, steps=5, device="cpu")
    with pytest.raises(error, match=message):
        call(result, p)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"discriminator": "net"}, TypeError, "discriminator must be a divergences Critic"),
        ({"optimizer": "sgd"}, ValueError, "optimizer must be one of"),
        ({"holdout": 1.5}, ValueError, "holdout"),
        ({"device": "tpu"}, ValueError, "device"),
    ],
)
def test_js_dual_bad_options(options, error, message):
    x = np.zeros((20, 2))
    with pytest.raises(error, match=message):
        dv.js_dual(x, x + 1, **options)
