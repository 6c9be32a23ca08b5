"""The neural KR-dual estimator: accuracy against closed forms and the LP, the
held-out split, the penalty's second-order gradient, callables, warm starts,
autograd, reproducibility and errors. Fixed seeds, statistical tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.families import segment_samples
from divergences.neural import Critic, TrainingDivergedError
from divergences.neural._fitting import _source
from divergences.neural._objectives import KantorovichDual

FAST = {"steps": 300, "batch_size": 256, "device": "cpu"}


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


def test_estimate_approaches_closed_form_and_exact_lp():
    x, y = translated_gaussians(3000, 2)
    result = dv.wasserstein_dual(x, y, seed=0, **FAST)
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
    assert result.device == "cpu"
    assert result.history.step[-1] == 300
    assert len(result.history.objective) == 6  # windows of 50 steps


def test_rescaling_removes_the_soft_penalty_overestimate():
    x, y = translated_gaussians(3000, 2, seed=1)
    plain = population_estimate(dv.wasserstein_dual(x, y, seed=1, rescale=False, **FAST), 2)
    rescaled = population_estimate(dv.wasserstein_dual(x, y, seed=1, **FAST), 2)
    # GP optimum slope 1 + W / (2 lambda) = 1.1 for W = 2, lambda = 10
    assert plain > 2.1
    assert abs(rescaled - 2.0) < 0.04


def test_critic_is_the_estimate():
    x, y = translated_gaussians(1000, 3)
    result = dv.wasserstein_dual(x, y, seed=0, **FAST)
    values = result.critic(torch.tensor(x, dtype=torch.float32))
    assert values.shape == (1000,)
    with torch.no_grad():
        direct = result.estimate(x, y)
    assert isinstance(direct, torch.Tensor)
    # estimate on all samples vs held-out only: the same critic, the same scale
    assert abs(float(direct) - result.distance) < 4 * result.stderr + 0.05


def test_held_out_split_is_disjoint_from_training():
    values = torch.arange(100.0).reshape(-1, 1)
    source = _source(values, "samples_p", 0.2, 10, torch.device("cpu"), np.random.default_rng(0))
    held = set(source.held_out[:, 0].tolist())
    trained = set(source.train[:, 0].tolist())
    assert len(held) == 20
    assert held.isdisjoint(trained)
    assert held | trained == set(range(100))


def test_penalty_is_differentiated_through_the_input_gradient():
    torch.manual_seed(0)
    critic = Critic(2, 16, 2)
    x_p, x_q = torch.randn(32, 2), torch.randn(32, 2) + 1
    losses = []
    for weight in (0.0, 1.0):
        generator = torch.Generator().manual_seed(0)
        loss, _ = KantorovichDual("gp", weight).loss(critic, x_p, x_q, generator)
        losses.append(loss)
    penalty = losses[1] - losses[0]
    assert penalty.item() > 0
    penalty.backward()
    first_layer = critic.mlp[0].weight.grad
    assert first_layer is not None
    assert first_layer.abs().sum() > 0


@pytest.mark.parametrize("activation", ["leaky_relu", "silu", "elu", "tanh"])
@pytest.mark.parametrize("depth", [1, 3])
def test_explicit_input_gradient_matches_autograd(activation, depth):
    torch.manual_seed(1)
    critic = Critic(3, 8, depth, activation).double()
    critic.standardise_inputs(torch.randn(40, 3, dtype=torch.float64) * 2 + 1)
    x = torch.randn(12, 3, dtype=torch.float64)
    values, gradients = critic.value_and_gradient(x, first_row=5)
    leaf = x.clone().requires_grad_(True)
    outputs = critic(leaf)
    (reference,) = torch.autograd.grad(outputs.sum(), leaf, create_graph=True)
    assert values.shape == (5,)
    np.testing.assert_allclose(values.detach().numpy(), outputs[:5].detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(
        gradients.detach().numpy(), reference[5:].detach().numpy(), rtol=1e-12
    )
    # and the penalty's gradient in the weights equals autograd's double backward
    parameters = list(critic.parameters())
    ours = torch.autograd.grad(
        (gradients.norm(dim=1) - 1).square().sum(), parameters, allow_unused=True
    )
    theirs = torch.autograd.grad(
        (reference[5:].norm(dim=1) - 1).square().sum(), parameters, allow_unused=True
    )
    for parameter, a, b in zip(parameters, ours, theirs, strict=True):
        zero = torch.zeros_like(parameter)
        np.testing.assert_allclose(
            (zero if a is None else a).numpy(), (zero if b is None else b).numpy(), atol=1e-12
        )


@pytest.mark.parametrize("penalty", ["gp", "lp"])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("flat_top", [False, True])
def test_explicit_backward_matches_autograd(penalty, depth, flat_top):
    # The LeakyReLU fast path writes the weight gradients by hand: they must be
    # autograd's (double backward through the penalty) to rounding, including
    # where every input gradient is 0 (a zero top layer: autograd's norm gives 0).
    torch.manual_seed(depth)
    critic = Critic(3, 16, depth).double()
    critic.standardise_inputs(torch.randn(50, 3, dtype=torch.float64) * 2 + 1)
    critic.scale.fill_(0.7)
    if flat_top:
        with torch.no_grad():
            critic.mlp[-1].weight.zero_()
    x_p = torch.randn(20, 3, dtype=torch.float64)
    x_q = torch.randn(13, 3, dtype=torch.float64) + 1
    objective = KantorovichDual(penalty, 10.0)
    loss, stats = objective.loss(critic, x_p, x_q, torch.Generator().manual_seed(1))
    loss.backward()
    reference = [parameter.grad.clone() for parameter in critic.parameters()]
    critic.zero_grad(set_to_none=True)
    fast_loss, fast_stats = objective.backward(critic, x_p, x_q, torch.Generator().manual_seed(1))
    np.testing.assert_allclose(fast_loss.item(), loss.item(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(fast_stats.numpy(), stats.numpy(), rtol=1e-13, atol=1e-15)
    for parameter, expected in zip(critic.parameters(), reference, strict=True):
        np.testing.assert_allclose(
            parameter.grad.numpy(), expected.numpy(), rtol=1e-12, atol=1e-14
        )


def test_explicit_backward_is_only_for_leaky_relu():
    critic = Critic(2, 8, 2, "tanh")
    with pytest.raises(ValueError, match="LeakyReLU"):
        critic.accumulate_gradients(
            torch.randn(6, 2), 4, torch.ones(4), lambda g: (g.sum(), torch.zeros_like(g))
        )


def test_callables_are_accepted():
    rng = np.random.default_rng(3)

    def draw_p(k):
        return rng.normal(size=(k, 2))

    def draw_q(k):
        return torch.randn(k, 2) + torch.tensor([2.0, 0.0])

    result = dv.wasserstein_dual(draw_p, draw_q, seed=0, evaluation_size=4000, **FAST)
    assert abs(population_estimate(result, 2) - 2.0) < 0.06
    assert abs(result.distance - 2.0) < 4 * result.stderr + 0.06


def test_warm_start_continues_from_the_given_critic():
    x, y = translated_gaussians(2000, 2, seed=4)
    first = dv.wasserstein_dual(x, y, seed=0, **FAST)
    before = [p.detach().clone() for p in first.critic.parameters()]
    frozen = dv.wasserstein_dual(
        x, y, critic=first.critic, learning_rate=0.0, steps=1, rescale=False, device="cpu"
    )
    for original, copy_, kept in zip(
        first.critic.parameters(), frozen.critic.parameters(), before, strict=True
    ):
        np.testing.assert_array_equal(copy_.detach().numpy(), kept.numpy())
        np.testing.assert_array_equal(original.detach().numpy(), kept.numpy())  # not mutated
    assert frozen.critic is not first.critic
    # a few more steps from a trained critic beat the same few steps from scratch
    short = {"steps": 20, "batch_size": 256, "device": "cpu"}
    y_moved = y + np.array([0.5, 0.0])
    warm = dv.wasserstein_dual(x, y_moved, critic=first.critic, seed=1, **short)
    cold = dv.wasserstein_dual(x, y_moved, seed=1, **short)
    warm_value = population_estimate(warm, 2, shift=2.5)
    assert abs(warm_value - 2.5) < abs(population_estimate(cold, 2, shift=2.5) - 2.5)
    assert abs(warm_value - 2.5) < 0.1


def test_autograd_gives_the_sign_of_theta_on_segments():
    p_samples = segment_samples(0.0, 3000, seed=0)
    for theta in (1.0, -1.0):
        q_samples = segment_samples(theta, 3000, seed=1)
        result = dv.wasserstein_dual(p_samples, q_samples, seed=0, **FAST)
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
    result = dv.wasserstein_dual(x, y, penalty=penalty, seed=0, **FAST)
    assert math.isfinite(result.distance)
    assert 1.5 < result.distance < 2.3


def test_one_dimensional_and_tensor_inputs():
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.normal(size=1500))
    result = dv.wasserstein_dual(x, x + 1.5, seed=0, **FAST)
    assert abs(result.distance - 1.5) < 0.08
    estimate = result.estimate(x.requires_grad_(True), x.detach() + 1.5)
    assert estimate.dtype == torch.float32
    estimate.backward()
    assert x.grad is not None


def test_non_finite_loss_names_the_step():
    rng = np.random.default_rng(8)
    calls = {"count": 0}

    def poisoned(k):
        calls["count"] += 1
        batch = rng.normal(size=(k, 2))
        if calls["count"] >= 12:  # call 1 checks the shape, call 2 draws the held-out set
            batch[0, 0] = np.nan
        return batch

    with pytest.raises(TrainingDivergedError, match="at step 10;"):
        dv.wasserstein_dual(poisoned, lambda k: rng.normal(size=(k, 2)), seed=0, **FAST)


GOOD = np.zeros((50, 2))
BAD = [
    ((np.full((50, 2), np.nan), GOOD), {}, ValueError, "samples_p must contain only finite"),
    ((GOOD, np.zeros((0, 2))), {}, ValueError, "samples_q must hold at least one sample"),
    ((GOOD, np.zeros((50, 3))), {}, ValueError, "must have the same dimension"),
    ((np.zeros((3, 2)), GOOD), {}, ValueError, "too few to hold out"),
    ((GOOD, GOOD), {"penalty": "sn"}, ValueError, "penalty must be one of 'gp', 'lp', 'clip'"),
    ((GOOD, GOOD), {"optimizer": "sgd"}, ValueError, "optimizer must be one of"),
    ((GOOD, GOOD), {"activation": "relu6"}, ValueError, "activation must be one of"),
    ((GOOD, GOOD), {"steps": 0}, ValueError, "steps must be at least 1"),
    ((GOOD, GOOD), {"batch_size": 0}, ValueError, "batch_size must be at least 1"),
    ((GOOD, GOOD), {"holdout": 1.0}, ValueError, "holdout must be strictly between 0 and 1"),
    ((GOOD, GOOD), {"penalty_weight": -1.0}, ValueError, "penalty_weight must be >= 0"),
    ((GOOD, GOOD), {"learning_rate": -1.0}, ValueError, "learning_rate must be >= 0"),
    ((GOOD, GOOD), {"device": "bogus"}, ValueError, "device must be 'auto', 'cpu', 'cuda'"),
    ((GOOD, GOOD), {"critic": torch.nn.Linear(2, 1)}, TypeError, "critic must be a divergences"),
    ((GOOD, GOOD), {"critic": Critic(3, 8, 1)}, ValueError, "built for d = 3"),
    (("abc", GOOD), {}, TypeError, "samples_p must be"),
    ((lambda k: np.zeros((k, 3)), lambda k: np.zeros((k + 1, 3))), {}, ValueError, "returned a"),
]


@pytest.mark.parametrize(("args", "options", "error", "message"), BAD)
def test_bad_inputs(args, options, error, message):
    with pytest.raises(error, match=message):
        dv.wasserstein_dual(*args, **{"steps": 5, "device": "cpu", **options})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        dv.wasserstein_dual(GOOD, GOOD, device="cuda")


def test_progress_bar_reports_training(capsys):
    x, y = translated_gaussians(200, 2)
    dv.wasserstein_dual(x, y, steps=60, batch_size=32, progress=True, device="cpu", seed=0)
    assert "training critic" in capsys.readouterr().err
