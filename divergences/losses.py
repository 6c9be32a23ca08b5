"""Losses for training generators: ``loss(fake, real)``, a scalar to minimise.

Every loss here is a :class:`torch.nn.Module` with one calling convention:
``loss(fake, real)`` takes a batch of generated samples ``fake`` (N, d), with
autograd to the generator's parameters, and a batch of data ``real`` (M, d),
and returns a 0-dim tensor whose gradient moves ``fake`` toward ``real``, on
the device of ``fake``:

* :class:`WassersteinLoss`: a WGAN-GP critic kept between calls, updated for
  ``critic_steps`` steps on each call, then its estimate of W1;
* :class:`GANLoss`: a GAN discriminator kept between calls, in the saturating
  or non-saturating form (the generator's losses of
  :data:`~divergences.neural.GENERATOR_LOSSES`);
* :class:`ExactWassersteinLoss`: the exact W_p between the two batches (the LP);
* :class:`SinkhornLoss`: the debiased Sinkhorn divergence;
* :class:`EnergyLoss`: the energy distance.

**The batches.** ``fake`` must be a floating torch tensor; ``real`` may be a
tensor, a numpy array or a nested list of real numbers, and is used on
``fake``'s device in ``fake``'s dtype. Both go through the checks of every
function in the package, whose errors name ``fake`` or ``real``: meta tensors
(which hold no values), booleans, complex numbers, text, NaN and inf, a shape
other than a non-empty (N, d), two values of ``d`` and tensors on two devices
are refused.

**Gradients.** A loss is a function of ``fake``: ``real`` is data, and every
loss here detaches it, so ``real.grad`` stays None after ``backward()`` even
where ``real`` requires grad. This is what a GAN's training loop expects (the
generator's step must not reach the data, or whatever produced them), and what
the adversarial losses must do, since their networks train on both batches.

The networks of the first two are trained by the library's one loop,
:func:`divergences.neural.train`, on its objectives
(:class:`~divergences.neural.KantorovichDual`,
:class:`~divergences.neural.JensenShannonDual`), with an optimiser that
persists from call to call.

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
#: itself, the table :meth:`~divergences.neural.DiscriminatorResult.generator_loss` reads,
#: so that a name means the same loss in both.
GAN_KINDS = GENERATOR_LOSSES


class _Standardise(torch.autograd.Function):
    """``(x - center) / spread`` in ``dtype``, whose backward pass leaves out the
    ``1 / spread``: paired with :class:`_TimesSpread`, which leaves out ``spread``.

    A critic's value is ``spread * g((x - center) / spread)``, so its gradient in ``x``
    is ``grad g``, free of the data's scale; but the chain rule would carry
    ``spread / N`` through the network's float32 backward pass and then divide by
    ``spread``, which underflows to 0 for data at 1e-200 and overflows to NaN at
    1e200. The two factors cancel exactly; these two functions drop both.
    """

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
    """``value * spread`` in ``dtype``, whose backward pass leaves out ``spread`` (see
    :class:`_Standardise`)."""

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
    """Within the block the network takes standardised inputs and gives its raw output
    (centre 0, spread 1, scale 1); its own centre, spread and scale come back after.
    The buffers are swapped, not overwritten: the batches standardised before the block
    keep their autograd graph through the originals."""
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


class _AdversarialLoss(nn.Module):
    """What the critic and discriminator losses share: a network built on the first
    call (or from ``dim``), trained on each call by :func:`~divergences.neural.train`
    with an optimiser that persists, and the statistics of every call; over the ranks of
    ``group`` where one is given, else in this process alone."""

    network: Critic | None
    #: Whether the network's output carries the data's units (a critic's W1) or none
    #: (a discriminator's logit).
    _output_in_units = True

    def __init__(
        self,
        objective: Any,
        *,
        steps: int,
        steps_name: str,
        dim: int | None,
        width: int,
        depth: int,
        activation: str,
        learning_rate: float,
        seed: int | None,
        group: Any,
    ) -> None:
        super().__init__()
        self.objective = objective
        self._group = Group.of(group)
        self.steps = check_count(steps, steps_name)
        self.width = check_count(width, "width")
        self.depth = check_count(depth, "depth")
        self.activation = check_option(activation, "activation", ACTIVATIONS)
        self.learning_rate = check_real(learning_rate, "learning_rate", minimum=0.0)
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive; got {learning_rate}")
        self.seed = check_seed(seed)
        self.network = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._generator: torch.Generator | None = None
        self._statistics: list[torch.Tensor] = []
        self._calls = 0
        if dim is not None:
            self._build(check_count(dim, "dim"), torch.device("cpu"))

    def _build(self, dim: int, device: torch.device) -> None:
        # a generator of the network's own (torch's global one is neither read nor moved):
        # the seed's, or one from the operating system's entropy
        seed = self.seed
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 2)
        initial = torch.Generator().manual_seed(seed)
        network = seeded_critic(dim, self.width, self.depth, self.activation, initial)
        self.network = network.to(device)
        self._standardised = False

    def _prepare(self, fake: torch.Tensor, real: torch.Tensor) -> Critic:
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
            # The data's centre and scale, once, fixed from then on: the network trains
            # and is evaluated in the standardised coordinates (x - center) / spread, so
            # the problem and its optimiser steps are the same at any scale of the data.
            network.standardise_inputs(real.detach())
            if not self._output_in_units:
                # a logit has no units: network(x) = spread * scale * mlp is the logit
                network.scale.fill_(1.0).div_(network.spread)
            # across ranks, every rank starts from the first rank's network and
            # coordinates (its first batch's), as DistributedDataParallel starts its
            # replicas: the averaged gradients then keep them equal
            self._group.same_tensors([*network.parameters(), *network.buffers()])
            self._standardised = True
        if self._optimizer is None:
            options = TrainingOptions(learning_rate=self.learning_rate)
            self._optimizer = options.make_optimizer(list(network.parameters()))
            seed = self.seed
            if seed is None:
                seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 2)
            self._generator = torch.Generator(device=device).manual_seed(seed)
        return network

    def _fit_and_evaluate(self, fake: Any, real: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Check the batches, train the network on them, then evaluate it on both (with
        autograd to ``fake``), on the trainer's CPU threads (one for a small network,
        see :func:`~divergences.neural._trainer.cpu_threads`), the caller's setting
        restored at the end."""
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
        """``steps`` optimiser steps of the network on the detached (standardised)
        batches (P = real)."""
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
        """The network on both (standardised) batches with autograd to ``fake`` only
        (its own parameters get no gradient from the generator's loss)."""
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
        """The network's training statistics, one row per call (the mean over its steps).

        ``step`` counts the network's optimiser steps at the end of each call. The
        statistics are those of the standardised coordinates the network trains in
        (the data divided by the network's ``spread``): a critic's objective times
        ``spread`` is in the data's units, gradient norms are the same in both.
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
    r"""W1 between the generator's and the data's distributions, by a WGAN-GP critic.

    The loss holds a :class:`~divergences.neural.Critic` :math:`f` and, on each
    call, first trains it for ``critic_steps`` steps on the detached batches
    to maximise the penalised Kantorovich-Rubinstein objective
    :math:`\mathbb E_{\rm real} f - \mathbb E_{\rm fake} f - \lambda\,\Omega(f)`
    (:class:`~divergences.neural.KantorovichDual`, with the one-sided penalty
    :math:`\Omega = \mathbb E \max(0, \|\nabla f\| - 1)^2` by default, by
    :func:`~divergences.neural.train`, Adam with betas (0.5, 0.9) whose moments
    persist between calls), then returns

    .. math::

        \widehat W_1 = \frac1M \sum_j f(y_j) - \frac1N \sum_i f(x_i)

    with autograd to the generated samples :math:`x_i`: their gradient is
    :math:`-\nabla f(x_i) / N`, which moves them up the critic, toward the
    data; ``real`` is detached, as in every loss here, and gets no gradient.
    This is the generator's loss of Gulrajani et al. (2017) with their five
    critic steps per generator step, except that each call's critic steps
    reuse the call's batches (with fresh interpolates for the penalty), and
    the default penalty is one-sided (Petzka et al. 2018).

    Parameters
    ----------
    critic_steps : int, default 5
        Critic updates per call.
    penalty : {"lp", "gp", "clip"}, default "lp"
        The Lipschitz constraint (see :class:`~divergences.neural.KantorovichDual`).
        The default is the one-sided penalty: the two-sided ``"gp"`` also
        pushes slopes below 1 up, which makes the critic's slope a barrier to
        cross when the generated distribution overtakes the data (see Notes).
        :func:`~divergences.neural.wasserstein_dual` defaults to ``"gp"``
        instead: a measurement trains its critic once, between two
        distributions that do not move, where no slope has to turn around;
        a loss's critic follows a moving generator at every call. On the
        generators benchmark page (how the settings were chosen) the two-sided
        penalty left a generator of the grid far from the data.
    penalty_weight : float, optional
        Its weight (10 for the penalties), or the clipping bound (0.01).
    dim : int, optional
        The samples' dimension, to build the critic now (on the CPU; move the
        loss with ``.to(device)``); by default it is built on the first call,
        on ``fake``'s device.
    width, depth : int, default 128 and 3
        The critic's hidden units per layer and hidden layers.
    activation : {"leaky_relu", "silu", "elu", "tanh"}, default "leaky_relu"
        Its hidden activation (LeakyReLU takes the faster explicit backward pass).
    learning_rate : float, default 1e-3
        The critic's Adam step size (constant). Gulrajani et al. (2017) used
        1e-4 over 10^5 generator steps; 1e-3 reaches the same quality in a few
        thousand on the benchmark's targets.
    seed : int, optional
        Seeds the critic's initial weights and the interpolates (by generators of
        the loss's own: torch's global generator is neither read nor moved, so
        ``torch.manual_seed`` does not seed an unseeded loss). None (the
        default): fresh entropy from the operating system, so two unseeded
        losses start from different critics.
    group : torch.distributed.ProcessGroup, optional
        Train the critic collectively over this group's ranks (as under
        DistributedDataParallel, ``torch.distributed.group.WORLD`` for every
        process): at the first call every rank takes the first rank's critic and
        standardisation, and each critic step averages the gradients over the
        ranks, each rank on its own batches. None (the default): this process's
        critic alone; nothing communicates, even inside an initialised process
        group.

    Attributes
    ----------
    critic : Critic or None
        The critic (None before the first call unless ``dim`` was given).
    history : TrainingHistory
        The critic's statistics, one row per call.

    Raises
    ------
    ValueError, TypeError
        On a bad option (named; ``group`` not a process group this process belongs
        to), and at a call, naming ``fake`` or ``real``,
        on batches that are not non-empty (N, d) arrays of real numbers of
        the same ``d`` (``fake`` a floating tensor), hold NaN or inf, are
        meta tensors, or live on two devices or on another device than the
        critic.

    Notes
    -----
    **Units.** At its first call the loss takes the centre and spread of
    ``real`` (see :class:`~divergences.neural.Critic`), and from then on the
    critic trains on the batches in those standardised coordinates, as
    :func:`~divergences.neural.wasserstein_dual`'s does: its steps, the
    balance of the penalty against the objective and the gradient returned to
    ``fake`` are the same at any scale of the data, and the value is in the
    data's units (data at 1e-200 or 1e200 train exactly as data at 1, in
    float64). ``loss.critic(x)`` takes and returns the data's units. The
    ``history`` is in the standardised coordinates.

    **Why the one-sided penalty.** A critic that follows a moving generator
    must turn its slope around wherever the generated samples overtake the
    data. With the two-sided penalty :math:`\lambda(\|\nabla f\| - 1)^2`,
    turning the slope of a near-linear critic means passing through slope 0,
    where the penalty is :math:`\lambda`: in one dimension the critic stays at
    slope about :math:`+0.9` against an objective that asks for :math:`-1`
    (measured: a batch at 4 against data at 2 kept a critic objective of -1.8
    for 150 critic steps, and a shifted generator overshot the data by 2.4 and
    kept going), while the one-sided penalty turns within a few calls and the
    same generator settles at the data. In higher dimension the gradient can
    rotate instead, and both penalties train (``penalty="gp"`` is the recipe
    of Gulrajani et al.).

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
            steps=critic_steps,
            steps_name="critic_steps",
            dim=dim,
            width=width,
            depth=depth,
            activation=activation,
            learning_rate=learning_rate,
            seed=seed,
            group=group,
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
    r"""The GAN generator's loss, with a discriminator kept between calls.

    The loss holds a network with logit :math:`\ell` and
    :math:`D = \sigma(\ell)` and, on each call, first trains it for
    ``discriminator_steps`` steps on the detached batches to maximise
    :math:`\mathbb E_{\rm real} \log D + \mathbb E_{\rm fake} \log(1 - D)`
    (:class:`~divergences.neural.JensenShannonDual`), whose maximum is
    :math:`2\,\mathrm{JS} - \log 4`. It then returns the generator's loss
    ``kind``, a function of ``fake`` alone, with autograd to it (``real`` is
    detached, as in every loss here):

    * ``"saturating"``: :math:`\mathbb E_{\rm fake} \log(1 - D)`, the
      generator's side of the minimax game; its gradient in ``fake`` vanishes
      where the discriminator is confident, which is the failure the WGAN
      papers describe;
    * ``"non_saturating"``: :math:`-\mathbb E_{\rm fake} \log D`, the heuristic
      whose gradient stays large where the discriminator rejects the fakes.

    These are the losses of
    :meth:`divergences.neural.DiscriminatorResult.generator_loss`,
    from the same table (:data:`~divergences.neural.GENERATOR_LOSSES`), and give
    the same value for the same discriminator and batch. The game's value
    :math:`\mathbb E_{\rm real} \log D + \mathbb E_{\rm fake} \log(1 - D)`
    is what the discriminator maximises (``history.objective`` records it along
    training); its term in ``real`` is a constant for the generator, so the
    saturating loss has the game's gradient in ``fake``.

    Parameters
    ----------
    kind : {"saturating", "non_saturating"}, default "non_saturating"
        The generator's loss. The default is the non-saturating one, where
        ``DiscriminatorResult.generator_loss`` defaults to the saturating one:
        this loss trains generators, and a generator the discriminator rejects
        (on disjoint supports, say) gets no gradient from the saturating loss
        (the gradients benchmark page shows it stalling), while a result's
        generator loss illustrates the minimax game itself. Where the supports
        keep overlapping, as on the generators benchmark page, both train.
    discriminator_steps : int, default 1
        Discriminator updates per call.
    dim, width, depth, activation, seed, group
        As for :class:`WassersteinLoss` (``seed``: None, the default, draws fresh
        entropy; ``group``: a discriminator trained over its ranks; None, the
        default, never communicates).
    learning_rate : float, default 1e-3
        The discriminator's Adam step size (constant).

    Attributes
    ----------
    discriminator : Critic or None
        The discriminator: it takes the data's units and returns the logit
        (it trains in the standardised coordinates of the first ``real``
        batch, as the critic of :class:`WassersteinLoss` does, so the loss
        is the same at any scale of the data).
    history : TrainingHistory
        Its statistics, one row per call (``objective`` is the bound above).

    Raises
    ------
    ValueError, TypeError
        As for :class:`WassersteinLoss`; an unknown ``kind`` lists the valid ones.

    Notes
    -----
    Earlier versions returned the game's value as the saturating loss, the
    term :math:`\mathbb E_{\rm real} \log D` added to the value above; that
    term gets no gradient from ``fake``, so the gradient, and every generator
    trained with it, are unchanged.

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
            steps=discriminator_steps,
            steps_name="discriminator_steps",
            dim=dim,
            width=width,
            depth=depth,
            activation=activation,
            learning_rate=learning_rate,
            seed=seed,
            group=group,
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

    :func:`divergences.wasserstein` on ``(fake, real)``: POT's network simplex
    solves the transport between the batches exactly and the gradient in
    ``fake`` is that of the optimal plan's cost with the plan held fixed (the
    envelope theorem), so each generated sample is pulled toward the data
    points it is matched with; ``real`` is detached, as in every loss here,
    and gets no gradient. The minibatch distance is biased upward
    (it does not vanish at P = Q for finite batches) but its gradient is
    the exact one of the batches' problem.

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

    :func:`divergences.sinkhorn_divergence` on ``(fake, real)`` (GeomLoss's
    solver), with autograd to ``fake`` only: ``real`` is detached, as in every
    loss here.

    Parameters
    ----------
    blur : float, default 0.05
        The entropic length scale, in the units of the samples.
    p : {1, 2}, default 1
        The cost :math:`\|x - y\|` or :math:`\|x - y\|^2 / 2`.
    scaling : float, default 0.5
        The ε-scaling ratio (see :func:`divergences.sinkhorn_divergence`),
        GeomLoss's own default, where the function defaults to 0.95: a loss
        is evaluated and differentiated at every training step, so it takes
        the faster, coarser annealing, whose value is low at small blurs but
        whose gradient, which is what training uses, still points from each
        sample toward its transport target; the function is a measurement and
        takes the value to about a percent. The generators benchmark page (the
        Sinkhorn solver) gives the time and error of each setting.

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

    :func:`divergences.energy_distance` on ``(fake, real)``, with autograd to
    ``fake`` only (``real`` is detached, as in every loss here):
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
