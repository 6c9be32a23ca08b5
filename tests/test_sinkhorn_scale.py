"""The Sinkhorn divergence keeps the Conventions' scale promises (hypothesis and cases).

``S(s x, s y; blur = s b) = s^p S(x, y; b)`` to 1e-9 relative in float64 (float32: to
its rounding) wherever the result is a normal number of the output dtype, and a
``ValueError`` where it is not; the gradient in the samples is ``s^(p - 1)`` times the
unit-scale one. The references are GeomLoss's ``SamplesLoss`` called directly at unit
scale in float64 (with the cost from coordinate differences, ``tests.test_sinkhorn``)
and closed forms (two Diracs, equal sets). Equal sets give exactly 0 with a zero
gradient, never a warning or an error from GeomLoss.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from geomloss import SamplesLoss
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import divergences as dv
from divergences.losses import SinkhornLoss
from tests.conftest import convert, to_numpy
from tests.test_sinkhorn import exact_cost

RTOL64, RTOL32 = 1e-9, 1e-5


def power(exponent: float) -> float:
    return 10.0**exponent


@st.composite
def point_sets(draw):
    """Two small sample sets with integer coordinates (exact at unit scale), 1 to 3-D."""
    dim = draw(st.integers(1, 3))
    coordinate = st.integers(-8, 8).map(float)
    return [
        draw(arrays(np.float64, (draw(st.integers(1, 4)), dim), elements=coordinate))
        for _ in range(2)
    ]


blurs = st.floats(0.1, 2.0)
scalings = st.sampled_from([0.5, 0.8])


def reference(x: np.ndarray, y: np.ndarray, blur: float, p: int, scaling: float):
    """GeomLoss at unit scale in float64: the value and the gradient in x. Equal sets
    (one point for all, or the same samples) are 0 with a zero gradient, which GeomLoss
    cannot compute for one point (its schedule takes the log of a zero diameter)."""
    points = np.vstack([x, y])
    if np.all(points == points[0]) or (x.shape == y.shape and np.array_equal(x, y)):
        return 0.0, np.zeros_like(x)
    tx = torch.tensor(x, requires_grad=True)
    loss = SamplesLoss(
        "sinkhorn",
        p=p,
        blur=blur,
        scaling=scaling,
        debias=True,
        cost=exact_cost(p),
        backend="tensorized",
    )
    value = loss(tx, torch.tensor(y))
    value.backward()
    return max(value.item(), 0.0), tx.grad.numpy()


def extent(x: np.ndarray, y: np.ndarray) -> float:
    points = np.vstack([x, y])
    return float(np.max(points.max(axis=0) - points.min(axis=0)))


def scaled_call(x, y, scale, blur, p, scaling, dtype=torch.float64):
    tx = torch.tensor(x * scale, dtype=dtype, requires_grad=True)
    ty = torch.tensor(y * scale, dtype=dtype)
    value = dv.sinkhorn_divergence(tx, ty, blur=blur * scale, p=p, scaling=scaling)
    value.backward()
    return value, tx.grad


def check_homogeneous(sets, scale, blur, p, scaling, dtype, rtol):
    x, y = sets
    expected, gradient = reference(x, y, blur, p, scaling)
    value, grad = scaled_call(x, y, scale, blur, p, scaling, dtype)
    assert value.dtype == dtype and grad.dtype == dtype
    # the rounding of the inputs (and, for sets that are equal up to order, the solver's)
    floor = rtol * 1e-3 * (scale * extent(x, y)) ** p
    assert abs(value.item() - scale**p * expected) <= rtol * scale**p * expected + floor
    factor = scale ** (p - 1)
    slack = rtol * factor * (np.abs(gradient).max() + 1e-3 * extent(x, y) ** (p - 1))
    np.testing.assert_allclose(
        grad.double().numpy() / factor, gradient, rtol=0, atol=slack / factor
    )


@settings(max_examples=25)
@given(sets=point_sets(), scale=st.floats(-150.0, 150.0).map(power), blur=blurs, scaling=scalings)
def test_float64_p1_is_homogeneous_of_degree_one(sets, scale, blur, scaling):
    check_homogeneous(sets, scale, blur, 1, scaling, torch.float64, RTOL64)


@settings(max_examples=25)
@given(sets=point_sets(), scale=st.floats(-75.0, 75.0).map(power), blur=blurs, scaling=scalings)
def test_float64_p2_is_homogeneous_of_degree_two(sets, scale, blur, scaling):
    check_homogeneous(sets, scale, blur, 2, scaling, torch.float64, RTOL64)


@settings(max_examples=20)
@given(
    sets=point_sets(),
    p=st.sampled_from([1, 2]),
    exponent=st.floats(-15.0, 15.0),
    blur=blurs,
    scaling=scalings,
)
def test_float32_is_homogeneous_within_its_range(sets, p, exponent, blur, scaling):
    # float32 samples and results stay normal numbers: 1e-30..1e30 for p = 1, 1e-15..1e15
    # for p = 2
    check_homogeneous(sets, power(exponent * (3 - p)), blur, p, scaling, torch.float32, RTOL32)


@settings(max_examples=20)
@given(
    sets=point_sets(),
    exponent=st.one_of(st.floats(-300.0, -160.0), st.floats(160.0, 300.0)),
    blur=blurs,
)
def test_float64_p2_beyond_the_range_is_refused(sets, exponent, blur):
    x, y = sets
    expected, _ = reference(x, y, blur, 2, 0.5)
    # a value of 0 stays 0 at every scale; sets equal up to order give rounding noise
    assume(expected > 1e-6 * extent(x, y) ** 2)
    scale = power(exponent)
    reason = "exceeds the range of float64" if scale > 1 else "below the smallest normal float64"
    with pytest.raises(ValueError, match=reason):
        dv.sinkhorn_divergence(x * scale, y * scale, blur=blur * scale, p=2, scaling=0.5)


@settings(max_examples=20)
@given(sets=point_sets(), mantissa=st.floats(1.0, 2.0), blur=blurs)
def test_float64_p1_at_the_top_of_the_range(sets, mantissa, blur):
    """Samples up to 1.6e308: the value where below 1.8e308, else the error."""
    x, y = sets
    expected, _ = reference(x, y, blur, 1, 0.5)
    assume(expected > 1e-6 * extent(x, y))
    scale = mantissa * 1e307 * 8 / max(8.0, float(np.abs(np.vstack(sets)).max()))
    log2_value = math.log2(scale) + math.log2(expected)
    assume(abs(log2_value - 1024) > 1e-6)
    call = lambda: dv.sinkhorn_divergence(x * scale, y * scale, blur=blur * scale, scaling=0.5)  # noqa: E731
    if log2_value > 1024:
        with pytest.raises(ValueError, match="exceeds the range of float64"):
            call()
    else:
        got = call()
        assert abs(got - scale * expected) <= RTOL64 * scale * expected + 1e-12 * scale


# The cases, one by one.


def test_results_beyond_float64_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(about 2\^1024\) exceeds the range of float64"):
        dv.sinkhorn_divergence([[-1e308]], [[1e308]], blur=1e300)
    with pytest.raises(ValueError, match=r"exceeds the range of float64.*squares their scale"):
        dv.sinkhorn_divergence([[0.0], [1e155]], [[2e155]], blur=1e154, p=2)
    with pytest.raises(ValueError, match="below the smallest normal float64 number"):
        dv.sinkhorn_divergence([[0.0], [1e-200]], [[2e-200]], blur=1e-201, p=2)
    with pytest.raises(ValueError, match="exceeds the range of float64"):
        SinkhornLoss(blur=1e300)(torch.tensor([[-1e308]], dtype=torch.float64), [[1e308]])


def test_subnormal_results_are_refused() -> None:
    """A subnormal number keeps fewer digits than the dtype's precision: refused."""
    with pytest.raises(ValueError, match="below the smallest normal float64 number"):
        dv.sinkhorn_divergence([[0.0], [1e-320]], [[3e-320]], blur=1e-320)
    with pytest.raises(ValueError, match="below the smallest normal float32 number"):
        dv.sinkhorn_divergence(torch.tensor([[0.0], [1e-39]]), torch.tensor([[2e-39]]))


@pytest.mark.parametrize(
    ("dtype", "p", "scale"),
    [
        (torch.float32, 1, 1e38),  # extent beyond 2^127: 2.0**128 is inf in float32
        (torch.float32, 1, 1e-30),
        (torch.float32, 2, 1e18),
        (torch.float32, 2, 1e-15),
        (torch.float64, 1, 1e300),
        (torch.float64, 1, 1e-300),
        (torch.float64, 2, 1e152),
        (torch.float64, 2, 1e-150),
    ],
)
def test_value_and_gradient_at_the_edges_of_the_range(dtype, p, scale) -> None:
    """Where 2^(p k) or 2^-k leave the dtype although the value and gradient do not."""
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1.5, 1.5, size=(5, 2)), rng.uniform(-1.0, 1.6, size=(4, 2))
    expected, gradient = reference(x, y, 0.3, p, 0.8)
    value, grad = scaled_call(x, y, scale, 0.3, p, 0.8, dtype)
    rtol = RTOL64 if dtype == torch.float64 else RTOL32
    np.testing.assert_allclose(value.item() / scale**p, expected, rtol=rtol)
    assert torch.isfinite(grad).all()
    np.testing.assert_allclose(
        grad.double().numpy() / scale ** (p - 1),
        gradient,
        rtol=0,
        atol=rtol * 10 * np.abs(gradient).max(),
    )


def test_float32_results_beyond_its_range_are_refused() -> None:
    x, y = torch.tensor([[0.0], [1e20]]), torch.tensor([[3e20]])
    with pytest.raises(ValueError, match=r"exceeds the range of float32.*pass float64 tensors"):
        dv.sinkhorn_divergence(x, y, blur=1e18, p=2)
    with pytest.raises(ValueError, match="exceeds the range of float32"):
        SinkhornLoss(blur=1e18, p=2)(x, y)
    half = torch.tensor([[0.0], [300.0]], dtype=torch.float16)
    with pytest.raises(ValueError, match="exceeds the range of float16"):
        dv.sinkhorn_divergence(half, half + 1000.0, blur=10.0, p=2)


def test_a_second_derivative_is_an_error_not_a_number() -> None:
    """The costs' backward (torch.cdist's, from differences) has no derivative, and
    where the factors are merged the merged gradient has none either."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(4, 2)) + 1.0
    for scale in (4.0, 1e38):
        tx = torch.tensor(x * scale, dtype=torch.float32, requires_grad=True)
        ty = torch.tensor(y * scale, dtype=torch.float32)
        value = dv.sinkhorn_divergence(tx, ty, blur=0.1 * scale)
        (grad,) = torch.autograd.grad(value, tx, create_graph=True)
        assert torch.isfinite(grad).all()
        with pytest.raises(
            (RuntimeError, NotImplementedError), match=r"derivative|twice|not have been used"
        ):
            torch.autograd.grad(grad.sum(), tx)


# Temperatures too small for the working dtype.


@pytest.mark.parametrize(
    ("dtype", "p", "blur"),
    [
        (torch.float64, 1, 1e-310),
        (torch.float64, 2, 1e-160),
        (torch.float32, 1, 1e-40),
        (torch.float32, 2, 1e-20),
    ],
)
def test_unresolvable_temperatures_are_refused_by_name(dtype, p, blur) -> None:
    # the old code returned NaN for all but the first
    x, y = torch.tensor([[0.0], [1.0]], dtype=dtype), torch.tensor([[0.5], [3.0]], dtype=dtype)
    name = str(dtype).replace("torch.", "")
    with pytest.raises(
        ValueError,
        match=rf"blur = {blur:.4g} is too small for samples of extent 1\.5 .* in {name}: "
        rf"the temperature blur\^{p} is",
    ):
        dv.sinkhorn_divergence(x, y, blur=blur, p=p)


@pytest.mark.parametrize(("dtype", "blur"), [(torch.float64, 1e-200), (torch.float32, 1e-37)])
def test_the_smallest_temperatures_accepted_give_w1(dtype, blur) -> None:
    x, y = torch.tensor([[0.0], [1.0]], dtype=dtype), torch.tensor([[0.5], [3.0]], dtype=dtype)
    exact = dv.wasserstein(x.double(), y.double()).item()  # 1.25
    value = dv.sinkhorn_divergence(x, y, blur=blur, scaling=0.5)
    np.testing.assert_allclose(value.item(), exact, rtol=1e-6)


# Equal sets: exactly 0, zero gradient, no warning.

EQUAL_SETS = [
    (np.zeros((3, 2)), np.zeros((4, 2))),
    (np.full((3, 1), 5.0), np.full((3, 1), 5.0)),
    (np.full((2, 2), -1e300), np.full((1, 2), -1e300)),
    (np.full((2, 1), 1e-320), np.full((3, 1), 1e-320)),
    ([[2.0, 3.0]], [[2.0, 3.0]]),
]


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize(("x", "y"), EQUAL_SETS)
def test_one_point_for_both_sets_is_exactly_zero(kind, p, x, y) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = dv.sinkhorn_divergence(convert(x, kind), convert(y, kind), p=p)
    assert float(to_numpy(value)) == 0.0 and not math.copysign(1.0, float(to_numpy(value))) < 0


@pytest.mark.parametrize("p", [1, 2])
def test_equal_sets_have_a_zero_gradient(p) -> None:
    rng = np.random.default_rng(2)
    samples = rng.normal(size=(6, 2))
    cases = [
        (torch.zeros(4, 1), torch.zeros(4, 1)),
        (torch.full((3, 1), 1e-39), torch.full((2, 1), 1e-39)),  # float32 subnormal
        (torch.tensor(samples), torch.tensor(samples)),  # x == y, distinct points
        (torch.tensor(samples, dtype=torch.float32), torch.tensor(samples, dtype=torch.float32)),
    ]
    for x, y in cases:
        x.requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value = dv.sinkhorn_divergence(x, y, p=p)
            value.backward()
        assert value.item() == 0.0 and value.dtype == x.dtype
        assert torch.equal(x.grad, torch.zeros_like(x))


def test_sinkhorn_loss_on_equal_batches_is_zero_with_zero_gradient() -> None:
    fake = torch.zeros(4, 1, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = SinkhornLoss()(fake, torch.zeros(4, 1))
        value.backward()
    assert value.item() == 0.0
    assert torch.equal(fake.grad, torch.zeros_like(fake))


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("scale", [1.0, 1e-150, 1e150])
def test_one_point_against_another_is_their_cost(p, scale) -> None:
    """The plan is forced: S = |x - y|^p / p exactly, with the gradient of that cost."""
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64) * scale
    x.requires_grad_(True)
    y = torch.tensor([[4.0, 6.0]], dtype=torch.float64) * scale
    value = dv.sinkhorn_divergence(x, y, p=p, blur=0.05 * scale)
    value.backward()
    np.testing.assert_allclose(value.item(), (5.0 * scale) ** p / p, rtol=1e-13)
    direction = np.array([[-3.0, -4.0]]) / 5.0  # d|x - y| / dx
    np.testing.assert_allclose(x.grad.numpy(), direction * (5.0 * scale) ** (p - 1), rtol=1e-12)
