"""kl, js and js_distance against SciPy, hand-worked values, and autograd."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import entropy

import divergences as dv
from tests.conftest import convert, to_numpy
from tests.problems import LOG2, PROBABILITY_PROBLEMS


def random_weights(rng: np.random.Generator, shape, zero_fraction: float = 0.3) -> np.ndarray:
    """Positive weights with some exact zeros (the cases 0 log 0 must handle)."""
    weights = rng.uniform(size=shape)
    weights[rng.uniform(size=shape) < zero_fraction] = 0.0
    return weights


@pytest.mark.parametrize(("p", "q", "kl_value", "js_value"), PROBABILITY_PROBLEMS)
def test_hand_worked_values(kind, p, q, kl_value, js_value):
    np.testing.assert_allclose(to_numpy(dv.kl(convert(p, kind), convert(q, kind))), kl_value)
    np.testing.assert_allclose(
        to_numpy(dv.js(convert(p, kind), convert(q, kind))), js_value, rtol=1e-13, atol=1e-15
    )


@pytest.mark.parametrize("base", [None, 2, 10, 0.5])
@pytest.mark.parametrize("seed", range(5))
def test_kl_matches_scipy_entropy(kind, seed, base):
    rng = np.random.default_rng(seed)
    p = random_weights(rng, 12)
    q = rng.uniform(0.1, 1.0, size=12)  # q > 0: finite KL
    expected = entropy(p, q, base=base)
    got = to_numpy(dv.kl(convert(p, kind), convert(q, kind), base=base))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(5))
def test_kl_matches_rel_entr_sum(kind, seed):
    rng = np.random.default_rng(seed)
    p = random_weights(rng, 20)
    q = random_weights(rng, 20)
    p_n, q_n = p / p.sum(), q / q.sum()
    expected = rel_entr(p_n, q_n).sum()
    np.testing.assert_allclose(
        to_numpy(dv.kl(convert(p, kind), convert(q, kind))), expected, rtol=1e-12
    )


@pytest.mark.parametrize("base", [None, 2, 10])
@pytest.mark.parametrize("seed", range(5))
def test_js_matches_scipy_jensenshannon_squared(kind, seed, base):
    rng = np.random.default_rng(seed)
    p = random_weights(rng, 15)
    q = random_weights(rng, 15)
    expected = jensenshannon(p, q, base=base) ** 2
    got = to_numpy(dv.js(convert(p, kind), convert(q, kind), base=base))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    got_distance = to_numpy(dv.js_distance(convert(p, kind), convert(q, kind), base=base))
    np.testing.assert_allclose(got_distance, jensenshannon(p, q, base=base), rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
@pytest.mark.parametrize("keepdims", [False, True])
def test_batched_axes_match_scipy(kind, axis, keepdims):
    rng = np.random.default_rng(7)
    p = random_weights(rng, (4, 5, 6), zero_fraction=0.2)
    q = rng.uniform(0.1, 1.0, size=(4, 5, 6))
    got_kl = to_numpy(dv.kl(convert(p, kind), convert(q, kind), axis=axis, keepdims=keepdims))
    np.testing.assert_allclose(
        got_kl, entropy(p, q, axis=axis, keepdims=keepdims), rtol=1e-12, atol=1e-14
    )
    got_js = to_numpy(dv.js(convert(p, kind), convert(q, kind), axis=axis, keepdims=keepdims))
    expected_js = jensenshannon(p, q, axis=axis, keepdims=keepdims) ** 2
    np.testing.assert_allclose(got_js, expected_js, rtol=1e-12, atol=1e-15)


def test_axis_none_flattens(kind):
    rng = np.random.default_rng(3)
    p, q = rng.uniform(0.1, 1, (3, 4)), rng.uniform(0.1, 1, (3, 4))
    got = to_numpy(dv.kl(convert(p, kind), convert(q, kind), axis=None))
    np.testing.assert_allclose(got, entropy(p.ravel(), q.ravel()), rtol=1e-12)
    kept = dv.js(convert(p, kind), convert(q, kind), axis=None, keepdims=True)
    assert tuple(kept.shape) == (1, 1)
    np.testing.assert_allclose(
        to_numpy(kept).item(), jensenshannon(p.ravel(), q.ravel()) ** 2, rtol=1e-12
    )


def test_broadcasting_one_q_against_a_batch_of_p(kind):
    rng = np.random.default_rng(4)
    p = rng.uniform(0.1, 1, (6, 3))
    q = rng.uniform(0.1, 1, (1, 3))
    got = to_numpy(dv.kl(convert(p, kind), convert(q, kind), axis=1))
    expected = [entropy(row, q[0]) for row in p]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("base", [None, 2, math.e, 10, 0.5])
def test_js_is_exactly_log2_on_disjoint_supports(kind, base):
    rng = np.random.default_rng(0)
    for _ in range(20):
        weights = rng.uniform(size=50)
        mask = rng.uniform(size=50) < 0.5
        p, q = np.where(mask, weights, 0.0), np.where(mask, 0.0, weights)
        if p.sum() == 0 or q.sum() == 0:
            continue
        log_base = 1.0 if base is None else math.log(base)
        assert to_numpy(dv.js(convert(p, kind), convert(q, kind), base=base)) == LOG2 / log_base
    assert dv.js([1, 0], [0, 1], base=2) == 1.0


def test_kl_is_infinite_where_q_vanishes_and_p_does_not():
    assert dv.kl([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert dv.kl([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2.0), rel=1e-15)
    batch = dv.kl(np.array([[0.5, 1.0], [0.5, 0.0]]), np.array([[1.0, 0.5], [0.0, 0.5]]))
    assert batch[0] == math.inf
    np.testing.assert_allclose(batch[1], math.log(2.0), rtol=1e-15)


def test_output_types_follow_the_input():
    assert type(dv.kl([0.5, 0.5], [0.4, 0.6])) is float
    assert type(dv.js(np.array([0.5, 0.5]), np.array([0.4, 0.6]))) is float
    batch = dv.js(np.ones((2, 3)), np.ones((2, 3)), axis=1)
    assert isinstance(batch, np.ndarray)
    assert batch.shape == (2,)
    for dtype in (torch.float32, torch.float64):
        p = torch.tensor([0.5, 0.5], dtype=dtype)
        for function in (dv.kl, dv.js, dv.js_distance):
            out = function(p, torch.tensor([0.4, 0.6], dtype=dtype))
            assert isinstance(out, torch.Tensor)
            assert out.dtype == dtype
            assert out.device == p.device


def test_mixed_torch_and_numpy_gives_torch_in_the_tensors_dtype():
    p = torch.tensor([0.5, 0.5], dtype=torch.float32)
    out = dv.kl(p, np.array([0.4, 0.6]))
    assert isinstance(out, torch.Tensor)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.item(), entropy([0.5, 0.5], [0.4, 0.6]), rtol=1e-6)
    integer_tensor = torch.tensor([1, 1])
    assert dv.js(integer_tensor, [1, 3]).dtype == torch.get_default_dtype()


@pytest.mark.parametrize("function", [dv.kl, dv.js])
def test_gradcheck_on_positive_inputs(function):
    generator = torch.Generator().manual_seed(0)
    p = torch.rand(6, dtype=torch.float64, generator=generator) + 0.1
    q = torch.rand(6, dtype=torch.float64, generator=generator) + 0.1
    p.requires_grad_(True)
    q.requires_grad_(True)
    assert torch.autograd.gradcheck(function, (p, q))
    batch_p = (torch.rand(3, 4, dtype=torch.float64, generator=generator) + 0.1).requires_grad_()
    batch_q = (torch.rand(3, 4, dtype=torch.float64, generator=generator) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b: function(a, b, axis=1, base=2), (batch_p, batch_q)
    )


def test_gradcheck_js_distance_away_from_equality():
    p = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(dv.js_distance, (p, q))


@pytest.mark.parametrize(
    ("p", "q"),
    [
        ([0.0, 0.5, 0.5], [0.3, 0.3, 0.4]),  # zero in p: 0 log 0
        ([0.3, 0.3, 0.4], [0.0, 0.5, 0.5]),  # zero in q (JS only is finite)
        ([1.0, 0.0], [0.0, 1.0]),  # disjoint
        ([0.2, 0.8], [0.2, 0.8]),  # identical: JS distance at its kink
    ],
)
def test_gradients_are_finite_wherever_the_value_is(p, q):
    for function in (dv.kl, dv.js, dv.js_distance):
        p_t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
        q_t = torch.tensor(q, dtype=torch.float64, requires_grad=True)
        value = function(p_t, q_t)
        if not torch.isfinite(value):
            continue
        value.backward()
        assert torch.isfinite(p_t.grad).all(), (function.__name__, p, q)
        assert torch.isfinite(q_t.grad).all(), (function.__name__, p, q)


def test_kl_gradient_matches_the_analytic_formula():
    # d/dp_i KL(p || q) for normalised p on the simplex interior, projected:
    # with p = w / sum(w), dKL/dw_i = (log(p_i / q_i) - KL) / sum(w).
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    value = dv.kl(w, q)
    value.backward()
    p = w.detach() / w.detach().sum()
    expected = (torch.log(p / q) - value.detach()) / w.detach().sum()
    np.testing.assert_allclose(w.grad.numpy(), expected.numpy(), rtol=1e-12)


BAD_INPUTS = [
    (([-0.1, 1.1], [0.5, 0.5]), {}, ValueError, "p must be non-negative"),
    (([0.5, 0.5], [-0.1, 1.1]), {}, ValueError, "q must be non-negative"),
    (([np.nan, 1.0], [0.5, 0.5]), {}, ValueError, "p must contain only finite"),
    (([0.5, 0.5], [np.inf, 1.0]), {}, ValueError, "q must contain only finite"),
    (([0.0, 0.0], [0.5, 0.5]), {}, ValueError, "p must have positive total mass"),
    (([0.5, 0.5], [0.0, 0.0]), {}, ValueError, "q must have positive total mass"),
    (([0.5, 0.5], [0.2, 0.3, 0.5]), {}, ValueError, "must have shapes that broadcast"),
    (([], []), {}, ValueError, "p must not be empty"),
    ((0.5, 0.5), {}, ValueError, "p must be an array of probabilities, not a scalar"),
    (([0.5, 0.5], [0.5, 0.5]), {"base": 0}, ValueError, "base must be a positive"),
    (([0.5, 0.5], [0.5, 0.5]), {"base": -2}, ValueError, "base must be a positive"),
    (([0.5, 0.5], [0.5, 0.5]), {"base": 1}, ValueError, "base must be a positive"),
    (([0.5, 0.5], [0.5, 0.5]), {"base": math.inf}, ValueError, "base must be a positive"),
    (([0.5, 0.5], [0.5, 0.5]), {"base": "2"}, TypeError, "base must be"),
    (([0.5, 0.5], [0.5, 0.5]), {"axis": 1}, ValueError, "axis must be in"),
    (([0.5, 0.5], [0.5, 0.5]), {"axis": 0.5}, TypeError, "axis must be an integer"),
    (("ab", [0.5, 0.5]), {}, TypeError, "p must be"),
    (([0.5, 0.5], None), {}, TypeError, "q must be"),
    (([0.5, 0.5], {"a": 1}), {}, TypeError, "q must be"),
    (([True, False], [0.5, 0.5]), {}, TypeError, "p must hold real numbers"),
    (([1j, 1.0], [0.5, 0.5]), {}, TypeError, "p must hold real numbers"),
    (([[0.5, 0.5], [1.0]], [0.5, 0.5]), {}, ValueError, "p must be a rectangular array"),
]


@pytest.mark.parametrize("function", [dv.kl, dv.js, dv.js_distance])
@pytest.mark.parametrize(("args", "options", "error", "message"), BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(function, args, options, error, message):
    with pytest.raises(error, match=message):
        function(*args, **options)


@pytest.mark.parametrize("function", [dv.kl, dv.js])
def test_bad_tensor_inputs_raise_the_same_errors(function):
    good = torch.tensor([0.5, 0.5])
    with pytest.raises(ValueError, match="p must be non-negative"):
        function(torch.tensor([-0.5, 1.5]), good)
    with pytest.raises(ValueError, match="q must contain only finite"):
        function(good, torch.tensor([float("nan"), 1.0]))
    with pytest.raises(ValueError, match="p must not be empty"):
        function(torch.zeros(0), torch.zeros(0))
    with pytest.raises(TypeError, match="p must hold real numbers; got a boolean tensor"):
        function(torch.tensor([True, False]), good)
    with pytest.raises(TypeError, match="q must hold real numbers"):
        function(good, torch.tensor([1j, 1.0]))


# Issue 13: overflowing totals, subnormals, bases below 1, masks, options, devices.
def test_totals_beyond_the_float_range_are_normalised():
    # [1e308, 1e308] is the uniform distribution: its sum overflows, its shares do not.
    assert dv.js([1e308, 1e308], [1, 1]) == 0.0
    np.testing.assert_allclose(
        dv.kl([1e308, 1e308], [0.9, 0.1]), entropy([0.5, 0.5], [0.9, 0.1]), rtol=1e-15
    )
    batch = dv.kl(np.array([[1e308, 1.0], [1e308, 1.0]]), np.array([[1.0, 1.0], [1.0, 3.0]]))
    np.testing.assert_allclose(batch, entropy([[1.0, 1.0], [1.0, 1.0]], [[1, 1], [1, 3]]), 1e-15)
    half = torch.tensor([6e4, 6e4], dtype=torch.float16)  # the float16 sum overflows
    assert dv.js(half, torch.ones(2, dtype=torch.float16)).item() == 0.0
    assert dv.js(half, torch.ones(2, dtype=torch.float16)).dtype == torch.float16
    # gradients of the rescaled path are those of the plain one
    scaled = torch.tensor([1e308, 3e307], dtype=torch.float64, requires_grad=True)
    plain = torch.tensor([1.0, 0.3], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.2, 0.8], dtype=torch.float64)
    dv.kl(scaled, q).backward()
    dv.kl(plain, q).backward()
    np.testing.assert_allclose(scaled.grad.numpy() * 1e308, plain.grad.numpy(), rtol=1e-12)


def test_subnormal_weights_are_positive_numbers():
    # SciPy: entropy([.5, .5], [5e-324, 1]) = 371.5 (the quotient 0.5 / 5e-324 overflows).
    for q in ([5e-324, 1.0], [1e-320, 1.0]):
        np.testing.assert_allclose(dv.kl([0.5, 0.5], q), entropy([0.5, 0.5], q), rtol=1e-12)
        np.testing.assert_allclose(
            dv.js([0.5, 0.5], q), jensenshannon([0.5, 0.5], q) ** 2, rtol=1e-12
        )
    # float32: 1e-39 is subnormal there; the reference is SciPy on the same float32 values
    single = dv.kl(torch.tensor([0.5, 0.5], dtype=torch.float32), torch.tensor([1e-39, 1.0]))
    expected = entropy([0.5, 0.5], np.array([1e-39, 1.0], dtype=np.float32).astype(float))
    np.testing.assert_allclose(single.item(), expected, rtol=1e-6)
    # The smallest subnormal halves to 0 in m = (p + q) / 2, where SciPy's jensenshannon
    # then returns inf; the divergence is p_1 log(2) / 2, by mpmath, 0 in float64.
    import mpmath

    exact = mpmath.mpf(5e-324) / (1 + mpmath.mpf(5e-324)) * mpmath.log(2) / 2
    assert float(exact) == 0.0
    assert np.isinf(jensenshannon([5e-324, 1.0], [0.0, 1.0]))
    assert dv.js([5e-324, 1.0], [0.0, 1.0]) == float(exact)


def test_a_base_below_one_follows_scipy_and_the_distance_refuses_it():
    # kl and js keep SciPy's convention (nats / log(base): negative below 1) ...
    np.testing.assert_allclose(
        dv.kl([0.5, 0.5], [0.9, 0.1], base=0.5), entropy([0.5, 0.5], [0.9, 0.1], base=0.5)
    )
    assert dv.js([1, 0], [0, 1], base=0.5) == -1.0
    # ... the JS distance has no real value there (SciPy returns NaN): an error.
    with pytest.raises(ValueError, match="base must be greater than 1 for a distance"):
        dv.js_distance([1, 0], [0, 1], base=0.5)


def test_masked_entries_are_left_out_of_both_inputs():
    # SciPy's entropy leaves the masked outcome out of both p and q: 0.0 here.
    p = np.ma.array([0.5, 0.5, 9.0], mask=[0, 0, 1])
    q = [0.5, 0.5, 1.0]
    assert entropy(p, q) == 0.0
    assert dv.kl(p, q) == 0.0
    assert dv.kl(q, p) == entropy(q, p)
    # JS: the same rule (SciPy's jensenshannon reads masked data; compare on the rest)
    p2 = np.ma.array([0.2, 0.3, 0.5, 7.0], mask=[0, 0, 0, 1])
    q2 = np.ma.array([0.1, 0.6, 0.3, 0.0], mask=[1, 0, 0, 0])
    keep = [1, 2]
    expected = jensenshannon(np.asarray(p2)[keep], np.asarray(q2)[keep])
    np.testing.assert_allclose(dv.js_distance(p2, q2), expected, rtol=1e-12)
    # batched, along an axis, a masked NaN included
    batch = np.ma.array([[0.5, 0.5, np.nan], [0.2, 0.8, 0.1]], mask=[[0, 0, 1], [0, 0, 0]])
    expected_rows = [entropy([0.5, 0.5], [0.3, 0.7]), entropy([0.2, 0.8, 0.1], [0.3, 0.7, 1.0])]
    np.testing.assert_allclose(dv.kl(batch, [0.3, 0.7, 1.0], axis=1), expected_rows, rtol=1e-12)
    with pytest.raises(ValueError, match="p must have positive total mass"):
        dv.kl(np.ma.array([0.5, 0.5], mask=[1, 1]), [0.5, 0.5])


@pytest.mark.parametrize("function", [dv.kl, dv.js, dv.js_distance])
def test_keepdims_must_be_a_bool(function):
    with pytest.raises(TypeError, match="keepdims must be True or False; got 'no'"):
        function([0.5, 0.5], [0.9, 0.1], keepdims="no")
    assert np.shape(function([0.5, 0.5], [0.9, 0.1], keepdims=np.True_)) == (1,)


@pytest.mark.parametrize("function", [dv.kl, dv.js, dv.js_distance])
def test_meta_tensors_are_refused(function):
    with pytest.raises(ValueError, match="p is a tensor on the 'meta' device"):
        function(torch.ones(3, device="meta"), torch.ones(3, device="meta"))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype, device):
    rng = np.random.default_rng(2)
    p, q = rng.uniform(size=6), rng.uniform(size=6)
    pt = torch.tensor(p, dtype=dtype, device=device)
    qt = torch.tensor(q, dtype=dtype, device=device)
    exact_p, exact_q = pt.double().cpu().numpy(), qt.double().cpu().numpy()
    for function, reference in (
        (dv.kl, entropy(exact_p, exact_q)),
        (dv.js, jensenshannon(exact_p, exact_q) ** 2),
    ):
        value = function(pt, qt)
        assert value.dtype == dtype and value.device == pt.device
        np.testing.assert_allclose(value.item(), reference, rtol=float(torch.finfo(dtype).eps))
