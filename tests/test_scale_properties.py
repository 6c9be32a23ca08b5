"""Every distance under changes of scale (1e-200 to 1e200) and translation (hypothesis).

Each one is equivariant (the Wasserstein distances: ``W(s x + t, s y + t) = s W(x, y)``),
invariant (KL and JS, of weights or from samples), or raises a clear ``ValueError``
where the quantity asked for is not representable in float64; it never returns
another number. The references are computed at unit scale by independent code:
POT called directly, SciPy, brute-force k-NN, and the closed forms' own values
at unit scale. Tolerances: ``1e-9`` relative (the issue's bound) plus the
rounding of the scaled and translated inputs themselves, a few ulps of their
largest coordinate.
"""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from scipy.special import rel_entr
from scipy.stats import entropy

import divergences as dv
from divergences.closed_form import (
    gaussian_kl,
    gaussian_scale_wasserstein,
    gaussian_w2,
    radial_wasserstein,
    segments,
    translation_wasserstein,
)
from tests.test_knn import brute_force_plain

EPS = float(np.finfo(np.float64).eps)
RTOL = 1e-9
ORDERS = [1.0, 2.0, 3.0]


def power(exponent: float) -> float:
    return 10.0**exponent


# Scale factors 10^e, e uniform in [-200, 200], and translations in units of the
# scaled data, up to a thousand times its extent.
scales = st.floats(-200.0, 200.0).map(power)
shifts = st.floats(-1e3, 1e3)
# Gaussians scale their covariances by s^2, which must itself be a normal float.
gaussian_scales = st.floats(-150.0, 150.0).map(power)


@st.composite
def point_sets(draw):
    """Two small sample sets with integer coordinates (exact at unit scale), 1 to 3-D."""
    dim = draw(st.integers(1, 3))
    coordinate = st.integers(-8, 8).map(float)
    return [
        draw(arrays(np.float64, (draw(st.integers(1, 6)), dim), elements=coordinate))
        for _ in range(2)
    ]


def rounding(*arrays: np.ndarray) -> float:
    """What rounding the scaled and shifted inputs can move a distance by."""
    largest = max(float(np.abs(a).max()) for a in arrays)
    dim = arrays[0].shape[-1] if arrays[0].ndim > 1 else 1
    return 64 * EPS * largest * math.sqrt(dim)


def pot_cost(x: np.ndarray, y: np.ndarray, p: float) -> tuple[float, np.ndarray, np.ndarray]:
    """POT called directly at unit scale: W_p^p and the dual potentials."""
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    _, log = ot.emd(a, b, cdist(x, y) ** p, numItermax=10**7, log=True)
    return float(log["cost"]), log["u"], log["v"]


def moved(sets: list[np.ndarray], scale: float, shift: float) -> list[np.ndarray]:
    translation = scale * shift * np.linspace(1.0, -0.5, sets[0].shape[1])
    return [scale * s + translation for s in sets]


@pytest.mark.parametrize("p", ORDERS)
@given(sets=point_sets(), scale=scales, shift=shifts)
def test_exact_wasserstein_is_equivariant(p, sets, scale, shift):
    x, y = sets
    reference = pot_cost(x, y, p)[0] ** (1 / p)
    scaled_x, scaled_y = moved(sets, scale, shift)
    # d = 1 takes the sort-based path, d > 1 the linear program; optimal_transport
    # always takes the linear program.
    got = dv.wasserstein(scaled_x, scaled_y, p=p)
    tolerance = RTOL * scale * reference + rounding(scaled_x, scaled_y)
    assert abs(got - scale * reference) <= tolerance
    if x.shape[1] == 1:
        lp = dv.wasserstein(
            np.hstack([scaled_x, 0 * scaled_x]), np.hstack([scaled_y, 0 * scaled_y]), p=p
        )
        assert abs(lp - scale * reference) <= tolerance


@pytest.mark.parametrize("p", ORDERS)
@given(sets=point_sets(), scale=scales, shift=shifts)
def test_optimal_transport_is_equivariant_or_refuses(p, sets, scale, shift):
    x, y = sets
    cost, potential_x, potential_y = pot_cost(x, y, p)
    scaled_x, scaled_y = moved(sets, scale, shift)
    # log2 of the largest number the result must hold, in units of distance^p
    peak = max(cost, float(np.abs(potential_x).max()), float(np.abs(potential_y).max()))
    magnitude = p * math.log2(scale) + (math.log2(peak) if peak > 0 else 0.0)
    if peak > 0 and not -1000 < magnitude < 1000:
        if not -1022 < magnitude < 1024:  # certainly not representable
            with pytest.raises(ValueError, match="outside the float64 range"):
                dv.optimal_transport(scaled_x, scaled_y, p=p)
        return
    result = dv.optimal_transport(scaled_x, scaled_y, p=p)
    a, b = np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y))
    np.testing.assert_allclose(result.plan.sum(axis=1), a, rtol=1e-12)
    np.testing.assert_allclose(result.plan.sum(axis=0), b, rtol=1e-12)
    factor = scale**p
    # the translation and the rounding of the inputs move costs by about p d^(p-1) dx
    slack = factor * (RTOL * max(peak, 1.0)) + p * rounding(scaled_x, scaled_y) * (
        scale * 32.0
    ) ** (p - 1)
    assert abs(result.cost - factor * cost) <= slack
    assert abs(a @ result.potential_x + b @ result.potential_y - result.cost) <= slack
    # certified: the plan's cost under the unit-scale costs, and dual feasibility
    unit_costs = cdist(x, y) ** p
    assert abs(factor * float((result.plan * unit_costs).sum()) - factor * cost) <= slack
    residual = factor * unit_costs - result.potential_x[:, None] - result.potential_y[None, :]
    assert residual.min() >= -slack
    distance = scale * cost ** (1 / p)
    assert abs(result.distance - distance) <= RTOL * distance + rounding(scaled_x, scaled_y)


@pytest.mark.parametrize("p", ORDERS)
@given(sets=point_sets(), scale=scales, shift=shifts, seed=st.integers(0, 2**16))
def test_sliced_wasserstein_is_equivariant(p, sets, scale, shift, seed):
    x, y = sets
    reference = dv.sliced_wasserstein(x, y, p=p, n_projections=20, seed=seed)
    # and the unit-scale value itself against POT called directly with the same directions
    directions = np.random.default_rng(seed).standard_normal((x.shape[1], 20))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    direct = float(ot.sliced_wasserstein_distance(x, y, p=p, projections=directions))
    assert abs(reference - direct) <= RTOL * direct + rounding(x, y)
    scaled_x, scaled_y = moved(sets, scale, shift)
    got = dv.sliced_wasserstein(scaled_x, scaled_y, p=p, n_projections=20, seed=seed)
    assert abs(got - scale * reference) <= RTOL * scale * reference + rounding(scaled_x, scaled_y)


@given(
    seed=st.integers(0, 2**16),
    dim=st.integers(1, 3),
    scale=scales,
    shift=shifts,
    method=st.sampled_from(dv.knn.METHODS),
)
def test_knn_estimates_are_invariant(seed, dim, scale, shift, method):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(25, dim)), rng.normal(size=(20, dim)) * 1.5 + 0.5
    scaled_x, scaled_y = moved([x, y], scale, shift)
    # inputs rounded at ~1e-13 of the data's extent move log-distance ratios by as much
    tolerance = 1e-9 + 1e3 * EPS * (1 + abs(shift))
    got = dv.kl_knn(scaled_x, scaled_y, k=3, method=method)
    assert abs(got - dv.kl_knn(x, y, k=3, method=method)) <= tolerance
    if method == "plain":
        assert abs(got - max(brute_force_plain(x, y, 3), 0.0)) <= tolerance
    assert abs(dv.js_knn(scaled_x, scaled_y, k=3) - dv.js_knn(x, y, k=3)) <= tolerance


weights_entry = st.one_of(st.just(0.0), st.floats(1e-6, 1e3))


@given(
    vectors=st.integers(1, 8).flatmap(
        lambda size: st.tuples(
            arrays(np.float64, size, elements=weights_entry),
            arrays(np.float64, size, elements=weights_entry),
        )
    ),
    top_p=st.one_of(st.sampled_from([1e-300, 1.7e308]), st.floats(-300.0, 308.0).map(power)),
    top_q=st.one_of(st.sampled_from([1e-300, 1.7e308]), st.floats(-300.0, 308.0).map(power)),
)
def test_information_measures_are_invariant_to_the_scale_of_the_weights(vectors, top_p, top_q):
    p, q = vectors
    assume(p.sum() > 0 and q.sum() > 0)
    # the largest weight anywhere from 1e-300 to 1e308: totals overflow, shares do not
    scaled_p, scaled_q = p / p.max() * top_p, q / q.max() * top_q
    # References: SciPy at unit scale (the scaled shares differ from them by an ulp).
    # The JS one from rel_entr, as jensenshannon does, clipped at 0 before the root
    # (SciPy's own square root warns on a rounding-negative divergence).
    shares_p, shares_q = p / p.sum(), q / q.sum()
    middle = (shares_p + shares_q) / 2
    reference_js = max(
        0.0, float(rel_entr(shares_p, middle).sum() + rel_entr(shares_q, middle).sum()) / 2
    )
    np.testing.assert_allclose(dv.kl(scaled_p, scaled_q), entropy(p, q), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dv.js(scaled_p, scaled_q), reference_js, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(
        dv.js_distance(scaled_p, scaled_q), math.sqrt(reference_js), rtol=1e-9, atol=1e-6
    )


@st.composite
def gaussian_pairs(draw):
    dim = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    factors = [rng.normal(size=(dim, dim)) for _ in range(2)]
    covariances = [f @ f.T + 0.1 * np.eye(dim) for f in factors]
    return rng.normal(size=dim), covariances[0], rng.normal(size=dim), covariances[1]


@given(problem=gaussian_pairs(), scale=gaussian_scales, shift=shifts)
def test_gaussian_closed_forms_scale(problem, scale, shift):
    mean_p, cov_p, mean_q, cov_q = problem
    translation = scale * shift
    args = (
        scale * mean_p + translation,
        scale**2 * cov_p,
        scale * mean_q + translation,
        scale**2 * cov_q,
    )
    # W2 is a length: equivariant. Reference at unit scale: POT's Bures-Wasserstein.
    reference = float(ot.gaussian.bures_wasserstein_distance(mean_p, mean_q, cov_p, cov_q))
    rounded = rounding(args[0], args[2]) + 64 * EPS * scale * math.sqrt(
        max(np.abs(cov_p).max(), np.abs(cov_q).max())
    )
    assert abs(gaussian_w2(*args) - scale * reference) <= 1e-8 * scale * reference + rounded
    # KL is invariant; its reference is the textbook formula at unit scale.
    inverse_q = np.linalg.inv(cov_q)
    difference = mean_q - mean_p
    expected = 0.5 * (
        np.trace(inverse_q @ cov_p)
        + difference @ inverse_q @ difference
        - len(mean_p)
        + np.log(np.linalg.det(cov_q) / np.linalg.det(cov_p))
    )
    shift_error = (rounded / scale) * np.abs(inverse_q).sum() * (np.abs(difference).sum() + 1)
    assert abs(gaussian_kl(*args) - expected) <= 1e-8 * max(expected, 1.0) + 10 * shift_error


@pytest.mark.parametrize("scale", [1e-200, 1e-170, 1e160, 1e200])
def test_gaussians_beyond_a_representable_covariance_are_refused(scale):
    # s^2 C overflows to inf or underflows to 0 before it reaches the library: a
    # clear error on the argument, not a number.
    with np.errstate(over="ignore", under="ignore"):
        variance = np.float64(scale) ** 2
    with pytest.raises(ValueError, match=r"cov_p must (contain only finite|be positive definite)"):
        gaussian_kl([0.0], variance * 2.0, [scale], variance)
    if scale > 1:
        with pytest.raises(ValueError, match="cov_p must contain only finite"):
            gaussian_w2([0.0], variance * 2.0, [scale], variance)


@given(
    shift=arrays(np.float64, st.integers(1, 4), elements=st.floats(-10.0, 10.0)),
    scale=scales,
    theta=st.floats(-10.0, 10.0),
    factor=st.floats(0.1, 10.0),
    radii=st.lists(st.floats(0.0, 10.0), min_size=4, max_size=4),
)
def test_other_closed_forms_scale(shift, scale, theta, factor, radii):
    np.testing.assert_allclose(
        translation_wasserstein(scale * shift),
        scale * math.hypot(*shift),  # Python's hypot scales too (and rounds once)
        rtol=1e-14,
        atol=0.0,
    )
    assert segments(scale * theta).value == abs(scale * theta)
    assert segments(scale * theta, measure="js").value == (math.log(2) if theta else 0.0)
    np.testing.assert_allclose(
        gaussian_scale_wasserstein(factor, 3, sigma=scale),
        scale * gaussian_scale_wasserstein(factor, 3),
        rtol=1e-14,
    )
    low_p, high_p, low_q, high_q = radii
    interval_p, interval_q = (
        (min(low_p, high_p), max(low_p, high_p)),
        (min(low_q, high_q), max(low_q, high_q)),
    )
    np.testing.assert_allclose(
        radial_wasserstein(
            tuple(scale * r for r in interval_p), tuple(scale * r for r in interval_q)
        ),
        scale * radial_wasserstein(interval_p, interval_q),
        rtol=1e-12,
        atol=1e-12 * scale * max(radii),
    )
