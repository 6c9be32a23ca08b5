"""Training across processes: the ranks of a ``torch.distributed`` group, on request.

Nothing here communicates unless the caller passes a process group: every estimator,
:func:`~divergences.neural.train` and the adversarial losses take ``group=None``
(this process alone, whatever process groups exist) or a ``torch.distributed``
``ProcessGroup`` (``torch.distributed.group.WORLD`` for every process), which
:meth:`Group.of` turns into the :class:`Group` that the driver hands down. A rank
that logs an estimate alone, or trains its own GAN critic, is then never waiting for
the others.

Given a group of several ranks (as under ``torchrun --nproc_per_node=N``), the
estimators train one network on all of them: every rank splits the samples the
same way (the seed is broadcast from the group's first rank), keeps its own shard of
each part, draws its own batches, and averages the gradients with the others after
every step (one ``all_reduce``, what DistributedDataParallel's reducer does; the
explicit backward pass writes the gradients without autograd, so the reduction is
called directly). The networks start equal and receive equal updates, so they stay
equal; the checkpoint scores, the calibration points and the test statistics are
reduced across ranks, and every rank returns the same result. In a group of one
nothing communicates.

So the ranks must be given the same arrays (the same rows, in the same order, of
the same dtype), the same options and the same warm starts; only callables,
whose draws are each rank's own, and the device may differ. :func:`check_inputs`
makes sure of it before the first collective: ranks given different inputs would
otherwise meet in collectives of different sizes, which abort in C++ or hang, or
pass silently and train on mismatched shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Group:
    """This process's rank among the ``size`` processes of a ``torch.distributed``
    group (``process_group``), or rank 0 of 1: this process alone, which never
    communicates. :meth:`of` makes one from what a caller passed as ``group``."""

    rank: int = 0
    size: int = 1
    process_group: Any = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, group: Any, name: str = "group") -> Group:
        """The :class:`Group` for a caller's ``group`` argument: None is this process
        alone (whether or not a process group is initialised); a ``ProcessGroup`` (such as
        ``torch.distributed.group.WORLD``) is its ranks, of which this process must be
        one. A :class:`Group` is returned as it is."""
        if group is None:
            return cls()
        if isinstance(group, Group):
            return group
        distributed = torch.distributed
        kind = getattr(distributed, "ProcessGroup", None) if distributed.is_available() else None
        if kind is None or not isinstance(group, kind):
            raise TypeError(
                f"{name} must be None (this process alone) or a torch.distributed "
                f"ProcessGroup, such as torch.distributed.group.WORLD; got {type(group).__name__}"
            )
        if not distributed.is_initialized():
            raise ValueError(
                f"{name} is a process group, but torch.distributed is not initialised; call "
                "torch.distributed.init_process_group first, or pass group=None"
            )
        rank = distributed.get_rank(group)
        if rank < 0:
            raise ValueError(
                f"{name} is a process group that this process is not a member of; pass a "
                "group this process belongs to, or group=None"
            )
        return cls(rank, distributed.get_world_size(group), group)

    @property
    def active(self) -> bool:
        return self.size > 1

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's rows of ``x``: every ``size``-th from ``rank``."""
        return x[self.rank :: self.size] if self.active else x

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over ranks (in place)."""
        if self.active:
            torch.distributed.all_reduce(
                tensor, op=torch.distributed.ReduceOp.SUM, group=self.process_group
            )
        return tensor

    def max(self, tensor: torch.Tensor) -> torch.Tensor:
        """The largest value over ranks (in place)."""
        if self.active:
            torch.distributed.all_reduce(
                tensor, op=torch.distributed.ReduceOp.MAX, group=self.process_group
            )
        return tensor

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's rows, concatenated in rank order (rows may differ in number)."""
        if not self.active:
            return tensor
        count = torch.tensor([tensor.shape[0]], device=tensor.device)
        counts = [torch.zeros_like(count) for _ in range(self.size)]
        torch.distributed.all_gather(counts, count, group=self.process_group)
        longest = int(max(int(c) for c in counts))
        padded = tensor.new_zeros((longest, *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        parts = [torch.zeros_like(padded) for _ in range(self.size)]
        torch.distributed.all_gather(parts, padded, group=self.process_group)
        return torch.cat([part[: int(c)] for part, c in zip(parts, counts, strict=True)])

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        """The group's first rank's ``tensor`` on every rank (in place)."""
        if self.active:
            first = torch.distributed.get_global_rank(self.process_group, 0)
            torch.distributed.broadcast(tensor, src=first, group=self.process_group)
        return tensor

    def same_tensors(self, tensors: Iterable[torch.Tensor]) -> None:
        """The group's first rank's values of ``tensors`` on every rank (in place, each
        on its own device): modules that must start equal, as DistributedDataParallel
        makes them at construction."""
        if not self.active:
            return
        for tensor in tensors:
            with torch.no_grad():
                tensor.copy_(self.broadcast(tensor.detach().to(self.device, copy=True)))

    def same_seed(self, seed: int | None) -> int | None:
        """The group's first rank's seed on every rank, drawn there when none was given."""
        if not self.active:
            return seed
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 2)
        value = torch.tensor([seed], dtype=torch.int64, device=self.device)
        return int(self.broadcast(value))

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Each parameter's gradient averaged over the ranks, in one ``all_reduce``."""
        if not self.active:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        torch.distributed.all_reduce(
            flat, op=torch.distributed.ReduceOp.SUM, group=self.process_group
        )
        flat /= self.size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].reshape(grad.shape))
            offset += grad.numel()

    def agree(self, facts: Mapping[str, object]) -> None:
        """Check that every rank holds the same ``facts`` (names and values); where
        they do not, raise on every rank one ``ValueError`` that says which ranks differ
        in what.

        The ranks compare a fixed pair of int64 values (how many facts, and a hash of
        them as text), so that ranks holding facts of different number still meet in one
        collective of one size; only where these differ do they gather the facts
        themselves, to name the differences. Call it before any other collective.
        """
        if not self.active:
            return
        shown = {name: str(value) for name, value in facts.items()}
        digest = hashlib.blake2b(repr(list(shown.items())).encode(), digest_size=8).digest()
        summary = torch.tensor(
            [len(shown), int.from_bytes(digest, "little", signed=True)],
            dtype=torch.int64,
            device=self.device,
        )
        summaries = [torch.zeros_like(summary) for _ in range(self.size)]
        torch.distributed.all_gather(summaries, summary, group=self.process_group)
        if all(torch.equal(other, summaries[0]) for other in summaries):
            return
        every: list[Any] = [None] * self.size
        torch.distributed.all_gather_object(every, shown, group=self.process_group)
        raise ValueError(disagreement(every))

    @property
    def device(self) -> torch.device:
        """Where this backend's collectives run: CUDA for NCCL, else the CPU."""
        if self.active and torch.distributed.get_backend(self.process_group) == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def disagreement(facts: list[dict[str, str]]) -> str:
    """The message for ranks whose ``facts`` (one mapping per rank, in rank order) differ:
    each fact that differs, with the ranks that hold each value, rank 0's last."""
    names = list(dict.fromkeys(name for held in facts for name in held))
    differences = []
    for name in names:
        values = [held.get(name) for held in facts]
        if len(set(values)) == 1:
            continue
        holders: dict[str | None, list[int]] = {}
        for rank, value in enumerate(values):
            holders.setdefault(value, []).append(rank)
        order = sorted(holders, key=lambda value: value == values[0])
        parts: list[str] = []
        for value in order:
            ranks = holders[value]
            who = f"rank {ranks[0]}" if len(ranks) == 1 else "ranks " + ", ".join(map(str, ranks))
            verb = ("has " if len(ranks) == 1 else "have ") if not parts else ""
            parts.append(
                f"{who} {verb}no {name}" if value is None else f"{who} {verb}{name} = {value}"
            )
        differences.append(", ".join(parts))
    if not differences:  # pragma: no cover - equal facts hash alike
        differences = ["their inputs differ"]
    shown = "; ".join(differences[:_SHOWN])
    if len(differences) > _SHOWN:
        shown += f"; and {len(differences) - _SHOWN} more"
    return (
        "every process must be given the same samples, options and warm starts (they train "
        f"one network, each on its shard of the same samples), but {shown}"
    )


#: At most this many differences are listed in the message of :func:`disagreement`.
_SHOWN = 4
#: Rows at each end of an array that its fingerprint hashes.
_ROWS = 8
#: Options that may differ between ranks: each rank's own device, threads and progress bar.
_OWN_OPTIONS = ("device", "threads", "progress")


class _Replayed:
    """A callable whose first draw (of two samples, as the driver first asks) was taken
    early to read its dimension: it hands that draw back on the first call for two, so
    that the callable sees the calls it would have seen."""

    def __init__(self, draw: Callable[[int], Any]) -> None:
        self.draw = draw
        self.first: Any = draw(2)

    def __call__(self, size: int) -> Any:
        if self.first is not None and size == 2:
            first, self.first = self.first, None
            return first
        return self.draw(size)


def _describe(samples: Any, name: str) -> dict[str, object]:
    """What the ranks must agree on about one side's samples, named ``name``: its d, and
    for an array its number of rows, dtype and a hash of its first and last rows in
    float64 (a cheap fingerprint of the data: equal rows in the same order hash alike,
    NaN and inf included). What cannot be read is described as "?"; the driver's own
    checks then name it."""
    if isinstance(samples, _Replayed):
        return {f"{name} d": _dim(np.shape(samples.first)), f"{name} n": "(a callable)"}
    try:
        if isinstance(samples, torch.Tensor):
            dtype = str(samples.dtype).removeprefix("torch.")
            ends = [part.detach().cpu().double().numpy() for part in _ends(samples)]
        else:
            array = samples if isinstance(samples, np.ndarray) else np.asarray(samples)
            dtype = str(array.dtype)
            ends = [np.asarray(part, dtype=np.float64) for part in _ends(array)]
        shape = tuple(samples.shape) if hasattr(samples, "shape") else np.shape(samples)
    except (TypeError, ValueError, IndexError, RuntimeError, NotImplementedError):
        return {f"{name} d": "?", f"{name} n": "?"}
    first, last = (hashlib.blake2b(part.tobytes(), digest_size=6).hexdigest() for part in ends)
    return {
        f"{name} d": _dim(shape),
        f"{name} n": shape[0] if shape else "?",
        f"{name} dtype": dtype,
        f"the hash of {name}[:{_ROWS}]": first,
        f"the hash of {name}[-{_ROWS}:]": last,
    }


def _ends(array: Any) -> list[Any]:
    return [array[:_ROWS], array[-_ROWS:]]


def _dim(shape: tuple[int, ...]) -> object:
    """d of samples of this shape: a 1-D array holds values of d = 1."""
    if len(shape) == 1:
        return 1
    return shape[1] if len(shape) == 2 else "?"


def check_inputs(
    group: Group,
    objective: object,
    pairs: list[tuple[Any, Any, str]],
    warm: list[Any],
    options: Any,
    candidates: bool,
) -> list[tuple[Any, Any, str]]:
    """Make the ranks of ``group`` agree on the fitting driver's inputs (see
    :meth:`Group.agree`): the objective, the number of problems, each side's samples
    (:func:`_describe`), the warm starts and the options (but each rank's own device,
    threads and progress bar). Returns ``pairs`` with each callable replaced by one that
    replays the draw taken to read its dimension."""
    if not group.active:
        return pairs
    replayed: dict[int, _Replayed] = {}

    def probed(samples: Any) -> Any:
        if not callable(samples) or isinstance(samples, (np.ndarray, torch.Tensor)):
            return samples
        if id(samples) not in replayed:
            replayed[id(samples)] = _Replayed(samples)
        return replayed[id(samples)]

    pairs = [(probed(p), probed(q), suffix) for p, q, suffix in pairs]
    facts: dict[str, object] = {"problems": len(pairs), "objective": repr(objective)}
    for (p, q, suffix), network in zip(pairs, warm, strict=True):
        facts.update(_describe(p, f"x{suffix}"))
        facts.update(_describe(q, f"y{suffix}"))
        facts[f"warm_start{suffix}"] = (
            "none"
            if network is None
            else f"a critic of d {network.dim}, width {network.width}, depth {network.depth}, "
            f"activation {network.activation}"
        )
    facts["candidates"] = candidates
    for field in dataclasses.fields(options):
        if field.name not in _OWN_OPTIONS:
            facts[field.name] = getattr(options, field.name)
    group.agree(facts)
    return pairs
