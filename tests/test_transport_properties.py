"""Hypothesis properties of the exact Wasserstein distance (profile chosen in conftest.py)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import divergences as dv
from divergences.families import segment_samples

# Coordinates between 1e-30 and 10 in size, or 0: within that range every p-th power of a
# distance ratio is a normal float. Ratios beyond it (1e-129 next to 1, cubed) are refused
# by design and are checked in test_scale_properties.py.
coordinate = st.one_of(
    st.just(0.0),
    st.floats(1e-30, 10.0).flatmap(lambda size: st.sampled_from([size, -size])),
)
orders = st.sampled_from([1.0, 1.5, 2.0, 3.0])
metrics = st.sampled_from(dv.transport.METRICS)


@st.composite
def sample_sets(draw, count: int = 2, max_dim: int = 3):
    """``count`` sample sets of one dimension d (1 to max_dim), 1 to 7 samples each."""
    dim = draw(st.integers(1, max_dim))
    return [
        draw(arrays(np.float64, (draw(st.integers(1, 7)), dim), elements=coordinate))
        for _ in range(count)
    ]


def tolerance(*sets: np.ndarray) -> float:
    """Rounding of LP costs: a few ulps of the largest coordinate, square-rooted for p > 1."""
    scale = max(1.0, *(float(np.abs(s).max()) for s in sets))
    return 1e-7 * scale


@given(sets=sample_sets(count=1), p=orders, metric=metrics)
def test_distance_to_itself_is_zero(sets, p, metric):
    (x,) = sets
    assert dv.wasserstein(x, x, p=p, metric=metric) <= tolerance(x)


@given(sets=sample_sets(), p=orders, metric=metrics)
def test_symmetry(sets, p, metric):
    x, y = sets
    forward = dv.wasserstein(x, y, p=p, metric=metric)
    backward = dv.wasserstein(y, x, p=p, metric=metric)
    assert abs(forward - backward) <= tolerance(x, y)


@given(sets=sample_sets(count=3), p=orders, metric=metrics)
def test_triangle_inequality(sets, p, metric):
    x, y, z = sets
    direct = dv.wasserstein(x, z, p=p, metric=metric)
    detour = dv.wasserstein(x, y, p=p, metric=metric) + dv.wasserstein(y, z, p=p, metric=metric)
    assert direct <= detour + tolerance(x, y, z)


@given(sets=sample_sets(), p=orders, scale=st.floats(-5.0, 5.0))
def test_homogeneity(sets, p, scale):
    x, y = sets
    scaled = dv.wasserstein(scale * x, scale * y, p=p)
    assert abs(scaled - abs(scale) * dv.wasserstein(x, y, p=p)) <= 6 * tolerance(x, y)


@given(sets=sample_sets(count=1), p=orders, shift=st.lists(coordinate, min_size=3, max_size=3))
def test_translate_is_at_the_shift_length(sets, p, shift):
    (x,) = sets
    v = np.array(shift[: x.shape[1]])
    y = x + v
    # y - x is v up to rounding of the sum; compare with what was actually added
    assert abs(dv.wasserstein(x, y, p=p) - float(np.linalg.norm(v))) <= tolerance(x, y)


@given(sets=sample_sets(max_dim=1), p=orders, weighted=st.booleans(), data=st.data())
def test_1d_path_equals_the_linear_program(sets, p, weighted, data):
    x, y = sets
    weights = st.floats(0.01, 1.0)
    wx = data.draw(arrays(np.float64, len(x), elements=weights)) if weighted else None
    wy = data.draw(arrays(np.float64, len(y), elements=weights)) if weighted else None
    fast = dv.wasserstein(x, y, p=p, weights_x=wx, weights_y=wy)
    # The same samples on a line in the plane take the linear program.
    lp = dv.wasserstein(
        np.hstack([x, 0 * x]), np.hstack([y, 0 * y]), p=p, weights_x=wx, weights_y=wy
    )
    assert abs(fast - lp) <= 1e-10 * max(1.0, lp) + tolerance(x, y)


@given(
    theta=st.floats(-3.0, 3.0).filter(lambda t: abs(t) > 1e-3),
    seed=st.integers(0, 2**16),
    n=st.integers(20, 300),
)
def test_segment_samples_approach_abs_theta(theta, seed, n):
    # Every pair (0, u) -> (theta, u') costs at least |theta|, and matching sorted
    # heights costs at most |theta| + |u - u'|; so the estimate lies in
    # [|theta|, |theta| + W1(heights)], where W1(heights) is the sampling noise
    # of the vertical coordinate, itself O(1 / sqrt(n)).
    p_samples = segment_samples(0.0, n, seed=seed)
    q_samples = segment_samples(theta, n, seed=seed + 1)
    estimate = dv.wasserstein(p_samples, q_samples)
    noise = dv.wasserstein(p_samples[:, 1], q_samples[:, 1])
    assert abs(theta) - 1e-12 <= estimate <= abs(theta) + noise + 1e-12
    assert noise <= 3.0 / math.sqrt(n)
