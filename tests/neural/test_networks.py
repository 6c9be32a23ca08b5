"""Critic and CriticStack: the explicit input gradient against autograd, the stack
against its networks, any floating input on the critic's device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divergences.neural import Critic, CriticStack


def _stack(count: int = 3, dim: int = 2):
    torch.manual_seed(0)
    critics = [Critic(dim, 16, 2).double() for _ in range(count)]
    for index, critic in enumerate(critics):
        critic.standardise_inputs(torch.randn(40, dim, dtype=torch.float64) + index)
        critic.scale.fill_(0.5 + index)
    return critics, CriticStack(critics)


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


def test_explicit_backward_is_only_for_leaky_relu():
    critic = Critic(2, 8, 2, "tanh")
    with pytest.raises(ValueError, match="LeakyReLU"):
        critic.accumulate_gradients(
            torch.randn(6, 2), 4, torch.ones(4), lambda g: (g.sum(), torch.zeros_like(g))
        )


def test_stack_forward_and_extraction_match_the_networks():
    critics, stack = _stack()
    x = torch.randn(3, 7, 2, dtype=torch.float64)
    expected = torch.stack([critic(x[k]) for k, critic in enumerate(critics)])
    np.testing.assert_allclose(stack(x).detach().numpy(), expected.detach().numpy(), rtol=1e-13)
    one = stack.critic(2)
    assert isinstance(one, Critic)
    assert (one.width, one.depth, one.activation) == (16, 2, "leaky_relu")
    np.testing.assert_allclose(
        one(x[2]).detach().numpy(), critics[2](x[2]).detach().numpy(), rtol=1e-13
    )


def test_stack_rejects_networks_of_different_shapes():
    with pytest.raises(ValueError, match="same dimension, width"):
        CriticStack([Critic(2, 8, 2), Critic(2, 16, 2)])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_critic_accepts_any_floating_input(dtype, device):
    torch.manual_seed(0)
    critic = Critic(2, 8, 2).to(device)
    x = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    reference = critic(x.to(device))
    values = critic(x.to(dtype))  # on the CPU, in another dtype: cast on the way in
    assert values.device == reference.device and values.dtype == torch.float32
    tolerance = {torch.float16: 1e-2, torch.bfloat16: 5e-2}.get(dtype, 1e-6)
    np.testing.assert_allclose(
        values.detach().cpu().numpy(), reference.detach().cpu().numpy(), atol=tolerance
    )
    # differentiable back to a float64 input
    leaf = x.double().requires_grad_(True)
    critic(leaf).sum().backward()
    assert leaf.grad is not None and leaf.grad.dtype == torch.float64


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((0, 8, 2), ValueError, "dim must be at least 1"),
        ((2, 8, 2, "relu6"), ValueError, "activation must be one of"),
        ((2, 8.0, 2), TypeError, "width must be an integer"),
    ],
)
def test_critic_checks_its_arguments(args, error, message):
    with pytest.raises(error, match=message):
        Critic(*args)
