"""Dual potentials tight to one rounding, recomputed from the optimal plan's support forest."""

from __future__ import annotations

import math

import numpy as np

from divergences.transport._costs import _METRICS, _NUMPY, _unit_cost_matrix, _unit_costs
from divergences.transport._lp import _Solution
from divergences.transport._problem import _Problem
from divergences.transport._scale import _ScaledCost

# Exact potentials are recomputed from the plan where the largest cost between the
# unit samples is within 2^+-1000: with room for the sums of costs and potentials.
_LOG2_POLISH_LIMIT = 1000.0
# The separate trees of the plan's support are made dual feasible with each other up
# to this many roundings of the potentials: closer, they would chase roundings.
_RELAXATION_ULPS = 4


def _tight_potentials(
    problem: _Problem, solution: _Solution
) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Dual potentials for the costs :math:`d_{ij}^p` between the unit samples, tight on the
    plan's support to one rounding; ``None`` where those costs leave the float range.

    POT's potentials are for the costs divided by :math:`\text{largest}^p`, and the
    network simplex updates them pivot after pivot: multiplied back, they miss
    :math:`u_i + v_j = c_{ij}` on the support by many roundings, even where every
    :math:`c_{ij}` is an integer (about 1e-13 of the largest cost, where POT on the
    integer costs is exact). The costs between the unit samples are the samples' own
    costs divided by :math:`2^{p \cdot \text{exponent}}`, exactly (the samples were
    moved and divided by a power of two), so potentials tight for them are tight
    for the samples' costs once multiplied by that power of two.

    The support of a basic solution, which the network simplex returns, is a
    forest on the ``n + m`` points, and on each tree :math:`u_i + v_j = c_{ij}`
    determines the potentials up to a constant :math:`s` (:math:`u + s`,
    :math:`v - s`). As in POT, they are first found from 0 at one point of each
    tree (sums and differences of the costs: exact where the costs are integers),
    then moved by a constant per tree: the one that puts that point at POT's value,
    so that the trees stay dual feasible with each other, plus the one that centres
    all of them as POT does (:math:`\sum_i a_i u_i = \sum_j b_j v_j`). Points
    without mass (weight 0), outside every tree, get POT's feasible value: their
    own, lowered where a constraint would fail.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, connected_components

    p, metric = problem.p, problem.metric
    unit_x, unit_y = solution.unit_x, solution.unit_y
    n, m = int(unit_x.shape[0]), int(unit_y.shape[0])
    # POT solved for the costs (d / largest)^p; potentials and costs of this size
    # (and their sums) must stay well inside the float range in units of d^p.
    log2_largest_cost = p * math.log2(solution.largest)
    if not -_LOG2_POLISH_LIMIT < log2_largest_cost < _LOG2_POLISH_LIMIT:
        return None
    pot_values = np.concatenate([solution.potential_x, solution.potential_y])
    pot_values *= solution.largest**p

    rows, cols = solution.rows, solution.cols
    size = n + m
    support = coo_matrix((np.ones(rows.size), (rows, n + cols)), shape=(size, size))
    _, trees = connected_components(support, directed=False)
    degree = np.bincount(np.concatenate([rows, n + cols]), minlength=size)
    _, first = np.unique(trees, return_index=True)
    roots = first[degree[first] > 0]
    # One search from a virtual point joined to a root of every tree orders all the
    # trees at once, each point after the one it is reached from.
    virtual = size
    graph = coo_matrix(
        (
            np.ones(rows.size + roots.size),
            (
                np.concatenate([rows, np.full(roots.size, virtual)]),
                np.concatenate([n + cols, roots]),
            ),
        ),
        shape=(size + 1, size + 1),
    ).tocsr()
    order, parents = breadth_first_order(graph, virtual, directed=False, return_predecessors=True)
    order = order[1:]
    reached = order[parents[order] != virtual]
    reached_from = parents[reached]
    i = np.where(reached < n, reached, reached_from)
    j = np.where(reached < n, reached_from, reached) - n
    differences = unit_x[i] - unit_y[j]
    edge_costs = _unit_costs(differences, metric, p)
    if p != 1 and np.any(
        (edge_costs < np.finfo(np.float64).tiny) & (_METRICS[metric](differences, _NUMPY) > 0)
    ):
        return None  # the p-th powers of short moves underflow in these units
    cost_to_parent = np.zeros(size)
    cost_to_parent[reached] = edge_costs

    # One subtraction per point, in search order: u_i + v_j = c_ij exactly along
    # every edge where the costs' sums are exact, to one rounding otherwise.
    numbers = [0.0] * size
    parent_list, cost_list = parents.tolist(), cost_to_parent.tolist()
    for point in reached.tolist():
        numbers[point] = cost_list[point] - numbers[parent_list[point]]
    from_zero = np.array(numbers)

    sign = np.concatenate([np.ones(n), -np.ones(m)])
    # the shift of each tree closest to POT's values on it (their mean difference)
    shifts = np.bincount(trees, sign * (pot_values - from_zero)) / np.bincount(trees)
    alone = degree == 0
    if roots.size > 1:
        shifts = _feasible_shifts(shifts, from_zero, trees, ~alone, solution, metric, p)
    per_point = shifts[trees]
    a = problem.backend.to_numpy(problem.weights_x)
    b = problem.backend.to_numpy(problem.weights_y)
    moved = from_zero + sign * per_point
    centring = (b @ moved[n:] - a @ moved[:n]) / (a.sum() + b.sum())
    potentials = from_zero + sign * (per_point + centring)
    potential_x, potential_y = potentials[:n], potentials[n:]

    alone_x, alone_y = np.flatnonzero(alone[:n]), np.flatnonzero(alone[n:])
    if alone_x.size:
        slack = _unit_cost_matrix(unit_x[alone_x], unit_y, metric, p) - potential_y
        potential_x[alone_x] = np.minimum(potential_x[alone_x], slack.min(axis=1))
    if alone_y.size:
        slack = _unit_cost_matrix(unit_x, unit_y[alone_y], metric, p) - potential_x[:, None]
        potential_y[alone_y] = np.minimum(potential_y[alone_y], slack.min(axis=0))
    return potential_x, potential_y


def _least_per_group(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Column-wise minima of the groups of rows that begin at ``starts``."""
    if starts.size == values.shape[0]:
        return values  # one row per group (a permutation plan: every tree is one pair)
    return np.minimum.reduceat(np.ascontiguousarray(values), starts, axis=0)


def _feasible_shifts(
    shifts: np.ndarray,
    from_zero: np.ndarray,
    trees: np.ndarray,
    in_tree: np.ndarray,
    solution: _Solution,
    metric: str,
    p: float,
) -> np.ndarray:
    r"""The shifts of the support's trees, lowered until every constraint between trees holds.

    With :math:`u_i = t_i + s_A` on the points of tree :math:`A` in ``x`` and
    :math:`v_j = t_j - s_B` on those of tree :math:`B` in ``y``, the constraint
    :math:`u_i + v_j \le c_{ij}` is :math:`s_A \le s_B + \min (c_{ij} - t_i - t_j)`:
    a system of difference constraints, which Bellman-Ford relaxation solves. Starting
    from POT's values, which miss it by its own roundings (1e-14 of the largest cost),
    relaxations bring the misses to a few roundings of the potentials, and stop there:
    rounding can leave a cycle of tight constraints a hair negative. Time and memory
    :math:`O(nm)` for the least slack between trees, then :math:`O(k)` per tree lowered
    for :math:`k` trees.
    """
    unit_x, unit_y = solution.unit_x, solution.unit_y
    n = int(unit_x.shape[0])
    rows, cols = np.flatnonzero(in_tree[:n]), np.flatnonzero(in_tree[n:])
    slack = _unit_cost_matrix(unit_x[rows], unit_y[cols], metric, p)
    slack -= from_zero[rows, None]
    slack -= from_zero[n + cols][None, :]
    # every tree has points on both sides: the same labels index rows and columns
    labels, tree_x = np.unique(trees[rows], return_inverse=True)
    tree_y = np.searchsorted(labels, trees[n + cols])
    order_x, order_y = np.argsort(tree_x, kind="stable"), np.argsort(tree_y, kind="stable")
    starts_x = np.flatnonzero(np.diff(tree_x[order_x], prepend=-1))
    starts_y = np.flatnonzero(np.diff(tree_y[order_y], prepend=-1))
    least = _least_per_group(slack[order_x], starts_x).T
    least = _least_per_group(least[order_y], starts_y).T
    # within a tree the constraints hold by the plan's optimality, whatever the shift
    np.fill_diagonal(least, np.inf)
    tree_shifts = shifts[labels]
    # Violations within a few roundings of the potentials are left: lowering a shift by
    # less would only chase the roundings of a cycle of tight constraints.
    tolerance = (
        _RELAXATION_ULPS
        * np.finfo(np.float64).eps
        * float(np.abs(from_zero).max() + np.abs(tree_shifts).max())
    )
    bound = (tree_shifts[None, :] + least).min(axis=1)
    # Bellman-Ford needs at most k - 1 rounds; each looks only at the trees just lowered,
    # since lowering a shift can only break the constraints that end at its tree.
    for _ in range(len(labels)):
        violated = tree_shifts - bound > tolerance
        if not violated.any():
            break
        tree_shifts = np.where(violated, bound, tree_shifts)
        lowered = np.flatnonzero(violated)
        bound = (tree_shifts[None, lowered] + least[:, lowered]).min(axis=1)
    shifts = shifts.copy()
    shifts[labels] = tree_shifts
    return shifts


def _potentials(problem: _Problem, solution: _Solution) -> tuple[np.ndarray, np.ndarray]:
    """The dual potentials in the samples' units of distance^p (refused beyond float64)."""
    what = "dual potentials"
    tight = _tight_potentials(problem, solution)
    if tight is None:
        scaled = solution.scaled
        return (
            scaled.in_cost_units(solution.potential_x, what),
            scaled.in_cost_units(solution.potential_y, what),
        )
    # the unit of length 2**exponent: a multiplication by a power of two, exact
    unit = _ScaledCost.of(0.0, 1.0, solution.exponent, problem.p, problem.backend)
    return unit.in_cost_units(tight[0], what), unit.in_cost_units(tight[1], what)
