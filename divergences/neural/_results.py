"""``NeuralResult``: what every neural estimate records about the training behind it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from divergences.neural._trainer import TrainingHistory
from divergences.neural.options import TrainingOptions


@dataclass(frozen=True, kw_only=True, repr=False)
class NeuralResult:
    """The fields shared by :class:`~divergences.neural.DualResult` and
    :class:`~divergences.neural.DiscriminatorResult`.

    Each estimator's result adds its numbers (``distance``, ``divergence``, the
    bounds) and its network to these. The shared fields are keyword-only, so
    that a result's own fields keep their positions in its constructor, and the
    repr lists the result's own fields first, as a reader looks for the
    estimate before the bookkeeping.

    Attributes
    ----------
    history : TrainingHistory
        The network's training statistics (objective, penalty, gradient norms).
    held_out_index : tuple of (numpy.ndarray or None)
        Which rows of ``x`` and ``y`` were held out of training
        for the final estimate (None for a callable, whose held-out samples are
        fresh draws).
    options : TrainingOptions
        The options the network was trained with.
    steps : int
        Optimiser steps of the network.
    seconds : float
        Wall time of training and evaluation.
    device : str
        Where the networks were trained.
    """

    history: TrainingHistory = field(repr=False)
    held_out_index: tuple[np.ndarray | None, np.ndarray | None] = field(repr=False)
    options: TrainingOptions = field(repr=False)
    steps: int
    seconds: float
    device: str

    def __repr__(self) -> str:
        # a subclass's fields come after these in fields(); the estimate reads first
        shared = {entry.name for entry in fields(NeuralResult)}
        shown = [entry.name for entry in fields(self) if entry.repr]
        names = [name for name in shown if name not in shared]
        names += [name for name in shown if name in shared]
        listing = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({listing})"
