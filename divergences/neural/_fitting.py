"""The one driver behind every neural estimator, single problem or batch.

:func:`fit` splits each problem's samples (training, validation, test),
standardises them, and trains the K problems' networks as one
:class:`~divergences.neural.CriticStack`, keeping each network's best checkpoint
on the validation split. A single problem is the case K = 1.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from divergences._validation import (
    ArgumentError,
    ArgumentsError,
    ArgumentTypeError,
    as_samples,
    backend_for,
)
from divergences.neural._distributed import Group, check_inputs
from divergences.neural._networks import (
    Critic,
    CriticStack,
    default_architecture,
    default_weight_decay,
    default_width,
    standardisation,
)
from divergences.neural._trainer import Objective, TrainingHistory, train
from divergences.neural.options import TrainingOptions

# Rows per forward pass when a trained network is evaluated on many samples.
EVALUATION_CHUNK = 65536
# At most this many validation samples a side take part in choosing the checkpoint.
_MONITOR_SAMPLES = 2048
# Checkpoints compared on the validation split over one training run.
_CHECKS = 20


def as_float64(samples: Any, name: str, device: torch.device) -> torch.Tensor:
    """Validated (n, d) samples of any real dtype as float64 on ``device``, keeping autograd."""
    backend = backend_for(**{name: samples})
    x = as_samples(samples, name, backend)
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    return x.to(device=device, dtype=torch.float64)


@dataclass
class _Side:
    """One distribution's samples before standardisation: parts of an array, or a callable."""

    name: str
    dim: int
    parts: dict[str, torch.Tensor]  # float64 "train" (arrays only), "validation", "test"
    test_index: np.ndarray | None
    draw: Callable[[int], Any] | None
    # the draws are this process's own (a user's callable), not rows of a shared array
    own_draws: bool = True
    # the training rows the draws come from (a large array's); None: a callable, unbounded
    train_rows: int | None = None

    def call(self, size: int) -> torch.Tensor:
        """A fresh (size, d) float64 batch from the callable, checked."""
        if self.draw is None:
            raise TypeError(f"{self.name} is an array, not a callable")
        batch = self.draw(size)
        device = self.parts["test"].device
        x = batch if isinstance(batch, torch.Tensor) else torch.as_tensor(np.asarray(batch))
        x = x.detach().to(device=device, dtype=torch.float64)
        if x.ndim == 1 and self.dim == 1:
            x = x.reshape(-1, 1)
        if tuple(x.shape) != (size, self.dim):
            raise ValueError(
                f"{self.name} returned a batch of shape {tuple(x.shape)} for a request of "
                f"{size}; expected ({size}, {self.dim})"
            )
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{self.name} returned a batch with NaN or inf")
        return x


#: Arrays of more bytes than this (and every numpy.memmap) are read row by row as they are
#: needed, never copied whole: the training batches, and at most ``evaluation_size``
#: rows a part for validation and test.
LAZY_BYTES = 1 << 28


def _is_lazy(samples: Any) -> bool:
    """Whether ``samples`` are read a row at a time instead of copied (see ``LAZY_BYTES``)."""
    return isinstance(samples, np.memmap) or (
        isinstance(samples, np.ndarray) and samples.nbytes > LAZY_BYTES
    )


def _side(
    samples: Any, name: str, options: TrainingOptions, rng: np.random.Generator, rank: int = 0
) -> _Side:
    """One side's samples: an array split three ways, a large array hashed, or a callable."""
    device = options.torch_device
    if _is_lazy(samples):
        return _lazy_side(samples, name, options, rng, rank)
    if callable(samples) and not isinstance(samples, (np.ndarray, torch.Tensor)):
        first = as_float64(samples(2), f"{name}(2)", device).detach()
        side = _Side(name, first.shape[1], {"test": first}, None, samples)
        size = options.evaluation_size
        side.parts = {"test": side.call(size)}
        if options.validation > 0:
            side.parts["validation"] = side.call(size)
        return side
    x = as_float64(samples, name, device).detach()
    n = x.shape[0]
    n_test = max(2, round(options.holdout * n))
    n_validation = max(2, round(options.validation * n)) if options.validation > 0 else 0
    if n - n_test - n_validation < 2:
        raise ArgumentError(
            name,
            f"has {n} sample{'' if n == 1 else 's'}: too few to hold out "
            f"{options.holdout:.0%} for the estimate and {options.validation:.0%} for "
            "validation and train on the rest "
            "(at least 2 in each part)",
        )
    order = rng.permutation(n)
    index = torch.as_tensor(order, device=device)
    parts = {
        "test": x[index[:n_test]],
        "train": x[index[n_test + n_validation :]],
    }
    if n_validation:
        parts["validation"] = x[index[n_test : n_test + n_validation]]
    return _Side(name, x.shape[1], parts, order[:n_test], None)


def _lazy_side(
    array: np.ndarray, name: str, options: TrainingOptions, rng: np.random.Generator, rank: int
) -> _Side:
    """A large array (a memory map, say) split by a seeded hash of the row number."""
    # Row i is a test row when the hash of (i, seed) falls below holdout, a validation
    # row below holdout + validation, else a training row: no permutation of n rows is
    # needed, and reading a row needs only its number.
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2 or array.shape[0] < 6 or array.shape[1] == 0:
        raise ArgumentError(
            name, f"must be an (n, d) array of samples with n >= 6; got shape {array.shape}"
        )
    if array.dtype.kind not in "iuf":
        raise ArgumentTypeError(
            name, f"must hold real numbers; got an array of dtype {array.dtype}"
        )
    salt = int(rng.integers(2**62))
    n, device = array.shape[0], options.torch_device
    bounds = {"test": (0.0, options.holdout)}
    if options.validation > 0:
        bounds["validation"] = (options.holdout, options.holdout + options.validation)
    bounds["train"] = (options.holdout + options.validation, 1.0)

    def rows(role: str, count: int, generator: np.random.Generator) -> np.ndarray:
        low, high = bounds[role]
        found: list[np.ndarray] = []
        total = 0
        while total < count:
            candidates = generator.integers(n, size=max(64, 2 * count))
            share = _row_hash(candidates, salt)
            kept = candidates[(share >= low) & (share < high)]
            found.append(kept)
            total += kept.size
        return np.concatenate(found)[:count]

    def read(index: np.ndarray) -> torch.Tensor:
        order = np.argsort(index)  # sorted reads are faster on a memory map
        block = np.empty((index.size, array.shape[1]), dtype=np.float64)
        block[order] = array[index[order]]
        if not np.all(np.isfinite(block)):
            raise ArgumentError(name, "must contain only finite numbers; found NaN or inf")
        return torch.as_tensor(block, device=device)

    parts: dict[str, torch.Tensor] = {}
    chosen: dict[str, np.ndarray] = {}
    for role in ("test", "validation"):
        if role in bounds:
            size = min(
                options.evaluation_size, max(2, round((bounds[role][1] - bounds[role][0]) * n))
            )
            chosen[role] = np.unique(rows(role, size, rng))
            parts[role] = read(chosen[role])
    batches = np.random.default_rng([salt, rank])

    def draw(count: int) -> torch.Tensor:
        return read(rows("train", count, batches))

    train_rows = max(1, round((bounds["train"][1] - bounds["train"][0]) * n))
    return _Side(
        name, array.shape[1], parts, chosen["test"], draw, own_draws=False, train_rows=train_rows
    )


def _row_hash(index: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per row, from its number and the salt (splitmix64)."""
    with np.errstate(over="ignore"):
        z = index.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass
class Source:
    """One distribution in standardised coordinates (float32): the parts of an array,
    or a callable whose draws are standardised as they come."""

    side: _Side
    center: torch.Tensor
    spread: torch.Tensor
    parts: dict[str, torch.Tensor]
    # per-coordinate factors after the common spread (ones but for invariant objectives)
    axes: torch.Tensor | None = None
    # the test part standardised in float64 (set with the parts)
    exact_test: torch.Tensor | None = None

    @property
    def name(self) -> str:
        return self.side.name

    @property
    def train(self) -> torch.Tensor | None:
        return self.parts.get("train")

    @property
    def validation(self) -> torch.Tensor | None:
        return self.parts.get("validation")

    @property
    def test(self) -> torch.Tensor:
        return self.parts["test"]

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the standardised coordinates, float32; refused if it overflows there."""
        z = self.standardise_exact(x).to(torch.float32)
        if not bool(torch.isfinite(z).all()):
            raise ArgumentError(
                self.name,
                "spans more than float32 can hold once standardised (some "
                "samples lie over 1e38 spreads from the centre); remove the outliers",
            )
        return z

    def standardise_exact(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the standardised coordinates, float64: the test points a certified bound
        is evaluated at, which float32 would move by up to 2^-24 of their norm (as much as a
        narrow coordinate's whole signal beside one 10^8 times as wide)."""
        z = (x - self.center) / self.spread
        return z if self.axes is None else z / self.axes

    def draw(self, size: int) -> torch.Tensor:
        return self.standardise(self.side.call(size))

    def fitted(self, size: int) -> torch.Tensor:
        """The samples the network was fitted on: the training part, or a fresh draw."""
        return self.train if self.train is not None else self.draw(size)

    def training(self, rows: int, chunk: int) -> torch.Tensor:
        """The training part, or ``rows`` fresh draws (at most the rows they come from)
        in batches of ``chunk``: where samples cost nothing more, fits that can use
        more of them get them."""
        if self.train is not None:
            return self.train
        if self.side.train_rows is not None:
            rows = min(rows, self.side.train_rows)
        rows, chunk = max(1, rows), max(1, chunk)
        return torch.cat([self.draw(min(chunk, rows - i)) for i in range(0, rows, chunk)])

    def calibration(self, size: int) -> torch.Tensor:
        """Samples for calibrating the trained network: validation, else training ones."""
        if self.validation is not None:
            return self.validation
        return self.fitted(size)


@dataclass
class Problem:
    """Both sides of one problem, in the standardised coordinates they share."""

    p: Source
    q: Source
    center: torch.Tensor
    spread: torch.Tensor
    #: Per-coordinate factors applied after the common spread (None: one spread for all).
    axes: torch.Tensor | None = None

    @property
    def dim(self) -> int:
        return self.p.side.dim


def _reference(side: _Side) -> torch.Tensor:
    """The part of a side that sets the standardisation: training, else validation, test."""
    for key in ("train", "validation", "test"):
        if key in side.parts:
            return side.parts[key]
    raise KeyError(key)  # pragma: no cover - every side has a test part


def _problem(
    side_p: _Side, side_q: _Side, warm: Critic | None, group: Group, per_axis: bool = False
) -> Problem:
    """Both sides standardised in rank 0's coordinates (a warm start's, where given)."""
    if side_p.dim != side_q.dim:
        raise ArgumentsError(
            f"{{}} and {{}} must have the same dimension d; got {side_p.dim} and {side_q.dim}",
            (side_p.name, side_q.name),
        )
    axes = None
    if warm is not None:
        device = side_p.parts["test"].device
        center = warm.center.to(device=device, dtype=torch.float64)
        spread = warm.spread.to(device=device, dtype=torch.float64)
    else:
        # the training parts (for callables, a draw that is not the test one)
        reference = torch.cat([_reference(side) for side in (side_p, side_q)])
        center, spread = standardisation(reference)
        if per_axis:
            axes = _axis_spreads(reference, center, spread)
    # Every rank works in rank 0's coordinates (the same where all hold the same arrays).
    packed = [center, spread.reshape(1)] + ([] if axes is None else [axes])
    both = group.broadcast(torch.cat(packed).to(group.device)).to(center.device)
    dim = center.shape[0]
    center, spread = both[:dim], both[dim]
    if axes is not None:
        axes = both[dim + 1 :]
    sources = []
    for side in (side_p, side_q):
        source = Source(side, center, spread, {}, axes)
        # arrays are split the same way on every rank, then each keeps its shard;
        # a callable is each rank's own
        parts = (
            side.parts if side.own_draws and side.draw is not None else _shards(side.parts, group)
        )
        source.parts = {key: source.standardise(part) for key, part in parts.items()}
        source.exact_test = source.standardise_exact(parts["test"])
        sources.append(source)
    return Problem(sources[0], sources[1], center, spread, axes)


def _axis_spreads(
    reference: torch.Tensor, center: torch.Tensor, spread: torch.Tensor
) -> torch.Tensor:
    """Each coordinate's root mean square deviation in units of the common spread (1 where a
    coordinate does not vary): dividing by it gives every coordinate unit spread."""
    deviation = (reference - center) / spread
    axes = deviation.square().mean(dim=0).sqrt()
    return torch.where(axes > 0, axes, torch.ones_like(axes))


def fold_axes(network: Critic, axes: torch.Tensor | None) -> None:
    """Fold per-coordinate factors into the first layer, so that the network takes its
    inputs in the common standardised coordinates (its ``center`` and ``spread``)."""
    if axes is None:
        return
    weight = network.layers()[0][0]
    with torch.no_grad():
        weight.div_(axes.to(weight).unsqueeze(0))


def _shards(parts: dict[str, torch.Tensor], group: Group) -> dict[str, torch.Tensor]:
    """This rank's shard of each part."""
    shards = {key: group.shard(part) for key, part in parts.items()}
    if group.active and any(part.shape[0] < 2 for part in shards.values()):
        raise ValueError(
            f"too few samples to share among {group.size} processes (each needs at least 2 "
            "in every part); use fewer processes or more samples"
        )
    return shards


def _problems(
    pairs: list[tuple[Any, Any, str]],
    warm: list[Critic | None],
    options: TrainingOptions,
    rng: np.random.Generator,
    group: Group,
    per_axis: bool = False,
) -> list[Problem]:
    """Each problem's sides, split (or drawn) and standardised, with one dimension for all."""
    problems = []
    for (p, q, suffix), network in zip(pairs, warm, strict=True):
        side_p = _side(p, f"x{suffix}", options, rng, group.rank)
        side_q = _side(q, f"y{suffix}", options, rng, group.rank)
        if network is not None and network.dim != side_p.dim:
            name = "warm_start" if len(pairs) == 1 and not suffix else f"warm_start{suffix}"
            raise ValueError(
                f"{name} was built for d = {network.dim}, but the samples have d = {side_p.dim}"
            )
        problems.append(_problem(side_p, side_q, network, group, per_axis))
    dims = sorted({problem.dim for problem in problems})
    if len(dims) > 1:
        raise ValueError(f"every problem of a batch must have the same dimension; got {dims}")
    return problems


def _pairs(x: Any, y: Any, batch: bool) -> list[tuple[Any, Any, str]]:
    """The (x, y, name suffix) of each problem: one, or K of a batch, where
    one set on a side may be shared by all K."""
    if not batch:
        return [(x, y, "")]
    sets_p, sets_q = _sample_sets(x, "x"), _sample_sets(y, "y")
    if sets_p is None and sets_q is None:
        raise ArgumentsError(
            "{} or {} must be a sequence of K sample sets (or a (K, n, d) "
            "array); for one problem use the single-problem function",
            ("x", "y"),
        )
    if sets_p is not None and sets_q is not None and len(sets_p) != len(sets_q):
        raise ArgumentsError(
            "{} and {} must hold the same number of sample sets; "
            f"got {len(sets_p)} and {len(sets_q)}",
            ("x", "y"),
        )
    count = len(sets_p) if sets_p is not None else len(sets_q or ())
    return [
        (
            x if sets_p is None else sets_p[k],
            y if sets_q is None else sets_q[k],
            f"[{k}]",
        )
        for k in range(count)
    ]


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
    """``network`` if it is a Critic or None; else a TypeError naming ``name``."""
    if network is not None and not isinstance(network, Critic):
        raise TypeError(
            f"{name} must be a divergences Critic (such as result.critic); "
            f"got {type(network).__name__}"
        )
    return network


def _architectures(
    warm: list[Critic | None], dim: int, options: TrainingOptions, candidates: bool
) -> list[tuple[int, int, str]]:
    """(width, depth, activation) of each candidate critic: the warm starts' shape, which
    must agree with the options; else the defaults for ``dim`` (all of them where
    ``candidates``, else the first), with the options' choices applied."""
    given: dict[str, Any] = {
        "width": options.width,
        "depth": options.depth,
        "activation": options.activation,
    }
    started = [(k, network) for k, network in enumerate(warm) if network is not None]
    for k, network in started:
        name = "warm_start" if len(warm) == 1 else f"warm_start[{k}]"
        for option, value in given.items():
            own = getattr(network, option)
            if value is not None and value != own:
                raise ValueError(
                    f"{name} has {option} {own!r}, but the options ask for {value!r}; "
                    f"leave {option} unset (or pass {own!r}) to continue training it"
                )
            given[option] = own
    if started or given["activation"] is not None:
        activations = [given["activation"] or "leaky_relu"]
    else:
        defaults = default_architecture(dim)
        activations = [activation for _, _, activation in defaults[: None if candidates else 1]]
    return [
        (
            given["width"] or default_width(dim, activation),
            given["depth"] or 3,
            activation,
        )
        for activation in activations
    ]


@dataclass(frozen=True)
class Fitted:
    """One trained network, in its problem's standardised coordinates, with its problem."""

    network: Critic
    history: TrainingHistory
    problem: Problem
    generator: torch.Generator
    options: TrainingOptions
    group: Group


def fit(
    objective: Objective,
    x: Any,
    y: Any,
    *,
    batch: bool,
    warm_start: Any,
    options: TrainingOptions,
    group: Group,
    candidates: bool = False,
) -> list[list[Fitted]]:
    """Per problem, networks trained on ``objective``, one per candidate architecture.

    The candidates are :func:`~divergences.neural.default_architecture`'s where
    ``candidates``, else its first; they are returned in standardised
    coordinates, for the estimators to choose among, calibrate and map back.
    """
    device = options.torch_device
    pairs = _pairs(x, y, batch)
    warm = _warm_starts(warm_start, len(pairs), batch)
    # before any other collective: ranks given different inputs would meet in ones of
    # different sizes, which abort or hang
    pairs = check_inputs(group, objective, pairs, warm, options, candidates)
    options = options.replace(seed=group.same_seed(options.seed))
    rng = np.random.default_rng(options.seed)
    # an objective whose value does not change under a map of each coordinate (JS) trains
    # with every coordinate at unit spread: one common spread would leave a narrow
    # coordinate below float32's resolution beside a wide one
    per_axis = bool(getattr(objective, "invariant", False))
    problems = _problems(pairs, warm, options, rng, group, per_axis)
    dim = problems[0].dim
    architectures = _architectures(warm, dim, options, candidates)
    trained = options.replace(steps=options.steps_for(len(architectures)))
    if candidates and options.weight_decay is None:
        trained = trained.replace(weight_decay=default_weight_decay(dim))
    torch_seed = int(rng.integers(2**62))
    fitted: list[list[Fitted]] = [[] for _ in problems]
    for width, depth, activation in architectures:
        # the same initial networks on every rank, each rank its own batches
        generator = torch.Generator(device=device).manual_seed(torch_seed + group.rank)
        # the fresh networks drawn one after another from one generator of their own, on
        # the CPU whatever the device: torch's global generator is neither read nor moved
        initial = torch.Generator().manual_seed(torch_seed)
        networks = []
        for network in warm:
            if network is None:
                fresh = _fresh_critic(dim, width, depth, activation, initial)
                networks.append(fresh.to(device))
            else:
                networks.append(_standardised_copy(network).to(device))
        stack = CriticStack(networks).to(device)
        history = train(
            stack,
            objective,
            _sampler(problems, device),
            trained,
            generator=generator,
            monitor=_monitor(objective, problems, torch_seed, group),
            check_every=max(1, trained.steps_for(1) // _CHECKS),
            group=group,
        )
        for k, problem in enumerate(problems):
            fitted[k].append(
                Fitted(_critic_of(stack, k), history.select(k), problem, generator, trained, group)
            )
    return fitted


class _DrawingFrom(TorchFunctionMode):
    """Within the block, in this thread only (torch's function modes are per thread), the
    random draws that pass ``generator=None``, as every initialiser of ``torch.nn.init``
    does, draw from ``generator`` instead of torch's global generator."""

    def __init__(self, generator: torch.Generator) -> None:
        super().__init__()
        self.generator = generator

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = dict(kwargs or {})
        if "generator" in kwargs and kwargs["generator"] is None:
            kwargs["generator"] = self.generator
        return func(*args, **kwargs)


def seeded_critic(
    dim: int, width: int, depth: int, activation: str, generator: torch.Generator
) -> Critic:
    """A new CPU critic whose initial weights are drawn from ``generator``."""
    # the network torch.manual_seed(s); Critic(...) would give, without touching torch's
    # global generator, which another thread may be drawing from
    with _DrawingFrom(generator):
        return Critic(dim, width, depth, activation)


def _critic_of(stack: CriticStack, index: int) -> Critic:
    """Network ``index`` of ``stack`` as a plain critic."""
    # the copy's initial weights, overwritten at once, come from a throwaway generator
    with _DrawingFrom(torch.Generator()):
        return stack.critic(index)


def _fresh_critic(
    dim: int, width: int, depth: int, activation: str, generator: torch.Generator
) -> Critic:
    """A new critic drawn from ``generator``, with its output layer at zero."""
    # From a random output layer the two-sided penalty can hold a critic at the wrong
    # sign (turning slope -1 into +1 in d = 1 passes through slope 0, which the penalty
    # charges in full); from zero the first step follows the objective.
    critic = seeded_critic(dim, width, depth, activation, generator)
    with torch.no_grad():
        critic.layers()[-1][0].zero_()
    return critic


def _standardised_copy(network: Critic) -> Critic:
    """A copy of a trained critic working in its own standardised coordinates, uncalibrated."""
    copied = copy.deepcopy(network)
    with torch.no_grad():
        copied.center.zero_()
        copied.spread.fill_(1.0)
        copied.knots_in = copied.knots_in[:0]
        copied.knots_out = copied.knots_out[:0]
    return copied


def _monitor(
    objective: Objective, problems: list[Problem], seed: int, group: Group
) -> Callable[[CriticStack], torch.Tensor] | None:
    """Each network's validation score, on fixed validation samples and interpolates."""
    score = getattr(objective, "score", None)
    if score is None or any(problem.p.validation is None for problem in problems):
        return None
    size = min(
        _MONITOR_SAMPLES,
        *(problem.p.validation.shape[0] for problem in problems),  # type: ignore[union-attr]
        *(problem.q.validation.shape[0] for problem in problems),  # type: ignore[union-attr]
    )
    x_p = torch.stack([problem.p.validation[:size] for problem in problems])  # type: ignore[index]
    x_q = torch.stack([problem.q.validation[:size] for problem in problems])  # type: ignore[index]
    # Fixed interpolates, from a generator of their own: the checks neither vary between
    # checkpoints nor disturb the training's random stream.
    generator = torch.Generator(device=x_p.device).manual_seed(seed + 1 + group.rank)
    t = torch.rand(x_p.shape[0], size, 1, generator=generator, device=x_p.device)
    interpolates = torch.lerp(x_q, x_p, t)

    def monitor(network: CriticStack) -> torch.Tensor:
        # every rank scores its own validation shard; all keep the same checkpoints
        return group.sum(score(network, x_p, x_q, interpolates)) / group.size

    return monitor


def _sampler(problems: list[Problem], device: torch.device) -> Callable:
    """A sampler of (K, size, d) batches: one gather from padded arrays, else a draw each."""
    sides = [[problem.p for problem in problems], [problem.q for problem in problems]]

    def padded(side: list[Source]) -> tuple[torch.Tensor, torch.Tensor] | None:
        trains = [source.train for source in side if source.train is not None]
        if len(trains) < len(side):
            return None
        longest = max(t.shape[0] for t in trains)
        data = torch.zeros(len(side), longest, side[0].side.dim, device=device)
        for k, t in enumerate(trains):
            data[k, : t.shape[0]] = t
        sizes = torch.tensor([t.shape[0] for t in trains], device=device)
        return data, sizes

    stacks = [padded(side) for side in sides]
    rows = torch.arange(len(problems), device=device).unsqueeze(1)

    def draw(side: int, size: int, generator: torch.Generator) -> torch.Tensor:
        stack = stacks[side]
        if stack is None:
            return torch.stack([_draw_one(source, size, generator) for source in sides[side]])
        data, sizes = stack
        uniform = torch.rand(len(problems), size, generator=generator, device=device)
        index = (uniform * sizes.unsqueeze(1)).long().clamp_(max=data.shape[1] - 1)
        return data[rows, index]

    def sample(size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return draw(0, size, generator), draw(1, size, generator)

    return sample


def _draw_one(source: Source, size: int, generator: torch.Generator) -> torch.Tensor:
    """``size`` training rows of ``source`` drawn with replacement, or a fresh draw."""
    if source.train is None:
        return source.draw(size)
    index = torch.randint(
        source.train.shape[0], (size,), generator=generator, device=source.train.device
    )
    return source.train[index]


def moments(values: torch.Tensor, group: Group) -> tuple[float, float, int]:
    """Mean, variance (n - 1) and count of ``values`` over the ranks of ``group``."""
    values = values.double().reshape(-1)
    shift = group.broadcast(values[:1].clone() if values.numel() else values.new_zeros(1))
    centred = values - shift  # summing about a common value keeps the variance exact
    totals = torch.stack(
        [centred.new_tensor(values.numel()), centred.sum(), centred.square().sum()]
    )
    count, total, squares = (float(v) for v in group.sum(totals))
    mean = total / count
    variance = (squares - count * mean * mean) / (count - 1) if count > 1 else 0.0
    return mean + float(shift), max(variance, 0.0), int(count)


def evaluate(function: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``function`` on ``x`` in chunks, without a graph."""
    with torch.no_grad():
        return torch.cat(
            [function(x[i : i + EVALUATION_CHUNK]) for i in range(0, x.shape[0], EVALUATION_CHUNK)]
        )
