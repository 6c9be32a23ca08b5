"""Closed forms against hand-worked values, POT, SciPy quadrature and naive formulas."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import scipy.integrate
import scipy.linalg
import scipy.stats
import torch

import divergences as dv
from divergences import closed_form
from divergences.closed_form import (
    SEGMENT_MEASURES,
    Reference,
    gaussian_kl,
    gaussian_w2,
    segments,
    translation_wasserstein,
)
from tests.conftest import convert, to_numpy
from tests.problems import GAUSSIAN_PROBLEMS, LOG2

THETAS = np.array([-2.0, -0.5, -1e-9, 0.0, 1e-9, 0.3, 2.0])


def random_spd(rng: np.random.Generator, dim: int) -> np.ndarray:
    a = rng.normal(size=(dim, dim))
    return a @ a.T + 0.5 * np.eye(dim)


def test_segments_values_and_derivatives(kind):
    theta = convert(THETAS, kind)
    apart = THETAS != 0
    kl = segments(theta, measure="kl")
    np.testing.assert_array_equal(to_numpy(kl.value), np.where(apart, np.inf, 0.0))
    assert np.isnan(to_numpy(kl.derivative)).all()
    js = segments(theta, measure="js")
    np.testing.assert_array_equal(to_numpy(js.value), np.where(apart, LOG2, 0.0))
    np.testing.assert_array_equal(to_numpy(js.derivative), np.where(apart, 0.0, np.nan))
    js_bits = segments(theta, measure="js_distance", base=2)
    np.testing.assert_array_equal(to_numpy(js_bits.value), np.where(apart, 1.0, 0.0))
    for p in (None, 1, 2, 3.5):
        w = segments(theta, measure="wasserstein", p=p)
        np.testing.assert_array_equal(to_numpy(w.value), np.abs(THETAS))
        np.testing.assert_array_equal(to_numpy(w.derivative), np.sign(THETAS))


def test_segments_scalar_gives_floats():
    reference = segments(0.7, measure="js")
    assert reference == Reference(value=LOG2, derivative=0.0)
    assert type(reference.value) is float


def test_segments_autograd_agrees_with_the_closed_form_derivative():
    for value in (-1.5, 0.0, 0.25):
        theta = torch.tensor(value, dtype=torch.float64, requires_grad=True)
        reference = segments(theta, measure="wasserstein")
        reference.value.backward()
        assert theta.grad.item() == reference.derivative.item()
        assert not reference.derivative.requires_grad
        theta.grad = None
        segments(theta, measure="js").value.backward()
        assert theta.grad.item() == 0.0


def test_segments_rejects_bad_options():
    with pytest.raises(ValueError, match="measure must be one of 'kl', 'js', 'js_distance'"):
        segments(1.0, measure="tv")
    with pytest.raises(ValueError, match="p must be >= 1"):
        segments(1.0, p=0.5)
    with pytest.raises(ValueError, match="p applies to measure 'wasserstein', not 'js'"):
        segments(1.0, measure="js", p=2)
    with pytest.raises(ValueError, match="base applies to"):
        segments(1.0, measure="wasserstein", base=2)
    with pytest.raises(ValueError, match="theta must contain only finite"):
        segments([np.nan])
    assert set(SEGMENT_MEASURES) == {"kl", "js", "js_distance", "wasserstein"}


@pytest.mark.parametrize(("mp", "cp", "mq", "cq", "kl_value", "w2_value"), GAUSSIAN_PROBLEMS)
def test_gaussian_hand_worked_values(kind, mp, cp, mq, cq, kl_value, w2_value):
    args = [convert(a, kind) for a in (mp, cp, mq, cq)]
    np.testing.assert_allclose(to_numpy(gaussian_kl(*args)), kl_value, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(gaussian_w2(*args)), w2_value, rtol=1e-12)


def test_gaussian_kl_1d_against_quadrature():
    mp, sp, mq, sq = 0.3, 0.7, -0.4, 1.3
    p, q = scipy.stats.norm(mp, sp), scipy.stats.norm(mq, sq)
    integral, _ = scipy.integrate.quad(
        lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), -15, 15, epsabs=1e-13
    )
    np.testing.assert_allclose(gaussian_kl(mp, sp**2, mq, sq**2), integral, rtol=1e-9)


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_gaussian_kl_against_the_naive_inverse_and_determinant(dim):
    rng = np.random.default_rng(dim)
    mp, mq = rng.normal(size=dim), rng.normal(size=dim)
    cp, cq = random_spd(rng, dim), random_spd(rng, dim)
    inv_q = np.linalg.inv(cq)
    naive = 0.5 * (
        np.trace(inv_q @ cp)
        + (mq - mp) @ inv_q @ (mq - mp)
        - dim
        + np.log(np.linalg.det(cq) / np.linalg.det(cp))
    )
    np.testing.assert_allclose(gaussian_kl(mp, cp, mq, cq), naive, rtol=1e-10)
    np.testing.assert_allclose(
        gaussian_kl(mp, cp, mq, cq, base=2), naive / math.log(2), rtol=1e-10
    )
    assert gaussian_kl(mp, cp, mp, cp) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("dim", [1, 2, 5])
def test_gaussian_w2_against_pot_bures(dim):
    rng = np.random.default_rng(10 + dim)
    mp, mq = rng.normal(size=dim), rng.normal(size=dim)
    cp, cq = random_spd(rng, dim), random_spd(rng, dim)
    expected = float(ot.gaussian.bures_wasserstein_distance(mp, mq, cp, cq))
    np.testing.assert_allclose(gaussian_w2(mp, cp, mq, cq), expected, rtol=1e-9)
    # and against the textbook formula with scipy's matrix square root
    root_p = scipy.linalg.sqrtm(cp).real
    cross = scipy.linalg.sqrtm(root_p @ cq @ root_p).real
    textbook = np.sqrt(np.sum((mp - mq) ** 2) + np.trace(cp + cq - 2 * cross))
    np.testing.assert_allclose(gaussian_w2(mp, cp, mq, cq), textbook, rtol=1e-9)


def test_gaussian_w2_with_a_point_mass_is_the_root_second_moment():
    # W2(delta_0, N(m, C))^2 = |m|^2 + tr C
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(
        gaussian_w2([0.0, 0.0], np.zeros((2, 2)), [1.0, 2.0], cov), math.sqrt(5.0 + 3.0)
    )
    assert gaussian_w2([1.0, 2.0], cov, [1.0, 2.0], cov) == pytest.approx(0.0, abs=1e-7)


def test_gaussian_gradcheck():
    rng = np.random.default_rng(0)
    dim = 3
    tensors = [
        torch.tensor(a, dtype=torch.float64, requires_grad=True)
        for a in (rng.normal(size=dim), random_spd(rng, dim), rng.normal(size=dim))
    ]
    cq = torch.tensor(random_spd(rng, dim), dtype=torch.float64, requires_grad=True)

    def kl_symmetrised(mp, cp, mq, cq):
        return gaussian_kl(mp, (cp + cp.T) / 2, mq, (cq + cq.T) / 2)

    def w2_symmetrised(mp, cp, mq, cq):
        return gaussian_w2(mp, (cp + cp.T) / 2, mq, (cq + cq.T) / 2)

    assert torch.autograd.gradcheck(kl_symmetrised, (*tensors, cq))
    assert torch.autograd.gradcheck(w2_symmetrised, (*tensors, cq))


def test_gaussian_w2_gradient_is_finite_for_repeated_eigenvalues():
    mean = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    cov = torch.eye(3, dtype=torch.float64, requires_grad=True)
    value = gaussian_w2(mean, cov, torch.ones(3, dtype=torch.float64), 4 * torch.eye(3))
    value.backward()
    assert torch.isfinite(cov.grad).all()
    assert torch.isfinite(mean.grad).all()
    # W2^2 = 3 + 3 * (2 - 1)^2 = 6; dW2/dmean = (mean - m_q) / W2
    np.testing.assert_allclose(value.item(), math.sqrt(6.0), rtol=1e-12)
    np.testing.assert_allclose(mean.grad.numpy(), -np.ones(3) / math.sqrt(6.0), rtol=1e-12)


def test_gaussian_errors():
    with pytest.raises(ValueError, match="mean_p and mean_q must have the same dimension"):
        gaussian_kl([0.0, 0.0], np.eye(2), [0.0], 1.0)
    with pytest.raises(ValueError, match="cov_q must be positive definite"):
        gaussian_kl([0.0, 0.0], np.eye(2), [0.0, 0.0], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="cov_p must be symmetric"):
        gaussian_w2([0.0, 0.0], [[1.0, 1.0], [0.0, 1.0]], [0.0, 0.0], np.eye(2))
    with pytest.raises(ValueError, match="mean_p must contain only finite"):
        gaussian_w2([np.inf], 1.0, [0.0], 1.0)
    with pytest.raises(TypeError, match="cov_q must be"):
        gaussian_kl([0.0], 1.0, [0.0], "one")


@pytest.mark.parametrize("p", [1, 2, 3.5])
def test_translation_wasserstein(kind, p):
    shift = np.array([3.0, -4.0, 12.0])
    np.testing.assert_allclose(
        to_numpy(translation_wasserstein(convert(shift, kind), p=p)), 13.0, rtol=1e-15
    )


def test_translation_wasserstein_gradient_is_the_unit_vector():
    shift = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    translation_wasserstein(shift).backward()
    np.testing.assert_allclose(shift.grad.numpy(), [0.6, 0.8], rtol=1e-15)
    zero = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    translation_wasserstein(zero).backward()
    np.testing.assert_array_equal(zero.grad.numpy(), [0.0, 0.0])


def test_translation_wasserstein_errors():
    with pytest.raises(ValueError, match="p must be >= 1"):
        translation_wasserstein([1.0], p=0.5)
    with pytest.raises(ValueError, match="shift must be a 1-D vector"):
        translation_wasserstein(np.ones((2, 2)))
    with pytest.raises(ValueError, match="shift must not be empty"):
        translation_wasserstein([])


@pytest.mark.parametrize("dim", [1, 2, 5, 64, 128, 1000])
@pytest.mark.parametrize("scale", [0.5, 1.5, 3.0])
def test_gaussian_scale_wasserstein_against_the_chi_mean(dim, scale):
    from scipy.stats import chi

    from divergences.closed_form import gaussian_scale_wasserstein

    # E||z|| for z ~ N(0, I_d) is the mean of the chi distribution (SciPy)
    expected = abs(1 - scale) * 2.0 * chi(dim).mean()
    np.testing.assert_allclose(
        gaussian_scale_wasserstein(scale, dim, sigma=2.0), expected, rtol=1e-12
    )


def test_gaussian_scale_wasserstein_is_the_1d_wasserstein_in_one_dimension():
    from scipy.stats import wasserstein_distance

    from divergences.closed_form import gaussian_scale_wasserstein

    z = np.random.default_rng(0).standard_normal(400_000)
    # the monotone coupling z -> 1.7 z on the same draws: the empirical W1 is exact for it
    np.testing.assert_allclose(
        wasserstein_distance(z, 1.7 * z), gaussian_scale_wasserstein(1.7, 1), rtol=5e-3
    )


@pytest.mark.parametrize(
    ("radii_p", "radii_q"),
    [
        ((1.0, 1.0), (1.0, 2.0)),
        ((0.5, 1.5), (1.0, 3.0)),
        ((0.0, 2.0), (0.5, 1.0)),
        ((1, 3), (2, 3)),
    ],
)
def test_radial_wasserstein_against_quadrature_and_samples(radii_p, radii_q):
    from scipy.integrate import quad

    from divergences.closed_form import radial_wasserstein

    (a, b), (c, e) = radii_p, radii_q
    expected, _ = quad(lambda u: abs((c + (e - c) * u) - (a + (b - a) * u)), 0, 1, limit=200)
    got = radial_wasserstein(radii_p, radii_q)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    # and W1 of the distributions themselves, in the plane, by the exact LP on samples
    # (1500 a side: the empirical W1 is biased up by a few hundredths)
    rng = np.random.default_rng(1)

    def shell(low, high, n):
        angle = rng.uniform(0, 2 * np.pi, n)
        radius = rng.uniform(low, high, n)
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)

    sampled = dv.wasserstein(shell(a, b, 1500), shell(c, e, 1500))
    assert got - 0.02 < sampled < got + 0.08


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: closed_form.gaussian_scale_wasserstein(0.0, 2), "scale must be positive"),
        (lambda: closed_form.gaussian_scale_wasserstein(2.0, 0), "dim must be at least 1"),
        (lambda: closed_form.radial_wasserstein((2, 1), (0, 1)), "radii_p must satisfy"),
        (lambda: closed_form.radial_wasserstein((0, 1), (0, 1, 2)), "radii_q must be an interval"),
    ],
)
def test_new_closed_forms_check_their_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# Issue 13: small values, large values and their gradients, against mpmath.
def mp_w2_diagonal(mean_shift, variances_p, variances_q):
    """W2 between Gaussians with diagonal covariances, in 50-digit arithmetic."""
    import mpmath

    mpmath.mp.dps = 50
    total = sum(mpmath.mpf(v) ** 2 for v in mean_shift)
    total += sum(
        (mpmath.sqrt(mpmath.mpf(a)) - mpmath.sqrt(mpmath.mpf(b))) ** 2
        for a, b in zip(variances_p, variances_q, strict=True)
    )
    return float(mpmath.sqrt(total))


@pytest.mark.parametrize(
    ("mean_shift", "variances_p", "variances_q"),
    [
        ([1e-8, 0.0], [1.0, 1.0], [1.0, 1.0]),  # gave 0.0
        ([0.0], [1.0], [1.0 + 1e-8]),  # gave 0
        ([0.0, 0.0], [1e300, 1e300], [1.0, 1.0]),  # gave 0.0 (truth 1.41e150)
        ([3e-200, 4e-200], [1e-300, 1e-300], [1e-300, 1e-300]),
        ([1e150, 0.0], [1e300, 4e300], [1e-300, 1e300]),
        ([0.5, -2.0, 1e-3], [2.0, 1e-6, 3.0], [2.0 + 1e-9, 1e-6, 7.0]),
    ],
)
def test_gaussian_w2_at_extremes_against_mpmath(mean_shift, variances_p, variances_q):
    dim = len(mean_shift)
    got = gaussian_w2(mean_shift, np.diag(variances_p), np.zeros(dim), np.diag(variances_q))
    np.testing.assert_allclose(got, mp_w2_diagonal(mean_shift, variances_p, variances_q), 1e-7)


def test_gaussian_w2_with_a_rotation_is_accurate_when_small():
    # C_q = R C_p R^T + tiny: the rotation must not hide a small Bures distance.
    rng = np.random.default_rng(3)
    cov = random_spd(rng, 3)
    expected = float(
        ot.gaussian.bures_wasserstein_distance(np.zeros(3), np.zeros(3), cov, 4 * cov)
    )
    got = gaussian_w2(np.zeros(3), 1e-200 * cov, np.zeros(3), 4e-200 * cov)
    np.testing.assert_allclose(got, 1e-100 * expected, rtol=1e-9)


def test_gaussian_kl_small_and_large_against_mpmath():
    import mpmath

    mpmath.mp.dps = 50
    # 1-D: KL = (v_p / v_q - 1 - log(v_p / v_q) + (m_p - m_q)^2 / v_q) / 2
    for mp_, vp, mq, vq in (
        (0.0, 1.0, 0.0, 1.0 + 1e-8),
        (1e-9, 1.0, 0.0, 1.0),
        (0.0, 4.0, 0.0, 1.0),
    ):
        ratio = mpmath.mpf(vp) / mpmath.mpf(vq)
        exact = (ratio - 1 - mpmath.log(ratio) + (mpmath.mpf(mp_) - mq) ** 2 / vq) / 2
        np.testing.assert_allclose(gaussian_kl(mp_, vp, mq, vq), float(exact), rtol=1e-7)
    # invariant under a common scale: covariances at 1e-300 and 1e300
    for scale in (1e-150, 1e150):
        np.testing.assert_allclose(
            gaussian_kl([scale], scale**2 * 2.0, [0.0], scale**2 * 1.0),
            gaussian_kl([1.0], 2.0, [0.0], 1.0),
            rtol=1e-12,
        )
    with pytest.raises(ValueError, match="the divergence of these inputs exceeds the float range"):
        gaussian_kl([1e200], 1.0, [0.0], 1.0)


def test_translation_wasserstein_at_extremes():
    import mpmath

    mpmath.mp.dps = 50
    for shift in ([1e200, 1e200], [3e-200, 4e-200], [1e308, 1e308], [5e-324, 5e-324]):
        exact = mpmath.sqrt(sum(mpmath.mpf(v) ** 2 for v in shift))
        np.testing.assert_allclose(translation_wasserstein(shift), float(exact), rtol=1e-15)
    with pytest.raises(ValueError, match="shift's length of these inputs exceeds the float range"):
        translation_wasserstein([1.5e308, 1.5e308])
    # the gradient v / |v| at 1e200 (it was 0: the square overflowed)
    shift = torch.tensor([1e200, 0.0], dtype=torch.float64, requires_grad=True)
    translation_wasserstein(shift).backward()
    np.testing.assert_array_equal(shift.grad.numpy(), [1.0, 0.0])


def test_segments_js_distance_base_below_one_and_empty_theta():
    with pytest.raises(ValueError, match="base must be greater than 1 for a distance"):
        segments(1, measure="js_distance", base=0.5)  # was "math domain error"
    assert segments(1, measure="js", base=0.5).value == -1.0  # as dv.js
    with pytest.raises(ValueError, match=r"theta must not be empty; got shape \(0,\)"):
        segments([])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gaussian_half_precision(dtype):
    # "cholesky_cpu not implemented for 'Half'": computed in float32, returned as given.
    args = [
        torch.tensor(a, dtype=dtype)
        for a in ([0.0, 1.0], [[2.0, 0.5], [0.5, 1.0]], [1.0, 0.0], [[1.0, 0.0], [0.0, 3.0]])
    ]
    exact = [a.double().numpy() for a in args]
    for function in (gaussian_kl, gaussian_w2):
        value = function(*args)
        assert value.dtype == dtype
        np.testing.assert_allclose(
            value.item(), function(*exact), rtol=float(torch.finfo(dtype).eps)
        )


def test_meta_tensors_are_refused():
    meta = torch.ones(2, device="meta")
    with pytest.raises(ValueError, match="mean_p is a tensor on the 'meta' device"):
        gaussian_kl(meta, torch.eye(2, device="meta"), meta, torch.eye(2, device="meta"))
    with pytest.raises(ValueError, match="theta is a tensor on the 'meta' device"):
        segments(meta)


def test_scale_and_radial_closed_forms_at_extremes():
    from divergences.closed_form import gaussian_scale_wasserstein, radial_wasserstein

    # sigma near the float limit with a small |1 - s|: each partial product may overflow
    np.testing.assert_allclose(
        gaussian_scale_wasserstein(1 + 1e-10, 64, sigma=1e308),
        1e-10 * 1e308 * gaussian_scale_wasserstein(2.0, 64),
        rtol=1e-6,  # 1 + 1e-10 is itself rounded
    )
    with pytest.raises(ValueError, match="exceeds the float range"):
        gaussian_scale_wasserstein(1e300, 64, sigma=1e300)
    # radii near the float limit: the differences of differences stay finite
    np.testing.assert_allclose(
        radial_wasserstein((1e307, 1.5e308), (0.0, 1e308)),
        1e307 * radial_wasserstein((1.0, 15.0), (0.0, 10.0)),
        rtol=1e-14,
    )


def test_gradcheck_near_equal_covariances():
    # The near-identity branch of gaussian_kl (eigenvalues of the whitened difference)
    # and W2's fixed-rotation residual are differentiated too, not only evaluated.
    rng = np.random.default_rng(5)
    base = random_spd(rng, 3)
    perturbation = 0.01 * random_spd(rng, 3)

    def as_leaf(value):
        return torch.tensor(value, dtype=torch.float64, requires_grad=True)

    mean_p, mean_q = as_leaf(rng.normal(size=3)), as_leaf(rng.normal(size=3))
    cov_p, cov_q = as_leaf(base), as_leaf(base + perturbation)

    def kl_symmetrised(mp, cp, mq, cq):
        return gaussian_kl(mp, (cp + cp.T) / 2, mq, (cq + cq.T) / 2)

    def w2_symmetrised(mp, cp, mq, cq):
        return gaussian_w2(mp, (cp + cp.T) / 2, mq, (cq + cq.T) / 2)

    assert torch.autograd.gradcheck(kl_symmetrised, (mean_p, cov_p, mean_q, cov_q))
    assert torch.autograd.gradcheck(w2_symmetrised, (mean_p, cov_p, mean_q, cov_q))
    # and the branch is the near-identity one
    inverse = np.linalg.inv(np.linalg.cholesky(base + perturbation))
    shifts = np.linalg.eigvalsh(inverse @ (-perturbation) @ inverse.T)
    assert np.abs(shifts).max() < 0.5


def test_means_near_the_float_limit():
    # Means 1.5e308 apart: W2 = 1.5e308 exactly (the difference of halves, doubled);
    # 3e308 apart, W2 and KL are beyond the float range, an error (not inf, not a
    # raw "array must not contain infs" from SciPy).
    assert gaussian_w2([0.75e308], 1.0, [-0.75e308], 1.0) == 1.5e308
    # KL = (2e150)^2 / 1e300 / 2 = 2, with everything near the limits
    np.testing.assert_allclose(gaussian_kl([1e150], 1e300, [-1e150], 1e300), 2.0, rtol=1e-15)
    for function in (gaussian_w2, gaussian_kl):
        with pytest.raises(ValueError, match="of these inputs exceeds the float range"):
            function([1.5e308], 1.0, [-1.5e308], 1.0)
