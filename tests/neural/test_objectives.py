"""The objectives: the explicit backward against autograd's double backward, a stack's
gradients against each network's own, and the checks of their parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divergences.neural import (
    Critic,
    CriticStack,
    JensenShannonDual,
    KantorovichDual,
    log_d,
    log_one_minus_d,
)


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


def test_explicit_backward_matches_autograd_when_some_rows_exceed_the_bound():
    # The one-sided penalty is flat below norm 1: the explicit backward pass then runs
    # on the rows above only. With the critic's scale set to the median input gradient
    # norm's inverse, about half the rows are above: the gradients must still be
    # autograd's.
    from divergences.neural._objectives import _interpolates

    torch.manual_seed(4)
    critic = Critic(3, 16, 3).double()
    critic.standardise_inputs(torch.randn(50, 3, dtype=torch.float64))
    x_p = torch.randn(40, 3, dtype=torch.float64)
    x_q = torch.randn(40, 3, dtype=torch.float64) + 1
    points = _interpolates(x_p, x_q, torch.Generator().manual_seed(1)).requires_grad_(True)
    (gradients,) = torch.autograd.grad(critic(points).sum(), points)
    norms = gradients.norm(dim=-1)
    critic.scale.mul_(1 / norms.median())
    share = float((norms / norms.median() > 1).double().mean())
    assert 0.3 < share < 0.7
    objective = KantorovichDual("lp", 10.0)
    loss, stats = objective.loss(critic, x_p, x_q, torch.Generator().manual_seed(1))
    loss.backward()
    reference = [parameter.grad.clone() for parameter in critic.parameters()]
    critic.zero_grad(set_to_none=True)
    fast_loss, fast_stats = objective.backward(critic, x_p, x_q, torch.Generator().manual_seed(1))
    np.testing.assert_allclose(fast_loss.item(), loss.item(), rtol=1e-13)
    np.testing.assert_allclose(fast_stats.numpy(), stats.numpy(), rtol=1e-13, atol=1e-15)
    for parameter, expected in zip(critic.parameters(), reference, strict=True):
        np.testing.assert_allclose(
            parameter.grad.numpy(), expected.numpy(), rtol=1e-12, atol=1e-14
        )


def _reference_loss(name, critic, x_p, x_q, t):
    """The loss written out with autograd (double backward for the penalty)."""
    outputs_p, outputs_q = critic(x_p), critic(x_q)
    if name == "js":
        return -(log_d(outputs_p).mean() + log_one_minus_d(outputs_q).mean())
    points = torch.lerp(x_q[: len(t)], x_p[: len(t)], t).requires_grad_(True)
    (gradients,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    penalty = ((gradients.norm(dim=1) - 1) ** 2).mean()
    return -(outputs_p.mean() - outputs_q.mean()) + 10.0 * penalty


@pytest.mark.parametrize("name", ["gp", "js"])
def test_stack_gradients_are_each_networks_own(name):
    # Every network of the stack must get exactly the gradient it would get
    # alone, from its loss written out with autograd, with the same interpolates.
    objective = KantorovichDual("gp", 10.0) if name == "gp" else JensenShannonDual()
    torch.manual_seed(0)
    critics = [Critic(2, 16, 2).double() for _ in range(3)]
    for index, critic in enumerate(critics):
        critic.standardise_inputs(torch.randn(40, 2, dtype=torch.float64) + index)
        critic.scale.fill_(0.5 + index)
    stack = CriticStack(critics)
    x_p = torch.randn(3, 20, 2, dtype=torch.float64)
    x_q = torch.randn(3, 13, 2, dtype=torch.float64) + 1
    # the interpolates' t are the generator's first draw, one per pair (13 a network)
    t = torch.rand(3, 13, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    loss, stats = objective.backward(stack, x_p, x_q, torch.Generator().manual_seed(5))
    total = 0.0
    for k, critic in enumerate(critics):
        reference = _reference_loss(name, critic, x_p[k], x_q[k], t[k])
        reference.backward()
        total += float(reference.detach())
        if name == "gp":
            value = float((critic(x_p[k]).mean() - critic(x_q[k]).mean()).detach())
            np.testing.assert_allclose(float(stats[k, 0]), value, rtol=1e-12)
        for (weight, bias), (weights, biases) in zip(critic.layers(), stack.layers(), strict=True):
            np.testing.assert_allclose(weights.grad[k].numpy(), weight.grad.numpy(), atol=1e-13)
            np.testing.assert_allclose(
                biases.grad[k].reshape(bias.shape).numpy(), bias.grad.numpy(), atol=1e-13
            )
    np.testing.assert_allclose(float(loss), total, rtol=1e-12)


def test_log_d_is_the_log_of_the_sigmoid_and_stays_finite():
    logits = torch.tensor([-800.0, -3.0, 0.0, 2.5, 800.0], dtype=torch.float64)
    with torch.no_grad():
        expected = torch.log(torch.sigmoid(logits[1:4]))
        np.testing.assert_allclose(log_d(logits[1:4]).numpy(), expected.numpy())
        np.testing.assert_allclose(
            log_one_minus_d(logits[1:4]).numpy(),
            torch.log(1 - torch.sigmoid(logits[1:4])).numpy(),
            rtol=1e-12,
        )
        assert torch.isfinite(log_d(logits)).all()
        assert torch.isfinite(log_one_minus_d(logits)).all()


def test_kantorovich_dual_defaults_and_checks():
    assert KantorovichDual().strength == 10.0 and KantorovichDual().optimizer == "adam"
    clip = KantorovichDual("clip")
    assert clip.strength == 0.01 and clip.optimizer == "rmsprop"
    with pytest.raises(ValueError, match="penalty must be one of 'gp', 'lp', 'clip'"):
        KantorovichDual("sn")
    with pytest.raises(ValueError, match="penalty_weight must be >= 0"):
        KantorovichDual("gp", -1.0)
