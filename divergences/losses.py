"""Losses for training generators: ``loss(fake, real)``, a scalar to minimise.

Every loss is a :class:`torch.nn.Module` called as ``loss(fake, real)``:
``fake`` (N, d) is a floating tensor of generated samples with autograd to the
generator, ``real`` (M, d) a batch of data (tensor, numpy array or nested
list, used in ``fake``'s dtype and on its device). The result is a 0-dim
tensor on ``fake``'s device whose gradient moves ``fake`` toward ``real``;
``real`` is always detached, so ``real.grad`` stays None.

* :class:`WassersteinLoss`: W1 from a WGAN critic kept and trained between calls;
* :class:`GANLoss`: a GAN generator's loss from a discriminator kept between calls;
* :class:`ExactWassersteinLoss`: the exact :math:`W_p` between the batches (the LP);
* :class:`SinkhornLoss`: the debiased Sinkhorn divergence;
* :class:`EnergyLoss`: the energy distance.

The batches are checked as by every function of the package; errors name
``fake`` or ``real``.

Examples
--------
A generator of one parameter (a shift) learns to move onto the data:

>>> import torch
>>> from divergences.losses import WassersteinLoss
>>> _ = torch.manual_seed(0)
>>> shift = torch.zeros(1, requires_grad=True)
>>> optimizer = torch.optim.Adam([shift], lr=0.05)
>>> loss = WassersteinLoss(seed=0)
>>> for _ in range(100):
...     fake = torch.randn(128, 1) + shift
...     real = torch.randn(128, 1) + 2.0
...     value = loss(fake, real)
...     optimizer.zero_grad()
...     value.backward()
...     optimizer.step()
>>> bool(1.5 < shift.item() < 2.5)  # the data are centred at 2
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from divergences._validation import (
    as_loss_batches,
    check_count,
    check_option,
    check_real,
    check_seed,
    torch_seed,
)
from divergences.neural._discriminator import GENERATOR_LOSSES, generator_loss
from divergences.neural._distributed import Group
from divergences.neural._fitting import seeded_critic
from divergences.neural._networks import ACTIVATIONS, Critic
from divergences.neural._objectives import JensenShannonDual, KantorovichDual
from divergences.neural._trainer import (
    STATISTICS,
    TrainingHistory,
    cpu_threads,
    threads_for,
    train,
)
from divergences.neural.options import TrainingOptions

__all__ = [
    "GAN_KINDS",
    "EnergyLoss",
    "ExactWassersteinLoss",
    "GANLoss",
    "SinkhornLoss",
    "WassersteinLoss",
]

#: The generator losses of a GAN, by name: :data:`divergences.neural.GENERATOR_LOSSES`
#: itself, so that a name means the same loss in :class:`GANLoss` and in
#: :meth:`~divergences.neural.DiscriminatorResult.generator_loss`.
GAN_KINDS = GENERATOR_LOSSES


# A critic's value is spread * g((x - center) / spread), whose gradient in x is grad g,
# free of the data's scale; the chain rule would carry spread / N through the float32
# backward pass and divide by spread after, which underflows or overflows for data far
# from unit scale. The two factors cancel exactly, so these two functions drop both.
class _Standardise(torch.autograd.Function):
    """``(x - center) / spread`` in ``dtype``, with a backward pass that omits ``1 / spread``."""

    @staticmethod
    def forward(
        x: torch.Tensor, center: torch.Tensor, spread: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        return ((x.to(center.dtype) - center) / spread).to(dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.input_dtype = inputs[0].dtype

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        return grad.to(ctx.input_dtype), None, None, None


class _TimesSpread(torch.autograd.Function):
    """``value * spread`` in ``dtype``, with a backward pass that omits ``spread``."""

    @staticmethod
    def forward(value: torch.Tensor, spread: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return (value * spread).to(dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.input_dtype = inputs[0].dtype

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        return grad.to(ctx.input_dtype), None, None


@contextmanager
def _standardised_units(network: Critic) -> Iterator[None]:
    """Within the block, ``network`` maps standardised inputs to its raw output."""
    # swapped, not overwritten: batches standardised before the block keep their
    # autograd graph through the original buffers
    names = ("center", "spread", "scale")
    kept = {name: getattr(network, name) for name in names}
    network.center = torch.zeros_like(kept["center"])
    network.spread = torch.ones_like(kept["spread"])
    network.scale = torch.ones_like(kept["scale"])
    try:
        yield
    finally:
        for name in names:
            setattr(network, name, kept[name])


@dataclass(frozen=True)
class _NetworkSettings:
    """The settings of an adversarial loss's network, as its constructor received them."""

    dim: int | None
    width: int
    depth: int
    activation: str
    learning_rate: float
    seed: int | None
    group: Any


class _AdversarialLoss(nn.Module):
    """A network kept between calls and trained by :func:`~divergences.neural.train` on each."""

    network: Critic | None
    #: Whether the network's output carries the data's units (a critic's W1) or none
    #: (a discriminator's logit).
    _output_in_units = True

    def __init__(
        self, objective: Any, steps: int, steps_name: str, settings: _NetworkSettings
    ) -> None:
        super().__init__()
        self.objective = objective
        self._group = Group.of(settings.group)
        self.steps = check_count(steps, steps_name)
        self.width = check_count(settings.width, "width")
        self.depth = check_count(settings.depth, "depth")
        self.activation = check_option(settings.activation, "activation", ACTIVATIONS)
        self.learning_rate = check_real(settings.learning_rate, "learning_rate", minimum=0.0)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive; got {settings.learning_rate}")
        self.seed = check_seed(settings.seed)
        self.network = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._generator: torch.Generator | None = None
        self._statistics: list[torch.Tensor] = []
        self._calls = 0
        if settings.dim is not None:
            self._build(check_count(settings.dim, "dim"), torch.device("cpu"))

    def _build(self, dim: int, device: torch.device) -> None:
        """A new seeded network for samples of dimension ``dim``, on ``device``."""
        # a generator of the network's own: torch's global one is neither read nor moved
        seed = self.seed
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 2)
        initial = torch.Generator().manual_seed(torch_seed(seed))
        network = seeded_critic(dim, self.width, self.depth, self.activation, initial)
        self.network = network.to(device)
        self._standardised = False

    def _prepare(self, fake: torch.Tensor, real: torch.Tensor) -> Critic:
        """The network, checked against the batch; standardised and given an optimiser once."""
        if self.network is None:
            self._build(fake.shape[1], fake.device)
        network = self.network
        assert network is not None  # built above
        if network.dim != fake.shape[1]:
            raise ValueError(
                f"fake and real must have d = {network.dim}, the dimension this loss's "
                f"network was built for; got d = {fake.shape[1]}"
            )
        device = network.center.device
        if device != fake.device:
            raise ValueError(
                f"fake is on {fake.device} but this loss's network is on {device}; move the "
                f"loss with .to({str(fake.device)!r}) before its first call"
            )
        if not self._standardised:
            # fixed from the first batch on, so that the problem and its optimiser steps
            # are the same at any scale of the data
            network.standardise_inputs(real.detach())
            if not self._output_in_units:
                # a logit has no units: network(x) = spread * scale * mlp is the logit
                network.scale.fill_(1.0).div_(network.spread)
            # as DistributedDataParallel starts its replicas: equal networks, which the
            # averaged gradients keep equal
            self._group.same_tensors([*network.parameters(), *network.buffers()])
            self._standardised = True
        if self._optimizer is None:
            options = TrainingOptions(learning_rate=self.learning_rate)
            self._optimizer = options.make_optimizer(list(network.parameters()))
            seed = self.seed
            if seed is None:
                seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 2)
            self._generator = torch.Generator(device=device).manual_seed(torch_seed(seed))
        return network

    def _fit_and_evaluate(self, fake: Any, real: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Check the batches, train the network on them, and evaluate it on both."""
        fake, real = as_loss_batches(fake, real)
        network = self._prepare(fake, real)
        options = TrainingOptions(
            steps=self.steps,
            batch_size=max(real.shape[0], fake.shape[0]),
            learning_rate=self.learning_rate,
        )
        fake_rows, real_rows = self._standardise(network, fake), network.standardise(real)
        with (
            cpu_threads(threads_for(network, options, network.center.device)),
            _standardised_units(network),
        ):
            self._update(network, options, fake_rows, real_rows)
            return self._frozen_outputs(network, fake_rows, real_rows)

    def _standardise(self, network: Critic, fake: torch.Tensor) -> torch.Tensor:
        """``fake`` in the network's standardised coordinates, with autograd to it."""
        return network.standardise(fake)

    def _update(
        self, network: Critic, options: TrainingOptions, fake: torch.Tensor, real: torch.Tensor
    ) -> None:
        """``steps`` optimiser steps of the network on the detached batches (P = real)."""
        real_rows = real.detach()
        fake_rows = fake.detach()

        def sample(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            return real_rows, fake_rows

        history = train(
            network,
            self.objective,
            sample,
            options,
            generator=self._generator,
            log_every=self.steps,
            optimizer=self._optimizer,
            group=self._group,
        )
        self._statistics.append(
            torch.as_tensor(
                np.array([getattr(history, name)[0] for name in STATISTICS]), dtype=torch.float64
            )
        )
        self._calls += 1

    def _frozen_outputs(
        self, network: Critic, fake: torch.Tensor, real: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The network on both batches, with autograd to ``fake`` and not its parameters."""
        parameters = list(network.parameters())
        for parameter in parameters:
            parameter.requires_grad_(False)
        try:
            on_fake = network(fake)
            with torch.no_grad():
                on_real = network(real)
        finally:
            for parameter in parameters:
                parameter.requires_grad_(True)
        return on_fake, on_real

    @property
    def history(self) -> TrainingHistory:
        """The network's statistics, one row per call (means over its steps).

        ``step`` counts optimiser steps at the end of each call. Values are in the
        standardised coordinates: a critic's objective times ``network.spread`` is
        in the data's units.
        """
        if self._statistics:
            table = torch.stack(self._statistics).numpy()
        else:
            table = np.zeros((0, len(STATISTICS)))
        return TrainingHistory(
            step=self.steps * np.arange(1, table.shape[0] + 1),
            **{name: table[:, i] for i, name in enumerate(STATISTICS)},
            check_step=np.zeros(0, dtype=np.int64),
            check_score=np.zeros(0),
            selected_step=self.steps * table.shape[0],
        )

    def extra_repr(self) -> str:
        return (
            f"width={self.width}, depth={self.depth}, activation={self.activation!r}, "
            f"learning_rate={self.learning_rate:g}, calls={self._calls}"
        )


class WassersteinLoss(_AdversarialLoss):
    r"""W1 between the generator's and the data's distributions, from a WGAN critic.

    The loss keeps a :class:`~divergences.neural.Critic` :math:`f` and, on each
    call, first trains it for ``critic_steps`` Adam steps on the detached batches
    to maximise :math:`\mathbb E_{\rm real} f - \mathbb E_{\rm fake} f - \lambda\,\Omega(f)`
    (:class:`~divergences.neural.KantorovichDual`; the optimiser's moments persist
    between calls), then returns

    .. math::

        \widehat W_1 = \frac1M \sum_j f(y_j) - \frac1N \sum_i f(x_i),

    whose gradient in the generated :math:`x_i` is :math:`-\nabla f(x_i) / N`.
    This is the generator loss of Gulrajani et al. (2017), with the one-sided
    penalty of Petzka et al. (2018) by default.

    Parameters
    ----------
    critic_steps : int, default 5
        Critic updates per call (on the call's batches, fresh interpolates each).
    penalty : {"lp", "gp", "clip"}, default "lp"
        The Lipschitz constraint (see :class:`~divergences.neural.KantorovichDual`).
        :func:`~divergences.neural.wasserstein_dual` defaults to ``"gp"``: its
        critic is trained once between fixed distributions, while this one
        follows a moving generator and must turn its slope around where the
        generated samples overtake the data, which the two-sided penalty
        resists (see Notes).
    penalty_weight : float, optional
        Its weight (default 10), or the clipping bound (default 0.01).
    dim : int, optional
        Build the critic now, on the CPU (move the loss with ``.to(device)``);
        by default it is built at the first call, on ``fake``'s device.
    width, depth : int, default 128 and 3
        The critic's hidden units per layer and hidden layers.
    activation : {"leaky_relu", "silu", "elu", "tanh"}, default "leaky_relu"
        Its hidden activation.
    learning_rate : float, default 1e-3
        The critic's constant Adam step size (chosen on the generators
        benchmark page, docs/benchmarks/generators.md).
    seed : int, optional
        Seeds the critic's initial weights and the interpolates, with generators
        of the loss's own (torch's global one is neither read nor moved). None:
        fresh entropy, so two unseeded losses start from different critics.
    group : torch.distributed.ProcessGroup, optional
        Train the critic over this group's ranks, as under
        DistributedDataParallel: every rank starts from the first rank's critic
        and each step averages the gradients. None: this process alone; nothing
        communicates.

    Attributes
    ----------
    critic : Critic or None
        The critic, in the data's units (None before the first call unless
        ``dim`` was given).
    history : TrainingHistory
        The critic's statistics, one row per call.

    Raises
    ------
    ValueError, TypeError
        On a bad option (named), and at a call, naming ``fake`` or ``real``, on
        batches that are not non-empty (N, d) real arrays of one ``d``
        (``fake`` a floating tensor), hold NaN or inf, are meta tensors, or lie
        on another device than each other or the critic.

    Notes
    -----
    The critic trains in the coordinates standardised by the first ``real``
    batch's centre and spread, so training and the returned gradient are the
    same at any scale of the data; the value is in the data's units and
    ``history`` in the standardised ones.

    With the two-sided penalty :math:`\lambda(\|\nabla f\| - 1)^2`, turning a
    near-linear critic's slope around passes through slope 0, where the
    penalty is largest: in one dimension the critic can stay on the wrong side
    and the generator overshoot. The one-sided penalty does not charge slopes
    below 1. In higher dimension the gradient can rotate instead, and both
    train (``"gp"`` is the recipe of Gulrajani et al.).

    References
    ----------
    Gulrajani, I., Ahmed, F., Arjovsky, M., Dumoulin, V. and Courville, A.
    (2017). Improved training of Wasserstein GANs. *NeurIPS*.

    Petzka, H., Fischer, A. and Lukovnicov, D. (2018). On the regularization
    of Wasserstein GANs. *ICLR*.

    Examples
    --------
    >>> import torch
    >>> from divergences.losses import WassersteinLoss
    >>> loss = WassersteinLoss(seed=0)
    >>> fake = torch.zeros(64, 2, requires_grad=True)
    >>> real = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) + 3.0
    >>> for _ in range(20):  # 100 critic steps on this pair of batches
    ...     fake.grad = None
    ...     value = loss(fake, real)
    ...     value.backward()
    >>> bool((fake.grad.sum(dim=0) < 0).all())  # descending moves fake toward real
    True
    >>> loss.history.step[-3:]
    array([ 90,  95, 100])
    """

    def __init__(
        self,
        critic_steps: int = 5,
        *,
        penalty: str = "lp",
        penalty_weight: float | None = None,
        dim: int | None = None,
        width: int = 128,
        depth: int = 3,
        activation: str = "leaky_relu",
        learning_rate: float = 1e-3,
        seed: int | None = None,
        group: Any = None,
    ) -> None:
        super().__init__(
            KantorovichDual(penalty, penalty_weight),
            critic_steps,
            "critic_steps",
            _NetworkSettings(dim, width, depth, activation, learning_rate, seed, group),
        )

    @property
    def critic(self) -> Critic | None:
        """The critic, kept between calls."""
        return self.network

    def forward(self, fake: torch.Tensor, real: Any) -> torch.Tensor:
        on_fake, on_real = self._fit_and_evaluate(fake, real)
        assert self.network is not None  # built by the call above
        # the critic's estimate in standardised units, then in the data's
        value = on_real.to(torch.float64).mean() - on_fake.to(torch.float64).mean()
        return _TimesSpread.apply(value, self.network.spread, fake.dtype)

    def _standardise(self, network: Critic, fake: torch.Tensor) -> torch.Tensor:
        return _Standardise.apply(
            fake, network.center, network.spread, network.mlp[0].weight.dtype
        )


class GANLoss(_AdversarialLoss):
    r"""The GAN generator's loss, from a discriminator kept between calls.

    The loss keeps a network with logit :math:`\ell` and :math:`D = \sigma(\ell)`
    and, on each call, first trains it for ``discriminator_steps`` steps on the
    detached batches to maximise the game's value
    :math:`\mathbb E_{\rm real} \log D + \mathbb E_{\rm fake} \log(1 - D)`
    (:class:`~divergences.neural.JensenShannonDual`; its maximum is
    :math:`2\,\mathrm{JS} - \log 4`), then returns the generator's loss
    ``kind`` of :data:`~divergences.neural.GENERATOR_LOSSES`, a function of
    ``fake`` alone:

    * ``"saturating"``: :math:`\mathbb E_{\rm fake} \log(1 - D)`, the minimax
      game's generator side (the game's term in ``real`` is constant for the
      generator); its gradient vanishes where the discriminator is confident;
    * ``"non_saturating"``: :math:`-\mathbb E_{\rm fake} \log D`, whose gradient
      stays large where the discriminator rejects the fakes.

    Both equal :meth:`divergences.neural.DiscriminatorResult.generator_loss`
    for the same discriminator and batch.

    Parameters
    ----------
    kind : {"saturating", "non_saturating"}, default "non_saturating"
        The generator's loss. ``DiscriminatorResult.generator_loss`` defaults
        to ``"saturating"``, to show the minimax game; this loss trains
        generators, and a generator the discriminator rejects (disjoint
        supports) gets no gradient from the saturating loss.
    discriminator_steps : int, default 1
        Discriminator updates per call.
    dim, width, depth, activation, seed, group
        As for :class:`WassersteinLoss`.
    learning_rate : float, default 1e-3
        The discriminator's constant Adam step size.

    Attributes
    ----------
    discriminator : Critic or None
        The discriminator: data's units in, the logit out (it trains in the
        first ``real`` batch's standardised coordinates, as the critic of
        :class:`WassersteinLoss` does).
    history : TrainingHistory
        Its statistics, one row per call (``objective`` is the game's value).

    Raises
    ------
    ValueError, TypeError
        As for :class:`WassersteinLoss`; an unknown ``kind`` lists the valid ones.

    References
    ----------
    Goodfellow, I. et al. (2014). Generative adversarial nets. *NeurIPS*.

    Examples
    --------
    >>> import torch
    >>> from divergences.losses import GANLoss
    >>> loss = GANLoss("saturating", seed=0)
    >>> fake = torch.zeros(64, 1, requires_grad=True)
    >>> value = loss(fake, torch.ones(64, 1))
    >>> bool(value < 0)  # E log(1 - D(fake)), the log of a probability
    True
    """

    _output_in_units = False

    def __init__(
        self,
        kind: str = "non_saturating",
        *,
        discriminator_steps: int = 1,
        dim: int | None = None,
        width: int = 128,
        depth: int = 3,
        activation: str = "leaky_relu",
        learning_rate: float = 1e-3,
        seed: int | None = None,
        group: Any = None,
    ) -> None:
        self.kind = check_option(kind, "kind", GAN_KINDS)
        super().__init__(
            JensenShannonDual(),
            discriminator_steps,
            "discriminator_steps",
            _NetworkSettings(dim, width, depth, activation, learning_rate, seed, group),
        )

    @property
    def discriminator(self) -> Critic | None:
        """The discriminator, kept between calls."""
        return self.network

    def forward(self, fake: torch.Tensor, real: Any) -> torch.Tensor:
        on_fake, _ = self._fit_and_evaluate(fake, real)
        return generator_loss(on_fake, self.kind).to(fake.dtype)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, " + super().extra_repr()


class ExactWassersteinLoss(nn.Module):
    r"""The exact :math:`W_p` between the two batches, by the LP, with its envelope gradient.

    :func:`divergences.wasserstein` on ``(fake, real)``: the gradient in
    ``fake`` is that of the optimal plan's cost with the plan held fixed, which
    pulls each generated sample toward the data points it is matched with. The
    minibatch distance is biased upward (it is not 0 at P = Q for finite
    batches); its gradient is exact for the batches' problem.

    Parameters
    ----------
    p : float, default 1
        The order, ``>= 1``.

    Raises
    ------
    ValueError, TypeError
        On a bad option, and on batches refused as for :class:`WassersteinLoss`.

    Examples
    --------
    >>> import torch
    >>> from divergences.losses import ExactWassersteinLoss
    >>> fake = torch.tensor([[0.0], [1.0]], requires_grad=True)
    >>> value = ExactWassersteinLoss()(fake, torch.tensor([[3.0], [4.0]]))
    >>> value.backward()
    >>> value.item(), fake.grad.flatten().tolist()
    (3.0, [-0.5, -0.5])
    """

    def __init__(self, p: float = 1) -> None:
        super().__init__()
        self.p = check_real(p, "p", minimum=1.0)

    def forward(self, fake: torch.Tensor, real: Any) -> torch.Tensor:
        from divergences.transport import wasserstein

        fake, real = as_loss_batches(fake, real)
        return cast(torch.Tensor, wasserstein(fake, real, p=self.p))

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


class SinkhornLoss(nn.Module):
    r"""The debiased Sinkhorn divergence between the two batches.

    :func:`divergences.sinkhorn_divergence` on ``(fake, real)`` (GeomLoss's solver).

    Parameters
    ----------
    blur : float, default 0.05
        The entropic length scale, in the units of the samples.
    p : {1, 2}, default 1
        The cost :math:`\|x - y\|` or :math:`\|x - y\|^2 / 2`.
    scaling : float, default 0.5
        The ε-scaling ratio, GeomLoss's default. The function defaults to
        0.95, for a value to about a percent; a loss needs a gradient that
        points each sample toward its transport target at every step, which
        the coarser annealing gives sooner. Its limit, as GeomLoss's: on a
        handful of points with ties it may stop short. Fake samples (0, 0, 5)
        against real (0, 2, 2), p = 2: the value is 1.36 where 0.95 gives 2.17
        (W2²/2 = 2.17), and the two samples at 0, one of which must move to 2,
        get no gradient (0.95: -0.26 each). Times and errors of both settings:
        docs/benchmarks/generators.md (the Sinkhorn solver).

    Raises
    ------
    ValueError, TypeError
        On a bad option, and on batches refused as for :class:`WassersteinLoss`.

    Examples
    --------
    >>> import torch
    >>> from divergences.losses import SinkhornLoss
    >>> fake = torch.zeros(32, 1, requires_grad=True)
    >>> value = SinkhornLoss(blur=0.01)(fake, torch.full((32, 1), 2.0))
    >>> round(value.item(), 3)
    2.0
    """

    def __init__(self, blur: float = 0.05, *, p: int = 1, scaling: float = 0.5) -> None:
        from divergences.sinkhorn import check_options

        super().__init__()
        self.blur, self.p, self.scaling = check_options(blur, p, scaling)

    def forward(self, fake: torch.Tensor, real: Any) -> torch.Tensor:
        from divergences.sinkhorn import sinkhorn_divergence

        fake, real = as_loss_batches(fake, real)
        return sinkhorn_divergence(fake, real, blur=self.blur, p=self.p, scaling=self.scaling)

    def extra_repr(self) -> str:
        return f"blur={self.blur:g}, p={self.p}, scaling={self.scaling:g}"


class EnergyLoss(nn.Module):
    r"""The energy distance between the two batches (MMD with the kernel :math:`-\|x - y\|`).

    :func:`divergences.energy_distance` on ``(fake, real)``:
    :math:`2\,\mathbb E\|X - Y\| - \mathbb E\|X - X'\| - \mathbb E\|Y - Y'\|`.

    Parameters
    ----------
    unbiased : bool, default False
        The U-statistic within each batch instead of the V-statistic.

    Raises
    ------
    ValueError, TypeError
        On a bad option, and on batches refused as for :class:`WassersteinLoss`.

    Examples
    --------
    >>> import torch
    >>> from divergences.losses import EnergyLoss
    >>> fake = torch.zeros(4, 1, requires_grad=True)
    >>> EnergyLoss()(fake, torch.full((4, 1), 2.0)).item()  # 2 * 2 - 0 - 0
    4.0
    """

    def __init__(self, *, unbiased: bool = False) -> None:
        super().__init__()
        from divergences._validation import check_flag

        self.unbiased = check_flag(unbiased, "unbiased")

    def forward(self, fake: torch.Tensor, real: Any) -> torch.Tensor:
        from divergences.energy import energy_distance

        fake, real = as_loss_batches(fake, real)
        return energy_distance(fake, real, unbiased=self.unbiased)

    def extra_repr(self) -> str:
        return f"unbiased={self.unbiased}"
