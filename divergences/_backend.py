"""One array layer over numpy and torch, so each formula is written once.

Every public function computes with the operations below on whatever kind of
array came in; :mod:`divergences._validation` picks the backend and converts
the inputs. torch is imported only when a tensor was passed, so numpy-only calls
never pay for it.

A backend has a working dtype (``dtype``: what the formulas compute in) and an
output dtype (what :meth:`to_output` returns, the caller's). They differ for
half-precision tensors, which are computed in float32 (every float16 and
bfloat16 number is exact there, and torch lacks half kernels such as the CPU
Cholesky), and inside the functions that compute in float64 whatever came in
(:func:`precise`). The module also holds the scale-safe helpers that several
modules share, :func:`scaled_norm` and :func:`standardise`, and functions that
take either kind of array (:func:`array_module`, :func:`take_along_rows` and the
like) for code written once against numpy's namespace, whose arrays' kind is not
fixed by one backend.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:
    import torch

#: What public functions accept as an array: numpy, nested lists, or torch.
ArrayLike = Union[np.ndarray, Sequence[Any], float, "torch.Tensor"]
#: What they return: a float or numpy array for numpy input, a tensor for torch.
Result = Union[float, np.ndarray, "torch.Tensor"]


def torch_module() -> Any | None:
    """Return the torch module if it has been imported, else ``None``.

    A tensor cannot exist unless torch was imported, so this tells whether an
    object can be a tensor without importing torch ourselves.
    """
    return sys.modules.get("torch")


def is_tensor(value: object) -> bool:
    """Whether ``value`` is a torch tensor (without importing torch)."""
    torch = torch_module()
    return torch is not None and isinstance(value, torch.Tensor)


class NumpyBackend:
    """Operations on float64 numpy arrays; scalar results come back as floats."""

    name = "numpy"

    def __init__(self) -> None:
        self.dtype = np.dtype(np.float64)

    def asarray(self, value: Any) -> np.ndarray:
        return np.asarray(value, dtype=self.dtype)

    def to_output(self, value: np.ndarray) -> float | np.ndarray:
        value = np.asarray(value)
        return float(value) if value.ndim == 0 else value

    def detach(self, x: np.ndarray) -> np.ndarray:
        return x

    @property
    def finfo(self) -> Any:
        """Limits of the working dtype (``tiny``: smallest normal, ``max``)."""
        return np.finfo(self.dtype)

    def sum(self, x: np.ndarray, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        return np.sum(x, axis=axis, keepdims=keepdims)

    def any(self, x: np.ndarray, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        return np.any(x, axis=axis, keepdims=keepdims)

    def max(self, x: np.ndarray, axis: int | None, keepdims: bool = False) -> np.ndarray:
        return np.max(x, axis=axis, keepdims=keepdims)

    def min(self, x: np.ndarray, axis: int | None, keepdims: bool = False) -> np.ndarray:
        return np.min(x, axis=axis, keepdims=keepdims)

    def where(self, condition: Any, a: Any, b: Any) -> np.ndarray:
        return np.where(condition, a, b)

    def log(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(x)

    def log1p(self, x: np.ndarray) -> np.ndarray:
        return np.log1p(x)

    def sqrt(self, x: np.ndarray) -> np.ndarray:
        return np.sqrt(x)

    def abs(self, x: np.ndarray) -> np.ndarray:
        return np.abs(x)

    def sign(self, x: np.ndarray) -> np.ndarray:
        return np.sign(x)

    def clip(self, x: np.ndarray, low: float, high: float) -> np.ndarray:
        return np.clip(x, low, high)

    def full_like(self, x: np.ndarray, fill: float) -> np.ndarray:
        return np.full_like(x, fill, dtype=self.dtype)

    def broadcast_to(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(x, shape)

    def reshape(self, x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.reshape(x, shape)

    def all_finite(self, x: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(x)))

    def scalar(self, x: np.ndarray) -> float:
        return float(x)

    def any_negative(self, x: np.ndarray) -> bool:
        return bool(np.any(x < 0))

    def norm(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.linalg.norm(x, axis=axis)

    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The (n, m) Euclidean distances between the rows, from their differences."""
        from scipy.spatial.distance import cdist

        return cdist(a, b)

    def transpose(self, a: np.ndarray) -> np.ndarray:
        return np.swapaxes(a, -1, -2)

    def trace(self, a: np.ndarray) -> np.ndarray:
        return np.trace(a, axis1=-2, axis2=-1)

    def diagonal(self, a: np.ndarray) -> np.ndarray:
        return np.diagonal(a, axis1=-2, axis2=-1)

    def cholesky(self, a: np.ndarray) -> np.ndarray | None:
        """Lower Cholesky factor, or ``None`` when ``a`` is not positive definite."""
        try:
            return np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            return None

    def eigh(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.linalg.eigh(a)

    def eigvalsh(self, a: np.ndarray) -> np.ndarray:
        return np.linalg.eigvalsh(a)

    def svdvals(self, a: np.ndarray) -> np.ndarray:
        return np.linalg.svd(a, compute_uv=False)

    def solve_lower(self, lower: np.ndarray, b: np.ndarray) -> np.ndarray:
        from scipy.linalg import solve_triangular

        return solve_triangular(lower, b, lower=True)

    def from_numpy(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array, dtype=self.dtype)

    def stack(self, arrays: Sequence[np.ndarray], axis: int) -> np.ndarray:
        return np.stack(arrays, axis=axis)

    def concatenate(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(arrays)

    def sort(self, x: np.ndarray) -> np.ndarray:
        return np.sort(x)

    def argsort(self, x: np.ndarray) -> np.ndarray:
        return np.argsort(x)

    def cumsum(self, x: np.ndarray) -> np.ndarray:
        return np.cumsum(x)

    def searchsorted(self, sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(sorted_values, values, side="left")

    def to_numpy(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float64)

    def index(self, indices: np.ndarray) -> np.ndarray:
        return indices

    def bincount(self, indices: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
        """Sums of ``weights`` by index into ``size`` bins."""
        return np.bincount(indices, weights=weights, minlength=size).astype(self.dtype)


class TorchBackend:
    """Operations on torch tensors of one floating dtype on one device."""

    name = "torch"

    def __init__(self, dtype: Any, device: Any, output_dtype: Any = None) -> None:
        import torch

        self.torch = torch
        self.dtype = dtype
        self.device = device
        self.output_dtype = dtype if output_dtype is None else output_dtype

    def with_dtype(self, dtype: Any) -> TorchBackend:
        """The same device and output dtype, computing in ``dtype``."""
        return TorchBackend(dtype, self.device, self.output_dtype)

    def asarray(self, value: Any) -> Any:
        return self.torch.as_tensor(value, dtype=self.dtype, device=self.device)

    def to_output(self, value: Any) -> Any:
        """``value`` in the caller's dtype; a ValueError where that dtype cannot hold it."""
        if value.dtype == self.output_dtype or not value.is_floating_point():
            return value
        cast = value.to(self.output_dtype)
        if bool((self.torch.isfinite(value) & ~self.torch.isfinite(cast)).any()):
            largest = self.torch.finfo(self.output_dtype).max
            raise ValueError(
                f"the result exceeds the range of the inputs' dtype {self.output_dtype} "
                f"(largest {largest:.4g}); pass float32 or float64 tensors"
            )
        return cast

    def detach(self, x: Any) -> Any:
        return x.detach()

    @property
    def finfo(self) -> Any:
        """Limits of the working dtype (``tiny``: smallest normal, ``max``)."""
        return self.torch.finfo(self.dtype)

    def sum(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        if axis is None:
            total = x.sum()
            return total.reshape((1,) * x.ndim) if keepdims else total
        return x.sum(dim=axis, keepdim=keepdims)

    def max(self, x: Any, axis: int | None, keepdims: bool = False) -> Any:
        if axis is None:
            peak = self.torch.amax(x)
            return peak.reshape((1,) * x.ndim) if keepdims else peak
        return self.torch.amax(x, dim=axis, keepdim=keepdims)

    def min(self, x: Any, axis: int | None, keepdims: bool = False) -> Any:
        if axis is None:
            low = self.torch.amin(x)
            return low.reshape((1,) * x.ndim) if keepdims else low
        return self.torch.amin(x, dim=axis, keepdim=keepdims)

    def any(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        if axis is None:
            result = x.any()
            return result.reshape((1,) * x.ndim) if keepdims else result
        return x.any(dim=axis, keepdim=keepdims)

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        return self.torch.where(condition, self._tensor(a), self._tensor(b))

    def _tensor(self, value: Any) -> Any:
        if isinstance(value, self.torch.Tensor):
            return value
        return self.torch.tensor(value, dtype=self.dtype, device=self.device)

    def log(self, x: Any) -> Any:
        return self.torch.log(x)

    def log1p(self, x: Any) -> Any:
        return self.torch.log1p(x)

    def sqrt(self, x: Any) -> Any:
        return self.torch.sqrt(x)

    def abs(self, x: Any) -> Any:
        return self.torch.abs(x)

    def sign(self, x: Any) -> Any:
        return self.torch.sign(x)

    def clip(self, x: Any, low: float, high: float) -> Any:
        return self.torch.clamp(x, low, high)

    def full_like(self, x: Any, fill: float) -> Any:
        return self.torch.full_like(x, fill, dtype=self.dtype)

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        return self.torch.broadcast_to(x, shape)

    def reshape(self, x: Any, shape: tuple[int, ...]) -> Any:
        return self.torch.reshape(x, shape)

    def all_finite(self, x: Any) -> bool:
        return bool(self.torch.isfinite(x).all())

    def scalar(self, x: Any) -> float:
        """A Python float for checks, outside the autograd graph."""
        return float(x.detach())

    def any_negative(self, x: Any) -> bool:
        return bool((x < 0).any())

    def norm(self, x: Any, axis: int = -1) -> Any:
        return self.torch.linalg.vector_norm(x, dim=axis)

    def distances(self, a: Any, b: Any) -> Any:
        """The (n, m) Euclidean distances between the rows, from their differences (not
        the matrix-product form, which loses digits); gradient 0 where two rows coincide."""
        return self.torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")

    def transpose(self, a: Any) -> Any:
        return a.transpose(-1, -2)

    def trace(self, a: Any) -> Any:
        return self.torch.diagonal(a, dim1=-2, dim2=-1).sum(-1)

    def diagonal(self, a: Any) -> Any:
        return self.torch.diagonal(a, dim1=-2, dim2=-1)

    def cholesky(self, a: Any) -> Any | None:
        """Lower Cholesky factor, or ``None`` when ``a`` is not positive definite."""
        lower, info = self.torch.linalg.cholesky_ex(a)
        return None if bool((info != 0).any()) else lower

    def eigh(self, a: Any) -> tuple[Any, Any]:
        values, vectors = self.torch.linalg.eigh(a)
        return values, vectors

    def eigvalsh(self, a: Any) -> Any:
        return self.torch.linalg.eigvalsh(a)

    def svdvals(self, a: Any) -> Any:
        return self.torch.linalg.svdvals(a)

    def solve_lower(self, lower: Any, b: Any) -> Any:
        return self.torch.linalg.solve_triangular(lower, b, upper=False)

    def from_numpy(self, array: np.ndarray) -> Any:
        return self.torch.as_tensor(array, dtype=self.dtype, device=self.device)

    def stack(self, arrays: Sequence[Any], axis: int) -> Any:
        return self.torch.stack(list(arrays), dim=axis)

    def concatenate(self, arrays: Sequence[Any]) -> Any:
        return self.torch.cat(list(arrays))

    def sort(self, x: Any) -> Any:
        return self.torch.sort(x).values

    def argsort(self, x: Any) -> Any:
        return self.torch.argsort(x)

    def cumsum(self, x: Any) -> Any:
        return self.torch.cumsum(x, dim=0)

    def searchsorted(self, sorted_values: Any, values: Any) -> Any:
        return self.torch.searchsorted(
            sorted_values.detach().contiguous(), values.detach().contiguous(), side="left"
        )

    def to_numpy(self, x: Any) -> np.ndarray:
        """A float64 numpy copy, detached from autograd and moved to the CPU."""
        return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float64)

    def index(self, indices: np.ndarray) -> Any:
        return self.torch.as_tensor(indices, device=self.device)

    def bincount(self, indices: np.ndarray, weights: Any, size: int) -> Any:
        """Sums of ``weights`` by index into ``size`` bins (differentiable in the weights)."""
        empty = self.torch.zeros(size, dtype=self.dtype, device=self.device)
        return empty.index_add(0, self.index(indices), weights.to(self.dtype))


Backend = NumpyBackend | TorchBackend


# Functions that take whichever kind of array they are given, for code written once
# against numpy's namespace (``xp = array_module(x)``) where the arrays' kind is not
# the backend's: the blocked neighbour search of ``divergences.knn`` runs on numpy
# arrays for CPU tensors (their memory, not a copy) and on tensors for CUDA ones.


def array_module(x: Any) -> Any:
    """numpy for numpy arrays, torch for tensors: the namespace whose functions take ``x``."""
    return torch_module() if is_tensor(x) else np


def take_along_rows(values: Any, columns: Any) -> Any:
    """``values[i, columns[i, j]]`` for every row ``i``."""
    if is_tensor(values):
        return values.gather(1, columns)
    return np.take_along_axis(values, columns, axis=1)


def stable_argsort(values: Any) -> Any:
    """Sorting order along the last axis; equal values keep their order."""
    if is_tensor(values):
        return values.argsort(dim=-1, stable=True)
    return np.argsort(values, axis=-1, kind="stable")


def smallest_in_rows(values: Any, count: int) -> Any:
    """Column indices of the ``count`` smallest entries of each row, in no particular order.

    Every other entry of a row is at least the largest of those returned.
    """
    if is_tensor(values):
        return values.topk(count, dim=1, largest=False, sorted=False).indices
    return np.argpartition(values, count - 1, axis=1)[:, :count]


def nonzero_indices(mask: Any) -> tuple[Any, Any]:
    """Row and column indices of the true entries of a 2-D mask."""
    rows, columns = mask.nonzero(as_tuple=True) if is_tensor(mask) else mask.nonzero()
    return rows, columns


def astype(x: Any, dtype: str) -> Any:
    """``x`` converted to the dtype named ``dtype`` (``"float32"``), of its own kind."""
    if is_tensor(x):
        return x.to(getattr(torch_module(), dtype))
    return x.astype(dtype)


def empty_like(like: Any, shape: tuple[int, ...]) -> Any:
    """An uninitialised array of ``shape`` of ``like``'s kind, dtype and device."""
    if is_tensor(like):
        return like.new_empty(shape)
    return np.empty(shape, dtype=like.dtype)


def arange_like(like: Any, stop: int) -> Any:
    """``0, 1, ..., stop - 1`` as integers of ``like``'s kind (and device)."""
    if is_tensor(like):
        return array_module(like).arange(stop, device=like.device)
    return np.arange(stop)


def psd_factor(a: Any, backend: Backend) -> Any:
    """A matrix ``L`` with ``L @ L.T == a`` for a symmetric positive semi-definite ``a``.

    The Cholesky factor when ``a`` is positive definite (its gradients are well
    defined even for repeated eigenvalues); otherwise ``V sqrt(max(w, 0))`` from
    the eigendecomposition, which also covers singular matrices.
    """
    lower = backend.cholesky(a)
    if lower is not None:
        return lower
    values, vectors = backend.eigh(a)
    return vectors * backend.sqrt(backend.clip(values, 0.0, math.inf))


def precise(backend: Backend) -> Backend:
    """The backend that computes in float64 and still returns the caller's dtype.

    For the functions whose inner solver works in float64 anyway (POT, SciPy's
    k-d trees), so that the differentiable reconstruction around it loses no
    precision and cannot overflow where the solver did not. Apple's MPS has no
    float64: float32 is the most it offers.
    """
    if isinstance(backend, NumpyBackend):
        return backend
    torch = backend.torch
    dtype = torch.float32 if backend.device.type == "mps" else torch.float64
    return backend.with_dtype(dtype)


# Powers of two up to this exponent are finite float64 numbers (scaled_norm's clip).
_SAFE_EXPONENT = 1000


def largest_step(x: Any) -> int:
    """The largest ``k`` for which ``2**k`` and ``2**-k`` are normal numbers in ``x``'s dtype.

    1022 for float64 (and Python floats), 126 for float32 and bfloat16, 14 for float16.
    """
    torch = torch_module()
    if torch is not None and isinstance(x, torch.Tensor):
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        return math.frexp(float(torch.finfo(dtype).max))[1] - 2
    dtype = np.result_type(x)
    return int(np.finfo(dtype).maxexp) - 2 if np.issubdtype(dtype, np.floating) else 1022


def times_power_of_two(x: Any, exponent: int) -> Any:
    """``x * 2**exponent``, exact unless the result leaves the normal range (inf beyond).

    The factor is applied in steps whose powers of two are normal numbers in ``x``'s
    own dtype: ``2.0**1024`` overflows float64, and a Python factor multiplies a tensor
    in the tensor's dtype, where ``2.0**128`` is already inf in float32. Each step moves
    ``x`` towards the result, so no intermediate overflows or underflows where the
    result does not.
    """
    largest = largest_step(x)
    with np.errstate(over="ignore"):  # an inf here is for the caller to refuse by name
        while exponent:
            step = max(-largest, min(largest, exponent))
            x = x * 2.0**step
            exponent -= step
    return x


def exponent_above(value: float) -> int:
    """The smallest ``k`` with ``|value| < 2**k`` (0 for 0)."""
    return math.frexp(value)[1] if value else 0


def bounding_box(arrays: Sequence[Any], backend: Backend) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest coordinates over all the point sets, as float64 arrays (d,)."""
    low = np.min(
        np.stack([backend.to_numpy(backend.min(backend.detach(a), axis=0)) for a in arrays]),
        axis=0,
    )
    high = np.max(
        np.stack([backend.to_numpy(backend.max(backend.detach(a), axis=0)) for a in arrays]),
        axis=0,
    )
    return low, high


def standardise(arrays: Sequence[Any], backend: Backend) -> tuple[list[Any], int]:
    """Translate and scale point sets together into the cube ``[-1, 1]^d``.

    Returns the arrays ``(x - c) / 2**k`` and ``k``: ``c`` is the midpoint of the
    bounding box of all the points, ``2**k`` the first power of two above its
    half-width. Distances between the returned points are the originals divided by
    ``2**k`` with no rounding beyond that of the subtraction (a power of two
    scales exactly, in steps that stay within the arrays' dtype, float32 data beyond
    ``2**127`` or subnormal included), so squares of coordinate differences neither
    overflow nor underflow at any input scale, and absolute tolerances downstream
    (POT's network simplex, k-d tree ties) act relative to the data's own extent.
    ``c`` and ``k`` are constants for autograd: gradients flow through ``x``.
    """
    low, high = bounding_box(arrays, backend)
    # Halves first: high - low can overflow where each half cannot.
    center = low / 2 + high / 2
    exponent = exponent_above(float(np.max(high / 2 - low / 2)))
    # Scale before subtracting, so that the difference stays in [-1, 1].
    shifted_center = backend.from_numpy(times_power_of_two(center, -exponent))
    return [times_power_of_two(a, -exponent) - shifted_center for a in arrays], exponent


def scaled_norm(x: Any, backend: Backend, axis: int = -1) -> Any:
    """Euclidean norm along ``axis`` that neither overflows nor underflows (hypot-style).

    Each vector is divided by a power of two near its largest entry before the
    squares are summed. The gradient is ``x / |x|``, and 0 (never NaN) at 0. A
    norm beyond the float range comes out inf, for the caller to refuse.
    """
    peak = backend.to_numpy(backend.max(backend.abs(backend.detach(x)), axis=axis, keepdims=True))
    # Clipped so that the scale and its inverse are normal numbers; the largest
    # entry then lies between 2**-74 and 2**24, whose square neither overflows nor
    # underflows.
    exponents = np.clip(np.frexp(peak)[1], -_SAFE_EXPONENT, _SAFE_EXPONENT)
    scale = backend.from_numpy(np.ldexp(1.0, -exponents))
    unit = x * scale
    squared = backend.sum(unit * unit, axis=axis)
    positive = squared > 0
    root = backend.where(positive, backend.sqrt(backend.where(positive, squared, 1.0)), 0.0)
    with np.errstate(over="ignore"):  # a norm beyond the float range: the caller refuses it
        return root * backend.from_numpy(np.ldexp(1.0, np.squeeze(exponents, axis=axis)))
