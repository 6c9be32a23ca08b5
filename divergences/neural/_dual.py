"""``wasserstein_dual``: W1 from a trained critic (Kantorovich-Rubinstein duality)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from divergences._validation import renamed
from divergences.neural._bounds import Certificate, certify
from divergences.neural._certified import Potential
from divergences.neural._distributed import Group
from divergences.neural._fitting import (
    EVALUATION_CHUNK,
    Fitted,
    as_float64,
    evaluate,
    fit,
    moments,
)
from divergences.neural._networks import Critic, gradient_norms
from divergences.neural._objectives import KantorovichDual
from divergences.neural._results import NeuralResult
from divergences.neural.options import TrainingOptions

# Points at which gradient norms are measured for the final rescaling and the
# reported Lipschitz constant (data and interpolates, per set).
_LIPSCHITZ_POINTS = 4096


@dataclass(frozen=True, repr=False)
class DualResult(NeuralResult):
    r"""A Wasserstein-1 estimate: a certified lower bound, its estimate, and an upper side.

    The last six attributes, from ``history`` on, are those every neural
    result shares (:class:`~divergences.neural.NeuralResult`); they are
    keyword-only in the constructor.

    Attributes
    ----------
    distance : float
        :math:`\mathbb E_P f - \mathbb E_Q f` on the test split for the
        potential :math:`f` (``potential``), which is 1-Lipschitz by
        construction and was fitted and chosen on the other splits: an unbiased
        estimate of a number that is at most :math:`W_1`.
    stderr : float
        Standard error of ``distance`` from the test split's per-sample values.
    lower_bound : float
        ``max(0, distance - 1.96 stderr)``: a one-sided 97.5% lower confidence
        bound of :math:`W_1(P, Q)` that holds for any distributions, whatever
        the training did (see Notes of :func:`wasserstein_dual`).
    empirical_distance : float
        The exact :math:`W_1` between the test samples of the two sides (up to
        2000 a side; all of them in d = 1). Its expectation is at least
        :math:`W_1(P, Q)`: an upper side, biased upwards, far above in high
        dimension (the empirical distance converges as :math:`n^{-1/d}`).
    upper_bound : float
        ``empirical_distance + 1.96`` times its standard error (from the
        exact solution's dual potentials).
    interval : tuple of float
        ``(lower_bound, upper_bound)``. Wide where the evidence cannot tell,
        never narrow and wrong.
    potential : Potential
        The certified :math:`f`, mapping (N, d) to (N,) in the data's units,
        float64, differentiable; ``potential.kind`` names its family
        (``"cones"``, ``"inverted_cones"`` or ``"ridge"``).
    scores : dict of str to float
        What each certified family certifies on half of the validation split:
        its mean difference less 2.39 standard errors, three bounds that hold
        together at 97.5% (the choice was the highest).
    train_distance : float
        ``potential``'s mean difference on the training samples; a gap above
        ``distance`` shows over-fitting.
    critic : Critic
        The trained gradient-penalty critic, calibrated to slope 1 on the
        validation data (see Notes): smooth, with the gradient field a
        generator follows, but not certified.
    critic_distance : float
        The critic's mean difference on the test split; no bound.
    lipschitz : float
        Largest gradient norm of ``critic`` on test data and interpolates.
    history : TrainingHistory
        Objective, penalty and gradient-norm statistics along the critic's training.
    held_out_index : tuple of (numpy.ndarray or None)
        Which rows of ``x`` and ``y`` form the test split (None
        for a callable, whose held-out samples are fresh draws).
    options : TrainingOptions
        The options the critic was trained with.
    steps : int
        Optimiser steps of the critic.
    seconds : float
        Wall time of training, certification and evaluation.
    device : str
        Where the networks were trained.
    """

    distance: float
    stderr: float
    lower_bound: float
    empirical_distance: float
    upper_bound: float
    potential: Potential = field(repr=False)
    scores: dict[str, float] = field(repr=False)
    train_distance: float
    critic: Critic = field(repr=False)
    critic_distance: float
    lipschitz: float

    @property
    def interval(self) -> tuple[float, float]:
        """``(lower_bound, upper_bound)``."""
        return (self.lower_bound, self.upper_bound)

    @renamed(samples_p="x", samples_q="y")
    def estimate(self, x: Any, y: Any) -> torch.Tensor:
        r""":math:`\mathbb E_p f - \mathbb E_q f` of the ``critic`` on new samples, with autograd.

        Differentiate it with respect to the samples (or whatever produced them,
        a generator's parameters or :math:`\theta`) to get the gradient the
        critic gives a generator: smooth, and nonzero between disjoint supports.
        It is not the certified number (``potential`` gives that one:
        ``result.potential(x).mean() - result.potential(y).mean()``).

        Parameters
        ----------
        x, y : (n, d) and (m, d) array-like or torch.Tensor
            Samples; moved to the critic's device (differentiably).

        Returns
        -------
        torch.Tensor
            A scalar on the device of ``x`` if it is a tensor, else on
            the critic's device.
        """
        device = next(self.critic.parameters()).device
        x_p = as_float64(x, "x", device)
        x_q = as_float64(y, "y", device)
        dim = self.critic.dim
        for points, name in ((x_p, "x"), (x_q, "y")):
            if points.shape[1] != dim:
                raise ValueError(f"{name} must have d = {dim} columns; got {points.shape[1]}")
        value = self.critic(x_p).mean() - self.critic(x_q).mean()
        target = x.device if isinstance(x, torch.Tensor) else device
        return value.to(target)


def _probe_points(
    x_p: torch.Tensor, x_q: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Data of both sides and random interpolates between them, up to
    ``_LIPSCHITZ_POINTS`` of each, and which of them are data."""
    size = min(_LIPSCHITZ_POINTS, x_p.shape[0], x_q.shape[0])
    device = x_p.device
    take_p = torch.randint(x_p.shape[0], (size,), generator=generator, device=device)
    take_q = torch.randint(x_q.shape[0], (size,), generator=generator, device=device)
    a, b = x_p[take_p], x_q[take_q]
    t = torch.rand(size, 1, generator=generator, device=device)
    is_data = torch.arange(3 * size, device=device) < 2 * size
    return torch.cat([a, b, t * a + (1 - t) * b]), is_data


def _gradient_norms(critic: nn.Module, points: torch.Tensor) -> torch.Tensor:
    return torch.cat(
        [
            gradient_norms(critic, points[i : i + EVALUATION_CHUNK]).detach()
            for i in range(0, points.shape[0], EVALUATION_CHUNK)
        ]
    )


def equalisation(
    values: torch.Tensor,
    slopes: torch.Tensor,
    is_data: torch.Tensor,
    bins: int = 64,
    device: torch.device | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Knots of the monotone map :math:`\phi` with :math:`\phi' = 1 / \bar s(v)`.

    ``values`` and ``slopes`` are a critic's values :math:`v` and gradient
    norms :math:`s` at probe points: data of both sides and interpolates
    between them. The points are cut into ``bins`` groups of equal count by
    value; in each, :math:`\bar s` is the mean slope of the data points when
    they are at least a quarter of the group, else of all its points (the
    interpolates then stand for levels that no data reach, such as the gap
    between disjoint supports). :math:`\phi` integrates :math:`1 / \bar s`
    across the groups, so that :math:`\phi \circ f` has mean slope 1 at every
    level: the correction is exact for any critic that is a monotone function
    of an optimal one (a quadratic where the optimum is a norm, say). Returns
    float64 knots on ``device`` (the values' by default), strictly increasing,
    or empty ones where the values do not vary.
    """
    # a few thousand numbers, walked bin by bin: on the host, not one device sync per bin
    device = values.device if device is None else device
    values, slopes, is_data = values.cpu(), slopes.cpu(), is_data.cpu()
    order = torch.argsort(values)
    v = values[order].double()
    s = slopes[order].double()
    data = is_data[order]
    count = v.numel()
    groups = max(1, min(bins, count // 32))
    edges = torch.linspace(0, count, groups + 1, device=v.device).long().tolist()
    floor = 1e-3 * float(s.mean())
    knots_in, widths = [v[0]], []
    for low, high in itertools.pairwise(edges):
        if high <= low:
            continue
        group_slopes = s[low:high]
        own = group_slopes[data[low:high]]
        mean = own.mean() if 4 * own.numel() >= high - low else group_slopes.mean()
        top = v[high - 1]
        if bool(top > knots_in[-1]):
            widths.append((top - knots_in[-1]) / torch.clamp(mean, min=floor))
            knots_in.append(top)
    if not widths:
        empty = v.new_zeros(0).to(device)
        return empty, empty
    knots_out = torch.cat([v.new_zeros(1), torch.cumsum(torch.stack(widths), 0)])
    return torch.stack(knots_in).to(device), knots_out.to(device)


@renamed(samples_p="x", samples_q="y")
def wasserstein_dual(
    x: Any,
    y: Any,
    *,
    penalty: str = "gp",
    penalty_weight: float | None = None,
    rescale: bool = True,
    warm_start: Critic | None = None,
    options: TrainingOptions | None = None,
    group: Any = None,
    **overrides: Any,
) -> DualResult:
    r"""Estimate :math:`W_1(P, Q)` by Kantorovich-Rubinstein duality, with a certified lower bound.

    .. math::

        W_1(P, Q) = \sup_{\|f\|_{\mathrm{Lip}} \le 1} \mathbb E_P f(x) - \mathbb E_Q f(x)

    Every 1-Lipschitz :math:`f` gives :math:`W_1 \ge \mathbb E_P f - \mathbb E_Q f`.
    A critic trained with a gradient penalty is not 1-Lipschitz (the penalty
    only pulls its slope towards 1 where it is measured) and not an optimal
    potential either, so its held-out mean difference is neither a bound nor,
    on unfamiliar problems, close. The estimator therefore does two things,
    keeping every choice away from the samples the final numbers come from:

    1. **Split and standardise.** Each sample array is split into training,
       validation and test parts (60/20/20 by default), and the data are
       mapped to standardised coordinates (centre and spread from the
       training data, in float64): the result is exactly equivariant,
       ``wasserstein_dual(a x + c, a y + c)`` is ``a`` times
       ``wasserstein_dual(x, y)`` with the same seed.
    2. **Train the critic** (WGAN-GP by default) on the training split, keep
       its best checkpoint on the validation split and calibrate its slope
       to 1 there; from d = 5 a piecewise-linear and a smooth critic are
       trained and the better kept (see
       :func:`~divergences.neural.default_architecture`). The critic is
       ``result.critic``, whose gradient is what a generator follows.
    3. **Fit certified potentials** on the training split, functions that are
       1-Lipschitz for every value of their parameters: a minimum of learned
       cones :math:`\min_j (h_j + \|x - c_j\|)` (the form every Kantorovich
       potential takes), a maximum of inverted cones, and a ridge
       :math:`\phi(\langle w, x\rangle)` along a learned direction with the
       one-dimensional optimal :math:`\phi`. Half the validation split
       tunes each, the other half chooses the one that certifies most.
    4. **Estimate and bound** on the test split, which nothing has seen:
       ``distance`` is the chosen potential's mean difference there,
       ``lower_bound`` its one-sided 97.5% confidence bound, and the upper
       side is the exact :math:`W_1` between the test samples, whose
       expectation is at least :math:`W_1` (biased upwards, far above in high
       dimension, where it only says that the truth is not beyond it).

    Parameters
    ----------
    x, y : (n, d) array-like, torch.Tensor, or callable
        Samples of :math:`P` and :math:`Q` (a 1-D array means ``d = 1``), on
        any device. Or callables ``draw(k)`` returning a fresh (k, d) batch,
        for data streamed from disk or produced by a generator network: each
        training step draws a new batch, and ``evaluation_size`` fresh samples
        per side are drawn for the held-out estimate.
        Formerly ``samples_p`` and ``samples_q``: those keywords still work, with a
        ``DeprecationWarning``, until the next release.
    penalty : {"gp", "lp", "clip"}, default "gp"
        Two-sided gradient penalty :math:`(\|\nabla f(\hat x)\| - 1)^2` on
        random interpolates :math:`\hat x = t x_p + (1 - t) x_q`; the one-sided
        :math:`\max(0, \|\nabla f\| - 1)^2`; or weight clipping (the original
        WGAN, trained with RMSProp). See :class:`KantorovichDual`. The default
        is the recipe of Gulrajani et al. [2]_, the one this estimator's other
        defaults were chosen with and its accuracy measured with (the
        neural-dual benchmark page), where
        :class:`~divergences.losses.WassersteinLoss` defaults to ``"lp"``: a
        measurement trains one critic between two distributions that do not
        move, from an output layer at zero (its slope never has to pass
        through 0), while a loss's critic follows a moving generator and must
        turn its slope around where the generated samples overtake the data,
        which the two-sided penalty resists (see the loss's Notes and the
        generators benchmark page).
    penalty_weight : float, optional
        :math:`\lambda` (default 10) for ``"gp"``/``"lp"``, the clipping bound
        :math:`c` (default 0.01) for ``"clip"``.
    rescale : bool, default True
        Calibrate the trained critic (step 3). ``False`` gives the plain WGAN
        estimate of the chosen checkpoint.
    warm_start : Critic, optional
        Continue training a copy of an earlier critic (such as
        ``result.critic``) instead of a new one, as a distribution moves.
    options : TrainingOptions, optional
        The network and its training; the defaults if None.
    group : torch.distributed.ProcessGroup, optional
        Train and estimate collectively over this group's ranks
        (``torch.distributed.group.WORLD`` for every process), each calling with the
        same arguments: one network trained on every rank's shard, one result on
        all (see the page on several processes). None (the default): this process
        alone; nothing communicates, even inside an initialised process group.
    **overrides
        Any field of :class:`TrainingOptions`, applied on top of ``options``:
        ``width``, ``depth``, ``activation``, ``optimizer``, ``learning_rate``,
        ``weight_decay`` (default 1 above d = 32, 0 up to it), ``batch_size``,
        ``steps`` (default 2000 in all), ``holdout`` (the test share, default
        0.2), ``validation`` (default 0.2), ``evaluation_size``, ``seed``
        (default None: fresh entropy from the operating system, so two calls
        differ; an int gives the same result on the CPU), ``device`` (default
        ``"auto"``: CUDA when available) and ``progress``.
        An unknown name is a ``TypeError``.

    Returns
    -------
    DualResult
        ``distance``, ``stderr``, ``lower_bound``, ``upper_bound`` and
        ``interval``, ``empirical_distance``, the certified ``potential`` and
        the ``scores`` of its families, the ``critic`` with
        ``critic_distance``, ``lipschitz`` and ``history``, ``steps``,
        ``seconds``, ``device``, and ``estimate(x, y)``, the
        critic's mean difference with autograd.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, different dimensions, too few samples to
        hold out, an out-of-range option, a warm start of another shape, or
        ``device="cuda"`` without a GPU; a ``group`` this process is not a member
        of, or ranks of ``group`` given different samples, options or warm starts
        (raised on every rank, naming what differs).
    TypeError
        If samples are not arrays, tensors or callables, an option is unknown,
        ``warm_start`` is not a :class:`Critic`, or ``group`` is not a process group.
    TrainingDivergedError
        If the loss becomes NaN or infinite; the message names the step.

    Notes
    -----
    **What the lower bound guarantees.** ``potential`` is 1-Lipschitz by
    construction (cones and ridges are, whatever their parameters), and the
    test split played no part in fitting or choosing it; so
    :math:`\mathbb E_P f - \mathbb E_Q f \le W_1(P, Q)` exactly, and
    ``lower_bound`` is below :math:`W_1` with probability at least 97.5%
    (up to the normal approximation of a mean of the test split's values),
    for any two distributions. It can be loose; it is never wrong beyond
    that 2.5%. ``distance`` estimates the same number without the margin,
    so it errs low where no fitted potential is near the optimal one (high
    dimension with many transport directions: the benchmark page shows
    where). The interval ``(lower_bound, upper_bound)`` covers the truth
    unless the lower bound fails (2.5%) or the empirical distance falls
    more than 1.96 standard errors below its expectation, itself above
    :math:`W_1`.

    Cost: the critic's 2000 optimiser steps of ``batch_size`` samples a side
    (a forward and backward pass on data and interpolates), the cones' 1000
    steps of 1024 samples a side against 256 cones (both signs as one stack),
    a ridge search of 150 steps from each of nine moment directions, and the
    exact LP between up to 2000 test samples a side. With ``steps`` set, the
    cones train for as many steps and the ridge for at most as many. The
    benchmark page gives measured times and accuracies.

    References
    ----------
    .. [1] M. Arjovsky, S. Chintala and L. Bottou, "Wasserstein GAN", ICML 2017.
    .. [2] I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin and A. Courville,
       "Improved training of Wasserstein GANs", NeurIPS 2017.
    .. [3] H. Petzka, A. Fischer and D. Lukovnikov, "On the regularization of
       Wasserstein GANs", ICLR 2018.
    .. [4] A. Korotin, A. Kolesov and E. Burnaev, "Kantorovich strikes back!
       Wasserstein GANs are not optimal transport?", NeurIPS 2022.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 2))
    >>> result = dv.wasserstein_dual(x, x + [2.0, 0.0], steps=300, seed=0, device="cpu")
    >>> bool(abs(result.distance - 2.0) < 0.2), bool(result.lower_bound <= 2.0)
    (True, True)
    >>> result.potential.kind  # the optimal potential is linear: a ridge
    'ridge'
    """
    objective = KantorovichDual(penalty, penalty_weight)
    settings = TrainingOptions.build(options, **overrides)
    ranks = Group.of(group)
    return _estimate(x, y, objective, rescale, warm_start, settings, ranks, batch=False)[0]


@renamed(samples_p="x", samples_q="y")
def wasserstein_dual_batch(
    x: Any,
    y: Any,
    *,
    penalty: str = "gp",
    penalty_weight: float | None = None,
    rescale: bool = True,
    warm_start: Sequence[Critic | None] | None = None,
    options: TrainingOptions | None = None,
    group: Any = None,
    **overrides: Any,
) -> list[DualResult]:
    r"""Estimate :math:`W_1` for K problems at once, with K critics trained as one stack.

    Each problem gets its own critic, trained on its own samples exactly as
    :func:`wasserstein_dual` would train it, but the K networks are stacked
    and every step runs them together with batched matrix products: a sweep
    over a parameter (the disjoint segments over a grid of :math:`\theta`)
    costs a few times one critic instead of K times. :func:`wasserstein_dual`
    is the case K = 1.

    Parameters
    ----------
    x, y : sequence of K sample sets, or (K, n, d) array-like
        The problems' samples, each set as :func:`wasserstein_dual` accepts
        (arrays, tensors or callables; sets may differ in size). One side may
        instead be a single (n, d) set shared by every problem.
        Formerly ``samples_p`` and ``samples_q``: those keywords still work, with a
        ``DeprecationWarning``, until the next release.
    penalty, penalty_weight, rescale
        As for :func:`wasserstein_dual`; the same for every problem.
    warm_start : sequence of K Critic or None, optional
        Warm starts, one per problem (None entries start fresh).
    options : TrainingOptions, optional
        The networks and their training; the defaults if None.
    group : torch.distributed.ProcessGroup, optional
        As for :func:`wasserstein_dual`: None, the default, never communicates.
    **overrides
        Any field of :class:`TrainingOptions`, as for :func:`wasserstein_dual`.

    Returns
    -------
    list of DualResult
        One per problem, in order; ``seconds`` is the time of the whole batch.

    Raises
    ------
    ValueError, TypeError
        As :func:`wasserstein_dual`, naming the problem (``x[3]``); and
        if the two sides hold different numbers of sets or the problems differ
        in dimension.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 2))
    >>> results = dv.wasserstein_dual_batch(
    ...     x, [x + [1.0, 0.0], x + [2.0, 0.0]], steps=300, seed=0, device="cpu"
    ... )
    >>> [bool(abs(r.distance - true) < 0.15) for r, true in zip(results, [1.0, 2.0])]
    [True, True]
    """
    objective = KantorovichDual(penalty, penalty_weight)
    settings = TrainingOptions.build(options, **overrides)
    ranks = Group.of(group)
    return _estimate(x, y, objective, rescale, warm_start, settings, ranks, batch=True)


def _estimate(
    x: Any,
    y: Any,
    objective: KantorovichDual,
    rescale: bool,
    warm_start: Any,
    options: TrainingOptions,
    group: Group,
    *,
    batch: bool,
) -> list[DualResult]:
    start = time.perf_counter()
    chosen = _chosen(x, y, objective, rescale, warm_start, options, group, batch=batch)
    certificates = certify([c.fitted for c in chosen], [c.fitted.network for c in chosen])
    return [
        _result(calibrated, certificate, start)
        for calibrated, certificate in zip(chosen, certificates, strict=True)
    ]


def _chosen(
    x: Any,
    y: Any,
    objective: KantorovichDual,
    rescale: bool,
    warm_start: Any,
    options: TrainingOptions,
    group: Group,
    *,
    batch: bool,
) -> list[_Calibrated]:
    """The candidate critics of each problem trained, calibrated, and the one with the
    higher calibrated estimate on the validation split kept."""
    fits = fit(
        objective,
        x,
        y,
        batch=batch,
        warm_start=warm_start,
        options=options,
        group=group,
        candidates=True,
    )
    chosen = []
    for candidates in fits:
        calibrated = [_calibrate(fitted, rescale) for fitted in candidates]
        chosen.append(max(calibrated, key=lambda c: c.validation_distance))
    return chosen


def trained_critics(
    x: Any,
    y: Any,
    *,
    batch: bool = False,
    warm_start: Any = None,
    options: TrainingOptions,
    group: Any = None,
) -> list[Critic]:
    """The critics :func:`wasserstein_dual` (or, with ``batch``,
    :func:`wasserstein_dual_batch`) would train and calibrate, the same networks for the
    same seed, in the data's units, without the certified side: for loops that only
    follow a critic's gradient (the training dynamics of ``divergences gradients``) and
    for timing the critics' training, where the cones, ridges and LP of every call would
    cost several times the critic. ``group`` as for :func:`wasserstein_dual`."""
    objective = KantorovichDual("gp", None)
    critics = []
    for calibrated in _chosen(
        x, y, objective, True, warm_start, options, Group.of(group), batch=batch
    ):
        model, problem = calibrated.fitted.network, calibrated.fitted.problem
        with torch.no_grad():
            model.center.copy_(problem.center)
            model.spread.copy_(problem.spread)
        critics.append(model)
    return critics


@dataclass
class _Calibrated:
    fitted: Fitted
    validation_distance: float


def _calibrate(fitted: Fitted, rescale: bool) -> _Calibrated:
    """Rescale and calibrate a trained critic on the validation split (see ``equalisation``).

    Everything runs in the problem's standardised coordinates, where the critic
    was trained.
    """
    model, problem, group = fitted.network, fitted.problem, fitted.group
    size = fitted.options.evaluation_size
    cal_p, cal_q = problem.p.calibration(size), problem.q.calibration(size)
    if rescale:
        points, is_data = _probe_points(cal_p, cal_q, fitted.generator)
        norms = _gradient_norms(model, points)
        slope, _, _ = moments(norms, group)
        if slope > 0:
            with torch.no_grad():
                model.scale.div_(slope)
        # every rank's probe points, so that all fit the same calibration
        values = group.gather(evaluate(model, points))
        knots_in, knots_out = equalisation(
            values, group.gather(norms / slope), group.gather(is_data), device=values.device
        )
        model.knots_in, model.knots_out = knots_in, knots_out
    return _Calibrated(fitted, _mean_difference(model, cal_p, cal_q, group))


def _result(calibrated: _Calibrated, certificate: Certificate, start: float) -> DualResult:
    """The critic's statistics on the test split, and everything mapped back to the data's
    units by the centre and spread (which makes the result exactly equivariant)."""
    fitted = calibrated.fitted
    model, problem, options = fitted.network, fitted.problem, fitted.options
    test_p, test_q = problem.p.test, problem.q.test
    critic_distance = _mean_difference(model, test_p, test_q, fitted.group)
    test_points, _ = _probe_points(test_p, test_q, fitted.generator)
    lipschitz = float(fitted.group.max(_gradient_norms(model, test_points).max().reshape(1)))
    spread = float(problem.spread)
    with torch.no_grad():
        model.center.copy_(problem.center)
        model.spread.copy_(problem.spread)
    potential = certificate.potential.moved(problem.center, problem.spread)
    return DualResult(
        distance=spread * certificate.distance,
        stderr=spread * certificate.stderr,
        lower_bound=spread * certificate.lower_bound,
        empirical_distance=spread * certificate.empirical_distance,
        upper_bound=spread * certificate.upper_bound,
        potential=potential,
        scores={kind: spread * score for kind, score in certificate.scores.items()},
        train_distance=spread * certificate.train_distance,
        critic=model,
        critic_distance=spread * critic_distance,
        lipschitz=lipschitz,
        history=fitted.history,
        held_out_index=(problem.p.side.test_index, problem.q.side.test_index),
        options=options,
        steps=options.steps_for(1),
        seconds=time.perf_counter() - start,
        device=str(options.torch_device),
    )


def _mean_difference(model: Critic, x_p: torch.Tensor, x_q: torch.Tensor, group: Group) -> float:
    return moments(evaluate(model, x_p), group)[0] - moments(evaluate(model, x_q), group)[0]
