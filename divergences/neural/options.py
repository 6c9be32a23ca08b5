"""The training options of every neural estimator, defined once.

:class:`TrainingOptions` is the single definition of the settings that
:func:`~divergences.neural.wasserstein_dual`, :func:`~divergences.neural.js_dual`,
their batch forms, the experiments and the benchmarks share: the network, its
optimiser, the data split, the seed and the device. The estimators take them
as keywords (``wasserstein_dual(x, y, steps=500, seed=0)``) or as an object
(``options=TrainingOptions(...)``); either way they pass through
:meth:`TrainingOptions.build`, which rejects unknown names. Adding an option is
one edit: a field here, with its check in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from divergences._validation import check_count, check_option, check_real, check_seed
from divergences.neural._networks import ACTIVATIONS

__all__ = ["DEFAULT_STEPS", "OPTIMIZERS", "TrainingOptions", "resolve_device"]

#: The default training budget, in optimiser steps of one network.
DEFAULT_STEPS = 2000


def _adam(
    parameters: list[torch.nn.Parameter], rate: float, decay: float = 0.0
) -> torch.optim.Optimizer:
    # betas (0.5, 0.9): the WGAN-GP recipe; the fused kernel is a few percent
    # faster where this torch build has it. Weight decay is decoupled (AdamW).
    kind = torch.optim.AdamW if decay > 0 else torch.optim.Adam
    settings: dict[str, Any] = {"lr": rate, "betas": (0.5, 0.9)}
    if decay > 0:
        settings["weight_decay"] = decay
    try:
        return kind(parameters, fused=True, **settings)
    except (RuntimeError, TypeError):
        return kind(parameters, **settings)


def _rmsprop(
    parameters: list[torch.nn.Parameter], rate: float, decay: float = 0.0
) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(parameters, lr=rate, weight_decay=decay)


#: The optimisers by name: a factory (parameters, learning rate, weight decay) and the
#: default learning rate.
OPTIMIZERS: dict[str, tuple[Callable[..., torch.optim.Optimizer], float]] = {
    "adam": (_adam, 1e-3),
    "rmsprop": (_rmsprop, 5e-5),
}


@dataclass(frozen=True)
class TrainingOptions:
    """How a neural estimator builds and trains its network.

    Every field is also a keyword of the estimators; unknown names are an
    error. The checks run when the object is made, so a bad value fails before
    any data is touched.

    Attributes
    ----------
    width : int or None, default None
        Hidden units per layer. None: chosen from the dimension and the
        activation (see :func:`~divergences.neural.default_architecture`), or
        taken from ``warm_start``.
    depth : int or None, default None
        Hidden layers. None: 3, or taken from ``warm_start``.
    activation : {"leaky_relu", "silu", "elu", "tanh"} or None, default None
        Hidden activation; the output is linear. None: chosen from the
        dimension (from d = 5 a LeakyReLU and a SiLU critic are both trained
        and the better one on the validation split kept), or taken from
        ``warm_start``.
    optimizer : {"adam", "rmsprop"} or None, default None
        None: the objective's choice (Adam with betas (0.5, 0.9); RMSProp for
        weight clipping, as its authors recommend).
    learning_rate : float or None, default None
        Initial learning rate, decayed to 0 over ``steps`` on a cosine
        schedule. None: 1e-3 for Adam, 5e-5 for RMSProp.
    weight_decay : float or None, default None
        Weight decay of the network's parameters: decoupled (AdamW) with
        Adam, torch's L2 term with RMSProp. None: the estimator's choice
        (for ``wasserstein_dual``, 1 above d = 32 and 0 up to it; 0
        elsewhere).
    batch_size : int, default 256
        Samples per side in each step.
    steps : int or None, default None
        Optimiser steps of each network. None: 2000, or 1000 for each of two
        candidate critics (the same budget).
    holdout : float, default 0.2
        Share of each sample array kept out of training and out of every
        choice for the final estimate (the test split, at least 2 samples).
    validation : float, default 0.2
        Share of each sample array for choosing the training checkpoint and
        calibrating the critic (at least 2 samples); 0 trains on everything
        but the test split and keeps the last checkpoint.
    evaluation_size : int, default 10000
        Fresh samples per side drawn from callables for the final estimate
        (and as many again for validation). Memory-mapped arrays, and arrays
        of more than 256 MB, are never copied whole: their rows are read as
        the batches need them, and their test and validation parts are at
        most this many rows each, chosen by a seeded hash of the row number.
    seed : int or None, default None
        Seed for the initialisation, the split, the batches and the
        interpolates; the same seed gives the same result on the CPU.
    device : str or torch.device, default "auto"
        Where to train: ``"auto"`` is CUDA when available, else the CPU.
    threads : int or None, default None
        Torch intra-op threads while training on the CPU, for the call only: the
        caller's setting is restored when it returns. None: one thread for a
        network whose step is small (the default critics, which gain little from
        more threads on an idle machine and lose much on a busy one: see the
        "Time" section of the neural benchmark page), torch's setting otherwise.
        ``torch.set_num_threads`` is not a per-call setting, so calls from
        several Python threads at once share one count, and a call that wants
        another count waits for them (see ``divergences.neural._trainer.cpu_threads``).
    progress : bool, default False
        Show a progress bar (tqdm) during training.

    Examples
    --------
    >>> from divergences.neural import TrainingOptions
    >>> options = TrainingOptions(steps=500, seed=0)
    >>> options.replace(batch_size=128).batch_size
    128
    >>> TrainingOptions.build(stpes=10)
    Traceback (most recent call last):
    ...
    TypeError: unknown option 'stpes' (did you mean 'steps'?); the options are ...
    """

    width: int | None = None
    depth: int | None = None
    activation: str | None = None
    optimizer: str | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    batch_size: int = 256
    steps: int | None = None
    holdout: float = 0.2
    validation: float = 0.2
    evaluation_size: int = 10_000
    seed: int | None = None
    device: Any = "auto"
    threads: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        checked: dict[str, Any] = {
            "width": None if self.width is None else check_count(self.width, "width"),
            "depth": None if self.depth is None else check_count(self.depth, "depth"),
            "activation": None
            if self.activation is None
            else check_option(self.activation, "activation", ACTIVATIONS),
            "optimizer": None
            if self.optimizer is None
            else check_option(self.optimizer, "optimizer", OPTIMIZERS),
            "learning_rate": None
            if self.learning_rate is None
            else _positive(self.learning_rate, "learning_rate"),
            "weight_decay": None
            if self.weight_decay is None
            else _non_negative(self.weight_decay, "weight_decay"),
            "batch_size": _count(self.batch_size, "batch_size"),
            "steps": None if self.steps is None else _count(self.steps, "steps"),
            "holdout": _share(self.holdout, "holdout"),
            "validation": _share(self.validation, "validation", zero=True),
            "evaluation_size": _count(self.evaluation_size, "evaluation_size", minimum=2),
            "seed": check_seed(self.seed),
            "threads": None if self.threads is None else check_count(self.threads, "threads"),
            "progress": _flag(self.progress, "progress"),
        }
        resolve_device(self.device)  # fails now, not after the data are read
        holdout, validation = float(checked["holdout"]), float(checked["validation"])
        if holdout + validation >= 1:
            raise ValueError(
                f"holdout + validation must leave samples to train on; got "
                f"{holdout} + {validation}"
            )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def build(cls, options: TrainingOptions | None = None, **overrides: Any) -> TrainingOptions:
        """``options`` (or the defaults) with ``overrides`` applied; unknown names raise.

        Raises
        ------
        TypeError
            If ``options`` is not a :class:`TrainingOptions` or an override is not
            an option; the message suggests the nearest name and lists them all.
        """
        if options is None:
            options = cls()
        elif not isinstance(options, TrainingOptions):
            raise TypeError(f"options must be a TrainingOptions; got {type(options).__name__}")
        names = cls.names()
        for name in overrides:
            if name not in names:
                near = difflib.get_close_matches(name, names, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise TypeError(
                    f"unknown option {name!r}{hint}; the options are {', '.join(names)}"
                )
        return options.replace(**overrides) if overrides else options

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> TrainingOptions:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The options as a JSON-friendly dictionary (the device as a string)."""
        values = dataclasses.asdict(self)
        values["device"] = str(self.device)
        return values

    def steps_for(self, candidates: int = 1) -> int:
        """Steps of each network when ``candidates`` critics share the default budget."""
        if self.steps is not None:
            return self.steps
        return DEFAULT_STEPS // max(1, candidates)

    @property
    def torch_device(self) -> torch.device:
        """The device to train on, with ``"auto"`` resolved."""
        return resolve_device(self.device)

    def make_optimizer(
        self, parameters: list[torch.nn.Parameter], preferred: str = "adam"
    ) -> torch.optim.Optimizer:
        """The optimiser these options name (``preferred`` where they name none), with
        their weight decay (none where it is None)."""
        factory, default_rate = OPTIMIZERS[self.optimizer or preferred]
        return factory(
            parameters,
            default_rate if self.learning_rate is None else self.learning_rate,
            self.weight_decay or 0.0,
        )


def resolve_device(device: Any) -> torch.device:
    """``device`` as a :class:`torch.device`, with ``"auto"`` resolved; errors name it."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or a torch.device; got {device!r}"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available here")
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device={device!r} was requested but there are {torch.cuda.device_count()} "
            "CUDA devices here"
        )
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device must be 'auto', 'cpu' or a CUDA device; got {device!r} "
            f"(the {resolved.type!r} backend is not supported)"
        )
    return resolved


#: The largest count an option takes: far beyond any useful run (2000 steps take
#: seconds), and below the 2^63 at which torch's integers overflow.
_MAX_COUNT = 10**12


def _count(value: Any, name: str, *, minimum: int = 1) -> int:
    count = check_count(value, name, minimum=minimum)
    if count > _MAX_COUNT:
        raise ValueError(f"{name} must be at most {_MAX_COUNT:.0e}; got {count}")
    return count


def _positive(value: Any, name: str) -> float:
    number = check_real(value, name)
    if not number > 0:
        raise ValueError(f"{name} must be positive; got {number:g}")
    return number


def _non_negative(value: Any, name: str) -> float:
    number = check_real(value, name)
    if not number >= 0:
        raise ValueError(f"{name} must be 0 or positive; got {number:g}")
    return number


def _share(value: Any, name: str, *, zero: bool = False) -> float:
    number = check_real(value, name)
    above_lower = number >= 0 if zero else number > 0
    if not above_lower or not number < 1:
        lower = "0 (inclusive)" if zero else "0"
        raise ValueError(f"{name} must be between {lower} and 1; got {number}")
    return number


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value
