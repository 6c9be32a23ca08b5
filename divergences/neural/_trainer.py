"""The training loop, written once for every objective, and its extension point.

An objective (any object with the methods of :class:`Objective`) says what a
network maximises; :func:`train` runs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from divergences._validation import torch_seed
from divergences.neural._distributed import Group
from divergences.neural._networks import _Perceptron
from divergences.neural.options import TrainingOptions

#: Statistics every objective returns for each step, in this order.
STATISTICS = ("objective", "penalty", "grad_norm_mean", "grad_norm_max")

#: ``sample(size, generator)``: a batch of each side, (size, d) or (K, size, d).
Sampler = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class Objective(Protocol):
    """What :func:`train` needs of an objective: a gradient per step, a projection after it.

    ``backward(network, x_p, x_q, generator)`` sets the ``.grad`` of the
    network's parameters to the gradient of the loss to *minimise* on one
    batch (``x_p`` and ``x_q`` are (N, d), or (K, N, d) for a
    :class:`~divergences.neural.CriticStack`, whose loss is the sum of the K
    losses), and returns the loss and a tensor of statistics whose last axis
    follows :data:`STATISTICS` (zeros where one does not apply), both on the
    device and without a graph. ``generator`` is the seeded torch generator
    for any randomness (interpolates). ``after_step(network)`` runs after each
    optimiser step (weight clipping projects there; most objectives do
    nothing). ``optimizer`` names the optimiser the objective is meant to be
    trained with when the options name none.
    """

    @property
    def optimizer(self) -> str: ...

    def backward(
        self,
        network: _Perceptron,
        x_p: torch.Tensor,
        x_q: torch.Tensor,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def after_step(self, network: _Perceptron) -> None: ...


@dataclass(frozen=True)
class TrainingHistory:
    """Statistics along training, averaged over windows of ``log_every`` steps.

    For networks trained together as a stack the statistics are (k, K) and the
    scores (c, K), one column per network; :meth:`select` takes one out.

    Attributes
    ----------
    step : (k,) numpy.ndarray
        The last step of each window.
    objective : (k,) numpy.ndarray
        The unpenalised objective on the training batches.
    penalty : (k,) numpy.ndarray
        The penalty before its weight (0 for weight clipping and the discriminator).
    grad_norm_mean, grad_norm_max : (k,) numpy.ndarray
        Mean and largest gradient norm of the network on the batch's interpolates.
    check_step : (c,) numpy.ndarray
        The steps after which the monitor scored the network (empty without one).
    check_score : (c,) numpy.ndarray
        Its scores there (higher is better).
    selected_step : int or (K,) numpy.ndarray
        The step whose parameters the network kept: the best-scored check, or
        the last step without a monitor.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> x = np.random.default_rng(0).normal(size=(400, 1))
    >>> history = dv.js_dual(x, x + 2.0, steps=100, seed=0, device="cpu").history
    >>> int(history.step[-1]), history.objective.shape
    (100, (2,))
    """

    step: np.ndarray
    objective: np.ndarray
    penalty: np.ndarray
    grad_norm_mean: np.ndarray
    grad_norm_max: np.ndarray
    check_step: np.ndarray
    check_score: np.ndarray
    selected_step: Any

    def select(self, index: int) -> TrainingHistory:
        """The history of network ``index`` of a stack."""
        columns = {name: getattr(self, name)[:, index] for name in STATISTICS}
        scores = self.check_score[:, index] if self.check_score.ndim == 2 else self.check_score
        selected = np.asarray(self.selected_step)
        return TrainingHistory(
            step=self.step,
            **columns,
            check_step=self.check_step,
            check_score=scores,
            selected_step=int(selected[index] if selected.ndim else selected),
        )


def train(
    network: nn.Module,
    objective: Objective,
    sample: Sampler,
    options: TrainingOptions | None = None,
    *,
    generator: torch.Generator | None = None,
    log_every: int = 50,
    monitor: Callable[[Any], torch.Tensor] | None = None,
    check_every: int = 100,
    optimizer: torch.optim.Optimizer | None = None,
    group: Any = None,
) -> TrainingHistory:
    """Train ``network`` on ``objective`` for ``options.steps`` steps (default 2000).

    Each step draws ``options.batch_size`` samples a side from ``sample``, sets
    the gradients by ``objective.backward`` and steps the optimiser: the one the
    options name (else the objective's) at the options' learning rate on a
    cosine decay to 0, or ``optimizer`` as it is, for training that resumes.
    This is the loop of every estimator of :mod:`divergences.neural`.

    Parameters
    ----------
    network : torch.nn.Module
        The network to train, in place, on its device: a Critic or
        CriticStack, or any module the objective knows how to differentiate.
    objective : Objective
        What to minimise (see :class:`Objective`).
    sample : callable
        ``sample(size, generator)`` returns a batch of each side.
    options : TrainingOptions, optional
        ``steps``, ``batch_size``, ``optimizer``, ``learning_rate`` and
        ``progress`` are used; the defaults if None.
    generator : torch.Generator, optional
        Randomness for the objective (a fresh one seeded from
        ``options.seed`` if None).
    log_every : int, default 50
        Steps per window of the returned statistics.
    monitor : callable, optional
        ``monitor(network)`` scores the network (a scalar, or one score per
        network of a stack; higher is better) every ``check_every`` steps and
        at the end; each network keeps the parameters of its best-scored check.
    check_every : int, default 100
        Steps between two calls of ``monitor``.
    optimizer : torch.optim.Optimizer, optional
        An optimiser over the network's parameters, stepped with no schedule
        (its state carries over between calls); the options' ``optimizer`` and
        ``learning_rate`` are then unused.
    group : torch.distributed.ProcessGroup, optional
        Average the gradients over this group's ranks after every step (one
        ``all_reduce``), each rank calling ``train`` with networks that start
        equal and drawing its own batches. None (the default): no collective is
        ever called.

    Returns
    -------
    TrainingHistory
        Windowed means of the objective's statistics.

    Raises
    ------
    TrainingDivergedError
        If the loss becomes NaN or infinite; the message names the step.
    TypeError, ValueError
        If ``group`` is not None or a ProcessGroup this process belongs to.

    Notes
    -----
    On the CPU the loop runs with ``options.threads`` torch intra-op threads
    (by default one for a small network, whose steps gain little from more;
    measured on the benchmark page docs/benchmarks/neural_dual.md), and the
    caller's setting comes back when the call returns. The statistics stay on
    the device; the host reads them once per logging window.

    Examples
    --------
    An objective of one's own: the mean difference with weight clipping to
    ±0.05 (the original WGAN), trained by the same loop.

    >>> import torch
    >>> from divergences.neural import Critic, TrainingOptions, train
    >>> class ClippedMeanDifference:
    ...     optimizer = "rmsprop"
    ...     def backward(self, network, x_p, x_q, generator):
    ...         value = network(x_p).mean(-1) - network(x_q).mean(-1)
    ...         loss = -value.sum()
    ...         loss.backward()
    ...         stats = torch.stack([value, 0 * value, 0 * value, 0 * value], dim=-1)
    ...         return loss.detach(), stats.detach()
    ...     def after_step(self, network):
    ...         with torch.no_grad():
    ...             for parameter in network.parameters():
    ...                 parameter.clamp_(-0.05, 0.05)
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> critic = Critic(dim=1, width=16, depth=2)
    >>> def sample(size, generator):
    ...     x = torch.randn(size, 1, generator=generator)
    ...     return x, torch.randn(size, 1, generator=generator) + 2
    >>> options = TrainingOptions(steps=200, learning_rate=5e-3, seed=0)
    >>> history = train(critic, ClippedMeanDifference(), sample, options)
    >>> bool(history.objective[-1] > history.objective[0])
    True
    """
    options = TrainingOptions() if options is None else options
    ranks = Group.of(group)
    device = next(network.parameters()).device
    if generator is None:
        seed = options.seed
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 2)
        generator = torch.Generator(device=device).manual_seed(torch_seed(seed))
    with cpu_threads(threads_for(network, options, device)):
        return _train(
            network,
            objective,
            sample,
            options,
            generator,
            log_every,
            monitor,
            check_every,
            optimizer,
            ranks,
        )


#: Below this many multiply-adds per step (parameters x batch rows) the CPU trains on one
#: thread (measured on the benchmark page docs/benchmarks/neural_dual.md, "Time").
SMALL_STEP = 10**8


def threads_for(network: Any, options: TrainingOptions, device: torch.device) -> int | None:
    """The intra-op threads to train with: the options', 1 for a small CPU network, else None."""
    if options.threads is not None:
        return options.threads
    if device.type != "cpu":
        return None
    work = sum(parameter.numel() for parameter in network.parameters()) * options.batch_size
    return 1 if work < SMALL_STEP else None


class _ThreadSetting:
    """Who holds torch's intra-op thread count, and what to give back."""

    # torch.set_num_threads sets two things: the calling thread's own count (OpenMP's and
    # MKL's are per thread) and the count that threads which first use torch later take.
    # The library's calls share one setting: the first records the count new threads
    # would take and sets its own, calls that want the same count join, others wait until
    # the last holder has left. Each thread gives its own count back when it leaves, and
    # the last one gives back the count for new threads, which a thread of its own sets
    # (from the leaving thread it would change that thread's count too).
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.count: int | None = None  # the count held, None when no call holds one
        self.holders = 0
        self.inherited = 0  # the count new threads took when the first holder entered
        self.local = threading.local()  # per thread: how deep its own holds nest


_SETTING = _ThreadSetting()


def _in_a_new_thread(action: Callable[[], int | None]) -> int | None:
    """``action()`` run in a thread started for it: what torch gives threads started now."""
    seen: list[int | None] = []
    thread = threading.Thread(target=lambda: seen.append(action()), daemon=True)
    thread.start()
    thread.join()
    return seen[0]


def _count_for_new_threads() -> int:
    """The count a thread started now runs with (a thread's own count may be older)."""
    count = _in_a_new_thread(torch.get_num_threads)
    assert count is not None  # torch.get_num_threads returns an int
    return count


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads (None: as they are), then restore.

    Thread-safe: calls wanting the same count share it, and one wanting another
    waits until they have left. A nested block runs with the count its thread
    holds. A thread that first uses torch inside a block takes the count. On
    leaving, each thread has its own count back, and threads started after the
    last holder has left take the count they took before the first entered.
    """
    if count is None:
        yield
        return
    setting = _SETTING
    depth = getattr(setting.local, "depth", 0)
    with setting.changed:
        if depth == 0:
            while setting.holders > 0 and setting.count != count:
                setting.changed.wait()
            if setting.holders == 0:
                setting.inherited = _count_for_new_threads()
                setting.count = count
        setting.holders += 1
        held = setting.count
        assert held is not None  # set by the first holder, kept while any holds
        own = torch.get_num_threads()
        if own != held:
            torch.set_num_threads(held)
    setting.local.depth = depth + 1
    try:
        yield
    finally:
        setting.local.depth = depth
        with setting.changed:
            setting.holders -= 1
            for_new_threads = None  # not known: another thread may have set it last
            if depth == 0 and torch.get_num_threads() != own:
                torch.set_num_threads(own)  # this thread's own count, and new threads' now
                for_new_threads = own
            if setting.holders == 0:
                inherited = setting.inherited
                if for_new_threads != inherited:
                    _in_a_new_thread(lambda: torch.set_num_threads(inherited))
                setting.count = None
                setting.changed.notify_all()
            elif depth == 0 and own != held:
                # threads that first use torch while others hold still take the held count
                _in_a_new_thread(lambda: torch.set_num_threads(held))


def _train(
    network: Any,
    objective: Objective,
    sample: Sampler,
    options: TrainingOptions,
    generator: torch.Generator,
    log_every: int,
    monitor: Callable[[Any], torch.Tensor] | None,
    check_every: int,
    resumed: torch.optim.Optimizer | None,
    group: Group,
) -> TrainingHistory:
    """The loop of :func:`train`, with its arguments resolved."""
    device = next(network.parameters()).device
    steps = options.steps_for(1)
    schedule: torch.optim.lr_scheduler.LRScheduler | None = None
    if resumed is None:
        optimizer = options.make_optimizer(
            list(network.parameters()), getattr(objective, "optimizer", "adam")
        )
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    else:
        optimizer = resumed
    windows = -(-steps // log_every)
    sums: torch.Tensor | None = None  # (windows, ..., statistics), shaped by the first step
    losses = torch.zeros(log_every, device=device)
    bar = _progress_bar(steps) if options.progress else None
    checks: list[tuple[int, torch.Tensor]] = []
    best: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor] | None = None
    network.train()
    for step in range(steps):
        x_p, x_q = sample(options.batch_size, generator)
        optimizer.zero_grad(set_to_none=True)
        loss, stats = objective.backward(network, x_p, x_q, generator)
        group.average_gradients(network.parameters())
        optimizer.step()
        objective.after_step(network)
        if schedule is not None:
            schedule.step()
        window, slot = divmod(step, log_every)
        if sums is None:
            sums = torch.zeros(windows, *stats.shape, device=device)
        sums[window] += stats.to(sums.dtype)
        losses[slot] = loss.detach()
        if slot == log_every - 1 or step == steps - 1:
            _check_finite(losses[: slot + 1], first_step=step - slot, group=group)
            if bar is not None:
                bar.update(slot + 1)
        if monitor is not None and ((step + 1) % check_every == 0 or step == steps - 1):
            network.eval()
            score = monitor(network).detach()
            network.train()
            checks.append((step + 1, score))
            best = _keep_best(network, score, step + 1, best)
    if bar is not None:
        bar.close()
    network.eval()
    selected_step: Any = steps
    if best is not None:
        _, parameters, best_steps = best
        with torch.no_grad():
            for parameter, kept in zip(network.parameters(), parameters, strict=True):
                parameter.copy_(kept)
        selected_step = best_steps.cpu().numpy()
    assert sums is not None  # steps >= 1, checked by TrainingOptions
    counts = np.minimum(log_every, steps - np.arange(windows) * log_every)
    means = sums.cpu().numpy() / counts.reshape(-1, *[1] * (sums.dim() - 1))
    last_steps = np.minimum((np.arange(windows) + 1) * log_every, steps)
    return TrainingHistory(
        step=last_steps,
        **{name: means[..., i] for i, name in enumerate(STATISTICS)},
        check_step=np.array([step for step, _ in checks], dtype=np.int64),
        check_score=torch.stack([score for _, score in checks]).double().cpu().numpy()
        if checks
        else np.zeros(0),
        selected_step=selected_step,
    )


def _keep_best(
    network: Any,
    score: torch.Tensor,
    step: int,
    best: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor] | None,
) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """The best scores so far, the parameters that scored them, and their steps."""
    # a stack's parameters carry the networks on their first axis: each keeps its own
    # best, on the device, without a host synchronisation
    parameters = [parameter.detach() for parameter in network.parameters()]
    if best is None:
        steps = torch.full_like(score, step, dtype=torch.int64)
        return score.clone(), [p.clone() for p in parameters], steps
    scores, kept, steps = best
    better = (score > scores) | torch.isnan(scores)
    for saved, parameter in zip(kept, parameters, strict=True):
        mask = better.reshape(-1, *[1] * (parameter.dim() - 1)) if better.dim() else better
        saved.copy_(torch.where(mask, parameter, saved))
    steps = torch.where(better, torch.full_like(steps, step), steps)
    return torch.where(better, score, scores), kept, steps


def _check_finite(losses: torch.Tensor, first_step: int, group: Group) -> None:
    """Raise :class:`TrainingDivergedError` if a loss of the window is not finite on any rank."""
    finite = torch.isfinite(losses)
    here = (~finite).sum().reshape(1).to(losses.dtype)
    # every rank stops together: one diverging rank would leave the others waiting.
    # One transfer to the host per logging window (two counts), not one per test.
    failed_here, failed_anywhere = torch.cat([here, group.sum(here.clone())]).tolist()
    if failed_anywhere == 0:
        return
    if failed_here == 0:
        raise TrainingDivergedError(
            f"the training loss became non-finite on another process by step "
            f"{first_step + losses.shape[0]}"
        )
    bad = int(torch.nonzero(~finite)[0, 0]) + first_step + 1
    raise TrainingDivergedError(
        f"the training loss became {float(losses[bad - first_step - 1])} at step {bad}; "
        "lower the learning rate, raise the penalty weight, or check the samples "
        "(a sampler that returns NaN or inf)"
    )


def _progress_bar(total: int) -> Any:
    """A tqdm bar of ``total`` steps."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="training", unit="step", leave=False)
