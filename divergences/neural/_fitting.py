"""The one driver behind every neural estimator, single problem or batch.

:func:`fit` takes an objective, the samples of one problem (or of K), the
warm starts and the :class:`~divergences.neural.TrainingOptions`; it splits
each sample array into training and held-out parts (callables are drawn from
instead), builds or warm-starts one network per problem, trains the K networks
as one :class:`~divergences.neural.CriticStack` with
:func:`~divergences.neural.train`, and hands back each trained network with its
samples. A single problem is the case K = 1, so ``wasserstein_dual(x, y)`` is
exactly ``wasserstein_dual_batch([x], [y])[0]``. The estimators then evaluate
what they need on the held-out samples.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from divergences._validation import as_samples, backend_for
from divergences.neural._networks import Critic, CriticStack, default_width
from divergences.neural._trainer import Objective, TrainingHistory, train
from divergences.neural.options import TrainingOptions

# Rows per forward pass when a trained network is evaluated on many samples.
EVALUATION_CHUNK = 65536
_DEFAULT_DEPTH = 3
_DEFAULT_ACTIVATION = "leaky_relu"


def as_tensor(samples: Any, name: str, device: torch.device) -> torch.Tensor:
    """Validated (n, d) samples as a float32 tensor on ``device``, keeping autograd."""
    backend = backend_for(**{name: samples})
    x = as_samples(samples, name, backend)
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    return x.to(device=device, dtype=torch.float32)


@dataclass
class _Source:
    """Training and held-out samples of one distribution: a fixed array or a callable."""

    name: str
    train: torch.Tensor | None
    held_out: torch.Tensor
    held_out_index: np.ndarray | None
    draw: Callable[[int], Any] | None
    dim: int

    def fitted(self, size: int) -> torch.Tensor:
        """The samples the network was fitted on: the training array, or a fresh draw."""
        return self.train if self.train is not None else self.call(size)

    def call(self, size: int) -> torch.Tensor:
        """A fresh (size, d) batch from the callable, checked."""
        if self.draw is None:
            raise TypeError(f"{self.name} is an array, not a callable")
        batch = self.draw(size)
        x = batch if isinstance(batch, torch.Tensor) else torch.as_tensor(np.asarray(batch))
        x = x.to(device=self.held_out.device, dtype=torch.float32)
        if x.ndim == 1 and self.dim == 1:
            x = x.reshape(-1, 1)
        if tuple(x.shape) != (size, self.dim):
            raise ValueError(
                f"{self.name} returned a batch of shape {tuple(x.shape)} for a request of "
                f"{size}; expected ({size}, {self.dim})"
            )
        return x.detach()


def _source(
    samples: Any, name: str, options: TrainingOptions, rng: np.random.Generator
) -> _Source:
    device = options.torch_device
    if callable(samples) and not isinstance(samples, (np.ndarray, torch.Tensor)):
        first = as_tensor(samples(2), f"{name}(2)", device).detach()
        source = _Source(name, None, first, None, samples, first.shape[1])
        source.held_out = as_tensor(source.call(options.evaluation_size), name, device)
        return source
    x = as_tensor(samples, name, device).detach()
    n = x.shape[0]
    n_held = max(2, round(options.holdout * n))
    if n - n_held < 2:
        raise ValueError(
            f"{name} has {n} samples: too few to hold out {options.holdout:.0%} and train on "
            "the rest (at least 2 held out and 2 for training)"
        )
    order = rng.permutation(n)
    index = torch.as_tensor(order, device=device)
    return _Source(name, x[index[n_held:]], x[index[:n_held]], order[:n_held], None, x.shape[1])


def _pair(
    samples_p: Any, samples_q: Any, options: TrainingOptions, rng: np.random.Generator, suffix: str
) -> tuple[_Source, _Source]:
    """Both sides of one problem, split (or drawn), with matching dimensions."""
    name_p, name_q = f"samples_p{suffix}", f"samples_q{suffix}"
    source_p = _source(samples_p, name_p, options, rng)
    source_q = _source(samples_q, name_q, options, rng)
    if source_p.dim != source_q.dim:
        raise ValueError(
            f"{name_p} and {name_q} must have the same dimension d; "
            f"got {source_p.dim} and {source_q.dim}"
        )
    return source_p, source_q


def _problems(
    samples_p: Any,
    samples_q: Any,
    batch: bool,
    options: TrainingOptions,
    rng: np.random.Generator,
) -> list[tuple[_Source, _Source]]:
    """One problem, or K from sequences of sample sets (one set on a side is shared by all K)."""
    if not batch:
        return [_pair(samples_p, samples_q, options, rng, "")]
    sets_p, sets_q = _sample_sets(samples_p, "samples_p"), _sample_sets(samples_q, "samples_q")
    if sets_p is None and sets_q is None:
        raise ValueError(
            "samples_p or samples_q must be a sequence of K sample sets (or a (K, n, d) "
            "array); for one problem use the single-problem function"
        )
    if sets_p is not None and sets_q is not None and len(sets_p) != len(sets_q):
        raise ValueError(
            f"samples_p and samples_q must hold the same number of sample sets; "
            f"got {len(sets_p)} and {len(sets_q)}"
        )
    count = len(sets_p) if sets_p is not None else len(sets_q or ())
    pairs = [
        _pair(
            samples_p if sets_p is None else sets_p[k],
            samples_q if sets_q is None else sets_q[k],
            options,
            rng,
            f"[{k}]",
        )
        for k in range(count)
    ]
    dims = sorted({pair[0].dim for pair in pairs})
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


def _warm_starts(warm_start: Any, count: int, batch: bool) -> list[Critic | None]:
    """One warm start (or None) per problem; errors name ``warm_start``."""
    if not batch:
        return [_check_network(warm_start, "warm_start")]
    if warm_start is None:
        return [None] * count
    if isinstance(warm_start, Critic) or not isinstance(warm_start, Sequence):
        raise TypeError(
            "warm_start must be a sequence of K Critic (or None) entries for a batch; "
            f"got {type(warm_start).__name__}"
        )
    if len(warm_start) != count:
        raise ValueError(
            f"warm_start must hold one entry per problem ({count}); got {len(warm_start)}"
        )
    return [_check_network(n, f"warm_start[{k}]") for k, n in enumerate(warm_start)]


def _check_network(network: Any, name: str) -> Critic | None:
    if network is not None and not isinstance(network, Critic):
        raise TypeError(
            f"{name} must be a divergences Critic (such as result.critic); "
            f"got {type(network).__name__}"
        )
    return network


def _architecture(
    warm: list[Critic | None], dim: int, options: TrainingOptions
) -> tuple[int, int, str]:
    """Width, depth and activation: the warm starts', which must agree with the options."""
    given = {"width": options.width, "depth": options.depth, "activation": options.activation}
    for k, network in enumerate(warm):
        if network is None:
            continue
        name = "warm_start" if len(warm) == 1 else f"warm_start[{k}]"
        if network.dim != dim:
            raise ValueError(
                f"{name} was built for d = {network.dim}, but the samples have d = {dim}"
            )
        for option, value in given.items():
            own = getattr(network, option)
            if value is not None and value != own:
                raise ValueError(
                    f"{name} has {option} {own!r}, but the options ask for {value!r}; "
                    f"leave {option} unset (or pass {own!r}) to continue training it"
                )
            given[option] = own
    return (
        default_width(dim) if given["width"] is None else int(given["width"]),
        _DEFAULT_DEPTH if given["depth"] is None else int(given["depth"]),
        _DEFAULT_ACTIVATION if given["activation"] is None else str(given["activation"]),
    )


@dataclass(frozen=True)
class Fitted:
    """One trained network with the samples it was fitted on and held out from."""

    network: Critic
    history: TrainingHistory
    source_p: _Source
    source_q: _Source
    generator: torch.Generator
    options: TrainingOptions


def fit(
    objective: Objective,
    samples_p: Any,
    samples_q: Any,
    *,
    batch: bool,
    warm_start: Any,
    options: TrainingOptions,
) -> list[Fitted]:
    """Train one network per problem on ``objective``, the K of a batch as one stack."""
    device = options.torch_device
    rng = np.random.default_rng(options.seed)
    pairs = _problems(samples_p, samples_q, batch, options, rng)
    warm = _warm_starts(warm_start, len(pairs), batch)
    dim = pairs[0][0].dim
    width, depth, activation = _architecture(warm, dim, options)
    torch_seed = int(rng.integers(2**62))
    generator = torch.Generator(device=device).manual_seed(torch_seed)
    networks = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        for (source_p, source_q), network in zip(pairs, warm, strict=True):
            if network is None:
                fresh = Critic(dim, width, depth, activation).to(device)
                reference = [
                    s.held_out if s.train is None else s.train for s in (source_p, source_q)
                ]
                fresh.standardise_inputs(torch.cat(reference))
                networks.append(fresh)
            else:
                networks.append(copy.deepcopy(network).to(device))
    stack = CriticStack(networks).to(device)
    history = train(
        stack, objective, _stacked_sampler(pairs, device), options, generator=generator
    )
    return [
        Fitted(stack.critic(k), history.select(k), *pair, generator, options)
        for k, pair in enumerate(pairs)
    ]


def _stacked_sampler(pairs: list[tuple[_Source, _Source]], device: torch.device) -> Callable:
    """(K, size, d) batches: one gather from padded data where every source of a side is
    an array (whatever its size), else one call per source."""
    sides = [[pair[side] for pair in pairs] for side in (0, 1)]

    def padded(side: list[_Source]) -> tuple[torch.Tensor, torch.Tensor] | None:
        trains = [source.train for source in side if source.train is not None]
        if len(trains) < len(side):
            return None
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
            return torch.stack([_draw_one(source, size, generator) for source in sides[side]])
        data, sizes = stack
        uniform = torch.rand(len(pairs), size, generator=generator, device=device)
        index = (uniform * sizes.unsqueeze(1)).long().clamp_(max=data.shape[1] - 1)
        return data[rows, index]

    def sample(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return draw(0, size, generator), draw(1, size, generator)

    return sample


def _draw_one(source: _Source, size: int, generator: torch.Generator) -> torch.Tensor:
    if source.train is None:
        return source.call(size)
    index = torch.randint(
        source.train.shape[0], (size,), generator=generator, device=source.train.device
    )
    return source.train[index]


def mean_and_variance(values: torch.Tensor) -> tuple[float, float]:
    values = values.double()
    return float(values.mean()), float(values.var()) if values.numel() > 1 else 0.0


def evaluate(function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``function`` on ``x`` in chunks, without a graph."""
    with torch.no_grad():
        return torch.cat(
            [function(x[i : i + EVALUATION_CHUNK]) for i in range(0, x.shape[0], EVALUATION_CHUNK)]
        )
