"""The training loop, written once for every objective.

It keeps the device busy: batches are drawn by index on the device, the
statistics of each step stay on the device in a preallocated buffer, and the
host looks at them once per logging window (to check for a non-finite loss and
to advance the progress bar), not after every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from divergences.neural._networks import _Perceptron
from divergences.neural._objectives import STATISTICS


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class Objective(Protocol):
    def backward(
        self, critic: _Perceptron, x_p: torch.Tensor, x_q: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def after_step(self, critic: _Perceptron) -> None: ...


@dataclass(frozen=True)
class TrainingHistory:
    """Statistics along training, averaged over windows of ``log_every`` steps.

    Attributes
    ----------
    step : (k,) numpy.ndarray
        The last step of each window.
    objective : (k,) numpy.ndarray
        The unpenalised objective on the training batches.
    penalty : (k,) numpy.ndarray
        The penalty term before its weight (0 for weight clipping and the
        discriminator).
    grad_norm_mean, grad_norm_max : (k,) numpy.ndarray
        Mean and largest gradient norm of the network on the batch's interpolates.

    For networks trained together as a stack the statistics are (k, K), one
    column per network; :meth:`select` takes one out.
    """

    step: np.ndarray
    objective: np.ndarray
    penalty: np.ndarray
    grad_norm_mean: np.ndarray
    grad_norm_max: np.ndarray

    def select(self, index: int) -> TrainingHistory:
        """The history of network ``index`` of a stack."""
        columns = [getattr(self, name)[:, index] for name in STATISTICS]
        return TrainingHistory(self.step, *columns)


Sampler = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def train(
    critic: _Perceptron,
    objective: Objective,
    sample: Sampler,
    optimizer: torch.optim.Optimizer,
    *,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
    schedule: Any | None = None,
    log_every: int = 50,
    progress: bool = False,
) -> TrainingHistory:
    """Minimise the objective's loss for ``steps`` steps; return the windowed statistics.

    Each step ``objective.backward`` fills the parameters' ``.grad`` and returns
    the batch's loss and statistics (on the device).
    """
    device = next(critic.parameters()).device
    windows = -(-steps // log_every)
    sums: torch.Tensor | None = None  # (windows, ..., statistics), shaped by the first step
    losses = torch.zeros(log_every, device=device)
    bar = _progress_bar(steps) if progress else None
    critic.train()
    for step in range(steps):
        x_p, x_q = sample(batch_size, generator)
        optimizer.zero_grad(set_to_none=True)
        loss, stats = objective.backward(critic, x_p, x_q, generator)
        optimizer.step()
        objective.after_step(critic)
        if schedule is not None:
            schedule.step()
        window, slot = divmod(step, log_every)
        if sums is None:
            sums = torch.zeros(windows, *stats.shape, device=device)
        sums[window] += stats.to(sums.dtype)
        losses[slot] = loss.detach()
        if slot == log_every - 1 or step == steps - 1:
            _check_finite(losses[: slot + 1], first_step=step - slot)
            if bar is not None:
                bar.update(slot + 1)
    if bar is not None:
        bar.close()
    if sums is None:
        raise ValueError(f"steps must be at least 1; got {steps}")
    counts = np.minimum(log_every, steps - np.arange(windows) * log_every)
    means = sums.cpu().numpy() / counts.reshape(-1, *[1] * (sums.dim() - 1))
    last_steps = np.minimum((np.arange(windows) + 1) * log_every, steps)
    return TrainingHistory(last_steps, *(means[..., i] for i in range(len(STATISTICS))))


def _check_finite(losses: torch.Tensor, first_step: int) -> None:
    finite = torch.isfinite(losses)
    if not bool(finite.all()):
        bad = int(torch.nonzero(~finite)[0, 0]) + first_step + 1
        raise TrainingDivergedError(
            f"the training loss became {float(losses[bad - first_step - 1])} at step {bad}; "
            "lower the learning rate, raise the penalty weight, or check the samples "
            "(a sampler that returns NaN or inf)"
        )


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="training critic", unit="step", leave=False)
