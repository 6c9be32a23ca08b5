"""The Sinkhorn divergence against GeomLoss called directly, a converged log-domain
Sinkhorn (POT), and its limits (Diracs, blur -> 0 and W1)."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from geomloss import SamplesLoss

import divergences as dv
from divergences.transport import ProblemTooLargeError
from tests.conftest import convert, to_numpy


def converged_entropic(x: np.ndarray, y: np.ndarray, eps: float) -> float:
    """OT_eps with the cost |x - y| by POT's log-domain Sinkhorn run to convergence."""
    cost = ot.dist(x, y, metric="euclidean")
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    plan = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", numItermax=20000, stopThr=1e-11)
    kl = np.sum(plan * np.log(np.maximum(plan, 1e-300) / np.outer(a, b)))
    return float(np.sum(plan * cost) + eps * kl)


def exact_cost(p: int):
    """|x - y|^p / p from the coordinate differences, as GeomLoss takes a cost callable."""

    def cost(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        distances = torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")
        return distances if p == 1 else distances.square() / 2

    return cost


def geomloss(x, y, *, blur: float, p: int = 1, scaling: float = 0.95) -> float:
    """GeomLoss's SamplesLoss called directly on float64 copies, with the exact cost."""
    loss = SamplesLoss(
        "sinkhorn",
        p=p,
        blur=blur,
        scaling=scaling,
        debias=True,
        cost=exact_cost(p),
        backend="tensorized",
    )
    return loss(
        torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    ).item()


def test_equals_geomloss_called_directly(kind: str) -> None:
    """Data in [-0.9, 0.9]^2 with that box's corners: ours then hands GeomLoss the very
    same numbers (its power-of-two standardisation is the identity there)."""
    rng = np.random.default_rng(0)
    x = np.clip(rng.normal(size=(60, 2)) * 0.4, -0.9, 0.9)
    x[:2] = [[0.9, 0.9], [-0.9, -0.9]]
    y = np.clip(rng.normal(size=(50, 2)) * 0.4 + 0.2, -0.9, 0.9)
    reference = geomloss(x, y, blur=0.05, scaling=0.9)
    value = dv.sinkhorn_divergence(convert(x, kind), convert(y, kind), blur=0.05, scaling=0.9)
    np.testing.assert_allclose(to_numpy(value), reference, rtol=1e-12)
    # GeomLoss's own cost floors distances at 1e-4 (the square root of its 1e-8 clamp),
    # which lifts the self terms: 4e-4 relative here
    default = SamplesLoss("sinkhorn", p=1, blur=0.05, scaling=0.9, debias=True)
    clamped = default(torch.from_numpy(x), torch.from_numpy(y)).item()
    np.testing.assert_allclose(to_numpy(value), clamped, rtol=1e-3)
    assert abs(float(to_numpy(value)) - clamped) > 1e-5


def test_other_scales_agree_with_geomloss() -> None:
    """Elsewhere the standardised samples differ from the raw ones by a translation and a
    power of two, which the exact cost and GeomLoss's schedule (from the data's diameter)
    follow to rounding."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(50, 2)) + 0.5
    np.testing.assert_allclose(
        dv.sinkhorn_divergence(x, y, blur=0.3, scaling=0.9),
        geomloss(x, y, blur=0.3, scaling=0.9),
        rtol=1e-12,
    )


def test_close_to_a_converged_solver() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2)) + np.array([1.0, 0.0])
    blur = 0.5
    reference = (
        converged_entropic(x, y, blur)
        - converged_entropic(x, x, blur) / 2
        - converged_entropic(y, y, blur) / 2
    )
    value = dv.sinkhorn_divergence(x, y, blur=blur, scaling=0.95)
    np.testing.assert_allclose(value, reference, rtol=5e-3)


def test_two_diracs_give_their_distance() -> None:
    """One point each: the plan is forced, OT_eps = |x - y| and the self terms are 0,
    exactly (GeomLoss's own cost gave 4.9996: its distances start at 1e-4)."""
    np.testing.assert_allclose(dv.sinkhorn_divergence([[0.0, 0.0]], [[3.0, 4.0]]), 5.0, rtol=1e-14)
    x = torch.tensor([[0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    dv.sinkhorn_divergence(x, torch.tensor([[3.0, 4.0]], dtype=torch.float64)).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[-0.6, -0.8]], rtol=1e-12)


def test_tends_to_w1_as_blur_shrinks() -> None:
    """Disjoint 1-D supports: every plan costs the mean difference, which is W1, so
    S = W1 - (OT_eps(x, x) + OT_eps(y, y)) / 2, and the self terms vanish with the blur."""
    x = np.random.default_rng(2).uniform(size=(200, 1))
    y = np.random.default_rng(3).uniform(size=(200, 1)) + 1.5
    exact = dv.wasserstein(x, y)
    values = [dv.sinkhorn_divergence(x, y, blur=b, scaling=0.95) for b in (0.3, 0.03, 0.001)]
    assert values[0] < values[1] < values[2] < exact
    np.testing.assert_allclose(values[2], exact, rtol=5e-3)


def test_translation_gradient_tends_to_sign() -> None:
    x = torch.from_numpy(np.random.default_rng(4).uniform(size=(100, 1)))
    for theta0, sign in ((3.0, 1.0), (-3.0, -1.0)):
        theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
        dv.sinkhorn_divergence(x + theta, x, blur=0.01).backward()
        np.testing.assert_allclose(theta.grad.item(), sign, atol=0.02)


@pytest.mark.parametrize("scale", [2.0**-300, 2.0**300, 1e-100, 1e100, 3.0])
def test_same_value_at_any_scale(scale: float) -> None:
    """Exact for powers of two (the solver sees the same numbers); otherwise to rounding:
    the costs from differences and the schedule from the diameter scale with the data."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 1.0
    tolerance = 1e-15 if np.log2(scale).is_integer() else 1e-12
    np.testing.assert_allclose(
        dv.sinkhorn_divergence(x * scale, y * scale, blur=0.1 * scale),
        scale * geomloss(x, y, blur=0.1),
        rtol=tolerance,
    )


def test_large_blur_is_half_the_energy_distance_against_scipy() -> None:
    """blur -> infinity: half the MMD with the kernel -|x - y| (Feydy et al. 2019), which
    in 1-D is half the square of SciPy's energy_distance; also for data at 1e-200 with the
    default blur, where the solver's softmins would round C / eps away and return 0."""
    from scipy.stats import energy_distance

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 1)), 2 * rng.normal(size=(250, 1)) + 0.5
    expected = energy_distance(x[:, 0], y[:, 0]) ** 2 / 2
    np.testing.assert_allclose(dv.sinkhorn_divergence(x, y, blur=1e6), expected, rtol=1e-12)
    np.testing.assert_allclose(
        dv.sinkhorn_divergence(x * 1e-200, y * 1e-200) / 1e-200, expected, rtol=1e-12
    )


def test_large_blur_for_p2_is_half_the_squared_mean_difference() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(80, 3)), rng.normal(size=(70, 3)) + np.array([1.0, -0.5, 0.0])
    expected = 0.5 * np.sum((x.mean(axis=0) - y.mean(axis=0)) ** 2)
    np.testing.assert_allclose(dv.sinkhorn_divergence(x, y, p=2, blur=1e4), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_jump_where_the_large_blur_limit_takes_over(dtype: torch.dtype) -> None:
    """Just below the switch the solver runs, just above the limit: they agree to about
    0.2 / ratio (the limit's own error), and the gradient is the limit's, in the dtype."""
    from divergences.sinkhorn import LIMIT_FROM_FLOAT32, LIMIT_FROM_FLOAT64

    rng = np.random.default_rng(4)
    x, y = rng.uniform(-0.75, 0.75, size=(100, 2)), rng.uniform(-0.4, 0.4, size=(100, 2))
    x[0], y[0] = [0.75, 0.75], [-0.75, -0.75]  # the extent: a half-width of 0.75
    ratio = LIMIT_FROM_FLOAT64 if dtype == torch.float64 else LIMIT_FROM_FLOAT32
    tx, ty = torch.tensor(x, dtype=dtype, requires_grad=True), torch.tensor(y, dtype=dtype)
    below = dv.sinkhorn_divergence(tx, ty, blur=ratio * 0.75 * 0.99).item()
    above = dv.sinkhorn_divergence(tx, ty, blur=ratio * 0.75)
    above.backward()
    assert above.dtype == dtype and tx.grad is not None
    np.testing.assert_allclose(below, above.item(), rtol=1e-3 if dtype == torch.float32 else 1e-4)
    reference = torch.tensor(x, requires_grad=True)
    (0.5 * dv.energy_distance(reference, torch.tensor(y))).backward()
    # float32: the energy distance's differences round at about 1e-6 of the largest entry
    atol = 1e-5 * float(reference.grad.abs().max()) if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(tx.grad.numpy(), reference.grad.numpy(), rtol=1e-4, atol=atol)


def test_p2_is_half_squared_w2_for_diracs() -> None:
    np.testing.assert_allclose(dv.sinkhorn_divergence([[0.0]], [[2.0]], p=2), 2.0, rtol=1e-14)


def test_keeps_dtype_and_device(device: str) -> None:
    x = torch.randn(20, 2, device=device, requires_grad=True)
    value = dv.sinkhorn_divergence(x, torch.randn(20, 2, device=device))
    assert value.dtype == torch.float32 and value.device.type == device
    value.backward()
    assert torch.isfinite(x.grad).all()


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="blur must be positive"):
        dv.sinkhorn_divergence([0.0], [1.0], blur=0.0)
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        dv.sinkhorn_divergence([0.0], [1.0], p=3)
    with pytest.raises(ValueError, match="scaling must lie strictly between 0 and 1"):
        dv.sinkhorn_divergence([0.0], [1.0], scaling=1.0)
    with pytest.raises(ValueError, match="same dimension"):
        dv.sinkhorn_divergence(np.zeros((2, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"finite|NaN"):
        dv.sinkhorn_divergence([np.inf], [1.0])
    with pytest.raises(ProblemTooLargeError, match="memory_limit"):
        dv.sinkhorn_divergence(np.zeros((100, 1)), np.zeros((100, 1)), memory_limit=1000)


@pytest.mark.parametrize(
    ("options", "scale"),
    [({}, 1.0), ({"p": 2, "blur": 0.3}, 7.0), ({"blur": 1e6}, 1.0), ({"scaling": 0.5}, 1e-3)],
)
def test_split_divergences_equal_one_call_per_split(monkeypatch, options, scale) -> None:
    """Batched over splits (three batches here), the values are those of one call each
    to the last bit, in the solver's regime and in the large-blur limit's."""
    import divergences.sinkhorn as sinkhorn

    rng = np.random.default_rng(5)
    pooled = scale * rng.normal(size=(21, 3))
    masks = np.stack([rng.permutation(21) < 9 for _ in range(7)])
    monkeypatch.setattr(sinkhorn, "_SPLIT_BATCH_BYTES", 3 * sinkhorn.BYTES_PER_PAIR * 21**2)
    values = sinkhorn.split_divergences(pooled, masks, **options)
    expected = [dv.sinkhorn_divergence(pooled[m], pooled[~m], **options) for m in masks]
    np.testing.assert_array_equal(values, expected)
    # against GeomLoss itself, where the solver runs
    if "blur" not in options or options["blur"] < 1:
        p = options.get("p", 1)
        loss = SamplesLoss(
            "sinkhorn",
            p=p,
            blur=options.get("blur", 0.05),
            scaling=options.get("scaling", 0.95),
            cost=exact_cost(p),
            backend="tensorized",
        )
        x = torch.from_numpy(pooled[masks[0]])
        y = torch.from_numpy(pooled[~masks[0]])
        np.testing.assert_allclose(values[0], float(loss(x, y)), rtol=1e-9)


def test_split_divergences_of_equal_halves_are_zero() -> None:
    from divergences.sinkhorn import split_divergences

    pooled = np.repeat(np.random.default_rng(0).normal(size=(6, 2)), 2, axis=0)
    masks = np.zeros((2, 12), dtype=bool)
    masks[0, ::2] = True  # the two sets hold the same points in the same order
    masks[1, :6] = True
    values = split_divergences(pooled, masks)
    assert values[0] == 0.0
    assert values[1] > 0.0
    masks[0, 1] = True  # 7 points in the first set, 6 in the second row's
    with pytest.raises(ValueError, match="same number of True"):
        split_divergences(pooled, masks)
