"""The headline experiment: values and gradients of every method on disjoint supports.

P is uniform on the segment :math:`\\{0\\} \\times [0, 1]` and :math:`Q_\\theta` the
same segment moved to :math:`x = \\theta`. For :math:`\\theta \\ne 0` the supports
are disjoint: :math:`\\mathrm{KL} = +\\infty`, :math:`\\mathrm{JS} = \\log 2` and
:math:`W_1 = |\\theta|`. A generator that moves :math:`Q_\\theta` towards P needs
the derivative in :math:`\\theta`; this module measures it for each method by
autograd through the sample generator (samples of :math:`Q_\\theta` are
:math:`(\\theta, u)` with :math:`\\theta` a tensor), and shows what gradient
descent on :math:`\\theta` does with each loss.

Computation only: every function returns dataclasses of numbers and arrays,
on any device (results come back to the CPU); :mod:`~divergences.experiments.plots`
draws them and :mod:`~divergences.experiments.report` writes them to files.
The networks' settings are one :class:`~divergences.neural.TrainingOptions`,
passed whole to the estimators, so none can be dropped on the way.

* :func:`gradient_sweep`: value and :math:`d/d\\theta` over a grid of
  :math:`\\theta`, several seeds, for the closed forms, JS from histograms of
  the samples, the k-NN estimators, the exact W (POT), the neural critic and
  the GAN discriminator (its JS estimate and both generator losses). The
  critics and discriminators of a seed are trained as one stack.
* :func:`training_dynamics`: :math:`\\theta` descended from :math:`\\theta_0` by
  gradient steps on each loss, the critic or discriminator warm-started and
  trained for a few steps between updates, as GAN training does.
* :func:`critic_picture`: a trained critic and discriminator over the plane for
  two separated Gaussian clouds, with the gradients they give the generator.
* :func:`batched_timing`: K critics trained as one stack against one.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from divergences.closed_form import segments
from divergences.energy import energy_distance
from divergences.experiments.histograms import histogram_js
from divergences.families import segment_samples
from divergences.knn import js_knn, kl_knn
from divergences.neural import (
    TrainingOptions,
    js_dual,
    js_dual_batch,
    wasserstein_dual,
    wasserstein_dual_batch,
)
from divergences.neural._dual import trained_critics
from divergences.sinkhorn import sinkhorn_divergence
from divergences.transport import wasserstein

__all__ = [
    "DEFAULT_THETAS",
    "DYNAMICS_NETWORKS",
    "METHODS",
    "NETWORKS",
    "PICTURE_NETWORKS",
    "TIMING_NETWORKS",
    "CriticPicture",
    "StackTiming",
    "Sweep",
    "SweepRow",
    "Trajectory",
    "batched_timing",
    "critic_picture",
    "gradient_sweep",
    "summarise",
    "training_dynamics",
]

#: The default grid: [-2, 2] with 0 and small |theta|.
DEFAULT_THETAS = (
    -2.0, -1.5, -1.0, -0.5, -0.25, -0.1, -0.05, 0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0
)  # fmt: skip

#: Every method of the sweep, with what its value is.
METHODS = {
    "kl_exact": "KL, closed form",
    "js_exact": "JS, closed form",
    "w_exact": "W1, closed form",
    "js_histogram": "JS of histograms of the samples (linear binning)",
    "kl_knn": "KL, k-NN estimate",
    "js_knn": "JS, k-NN estimate",
    "w_lp": "W1, exact LP between the samples (POT)",
    "w_critic": "W1, neural critic (wasserstein_dual)",
    "sinkhorn_0.02": "Sinkhorn divergence, blur 0.02 (GeomLoss, 250 samples a side)",
    "sinkhorn_0.2": "Sinkhorn divergence, blur 0.2 (GeomLoss, 250 samples a side)",
    "energy": "energy distance",
    "js_discriminator": "JS, GAN discriminator (js_dual)",
    "gan_saturating": "GAN generator loss E_q log(1 - D)",
    "gan_non_saturating": "GAN generator loss -E_q log D",
}

#: The Sinkhorn divergence's solver costs O(n^2) per iteration and about 100 iterations
#: at the small blur, the dearest method of the sweep by far: the sweep gives it the
#: first 250 samples of each side, with GeomLoss's scaling 0.9.
SINKHORN_SAMPLES = 250
SINKHORN_BLURS = (0.02, 0.2)

#: The experiment's networks: small critics and discriminators (2 x 32, batch 128).
NETWORKS = TrainingOptions(width=32, depth=2, batch_size=128, steps=1000)
#: Between two steps of theta in the dynamics, the networks train this much.
DYNAMICS_NETWORKS = NETWORKS.replace(steps=50)
#: The critic picture's networks: the estimators' default networks.
PICTURE_NETWORKS = TrainingOptions(steps=1000)
#: The stack timing's networks.
TIMING_NETWORKS = NETWORKS.replace(steps=500)


@dataclass(frozen=True)
class SweepRow:
    """One method's value and derivative in theta at one theta (and seed)."""

    method: str
    theta: float
    seed: int | None
    value: float
    derivative: float


@dataclass(frozen=True)
class Sweep:
    """The sweep's rows, and the network settings the estimators recorded."""

    rows: list[SweepRow]
    networks: dict[str, Any]


@dataclass(frozen=True)
class Trajectory:
    """Theta along gradient descent on one loss, from ``theta0``."""

    method: str
    theta0: float
    thetas: list[float]


@dataclass(frozen=True)
class CriticPicture:
    """A critic and a discriminator over a grid of the plane, with the generator's steps."""

    p: np.ndarray
    q: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    critic: np.ndarray = field(repr=False)
    discriminator: np.ndarray = field(repr=False)
    arrows: np.ndarray = field(repr=False)
    directions: dict[str, np.ndarray] = field(repr=False)
    step_sizes: dict[str, float]
    w_estimate: float
    js_estimate: float
    networks: dict[str, Any]


@dataclass(frozen=True)
class StackTiming:
    """Wall time of ``count`` critics trained as one stack against one critic."""

    count: int
    samples: int
    one_seconds: float
    stack_seconds: float
    ratio: float
    networks: dict[str, Any]


def _theta_tensor(theta: float) -> torch.Tensor:
    return torch.tensor(theta, dtype=torch.float64, requires_grad=True)


def _value_and_derivative(loss: Any, theta: torch.Tensor) -> tuple[float, float]:
    """The loss and d loss / d theta; 0 where theta does not reach the loss."""
    (grad,) = torch.autograd.grad(loss, theta, allow_unused=True)
    return float(loss.detach()), 0.0 if grad is None else float(grad)


def _sample_based(
    theta: float, p: Any, seed: int, samples: int, bin_width: float, k: int
) -> dict[str, tuple[float, float]]:
    """Histogram JS, k-NN KL and JS, and the exact LP, through Q_theta's samples."""
    out = {}
    estimators: dict[str, Callable[[Any, Any], Any]] = {
        "js_histogram": lambda a, b: histogram_js(a, b, bin_width),
        "kl_knn": lambda a, b: kl_knn(a, b, k=k),
        "js_knn": lambda a, b: js_knn(a, b, k=k),
        "w_lp": wasserstein,
        "energy": energy_distance,
    }
    for blur in SINKHORN_BLURS:
        estimators[f"sinkhorn_{blur:g}"] = functools.partial(_sinkhorn, blur=blur)
    for name, estimator in estimators.items():
        t = _theta_tensor(theta)
        q = segment_samples(t, samples, seed=seed + 1)
        out[name] = _value_and_derivative(estimator(p, q), t)
    return out


def _sinkhorn(a: Any, b: Any, *, blur: float) -> Any:
    """The sweep's Sinkhorn divergence: the first SINKHORN_SAMPLES samples a side."""
    return sinkhorn_divergence(a[:SINKHORN_SAMPLES], b[:SINKHORN_SAMPLES], blur=blur, scaling=0.9)


def gradient_sweep(
    thetas: Sequence[float] = DEFAULT_THETAS,
    *,
    samples: int = 1000,
    seeds: int = 3,
    bin_width: float = 0.1,
    k: int = 5,
    networks: TrainingOptions = NETWORKS,
    progress: bool = False,
) -> Sweep:
    """Value and derivative in theta of every method, per theta and seed.

    One :class:`SweepRow` per method, theta and seed (see :data:`METHODS`);
    the closed forms have one row per theta (seed None), KL's value is inf
    and its derivative NaN for theta != 0. The critics and discriminators
    (``networks``, with the seed replaced by the sweep's) train on
    ``samples`` samples a side; their derivative is autograd through their
    estimate on fresh samples of P and Q_theta.
    """
    rows: list[SweepRow] = []
    for theta in thetas:
        for measure, name in (("kl", "kl_exact"), ("js", "js_exact"), ("wasserstein", "w_exact")):
            reference = segments(theta, measure=measure)
            rows.append(
                SweepRow(name, theta, None, float(reference.value), float(reference.derivative))
            )
    recorded: dict[str, Any] = {}
    with _bar(seeds * (len(thetas) + 2), progress, "gradient sweep") as advance:
        for seed in range(seeds):
            base = 1000 * seed
            p = segment_samples(torch.tensor(0.0, dtype=torch.float64), samples, seed=base)
            for theta in thetas:
                for name, (value, derivative) in _sample_based(
                    theta, p, base, samples, bin_width, k
                ).items():
                    rows.append(SweepRow(name, theta, seed, value, derivative))
                advance()
            p_train = np.asarray(segment_samples(0.0, samples, seed=base + 2))
            q_train = [np.asarray(segment_samples(t, samples, seed=base + 3)) for t in thetas]
            options = networks.replace(seed=seed)
            critics = wasserstein_dual_batch(p_train, q_train, options=options)
            advance()
            discriminators = js_dual_batch(p_train, q_train, options=options)
            advance()
            recorded = _recorded(critics[0], critics[0].critic)
            for theta, critic, discriminator in zip(thetas, critics, discriminators, strict=True):
                rows += _neural_rows(theta, seed, critic, discriminator, samples, base)
    return Sweep(rows, recorded)


def _recorded(result: Any, network: Any) -> dict[str, Any]:
    """The settings an estimator's result records, with its trained network's shape."""
    return {**result.options.as_dict(), "width": network.width, "depth": network.depth}


def _neural_rows(
    theta: float, seed: int, critic: Any, discriminator: Any, samples: int, base: int
) -> list[SweepRow]:
    fresh_p = segment_samples(0.0, samples, seed=base + 4)
    rows = []
    t = _theta_tensor(theta)
    _, derivative = _value_and_derivative(
        critic.estimate(fresh_p, segment_samples(t, samples, seed=base + 5)), t
    )
    rows.append(SweepRow("w_critic", theta, seed, critic.distance, derivative))
    t = _theta_tensor(theta)
    _, derivative = _value_and_derivative(
        discriminator.estimate(fresh_p, segment_samples(t, samples, seed=base + 5)), t
    )
    rows.append(SweepRow("js_discriminator", theta, seed, discriminator.divergence, derivative))
    for kind in ("saturating", "non_saturating"):
        t = _theta_tensor(theta)
        loss = discriminator.generator_loss(segment_samples(t, samples, seed=base + 5), kind)
        rows.append(SweepRow(f"gan_{kind}", theta, seed, *_value_and_derivative(loss, t)))
    return rows


def training_dynamics(
    theta0s: Sequence[float] = (2.0, 0.5),
    *,
    iterations: int = 60,
    learning_rate: float = 0.05,
    samples: int = 500,
    bin_width: float = 0.1,
    seed: int = 0,
    networks: TrainingOptions = DYNAMICS_NETWORKS,
    progress: bool = False,
) -> list[Trajectory]:
    """Gradient descent on theta with each loss, from each theta0.

    At every iteration fresh samples of P and Q_theta are drawn; the critic or
    discriminator (warm-started from the previous iteration) trains
    ``networks.steps`` steps on them, then theta moves by ``-learning_rate``
    times the loss's derivative. Returns one :class:`Trajectory` per method and
    theta0, with ``iterations + 1`` values.
    """
    methods = ("w_lp", "w_critic", "gan_saturating", "gan_non_saturating", "js_histogram")
    origin = torch.tensor(0.0, dtype=torch.float64)
    trajectories = []
    with _bar(len(theta0s) * len(methods), progress, "training dynamics") as advance:
        for theta0 in theta0s:
            for method in methods:
                theta = float(theta0)
                path = [theta]
                network: Any = None
                for step in range(iterations):
                    draw = seed * 100_000 + 2 * step
                    p = segment_samples(origin, samples, seed=draw)
                    t = _theta_tensor(theta)
                    q: Any = segment_samples(t, samples, seed=draw + 1)
                    options = networks.replace(seed=seed + step)
                    if method == "w_lp":
                        loss = wasserstein(p, q)
                    elif method == "js_histogram":
                        loss = histogram_js(p, q, bin_width)
                    elif method == "w_critic":
                        # the critic alone: its gradient is what a generator follows,
                        # and the certified side of every step would cost several times it
                        (network,) = trained_critics(
                            p, q.detach(), warm_start=network, options=options
                        )
                        loss = network(p).mean() - network(q).mean()
                    else:
                        gan = js_dual(p, q.detach(), warm_start=network, options=options)
                        network = gan.discriminator
                        loss = gan.generator_loss(q, method.removeprefix("gan_"))
                    _, derivative = _value_and_derivative(loss, t)
                    theta -= learning_rate * derivative
                    path.append(theta)
                trajectories.append(Trajectory(method, float(theta0), path))
                advance()
    return trajectories


def critic_picture(
    *,
    samples: int = 500,
    separation: float = 4.0,
    spread: float = 0.3,
    grid: int = 60,
    seed: int = 0,
    networks: TrainingOptions = PICTURE_NETWORKS,
    progress: bool = False,
) -> CriticPicture:
    """A critic and a discriminator over the plane for two separated Gaussian clouds.

    P = N((-separation/2, 0), spread^2 I) and Q = N((separation/2, 0), spread^2 I).
    Returns the samples, a grid of critic values f and discriminator
    probabilities D, and at Q's samples the direction in which each loss moves
    them: :math:`\\nabla f` for the critic (the generator lowers
    :math:`E_p f - E_q f`), :math:`-\\nabla \\log(1 - D)` (saturating) and
    :math:`\\nabla \\log D` (non-saturating) for the discriminator. The
    networks train wherever ``networks.device`` says; everything returned is
    on the CPU.
    """
    rng = np.random.default_rng(seed)
    shift = np.array([separation / 2, 0.0])
    p = rng.normal(scale=spread, size=(samples, 2)) - shift
    q = rng.normal(scale=spread, size=(samples, 2)) + shift
    options = networks.replace(seed=seed)
    with _bar(2, progress, "critic picture") as advance:
        critic = wasserstein_dual(p, q, options=options)
        advance()
        discriminator = js_dual(p, q, options=options)
        advance()
    reach = separation / 2 + 4 * spread + 0.5
    xs = np.linspace(-reach, reach, grid)
    ys = np.linspace(-reach / 2, reach / 2, grid // 2)
    mesh = torch.as_tensor(np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2))
    with torch.no_grad():
        f = critic.critic(mesh).cpu().numpy()
        d = discriminator.probability(mesh).cpu().numpy()
    arrows = q[:: max(1, samples // 40)]
    losses: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "critic": lambda x: -critic.critic(x).sum(),
        "saturating": lambda x: discriminator.generator_loss(x, "saturating") * len(x),
        "non_saturating": lambda x: discriminator.generator_loss(x, "non_saturating") * len(x),
    }
    directions = {}
    for name, loss in losses.items():
        x = torch.as_tensor(arrows, dtype=torch.float32).requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(x), x)
        directions[name] = (-grad).cpu().numpy()  # the generator descends its loss
    return CriticPicture(
        p=p,
        q=q,
        xs=xs,
        ys=ys,
        critic=f.reshape(len(ys), len(xs)),
        discriminator=d.reshape(len(ys), len(xs)),
        arrows=arrows,
        directions=directions,
        step_sizes={
            name: float(np.median(np.linalg.norm(v, axis=1))) for name, v in directions.items()
        },
        w_estimate=critic.distance,
        js_estimate=discriminator.divergence,
        networks=_recorded(critic, critic.critic),
    )


def batched_timing(
    *,
    count: int = 16,
    samples: int = 1000,
    rounds: int = 5,
    networks: TrainingOptions = TIMING_NETWORKS,
    progress: bool = False,
) -> StackTiming:
    """Wall time of ``count`` critics trained as one stack against one critic alone.

    The training and calibration that :func:`wasserstein_dual_batch` and
    :func:`wasserstein_dual` run, without the certified side (whose cost grows with
    the number of problems in either). Same networks, batch and steps
    (``networks``); the two are timed
    alternately, ``rounds`` times after a warm-up, and the median ratio is
    reported.
    """
    p = np.asarray(segment_samples(0.0, samples, seed=0))
    qs = [np.asarray(segment_samples(t, samples, seed=1)) for t in np.linspace(-2, 2, count)]
    options = networks.replace(seed=0)
    device = options.torch_device

    def seconds(function: Callable[[], Any]) -> float:
        start = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    ones, stacks = [], []
    with _bar(rounds + 1, progress, "stack timing") as advance:
        warm = wasserstein_dual(p, qs[0], options=options)
        advance()
        for _ in range(rounds):
            # the critics' training, which the stack shares; the certified side of each
            # problem costs the same either way
            ones.append(seconds(lambda: trained_critics(p, qs[0], options=options)))
            stacks.append(seconds(lambda: trained_critics(p, qs, batch=True, options=options)))
            advance()
    return StackTiming(
        count=count,
        samples=samples,
        one_seconds=statistics.median(ones),
        stack_seconds=statistics.median(stacks),
        ratio=statistics.median(s / o for s, o in zip(stacks, ones, strict=True)),
        networks=_recorded(warm, warm.critic),
    )


def summarise(rows: Sequence[SweepRow]) -> dict[str, dict[str, list[float]]]:
    """Per method: theta, and mean and sd (over seeds) of value and derivative.

    A non-finite value (KL's inf) has sd 0.
    """
    out: dict[str, dict[str, list[float]]] = {}
    for method in METHODS:
        mine = [r for r in rows if r.method == method]
        entry: dict[str, list[float]] = {
            key: [] for key in ("theta", "value", "value_sd", "derivative", "derivative_sd")
        }
        for theta in sorted({r.theta for r in mine}):
            at = [r for r in mine if r.theta == theta]
            entry["theta"].append(theta)
            for key in ("value", "derivative"):
                values = np.array([getattr(r, key) for r in at])
                entry[key].append(float(np.mean(values)))
                finite = bool(np.all(np.isfinite(values)))
                entry[f"{key}_sd"].append(float(np.std(values)) if finite else 0.0)
        out[method] = entry
    return out


@contextmanager
def _bar(total: int, enabled: bool, description: str) -> Iterator[Callable[[], None]]:
    """A progress bar (tqdm) over ``total`` tasks, or nothing; yields ``advance()``."""
    if not enabled:
        yield lambda: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=description, unit="task")
    try:
        yield lambda: bar.update(1)
    finally:
        bar.close()
