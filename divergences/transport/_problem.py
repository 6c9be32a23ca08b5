"""A transport problem as the solvers take it: validated samples and weights, in float64."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from divergences._backend import ArrayLike, Backend, precise
from divergences._validation import (
    as_samples,
    as_weights,
    backend_for,
    check_option,
    check_real,
    check_same_dimension,
)
from divergences.transport._costs import METRICS


@dataclass(frozen=True)
class _Problem:
    x: Any
    y: Any
    weights_x: Any
    weights_y: Any
    uniform: bool
    p: float
    metric: str
    backend: Backend


def _prepare(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: Any,
    weights_x: ArrayLike | None,
    weights_y: ArrayLike | None,
    metric: Any,
) -> _Problem:
    order = check_real(p, "p", minimum=1.0)
    metric = check_option(metric, "metric", METRICS)
    # The solver runs in float64 whatever the inputs; so does everything around it.
    backend = precise(backend_for(x=x, y=y, weights_x=weights_x, weights_y=weights_y))
    xs = as_samples(x, "x", backend)
    ys = as_samples(y, "y", backend)
    check_same_dimension(xs, ys)
    return _Problem(
        x=xs,
        y=ys,
        weights_x=as_weights(weights_x, "weights_x", int(xs.shape[0]), backend),
        weights_y=as_weights(weights_y, "weights_y", int(ys.shape[0]), backend),
        uniform=weights_x is None and weights_y is None,
        p=order,
        metric=metric,
        backend=backend,
    )
