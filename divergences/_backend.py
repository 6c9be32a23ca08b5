"""One array layer over numpy and torch, so each formula is written once.

Every public function computes with the operations below on whatever kind of
array came in; :mod:`divergences._validation` picks the backend and converts
the inputs. torch is imported only when a tensor was passed, so numpy-only calls
never pay for it.
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

    def sum(self, x: np.ndarray, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        return np.sum(x, axis=axis, keepdims=keepdims)

    def any(self, x: np.ndarray, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
        return np.any(x, axis=axis, keepdims=keepdims)

    def max(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.max(x, axis=axis)

    def where(self, condition: Any, a: Any, b: Any) -> np.ndarray:
        return np.where(condition, a, b)

    def log(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(x)

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

    def __init__(self, dtype: Any, device: Any) -> None:
        import torch

        self.torch = torch
        self.dtype = dtype
        self.device = device

    def asarray(self, value: Any) -> Any:
        return self.torch.as_tensor(value, dtype=self.dtype, device=self.device)

    def to_output(self, value: Any) -> Any:
        return value

    def sum(self, x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
        if axis is None:
            total = x.sum()
            return total.reshape((1,) * x.ndim) if keepdims else total
        return x.sum(dim=axis, keepdim=keepdims)

    def max(self, x: Any, axis: int) -> Any:
        return self.torch.amax(x, dim=axis)

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
