"""Critic networks: an MLP from (N, d) to (N,), with its input standardisation and
output scale kept as buffers so that any correction is part of the module; and a
stack of K such networks trained together with batched matrix products."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from divergences._validation import check_count, check_option

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


_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": functional.silu,
    "elu": functional.elu,
    "tanh": torch.tanh,
}

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


Layer = tuple[torch.Tensor, torch.Tensor]


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``x W^T + b`` for one network (2-D) or a stack of them (3-D), in one operation."""
    if x.dim() == 2:
        return torch.addmm(bias, x, weight.t())
    return torch.baddbmm(bias, x, weight.transpose(-1, -2))


def _add_product(c: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``c + a b`` for matrices or stacks of matrices."""
    return torch.addmm(c, a, b) if a.dim() == 2 else torch.baddbmm(c, a, b)


def _times_leaky_slope(upstream: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """``upstream * LeakyReLU'(pre)`` in one operation (``upstream`` broadcasts)."""
    return torch.ops.aten.leaky_relu_backward(upstream, pre, _LEAKY_SLOPE, False)


class _Perceptron(nn.Module):
    r"""What :class:`Critic` and :class:`CriticStack` share: the maths of an MLP
    ``f(x) = scale * mlp((x - center) / spread)`` written over its list of
    (weight, bias) layers, so that the same code runs one network on (N, d)
    inputs or a stack of K networks on (K, N, d) inputs with batched products.
    """

    center: torch.Tensor
    spread: torch.Tensor
    scale: torch.Tensor
    dim: int
    activation: str

    def layers(self) -> list[Layer]:
        raise NotImplementedError

    def _hidden_activation(self, z: torch.Tensor) -> torch.Tensor:
        if self.activation == "leaky_relu":
            return functional.leaky_relu(z, _LEAKY_SLOPE)
        return _FUNCTIONS[self.activation](z)

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
        layers = self.layers()
        hidden_layers, (top_weight, top_bias) = layers[:-1], layers[-1]
        slope = _SLOPES[self.activation]
        standardised = (x - self.center) / self.spread
        slopes = []
        if self.activation == "leaky_relu":
            with torch.no_grad():
                hidden = standardised[..., first_row:, :]
                for weight, bias in hidden_layers:
                    pre = _affine(hidden, weight, bias)
                    slopes.append(slope(pre))
                    hidden = self._hidden_activation(pre)
            hidden = standardised[..., :first_row, :]
            for weight, bias in hidden_layers:
                hidden = self._hidden_activation(_affine(hidden, weight, bias))
        else:
            hidden = standardised
            for weight, bias in hidden_layers:
                pre = _affine(hidden, weight, bias)
                slopes.append(slope(pre[..., first_row:, :]))
                hidden = self._hidden_activation(pre)
            hidden = hidden[..., :first_row, :]
        values = _affine(hidden, top_weight, top_bias).squeeze(-1) * self.scale.squeeze(-1)
        gradient = slopes[-1] * top_weight
        for (weight, _), layer_slope in zip(hidden_layers[:0:-1], slopes[-2::-1], strict=True):
            gradient = layer_slope * (gradient @ weight)
        gradient = (gradient @ hidden_layers[0][0]) * (self.scale / self.spread)
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
        ``None``), and :math:`(\sum_i c_i f(x_i), \Psi)` is returned. For a
        stack, every quantity has a leading axis of K and :math:`J` is summed
        over the networks (whose parameters are separate).

        Only for LeakyReLU networks: their slopes are constant where they exist,
        so the backward pass is a handful of matrix products written out here
        (the same products autograd would run, without its graph and its
        per-operation overhead: about a third fewer operations per step on
        the CPU). The tests check it against autograd.
        """
        if self.activation != "leaky_relu":
            raise ValueError("explicit gradients are written for LeakyReLU critics only")
        layers = self.layers()
        hidden_layers, (top_weight, top_bias) = layers[:-1], layers[-1]
        scale = self.scale

        # Forward over data and gradient rows together, one product per layer.
        inputs = [(x - self.center) / self.spread]
        pres = []
        for weight, bias in hidden_layers:
            pres.append(_affine(inputs[-1], weight, bias))
            inputs.append(functional.leaky_relu(pres[-1], _LEAKY_SLOPE))
        data_pres = [pre[..., :first_row, :] for pre in pres]
        gradient_pres = [pre[..., first_row:, :] for pre in pres]
        weights = value_weights.to(x.dtype).unsqueeze(0)
        top_mean = weights @ inputs[-1][..., :first_row, :]
        weight_sum = weights.sum()
        scaled_top = scale * top_weight
        value = (top_mean * scaled_top).sum(dim=-1) + (scale * top_bias).squeeze(-1) * weight_sum

        # The input gradient of the gradient rows: u_L = s w D_L, u_k = (u_{k+1} W_{k+1}) D_k,
        # grad f = u_1 W_1 / spread.
        chain = [_times_leaky_slope(scaled_top, gradient_pres[-1])]
        for (weight, _), pre in zip(hidden_layers[:0:-1], gradient_pres[-2::-1], strict=True):
            chain.append(_times_leaky_slope(chain[-1] @ weight, pre))
        chain.reverse()  # chain[k] multiplies the weight of hidden layer k
        gradients = (chain[0] @ hidden_layers[0][0]) / self.spread
        penalty, upstream = gradient_loss(gradients)

        # Backward through the chain, from the input gradient up to the top weight.
        chain_upstream = [upstream / self.spread]
        for (weight, _), pre in zip(hidden_layers[:-1], gradient_pres[:-1], strict=True):
            chain_upstream.append(
                _times_leaky_slope(chain_upstream[-1] @ weight.transpose(-1, -2), pre)
            )
        top_from_chain = _times_leaky_slope(
            chain_upstream[-1] @ hidden_layers[-1][0].transpose(-1, -2), gradient_pres[-1]
        )

        # Backward through the data rows, from the top down, adding the chain's terms.
        top_weight.grad = scale * (top_mean + top_from_chain.sum(dim=-2, keepdim=True))
        top_bias.grad = torch.empty_like(top_bias).copy_(scale * weight_sum)
        delta = _times_leaky_slope(weights.transpose(-1, -2) * scaled_top, data_pres[-1])
        for index in range(len(hidden_layers) - 1, -1, -1):
            weight, bias = hidden_layers[index]
            grad = chain[index].transpose(-1, -2) @ chain_upstream[index]
            delta_t = delta.transpose(-1, -2)
            weight.grad = _add_product(grad, delta_t, inputs[index][..., :first_row, :])
            bias.grad = delta.sum(dim=-2, keepdim=True).reshape(bias.shape)
            if index > 0:
                delta = _times_leaky_slope(delta @ weight, data_pres[index - 1])
        batch = x.shape[:-2]
        return value.reshape(batch), penalty

    @torch.no_grad()
    def standardise_inputs(self, samples: torch.Tensor) -> None:
        """Centre and scale inputs by ``samples`` (one scalar spread keeps the geometry)."""
        center = samples.mean(dim=-2, keepdim=True)
        spread = (samples - center).pow(2).sum(dim=-1).mean(dim=-1).sqrt()
        # Input scaling divides gradients: keep the first layer's slope near 1.
        spread = torch.clamp(spread / math.sqrt(self.dim), min=1e-8)
        self.center.copy_(center.reshape(self.center.shape))
        self.spread.copy_(spread.reshape(self.spread.shape))


class Critic(_Perceptron):
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

    def __init__(self, dim: int, width: int, depth: int, activation: str = "leaky_relu") -> None:
        super().__init__()
        dim = check_count(dim, "dim")
        width = check_count(width, "width")
        depth = check_count(depth, "depth")
        activation = check_option(activation, "activation", ACTIVATIONS)
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

    @property
    def width(self) -> int:
        """Units per hidden layer."""
        return int(self.layers()[0][0].shape[0])

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return len(self.layers()) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, d) inputs of any floating dtype, on any device, to (N,) values on the critic's."""
        x = x.to(device=self.center.device, dtype=self.center.dtype)
        return self.mlp((x - self.center) / self.spread).squeeze(-1) * self.scale

    def layers(self) -> list[Layer]:
        return [(m.weight, m.bias) for m in self.mlp if isinstance(m, nn.Linear)]


class CriticStack(_Perceptron):
    r"""K independent critics of the same shape, evaluated together.

    Their weights are stacked along a leading axis, so one batched matrix
    product per layer runs all K networks on (K, N, d) inputs, giving (K, N)
    outputs. Training K critics this way costs far less than K times one: the
    per-step overhead is paid once. :meth:`critic` takes one network out as a
    plain :class:`Critic`.

    Parameters
    ----------
    critics : sequence of Critic
        The initial networks, all with the same dimension, width, depth and
        activation (their weights, standardisation and scale are copied).
    """

    def __init__(self, critics: list[Critic]) -> None:
        super().__init__()
        first = critics[0]
        shapes = [[tuple(t.shape) for t in c.state_dict().values()] for c in critics]
        if any(shape != shapes[0] for shape in shapes) or any(
            c.activation != first.activation for c in critics
        ):
            raise ValueError("critics must all have the same dimension, width, depth, activation")
        self.dim = first.dim
        self.activation = first.activation
        self.count = len(critics)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for index in range(len(first.layers())):
            layers = [c.layers()[index] for c in critics]
            self.weights.append(nn.Parameter(torch.stack([w.detach() for w, _ in layers])))
            self.biases.append(
                nn.Parameter(torch.stack([b.detach() for _, b in layers]).unsqueeze(1))
            )
        self.register_buffer("center", torch.stack([c.center for c in critics]).unsqueeze(1))
        self.register_buffer("spread", torch.stack([c.spread for c in critics]).reshape(-1, 1, 1))
        self.register_buffer("scale", torch.stack([c.scale for c in critics]).reshape(-1, 1, 1))

    def layers(self) -> list[Layer]:
        return list(zip(self.weights, self.biases, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(K, N, d) inputs to (K, N) outputs: network k sees ``x[k]``."""
        hidden = (x - self.center) / self.spread
        layers = self.layers()
        for weight, bias in layers[:-1]:
            hidden = self._hidden_activation(_affine(hidden, weight, bias))
        top_weight, top_bias = layers[-1]
        return (_affine(hidden, top_weight, top_bias) * self.scale).squeeze(-1)

    @torch.no_grad()
    def critic(self, index: int) -> Critic:
        """Network ``index`` as a plain :class:`Critic` (a copy)."""
        width = self.weights[0].shape[1]
        one = Critic(self.dim, width, len(self.weights) - 1, self.activation)
        one = one.to(device=self.scale.device, dtype=self.scale.dtype)
        for (weight, bias), (w, b) in zip(one.layers(), self.layers(), strict=True):
            weight.copy_(w[index])
            bias.copy_(b[index].reshape(bias.shape))
        one.center.copy_(self.center[index, 0])
        one.spread.copy_(self.spread[index].reshape(()))
        one.scale.copy_(self.scale[index].reshape(()))
        return one.eval()


def gradient_norms(critic: nn.Module, points: torch.Tensor, create_graph: bool = False) -> Any:
    """``||grad f(x)||_2`` at each of ``points`` (N, d), optionally differentiable."""
    points = points.detach().requires_grad_(True)
    values = critic(points)
    (gradients,) = torch.autograd.grad(values.sum(), points, create_graph=create_graph)
    return gradients.norm(dim=1)
