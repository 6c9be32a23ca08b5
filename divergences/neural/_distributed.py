"""Training across processes: the ranks of an initialised ``torch.distributed`` group.

Called inside a process group (as under ``torchrun --nproc_per_node=N``), the
estimators train one network on all ranks: every rank splits the samples the
same way (the seed is broadcast from rank 0), keeps its own shard of each
part, draws its own batches, and averages the gradients with the others after
every step (one ``all_reduce``, what DistributedDataParallel's reducer does;
the explicit backward pass writes the gradients without autograd, so the
reduction is called directly). The networks start equal and receive equal
updates, so they stay equal; the checkpoint scores, the calibration points and
the test statistics are reduced across ranks, and every rank returns the same
result. Outside a process group (or in a group of one) nothing here
communicates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Group:
    """This process's rank among ``size`` processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1

    @property
    def active(self) -> bool:
        return self.size > 1

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's rows of ``x``: every ``size``-th from ``rank``."""
        return x[self.rank :: self.size] if self.active else x

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over ranks (in place)."""
        if self.active:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
        return tensor

    def max(self, tensor: torch.Tensor) -> torch.Tensor:
        """The largest value over ranks (in place)."""
        if self.active:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.MAX)
        return tensor

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Every rank's rows, concatenated in rank order (rows may differ in number)."""
        if not self.active:
            return tensor
        count = torch.tensor([tensor.shape[0]], device=tensor.device)
        counts = [torch.zeros_like(count) for _ in range(self.size)]
        torch.distributed.all_gather(counts, count)
        longest = int(max(int(c) for c in counts))
        padded = tensor.new_zeros((longest, *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        parts = [torch.zeros_like(padded) for _ in range(self.size)]
        torch.distributed.all_gather(parts, padded)
        return torch.cat([part[: int(c)] for part, c in zip(parts, counts, strict=True)])

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        """Rank 0's ``tensor`` on every rank (in place)."""
        if self.active:
            torch.distributed.broadcast(tensor, src=0)
        return tensor

    def same_seed(self, seed: int | None) -> int | None:
        """Rank 0's seed on every rank, drawn there when none was given."""
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
        torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM)
        flat /= self.size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].reshape(grad.shape))
            offset += grad.numel()

    @property
    def device(self) -> torch.device:
        """Where this backend's collectives run: CUDA for NCCL, else the CPU."""
        if self.active and torch.distributed.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def current() -> Group:
    """The initialised default process group, or a group of one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return Group(torch.distributed.get_rank(), torch.distributed.get_world_size())
    return Group()
