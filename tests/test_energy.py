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


def all_pairs_torch(x: torch.Tensor, y: torch.Tensor, unbiased: bool = False) -> torch.Tensor:
    """The energy distance with every pair broadcast at once, for torch's own autograd; the
    pairs i = i of a set are left out (their sqrt(0) has no gradient), which changes no
    value."""

    def between(a, b):
        return torch.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).sum()

    def within(a):
        i, j = torch.triu_indices(len(a), len(a), 1, device=a.device)
        return 2 * torch.sqrt(((a[i] - a[j]) ** 2).sum(-1)).sum()

    n, m = len(x), len(y)
    return (
        2 * between(x, y) / (n * m)
        - within(x) / (n * (n - 1) if unbiased else n * n)
        - within(y) / (m * (m - 1) if unbiased else m * m)
    )


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("sides", ["both", "x", "y"])
@pytest.mark.parametrize("block_values", [None, 7 * 45 * 3])  # None: one block; else 7 rows
def test_gradient_matches_autograd_over_all_pairs(
    unbiased: bool, sides: str, block_values: int | None, device: str, monkeypatch
) -> None:
    if block_values is not None:
        monkeypatch.setattr("divergences.energy._BLOCK_VALUES", block_values)
    rng = np.random.default_rng(5)
    x0, y0 = rng.normal(size=(70, 3)), rng.standard_t(3, size=(45, 3)) + 0.3
    x = torch.tensor(x0, device=device, requires_grad=sides in ("both", "x"))
    y = torch.tensor(y0, device=device, requires_grad=sides in ("both", "y"))
    dv.energy_distance(x, y, unbiased=unbiased).backward()
    x_ref = torch.tensor(x0, device=device, requires_grad=True)
    y_ref = torch.tensor(y0, device=device, requires_grad=True)
    all_pairs_torch(x_ref, y_ref, unbiased).backward()
    for tensor, reference in ((x, x_ref), (y, y_ref)):
        if not tensor.requires_grad:
            assert tensor.grad is None
            continue
        expected = reference.grad.cpu().numpy()
        atol = 1e-14 * np.abs(expected).max()
        np.testing.assert_allclose(tensor.grad.cpu().numpy(), expected, rtol=1e-11, atol=atol)


def test_float32_gradient_is_float32_and_computed_in_float64() -> None:
    rng = np.random.default_rng(6)
    x0, y0 = rng.normal(size=(30, 2)), rng.normal(size=(20, 2)) + 0.5
    x = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
    dv.energy_distance(x, torch.tensor(y0, dtype=torch.float32)).backward()
    assert x.grad.dtype == torch.float32
    x_ref = torch.tensor(x0.astype(np.float32).astype(np.float64), requires_grad=True)
    y_ref = torch.tensor(y0.astype(np.float32).astype(np.float64))
    all_pairs_torch(x_ref, y_ref).backward()
    np.testing.assert_allclose(x.grad.numpy(), x_ref.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("unbiased", [False, True])
def test_gradcheck_in_several_blocks_and_on_one_side(unbiased: bool, monkeypatch) -> None:
    monkeypatch.setattr("divergences.energy._BLOCK_VALUES", 2 * 5 * 3)  # 2 rows a block
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.normal(size=(7, 3)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(5, 3)), requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: dv.energy_distance(a, b, unbiased=unbiased), (x, y)
    )
    assert torch.autograd.gradcheck(
        lambda a: dv.energy_distance(a, y.detach(), unbiased=unbiased), (x,)
    )
    assert torch.autograd.gradcheck(
        lambda b: dv.energy_distance(x.detach(), b, unbiased=unbiased), (y,)
    )


def test_coincident_points_take_the_zero_subgradient() -> None:
    """Pairs at distance 0 (within a set and across) add nothing to the gradient: the
    subgradient ``(a - b) / |a - b| := 0`` of torch's cdist, here from a brute force."""
    rng = np.random.default_rng(8)
    x0 = rng.normal(size=(6, 2))
    x0[3] = x0[0]  # twice in x
    y0 = np.concatenate([x0[:2], rng.normal(size=(3, 2))])  # two points of x in y
    x = torch.tensor(x0, requires_grad=True)
    y = torch.tensor(y0, requires_grad=True)
    dv.energy_distance(x, y).backward()

    def unit_sums(a, b):
        differences = a[:, None, :] - b[None, :, :]
        lengths = np.linalg.norm(differences, axis=-1, keepdims=True)
        return np.where(lengths > 0, differences / np.where(lengths > 0, lengths, 1), 0).sum(1)

    n, m = len(x0), len(y0)
    expected_x = 2 * unit_sums(x0, y0) / (n * m) - 2 * unit_sums(x0, x0) / n**2
    expected_y = 2 * unit_sums(y0, x0) / (n * m) - 2 * unit_sums(y0, y0) / m**2
    np.testing.assert_allclose(x.grad.numpy(), expected_x, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(y.grad.numpy(), expected_y, rtol=1e-12, atol=1e-15)


def test_second_derivative_is_an_error_not_zero() -> None:
    rng = np.random.default_rng(9)
    x = torch.tensor(rng.normal(size=(6, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(5, 2)))
    plain = torch.autograd.grad(dv.energy_distance(x, y), x)[0]
    # create_graph=True alone is fine, and gives the same gradient ...
    (graph,) = torch.autograd.grad(dv.energy_distance(x, y) + (x**2).sum(), x, create_graph=True)
    np.testing.assert_allclose(graph.detach().numpy(), plain.numpy() + 2 * x.detach().numpy())
    # ... but differentiating it again would silently drop the energy distance's part
    with pytest.raises(RuntimeError, match="energy_distance has no second derivative"):
        graph.sum().backward()


def test_energy_loss_gradient_matches_autograd_over_all_pairs() -> None:
    from divergences.losses import EnergyLoss

    rng = np.random.default_rng(10)
    fake0, real0 = rng.normal(size=(40, 2)), rng.normal(size=(30, 2)) + 1.0
    fake = torch.tensor(fake0, requires_grad=True)
    EnergyLoss(unbiased=True)(fake, torch.tensor(real0)).backward()
    reference = torch.tensor(fake0, requires_grad=True)
    all_pairs_torch(reference, torch.tensor(real0), unbiased=True).backward()
    np.testing.assert_allclose(fake.grad.numpy(), reference.grad.numpy(), rtol=1e-11, atol=1e-15)
