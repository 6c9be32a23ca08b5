"""Costs at any scale of the samples: kept in a unit where they are normal float64 numbers.

A distance, a cost or a potential that float64 cannot represent is refused with a
``ValueError`` that says so, never returned as an inf, a 0 or a drifted value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from divergences._backend import Backend, Result, times_power_of_two

# log2 of the largest float64 and of the smallest normal one.
_LOG2_MAX, _LOG2_TINY = 1024.0, -1022.0


def _root(cost: Any, p: float, backend: Backend) -> Any:
    """``cost ** (1 / p)`` with gradient 0 (not inf) at a zero cost."""
    if p == 1:
        return cost
    positive = cost > 0
    return backend.where(positive, backend.where(positive, cost, 1.0) ** (1.0 / p), 0.0)


@dataclass(frozen=True)
class _ScaledCost:
    r"""An optimal cost kept in a unit of length where it is a normal float.

    :math:`W_p^p = u^p \cdot \text{cost}` with the unit
    :math:`u = \text{mantissa} \cdot 2^\text{exponent}` (a constant for autograd)
    chosen from the data so that ``cost`` neither overflows nor underflows,
    whatever the scale of the samples. The unit is kept as a mantissa and a
    power of two because it can itself lie beyond the float range.
    """

    cost: Any
    mantissa: float
    exponent: int
    p: float
    backend: Backend

    @classmethod
    def of(cls, cost: Any, scale: float, exponent: int, p: float, backend: Backend) -> _ScaledCost:
        """``cost`` in the unit ``scale * 2**exponent`` (``scale`` a positive float)."""
        mantissa, shift = math.frexp(scale)
        return cls(cost, mantissa, exponent + shift, p, backend)

    def distance(self) -> Result:
        r""":math:`W_p = u \cdot \text{cost}^{1/p}`, in the caller's dtype."""
        root = _root(self.cost, self.p, self.backend) * self.mantissa
        value = times_power_of_two(root, self.exponent)
        if not self.backend.all_finite(value):
            raise ValueError(
                f"W_{self.p:g} of these samples exceeds the float64 range (about 1.8e308); "
                "rescale the samples"
            )
        return self.backend.to_output(value)

    def in_cost_units(self, value: Any, what: str) -> Any:
        r"""``value`` (a cost or dual potentials, in units of :math:`u^p`) in the samples' units.

        :math:`u^p` can leave the float range where :math:`W_p` does not
        (``p = 2`` and samples at 1e200): that is an error, not an inf or a 0.
        """
        log2_factor = self.p * (math.log2(self.mantissa) + self.exponent)
        numbers = value if isinstance(value, (float, np.ndarray)) else self.backend.to_numpy(value)
        peak = float(np.max(np.abs(numbers), initial=0.0))
        if peak > 0 and not _LOG2_TINY <= math.log2(peak) + log2_factor < _LOG2_MAX:
            raise ValueError(
                f"the {what} of this problem (about 2^{math.log2(peak) + log2_factor:.0f}, "
                "in units of distance^p) is outside the float64 range, although W_p itself "
                "is representable; use wasserstein() for the distance, or rescale the samples"
            )
        whole = math.floor(log2_factor)
        return times_power_of_two(value * 2.0 ** (log2_factor - whole), whole)


def _refuse_resolution(p: float) -> None:
    raise ValueError(
        f"W_{p:g} of these samples is beyond float64's resolution: the optimal plan "
        f"moves mass over distances whose {p:g}-th powers, relative to the largest "
        "one, are below 1e-308; use a smaller p"
    )
