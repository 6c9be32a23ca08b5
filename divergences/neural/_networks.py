"""Critic networks: an MLP from (N, d) to (N,) that works in standardised
coordinates, with its standardisation, output scale and calibration kept as
buffers so that every correction is part of the module; and a stack of K such
networks trained together with batched matrix products.

A critic is ``f(x) = spread * phi(scale * mlp((x - center) / spread))``:
``center`` and ``spread`` (float64) map the data to standardised coordinates
and back, so that the network, its training and its gradient penalty see the
same problem at every scale (``f`` is equivariant: moving and scaling the data
moves and scales ``f``), ``scale`` is a factor in standardised units, and
``phi`` is a monotone piecewise-linear map (the identity until calibrated).
The input gradient is ``phi' * scale * grad mlp``, free of ``spread``."""

from __future__ import annotations

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


#: Up to this dimension the default critic is piecewise linear (LeakyReLU) only; above
#: it a smooth (SiLU) critic is trained beside it and the better one kept.
SMOOTH_FROM_DIMENSION = 5


def default_width(dim: int, activation: str) -> int:
    """Hidden units per layer: 128, or 256 for a smooth critic above d = 32."""
    return 256 if activation != "leaky_relu" and dim > 32 else 128


#: Above this dimension the default critics are trained with weight decay.
DECAY_ABOVE_DIMENSION = 32


def default_weight_decay(dim: int) -> float:
    """Decoupled weight decay of the default critics: 1 above d = 32, else 0.

    In high dimension a finite sample cannot pin down the optimal critic: it
    fits directions of the sample's noise, and its estimate on fresh samples
    falls short. Decoupled decay (AdamW, so 1e-3 of the weights per step at the
    default rate) keeps the weights off those directions and lowers that
    error; in low dimension there is no such noise to fit, and no decay.
    """
    return 1.0 if dim > DECAY_ABOVE_DIMENSION else 0.0


def default_architecture(dim: int) -> list[tuple[int, int, str]]:
    """The default critics for ``d`` input dimensions: (width, depth, activation) each.

    Three hidden layers. Up to d = 4, one LeakyReLU critic of 128 units a layer:
    accurate there, and trained with the explicit backward pass. From d = 5,
    a SiLU critic (128 units a layer up to d = 32, 256 above) is trained beside
    it, and the estimator keeps the one whose calibrated estimate is higher on
    the validation split: a piecewise-linear critic needs exponentially many
    pieces for the radial functions that separate distributions of different
    spread (``|x|`` in high dimension) and under-estimates there, while a
    smooth one bends where the optimal critic is linear (a translation) and
    wastes part of its slope (``docs/benchmarks/neural_dual.md``).

    Examples
    --------
    >>> default_architecture(2)
    [(128, 3, 'leaky_relu')]
    >>> default_architecture(128)
    [(128, 3, 'leaky_relu'), (256, 3, 'silu')]
    """
    candidates = ["leaky_relu"] if dim < SMOOTH_FROM_DIMENSION else ["leaky_relu", "silu"]
    return [(default_width(dim, activation), 3, activation) for activation in candidates]


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
        standardised = self.standardise(x)
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
        value_factor = (self.scale * self.spread).to(top_weight.dtype)
        values = _affine(hidden, top_weight, top_bias).squeeze(-1) * value_factor.squeeze(-1)
        gradient = slopes[-1] * top_weight
        for (weight, _), layer_slope in zip(hidden_layers[:0:-1], slopes[-2::-1], strict=True):
            gradient = layer_slope * (gradient @ weight)
        gradient = (gradient @ hidden_layers[0][0]) * self.scale.to(top_weight.dtype)
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
        per-operation overhead). On the CPU, the pass back through the input
        gradients takes only the rows where ``gradient_loss`` returns a non-zero
        derivative (the one-sided penalty is flat below norm 1).
        """
        if self.activation != "leaky_relu":
            raise ValueError("explicit gradients are written for LeakyReLU critics only")
        layers = self.layers()
        hidden_layers, (top_weight, top_bias) = layers[:-1], layers[-1]
        scale = self.scale.to(top_weight.dtype)  # input gradients: free of spread
        value_scale = (self.scale * self.spread).to(top_weight.dtype)  # values

        # Forward over data and gradient rows together, one product per layer.
        inputs = [self.standardise(x)]
        pres = []
        for weight, bias in hidden_layers:
            pres.append(_affine(inputs[-1], weight, bias))
            inputs.append(functional.leaky_relu(pres[-1], _LEAKY_SLOPE))
        data_pres = [pre[..., :first_row, :] for pre in pres]
        gradient_pres = [pre[..., first_row:, :] for pre in pres]
        weights = value_weights.to(inputs[-1].dtype).unsqueeze(0)
        top_mean = weights @ inputs[-1][..., :first_row, :]
        weight_sum = weights.sum()
        value_top = value_scale * top_weight
        value = (top_mean * value_top).sum(dim=-1) + (value_scale * top_bias).squeeze(
            -1
        ) * weight_sum

        # The input gradient of the gradient rows: u_L = s w D_L, u_k = (u_{k+1} W_{k+1}) D_k,
        # grad f = u_1 W_1.
        chain = [_times_leaky_slope(scale * top_weight, gradient_pres[-1])]
        for (weight, _), pre in zip(hidden_layers[:0:-1], gradient_pres[-2::-1], strict=True):
            chain.append(_times_leaky_slope(chain[-1] @ weight, pre))
        chain.reverse()  # chain[k] multiplies the weight of hidden layer k
        gradients = chain[0] @ hidden_layers[0][0]
        penalty, upstream = gradient_loss(gradients)
        if upstream.dim() == 2 and upstream.device.type == "cpu":
            # Rows where the penalty is flat (the one-sided penalty below norm 1: most
            # rows of a trained critic) send nothing back; the backward pass through
            # the chain runs on the others only. Not on a GPU, where the row count
            # would cost a synchronisation, nor for a stack (its rows differ by network).
            rows = upstream.ne(0).any(dim=-1).nonzero().squeeze(-1)
            if rows.numel() < upstream.shape[0]:
                upstream = upstream.index_select(0, rows)
                chain = [link.index_select(0, rows) for link in chain]
                gradient_pres = [pre.index_select(0, rows) for pre in gradient_pres]

        # Backward through the chain, from the input gradient up to the top weight.
        chain_upstream = [upstream]
        for (weight, _), pre in zip(hidden_layers[:-1], gradient_pres[:-1], strict=True):
            chain_upstream.append(
                _times_leaky_slope(chain_upstream[-1] @ weight.transpose(-1, -2), pre)
            )
        top_from_chain = _times_leaky_slope(
            chain_upstream[-1] @ hidden_layers[-1][0].transpose(-1, -2), gradient_pres[-1]
        )

        # Backward through the data rows, from the top down, adding the chain's terms.
        top_weight.grad = value_scale * top_mean + scale * top_from_chain.sum(dim=-2, keepdim=True)
        top_bias.grad = torch.empty_like(top_bias).copy_(value_scale * weight_sum)
        delta = _times_leaky_slope(weights.transpose(-1, -2) * value_top, data_pres[-1])
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

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - center) / spread``, computed in the buffers' precision, in the weights' dtype."""
        dtype = self.layers()[0][0].dtype
        return ((x.to(self.center.dtype) - self.center) / self.spread).to(dtype)

    @torch.no_grad()
    def standardise_inputs(self, samples: torch.Tensor) -> None:
        """Centre and scale inputs by ``samples`` (see :func:`standardisation`)."""
        center, spread = standardisation(samples)
        self.center.copy_(center.reshape(self.center.shape))
        self.spread.copy_(spread.reshape(self.spread.shape))


def standardisation(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The centre and spread that standardise ``samples`` (n, d), in float64.

    The centre is the mean and the spread the root mean square deviation per
    coordinate, :math:`\sqrt{\sum_i \|x_i - \bar x\|^2 / (n d)}`: one scalar, so
    the geometry (and so W1) is kept up to the factor. Both are computed with
    the data divided by their largest magnitude first, so nothing overflows or
    underflows between 1e-300 and 1e300, and both move exactly with the data:
    ``standardisation(a x + c) == (a center + c, a spread)`` to rounding. A set
    of identical points has spread 1.
    """
    x = samples.detach().to(torch.float64)
    top = x.abs().max()
    if not bool(top > 0):
        return torch.zeros(x.shape[-1], dtype=torch.float64, device=x.device), torch.ones(
            (), dtype=torch.float64, device=x.device
        )
    center = (x / top).mean(dim=0) * top
    deviation = x - center
    largest = deviation.abs().max()
    if not bool(largest > 0):
        return center, torch.ones((), dtype=torch.float64, device=x.device)
    spread = largest * (deviation / largest).square().mean().sqrt()
    return center, spread


class Critic(_Perceptron):
    r"""A scalar function :math:`f: \mathbb R^d \to \mathbb R` as a multilayer perceptron.

    ``f(x) = spread * phi(scale * mlp((x - center) / spread))``. ``center`` and
    ``spread`` (float64) standardise the inputs and restore the units of the
    output, so the network sees the same problem at any scale; ``scale`` is an
    output factor in standardised units that the estimators set after training
    (dividing by the critic's slope); ``phi`` is a monotone piecewise-linear
    map through the points (``knots_in``, ``knots_out``), the identity while
    they are empty, which :func:`wasserstein_dual` fits so that the critic's
    slope is 1 at every level (see its Notes). All are buffers: saved with the
    module, not trained.

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

    Examples
    --------
    >>> import torch
    >>> from divergences.neural import Critic
    >>> critic = Critic(dim=2, width=16, depth=2)
    >>> critic(torch.zeros(5, 2, dtype=torch.float64)).shape  # any floating input
    torch.Size([5])
    """

    center: torch.Tensor
    spread: torch.Tensor
    scale: torch.Tensor
    knots_in: torch.Tensor
    knots_out: torch.Tensor

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
        self.register_buffer("center", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("spread", torch.ones((), dtype=torch.float64))
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("knots_in", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("knots_out", torch.zeros(0, dtype=torch.float64))

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
        device = self.center.device
        x = torch.as_tensor(x).to(device=device)
        value = self.mlp(self.standardise(x)).squeeze(-1)
        dtype = value.dtype
        if self.knots_in.numel() <= 1:
            # one factor, formed in float64: scale and spread may each be beyond float32
            # where their product is not (a logit's scale = 1 / spread)
            return value * (self.scale * self.spread).to(dtype)
        value = value * self.scale.to(dtype)
        value = piecewise_linear(value, self.knots_in, self.knots_out).to(dtype)
        return value * self.spread.to(dtype)

    def layers(self) -> list[Layer]:
        return [(m.weight, m.bias) for m in self.mlp if isinstance(m, nn.Linear)]


def piecewise_linear(
    x: torch.Tensor, knots_in: torch.Tensor, knots_out: torch.Tensor
) -> torch.Tensor:
    """The monotone piecewise-linear map through (knots_in, knots_out), extended by its
    end segments, in float64, differentiable in ``x``."""
    u = x.to(torch.float64)
    index = torch.searchsorted(knots_in, u.detach().contiguous()).clamp(1, knots_in.numel() - 1)
    left_in, right_in = knots_in[index - 1], knots_in[index]
    left_out, right_out = knots_out[index - 1], knots_out[index]
    slope = (right_out - left_out) / (right_in - left_in)
    return left_out + (u - left_in) * slope


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
        # The stack trains in the critics' standardised coordinates, in the weights' dtype.
        dtype = first.layers()[0][0].dtype
        centers = torch.stack([c.center for c in critics]).unsqueeze(1)
        self.register_buffer("center", centers.to(dtype))
        self.register_buffer(
            "spread", torch.stack([c.spread for c in critics]).reshape(-1, 1, 1).to(dtype)
        )
        self.register_buffer(
            "scale", torch.stack([c.scale for c in critics]).reshape(-1, 1, 1).to(dtype)
        )

    def layers(self) -> list[Layer]:
        return list(zip(self.weights, self.biases, strict=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(K, N, d) inputs to (K, N) outputs: network k sees ``x[k]``."""
        hidden = self.standardise(x)
        layers = self.layers()
        for weight, bias in layers[:-1]:
            hidden = self._hidden_activation(_affine(hidden, weight, bias))
        top_weight, top_bias = layers[-1]
        return (_affine(hidden, top_weight, top_bias) * (self.scale * self.spread)).squeeze(-1)

    @torch.no_grad()
    def critic(self, index: int) -> Critic:
        """Network ``index`` as a plain :class:`Critic` (a copy)."""
        width = self.weights[0].shape[1]
        one = Critic(self.dim, width, len(self.weights) - 1, self.activation)
        one.mlp.to(device=self.scale.device, dtype=self.weights[0].dtype)
        one.to(device=self.scale.device)
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
