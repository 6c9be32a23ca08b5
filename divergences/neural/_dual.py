"""``wasserstein_dual``: W1 from a trained critic (Kantorovich-Rubinstein duality)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from divergences._validation import (
    as_samples,
    backend_for,
    check_count,
    check_option,
    check_real,
    check_seed,
)
from divergences.neural._networks import ACTIVATIONS, Critic, default_width, gradient_norms
from divergences.neural._objectives import KantorovichDual
from divergences.neural._trainer import TrainingHistory, train

PENALTIES = ("gp", "lp", "clip")
OPTIMIZERS = ("adam", "rmsprop")
_DEFAULT_WEIGHT = {"gp": 10.0, "lp": 10.0, "clip": 0.01}
_DEFAULT_OPTIMIZER = {"gp": "adam", "lp": "adam", "clip": "rmsprop"}
_DEFAULT_LEARNING_RATE = {"adam": 1e-3, "rmsprop": 5e-5}
# Points at which gradient norms are measured for the final rescaling and the
# reported Lipschitz constant (data and interpolates, per set).
_LIPSCHITZ_POINTS = 4096
_EVALUATION_CHUNK = 65536


@dataclass(frozen=True)
class DualResult:
    r"""A Wasserstein-1 estimate from a trained critic.

    Attributes
    ----------
    distance : float
        :math:`\mathbb E_p f - \mathbb E_q f` on held-out samples the critic
        never trained on.
    stderr : float
        Standard error of ``distance`` from the held-out per-sample values.
    interval : tuple of float
        ``distance ± sqrt((1.96 stderr)^2 + systematic^2)``: the 95% interval of
        the held-out sampling noise, widened by ``systematic``.
    systematic : float
        An error scale for the critic itself: ``|distance|`` times the
        coefficient of variation of the critic's gradient norms on held-out
        interpolates. The final rescaling is exact for a critic whose slope is
        constant; the spread of its slopes sizes what remains (on the
        disjoint segments, where the held-out values barely vary, it is the
        dominant term).
    train_distance : float
        The same estimate on the training samples; a gap above ``distance``
        shows over-fitting.
    lipschitz : float
        Largest gradient norm of ``critic`` on held-out data and interpolates
        (1 would be a 1-Lipschitz critic there; above 1 over-estimates).
    critic : torch.nn.Module
        The trained :math:`f`, mapping (N, d) to (N,); the final rescaling is
        part of it, so ``critic(x_p).mean() - critic(x_q).mean()`` is the
        estimate.
    history : TrainingHistory
        Objective, penalty and gradient-norm statistics along training.
    steps : int
        Optimiser steps taken.
    seconds : float
        Wall time of training and evaluation.
    device : str
        Where the critic was trained.
    """

    distance: float
    stderr: float
    interval: tuple[float, float]
    systematic: float
    train_distance: float
    lipschitz: float
    critic: Critic = field(repr=False)
    history: TrainingHistory = field(repr=False)
    steps: int
    seconds: float
    device: str

    def estimate(self, samples_p: Any, samples_q: Any) -> torch.Tensor:
        r""":math:`\mathbb E_p f - \mathbb E_q f` on new samples, with autograd.

        Differentiate it with respect to the samples (or whatever produced them,
        a generator's parameters or :math:`\theta`) to get the gradient the
        critic gives a generator.

        Parameters
        ----------
        samples_p, samples_q : (n, d) and (m, d) array-like or torch.Tensor
            Samples; moved to the critic's device (differentiably).

        Returns
        -------
        torch.Tensor
            A scalar on the device of ``samples_p`` if it is a tensor, else on
            the critic's device.
        """
        device = next(self.critic.parameters()).device
        x_p = _as_tensor(samples_p, "samples_p", device)
        x_q = _as_tensor(samples_q, "samples_q", device)
        dim = self.critic.dim
        for x, name in ((x_p, "samples_p"), (x_q, "samples_q")):
            if x.shape[1] != dim:
                raise ValueError(f"{name} must have d = {dim} columns; got {x.shape[1]}")
        value = self.critic(x_p).mean() - self.critic(x_q).mean()
        target = samples_p.device if isinstance(samples_p, torch.Tensor) else device
        return value.to(target)


def _as_tensor(samples: Any, name: str, device: torch.device) -> torch.Tensor:
    """Validated (n, d) samples as a float32 tensor on ``device``, keeping autograd."""
    backend = backend_for(**{name: samples})
    x = as_samples(samples, name, backend)
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    return x.to(device=device, dtype=torch.float32)


def _resolve_device(device: Any) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or a torch.device; got {device!r}"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here")
    return resolved


@dataclass
class _Source:
    """Training and held-out samples of one distribution: a fixed array or a callable."""

    name: str
    train: torch.Tensor | None
    held_out: torch.Tensor
    draw: Callable[[int], Any] | None
    dim: int

    def batch(self, size: int, generator: torch.Generator) -> torch.Tensor:
        if self.train is not None:
            index = torch.randint(
                self.train.shape[0], (size,), generator=generator, device=self.train.device
            )
            return self.train[index]
        return self._call(size)

    def _call(self, size: int) -> torch.Tensor:
        assert self.draw is not None
        batch = self.draw(size)
        device = self.held_out.device
        x = batch if isinstance(batch, torch.Tensor) else torch.as_tensor(np.asarray(batch))
        x = x.to(device=device, dtype=torch.float32)
        if x.ndim == 1 and self.dim == 1:
            x = x.reshape(-1, 1)
        if tuple(x.shape) != (size, self.dim):
            raise ValueError(
                f"{self.name} returned a batch of shape {tuple(x.shape)} for a request of "
                f"{size}; expected ({size}, {self.dim})"
            )
        return x.detach()


def _source(
    samples: Any,
    name: str,
    holdout: float,
    evaluation_size: int,
    device: torch.device,
    rng: np.random.Generator,
) -> _Source:
    if callable(samples) and not isinstance(samples, (np.ndarray, torch.Tensor)):
        first = _as_tensor(samples(2), f"{name}(2)", device).detach()
        source = _Source(name, None, first, samples, first.shape[1])
        source.held_out = _as_tensor(source._call(evaluation_size), name, device)
        return source
    x = _as_tensor(samples, name, device).detach()
    n = x.shape[0]
    n_held = max(2, round(holdout * n))
    if n - n_held < 2:
        raise ValueError(
            f"{name} has {n} samples: too few to hold out {holdout:.0%} and train on the "
            "rest (at least 2 held out and 2 for training)"
        )
    order = torch.as_tensor(rng.permutation(n), device=device)
    return _Source(name, x[order[n_held:]], x[order[:n_held]], None, x.shape[1])


def _mean_and_variance(
    critic: nn.Module, x: torch.Tensor, chunk: int = _EVALUATION_CHUNK
) -> tuple[float, float]:
    with torch.no_grad():
        values = torch.cat([critic(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])
    values = values.double()
    return float(values.mean()), float(values.var()) if values.numel() > 1 else 0.0


def _probe_points(
    x_p: torch.Tensor, x_q: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Data and random interpolates, up to ``_LIPSCHITZ_POINTS`` of each."""
    size = min(_LIPSCHITZ_POINTS, x_p.shape[0], x_q.shape[0])
    device = x_p.device
    take_p = torch.randint(x_p.shape[0], (size,), generator=generator, device=device)
    take_q = torch.randint(x_q.shape[0], (size,), generator=generator, device=device)
    a, b = x_p[take_p], x_q[take_q]
    t = torch.rand(size, 1, generator=generator, device=device)
    return torch.cat([a, b, t * a + (1 - t) * b])


def _gradient_norms(critic: nn.Module, points: torch.Tensor) -> torch.Tensor:
    return torch.cat(
        [
            gradient_norms(critic, points[i : i + _EVALUATION_CHUNK]).detach()
            for i in range(0, points.shape[0], _EVALUATION_CHUNK)
        ]
    )


def _optimizer(name: str, parameters: list, rate: float) -> torch.optim.Optimizer:
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=rate)
    try:  # the fused kernel is a few percent faster where this torch build has it
        return torch.optim.Adam(parameters, lr=rate, betas=(0.5, 0.9), fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(parameters, lr=rate, betas=(0.5, 0.9))


def wasserstein_dual(
    samples_p: Any,
    samples_q: Any,
    *,
    penalty: str = "gp",
    penalty_weight: float | None = None,
    width: int | None = None,
    depth: int = 3,
    activation: str = "leaky_relu",
    optimizer: str | None = None,
    learning_rate: float | None = None,
    batch_size: int = 256,
    steps: int = 2000,
    holdout: float = 0.2,
    evaluation_size: int = 10_000,
    rescale: bool = True,
    critic: nn.Module | None = None,
    seed: int | None = None,
    device: Any = "auto",
    progress: bool = False,
) -> DualResult:
    r"""Estimate :math:`W_1(P, Q)` with a neural critic (Kantorovich-Rubinstein duality).

    .. math::

        W_1(P, Q) = \sup_{\|f\|_{\mathrm{Lip}} \le 1} \mathbb E_P f(x) - \mathbb E_Q f(x)

    A multilayer perceptron :math:`f` is trained to maximise the right-hand
    side on training samples under a Lipschitz penalty (WGAN-GP by default).
    The soft penalty lets the critic's slope exceed 1: at the optimum of the GP
    objective for a translation it is :math:`1 + W_1 / 2\lambda`, which inflates
    the estimate by 10% for :math:`W_1 = 2`, :math:`\lambda = 10`. After
    training, :math:`f` is therefore divided by its mean gradient norm on the
    training data and interpolates, and the estimate is evaluated on held-out
    samples.

    Parameters
    ----------
    samples_p, samples_q : (n, d) array-like, torch.Tensor, or callable
        Samples of :math:`P` and :math:`Q` (a 1-D array means ``d = 1``), on
        any device. Or callables ``draw(k)`` returning a fresh (k, d) batch,
        for data streamed from disk or produced by a generator network: each
        training step draws a new batch, and ``evaluation_size`` fresh samples
        per side are drawn for the held-out estimate.
    penalty : {"gp", "lp", "clip"}, default "gp"
        Two-sided gradient penalty :math:`(\|\nabla f(\hat x)\| - 1)^2` on
        random interpolates :math:`\hat x = t x_p + (1 - t) x_q`; the one-sided
        :math:`\max(0, \|\nabla f\| - 1)^2`; or weight clipping (the original
        WGAN, trained with RMSProp).
    penalty_weight : float, optional
        :math:`\lambda` (default 10) for ``"gp"``/``"lp"``, the clipping bound
        :math:`c` (default 0.01) for ``"clip"``.
    width : int, optional
        Hidden units per layer; by default 128 up to d = 32, then 4 d, at most 512.
    depth : int, default 3
        Hidden layers.
    activation : {"leaky_relu", "silu", "elu", "tanh"}, default "leaky_relu"
        Hidden activation; the output is linear.
    optimizer : {"adam", "rmsprop"}, optional
        Adam with betas (0.5, 0.9) for the penalties, RMSProp for clipping.
    learning_rate : float, optional
        Initial learning rate (1e-3 for Adam, 5e-5 for RMSProp), decayed to 0
        over ``steps`` on a cosine schedule.
    batch_size : int, default 256
        Samples per side in each step.
    steps : int, default 2000
        Optimiser steps. With the defaults, 2000 steps take 6 to 9 s on a
        2-core CPU and reach 1% of the true W1 on the benchmark problems in
        d = 2 and 16 (see the benchmark page).
    holdout : float, default 0.2
        Share of each sample array kept out of training for the estimate.
        A fifth keeps 80% of the data for fitting the critic while leaving
        enough held-out samples that the standard error is small (it scales as
        :math:`1/\sqrt{n_{\text{held}}}`); estimates on training data are
        biased upwards by over-fitting, which ``train_distance`` shows.
        Ignored for callables.
    evaluation_size : int, default 10000
        Fresh samples per side drawn from callables for the held-out estimate.
    rescale : bool, default True
        Divide the trained critic by its mean gradient norm on the training
        data and interpolates. ``False`` gives the plain WGAN estimate.
    critic : Critic, optional
        Warm start: continue training a copy of an earlier critic (such as
        ``result.critic``) instead of a new one, as a distribution moves.
    seed : int, optional
        Seed for the initialisation, the held-out split, the batches and the
        interpolates; the same seed gives the same result on the CPU.
    device : str or torch.device, default "auto"
        Where to train: ``"auto"`` picks CUDA when available, else the CPU.
    progress : bool, default False
        Show a progress bar (tqdm) during training.

    Returns
    -------
    DualResult
        ``distance``, ``stderr``, ``interval``, ``train_distance``,
        ``lipschitz``, ``critic``, ``history``, ``steps``, ``seconds``,
        ``device``, and ``estimate(samples_p, samples_q)`` for autograd.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, different dimensions, too few samples to
        hold out, an unknown option or an out-of-range number, or
        ``device="cuda"`` without a GPU.
    TypeError
        If samples are not arrays, tensors or callables, or ``critic`` is not a
        :class:`Critic`.
    TrainingDivergedError
        If the loss becomes NaN or infinite; the message names the step.

    Notes
    -----
    The estimate is a statistic of the held-out samples, so ``interval``
    accounts for their noise only. A critic that is not optimal
    under-estimates; one that is not 1-Lipschitz over-estimates (see
    ``lipschitz``).

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
    >>> bool(abs(result.distance - 2.0) < 0.2)
    True
    """
    start = time.perf_counter()
    penalty = check_option(penalty, "penalty", PENALTIES)
    weight = _DEFAULT_WEIGHT[penalty] if penalty_weight is None else penalty_weight
    weight = check_real(weight, "penalty_weight", minimum=0.0)
    optimizer = check_option(
        _DEFAULT_OPTIMIZER[penalty] if optimizer is None else optimizer, "optimizer", OPTIMIZERS
    )
    rate = _DEFAULT_LEARNING_RATE[optimizer] if learning_rate is None else learning_rate
    rate = check_real(rate, "learning_rate", minimum=0.0)
    activation = check_option(activation, "activation", ACTIVATIONS)
    depth = check_count(depth, "depth")
    batch_size = check_count(batch_size, "batch_size")
    steps = check_count(steps, "steps")
    evaluation_size = check_count(evaluation_size, "evaluation_size", minimum=2)
    holdout = check_real(holdout, "holdout")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be strictly between 0 and 1; got {holdout}")
    seed = check_seed(seed)
    if critic is not None and not isinstance(critic, Critic):
        raise TypeError(
            "critic must be a divergences Critic (such as result.critic); "
            f"got {type(critic).__name__}"
        )
    target = _resolve_device(device)
    rng = np.random.default_rng(seed)
    source_p = _source(samples_p, "samples_p", holdout, evaluation_size, target, rng)
    source_q = _source(samples_q, "samples_q", holdout, evaluation_size, target, rng)
    if source_p.dim != source_q.dim:
        raise ValueError(
            "samples_p and samples_q must have the same dimension d; "
            f"got {source_p.dim} and {source_q.dim}"
        )
    dim = source_p.dim
    if critic is not None and critic.dim != dim:
        raise ValueError(f"critic was built for d = {critic.dim}, but the samples have d = {dim}")

    torch_seed = int(rng.integers(2**62))
    generator = torch.Generator(device=target).manual_seed(torch_seed)
    if critic is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)
            model = Critic(
                dim,
                default_width(dim) if width is None else check_count(width, "width"),
                depth,
                activation,
            )
        model = model.to(target)
        reference = [s.train if s.train is not None else s.held_out for s in (source_p, source_q)]
        model.standardise_inputs(torch.cat(reference))
    else:
        model = copy.deepcopy(critic).to(target)

    optim = _optimizer(optimizer, list(model.parameters()), rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, steps)

    def sample(size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return source_p.batch(size, gen), source_q.batch(size, gen)

    objective = KantorovichDual(penalty, weight)
    history = train(
        model,
        objective,
        sample,
        optim,
        steps=steps,
        batch_size=batch_size,
        generator=generator,
        schedule=schedule,
        progress=progress,
    )
    model.eval()

    fit_p = (
        source_p.train
        if source_p.train is not None
        else source_p.batch(evaluation_size, generator)
    )
    fit_q = (
        source_q.train
        if source_q.train is not None
        else source_q.batch(evaluation_size, generator)
    )
    if rescale:
        slope = float(_gradient_norms(model, _probe_points(fit_p, fit_q, generator)).mean())
        if slope > 0:
            with torch.no_grad():
                model.scale.div_(slope)
    mean_p, var_p = _mean_and_variance(model, source_p.held_out)
    mean_q, var_q = _mean_and_variance(model, source_q.held_out)
    distance = mean_p - mean_q
    stderr = math.sqrt(var_p / source_p.held_out.shape[0] + var_q / source_q.held_out.shape[0])
    train_p, _ = _mean_and_variance(model, fit_p)
    train_q, _ = _mean_and_variance(model, fit_q)
    held_out_norms = _gradient_norms(
        model, _probe_points(source_p.held_out, source_q.held_out, generator)
    )
    lipschitz = float(held_out_norms.max())
    # The rescaling is exact for a critic of constant slope; the spread of its
    # slopes on held-out interpolates (the last third of the probe points) sizes
    # the error that remains, which the sampling noise alone does not show.
    interpolate_norms = held_out_norms[2 * (held_out_norms.shape[0] // 3) :].double()
    systematic = abs(distance) * float(interpolate_norms.std() / interpolate_norms.mean())
    half_width = math.hypot(1.96 * stderr, systematic)
    return DualResult(
        distance=distance,
        stderr=stderr,
        interval=(distance - half_width, distance + half_width),
        systematic=systematic,
        train_distance=train_p - train_q,
        lipschitz=lipschitz,
        critic=model,
        history=history,
        steps=steps,
        seconds=time.perf_counter() - start,
        device=str(target),
    )
