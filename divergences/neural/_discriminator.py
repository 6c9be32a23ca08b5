"""``js_dual``: Jensen-Shannon from a trained GAN discriminator."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from divergences._validation import check_option
from divergences.neural._fitting import (
    Options,
    _as_tensor,
    _Source,
    batch_sources,
    check_options,
    check_warm_start,
    check_warm_starts,
    evaluate,
    fit,
    mean_and_variance,
    sources,
)
from divergences.neural._networks import Critic
from divergences.neural._objectives import JensenShannonDual
from divergences.neural._trainer import TrainingHistory

#: Generator losses: the original minimax ("saturating") and the "non-saturating" -log D.
GENERATOR_LOSSES = ("saturating", "non_saturating")
_LOG2 = math.log(2.0)


@dataclass(frozen=True)
class DiscriminatorResult:
    r"""A Jensen-Shannon estimate from a trained discriminator.

    Attributes
    ----------
    divergence : float
        :math:`\mathrm{JS}` in nats, :math:`(\mathbb E_p \log D + \mathbb E_q
        \log(1 - D) + \log 4) / 2` on held-out samples, clipped to
        :math:`[0, \log 2]` (the bound can dip below 0 for a poor discriminator).
    stderr : float
        Standard error of the unclipped estimate from the held-out per-sample values.
    interval : tuple of float
        ``divergence ± 1.96 stderr``, clipped to :math:`[0, \log 2]`.
    train_divergence : float
        The same on the training samples; a gap above ``divergence`` shows
        over-fitting.
    discriminator : Critic
        The trained network; it outputs the logit :math:`\ell`, and
        :math:`D = \sigma(\ell)` is the probability that a point came from P.
    history : TrainingHistory
        Objective and logit-gradient statistics along training.
    steps : int
        Optimiser steps taken.
    seconds : float
        Wall time of training and evaluation.
    device : str
        Where the discriminator was trained.
    """

    divergence: float
    stderr: float
    interval: tuple[float, float]
    train_divergence: float
    discriminator: Critic = field(repr=False)
    history: TrainingHistory = field(repr=False)
    steps: int
    seconds: float
    device: str

    def probability(self, samples: Any) -> torch.Tensor:
        """:math:`D(x)`, the discriminator's probability that ``x`` came from P (autograd)."""
        return torch.sigmoid(self.discriminator(self._tensor(samples, "samples")))

    def estimate(self, samples_p: Any, samples_q: Any) -> torch.Tensor:
        r""":math:`(\mathbb E_p \log D + \mathbb E_q \log(1 - D) + \log 4) / 2` on new samples.

        Unclipped and with autograd, to differentiate with respect to the
        samples (or what produced them).
        """
        logits_p = self.discriminator(self._tensor(samples_p, "samples_p"))
        logits_q = self.discriminator(self._tensor(samples_q, "samples_q"))
        bound = -functional.softplus(-logits_p).mean() - functional.softplus(logits_q).mean()
        return (bound + math.log(4.0)) / 2

    def generator_loss(self, samples: Any, kind: str = "saturating") -> torch.Tensor:
        r"""The loss a generator of ``samples`` (Q) minimises against this discriminator.

        Parameters
        ----------
        samples : (m, d) array-like or torch.Tensor
            Generated samples; differentiate the loss with respect to them (or
            the generator's parameters) with autograd.
        kind : {"saturating", "non_saturating"}
            ``"saturating"``: :math:`\mathbb E_q \log(1 - D(x))`, the minimax
            game of the original GAN, whose gradient
            :math:`-D\,\nabla\ell` vanishes once the discriminator rejects the
            samples (:math:`D \to 0`). ``"non_saturating"``:
            :math:`-\mathbb E_q \log D(x)`, the usual fix, whose gradient
            :math:`-(1 - D)\,\nabla\ell` does not.

        Returns
        -------
        torch.Tensor
            A scalar with autograd.
        """
        kind = check_option(kind, "kind", GENERATOR_LOSSES)
        logits = self.discriminator(self._tensor(samples, "samples"))
        if kind == "saturating":
            return -functional.softplus(logits).mean()
        return functional.softplus(-logits).mean()

    def _tensor(self, samples: Any, name: str) -> torch.Tensor:
        device = next(self.discriminator.parameters()).device
        x = _as_tensor(samples, name, device)
        if x.shape[1] != self.discriminator.dim:
            raise ValueError(
                f"{name} must have d = {self.discriminator.dim} columns; got {x.shape[1]}"
            )
        return x


def js_dual(
    samples_p: Any,
    samples_q: Any,
    *,
    width: int | None = None,
    depth: int = 3,
    activation: str = "leaky_relu",
    optimizer: str = "adam",
    learning_rate: float | None = None,
    batch_size: int = 256,
    steps: int = 2000,
    holdout: float = 0.2,
    evaluation_size: int = 10_000,
    discriminator: Critic | None = None,
    seed: int | None = None,
    device: Any = "auto",
    progress: bool = False,
) -> DiscriminatorResult:
    r"""Estimate :math:`\mathrm{JS}(P, Q)` with a GAN discriminator (the variational bound).

    .. math::

        2\,\mathrm{JS}(P, Q) - \log 4 = \sup_{D: \mathbb R^d \to (0, 1)}
        \mathbb E_P \log D(x) + \mathbb E_Q \log(1 - D(x))

    A multilayer perceptron outputs a logit :math:`\ell` and
    :math:`D = \sigma(\ell)` is trained to maximise the right-hand side (binary
    cross-entropy) on training samples, with the same loop as
    :func:`wasserstein_dual`; the bound is then evaluated on held-out samples.
    On disjoint supports the discriminator separates the samples, the estimate
    reaches :math:`\log 2`, and the saturating generator loss loses its
    gradient (see :meth:`DiscriminatorResult.generator_loss`).

    Parameters
    ----------
    samples_p, samples_q : (n, d) array-like, torch.Tensor, or callable
        Samples of :math:`P` and :math:`Q`, as for :func:`wasserstein_dual`.
    width, depth, activation, optimizer, learning_rate, batch_size, steps
        The network and its training, as for :func:`wasserstein_dual`
        (Adam with betas (0.5, 0.9) and a learning rate of 1e-3 on a cosine
        decay by default).
    holdout, evaluation_size, seed, device, progress
        As for :func:`wasserstein_dual`.
    discriminator : Critic, optional
        Warm start from an earlier discriminator (``result.discriminator``).

    Returns
    -------
    DiscriminatorResult
        ``divergence`` (JS in nats, in :math:`[0, \log 2]`), ``stderr``,
        ``interval``, ``train_divergence``, ``discriminator``, ``history``,
        ``steps``, ``seconds``, ``device``; ``estimate``, ``probability`` and
        ``generator_loss`` for autograd.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, different dimensions, too few samples to
        hold out, an unknown option or an out-of-range number, or
        ``device="cuda"`` without a GPU.
    TypeError
        If samples are not arrays, tensors or callables, or ``discriminator``
        is not a :class:`Critic`.
    TrainingDivergedError
        If the loss becomes NaN or infinite; the message names the step.

    Notes
    -----
    The bound is reached only by the optimal discriminator: a trained one
    under-estimates JS. Divide by :math:`\log 2` for JS in bits.

    References
    ----------
    .. [1] I. Goodfellow et al., "Generative adversarial nets", NeurIPS 2014.
    .. [2] M. Arjovsky and L. Bottou, "Towards principled methods for training
       generative adversarial networks", ICLR 2017.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(size=(2000, 1))
    >>> result = dv.js_dual(x, x + 3.0, steps=300, seed=0, device="cpu")
    >>> bool(abs(result.divergence - np.log(2)) < 0.02)
    True
    """
    start = time.perf_counter()
    options = check_options(
        width=width,
        depth=depth,
        activation=activation,
        optimizer=optimizer,
        learning_rate=learning_rate,
        batch_size=batch_size,
        steps=steps,
        holdout=holdout,
        evaluation_size=evaluation_size,
        seed=seed,
        device=device,
        progress=progress,
    )
    warm = check_warm_start(discriminator, "discriminator")
    rng = np.random.default_rng(options.seed)
    pair = sources(samples_p, samples_q, options, rng)
    (model,), (history,), generator = fit(JensenShannonDual(), [pair], options, rng, [warm], False)
    return _result(model, history, *pair, options, generator, start)


def js_dual_batch(
    samples_p: Any,
    samples_q: Any,
    *,
    width: int | None = None,
    depth: int = 3,
    activation: str = "leaky_relu",
    optimizer: str = "adam",
    learning_rate: float | None = None,
    batch_size: int = 256,
    steps: int = 2000,
    holdout: float = 0.2,
    evaluation_size: int = 10_000,
    discriminators: Sequence[Critic | None] | None = None,
    seed: int | None = None,
    device: Any = "auto",
    progress: bool = False,
) -> list[DiscriminatorResult]:
    r"""Estimate JS for K problems at once, with K discriminators trained as one stack.

    The counterpart of :func:`wasserstein_dual_batch` for :func:`js_dual`.

    Parameters
    ----------
    samples_p, samples_q : sequence of K sample sets, or (K, n, d) array-like
        As for :func:`wasserstein_dual_batch` (one side may be a single shared set).
    discriminators : sequence of K Critic or None, optional
        Warm starts, one per problem.
    width, depth, activation, optimizer, learning_rate, batch_size, steps
        As for :func:`js_dual`.
    holdout, evaluation_size, seed, device, progress
        As for :func:`js_dual`.

    Returns
    -------
    list of DiscriminatorResult
        One per problem; ``seconds`` is the time of the whole batch.

    Raises
    ------
    ValueError, TypeError
        As :func:`js_dual`, naming the problem.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> x = np.random.default_rng(0).uniform(size=(2000, 1))
    >>> results = dv.js_dual_batch(x, [x, x + 3.0], steps=300, seed=0, device="cpu")
    >>> [round(r.divergence, 2) for r in results]
    [0.0, 0.69]
    """
    start = time.perf_counter()
    options = check_options(
        width=width,
        depth=depth,
        activation=activation,
        optimizer=optimizer,
        learning_rate=learning_rate,
        batch_size=batch_size,
        steps=steps,
        holdout=holdout,
        evaluation_size=evaluation_size,
        seed=seed,
        device=device,
        progress=progress,
    )
    rng = np.random.default_rng(options.seed)
    pairs = batch_sources(samples_p, samples_q, options, rng)
    warm = check_warm_starts(discriminators, len(pairs), "discriminators")
    models, histories, generator = fit(JensenShannonDual(), pairs, options, rng, warm, True)
    return [
        _result(model, history, *pair, options, generator, start)
        for model, history, pair in zip(models, histories, pairs, strict=True)
    ]


def _result(
    model: Critic,
    history: TrainingHistory,
    source_p: _Source,
    source_q: _Source,
    options: Options,
    generator: torch.Generator,
    start: float,
) -> DiscriminatorResult:
    """Evaluate a trained discriminator's bound on the held-out samples."""

    def log_d(x: torch.Tensor) -> torch.Tensor:
        return -functional.softplus(-model(x))

    def log_one_minus_d(x: torch.Tensor) -> torch.Tensor:
        return -functional.softplus(model(x))

    mean_p, var_p = mean_and_variance(evaluate(log_d, source_p.held_out))
    mean_q, var_q = mean_and_variance(evaluate(log_one_minus_d, source_q.held_out))
    raw = (mean_p + mean_q + math.log(4.0)) / 2
    stderr = 0.5 * math.sqrt(
        var_p / source_p.held_out.shape[0] + var_q / source_q.held_out.shape[0]
    )
    size = options.evaluation_size
    fit_p, fit_q = source_p.fitted(size, generator), source_q.fitted(size, generator)
    train_p, _ = mean_and_variance(evaluate(log_d, fit_p))
    train_q, _ = mean_and_variance(evaluate(log_one_minus_d, fit_q))

    def clip(value: float) -> float:
        return min(max(value, 0.0), _LOG2)

    return DiscriminatorResult(
        divergence=clip(raw),
        stderr=stderr,
        interval=(clip(raw - 1.96 * stderr), clip(raw + 1.96 * stderr)),
        train_divergence=clip((train_p + train_q + math.log(4.0)) / 2),
        discriminator=model,
        history=history,
        steps=options.steps,
        seconds=time.perf_counter() - start,
        device=str(options.device),
    )
