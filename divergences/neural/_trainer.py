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

from divergences.neural._networks import Critic
from divergences.neural._objectives import STATISTICS


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class Objective(Protocol):
    def backward(
        self, critic: Critic, x_p: torch.Tensor, x_q: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def after_step(self, critic: Critic) -> None: ...


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
        The penalty term before its weight (0 for weight clipping).
    grad_norm_mean, grad_norm_max : (k,) numpy.ndarray
        Mean and largest gradient norm of the critic on the batch's interpolates.
    """

    step: np.ndarray
    objective: np.ndarray
    penalty: np.ndarray
    grad_norm_mean: np.ndarray
    grad_norm_max: np.ndarray


Sampler = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def train(
    critic: Critic,
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
    sums = torch.zeros(windows, len(STATISTICS), device=device)
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
        sums[window] += stats.to(sums.dtype)
        losses[slot] = loss.detach()
        if slot == log_every - 1 or step == steps - 1:
            _check_finite(losses[: slot + 1], first_step=step - slot)
            if bar is not None:
                bar.update(slot + 1)
    if bar is not None:
        bar.close()
    counts = np.minimum(log_every, steps - np.arange(windows) * log_every)
    means = sums.cpu().numpy() / counts[:, None]
    last_steps = np.minimum((np.arange(windows) + 1) * log_every, steps)
    return TrainingHistory(last_steps, *(means[:, i] for i in range(len(STATISTICS))))


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
