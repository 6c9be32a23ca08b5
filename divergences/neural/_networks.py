"""Critic networks: an MLP from (N, d) to (N,), with its input standardisation and
output scale kept as buffers so that any correction is part of the module."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional

_LEAKY_SLOPE = 0.2

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "leaky_relu": lambda: nn.LeakyReLU(_LEAKY_SLOPE),
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
}


def _leaky_relu_slope(z: torch.Tensor) -> torch.Tensor:
    return (z > 0).to(z.dtype) * (1 - _LEAKY_SLOPE) + _LEAKY_SLOPE


def _silu_slope(z: torch.Tensor) -> torch.Tensor:
    s = torch.sigmoid(z)
    return s * (1 + z * (1 - s))


def _elu_slope(z: torch.Tensor) -> torch.Tensor:
    return torch.where(z > 0, torch.ones_like(z), torch.exp(torch.clamp(z, max=0)))


def _tanh_slope(z: torch.Tensor) -> torch.Tensor:
    return 1 - torch.tanh(z) ** 2


# The derivative of each activation, for the explicit input gradient below.
_SLOPES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "leaky_relu": _leaky_relu_slope,
    "silu": _silu_slope,
    "elu": _elu_slope,
    "tanh": _tanh_slope,
}


def default_width(dim: int) -> int:
    """Hidden width for ``d`` input dimensions: 128 up to d = 32, then 4 d, at most 512."""
    return int(min(512, max(128, 4 * dim)))


class Critic(nn.Module):
    r"""A scalar function :math:`f: \mathbb R^d \to \mathbb R` as a multilayer perceptron.

    ``f(x) = scale * mlp((x - center) / spread)``. ``center`` and ``spread``
    standardise the inputs (set from the data, so training behaves the same at
    any scale); ``scale`` is the output factor that :func:`wasserstein_dual`
    sets after training to make the critic 1-Lipschitz on the data. All three
    are buffers: they are saved with the module and are not trained.

    Parameters
    ----------
    dim : int
        Input dimension ``d``.
    width : int
        Units per hidden layer.
    depth : int
        Number of hidden layers.
    activation : {"leaky_relu", "silu", "elu", "tanh"}
        Hidden activation. The output is linear (no sigmoid).
    """

    center: torch.Tensor
    spread: torch.Tensor
    scale: torch.Tensor

    def __init__(self, dim: int, width: int, depth: int, activation: str = "leaky_relu") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        fan_in = dim
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), ACTIVATIONS[activation]()]
            fan_in = width
        layers.append(nn.Linear(fan_in, 1))
        self.mlp = nn.Sequential(*layers)
        self.dim = dim
        self.activation = activation
        self.register_buffer("center", torch.zeros(dim))
        self.register_buffer("spread", torch.ones(()))
        self.register_buffer("scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.center) / self.spread).squeeze(-1) * self.scale

    def value_and_gradient(
        self, x: torch.Tensor, first_row: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""``f(x)`` for rows before ``first_row``, and :math:`\nabla f` for the rows from it.

        The input gradient is built explicitly, layer by layer
        (:math:`\nabla f = W_1^\top D_1 W_2^\top D_2 \cdots w`, with :math:`D_k`
        the activation slopes), as part of the graph: a penalty on it is
        differentiated with respect to the weights by one ordinary backward
        pass, with no ``autograd.grad`` double-backward pass. For the piecewise
        linear LeakyReLU the slopes are constant where they exist, so the
        forward pass of the gradient rows runs without a graph; the smooth
        activations keep it, since their slopes depend on the weights.
        """
        linears = [module for module in self.mlp if isinstance(module, nn.Linear)]
        activations = [module for module in self.mlp if not isinstance(module, nn.Linear)]
        slope = _SLOPES[self.activation]
        standardised = (x - self.center) / self.spread
        slopes = []
        if self.activation == "leaky_relu":
            with torch.no_grad():
                hidden = standardised[first_row:]
                for linear, activation in zip(linears[:-1], activations, strict=True):
                    pre = linear(hidden)
                    slopes.append(slope(pre))
                    hidden = activation(pre)
            hidden = standardised[:first_row]
            for linear, activation in zip(linears[:-1], activations, strict=True):
                hidden = activation(linear(hidden))
        else:
            hidden = standardised
            for linear, activation in zip(linears[:-1], activations, strict=True):
                pre = linear(hidden)
                slopes.append(slope(pre[first_row:]))
                hidden = activation(pre)
            hidden = hidden[:first_row]
        values = linears[-1](hidden).squeeze(-1) * self.scale
        gradient = slopes[-1] * linears[-1].weight
        for linear, layer_slope in zip(linears[-2:0:-1], slopes[-2::-1], strict=True):
            gradient = layer_slope * (gradient @ linear.weight)
        gradient = (gradient @ linears[0].weight) * (self.scale / self.spread)
        return values, gradient

    @torch.no_grad()
    def accumulate_gradients(
        self,
        x: torch.Tensor,
        first_row: int,
        value_weights: torch.Tensor,
        gradient_loss: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Weight gradients of :math:`J = \sum_i c_i f(x_i) + \Psi(\nabla f(x_{\hat\imath}))`.

        The rows of ``x`` before ``first_row`` enter through their values,
        weighted by ``value_weights`` (:math:`c`); the rows from ``first_row``
        through their input gradients, scored by ``gradient_loss``, which maps
        the gradients (M, d) to :math:`\Psi` and :math:`\partial\Psi/\partial\nabla f`.
        The gradients are written to each parameter's ``.grad`` (which must be
        ``None``), and :math:`(\sum_i c_i f(x_i), \Psi)` is returned.

        Only for LeakyReLU critics: their slopes are constant where they exist,
        so the backward pass is a handful of matrix products written out here
        (the same products autograd would run, without its graph and its
        per-operation overhead: about a third fewer operations per step on
        the CPU). The tests check it against autograd.
        """
        if self.activation != "leaky_relu":
            raise ValueError("explicit gradients are written for LeakyReLU critics only")
        linears = [module for module in self.mlp if isinstance(module, nn.Linear)]
        hidden_layers, top = linears[:-1], linears[-1]

        def times_slope(upstream: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
            # upstream * LeakyReLU'(pre) in one operation (broadcasting upstream).
            return torch.ops.aten.leaky_relu_backward(upstream, pre, _LEAKY_SLOPE, False)

        # Forward over data and gradient rows together, one product per layer.
        inputs = [(x - self.center) / self.spread]
        pres = []
        for linear in hidden_layers:
            pres.append(torch.addmm(linear.bias, inputs[-1], linear.weight.t()))
            inputs.append(functional.leaky_relu(pres[-1], _LEAKY_SLOPE))
        data_pres = [pre[:first_row] for pre in pres]
        gradient_pres = [pre[first_row:] for pre in pres]
        weights = value_weights.to(x.dtype).unsqueeze(0)
        top_mean = weights @ inputs[-1][:first_row]
        weight_sum = weights.sum()
        scaled_top = self.scale * top.weight
        value = torch.dot(top_mean[0], scaled_top[0]) + self.scale * top.bias[0] * weight_sum

        # The input gradient of the gradient rows: u_L = s w D_L, u_k = (u_{k+1} W_{k+1}) D_k,
        # grad f = u_1 W_1 / spread.
        chain = [times_slope(scaled_top, gradient_pres[-1])]
        for linear, pre in zip(hidden_layers[:0:-1], gradient_pres[-2::-1], strict=True):
            chain.append(times_slope(chain[-1] @ linear.weight, pre))
        chain.reverse()  # chain[k] multiplies hidden_layers[k].weight
        gradients = (chain[0] @ hidden_layers[0].weight) / self.spread
        penalty, upstream = gradient_loss(gradients)

        # Backward through the chain, from the input gradient up to the top weight.
        chain_upstream = [upstream / self.spread]
        for linear, pre in zip(hidden_layers[:-1], gradient_pres[:-1], strict=True):
            chain_upstream.append(times_slope(chain_upstream[-1] @ linear.weight.t(), pre))
        top_from_chain = times_slope(
            chain_upstream[-1] @ hidden_layers[-1].weight.t(), gradient_pres[-1]
        )

        # Backward through the data rows, from the top down, adding the chain's terms.
        top.weight.grad = self.scale * (top_mean + top_from_chain.sum(dim=0, keepdim=True))
        top.bias.grad = (self.scale * weight_sum).reshape(1)
        delta = times_slope(weights.t() * scaled_top, data_pres[-1])
        for index in range(len(hidden_layers) - 1, -1, -1):
            linear = hidden_layers[index]
            grad = chain[index].t() @ chain_upstream[index]
            linear.weight.grad = torch.addmm(grad, delta.t(), inputs[index][:first_row])
            linear.bias.grad = delta.sum(dim=0)
            if index > 0:
                delta = times_slope(delta @ linear.weight, data_pres[index - 1])
        return value, penalty

    @torch.no_grad()
    def standardise_inputs(self, samples: torch.Tensor) -> None:
        """Centre and scale inputs by ``samples`` (one scalar spread keeps the geometry)."""
        self.center.copy_(samples.mean(dim=0))
        spread = (samples - samples.mean(dim=0)).pow(2).sum(dim=1).mean().sqrt()
        # Input scaling divides gradients: keep the first layer's slope near 1.
        self.spread.copy_(torch.clamp(spread / math.sqrt(self.dim), min=1e-8))


def gradient_norms(critic: nn.Module, points: torch.Tensor, create_graph: bool = False) -> Any:
    """``||grad f(x)||_2`` at each of ``points`` (N, d), optionally differentiable."""
    points = points.detach().requires_grad_(True)
    values = critic(points)
    (gradients,) = torch.autograd.grad(values.sum(), points, create_graph=create_graph)
    return gradients.norm(dim=1)
