"""The energy distance against SciPy (1-D), a brute force over all pairs, and its closed forms."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from scipy.stats import energy_distance as scipy_energy

import divergences as dv
from tests.conftest import convert, to_numpy


def brute_force(x: np.ndarray, y: np.ndarray, unbiased: bool = False) -> float:
    def mean(a, b, same):
        table = cdist(a, b)
        if same and unbiased:
            return table.sum() / (len(a) * (len(a) - 1))
        return table.mean()

    return 2 * mean(x, y, False) - mean(x, x, True) - mean(y, y, True)


@pytest.mark.parametrize("n, m", [(1, 1), (7, 30), (200, 150)])
def test_equals_scipy_squared_in_one_dimension(n: int, m: int, kind: str) -> None:
    rng = np.random.default_rng(n + m)
    u, v = rng.normal(size=n), rng.standard_t(3, size=m) + 0.5
    value = dv.energy_distance(convert(u, kind), convert(v, kind))
    np.testing.assert_allclose(to_numpy(value), scipy_energy(u, v) ** 2, rtol=1e-12)


@pytest.mark.parametrize("d", [2, 5])
@pytest.mark.parametrize("unbiased", [False, True])
def test_matches_brute_force(d: int, unbiased: bool, kind: str) -> None:
    rng = np.random.default_rng(d)
    x, y = rng.normal(size=(40, d)), rng.normal(size=(25, d)) * 1.5
    value = dv.energy_distance(convert(x, kind), convert(y, kind), unbiased=unbiased)
    np.testing.assert_allclose(to_numpy(value), brute_force(x, y, unbiased), rtol=1e-12)


def test_blocks_do_not_change_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(170, 3))
    whole = dv.energy_distance(x, y)
    monkeypatch.setattr("divergences.energy._BLOCK_VALUES", 16 * 170 * 3)  # 16 rows a block
    np.testing.assert_allclose(dv.energy_distance(x, y), whole, rtol=1e-12)


def test_memory_stays_bounded_whatever_the_sizes() -> None:
    # a block of 2048 rows against 3000 in d = 8 would hold 390 MB of differences at once
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(3000, 8)), rng.normal(size=(3000, 8))
    dv.energy_distance(x[:10], y[:10])
    tracemalloc.start()
    try:
        dv.energy_distance(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 80e6, peak


def test_two_points_and_identical_sets() -> None:
    assert dv.energy_distance([[0.0, 0.0]], [[3.0, 4.0]]) == 10.0  # 2 |x - y|
    x = np.random.default_rng(0).normal(size=(20, 2))
    assert dv.energy_distance(x, x) == 0.0


@pytest.mark.parametrize("scale", [1e-200, 1e-8, 1e8, 1e200])
def test_homogeneous_of_degree_one_at_any_scale(scale: float) -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(20, 2)) + 1.0
    np.testing.assert_allclose(
        dv.energy_distance(x * scale, y * scale), scale * dv.energy_distance(x, y), rtol=1e-10
    )


def test_translation_gradient_far_away_is_two() -> None:
    """d/dθ of the energy distance between a set and its translate by θ tends to 2."""
    x = np.random.default_rng(3).uniform(size=(64, 1))
    theta = torch.tensor(50.0, dtype=torch.float64, requires_grad=True)
    value = dv.energy_distance(torch.from_numpy(x) + theta, torch.from_numpy(x))
    value.backward()
    np.testing.assert_allclose(theta.grad.item(), 2.0, rtol=1e-12)


def test_gradcheck() -> None:
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(6, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(5, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: dv.energy_distance(a, b), (x, y))


def test_coincident_points_give_finite_gradients() -> None:
    x = torch.zeros(4, 2, dtype=torch.float64, requires_grad=True)
    dv.energy_distance(x, torch.ones(3, 2, dtype=torch.float64)).backward()
    assert torch.isfinite(x.grad).all()


def test_keeps_dtype_and_device(device: str) -> None:
    x = torch.randn(10, 2, dtype=torch.float32, device=device)
    value = dv.energy_distance(x, x + 1)
    assert value.dtype == torch.float32
    assert value.device.type == device


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="same dimension"):
        dv.energy_distance(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"x .*NaN|x.*finite"):
        dv.energy_distance([np.nan, 1.0], [0.0])
    with pytest.raises(ValueError, match="unbiased=True needs at least two"):
        dv.energy_distance([1.0], [0.0, 2.0], unbiased=True)
    with pytest.raises(TypeError, match="unbiased"):
        dv.energy_distance([1.0], [0.0], unbiased="yes")
    with pytest.raises(ValueError, match="float64 range"):
        dv.energy_distance([-1.7e308], [1.7e308])
