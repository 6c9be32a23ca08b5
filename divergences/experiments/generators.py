"""Training real generators with every loss: the claims of the WGAN papers, measured.

The same small generator (an MLP from 2-D Gaussian noise to the plane) is
trained from the same initialisation with each loss of
:mod:`divergences.losses` on the toy targets of Gulrajani et al. (2017): eight
Gaussians on a ring, 25 on a grid, and a Swiss roll. Every few hundred steps
the library measures it: the exact W1 between fresh generated and target
samples (next to the noise floor, the W1 between two independent target
samples of the same size), the modes covered, and the share of samples near a
mode.

Computation only: :func:`train_generator` returns a :class:`Run` of numbers
and arrays, on any device (the samples come back to the CPU);
:mod:`~divergences.experiments.plots` draws the figures and
``benchmarks/generator_training.py`` (and ``divergences train-generators``)
write the files.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from divergences._validation import torch_seed
from divergences.neural._trainer import cpu_threads
from divergences.transport import wasserstein

__all__ = [
    "LOSSES",
    "SCHEDULES",
    "TARGETS",
    "Checkpoint",
    "Run",
    "Target",
    "generator_network",
    "mode_coverage",
    "noise_floor",
    "train_generator",
]


@dataclass(frozen=True)
class Target:
    """A target distribution in the plane: a sampler, and its modes (none for a curve)."""

    name: str
    modes: np.ndarray  # (K, 2) centres, or (0, 2)
    sd: float  # each mode's standard deviation (the noise around the curve for the roll)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if self.modes.shape[0]:
            centres = self.modes[rng.integers(self.modes.shape[0], size=n)]
            return centres + self.sd * rng.standard_normal((n, 2))
        # the Swiss roll: t in [1.5 pi, 4.5 pi], radius t, scaled to about the ring's size
        t = 1.5 * math.pi * (1 + 2 * rng.uniform(size=n))
        curve = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 7.5
        return curve + self.sd * rng.standard_normal((n, 2))


def _ring() -> np.ndarray:
    angles = np.arange(8) * math.pi / 4
    return 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _grid() -> np.ndarray:
    values = np.arange(-2.0, 3.0)
    return np.stack(np.meshgrid(values, values), axis=-1).reshape(-1, 2)


#: The targets of Gulrajani et al. (2017), Figure 2, at the scale of a unit.
TARGETS = {
    "ring": Target("8 Gaussians on a ring", _ring(), 0.05),
    "grid": Target("25 Gaussians on a grid", _grid(), 0.05),
    "roll": Target("Swiss roll", np.zeros((0, 2)), 0.05),
}


def _losses() -> dict[str, Callable[[int], nn.Module]]:
    """Each loss with its defaults, its networks (if any) seeded by the run's seed."""
    import divergences.losses as losses

    return {
        "wasserstein": lambda seed: losses.WassersteinLoss(seed=seed),
        "gan_saturating": lambda seed: losses.GANLoss("saturating", seed=seed),
        "gan_non_saturating": lambda seed: losses.GANLoss("non_saturating", seed=seed),
        "exact": lambda seed: losses.ExactWassersteinLoss(),
        "sinkhorn": lambda seed: losses.SinkhornLoss(),
        "energy": lambda seed: losses.EnergyLoss(),
    }


#: The losses compared, by name, with what they are.
LOSSES = {
    "wasserstein": "WassersteinLoss: a WGAN-GP critic, 5 critic steps per generator step",
    "gan_saturating": "GANLoss saturating: E log(1 - D), the original minimax game",
    "gan_non_saturating": "GANLoss non-saturating: -E log D",
    "exact": "ExactWassersteinLoss: the exact W1 between the two batches (LP)",
    "sinkhorn": "SinkhornLoss: the debiased Sinkhorn divergence",
    "energy": "EnergyLoss: the energy distance (MMD with the distance kernel)",
}


#: The generator's learning-rate schedules.
SCHEDULES = {
    "linear": "decayed linearly to 0 over the steps",
    "constant": "held constant",
}


def generator_network(seed: int, width: int = 128) -> nn.Module:
    """The generator every loss trains: noise (2) -> 128 -> 128 -> 128 -> plane (2), ReLU."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed(seed))
        return nn.Sequential(
            nn.Linear(2, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, width),
            nn.ReLU(),
            nn.Linear(width, 2),
        )


def mode_coverage(samples: np.ndarray, target: Target, share: float = 0.25) -> tuple[int, float]:
    """Modes covered and the share of samples near a mode.

    A sample is near a mode when it lies within 3 standard deviations of its
    centre; a mode is covered when at least ``share`` of its fair share of
    the samples (n / K) is near it. For a target without modes (the roll)
    both are reported for the curve: (0, share of samples within 3 sd of it).
    """
    if target.modes.shape[0] == 0:
        reference = target.sample(20_000, np.random.default_rng(0))
        from scipy.spatial import cKDTree

        nearest, _ = cKDTree(reference).query(samples)
        return 0, float(np.mean(nearest < 3 * target.sd))
    distances = np.linalg.norm(samples[:, None, :] - target.modes[None, :, :], axis=-1)
    nearest = distances.argmin(axis=1)
    near = distances[np.arange(len(samples)), nearest] < 3 * target.sd
    counts = np.bincount(nearest[near], minlength=target.modes.shape[0])
    fair = len(samples) / target.modes.shape[0]
    return int(np.sum(counts >= share * fair)), float(np.mean(near))


#: Noise floors already computed in this process, by :func:`_floor_key`.
_FLOORS: dict[tuple[str, int, int], tuple[float, float]] = {}


def _floor_key(target: Target, size: int, pairs: int) -> tuple[str, int, int]:
    return (f"{target.name} {target.sd} {target.modes.tobytes().hex()}", size, pairs)


def noise_floor(target: Target, size: int, pairs: int = 20) -> tuple[float, float]:
    """The noise floor: the exact W1 between two independent target samples of ``size``.

    Its mean and standard deviation over ``pairs`` independent pairs (from a
    fixed seed: the floor is a property of the target and the size, the same
    for every run). One pair is a noisy reference, because the share of
    samples in each mode varies from draw to draw.
    """
    if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 1:
        raise ValueError(f"pairs must be a positive integer; got {pairs!r}")
    key = _floor_key(target, size, pairs)
    if key not in _FLOORS:
        rng = np.random.default_rng(10**6)
        values = [
            float(wasserstein(target.sample(size, rng), target.sample(size, rng)))
            for _ in range(pairs)
        ]
        spread = float(np.std(values, ddof=1)) if pairs > 1 else 0.0
        _FLOORS[key] = (float(np.mean(values)), spread)
    return _FLOORS[key]


def _evaluation_draw(
    generator: nn.Module,
    noise: torch.Generator,
    spec: Target,
    size: int,
    label: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """One measure's samples: ``size`` generated (from ``noise``) and ``size`` target
    samples, the latter from a generator seeded by ``label`` = (seed, step, draw)."""
    with torch.no_grad():
        z = torch.randn(size, 2, generator=noise, device=noise.device)
        fake = generator(z).double().cpu().numpy()
    return fake, spec.sample(size, np.random.default_rng((2, *label)))


#: The exact W1 of step-0 measures already solved in this process, by the content of
#: both samples. Every loss starts from the same generator, noise and target draw for a
#: (target, seed, size), so the benchmark solves each start once (``_start_entry``)
#: instead of once per loss; a sample that differs in any bit is solved afresh.
_STARTS: dict[bytes, float] = {}


def _samples_key(fake: np.ndarray, real: np.ndarray) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    for array in (fake, real):
        digest.update(repr((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()


def _start_w1(fake: np.ndarray, real: np.ndarray) -> float:
    key = _samples_key(fake, real)
    if key not in _STARTS:
        _STARTS[key] = float(wasserstein(fake, real))
    return _STARTS[key]


def _start_entry(target: str, seed: int, size: int, device: str = "cpu") -> tuple[bytes, float]:
    """The step-0 measure of every run on ``(target, seed)`` at ``size``, solved once.

    Returns the cache entry (the samples' key and their exact W1) that
    :func:`train_generator` would compute at step 0 with that seed, evaluation
    size and device, whatever the loss: a process that adds it to ``_STARTS``
    skips that solve. Computed on one CPU thread, as the runs are.
    """
    spec = TARGETS[target]
    torch_device = torch.device(device)
    with cpu_threads(1 if torch_device.type == "cpu" else None):
        generator = generator_network(seed).to(torch_device)
        noise = torch.Generator(device=torch_device).manual_seed(torch_seed(seed))
        fake, real = _evaluation_draw(generator, noise, spec, size, (seed, 0, 0))
        return _samples_key(fake, real), _start_w1(fake, real)


@dataclass(frozen=True)
class Checkpoint:
    """The generator's measures at one step."""

    step: int
    seconds: float
    w1: float  # the mean over the checkpoint's draws
    modes: int  # from the first draw
    near: float  # from the first draw
    draws: int = 1


@dataclass(frozen=True)
class Run:
    """One (loss, target, seed) training run."""

    loss: str
    target: str
    seed: int
    learning_rate: float
    steps: int
    floor: float  # the mean over independent pairs
    floor_sd: float  # the spread of a single pair
    checkpoints: list[Checkpoint]
    samples: np.ndarray = field(repr=False)
    seconds: float


def train_generator(
    loss: str,
    target: str,
    *,
    steps: int = 2000,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    every: int = 200,
    evaluation_size: int = 2000,
    seed: int = 0,
    device: str = "cpu",
    schedule: str = "linear",
    final_draws: int = 5,
) -> Run:
    """Train the generator on ``target`` with ``loss`` and measure it every ``every`` steps.

    The generator starts from the same weights for every loss (``seed``) and
    is trained by Adam (betas 0.5, 0.9) for ``steps`` steps of ``batch_size``
    noise and target samples, at ``learning_rate`` decayed linearly to 0 over
    the steps (``schedule="linear"``, as in Gulrajani et al.'s image
    experiments) or held constant
    (``"constant"``); the loss's own networks
    (a critic, a discriminator) use its defaults, seeded by ``seed``, so that a
    run gives the same numbers whatever ran before it in the process. Each measure draws
    ``evaluation_size`` fresh samples of each; the last one averages the W1
    of ``final_draws`` such draws (one draw's W1 varies with the share of
    samples in each mode), the modes and the share near them come from its
    first draw. The
    noise floor is the mean exact W1 between two independent target samples
    of that size (:func:`noise_floor`).
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}; got {loss!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(map(repr, TARGETS))}; got {target!r}")
    if schedule not in SCHEDULES:
        raise ValueError(
            f"schedule must be one of {', '.join(map(repr, SCHEDULES))}; got {schedule!r}"
        )
    if isinstance(final_draws, bool) or not isinstance(final_draws, int) or final_draws < 1:
        raise ValueError(f"final_draws must be a positive integer; got {final_draws!r}")
    # Small networks: one CPU thread each (two thrash when another process is busy, see
    # divergences.neural.train); the benchmark runs two trainings at once instead.
    threads = 1 if torch.device(device).type == "cpu" else None
    with cpu_threads(threads):
        return _train_generator(
            loss,
            target,
            steps,
            batch_size,
            learning_rate,
            every,
            evaluation_size,
            seed,
            device,
            schedule,
            final_draws,
        )


def _train_generator(
    loss: str,
    target: str,
    steps: int,
    batch_size: int,
    learning_rate: float,
    every: int,
    evaluation_size: int,
    seed: int,
    device: str,
    schedule: str,
    final_draws: int,
) -> Run:
    spec = TARGETS[target]
    torch_device = torch.device(device)
    generator = generator_network(seed).to(torch_device)
    objective = _losses()[loss](seed).to(torch_device)
    optimizer = torch.optim.Adam(generator.parameters(), lr=learning_rate, betas=(0.5, 0.9))
    decay = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda done: 1 - done / steps if schedule == "linear" else 1.0
    )
    data = np.random.default_rng(seed)
    noise = torch.Generator(device=torch_device).manual_seed(torch_seed(seed))
    checkpoints: list[Checkpoint] = []
    floor, floor_sd = noise_floor(spec, evaluation_size)
    # the losses' first optimiser pays torch's one-time import of its compiler, which
    # would be charged to the first loss timed; pay it before the clock starts
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    start, measuring = time.perf_counter(), 0.0

    def measure(step: int, draws: int = 1) -> None:
        nonlocal measuring
        began = time.perf_counter()
        w1, fakes = [], []
        for draw in range(draws):
            fake, real = _evaluation_draw(
                generator, noise, spec, evaluation_size, (seed, step, draw)
            )
            fakes.append(fake)
            w1.append(_start_w1(fake, real) if step == 0 else float(wasserstein(fake, real)))
        modes, near = mode_coverage(fakes[0], spec)
        measuring += time.perf_counter() - began
        checkpoints.append(
            Checkpoint(
                step=step,
                seconds=time.perf_counter() - start - measuring,
                w1=float(np.mean(w1)),
                modes=modes,
                near=near,
                draws=draws,
            )
        )

    measure(0)
    for step in range(1, steps + 1):
        z = torch.randn(batch_size, 2, generator=noise, device=torch_device)
        real = torch.as_tensor(
            spec.sample(batch_size, data), dtype=torch.float32, device=torch_device
        )
        value = objective(generator(z), real)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        decay.step()
        if step == steps:
            measure(step, final_draws)
        elif step % every == 0:
            measure(step)
    seconds = time.perf_counter() - start - measuring
    with torch.no_grad():
        z = torch.randn(evaluation_size, 2, generator=noise, device=torch_device)
        samples = generator(z).cpu().numpy()
    return Run(
        loss=loss,
        target=target,
        seed=seed,
        learning_rate=learning_rate,
        steps=steps,
        floor=floor,
        floor_sd=floor_sd,
        checkpoints=checkpoints,
        samples=samples,
        seconds=seconds,
    )
