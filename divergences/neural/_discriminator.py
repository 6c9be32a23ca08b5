"""``js_dual``: Jensen-Shannon from a trained GAN discriminator."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from divergences._validation import check_option, renamed
from divergences.neural._bounded_mean import difference_lower
from divergences.neural._certified import CONFIDENT_ROWS, ROUNDING, student_quantile
from divergences.neural._distributed import Group
from divergences.neural._fitting import Fitted, as_float64, evaluate, fit, fold_axes, moments
from divergences.neural._networks import Critic
from divergences.neural._objectives import JensenShannonDual, log_d, log_one_minus_d
from divergences.neural._results import NeuralResult
from divergences.neural.options import TrainingOptions

#: A GAN generator's losses, by name: each a function of the generated samples alone, the
#: one table of :meth:`DiscriminatorResult.generator_loss` and
#: :class:`~divergences.losses.GANLoss`.
GENERATOR_LOSSES = {
    "saturating": "minimise E log(1 - D(fake)), the minimax game of Goodfellow et al. (2014)",
    "non_saturating": "minimise -E log D(fake), the heuristic of the same paper",
}
_LOG2 = math.log(2.0)
_LOG4 = math.log(4.0)


def generator_loss(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """The generator's loss ``kind`` (checked by the caller) from the logits on its samples."""
    if kind == "saturating":
        return log_one_minus_d(logits).mean()
    return -log_d(logits).mean()


@dataclass(frozen=True, repr=False)
class DiscriminatorResult(NeuralResult):
    r"""A Jensen-Shannon estimate from a trained discriminator.

    The attributes from ``history`` on are those of every
    :class:`~divergences.neural.NeuralResult` (keyword-only in the constructor).

    Attributes
    ----------
    divergence : float
        JS in nats, :math:`(\mathbb E_p \log D + \mathbb E_q \log(1 - D) + \log 4) / 2`
        on held-out samples, clipped to :math:`[0, \log 2]`.
    stderr : float
        Standard error of the unclipped estimate.
    lower_bound : float
        A one-sided 97.5% lower confidence bound of JS that holds for any two
        distributions and any sample size: the variational bound of the
        discriminator with its logit clipped to :math:`[-L, L]` (a discriminator
        too, so its bound is at most JS), on the held-out samples no training
        and no choice saw, less a margin that holds for every law of values in
        a range of :math:`L` (a test by betting, Waudby-Smith and Ramdas 2024;
        the clip is the one that certifies most on the validation split). A
        normal quantile on the held-out mean does not hold where the
        discriminator nearly separates a small test split: a few points of one
        side deep in the other's region give rare, very negative
        :math:`\log D`, and N(0, 1) against N(4, 1) (JS 0.633), 1000 samples
        a side, put that bound above JS in 10 of 80 runs; this one in 0 of 80,
        at a median of 0.535 against the quantile's 0.602 (0.603 and 0.616
        with 5000 a side). The price of holding is about
        :math:`L \log 40 / (0.9 n)` on :math:`n` test samples a side: no
        bound from :math:`n` samples can rule out a mass of
        :math:`\log 40 / n` at the clip. 0 on a handful of test samples.
    interval : tuple of float
        From ``lower_bound`` to the largest of ``divergence``,
        ``train_divergence`` and the bound of the logit recalibrated on the
        test split (:math:`\sigma(a \ell + c)`, :math:`a, c` fitted there), plus
        :math:`t` ``stderr``, within :math:`[0, \log 2]`; all of it where a
        side has fewer than 10 test samples. The upper end is no bound (none
        holds from samples short of :math:`\log 2`): it reaches the training
        value where the discriminator over-fitted, and :math:`\log 2` where
        it separates the test samples, which cannot rule out disjoint supports.
    train_divergence : float
        The same on the training samples.
    discriminator : Critic
        The trained network, outputting the logit :math:`\ell`;
        :math:`D = \sigma(\ell)` is the probability that a point came from P.
    history : TrainingHistory
        Objective and logit-gradient statistics along training.
    held_out_index : tuple of (numpy.ndarray or None)
        The rows of ``x`` and ``y`` held out of training (None for a callable).
    options : TrainingOptions
        The options the network was trained with.
    steps : int
        Optimiser steps taken.
    seconds : float
        Wall time of training and evaluation.
    device : str
        Where the discriminator was trained.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> import divergences as dv
    >>> x = np.random.default_rng(0).uniform(size=(1000, 1))
    >>> result = dv.js_dual(x, x + 3.0, steps=100, seed=0, device="cpu")
    >>> bool(result.lower_bound <= result.divergence <= np.log(2))
    True
    >>> y = torch.tensor(x + 3.0, requires_grad=True)
    >>> result.generator_loss(y, "non_saturating").backward()
    >>> y.grad.shape
    torch.Size([1000, 1])
    """

    divergence: float
    stderr: float
    lower_bound: float
    interval: tuple[float, float]
    train_divergence: float
    discriminator: Critic = field(repr=False)

    def probability(self, samples: Any) -> torch.Tensor:
        """:math:`D(x)`, the probability that each sample came from P, with autograd.

        Parameters
        ----------
        samples : (m, d) array-like or torch.Tensor
            Points at which to evaluate the discriminator.

        Returns
        -------
        torch.Tensor
            Shape (m,), on the discriminator's device.
        """
        return torch.sigmoid(self.discriminator(self._tensor(samples, "samples")))

    @renamed(samples_p="x", samples_q="y")
    def estimate(self, x: Any, y: Any) -> torch.Tensor:
        r""":math:`(\mathbb E_p \log D + \mathbb E_q \log(1 - D) + \log 4) / 2` on new samples.

        Unclipped and with autograd to the samples (or what produced them).

        Parameters
        ----------
        x, y : (n, d) and (m, d) array-like or torch.Tensor
            Samples of P and Q.

        Returns
        -------
        torch.Tensor
            A scalar on the discriminator's device.
        """
        logits_p = self.discriminator(self._tensor(x, "x"))
        logits_q = self.discriminator(self._tensor(y, "y"))
        return (log_d(logits_p).mean() + log_one_minus_d(logits_q).mean() + _LOG4) / 2

    def generator_loss(self, samples: Any, kind: str = "saturating") -> torch.Tensor:
        r"""The loss a generator of ``samples`` (Q) minimises against this discriminator.

        Parameters
        ----------
        samples : (m, d) array-like or torch.Tensor
            Generated samples; differentiate the loss with respect to them (or
            the generator's parameters).
        kind : {"saturating", "non_saturating"}, default "saturating"
            A name of :data:`~divergences.neural.GENERATOR_LOSSES`, as in
            :class:`~divergences.losses.GANLoss`. ``"saturating"``:
            :math:`\mathbb E_q \log(1 - D(x))`, the minimax game, whose gradient
            :math:`-D\,\nabla\ell` vanishes once the discriminator rejects the
            samples; ``"non_saturating"``: :math:`-\mathbb E_q \log D(x)`, whose
            gradient :math:`-(1 - D)\,\nabla\ell` does not. ``GANLoss`` defaults
            to ``"non_saturating"`` because it trains generators; a result is a
            measurement and shows the game that JS is the value of.

        Returns
        -------
        torch.Tensor
            A scalar with autograd.

        Raises
        ------
        ValueError
            On an unknown ``kind`` (the message lists the valid ones).
        """
        kind = check_option(kind, "kind", GENERATOR_LOSSES)
        return generator_loss(self.discriminator(self._tensor(samples, "samples")), kind)

    def _tensor(self, samples: Any, name: str) -> torch.Tensor:
        """``samples`` checked, as float64 on the discriminator's device."""
        device = next(self.discriminator.parameters()).device
        x = as_float64(samples, name, device)
        if x.shape[1] != self.discriminator.dim:
            raise ValueError(
                f"{name} must have d = {self.discriminator.dim} columns; got {x.shape[1]}"
            )
        return x


@renamed(samples_p="x", samples_q="y")
def js_dual(
    x: Any,
    y: Any,
    *,
    warm_start: Critic | None = None,
    options: TrainingOptions | None = None,
    group: Any = None,
    **overrides: Any,
) -> DiscriminatorResult:
    r"""Estimate :math:`\mathrm{JS}(P, Q)` with a GAN discriminator (the variational bound).

    .. math::

        2\,\mathrm{JS}(P, Q) - \log 4 = \sup_{D: \mathbb R^d \to (0, 1)}
        \mathbb E_P \log D(x) + \mathbb E_Q \log(1 - D(x))

    A multilayer perceptron with logit :math:`\ell` and :math:`D = \sigma(\ell)`
    is trained to maximise the right-hand side (binary cross-entropy) on
    training samples, by the driver and loop of :func:`wasserstein_dual`; the
    bound is then evaluated on held-out samples. On disjoint supports the
    estimate reaches :math:`\log 2` and the saturating generator loss loses its
    gradient (:meth:`DiscriminatorResult.generator_loss`).

    Parameters
    ----------
    x, y : (n, d) array-like, torch.Tensor, or callable
        Samples of :math:`P` and :math:`Q`, as for :func:`wasserstein_dual`
        (``samples_p`` and ``samples_q`` work as there).
    warm_start : Critic, optional
        Continue training a copy of an earlier ``result.discriminator``.
    options : TrainingOptions, optional
        The network and its training (by default Adam with betas (0.5, 0.9) at
        1e-3 on a cosine decay).
    group : torch.distributed.ProcessGroup, optional
        Train and estimate over this group's ranks, as for
        :func:`wasserstein_dual`. None (the default): nothing communicates.
    **overrides
        Any field of :class:`TrainingOptions`, as for :func:`wasserstein_dual`
        (``seed``: None, the default, draws fresh entropy).

    Returns
    -------
    DiscriminatorResult
        ``divergence`` (JS in nats, in :math:`[0, \log 2]`), its bounds, the
        ``discriminator``; ``estimate``, ``probability`` and ``generator_loss``
        for autograd.

    Raises
    ------
    ValueError, TypeError, TrainingDivergedError
        As for :func:`wasserstein_dual`.

    Notes
    -----
    Only the optimal discriminator reaches the bound: a trained one
    under-estimates JS, and any discriminator's held-out bound, clipped and less
    a margin that holds for every distribution, is a certified ``lower_bound``.
    No upper bound of JS holds from samples alone. JS does not change under an
    invertible map of each coordinate, so the discriminator trains with every
    coordinate standardised on its own. Divide by :math:`\log 2` for bits.

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
    settings = TrainingOptions.build(options, **overrides)
    return _estimate(x, y, warm_start, settings, Group.of(group), batch=False)[0]


@renamed(samples_p="x", samples_q="y")
def js_dual_batch(
    x: Any,
    y: Any,
    *,
    warm_start: Sequence[Critic | None] | None = None,
    options: TrainingOptions | None = None,
    group: Any = None,
    **overrides: Any,
) -> list[DiscriminatorResult]:
    r"""Estimate JS for K problems at once, with K discriminators trained as one stack.

    The counterpart of :func:`wasserstein_dual_batch` for :func:`js_dual`,
    which is its case K = 1.

    Parameters
    ----------
    x, y : sequence of K sample sets, or (K, n, d) array-like
        As for :func:`wasserstein_dual_batch` (one side may be a single shared set).
    warm_start : sequence of K Critic or None, optional
        One warm start per problem.
    options, group, **overrides
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
    settings = TrainingOptions.build(options, **overrides)
    return _estimate(x, y, warm_start, settings, Group.of(group), batch=True)


def _estimate(
    x: Any,
    y: Any,
    warm_start: Any,
    options: TrainingOptions,
    group: Group,
    *,
    batch: bool,
) -> list[DiscriminatorResult]:
    """Train each problem's discriminator; one result per problem."""
    start = time.perf_counter()
    fits = fit(
        JensenShannonDual(),
        x,
        y,
        batch=batch,
        warm_start=warm_start,
        options=options,
        group=group,
    )
    return [_result(fitted, start) for (fitted,) in fits]


def recalibrated_divergence(logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    r"""The variational bound of the best discriminator :math:`\sigma(a \ell + c)` on
    these logits, :math:`a, c` fitted to them: :math:`\log 2` where a threshold
    separates the two sides.

    The trained logit :math:`\ell` is the case :math:`a = 1, c = 0`, so the value
    is at least the plain bound on the same samples; fitted on them, it is biased
    upwards: the upper end of an interval, no bound. Two parameters are a
    logistic regression of the side on :math:`\ell`, each side weighted by its
    count (the bound is a mean per side); it is concave in :math:`(a, c)` and
    solved by BFGS.
    """
    import numpy as np
    from scipy import optimize, special

    s_p = logits_p.detach().double().reshape(-1).cpu().numpy()
    s_q = logits_q.detach().double().reshape(-1).cpu().numpy()
    if s_p.size == 0 or s_q.size == 0:
        return 0.0
    if s_p.min() > s_q.max() or s_p.max() < s_q.min():
        return _LOG2
    # centred and scaled, so that BFGS starts from a well-conditioned problem
    centre = 0.5 * (s_p.mean() + s_q.mean())
    scale = float(np.concatenate([s_p, s_q]).std()) or 1.0
    u_p, u_q = (s_p - centre) / scale, (s_q - centre) / scale

    def negative(params: np.ndarray) -> tuple[float, np.ndarray]:
        a, c = params
        t_p, t_q = a * u_p + c, a * u_q + c
        value = -np.logaddexp(0.0, -t_p).mean() - np.logaddexp(0.0, t_q).mean()
        g_p = special.expit(-t_p)  # d log sigma(t) / dt = sigma(-t)
        g_q = -special.expit(t_q)  # d log sigma(-t) / dt = -sigma(t)
        gradient = np.array([(g_p * u_p).mean() + (g_q * u_q).mean(), g_p.mean() + g_q.mean()])
        return -value, -gradient

    # a = scale, c = centre: the trained logit itself
    start = np.array([scale, centre])
    fitted = optimize.minimize(negative, start, jac=True, method="BFGS")
    best = min(float(fitted.fun), negative(start)[0])
    return min(max((_LOG4 - best) / 2, 0.0), _LOG2)


#: The logit clips the certified bound chooses among (on the validation split): a
#: clip at L costs at most log(1 + exp(-L)) a side where the discriminator separates,
#: and widens the values' range to L.
CLIPS = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 16.0, 24.0)


def certified_lower(logits_p: torch.Tensor, logits_q: torch.Tensor, clip_at: float) -> float:
    r"""A lower bound of JS at 97.5% for any two distributions, from a discriminator's
    logits on samples it was not fitted on (nor its clip chosen on): unclipped, may be
    below 0.

    The discriminator :math:`\sigma(\operatorname{clip}(\ell, -L, L))` is a
    discriminator too, so :math:`JS \ge \mathbb E Z + \log 2` with
    :math:`Z = (\log \sigma(\tilde\ell(x)) + \log \sigma(-\tilde\ell(y)))/2`,
    :math:`x \sim P` and :math:`y \sim Q` independent; each value of the smaller side
    is paired with the mean of its own block of the larger side's, which keeps the
    pairs independent. :math:`Z` lies in :math:`[\log \sigma(-L), \log \sigma(L)]`,
    a range of exactly :math:`L`, and
    :func:`~divergences.neural._bounded_mean.difference_lower` bounds its mean for
    every distribution of the values.
    """
    from scipy import special

    # log sigma(clip(l)) on P, and minus log sigma(-clip(l)) on Q: their difference of
    # means, plus log 4, is twice the variational bound
    p, q = (
        logits.detach().double().reshape(-1).cpu().numpy().clip(-clip_at, clip_at)
        for logits in (logits_p, logits_q)
    )
    bottom = float(special.log_expit(-clip_at))
    top = bottom + clip_at
    difference = difference_lower(
        special.log_expit(p), (bottom, top), -special.log_expit(-q), (-top, -bottom)
    )
    return difference / 2 + _LOG2 - ROUNDING * clip_at


def _result(fitted: Fitted, start: float) -> DiscriminatorResult:
    """The result: the bound on the test split, and the discriminator in the data's units."""
    # JS is invariant under a change of units: the bound is computed where the network
    # trained, and the centre and spread are set afterwards
    model, problem, options = fitted.network, fitted.problem, fitted.options

    def bound(x_p: torch.Tensor, x_q: torch.Tensor) -> tuple[float, float, int]:
        """The unclipped bound on two sample sets, its standard error, and the smaller
        set's size."""
        mean_p, var_p, count_p = moments(evaluate(lambda x: log_d(model(x)), x_p), fitted.group)
        mean_q, var_q, count_q = moments(
            evaluate(lambda x: log_one_minus_d(model(x)), x_q), fitted.group
        )
        stderr = 0.5 * math.sqrt(var_p / count_p + var_q / count_q)
        return (mean_p + mean_q + _LOG4) / 2, stderr, min(count_p, count_q)

    def logits(x_p: torch.Tensor, x_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return fitted.group.gather(evaluate(model, x_p)), fitted.group.gather(evaluate(model, x_q))

    raw, stderr, count = bound(problem.p.test, problem.q.test)
    test_logits = logits(problem.p.test, problem.q.test)
    recalibrated = recalibrated_divergence(*test_logits)
    size = options.evaluation_size
    fitted_p, fitted_q = problem.p.fitted(size)[:size], problem.q.fitted(size)[:size]
    train_value, _, _ = bound(fitted_p, fitted_q)
    # the clip is chosen where the test split plays no part: the validation split, or
    # the training samples where there is none
    if problem.p.validation is not None and problem.q.validation is not None:
        choosing = logits(problem.p.validation, problem.q.validation)
    else:
        choosing = logits(fitted_p, fitted_q)
    clip_at = max(CLIPS, key=lambda at: certified_lower(*choosing, at))
    certified = certified_lower(*test_logits, clip_at)
    # the network trained with each coordinate at unit spread; from here it takes the
    # common standardised coordinates, then the data's own
    fold_axes(model, problem.axes)
    with torch.no_grad():
        model.center.copy_(problem.center)
        model.spread.copy_(problem.spread)
        # the logit is unitless: undo the output's multiplication by the spread
        model.scale.div_(problem.spread)

    def clip(value: float) -> float:
        return min(max(value, 0.0), _LOG2)

    # The held-out bound is a noisy lower bound of JS (any discriminator's is); the
    # training value of a discriminator that fitted its sample, and the bound of its
    # logit recalibrated on the test split itself, are upward-biased ones: where they
    # part, JS is taken to lie between them. A discriminator that separates the test
    # samples but saturates short of log 2 (two point masses: 0.6927) leaves the upper
    # end at log 2, which such samples cannot rule out. JS is at least 0, and the
    # interval never collapses to a point where the bound dips below 0.
    # With a handful of test samples no bound is stated: the interval is all of [0, log 2].
    low = clip(certified)
    top = max(raw, train_value, recalibrated, certified, 0.0)
    high = _LOG2 if count < CONFIDENT_ROWS else clip(top + student_quantile(count, count) * stderr)
    return DiscriminatorResult(
        divergence=clip(raw),
        stderr=stderr,
        lower_bound=low,
        interval=(low, high),
        train_divergence=clip(train_value),
        discriminator=model,
        history=fitted.history,
        held_out_index=(problem.p.side.test_index, problem.q.side.test_index),
        options=options,
        steps=options.steps_for(1),
        seconds=time.perf_counter() - start,
        device=str(options.torch_device),
    )
