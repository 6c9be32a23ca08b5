"""Coercion and checks that every public function goes through.

The rules, once for the whole package:

* numpy arrays, (nested) lists of numbers, Python scalars and torch tensors are
  accepted; anything else is a ``TypeError`` naming the argument.
* If any array argument is a torch tensor, the computation runs in torch on that
  tensor's device, in the promoted floating dtype of the tensors given (integer
  tensors use torch's default float dtype), and the result is a tensor of that
  dtype with autograd intact. Half-precision tensors (float16, bfloat16) are
  computed in float32 and the result cast back; a result beyond the range of
  the caller's dtype is a ``ValueError``, never an inf. The other arguments are
  converted to match. Tensors on different devices are a ``ValueError``, and so
  are tensors on the ``meta`` device (they hold no values).
* Otherwise the computation runs in numpy float64 and scalar results come back as
  Python floats.
* Masked arrays are refused unless a function gives their mask a meaning (the
  probability functions leave masked entries out, as ``scipy.stats.entropy``
  does), so that a mask is never silently dropped.
* Every error is a ``ValueError`` or ``TypeError`` whose message starts with the
  argument's name and says what was expected.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import numpy as np

from divergences._backend import Backend, NumpyBackend, TorchBackend, is_tensor


class _NamedArgument(Exception):
    """An error about one argument, which it carries as data.

    The message is ``f"{argument} {detail}"``, as every check here words it; a caller
    that calls the argument something else (the command line's files P and Q) can say
    the same thing in its own words from ``argument`` and ``detail``.
    """

    def __init__(self, argument: str, detail: str) -> None:
        super().__init__(f"{argument} {detail}")
        self.argument = argument
        self.detail = detail

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        # rebuilt from both parts when it crosses a process boundary (a worker's error)
        return type(self), (self.argument, self.detail)


class ArgumentError(_NamedArgument, ValueError):
    """A ``ValueError`` about the argument named by ``argument``; ``detail``: what is wrong."""


class ArgumentTypeError(_NamedArgument, TypeError):
    """A ``TypeError`` about the argument named by ``argument``; ``detail``: what is wrong."""


class ArgumentsError(ValueError):
    """A ``ValueError`` about several arguments at once, which it carries as data.

    ``template`` has one ``{}`` per name of ``arguments``, in order; the message is the
    template filled with those names, and :meth:`in_words` fills it with a caller's own
    names for them (the command line's files P and Q).
    """

    def __init__(self, template: str, arguments: tuple[str, ...]) -> None:
        super().__init__(template.format(*arguments))
        self.template = template
        self.arguments = arguments

    def in_words(self, names: Mapping[str, str]) -> str:
        """The message with each argument replaced by ``names[argument]`` where given."""
        return self.template.format(*(names.get(name, name) for name in self.arguments))

    def __reduce__(self) -> tuple[Any, tuple[str, tuple[str, ...]]]:
        return type(self), (self.template, self.arguments)


def check_same_dimension(a: Any, b: Any, names: tuple[str, str] = ("x", "y")) -> None:
    """Refuse two sample sets ``(n, d)`` and ``(m, d')`` with ``d != d'``."""
    if a.shape[1] != b.shape[1]:
        raise ArgumentsError(
            "{} and {} must have the same dimension d; "
            f"got d = {a.shape[1]} and d = {b.shape[1]}",
            names,
        )


_Function = TypeVar("_Function", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[_Function], _Function]:
    """Keep a function's old keyword names working for one release, with a warning.

    ``@renamed(samples_p="x")``: a call ``f(samples_p=a)`` runs as ``f(x=a)`` and
    emits a ``DeprecationWarning`` that names the new keyword; giving both is a
    ``TypeError``, as Python's own for a repeated argument.
    """

    def decorate(function: _Function) -> _Function:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(
                        f"{function.__name__}() got {old}= and {new}=; {old} is the "
                        f"deprecated name of {new}, give only {new}="
                    )
                warnings.warn(
                    f"{function.__name__}({old}=...) is deprecated and will be removed in "
                    f"the next release; use {new}=...",
                    DeprecationWarning,
                    stacklevel=2,
                )
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        return cast(_Function, wrapper)

    return decorate


def backend_for(**arrays: Any) -> Backend:
    """Choose the backend for a call from its array arguments (given by name).

    torch wins if any argument is a tensor; the tensors must share a device.
    """
    tensors = {name: value for name, value in arrays.items() if is_tensor(value)}
    if not tensors:
        return NumpyBackend()
    import torch

    devices = {name: value.device for name, value in tensors.items()}
    if len(set(devices.values())) > 1:
        listing = ", ".join(f"{name} on {device}" for name, device in devices.items())
        raise ValueError(f"tensor arguments must be on the same device; got {listing}")
    for name, value in tensors.items():
        if value.is_meta:
            raise ArgumentError(
                name,
                "is a tensor on the 'meta' device, which has a shape but no values; "
                "pass a tensor that holds data (on the CPU or a GPU)",
            )
    dtype = None
    for name, value in tensors.items():
        if value.is_complex():
            raise ArgumentTypeError(
                name, f"must hold real numbers; got a tensor of dtype {value.dtype}"
            )
        if value.dtype == torch.bool:
            raise ArgumentTypeError(name, "must hold real numbers; got a boolean tensor")
        if value.is_floating_point():
            dtype = value.dtype if dtype is None else torch.promote_types(dtype, value.dtype)
    if dtype is None:
        dtype = torch.get_default_dtype()
    working = torch.float32 if torch.finfo(dtype).bits < 32 else dtype
    return TorchBackend(dtype=working, device=next(iter(devices.values())), output_dtype=dtype)


def as_array(value: Any, name: str, backend: Backend) -> Any:
    """Convert ``value`` to a floating array of ``backend``; reject non-numbers."""
    if value is None:
        raise ArgumentTypeError(name, "must be an array of numbers; got None")
    if is_tensor(value):
        if isinstance(backend, NumpyBackend):  # pragma: no cover - backend_for prevents it
            raise ArgumentTypeError(name, "is a tensor but the other arguments are not")
        return value.to(dtype=backend.dtype)
    if isinstance(value, np.ma.MaskedArray):
        if np.ma.getmaskarray(value).any():
            raise ArgumentTypeError(
                name,
                f"is a masked array, whose mask would be ignored here; pass an "
                f"ordinary array: drop the masked entries ({name}.compressed(), or "
                f"numpy.ma.compress_rows for samples) or fill them ({name}.filled(value))",
            )
        value = np.ma.getdata(value)
    if not isinstance(value, (np.ndarray, numbers.Number, list, tuple)):
        raise ArgumentTypeError(
            name,
            f"must be a numpy array, a list of numbers or a torch tensor; "
            f"got {type(value).__name__}",
        )
    try:
        raw = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise ArgumentError(name, f"must be a rectangular array of numbers: {error}") from None
    if raw.dtype == np.bool_:
        raise ArgumentTypeError(name, "must hold real numbers; got booleans")
    if raw.dtype.kind not in "iuf":
        raise ArgumentTypeError(name, f"must hold real numbers; got an array of dtype {raw.dtype}")
    if isinstance(backend, TorchBackend):
        return backend.asarray(raw.astype(np.float64))
    return backend.asarray(raw)


def check_not_empty(x: Any, name: str) -> None:
    """Reject an array with no elements."""
    if math.prod(tuple(x.shape)) == 0:
        raise ArgumentError(name, f"must not be empty; got shape {tuple(x.shape)}")


def check_finite(x: Any, name: str, backend: Backend) -> None:
    """Reject NaN and infinities."""
    if not backend.all_finite(x):
        raise ArgumentError(name, "must contain only finite numbers; found NaN or inf")


def check_nonnegative(x: Any, name: str, backend: Backend) -> None:
    """Reject negative entries."""
    if backend.any_negative(x):
        raise ArgumentError(name, "must be non-negative; found a negative entry")


def check_axis(axis: Any, ndim: int) -> int | None:
    """Normalise ``axis`` (an int or ``None``) for an array of ``ndim`` dimensions."""
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an integer or None; got {type(axis).__name__}")
    if not -ndim <= int(axis) < ndim:
        raise ValueError(f"axis must be in [-{ndim}, {ndim - 1}] for {ndim}-D inputs; got {axis}")
    return int(axis) % ndim


def check_base(base: Any) -> float:
    """Return ``log(base)``, the divisor that converts nats to ``base`` units.

    ``None`` means natural logarithms (divisor 1).
    """
    if base is None:
        return 1.0
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be a positive number other than 1, or None; got {base!r}")
    base = float(base)
    if not math.isfinite(base) or base <= 0 or base == 1:
        raise ValueError(f"base must be a positive finite number other than 1; got {base}")
    return math.log(base)


def check_distance_base(base: Any) -> float:
    """``log(base)`` for a distance (the square root of a divergence): ``base > 1``.

    In a base below 1 a divergence is negative (SciPy's convention, kept by
    :func:`check_base`), and it has no real square root.
    """
    log_base = check_base(base)
    if log_base < 0:
        raise ValueError(
            "base must be greater than 1 for a distance: the divergence is negative in "
            f"units of a base below 1 and has no real square root; got {base}"
        )
    return log_base


def check_flag(value: Any, name: str) -> bool:
    """A boolean option (``True``/``False``, NumPy booleans included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(name, f"must be True or False; got {value!r}")
    return bool(value)


def check_real(value: Any, name: str, *, minimum: float | None = None) -> float:
    """A finite real scalar, optionally bounded below (inclusive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(name, f"must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ArgumentError(name, f"must be finite; got {value}")
    if minimum is not None and value < minimum:
        raise ArgumentError(name, f"must be >= {minimum:g}; got {value:g}")
    return value


def check_count(
    value: Any, name: str, *, minimum: int = 1, maximum: int | None = None, why: str = ""
) -> int:
    """An integer count of at least ``minimum`` (and at most ``maximum``, for ``why``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(name, f"must be an integer; got {value!r}")
    count = int(value)
    if count < minimum:
        raise ArgumentError(name, f"must be at least {minimum}; got {value}")
    if maximum is not None and count > maximum:
        raise ArgumentError(name, f"must be at most {maximum}{why}; got {value}")
    return count


def check_seed(seed: Any) -> int | None:
    """A non-negative integer seed, or ``None`` for fresh entropy."""
    if seed is None:
        return None
    return check_count(seed, "seed", minimum=0)


def torch_seed(seed: int) -> int:
    """The seed a ``torch.Generator`` gets for a checked ``seed``: the seed itself below
    2**32, and above, 32 bits of NumPy's ``SeedSequence(seed)``.

    torch's CPU generator reads only the low 32 bits of its seed and refuses one of
    2**64 or more, so ``seed`` and ``seed + 2**32`` would give the same numbers, and a
    large seed an overflow naming no argument. Small seeds map to themselves, so that
    a torch recipe's seed (the W1 benchmark's ``torch.manual_seed(987)``) is kept.
    """
    if seed < 2**32:
        return seed
    return int(np.random.SeedSequence(seed).generate_state(1, np.uint32)[0])


def check_option(value: Any, name: str, choices: Iterable[str]) -> str:
    """An option string that must be one of ``choices`` (listed in the error)."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        listing = ", ".join(repr(choice) for choice in choices)
        raise ArgumentError(name, f"must be one of {listing}; got {value!r}")
    return value


def probability_pair(
    p: Any, q: Any, *, axis: Any, names: tuple[str, str] = ("p", "q")
) -> tuple[Any, Any, int, tuple[int, ...], Backend]:
    """Validate, broadcast and normalise two arrays of probability weights.

    Returns ``(p, q, axis, kept_shape, backend)``: ``p`` and ``q`` broadcast to
    one shape and divided by their sums along ``axis``. ``axis=None`` flattens
    them, and the returned axis is then 0. ``kept_shape`` is the shape of a
    reduction along the axis with ``keepdims=True`` in SciPy's sense.

    Masked entries (of either array) are left out of both, as
    ``scipy.stats.entropy`` does: they become 0 in ``p`` and ``q`` alike, which
    removes them from the sums without changing the others. The sums cannot
    overflow (slices are scaled by their largest entry first where they would),
    and subnormal weights stay positive.
    """
    name_p, name_q = names
    backend = backend_for(**{name_p: p, name_q: q})
    masks = [np.ma.getmaskarray(v) if isinstance(v, np.ma.MaskedArray) else None for v in (p, q)]
    p, q = (v.filled(0) if isinstance(v, np.ma.MaskedArray) else v for v in (p, q))
    p = as_array(p, name_p, backend)
    q = as_array(q, name_q, backend)
    for x, name in ((p, name_p), (q, name_q)):
        if x.ndim == 0:
            raise ArgumentError(name, "must be an array of probabilities, not a scalar")
        check_not_empty(x, name)
        check_finite(x, name, backend)
        check_nonnegative(x, name, backend)
    try:
        shape = np.broadcast_shapes(tuple(p.shape), tuple(q.shape))
    except ValueError:
        raise ValueError(
            f"{name_p} and {name_q} must have shapes that broadcast together; "
            f"got {tuple(p.shape)} and {tuple(q.shape)}"
        ) from None
    p, q = backend.broadcast_to(p, shape), backend.broadcast_to(q, shape)
    present = [np.broadcast_to(mask, shape) for mask in masks if mask is not None]
    if present:
        masked = backend.index(np.logical_or.reduce(present))
        p, q = backend.where(masked, 0.0, p), backend.where(masked, 0.0, q)
    checked_axis = check_axis(axis, len(shape))
    if checked_axis is None:
        kept_shape = (1,) * len(shape)
        p, q, checked_axis = backend.reshape(p, (-1,)), backend.reshape(q, (-1,)), 0
    else:
        kept_shape = (*shape[:checked_axis], 1, *shape[checked_axis + 1 :])
    normalised = []
    for x, name in ((p, name_p), (q, name_q)):
        total = _total(x, checked_axis, backend)
        if bool((total <= 0).any()):
            raise ArgumentError(
                name,
                f"must have positive total mass along axis {axis}; found a slice that sums to 0",
            )
        normalised.append(_unit_sum(x, total, checked_axis, backend))
    return normalised[0], normalised[1], checked_axis, kept_shape, backend


def _total(x: Any, axis: int | None, backend: Backend) -> Any:
    """Sums along ``axis`` (kept), inf where they overflow: :func:`_unit_sum` handles those."""
    with np.errstate(over="ignore"):
        return backend.sum(x, axis=axis, keepdims=True)


def _unit_sum(x: Any, total: Any, axis: int | None, backend: Backend) -> Any:
    """``x`` divided by its sum ``total`` (positive) along ``axis``, even where the sum overflows.

    A sum beyond the float range is recomputed after dividing each slice by its
    largest entry; that divisor is a constant for autograd, which changes no
    gradient because the result does not depend on the scale of ``x``.
    """
    if not backend.all_finite(total):
        x = x / backend.detach(backend.max(x, axis=axis, keepdims=True))
        total = backend.sum(x, axis=axis, keepdims=True)
    return x / total


def as_vector(value: Any, name: str, backend: Backend) -> Any:
    """A finite 1-D vector; a scalar is a vector of length 1."""
    x = as_array(value, name, backend)
    if x.ndim == 0:
        x = backend.reshape(x, (1,))
    if x.ndim != 1:
        raise ArgumentError(name, f"must be a 1-D vector; got shape {tuple(x.shape)}")
    check_not_empty(x, name)
    check_finite(x, name, backend)
    return x


def as_covariance(value: Any, name: str, backend: Backend, dim: int, *, definite: bool) -> Any:
    """A finite symmetric positive (semi-)definite ``(dim, dim)`` matrix.

    A scalar is accepted as a 1x1 covariance (a variance) when ``dim == 1``.
    """
    c = as_array(value, name, backend)
    if c.ndim == 0:
        c = backend.reshape(c, (1, 1))
    if tuple(c.shape) != (dim, dim):
        raise ArgumentError(
            name, f"must be a ({dim}, {dim}) matrix to match the mean; got shape {tuple(c.shape)}"
        )
    check_finite(c, name, backend)
    scale = backend.scalar(backend.abs(c).max())
    asymmetry = backend.scalar(backend.abs(c - backend.transpose(c)).max())
    if asymmetry > 1e-10 * max(scale, 1e-300):
        raise ArgumentError(name, f"must be symmetric; max |C - C^T| is {asymmetry:.3g}")
    c = (c + backend.transpose(c)) / 2
    if definite:
        if backend.cholesky(c) is None:
            raise ArgumentError(name, "must be positive definite")
    else:
        smallest = backend.scalar(backend.eigvalsh(c).min())
        if smallest < -1e-10 * max(scale, 1e-300):
            raise ArgumentError(
                name, f"must be positive semi-definite; its smallest eigenvalue is {smallest:.3g}"
            )
    return c


def as_samples(value: Any, name: str, backend: Backend) -> Any:
    """Finite samples as an ``(n, d)`` array; a 1-D array of ``n`` values means ``d = 1``."""
    x = as_array(value, name, backend)
    if x.ndim == 1:
        x = backend.reshape(x, (-1, 1))
    if x.ndim != 2:
        raise ArgumentError(
            name,
            f"must be an (n, d) array of samples or a 1-D array of n values; "
            f"got shape {tuple(x.shape)}",
        )
    if x.shape[0] == 0:
        raise ArgumentError(name, f"must hold at least one sample; got shape {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ArgumentError(name, f"must have at least one coordinate; got shape {tuple(x.shape)}")
    check_finite(x, name, backend)
    return x


def sample_rows(
    value: Any, name: str, limit: int | None, rng: np.random.Generator, backend: Backend
) -> Any:
    """At most ``limit`` rows of the samples ``value``, for :func:`as_samples` to check.

    Where ``value`` has more rows, ``limit`` of them drawn uniformly without
    replacement, ``numpy.sort(rng.choice(n, limit, replace=False))``, kept in
    their order. numpy arrays (memory maps included) and tensors are indexed
    before any conversion or check, so only the rows kept are read: a
    memory-mapped file costs the rows drawn, not its size. Other inputs (lists)
    are converted first. ``None`` keeps every row.
    """
    if limit is None:
        return value
    lazy = isinstance(value, np.ndarray) and not isinstance(value, np.ma.MaskedArray)
    if not (lazy or is_tensor(value)):
        value = as_array(value, name, backend)
    shape = tuple(value.shape)
    if len(shape) not in (1, 2) or shape[0] <= limit:
        return value
    rows = np.sort(rng.choice(shape[0], size=limit, replace=False))
    return value[backend.index(rows)] if is_tensor(value) else value[rows]


def as_weights(value: Any, name: str, count: int, backend: Backend) -> Any:
    """Non-negative finite weights of length ``count``, normalised to sum to 1.

    ``None`` gives uniform weights. Weights whose sum overflows (1e307 each) are
    normalised all the same, and subnormal ones count as positive.
    """
    if value is None:
        return backend.from_numpy(np.full(count, 1.0 / count))
    w = as_array(value, name, backend)
    if w.ndim != 1 or w.shape[0] != count:
        raise ArgumentError(
            name,
            f"must be a 1-D array with one weight per sample ({count}); "
            f"got shape {tuple(w.shape)}",
        )
    check_finite(w, name, backend)
    check_nonnegative(w, name, backend)
    total = _total(w, None, backend)
    if not backend.scalar(total.max()) > 0:
        raise ArgumentError(name, "must have a positive sum; all weights are 0")
    return _unit_sum(w, total, None, backend)


def as_loss_batches(fake: Any, real: Any) -> tuple[Any, Any]:
    """The two batches of a generator's loss, ``loss(fake, real)``, checked.

    ``fake`` must be an (N, d) floating torch tensor, the generator's output: it is
    returned as it is, with its autograd graph. ``real`` is the data, (M, d): a
    tensor, a numpy array or a nested list of real numbers, returned on ``fake``'s
    device in ``fake``'s dtype and detached, since a loss is a function of ``fake``
    alone. Both go through the rules of every function (:func:`backend_for`,
    :func:`as_samples`: no meta tensors, no booleans, complex numbers or text, no
    NaN or inf, one device), except that both must be 2-D, since a batch of
    generated samples states its ``d``.
    """
    if not is_tensor(fake):
        raise TypeError(
            f"fake must be a torch.Tensor (the generator's output); got {type(fake).__name__}"
        )
    if not fake.is_floating_point():
        raise TypeError(f"fake must be a floating tensor; got dtype {fake.dtype}")
    # each alone first, so that a meta or complex tensor is named for what it is
    # rather than reported as a device mismatch
    backend_for(fake=fake)
    backend_for(real=real)
    backend_for(fake=fake, real=real)
    backend = TorchBackend(dtype=fake.dtype, device=fake.device)
    checked = []
    for name, value in (("fake", fake), ("real", real)):
        x = as_array(value, name, backend)
        if x.ndim != 2:
            raise ArgumentError(
                name, f"must be an (N, d) batch of samples; got shape {tuple(x.shape)}"
            )
        checked.append(as_samples(x, name, backend))
    fake, real = checked
    if fake.shape[1] != real.shape[1]:
        raise ValueError(
            f"fake and real must have the same dimension d; got d = {fake.shape[1]} and "
            f"d = {real.shape[1]}"
        )
    return fake, real.detach()
