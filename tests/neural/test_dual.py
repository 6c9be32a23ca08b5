"""wasserstein_dual: accuracy against closed forms and the LP, the rescaling, the
critic as the estimate, autograd, reproducibility, penalties. Fixed seeds,
statistical tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.families import segment_samples

FAST = {"steps": 300, "batch_size": 256}


def translated_gaussians(n: int, dim: int, shift: float = 2.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    y = rng.normal(size=(n, dim))
    y[:, 0] += shift
    return x, y


def population_estimate(result, dim: int, shift: float = 2.0, n: int = 50_000) -> float:
    """The critic's E_P f - E_Q f on fresh samples: small evaluation noise."""
    x, y = translated_gaussians(n, dim, shift, seed=99)
    with torch.no_grad():
        return float(result.estimate(x, y))


def test_estimate_approaches_closed_form_and_exact_lp(device):
    x, y = translated_gaussians(3000, 2)
    result = dv.wasserstein_dual(x, y, seed=0, device=device, **FAST)
    # closed form 2 (a 300-step critic: within 3%); held-out estimate within its noise
    assert abs(population_estimate(result, 2) - 2.0) < 0.06
    assert abs(result.distance - 2.0) < 4 * result.stderr + 0.06
    # the exact LP between these samples (d = 2: the empirical W1 is close to W1)
    assert abs(result.distance - dv.wasserstein(x, y)) < 4 * result.stderr + 0.1
    low, high = result.interval
    assert low < result.distance < high
    np.testing.assert_allclose(
        high - low, 2 * np.hypot(1.96 * result.stderr, result.systematic), rtol=1e-12
    )
    assert 0 < result.stderr < 0.1
    assert 0 < result.systematic < 0.1 * result.distance
    assert result.lipschitz > 0.9
    assert result.steps == 300
    assert result.device == device
    assert result.history.step[-1] == 300
    assert len(result.history.objective) == 6  # windows of 50 steps


def test_rescaling_removes_the_soft_penalty_overestimate():
    x, y = translated_gaussians(3000, 2, seed=1)
    plain = dv.wasserstein_dual(x, y, seed=1, rescale=False, device="cpu", **FAST)
    rescaled = dv.wasserstein_dual(x, y, seed=1, device="cpu", **FAST)
    # GP optimum slope 1 + W / (2 lambda) = 1.1 for W = 2, lambda = 10
    assert population_estimate(plain, 2) > 2.1
    assert abs(population_estimate(rescaled, 2) - 2.0) < 0.04


def test_critic_is_the_estimate():
    x, y = translated_gaussians(1000, 3)
    result = dv.wasserstein_dual(x, y, seed=0, device="cpu", **FAST)
    values = result.critic(torch.tensor(x))  # float64 in: cast on the way
    assert values.shape == (1000,)
    with torch.no_grad():
        direct = result.estimate(x, y)
    assert isinstance(direct, torch.Tensor)
    # estimate on all samples vs held-out only: the same critic, the same scale
    assert abs(float(direct) - result.distance) < 4 * result.stderr + 0.05


def test_autograd_gives_the_sign_of_theta_on_segments(device):
    p_samples = segment_samples(0.0, 3000, seed=0)
    for theta in (1.0, -1.0):
        q_samples = segment_samples(theta, 3000, seed=1)
        result = dv.wasserstein_dual(p_samples, q_samples, seed=0, device=device, **FAST)
        assert abs(result.distance - abs(theta)) < 0.03
        theta_t = torch.tensor(theta, requires_grad=True)
        estimate = result.estimate(
            torch.from_numpy(segment_samples(0.0, 5000, seed=2)).float(),
            segment_samples(theta_t, 5000, seed=3),
        )
        estimate.backward()
        assert abs(theta_t.grad.item() - math.copysign(1.0, theta)) < 0.05


def test_same_seed_same_result_on_cpu():
    x, y = translated_gaussians(500, 2, seed=5)
    options = {"steps": 50, "batch_size": 64, "device": "cpu", "seed": 11}
    first, second = dv.wasserstein_dual(x, y, **options), dv.wasserstein_dual(x, y, **options)
    assert first.distance == second.distance
    assert first.lipschitz == second.lipschitz
    for a, b in zip(first.critic.parameters(), second.critic.parameters(), strict=True):
        assert torch.equal(a, b)
    third = dv.wasserstein_dual(x, y, **{**options, "seed": 12})
    assert third.distance != first.distance


@pytest.mark.parametrize("penalty", ["lp", "clip"])
def test_other_penalties_run(penalty):
    x, y = translated_gaussians(1000, 2, seed=6)
    result = dv.wasserstein_dual(x, y, penalty=penalty, seed=0, device="cpu", **FAST)
    assert math.isfinite(result.distance)
    assert 1.5 < result.distance < 2.3


def test_one_dimensional_and_tensor_inputs(device):
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.normal(size=1500), device=device)
    result = dv.wasserstein_dual(x, x + 1.5, seed=0, device=device, **FAST)
    assert abs(result.distance - 1.5) < 0.08
    estimate = result.estimate(x.requires_grad_(True), x.detach() + 1.5)
    assert estimate.dtype == torch.float32 and estimate.device == x.device
    estimate.backward()
    assert x.grad is not None


def test_estimate_checks_its_inputs():
    x, y = translated_gaussians(200, 2)
    result = dv.wasserstein_dual(x, y, steps=5, device="cpu")
    with pytest.raises(ValueError, match="samples_q must have d = 2 columns; got 3"):
        result.estimate(x, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="samples_p must contain only finite"):
        result.estimate(np.full((4, 2), np.inf), y)
