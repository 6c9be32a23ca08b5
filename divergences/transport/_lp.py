"""The exact transport linear program: POT's network simplex in units of the data.

The cost matrix is built between the samples moved and scaled into the unit cube,
its entries divided by the largest before their ``p``-th power; the solve is
refused beforehand when the matrix would not fit in memory, and afterwards when
POT did not reach the optimum or the plan moves mass over costs float64 cannot
resolve.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from divergences._backend import standardise
from divergences._memory import refuse_beyond_memory
from divergences.transport._costs import _METRICS, _NUMPY, _distance_matrix
from divergences.transport._problem import _Problem
from divergences.transport._scale import _refuse_resolution, _ScaledCost

# Peak memory of ot.emd per cost-matrix entry (the cost matrix, the plan and the
# solver's network; docs/benchmarks/exact_wasserstein.md has the measured figure),
# rounded up for what our own call adds.
_BYTES_PER_ENTRY = 48

# POT's network simplex result codes.
_INFEASIBLE, _OPTIMAL, _UNBOUNDED, _MAX_ITER_REACHED = 0, 1, 2, 3
# POT counts iterations in an unsigned 64-bit integer; a larger cap is a raw
# OverflowError inside it, and any cap this large never stops a solver anyway.
_MAX_ITER_LIMIT = 2**63 - 1


class SolverError(RuntimeError):
    """The transport linear program did not reach an optimal solution."""


def _check_memory(n: int, m: int, memory_limit: float | None) -> None:
    needed = _BYTES_PER_ENTRY * n * m
    refuse_beyond_memory(
        needed,
        memory_limit,
        lambda limit, origin: (
            f"an exact transport problem between {n} and {m} samples needs about "
            f"{needed / 1e9:.2f} GB ({_BYTES_PER_ENTRY} bytes per entry of the {n} x {m} cost "
            f"matrix, for the matrix, the plan and the solver), more than the "
            f"{limit / 1e9:.2f} GB allowed ({origin}). Use wasserstein_dual for a neural "
            "estimate of W1, subsample, raise memory_limit (in bytes), or use "
            "sliced_wasserstein, a different metric that bounds W_p from below."
        ),
    )


def default_max_iter(n: int, m: int) -> int:
    """The network simplex iteration cap used when ``max_iter`` is not given.

    The pivots needed grow faster than the sample size, so POT's default cap of
    100 000 stops random problems short of the optimum from a few thousand
    points a side (docs/benchmarks/exact_wasserstein.md). The cap is ten times
    the number of variables ``n * m``, so that it only stops a solver that would
    never finish.

    Examples
    --------
    >>> default_max_iter(4000, 4000)
    160000000
    """
    return max(100_000, 10 * n * m)


@dataclass(frozen=True)
class _Solution:
    """The linear program's solution, in the units of :class:`_ScaledCost`.

    POT solved it for the costs :math:`(d_{ij} / \text{largest})^p`, with the
    distances :math:`d_{ij}` between ``unit_x`` and ``unit_y``: the samples moved
    and divided by ``2**exponent``; ``rows, cols`` index the plan's support.
    """

    scaled: _ScaledCost
    plan: np.ndarray
    potential_x: np.ndarray
    potential_y: np.ndarray
    unit_x: np.ndarray
    unit_y: np.ndarray
    largest: float
    exponent: int
    rows: np.ndarray
    cols: np.ndarray


def _solve_lp(problem: _Problem, max_iter: int | None, memory_limit: float | None) -> _Solution:
    import ot

    backend = problem.backend
    n, m = int(problem.x.shape[0]), int(problem.y.shape[0])
    cap = default_max_iter(n, m) if max_iter is None else max_iter
    _check_memory(n, m, memory_limit)
    # POT's tolerances are absolute: it must see costs of order 1 at any scale of
    # the data, and squares of coordinates that neither overflow nor underflow.
    (x, y), exponent = standardise([problem.x, problem.y], backend)
    x_np, y_np = backend.to_numpy(x), backend.to_numpy(y)
    costs = _distance_matrix(x_np, y_np, problem.metric)
    largest = float(costs.max()) if problem.p != 1 else 0.0
    if largest > 0:
        # Powers of distances up to 1 stay in [0, 1] whatever p is.
        costs *= 1.0 / largest
        np.power(costs, problem.p, out=costs)
    else:
        largest = 1.0
    a = backend.to_numpy(problem.weights_x)
    b = backend.to_numpy(problem.weights_y)
    with warnings.catch_warnings():
        # POT only warns when it stops early; the result code below is checked instead.
        warnings.simplefilter("ignore", UserWarning)
        plan, log = ot.emd(a, b, costs, numItermax=cap, log=True)
    code = log["result_code"]
    if code == _MAX_ITER_REACHED:
        raise SolverError(
            f"the network simplex stopped after max_iter={cap} iterations without reaching "
            "the optimal plan, so its cost is not the Wasserstein distance; pass a larger "
            f"max_iter (for example max_iter={min(10 * cap, _MAX_ITER_LIMIT)})"
        )
    if code != _OPTIMAL:
        state = {_INFEASIBLE: "infeasible", _UNBOUNDED: "unbounded"}.get(code, f"code {code}")
        raise SolverError(f"the transport linear program was reported {state} by POT")
    rows, cols = np.nonzero(plan)
    moves = _METRICS[problem.metric](x_np[rows] - y_np[cols], _NUMPY)
    _check_resolution(moves, costs[rows, cols], problem.p)
    if backend.name == "numpy":
        cost: Any = float(log["cost"])
    else:
        # Envelope theorem: with the optimal plan and potentials held fixed, the
        # cost along the plan has the optimal cost's gradient in the positions,
        # and the potentials are its gradient in the weights.
        mass = backend.from_numpy(plan[rows, cols])
        rows_b, cols_b = backend.index(rows), backend.index(cols)
        pair_costs = _METRICS[problem.metric](x[rows_b] - y[cols_b], backend)
        if problem.p != 1:
            pair_costs = (pair_costs * (1.0 / largest)) ** problem.p
        wx, wy = problem.weights_x, problem.weights_y
        cost = (
            backend.sum(mass * pair_costs)
            + backend.sum((wx - wx.detach()) * backend.from_numpy(log["u"]))
            + backend.sum((wy - wy.detach()) * backend.from_numpy(log["v"]))
        )
    return _Solution(
        scaled=_ScaledCost.of(cost, largest, exponent, problem.p, backend),
        plan=plan,
        potential_x=log["u"],
        potential_y=log["v"],
        unit_x=x_np,
        unit_y=y_np,
        largest=largest,
        exponent=exponent,
        rows=rows,
        cols=cols,
    )


def _check_resolution(moves: np.ndarray, used_costs: np.ndarray, p: float) -> None:
    """Refuse a plan that moves mass over costs float64 cannot resolve.

    Costs are ``(d / d_max)^p``: for a large ``p`` a pair much closer than the
    farthest one gets a cost below the smallest normal float (or 0), and the
    solver cannot tell it from a free move. A plan that uses no such pair is
    optimal for the true costs too (raising the cost of unused pairs keeps it
    optimal), so only the pairs it uses are checked.
    """
    if np.any((moves > 0) & (used_costs < np.finfo(np.float64).tiny)):
        _refuse_resolution(p)
