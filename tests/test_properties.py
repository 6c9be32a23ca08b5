"""Property-based tests (hypothesis) of the information measures and the closed forms.

The profile (derandomized in CI) is chosen in conftest.py. Tolerances follow the
dtype: a few machine epsilons of the working precision.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import divergences as dv
from divergences.closed_form import segments, translation_wasserstein
from tests.conftest import to_numpy
from tests.problems import LOG2

DTYPES = {"float64": (np.float64, None), "float32": (np.float32, torch.float32)}

weights_entry = st.one_of(st.just(0.0), st.floats(1e-6, 1.0), st.floats(1.0, 1e3))


@st.composite
def weight_vectors(draw, count: int = 2, min_size: int = 1, max_size: int = 8):
    """``count`` non-negative weight vectors of one length, each with positive mass."""
    size = draw(st.integers(min_size, max_size))
    vectors = [draw(arrays(np.float64, size, elements=weights_entry)) for _ in range(count)]
    for vector in vectors:
        assume(vector.sum() > 0)
    return vectors


def as_kind(vector: np.ndarray, dtype_name: str):
    """float64 numpy, or a float32 tensor (the low-precision case)."""
    _, torch_dtype = DTYPES[dtype_name]
    return vector if torch_dtype is None else torch.tensor(vector, dtype=torch_dtype)


def tolerance(dtype_name: str) -> float:
    return 50 * float(np.finfo(DTYPES[dtype_name][0]).eps)


def normalised(vector: np.ndarray) -> np.ndarray:
    return vector / vector.sum()


@pytest.mark.parametrize("dtype_name", DTYPES)
@given(vectors=weight_vectors())
def test_kl_is_nonnegative_and_zero_on_itself(dtype_name, vectors):
    p, q = vectors
    tol = tolerance(dtype_name)
    value = float(to_numpy(dv.kl(as_kind(p, dtype_name), as_kind(q, dtype_name))))
    assert value >= -tol
    assert float(to_numpy(dv.kl(as_kind(p, dtype_name), as_kind(p, dtype_name)))) == 0.0


@pytest.mark.parametrize("dtype_name", DTYPES)
@given(vectors=weight_vectors())
def test_js_is_symmetric_and_bounded(dtype_name, vectors):
    p, q = (as_kind(v, dtype_name) for v in vectors)
    forward, backward = float(to_numpy(dv.js(p, q))), float(to_numpy(dv.js(q, p)))
    assert forward == backward
    assert 0.0 <= forward <= float(np.asarray(LOG2, dtype=DTYPES[dtype_name][0]))
    assert float(to_numpy(dv.js(p, p))) == 0.0


@given(vectors=weight_vectors())
def test_js_is_log2_exactly_when_supports_are_disjoint(vectors):
    p, q = vectors
    value = dv.js(p, q)
    overlap = np.minimum(normalised(p), normalised(q)).sum()
    if overlap == 0:
        assert value == LOG2
    else:
        # each shared outcome with min(p_i, q_i) = m lowers JS by at least m log(2) / 2
        assert value <= LOG2 * (1 - overlap / 2) + 1e-12
        if overlap > 1e-9:
            assert value < LOG2


@given(p=weight_vectors(count=1), flip=st.integers(0, 7))
def test_disjoint_construction_gives_log2(p, flip):
    (weights,) = p
    mask = np.array([(i + flip) % 2 == 0 for i in range(weights.size)])
    first, second = np.where(mask, weights, 0.0), np.where(mask, 0.0, weights)
    assume(first.sum() > 0 and second.sum() > 0)
    assert dv.js(first, second) == LOG2
    assert dv.js(first, second, base=2) == 1.0
    assert dv.kl(first, second) == math.inf


@pytest.mark.parametrize("dtype_name", DTYPES)
@given(vectors=weight_vectors(count=3))
def test_js_distance_satisfies_the_triangle_inequality(dtype_name, vectors):
    p, q, r = (as_kind(v, dtype_name) for v in vectors)
    d_pr = float(to_numpy(dv.js_distance(p, r)))
    d_pq = float(to_numpy(dv.js_distance(p, q)))
    d_qr = float(to_numpy(dv.js_distance(q, r)))
    # sqrt amplifies rounding near 0: allow sqrt(tol)
    assert d_pr <= d_pq + d_qr + math.sqrt(tolerance(dtype_name))


@given(vectors=weight_vectors())
def test_pinsker_inequality(vectors):
    p, q = vectors
    total_variation = 0.5 * np.abs(normalised(p) - normalised(q)).sum()
    assert total_variation <= math.sqrt(dv.kl(p, q) / 2) + 1e-12


@given(vectors=weight_vectors())
def test_torch_float64_agrees_with_numpy(vectors):
    p, q = vectors
    # Sums of terms of both signs cancel (absolute error ~1e-16 per term), and the
    # square root of the JS distance magnifies an absolute error e near 0 to sqrt(e).
    for function, atol in ((dv.kl, 1e-13), (dv.js, 1e-13), (dv.js_distance, 1e-7)):
        expected = function(p, q)
        got = function(torch.from_numpy(p), torch.from_numpy(q)).item()
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=atol)


@given(theta=st.floats(-1e6, 1e6), p=st.floats(1.0, 10.0))
def test_segments_wasserstein_is_abs_theta(theta, p):
    reference = segments(theta, measure="wasserstein", p=p)
    assert reference.value == abs(theta)
    assert reference.derivative == float(np.sign(theta))


@given(shift=arrays(np.float64, st.integers(1, 5), elements=st.floats(-1e3, 1e3)))
def test_translation_wasserstein_is_the_shift_length(shift):
    # math.hypot scales like the closed form (a plain sum of squares underflows)
    np.testing.assert_allclose(translation_wasserstein(shift, p=2), math.hypot(*shift), rtol=1e-14)
