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
