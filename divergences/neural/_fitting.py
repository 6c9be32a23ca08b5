"""The machinery every neural estimator shares: checked options, samples split
into training and held-out parts (or drawn from callables), networks built or
warm-started, and training one network, or a stack of K, with the generic loop.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from divergences._validation import (
    as_samples,
    backend_for,
    check_count,
    check_option,
    check_real,
    check_seed,
)
from divergences.neural._networks import ACTIVATIONS, Critic, CriticStack, default_width
from divergences.neural._trainer import Objective, TrainingHistory, train

OPTIMIZERS = ("adam", "rmsprop")
_DEFAULT_LEARNING_RATE = {"adam": 1e-3, "rmsprop": 5e-5}
_EVALUATION_CHUNK = 65536


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

    def fitted(self, size: int, generator: torch.Generator) -> torch.Tensor:
        """The samples the network was fitted on: the training array, or a fresh draw."""
        return self.train if self.train is not None else self.batch(size, generator)

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


def _optimizer(name: str, parameters: list, rate: float) -> torch.optim.Optimizer:
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=rate)
    try:  # the fused kernel is a few percent faster where this torch build has it
        return torch.optim.Adam(parameters, lr=rate, betas=(0.5, 0.9), fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(parameters, lr=rate, betas=(0.5, 0.9))


@dataclass(frozen=True)
class Options:
    """The checked training options shared by the neural estimators."""

    width: int | None
    depth: int
    activation: str
    optimizer: str
    learning_rate: float
    batch_size: int
    steps: int
    holdout: float
    evaluation_size: int
    seed: int | None
    device: torch.device
    progress: bool


def check_options(
    *,
    width: Any,
    depth: Any,
    activation: Any,
    optimizer: Any,
    learning_rate: Any,
    batch_size: Any,
    steps: Any,
    holdout: Any,
    evaluation_size: Any,
    seed: Any,
    device: Any,
    progress: Any,
) -> Options:
    """Check every shared option once; errors name the option."""
    optimizer = check_option(optimizer, "optimizer", OPTIMIZERS)
    rate = _DEFAULT_LEARNING_RATE[optimizer] if learning_rate is None else learning_rate
    holdout = check_real(holdout, "holdout")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be strictly between 0 and 1; got {holdout}")
    return Options(
        width=None if width is None else check_count(width, "width"),
        depth=check_count(depth, "depth"),
        activation=check_option(activation, "activation", ACTIVATIONS),
        optimizer=optimizer,
        learning_rate=check_real(rate, "learning_rate", minimum=0.0),
        batch_size=check_count(batch_size, "batch_size"),
        steps=check_count(steps, "steps"),
        holdout=holdout,
        evaluation_size=check_count(evaluation_size, "evaluation_size", minimum=2),
        seed=check_seed(seed),
        device=_resolve_device(device),
        progress=bool(progress),
    )


def check_warm_start(network: Any, name: str) -> Critic | None:
    if network is not None and not isinstance(network, Critic):
        raise TypeError(
            f"{name} must be a divergences Critic (such as result.critic); "
            f"got {type(network).__name__}"
        )
    return network


def check_warm_starts(networks: Any, count: int, name: str) -> list[Critic | None]:
    """One warm start (or None) per problem of a batch; errors name ``name``."""
    if networks is None:
        return [None] * count
    if isinstance(networks, Critic) or not isinstance(networks, Sequence):
        raise TypeError(f"{name} must be a sequence of K Critic (or None) entries")
    if len(networks) != count:
        raise ValueError(f"{name} must hold one entry per problem ({count}); got {len(networks)}")
    return [check_warm_start(n, f"{name}[{k}]") for k, n in enumerate(networks)]


def sources(
    samples_p: Any, samples_q: Any, options: Options, rng: np.random.Generator, suffix: str = ""
) -> tuple[_Source, _Source]:
    """Both sides of one problem, split (or drawn), with matching dimensions."""
    name_p, name_q = f"samples_p{suffix}", f"samples_q{suffix}"
    size, holdout, device = options.evaluation_size, options.holdout, options.device
    source_p = _source(samples_p, name_p, holdout, size, device, rng)
    source_q = _source(samples_q, name_q, holdout, size, device, rng)
    if source_p.dim != source_q.dim:
        raise ValueError(
            f"{name_p} and {name_q} must have the same dimension d; "
            f"got {source_p.dim} and {source_q.dim}"
        )
    return source_p, source_q


def batch_sources(
    samples_p: Any, samples_q: Any, options: Options, rng: np.random.Generator
) -> list[tuple[_Source, _Source]]:
    """K problems from sequences of sample sets (one set on a side is shared by all K)."""
    sets_p, sets_q = _sample_sets(samples_p, "samples_p"), _sample_sets(samples_q, "samples_q")
    if sets_p is None and sets_q is None:
        raise ValueError(
            "samples_p or samples_q must be a sequence of K sample sets (or a (K, n, d) "
            "array); for one problem use the single-problem function"
        )
    count = len(sets_p if sets_p is not None else sets_q)  # type: ignore[arg-type]
    if sets_p is not None and sets_q is not None and len(sets_p) != len(sets_q):
        raise ValueError(
            f"samples_p and samples_q must hold the same number of sample sets; "
            f"got {len(sets_p)} and {len(sets_q)}"
        )
    pairs = []
    for k in range(count):
        p = samples_p if sets_p is None else sets_p[k]
        q = samples_q if sets_q is None else sets_q[k]
        pairs.append(sources(p, q, options, rng, suffix=f"[{k}]"))
    dims = {pair[0].dim for pair in pairs}
    if len(dims) > 1:
        raise ValueError(f"every problem of a batch must have the same dimension; got {dims}")
    return pairs


def _sample_sets(samples: Any, name: str) -> list | None:
    """A sequence of sample sets, or None where ``samples`` is one set for every problem."""
    if isinstance(samples, (np.ndarray, torch.Tensor)):
        if samples.ndim == 3:
            if samples.shape[0] == 0:
                raise ValueError(f"{name} must hold at least one sample set; got 0")
            return list(samples)
        return None
    if isinstance(samples, Sequence) and not isinstance(samples, str) and len(samples) > 0:
        first = samples[0]
        if (
            callable(first)
            or isinstance(first, (np.ndarray, torch.Tensor))
            or (isinstance(first, Sequence) and len(first) > 0 and isinstance(first[0], Sequence))
        ):
            return list(samples)
    return None


def fit(
    objective: Objective,
    pairs: list[tuple[_Source, _Source]],
    options: Options,
    rng: np.random.Generator,
    warm: Sequence[Critic | None],
    stacked: bool,
) -> tuple[list[Critic], list[TrainingHistory], torch.Generator]:
    """Train one network per problem (a stack of them if ``stacked``) on ``objective``."""
    device = options.device
    dim = pairs[0][0].dim
    for network in warm:
        if network is not None and network.dim != dim:
            raise ValueError(
                f"the warm-start network was built for d = {network.dim}, but the samples "
                f"have d = {dim}"
            )
    torch_seed = int(rng.integers(2**62))
    generator = torch.Generator(device=device).manual_seed(torch_seed)
    width = default_width(dim) if options.width is None else options.width
    networks = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        for (source_p, source_q), network in zip(pairs, warm, strict=True):
            if network is None:
                fresh = Critic(dim, width, options.depth, options.activation).to(device)
                reference = [
                    s.train if s.train is not None else s.held_out for s in (source_p, source_q)
                ]
                fresh.standardise_inputs(torch.cat(reference))
                networks.append(fresh)
            else:
                networks.append(copy.deepcopy(network).to(device))
    model: Critic | CriticStack = CriticStack(networks).to(device) if stacked else networks[0]
    optim = _optimizer(options.optimizer, list(model.parameters()), options.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optim, options.steps)
    sample = _stacked_sampler(pairs, device) if stacked else _sampler(*pairs[0])
    history = train(
        model,
        objective,
        sample,
        optim,
        steps=options.steps,
        batch_size=options.batch_size,
        generator=generator,
        schedule=schedule,
        progress=options.progress,
    )
    model.eval()
    if not stacked:
        return [networks[0]], [history], generator
    assert isinstance(model, CriticStack)
    count = len(pairs)
    return (
        [model.critic(k) for k in range(count)],
        [history.select(k) for k in range(count)],
        generator,
    )


def _sampler(source_p: _Source, source_q: _Source) -> Callable:
    def sample(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return source_p.batch(size, generator), source_q.batch(size, generator)

    return sample


def _stacked_sampler(pairs: list[tuple[_Source, _Source]], device: torch.device) -> Callable:
    """(K, size, d) batches for a stack: one gather from padded data where every
    side is an array (whatever its size), else one call per source."""
    sides = [[pair[side] for pair in pairs] for side in (0, 1)]

    def padded(side: list[_Source]) -> tuple[torch.Tensor, torch.Tensor] | None:
        if any(source.train is None for source in side):
            return None
        trains = [source.train for source in side if source.train is not None]
        longest = max(t.shape[0] for t in trains)
        data = torch.zeros(len(side), longest, side[0].dim, device=device)
        for k, t in enumerate(trains):
            data[k, : t.shape[0]] = t
        sizes = torch.tensor([t.shape[0] for t in trains], device=device)
        return data, sizes

    stacks = [padded(side) for side in sides]
    rows = torch.arange(len(pairs), device=device).unsqueeze(1)

    def draw(side: int, size: int, generator: torch.Generator) -> torch.Tensor:
        stack = stacks[side]
        if stack is None:
            return torch.stack([source.batch(size, generator) for source in sides[side]])
        data, sizes = stack
        uniform = torch.rand(len(pairs), size, generator=generator, device=device)
        index = (uniform * sizes.unsqueeze(1)).long().clamp_(max=data.shape[1] - 1)
        return data[rows, index]

    def sample(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return draw(0, size, generator), draw(1, size, generator)

    return sample


def mean_and_variance(values: torch.Tensor) -> tuple[float, float]:
    values = values.double()
    return float(values.mean()), float(values.var()) if values.numel() > 1 else 0.0


def evaluate(function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``function`` on ``x`` in chunks, without a graph."""
    with torch.no_grad():
        return torch.cat(
            [
                function(x[i : i + _EVALUATION_CHUNK])
                for i in range(0, x.shape[0], _EVALUATION_CHUNK)
            ]
        )
