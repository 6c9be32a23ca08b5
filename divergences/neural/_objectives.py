"""What a network maximises: the objectives :func:`~divergences.neural.train` runs.

An objective gives the trainer the gradient of a loss on one batch (with the
loss and its statistics), a projection after each optimiser step, and the
optimiser it is meant to be trained with (see
:class:`~divergences.neural.Objective`).

Every objective works on one network, with (N, d) batches, or on a
:class:`~divergences.neural.CriticStack` of K, with (K, N, d) batches:
means are taken over the rows (axis -2 of the samples), the statistics have a
leading axis of K, and the loss is the sum of the K losses (the networks'
parameters are separate, so each gets the gradient of its own loss).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import cast

import torch
from torch.nn import functional

from divergences._validation import check_option, check_real
from divergences.neural._networks import _Perceptron

#: The Lipschitz constraints of the Kantorovich dual, with their default weights.
PENALTIES = {"gp": 10.0, "lp": 10.0, "clip": 0.01}


def log_d(logits: torch.Tensor) -> torch.Tensor:
    """:math:`\\log D = \\log \\sigma(\\ell)`, finite for any logit."""
    return -functional.softplus(-logits)


def log_one_minus_d(logits: torch.Tensor) -> torch.Tensor:
    """:math:`\\log(1 - D) = \\log \\sigma(-\\ell)`, finite for any logit."""
    return -functional.softplus(logits)


def _interpolates(
    x_p: torch.Tensor, x_q: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Random points on the segments between paired samples, t ~ U[0, 1]."""
    pairs = min(x_p.shape[-2], x_q.shape[-2])
    shape = (*x_p.shape[:-2], pairs, 1)
    t = torch.rand(shape, generator=generator, device=x_p.device, dtype=x_p.dtype)
    return torch.lerp(x_q[..., :pairs, :], x_p[..., :pairs, :], t)


def _statistics(
    objective: torch.Tensor, penalty: torch.Tensor, norms: torch.Tensor
) -> torch.Tensor:
    return torch.stack(
        [objective, penalty, norms.mean(dim=-1), norms.max(dim=-1).values], dim=-1
    ).detach()


@dataclass(frozen=True)
class KantorovichDual:
    r"""The Kantorovich-Rubinstein dual of :math:`W_1` with a Lipschitz penalty.

    Maximises :math:`\mathbb E_p f - \mathbb E_q f - \lambda\,\Omega(f)` with

    * ``"gp"``: :math:`\Omega = \mathbb E_{\hat x} (\|\nabla f(\hat x)\| - 1)^2`
      on random interpolates :math:`\hat x = t x_p + (1 - t) x_q`, :math:`t \sim U[0, 1]`
      (Gulrajani et al. 2017);
    * ``"lp"``: the one-sided
      :math:`\Omega = \mathbb E_{\hat x} \max(0, \|\nabla f(\hat x)\| - 1)^2`
      (Petzka et al. 2018);
    * ``"clip"``: no penalty; every weight is clipped to :math:`[-c, c]` after each
      step (Arjovsky et al. 2017), with ``weight`` as :math:`c`.

    Parameters
    ----------
    penalty : {"gp", "lp", "clip"} or None, default "gp"
        The Lipschitz constraint; None means ``"lp"`` on one-dimensional samples
        and ``"gp"`` on others (what :func:`~divergences.wasserstein_dual` uses):
        in d = 1 the optimal critic's slope is :math:`\pm 1` and changes sign
        wherever the two CDFs cross, and a two-sided penalty charges every
        passage through slope 0 in full, so a critic that starts with the wrong
        slope somewhere keeps it; from d = 2 the gradient can turn round at
        norm 1.
    weight : float, optional
        :math:`\lambda` (default 10) for ``"gp"`` and ``"lp"``, the clipping
        bound :math:`c` (default 0.01) for ``"clip"``.
    """

    penalty: str | None = "gp"
    weight: float | None = None
    #: Adam for the penalties; RMSProp for clipping, as the WGAN authors recommend.
    optimizer: str = field(init=False)

    def __post_init__(self) -> None:
        penalty = self.penalty
        if penalty is not None:
            penalty = check_option(penalty, "penalty", PENALTIES)
        weight = PENALTIES[penalty or "gp"] if self.weight is None else self.weight
        object.__setattr__(self, "penalty", penalty)
        object.__setattr__(self, "weight", check_real(weight, "penalty_weight", minimum=0.0))
        object.__setattr__(self, "optimizer", "rmsprop" if penalty == "clip" else "adam")

    @property
    def strength(self) -> float:
        """The resolved ``weight``: :math:`\\lambda`, or the clipping bound."""
        return cast(float, self.weight)

    def _excess(self, norms: torch.Tensor, dim: int) -> torch.Tensor:
        """How far each gradient norm is from what the penalty asks (0 where it holds)."""
        two_sided = self.penalty == "gp" or (self.penalty is None and dim > 1)
        return norms - 1 if two_sided else torch.clamp(norms - 1, min=0)

    def loss(
        self,
        critic: _Perceptron,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss to minimise (summed over a stack) and its statistics, by autograd."""
        n_p = x_p.shape[-2]
        if self.penalty == "clip":
            outputs = critic(torch.cat([x_p, x_q], dim=-2))
            value = outputs[..., :n_p].mean(dim=-1) - outputs[..., n_p:].mean(dim=-1)
            zero = torch.zeros_like(value)
            stats = torch.stack([value, zero, zero, zero], dim=-1).detach()
            return -value.sum(), stats
        interpolates = _interpolates(x_p, x_q, generator)
        # One forward pass over data and interpolates together; the input gradient
        # of the interpolates is part of the graph (a gradient of a gradient).
        outputs, gradients = critic.value_and_gradient(
            torch.cat([x_p, x_q, interpolates], dim=-2), first_row=n_p + x_q.shape[-2]
        )
        value = outputs[..., :n_p].mean(dim=-1) - outputs[..., n_p:].mean(dim=-1)
        norms = gradients.norm(dim=-1)
        excess = self._excess(norms, x_p.shape[-1])
        penalty = (excess * excess).mean(dim=-1)
        return (-value + self.strength * penalty).sum(), _statistics(value, penalty, norms)

    def backward(
        self,
        critic: _Perceptron,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Set the parameters' ``.grad`` to the gradient of :meth:`loss`; return it and its stats.

        LeakyReLU critics with a gradient penalty take the explicit backward
        pass of ``accumulate_gradients`` (the same gradient, with a third fewer
        operations); other critics and weight clipping use autograd.
        """
        if self.penalty == "clip" or critic.activation != "leaky_relu":
            loss, stats = self.loss(critic, x_p, x_q, generator)
            loss.backward()
            return loss.detach(), stats
        weight = self.strength
        n_p, n_q = x_p.shape[-2], x_q.shape[-2]
        interpolates = _interpolates(x_p, x_q, generator)
        pairs = interpolates.shape[-2]
        norms = []

        def gradient_loss(gradients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            norm = gradients.norm(dim=-1)
            excess = self._excess(norm, x_p.shape[-1])
            # d/dg of weight * mean(excess^2), with autograd's 0 where the norm is 0.
            factor = torch.where(norm > 0, excess / norm, 0.0) * (2 * weight / pairs)
            norms.append(norm)
            return (excess * excess).mean(dim=-1), factor.unsqueeze(-1) * gradients

        neg_value, penalty = critic.accumulate_gradients(
            torch.cat([x_p, x_q, interpolates], dim=-2),
            first_row=n_p + n_q,
            value_weights=_mean_difference_weights(n_p, n_q, x_p.dtype, x_p.device),
            gradient_loss=gradient_loss,
        )
        (norm,) = norms
        loss = (neg_value + weight * penalty).sum()
        return loss, _statistics(-neg_value, penalty, norm)

    @torch.no_grad()
    def score(
        self,
        critic: _Perceptron,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        interpolates: torch.Tensor,
    ) -> torch.Tensor:
        """The objective on held-out samples and fixed interpolates (higher is better).

        :math:`\\mathbb E_p f - \\mathbb E_q f - \\lambda\\,\\Omega(f)`, the
        validation counterpart of the training loss, one value per network.
        """
        n_p = x_p.shape[-2]
        rows = torch.cat([x_p, x_q, interpolates], dim=-2)
        outputs, gradients = critic.value_and_gradient(rows, first_row=n_p + x_q.shape[-2])
        value = outputs[..., :n_p].mean(dim=-1) - outputs[..., n_p:].mean(dim=-1)
        if self.penalty == "clip":
            return value
        norms = gradients.norm(dim=-1)
        excess = self._excess(norms, x_p.shape[-1])
        return value - self.strength * (excess * excess).mean(dim=-1)

    @torch.no_grad()
    def after_step(self, critic: _Perceptron) -> None:
        if self.penalty == "clip":
            bound = self.strength
            for parameter in critic.parameters():
                parameter.clamp_(-bound, bound)


@dataclass(frozen=True)
class JensenShannonDual:
    r"""The GAN discriminator's objective, a variational bound on Jensen-Shannon.

    The network outputs a logit :math:`\ell`, and :math:`D = \sigma(\ell)`
    maximises :math:`\mathbb E_p \log D + \mathbb E_q \log(1 - D)`, whose
    supremum is :math:`2\,\mathrm{JS}(P, Q) - \log 4` (Goodfellow et al. 2014).
    The logs are computed from the logit (``log D = -softplus(-l)``), so they
    stay finite however confident the discriminator becomes.

    The statistics log the mean and largest norm of the logit's input
    gradient on interpolates, which show the discriminator saturating.
    """

    optimizer = "adam"
    #: JS does not change under an invertible map of each coordinate: the driver trains it
    #: with every coordinate standardised on its own.
    invariant = True

    def loss(
        self,
        critic: _Perceptron,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Binary cross-entropy (summed over a stack) and its statistics, by autograd."""
        n_p = x_p.shape[-2]
        logits = critic(torch.cat([x_p, x_q], dim=-2))
        value = log_d(logits[..., :n_p]).mean(dim=-1) + log_one_minus_d(logits[..., n_p:]).mean(
            dim=-1
        )
        with torch.no_grad():
            interpolates = _interpolates(x_p, x_q, generator)
            _, gradients = critic.value_and_gradient(interpolates, first_row=0)
            norms = gradients.norm(dim=-1)
        return -value.sum(), _statistics(value, torch.zeros_like(value), norms)

    def backward(
        self,
        critic: _Perceptron,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Set the parameters' ``.grad`` by autograd; return the loss and its statistics."""
        loss, stats = self.loss(critic, x_p, x_q, generator)
        loss.backward()
        return loss.detach(), stats

    def after_step(self, critic: _Perceptron) -> None:
        return None

    @torch.no_grad()
    def score(
        self,
        critic: _Perceptron,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        interpolates: torch.Tensor,
    ) -> torch.Tensor:
        """The bound :math:`\\mathbb E_p \\log D + \\mathbb E_q \\log(1 - D)` on held-out
        samples (higher is better), one value per network."""
        return log_d(critic(x_p)).mean(dim=-1) + log_one_minus_d(critic(x_q)).mean(dim=-1)


@functools.lru_cache(maxsize=8)
def _mean_difference_weights(
    n_p: int, n_q: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Weights ``c`` with ``sum(c * f) = mean f(x_q) - mean f(x_p)``, the loss's value term."""
    return torch.cat(
        [
            torch.full((n_p,), -1 / n_p, dtype=dtype, device=device),
            torch.full((n_q,), 1 / n_q, dtype=dtype, device=device),
        ]
    )
