"""Exact and sliced Wasserstein distances against SciPy, POT, assignment, and closed forms."""

from __future__ import annotations

import importlib
import math
import pkgutil

import numpy as np
import ot
import pytest
import scipy.special
import scipy.stats
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

import divergences as dv
from divergences import _memory, transport
from divergences.families import segment_samples
from divergences.transport import _costs, _sliced
from tests.conftest import convert, to_numpy


def emd_reference(x, y, wx=None, wy=None, p=1.0, metric="euclidean") -> float:
    """POT called directly: W_p from ot.emd2 on the cost matrix ||x - y||^p."""
    x, y = np.asarray(x, float).reshape(len(x), -1), np.asarray(y, float).reshape(len(y), -1)
    a = np.full(len(x), 1 / len(x)) if wx is None else np.asarray(wx) / np.sum(wx)
    b = np.full(len(y), 1 / len(y)) if wy is None else np.asarray(wy) / np.sum(wy)
    costs = ot.dist(x, y, metric=metric) ** p
    return float(ot.emd2(a, b, costs, numItermax=10**8)) ** (1 / p)


@pytest.mark.parametrize("seed", range(4))
def test_1d_matches_scipy_with_weights(kind, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=40), rng.normal(1.0, 2.0, size=25)
    wx, wy = rng.uniform(size=40), rng.uniform(size=25)
    expected = scipy.stats.wasserstein_distance(x, y, wx, wy)
    got = dv.wasserstein(convert(x, kind), convert(y, kind), weights_x=wx, weights_y=wy)
    np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-12)
    np.testing.assert_allclose(
        dv.wasserstein(x, y), scipy.stats.wasserstein_distance(x, y), rtol=1e-12
    )


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
@pytest.mark.parametrize(
    ("n", "m", "weighted"), [(30, 30, False), (30, 30, True), (17, 40, False)]
)
def test_1d_path_equals_the_linear_program(n, m, weighted, p):
    rng = np.random.default_rng(n * m)
    x, y = rng.normal(size=n), rng.exponential(size=m)
    wx = rng.uniform(size=n) if weighted else None
    wy = rng.uniform(size=m) if weighted else None
    fast = dv.wasserstein(x, y, p=p, weights_x=wx, weights_y=wy)
    lp = dv.optimal_transport(x, y, p=p, weights_x=wx, weights_y=wy).distance
    np.testing.assert_allclose(fast, lp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast, emd_reference(x, y, wx, wy, p=p), rtol=1e-10)


def test_2d_matches_scipy_wasserstein_distance_nd():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(20, 2)) + np.array([1.0, -0.5])
    wx, wy = rng.uniform(size=30), rng.uniform(size=20)
    expected = scipy.stats.wasserstein_distance_nd(x, y, wx, wy)
    np.testing.assert_allclose(dv.wasserstein(x, y, weights_x=wx, weights_y=wy), expected, 1e-8)


@pytest.mark.parametrize("metric", dv.transport.METRICS)
@pytest.mark.parametrize("p", [1, 2, 2.5])
def test_matches_pot_emd2_called_directly(kind, metric, p):
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(60, 3)), rng.uniform(size=(45, 3))
    wx, wy = rng.uniform(size=60), rng.uniform(size=45)
    got = dv.wasserstein(
        convert(x, kind), convert(y, kind), p=p, weights_x=wx, weights_y=wy, metric=metric
    )
    np.testing.assert_allclose(
        to_numpy(got), emd_reference(x, y, wx, wy, p=p, metric=metric), rtol=1e-12
    )


@pytest.mark.parametrize("p", [1, 2])
def test_equal_size_uniform_is_an_assignment_problem(p):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    costs = cdist(x, y) ** p
    rows, cols = linear_sum_assignment(costs)
    np.testing.assert_allclose(
        dv.wasserstein(x, y, p=p), costs[rows, cols].mean() ** (1 / p), rtol=1e-12
    )


def test_transport_result_is_a_certified_optimum():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(25, 2)), rng.normal(size=(30, 2))
    wx, wy = rng.uniform(size=25), rng.uniform(size=30)
    result = dv.optimal_transport(x, y, p=2, weights_x=wx, weights_y=wy)
    a, b = wx / wx.sum(), wy / wy.sum()
    costs = cdist(x, y) ** 2
    np.testing.assert_allclose(result.plan.sum(axis=1), a, atol=1e-15)
    np.testing.assert_allclose(result.plan.sum(axis=0), b, atol=1e-15)
    assert result.plan.min() >= 0
    np.testing.assert_allclose((result.plan * costs).sum(), result.cost, rtol=1e-12)
    dual = a @ result.potential_x + b @ result.potential_y
    np.testing.assert_allclose(dual, result.cost, rtol=1e-10)  # strong duality
    slack = costs - result.potential_x[:, None] - result.potential_y[None, :]
    assert slack.min() >= -1e-10  # dual feasibility
    np.testing.assert_allclose(result.distance, math.sqrt(result.cost), rtol=1e-15)
    assert (result.p, result.metric) == (2.0, "euclidean")


def test_outputs_follow_the_input_kind(device):
    assert type(dv.wasserstein([[0.0, 1.0]], [[1.0, 1.0]])) is float
    assert type(dv.wasserstein([0.0, 1.0], [1.0, 3.0])) is float
    for dtype in (torch.float32, torch.float64):
        x = torch.zeros(5, 2, dtype=dtype, device=device)
        for value in (dv.wasserstein(x, x + 1), dv.wasserstein(x[:, 0], x[:, 0] + 1)):
            assert isinstance(value, torch.Tensor)
            assert value.dtype == dtype and value.device == x.device
    result = dv.optimal_transport(
        torch.zeros(3, 2, device=device), torch.ones(4, 2, device=device)
    )
    assert isinstance(result.plan, torch.Tensor)
    assert result.plan.shape == (3, 4) and result.plan.device.type == device
    assert not result.plan.requires_grad
    sliced = dv.sliced_wasserstein(
        torch.zeros(6, 2, device=device), torch.ones(5, 2, device=device)
    )
    assert sliced.device.type == device


@pytest.mark.parametrize("p", [1, 2, 3])
def test_translation_gradient_is_the_unit_vector(p, device):
    rng = np.random.default_rng(p)
    x = torch.tensor(rng.normal(size=(200, 2)), device=device)
    shift = torch.tensor([0.3, -0.4], dtype=torch.float64, device=device, requires_grad=True)
    value = dv.wasserstein(x, x + shift, p=p)
    value.backward()
    np.testing.assert_allclose(value.item(), 0.5, rtol=1e-12)
    np.testing.assert_allclose(shift.grad.cpu().numpy(), [0.6, -0.8], rtol=1e-12)


@pytest.mark.parametrize("theta", [-2.0, -0.5, 0.5, 1.0, 2.0])
def test_segments_gradient_is_the_sign_of_theta(theta, device):
    p_samples = segment_samples(0.0, 1000, seed=0)
    theta_t = torch.tensor(theta, dtype=torch.float64, device=device, requires_grad=True)
    q_samples = segment_samples(theta_t, 1000, seed=1)
    value = dv.wasserstein(torch.from_numpy(p_samples).to(device), q_samples)
    value.backward()
    assert abs(theta_t.grad.item() - math.copysign(1.0, theta)) < 1e-2
    assert abs(value.item() - abs(theta)) < 0.05


def test_coincident_points_give_finite_gradients():
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    x.requires_grad_(True)
    y = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]], dtype=torch.float64)
    value = dv.wasserstein(x, y)
    value.backward()
    assert torch.isfinite(x.grad).all()
    np.testing.assert_array_equal(x.grad[:2].numpy(), np.zeros((2, 2)))
    same = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    dv.wasserstein(same, same.detach().clone(), p=2).backward()
    assert torch.isfinite(same.grad).all()


def test_gradcheck_positions_and_weights():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, dtype=torch.float64, generator=generator).requires_grad_()
    y = (torch.rand(4, 2, dtype=torch.float64, generator=generator) + 0.5).requires_grad_()
    wx = (torch.rand(5, dtype=torch.float64, generator=generator) + 0.5).requires_grad_()
    wy = (torch.rand(4, dtype=torch.float64, generator=generator) + 0.5).requires_grad_()

    def distance(x, y, wx, wy):
        return dv.wasserstein(x, y, p=2, weights_x=wx, weights_y=wy)

    assert torch.autograd.gradcheck(distance, (x, y, wx, wy), atol=1e-6)


def test_gradcheck_1d_path():
    generator = torch.Generator().manual_seed(1)
    x = torch.rand(6, dtype=torch.float64, generator=generator).requires_grad_()
    y = (torch.rand(4, dtype=torch.float64, generator=generator) * 3).requires_grad_()
    wx = (torch.rand(6, dtype=torch.float64, generator=generator) + 0.5).requires_grad_()
    wy = (torch.rand(4, dtype=torch.float64, generator=generator) + 0.5).requires_grad_()

    def distance(x, y, wx, wy):
        return dv.wasserstein(x, y, p=1.5, weights_x=wx, weights_y=wy)

    assert torch.autograd.gradcheck(distance, (x, y, wx, wy), atol=1e-6)
    # equal sizes and weights: the sort-and-match path
    equal = torch.rand(5, dtype=torch.float64, generator=generator).requires_grad_()
    target = torch.rand(5, dtype=torch.float64, generator=generator) * 2
    assert torch.autograd.gradcheck(lambda a: dv.wasserstein(a, target, p=2), (equal,))


def test_weights_gradient_matches_the_1d_and_lp_paths():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=7), rng.normal(size=5)
    grads = []
    for fn in (dv.wasserstein, lambda *a, **k: dv.optimal_transport(*a, **k).distance):
        wx = torch.arange(1.0, 8.0, dtype=torch.float64).requires_grad_()
        fn(torch.tensor(x), torch.tensor(y), weights_x=wx, p=2).backward()
        grads.append(wx.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-10)


def test_zero_weights_are_allowed():
    x, y = np.array([[0.0], [10.0]]), np.array([[1.0], [2.0]])
    got = dv.wasserstein(np.hstack([x, x]), np.hstack([y, y]), weights_x=[1.0, 0.0])
    np.testing.assert_allclose(got, 1.5 * math.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(dv.wasserstein(x, y, weights_x=[1.0, 0.0]), 1.5, rtol=1e-12)


def test_stopping_early_is_an_error_not_a_number():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2))
    with pytest.raises(dv.SolverError, match="max_iter=10 iterations without reaching"):
        dv.wasserstein(x, y, max_iter=10)


def test_default_iteration_cap_reaches_optimality_where_pots_default_does_not():
    # POT's default cap (100 000) stops early on this problem with only a warning.
    rng = np.random.default_rng(0)
    n = 4000
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1
    a = np.full(n, 1 / n)
    with pytest.warns(UserWarning, match="numItermax reached before optimality"):
        ot.emd2(a, a, ot.dist(x, y, metric="euclidean"))
    assert transport.default_max_iter(n, n) > 100_000
    exact = float(ot.emd2(a, a, ot.dist(x, y, metric="euclidean"), numItermax=10**9))
    np.testing.assert_allclose(dv.wasserstein(x, y), exact, rtol=1e-12)


def test_memory_guard_refuses_before_allocating(monkeypatch):
    big = np.zeros((100_000, 2))
    with pytest.raises(dv.ProblemTooLargeError, match="100000 x 100000 cost matrix"):
        dv.wasserstein(big, big)
    with pytest.raises(MemoryError, match="sliced_wasserstein"):
        dv.optimal_transport(np.zeros((100, 2)), np.zeros((100, 2)), memory_limit=1e5)
    monkeypatch.setattr(_memory, "available_memory", lambda: 1_000_000)
    with pytest.raises(dv.ProblemTooLargeError, match=r"half of the 0\.0 GB available"):
        dv.wasserstein(np.zeros((200, 2)), np.ones((200, 2)))
    # the 1-D path builds no matrix: its sorted copies (32 bytes a sample here) fit
    assert dv.wasserstein(np.zeros(200), np.ones(200)) == 1.0


def test_one_dimensional_guard_refuses_from_the_shapes(monkeypatch, tmp_path):
    monkeypatch.setattr(_memory, "available_memory", lambda: 1_000_000)
    # 32 bytes a sample for equal sizes and uniform weights, 112 where the levels merge
    assert dv.wasserstein(np.zeros(7000), np.ones(7000)) == 1.0
    with pytest.raises(dv.ProblemTooLargeError, match="112 bytes per sample"):
        dv.wasserstein(np.zeros(3000), np.ones(2000))
    with pytest.raises(dv.ProblemTooLargeError, match="32 bytes per sample"):
        dv.wasserstein(np.zeros(8000), np.ones(8000))
    # a memory map is refused before any of its pages is read: a NaN in it goes unseen
    mapped = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", shape=(8000,))
    mapped[-1] = np.nan
    with pytest.raises(dv.ProblemTooLargeError):
        dv.wasserstein(mapped, np.ones(8000))


def test_sliced_directions_in_blocks_give_the_same_value(monkeypatch):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(250, 3)) + 1
    whole = {p: dv.sliced_wasserstein(x, y, p=p, n_projections=50, seed=0) for p in (1, 2)}
    monkeypatch.setattr(_sliced, "_SLICED_BLOCK_VALUES", 7 * 550)  # blocks of 7 directions
    for p in (1, 2):
        blocked = dv.sliced_wasserstein(x, y, p=p, n_projections=50, seed=0)
        np.testing.assert_allclose(blocked, whole[p], rtol=1e-13)
    xt = torch.tensor(x, requires_grad=True)
    value = dv.sliced_wasserstein(xt, torch.tensor(y), n_projections=50, seed=0)
    value.backward()
    np.testing.assert_allclose(value.item(), whole[1], rtol=1e-13)
    assert torch.isfinite(xt.grad).all()


def test_sliced_is_reproducible_and_backend_independent():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(200, 3)) + 1
    first = dv.sliced_wasserstein(x, y, seed=7)
    assert first == dv.sliced_wasserstein(x, y, seed=7)
    assert first != dv.sliced_wasserstein(x, y, seed=8)
    xt = torch.tensor(x, requires_grad=True)
    value = dv.sliced_wasserstein(xt, torch.tensor(y), seed=7)
    np.testing.assert_allclose(value.item(), first, rtol=1e-12)
    value.backward()
    assert torch.isfinite(xt.grad).all()
    assert first <= dv.wasserstein(x, y)


@pytest.mark.parametrize("dim", [2, 5])
def test_sliced_translation_matches_the_sphere_average(dim):
    # Each direction w sees a 1-D shift by w.v: SW_1 = |v| E|w_1| over the sphere.
    rng = np.random.default_rng(dim)
    x = rng.normal(size=(50, dim))
    shift = np.zeros(dim)
    shift[0] = 2.0
    expected = (
        2.0
        * math.exp(scipy.special.gammaln(dim / 2) - scipy.special.gammaln((dim + 1) / 2))
        / math.sqrt(math.pi)
    )
    got = dv.sliced_wasserstein(x, x + shift, n_projections=20_000, seed=0)
    # Monte Carlo: the sd of |w_1| is below 1/sqrt(dim); 5 standard errors
    np.testing.assert_allclose(got, expected, atol=5 * 2.0 / math.sqrt(dim * 20_000))


def test_sliced_equals_exact_in_one_dimension():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=40), rng.normal(size=30)
    np.testing.assert_allclose(
        dv.sliced_wasserstein(x, y, p=2, n_projections=3, seed=0),
        dv.wasserstein(x, y, p=2),
        rtol=1e-12,
    )


GOOD = np.zeros((3, 2))
BAD_INPUTS = [
    ((np.array([[np.nan, 0.0]]), GOOD), {}, ValueError, "x must contain only finite"),
    ((GOOD, np.array([[np.inf, 0.0]])), {}, ValueError, "y must contain only finite"),
    ((np.zeros((0, 2)), GOOD), {}, ValueError, "x must hold at least one sample"),
    (([], [1.0]), {}, ValueError, "x must hold at least one sample"),
    ((np.zeros((3, 0)), GOOD), {}, ValueError, "x must have at least one coordinate"),
    ((GOOD, np.zeros((3, 3))), {}, ValueError, "x and y must have the same dimension"),
    ((np.zeros((2, 2, 2)), GOOD), {}, ValueError, r"x must be an \(n, d\) array"),
    ((GOOD, GOOD), {"weights_x": [1.0, 1.0]}, ValueError, "weights_x must be a 1-D array"),
    ((GOOD, GOOD), {"weights_y": [1.0, -1.0, 1.0]}, ValueError, "weights_y must be non-neg"),
    ((GOOD, GOOD), {"weights_x": [0.0, 0.0, 0.0]}, ValueError, "weights_x must have a positive"),
    ((GOOD, GOOD), {"weights_x": [1.0, np.nan, 1.0]}, ValueError, "weights_x must contain only"),
    ((GOOD, GOOD), {"p": 0.5}, ValueError, "p must be >= 1"),
    ((GOOD, GOOD), {"p": np.inf}, ValueError, "p must be finite"),
    ((GOOD, GOOD), {"metric": "cosine"}, ValueError, "metric must be one of 'euclidean'"),
    ((GOOD, GOOD), {"max_iter": 0}, ValueError, "max_iter must be at least 1"),
    ((GOOD, GOOD), {"memory_limit": -1}, ValueError, "memory_limit must be >= 0"),
    (("abc", GOOD), {}, TypeError, "x must be"),
]


@pytest.mark.parametrize(("args", "options", "error", "message"), BAD_INPUTS)
def test_bad_inputs(args, options, error, message):
    with pytest.raises(error, match=message):
        dv.wasserstein(*args, **options)
    if not {"max_iter", "memory_limit", "metric"} & set(options):
        with pytest.raises(error, match=message):
            dv.sliced_wasserstein(*args, **options)
    with pytest.raises(error, match=message):
        dv.optimal_transport(*args, **options)


def test_bad_options_are_checked_on_the_1d_path_too():
    with pytest.raises(ValueError, match="max_iter must be at least 1"):
        dv.wasserstein([0.0], [1.0], max_iter=0)
    with pytest.raises(ValueError, match="n_projections must be at least 1"):
        dv.sliced_wasserstein([0.0], [1.0], n_projections=0)


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_high_dimensional_cost_matrix_is_accurate(offset):
    # d >= 24 takes the matrix-product path; compare with SciPy's direct cdist,
    # including duplicates and clouds far from the origin (cancellation).
    rng = np.random.default_rng(12)
    x = rng.normal(size=(120, 40)) + offset
    y = np.vstack([x[:30], rng.normal(size=(60, 40)) + offset + 0.5])
    costs = _costs._distance_matrix(x, y, "euclidean")
    reference = cdist(x, y)
    np.testing.assert_allclose(costs, reference, rtol=1e-12, atol=1e-12 * (1 + offset))
    np.testing.assert_array_equal(np.diag(costs[:30, :30]), np.zeros(30))
    np.testing.assert_allclose(dv.wasserstein(x, x), 0.0, atol=1e-12)
    np.testing.assert_allclose(dv.wasserstein(x, y, p=2), emd_reference(x, y, p=2), rtol=1e-10)


@pytest.mark.parametrize(("code", "word"), [(0, "infeasible"), (2, "unbounded")])
def test_other_solver_failures_are_errors(monkeypatch, code, word):
    def failing_emd(a, b, costs, numItermax, log):
        return np.zeros_like(costs), {"result_code": code, "u": a * 0, "v": b * 0, "cost": 0.0}

    monkeypatch.setattr(ot, "emd", failing_emd)
    with pytest.raises(dv.SolverError, match=f"reported {word} by POT"):
        dv.wasserstein(np.zeros((3, 2)), np.ones((3, 2)))


# Issue 13: scale, overflow and dtype. Reproducer data of the issue.
def issue_samples():
    rng = np.random.default_rng(0)
    return rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) + np.array([1.0, 0.0])


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e-15, 1e-13, 1e-8, 1e-7, 1e150, 1e154, 1e200])
def test_exact_solver_is_scale_equivariant(p, scale):
    # POT itself drifts by +63% at 1e-15 (absolute tolerances) and reports 1e154
    # infeasible: the reference is POT called directly at unit scale, times the scale.
    x, y = issue_samples()
    expected = emd_reference(x, y, p=p)
    np.testing.assert_allclose(dv.wasserstein(scale * x, scale * y, p=p) / scale, expected, 1e-9)
    # the 1-D path, against SciPy (p = 1) and POT's own 1-D solver at unit scale
    expected_1d = float(ot.wasserstein_1d(x[:, 0], y[:, 0], p=p)) ** (1 / p)
    got_1d = dv.wasserstein(scale * x[:, 0], scale * y[:, 0], p=p) / scale
    np.testing.assert_allclose(got_1d, expected_1d, rtol=1e-9)
    if p == 1:
        np.testing.assert_allclose(
            got_1d, scipy.stats.wasserstein_distance(x[:, 0], y[:, 0]), rtol=1e-9
        )


@pytest.mark.parametrize("scale", [1e-100, 1e-13, 1e100])
def test_optimal_transport_plan_and_potentials_scale(scale):
    # The plan does not change with the scale, the cost and potentials scale as s^p:
    # certified at the scaled problem by the optimality conditions, with costs from cdist.
    x, y = issue_samples()
    for p in (1, 2):
        result = dv.optimal_transport(scale * x, scale * y, p=p)
        a, b = np.full(200, 1 / 200), np.full(150, 1 / 150)
        costs = cdist(scale * x, scale * y) ** p
        np.testing.assert_allclose(result.plan.sum(axis=1), a, rtol=1e-12)
        np.testing.assert_allclose(result.plan.sum(axis=0), b, rtol=1e-12)
        np.testing.assert_allclose((result.plan * costs).sum(), result.cost, rtol=1e-10)
        np.testing.assert_allclose(
            a @ result.potential_x + b @ result.potential_y, result.cost, rtol=1e-9
        )
        slack = costs - result.potential_x[:, None] - result.potential_y[None, :]
        assert slack.min() >= -1e-9 * costs.max()
        np.testing.assert_allclose(result.cost, scale**p * emd_reference(x, y, p=p) ** p, 1e-9)


def test_costs_beyond_the_float_range_are_an_error_not_a_number():
    x, y = issue_samples()
    # W_2 at 1e200 is representable (wasserstein returns it); W_2^2 = 1e400 is not.
    np.testing.assert_allclose(
        dv.wasserstein(1e200 * x, 1e200 * y, p=2) / 1e200, emd_reference(x, y, p=2), 1e-9
    )
    with pytest.raises(ValueError, match=r"cost of this problem .* outside the float64 range"):
        dv.optimal_transport(1e200 * x, 1e200 * y, p=2)
    with pytest.raises(ValueError, match=r"cost of this problem .* outside the float64 range"):
        dv.optimal_transport(1e-200 * x, 1e-200 * y, p=2)
    # A distance beyond the largest float: two points 3e308 apart.
    with pytest.raises(ValueError, match=r"W_1 of these samples exceeds the float64 range"):
        dv.wasserstein([[-1.5e308, 0.0]], [[1.5e308, 0.0]])
    with pytest.raises(ValueError, match=r"W_1 of these samples exceeds the float64 range"):
        dv.wasserstein([-1.5e308], [1.5e308])
    # ... and 1.5e308 apart is fine on both paths
    assert dv.wasserstein([[-0.75e308, 0.0]], [[0.75e308, 0.0]]) == 1.5e308
    assert dv.wasserstein([-0.75e308, 1.0], [0.75e308, 1.0]) == 0.75e308


def test_overflowing_data_and_weights_are_normalised():
    x, y = issue_samples()
    # d = 24 at 1e160 was reported "unbounded" (the Gram path overflowed)
    rng = np.random.default_rng(1)
    wide_x, wide_y = rng.normal(size=(40, 24)), rng.normal(size=(30, 24)) + 0.5
    np.testing.assert_allclose(
        dv.wasserstein(1e160 * wide_x, 1e160 * wide_y) / 1e160,
        emd_reference(wide_x, wide_y),
        rtol=1e-9,
    )
    # weights of 1e307 each sum past the float range: they are uniform weights
    huge = np.full(200, 1e307)
    np.testing.assert_allclose(dv.wasserstein(x, y, weights_x=huge), emd_reference(x, y), 1e-12)
    np.testing.assert_allclose(
        dv.wasserstein(x[:50, 0], y[:50, 0], weights_x=huge[:50]),
        scipy.stats.wasserstein_distance(x[:50, 0], y[:50, 0]),
        rtol=1e-12,
    )
    tiny = np.full(150, 5e-324)  # subnormal weights are positive numbers
    np.testing.assert_allclose(dv.wasserstein(x, y, weights_y=tiny), emd_reference(x, y), 1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_low_precision_tensors_are_computed_in_float64(dtype, device):
    # The reference: POT on the float64 values of the same low-precision numbers.
    x, y = issue_samples()
    xt = torch.tensor(x, dtype=dtype, device=device)
    yt = torch.tensor(y, dtype=dtype, device=device)
    x64, y64 = xt.double().cpu().numpy(), yt.double().cpu().numpy()
    resolution = float(torch.finfo(dtype).eps)
    for got, expected in (
        (dv.wasserstein(xt, yt), emd_reference(x64, y64)),
        (dv.wasserstein(xt[:, 0], yt[:, 0], p=2), emd_reference(x64[:, 0], y64[:, 0], p=2)),
        (dv.optimal_transport(xt, yt).distance, emd_reference(x64, y64)),
    ):
        assert got.dtype == dtype and got.device == xt.device
        np.testing.assert_allclose(got.item(), expected, rtol=resolution)
    sliced = dv.sliced_wasserstein(xt, yt, seed=0)
    assert sliced.dtype == dtype and sliced.device == xt.device
    np.testing.assert_allclose(
        sliced.item(), dv.sliced_wasserstein(x64, y64, seed=0), rtol=resolution
    )
    # gradients reach the low-precision leaves
    leaf = xt.clone().requires_grad_()
    dv.wasserstein(leaf, yt).backward()
    assert leaf.grad.dtype == dtype and torch.isfinite(leaf.grad).all()


def test_a_result_beyond_the_callers_dtype_is_an_error():
    # 1.2e5 apart: each point is a float16, the distance is not (largest 65504)
    big = torch.tensor([[6e4, 0.0]], dtype=torch.float16)
    with pytest.raises(ValueError, match=r"exceeds the range of the inputs' dtype torch\.float16"):
        dv.wasserstein(big, -big)
    assert dv.wasserstein(big.float(), -big.float()).item() == 1.2e5


def test_max_iter_beyond_pots_counter_is_a_clear_error():
    x, y = issue_samples()
    with pytest.raises(ValueError, match=r"max_iter must be at most 9223372036854775807"):
        dv.wasserstein(x, y, max_iter=2**70)
    assert dv.wasserstein(x, y, max_iter=2**63 - 1) == dv.wasserstein(x, y)


def test_meta_tensors_are_refused_by_name():
    meta = torch.ones(5, 2, device="meta")
    for call in (dv.wasserstein, dv.optimal_transport, dv.sliced_wasserstein):
        with pytest.raises(ValueError, match="x is a tensor on the 'meta' device"):
            call(meta, meta)


def test_masked_samples_are_refused():
    masked = np.ma.array(np.zeros((3, 2)), mask=[[0, 0], [0, 1], [0, 0]])
    with pytest.raises(TypeError, match="x is a masked array, whose mask would be ignored"):
        dv.wasserstein(masked, np.ones((3, 2)))
    # a mask that hides nothing is no reason to refuse
    unmasked = np.ma.array(np.zeros((3, 2)))
    assert dv.wasserstein(unmasked, np.ones((3, 2))) == pytest.approx(math.sqrt(2), rel=1e-15)


def test_large_p_beyond_float_resolution_is_an_error():
    # d^100 / d_max^100 underflows for every move of the optimal plan: the cost
    # POT sees is 0, and a number would be wrong.
    x = np.array([[0.0, 0.0], [1e3, 0.0]])
    y = np.array([[1.0, 0.0], [1e3 + 1.0, 0.0]])
    with pytest.raises(ValueError, match="beyond float64's resolution"):
        dv.wasserstein(x, y, p=200)
    with pytest.raises(ValueError, match="beyond float64's resolution"):
        dv.sliced_wasserstein(x, y, p=200, seed=0)
    # the 1-D path normalises by the largest gap, which is the one that matters
    assert dv.wasserstein(x[:, 0], y[:, 0], p=200) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="beyond float64's resolution"):
        dv.wasserstein(x[:, 0], y[:, 0], p=2000)
    # a zero-weight sample far away is no gap that counts: W is 0, not an error
    assert dv.wasserstein([-5.0, 0.0], [0.0], weights_x=[0.0, 1.0], p=2000) == 0.0


def test_a_memory_map_too_large_is_refused_before_it_is_read(tmp_path):
    # 3e5 x 2 float32 on disk: the LP would need 4 TB; the refusal must come from the
    # shapes alone, before NaN checks read (and allocate a mask of) every row.
    big = np.lib.format.open_memmap(
        tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(300_000, 2)
    )
    big[:] = np.nan  # would be "must contain only finite numbers" if it were read first
    big.flush()
    mapped = np.load(tmp_path / "big.npy", mmap_mode="r")
    with pytest.raises(dv.ProblemTooLargeError, match="300000 and 300000 samples"):
        dv.wasserstein(mapped, mapped)
    with pytest.raises(dv.ProblemTooLargeError):
        dv.optimal_transport(mapped, mapped)


def test_transport_is_a_package_of_one_concern_per_module():
    # Issue 26: the public names re-exported with __all__, each private module
    # saying in its first line what it does.
    assert sorted(transport.__all__) == sorted(
        [
            "METRICS",
            "ProblemTooLargeError",
            "SolverError",
            "TransportResult",
            "default_max_iter",
            "optimal_transport",
            "sliced_wasserstein",
            "wasserstein",
        ]
    )
    for name in transport.__all__:
        assert hasattr(transport, name), name
    modules = [info.name for info in pkgutil.iter_modules(transport.__path__)]
    assert {"_exact", "_lp", "_one_d", "_potentials", "_sliced"} <= set(modules)
    for name in modules:
        module = importlib.import_module(f"divergences.transport.{name}")
        first_line = (module.__doc__ or "").strip().splitlines()[0]
        assert first_line.endswith("."), name
    for function in (transport.wasserstein, transport.optimal_transport):
        assert function.__module__ == "divergences.transport._exact"
    assert transport.sliced_wasserstein.__module__ == "divergences.transport._sliced"
