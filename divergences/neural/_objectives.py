"""What a critic maximises. The trainer is generic over these objectives.

An objective gives the trainer the gradient of a loss on one batch (with the
loss and its statistics), an optional projection after each optimiser step,
and the per-sample terms whose means estimate the divergence on held-out data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from divergences.neural._networks import Critic

#: Statistics every objective logs, in this order.
STATISTICS = ("objective", "penalty", "grad_norm_mean", "grad_norm_max")


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
    """

    penalty: str
    weight: float

    def loss(
        self, critic: Critic, x_p: torch.Tensor, x_q: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_p, n_q = x_p.shape[0], x_q.shape[0]
        if self.penalty == "clip":
            outputs = critic(torch.cat([x_p, x_q]))
            value = outputs[:n_p].mean() - outputs[n_p:].mean()
            zero = value.detach() * 0
            return -value, torch.stack([value.detach(), zero, zero, zero])
        pairs = min(n_p, n_q)
        t = torch.rand(pairs, 1, generator=generator, device=x_p.device, dtype=x_p.dtype)
        interpolates = torch.lerp(x_q[:pairs], x_p[:pairs], t)
        # One forward pass over data and interpolates together; the input gradient
        # of the interpolates is part of the graph (a gradient of a gradient).
        outputs, gradients = critic.value_and_gradient(
            torch.cat([x_p, x_q, interpolates]), first_row=n_p + n_q
        )
        value = outputs[:n_p].mean() - outputs[n_p:].mean()
        norms = gradients.norm(dim=1)
        excess = norms - 1 if self.penalty == "gp" else torch.clamp(norms - 1, min=0)
        penalty = (excess * excess).mean()
        stats = torch.stack([value, penalty, norms.mean(), norms.max()]).detach()
        return -value + self.weight * penalty, stats

    def backward(
        self, critic: Critic, x_p: torch.Tensor, x_q: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Set the parameters' ``.grad`` to the gradient of :meth:`loss`; return it and its stats.

        LeakyReLU critics with a gradient penalty take the explicit backward
        pass of :meth:`Critic.accumulate_gradients` (the same gradient, with a
        third fewer operations); other critics and weight clipping use autograd.
        """
        if self.penalty == "clip" or critic.activation != "leaky_relu":
            loss, stats = self.loss(critic, x_p, x_q, generator)
            loss.backward()
            return loss.detach(), stats
        n_p, n_q = x_p.shape[0], x_q.shape[0]
        pairs = min(n_p, n_q)
        t = torch.rand(pairs, 1, generator=generator, device=x_p.device, dtype=x_p.dtype)
        interpolates = torch.lerp(x_q[:pairs], x_p[:pairs], t)
        norms = []

        def gradient_loss(gradients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            norm = gradients.norm(dim=1)
            excess = norm - 1 if self.penalty == "gp" else torch.clamp(norm - 1, min=0)
            # d/dg of weight * mean(excess^2), with autograd's 0 where the norm is 0.
            factor = torch.where(norm > 0, excess / norm, 0.0) * (2 * self.weight / pairs)
            norms.append(norm)
            return (excess * excess).mean(), factor.unsqueeze(1) * gradients

        neg_value, penalty = critic.accumulate_gradients(
            torch.cat([x_p, x_q, interpolates]),
            first_row=n_p + n_q,
            value_weights=_mean_difference_weights(n_p, n_q, x_p.dtype, x_p.device),
            gradient_loss=gradient_loss,
        )
        (norm,) = norms
        stats = torch.stack([-neg_value, penalty, norm.mean(), norm.max()])
        return neg_value + self.weight * penalty, stats

    @torch.no_grad()
    def after_step(self, critic: Critic) -> None:
        if self.penalty == "clip":
            for parameter in critic.parameters():
                parameter.clamp_(-self.weight, self.weight)

    def terms(
        self, critic: Critic, x_p: torch.Tensor, x_q: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample terms; their means add up to the estimate :math:`E_p f - E_q f`."""
        return critic(x_p), -critic(x_q)

    def divergence(self, value: float) -> float:
        return value


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
