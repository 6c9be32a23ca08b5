"""Exact dual potentials as precise as POT's on the same costs (issue 25).

Problems with integer coordinates have integer costs (``|x - y|`` summed over the
coordinates, or squared Euclidean distances), which POT called directly on the cost
matrix solves with potentials tight on the plan's support. ``optimal_transport``
solves in rescaled units; its potentials must still be as tight, in the samples'
own units, as POT's: the reduced costs ``c_ij - u_i - v_j`` are 0 on the support
(to one rounding of the potentials) and never below 0, and the duality gap
``<u, a> + <v, b> - <plan, c>`` is at POT's level. Gaps are evaluated exactly
(rational arithmetic), since a floating-point sum of the terms rounds by more
than the gap itself.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import ot
import pytest
import torch
from scipy.spatial.distance import cdist

import divergences as dv
from tests.conftest import convert, to_numpy

EPS = float(np.finfo(np.float64).eps)
# (dimension, p, metric, the SciPy metric whose values are the costs c_ij = d(x_i, y_j)^p)
INTEGER_COSTS = [
    (2, 2.0, "euclidean", "sqeuclidean"),
    (3, 2.0, "euclidean", "sqeuclidean"),
    (1, 2.0, "euclidean", "sqeuclidean"),
    (30, 2.0, "euclidean", "sqeuclidean"),  # the cost matrix goes through the Gram form
    (2, 1.0, "cityblock", "cityblock"),
    (3, 1.0, "chebyshev", "chebyshev"),
]


def integer_problem(seed: int, dim: int, n: int = 60, m: int = 45, spread: int = 10_000):
    """Samples on an integer grid and positive random weights (a unique optimal plan)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-spread, spread, size=(n, dim)).astype(float)
    y = rng.integers(-spread // 2, 2 * spread, size=(m, dim)).astype(float)
    wx, wy = rng.uniform(0.1, 1.0, size=n), rng.uniform(0.1, 1.0, size=m)
    return x, y, wx, wy


def exact_gap(costs, plan, u, v, a, b) -> float:
    """``<u, a> + <v, b> - <plan, costs>`` in rational arithmetic, rounded once at the end."""
    total = sum(Fraction(float(w)) * Fraction(float(t)) for w, t in zip(a, u, strict=True))
    total += sum(Fraction(float(w)) * Fraction(float(t)) for w, t in zip(b, v, strict=True))
    rows, cols = np.nonzero(plan)
    total -= sum(
        Fraction(float(plan[i, j])) * Fraction(float(costs[i, j]))
        for i, j in zip(rows, cols, strict=True)
    )
    return float(total)


def reduced_costs(costs, u, v) -> np.ndarray:
    return costs - u[:, None] - v[None, :]


def assert_as_precise_as_pot(costs, result, a, b):
    """The three measures of the issue, ours against POT's on the same cost matrix."""
    plan, u, v = to_numpy(result.plan), to_numpy(result.potential_x), to_numpy(result.potential_y)
    pot_plan, log = ot.emd(a, b, costs, numItermax=10**7, log=True)
    assert log["result_code"] == 1
    largest = costs.max()
    ours, theirs = reduced_costs(costs, u, v), reduced_costs(costs, log["u"], log["v"])
    # (a) tight on the plan's support: the bound, and POT's level (one rounding
    # of the potentials; the rescaled solution missed by about 1e-13 of the largest cost)
    on_support = np.abs(ours[plan > 0]).max()
    assert on_support <= 1e-10 * largest
    assert on_support <= max(10 * np.abs(theirs[pot_plan > 0]).max(), 4 * EPS * largest)
    # (b) dual feasible everywhere
    assert ours.min() >= -1e-10 * largest
    assert ours.min() >= min(10 * theirs.min(), -4 * EPS * largest)
    # (c) the duality gap at POT's level; one rounding of the cost allows for a gap
    # of POT's that happens to be 0
    gap = abs(exact_gap(costs, plan, u, v, a, b))
    pot_gap = abs(exact_gap(costs, pot_plan, log["u"], log["v"], a, b))
    assert gap <= 10 * pot_gap + EPS * float(log["cost"])
    # the same centring as POT's: sum a u = sum b v
    np.testing.assert_allclose(a @ u, b @ v, rtol=0, atol=8 * EPS * largest)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("dim", "p", "metric", "scipy_metric"), INTEGER_COSTS)
def test_potentials_are_as_tight_as_pots_on_integer_costs(seed, dim, p, metric, scipy_metric):
    x, y, wx, wy = integer_problem(seed, dim)
    a, b = wx / wx.sum(), wy / wy.sum()
    costs = cdist(x, y, scipy_metric)
    result = dv.optimal_transport(x, y, p=p, weights_x=wx, weights_y=wy, metric=metric)
    assert_as_precise_as_pot(costs, result, a, b)
    # a unique optimal plan has potentials unique up to the centring: POT's own
    np.testing.assert_allclose(
        result.potential_x, ot.emd(a, b, costs, log=True)[1]["u"], rtol=0, atol=1e-12 * costs.max()
    )


@pytest.mark.parametrize("seed", range(3))
def test_uniform_weights_give_a_forest_of_pairs_still_feasible(seed):
    # n = m with uniform weights: the plan is a permutation, its support n separate
    # pairs, each with its own constant; together they must stay dual feasible.
    x, y, _, _ = integer_problem(seed, 2, n=50, m=50)
    weights = np.full(50, 1 / 50)
    result = dv.optimal_transport(x, y, p=2)
    assert np.count_nonzero(result.plan) == 50
    assert_as_precise_as_pot(cdist(x, y, "sqeuclidean"), result, weights, weights)


def test_points_without_mass_get_feasible_potentials():
    x, y, wx, wy = integer_problem(7, 2)
    wx[[0, 5, 17]] = 0.0
    wy[[3, 44]] = 0.0
    a, b = wx / wx.sum(), wy / wy.sum()
    costs = cdist(x, y, "sqeuclidean")
    result = dv.optimal_transport(x, y, p=2, weights_x=wx, weights_y=wy)
    assert_as_precise_as_pot(costs, result, a, b)
    slack = reduced_costs(costs, result.potential_x, result.potential_y)
    # POT's rule: a point without mass keeps its potential unless a constraint fails
    # there; then it is lowered until the tightest one holds with equality.
    _, log = ot.emd(a, b, costs, log=True)
    for row in (0, 5, 17):
        assert slack[row].min() >= -1e-10 * costs.max()
        assert result.potential_x[row] <= log["u"][row] + 1e-10 * costs.max()


def test_torch_potentials_match_numpy_and_the_cost_keeps_its_gradient():
    x, y, wx, wy = integer_problem(3, 2, n=20, m=15)
    expected = dv.optimal_transport(x, y, p=2, weights_x=wx, weights_y=wy)
    xt = convert(x, "torch").requires_grad_(True)
    wxt = convert(wx, "torch").requires_grad_(True)
    result = dv.optimal_transport(xt, convert(y, "torch"), p=2, weights_x=wxt, weights_y=wy)
    assert isinstance(result.potential_x, torch.Tensor)
    # the same potentials (torch sums the weights in its own order: a rounding apart)
    largest = cdist(x, y, "sqeuclidean").max()
    for got, reference in (
        (result.potential_x, expected.potential_x),
        (result.potential_y, expected.potential_y),
    ):
        np.testing.assert_allclose(to_numpy(got), reference, rtol=0, atol=1e-14 * largest)
    result.cost.backward()
    # envelope theorem: the gradient in the positions is the plan's, 2 sum_j P_ij (x_i - y_j)
    plan = expected.plan
    moves = 2 * (plan.sum(axis=1)[:, None] * x - plan @ y)
    np.testing.assert_allclose(xt.grad.numpy(), moves, rtol=1e-9, atol=1e-9 * np.abs(moves).max())
    assert torch.isfinite(wxt.grad).all()


@pytest.mark.parametrize("scale", [2.0**-400, 3.0**-200, 3.0**200, 2.0**450])
def test_tight_potentials_scale_as_s_to_the_p(scale):
    # far from unit scale the costs are s^2 times integers: the potentials are POT's
    # at unit scale times s^2, tight on the support to a few roundings, with no overflow
    x, y, wx, wy = integer_problem(1, 2, n=30, m=25, spread=1000)
    a, b = wx / wx.sum(), wy / wy.sum()
    unit_costs = cdist(x, y, "sqeuclidean")
    plan, log = ot.emd(a, b, unit_costs, log=True)
    scaled = dv.optimal_transport(scale * x, scale * y, p=2, weights_x=wx, weights_y=wy)
    factor = scale**2
    np.testing.assert_allclose(scaled.plan, plan, rtol=0, atol=1e-15)
    largest = factor * unit_costs.max()
    np.testing.assert_allclose(scaled.potential_x, factor * log["u"], rtol=0, atol=1e-12 * largest)
    np.testing.assert_allclose(scaled.potential_y, factor * log["v"], rtol=0, atol=1e-12 * largest)
    slack = reduced_costs(factor * unit_costs, scaled.potential_x, scaled.potential_y)
    assert np.abs(slack[scaled.plan > 0]).max() <= 8 * EPS * largest
    assert slack.min() >= -8 * EPS * largest


@pytest.mark.parametrize(
    ("x", "y", "p"),
    [
        # the largest distance between the unit samples is 1/2: its 1100th power underflows
        ([[-1.0, 0.0], [1.0, 0.0]], [[0.0, 0.0]], 1100.0),
        # ... or 2.12, whose 1000th power is beyond 2^1000
        ([[-0.375, -0.375]], [[0.375, 0.375]], 1000.0),
    ],
)
def test_potentials_where_unit_costs_leave_the_float_range(x, y, p):
    # The costs are kept in rescaled units then: still an optimal solution.
    costs = cdist(x, y) ** p
    result = dv.optimal_transport(x, y, p=p)
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    np.testing.assert_allclose(result.cost, float(costs.max()), rtol=1e-12)
    slack = reduced_costs(costs, result.potential_x, result.potential_y)
    np.testing.assert_allclose(slack, 0.0, atol=1e-12 * costs.max())
    np.testing.assert_allclose(a @ result.potential_x, b @ result.potential_y, rtol=1e-12)
