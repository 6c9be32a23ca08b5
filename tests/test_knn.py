"""k-NN estimators of KL and JS against closed forms, a brute-force reference and bad inputs.

Statistical tolerances: each closed-form problem allows the default estimator's
|bias| + 4 standard deviations, both measured over 10 seeds other than the one
tested (tests/problems.py lists them), so a fixed seed fails only if the
estimator breaks. Other tolerances are justified where they are set.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import divergences as dv
from divergences import _backend, knn
from divergences.closed_form import gaussian_kl
from divergences.knn import _balls, _search
from tests.conftest import convert, to_numpy
from tests.problems import KNN_GAUSSIAN_PROBLEMS

LOG2 = math.log(2.0)


def brute_force_plain(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Wang-Kulkarni-Verdú from full distance matrices (no trees), for small n."""
    n, d = x.shape
    own = np.sort(cdist(x, x), axis=1)[:, k]  # column 0 is the point itself
    other = np.sort(cdist(x, y), axis=1)[:, k - 1]
    return d * float(np.mean(np.log(other / own))) + math.log(len(y) / (n - 1))


def gaussian(rng, mean, cov, n):
    return np.asarray(mean) + rng.standard_normal((n, len(mean))) @ np.linalg.cholesky(cov).T


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize(("n", "m", "d"), [(50, 50, 1), (80, 60, 2), (60, 90, 4)])
def test_plain_matches_brute_force(kind, n, m, d, k):
    rng = np.random.default_rng(n + m + d + k)
    x, y = rng.normal(size=(n, d)), rng.normal(0.5, 1.5, size=(m, d))
    got = dv.kl_knn(convert(x, kind), convert(y, kind), k=k, method="plain")
    np.testing.assert_allclose(to_numpy(got), brute_force_plain(x, y, k), rtol=1e-12)


@pytest.mark.parametrize(("mean_q", "cov_q", "tolerance"), KNN_GAUSSIAN_PROBLEMS)
def test_default_against_gaussian_closed_form(mean_q, cov_q, tolerance):
    d = len(mean_q)
    rng = np.random.default_rng(d)
    x = rng.standard_normal((10_000, d))
    y = gaussian(rng, mean_q, cov_q, 10_000)
    expected = gaussian_kl(np.zeros(d), np.eye(d), mean_q, cov_q)
    np.testing.assert_allclose(dv.kl_knn(x, y), expected, atol=tolerance)


def test_default_removes_the_plain_bias_on_a_concentrated_q():
    # Q narrower than P along one axis: the plain estimator is off by about -30%
    # at this size (benchmarks/knn.py), the default by a few percent.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((10_000, 3))
    y = rng.standard_normal((10_000, 3)) * [0.5, 1.0, 1.0]
    expected = gaussian_kl(np.zeros(3), np.eye(3), np.zeros(3), np.diag([0.25, 1.0, 1.0]))
    plain = dv.kl_knn(x, y, k=1, method="plain")
    assert plain < 0.8 * expected
    np.testing.assert_allclose(dv.kl_knn(x, y), expected, rtol=0.08)


@pytest.mark.parametrize("method", knn.METHODS)
def test_same_distribution_is_near_zero(method):
    # KL(P || P) = 0; the estimate's sd is about 0.02 at n = 5000 in d = 2.
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2))
    assert abs(dv.kl_knn(x, y, method=method)) < 0.06


def test_js_identical_far_apart_and_symmetric(kind):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3000, 2))
    same = dv.js_knn(convert(x, kind), convert(rng.normal(size=(3000, 2)), kind))
    assert 0.0 <= float(same) < 0.02
    far = dv.js_knn(convert(x, kind), convert(x + 50.0, kind))
    np.testing.assert_allclose(to_numpy(far), LOG2, atol=1e-3)
    assert float(dv.js_knn(x, x)) == 0.0  # identical samples: clipped at 0
    y = rng.normal(size=(3000, 2)) + np.array([1.0, 0.0])
    forward, backward = dv.js_knn(x, y), dv.js_knn(y, x)
    # Both directions average the same per-point terms: only neighbour ties differ.
    np.testing.assert_allclose(forward, backward, rtol=1e-12)
    assert 0.05 < forward < 0.15


def test_js_against_monte_carlo_and_unequal_sizes():
    # JS between N(0, 1) and N(1, 1), by quadrature on a fine grid: 0.1129.
    grid = np.linspace(-12, 13, 200_001)
    p = np.exp(-(grid**2) / 2) / math.sqrt(2 * math.pi)
    q = np.exp(-((grid - 1) ** 2) / 2) / math.sqrt(2 * math.pi)
    m = (p + q) / 2
    integrand = 0.5 * p * np.log(p / m) + 0.5 * q * np.log(q / m)
    expected = float(np.sum(integrand) * (grid[1] - grid[0]))
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=10_000), rng.normal(size=10_000) + 1.0
    np.testing.assert_allclose(dv.js_knn(x, y), expected, atol=0.01)
    np.testing.assert_allclose(dv.js_knn(x, y[:4000]), expected, atol=0.015)
    np.testing.assert_allclose(dv.js_knn(x, y, base=2), dv.js_knn(x, y) / LOG2, rtol=1e-12)


def test_torch_keeps_dtype_and_matches_numpy():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(200, 3)) * 0.7
    for method in knn.METHODS:
        value = dv.kl_knn(torch.tensor(x, dtype=torch.float32), torch.tensor(y), method=method)
        assert value.dtype == torch.float64 and value.ndim == 0
        value32 = dv.kl_knn(
            torch.tensor(x, dtype=torch.float32),
            torch.tensor(y, dtype=torch.float32),
            method=method,
        )
        assert value32.dtype == torch.float32
        np.testing.assert_allclose(float(value32), dv.kl_knn(x, y, method=method), rtol=1e-4)
    assert isinstance(dv.kl_knn(x, y), float)


@pytest.mark.parametrize("method", knn.METHODS)
def test_gradcheck_with_neighbours_fixed(method):
    # The neighbour indices only change at ties; gradcheck's 1e-6 steps cross none.
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(40, 2)), requires_grad=True)
    y = torch.tensor(rng.normal(size=(30, 2)) * 0.6 + 0.3, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: dv.kl_knn(a, b, k=2, method=method), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: dv.js_knn(a, b, k=2), (x, y))


def test_gradient_of_a_translation():
    # KL(P || P + theta e1) = theta^2 / 2 for unit Gaussians: derivative theta. In
    # d = 3 at n = 10^4 the gradient through fixed neighbours scatters by about 0.03
    # over seeds at theta = 1 (in d = 1 it is noise: see the docstring); 0.15 is 5 sd.
    rng = np.random.default_rng(8)
    x = torch.tensor(rng.normal(size=(10_000, 3)))
    z = torch.tensor(rng.normal(size=(10_000, 3)))
    direction = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    for theta_value in (1.0, 2.0):
        theta = torch.tensor(theta_value, dtype=torch.float64, requires_grad=True)
        dv.kl_knn(x, z + theta * direction).backward()
        np.testing.assert_allclose(float(theta.grad), theta_value, atol=0.15)


@pytest.mark.filterwarnings("ignore:.*rows repeat an earlier one:UserWarning")
def test_repeated_points_rule():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(500, 2))
    y = rng.normal(size=(500, 2))
    repeated = np.concatenate([x, x[:100]])  # 100 points twice: rho = 0 without the rule
    for method in knn.METHODS:
        value = dv.kl_knn(repeated, np.concatenate([y, x[:5]]), method=method)
        assert math.isfinite(value)
    # Repeated points count once: repeating every sample changes nothing (the Gaussian
    # references are fitted to the distinct points, and leave out all copies of x_i).
    for method in knn.METHODS:
        np.testing.assert_allclose(
            dv.kl_knn(np.repeat(x, 2, axis=0), np.repeat(y, 3, axis=0), k=2, method=method),
            dv.kl_knn(x, y, k=2, method=method),
            rtol=1e-10,
        )
    np.testing.assert_allclose(
        dv.kl_knn(np.repeat(x, 2, axis=0), y, k=1, method="plain"),
        brute_force_plain(x, y, 1),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="x must hold at least k=3 distinct points"):
        dv.kl_knn(np.zeros((10, 2)), y, k=3)
    assert math.isfinite(dv.js_knn(repeated, y))


def test_rounded_samples_get_a_warning_that_the_estimate_misses_their_mass():
    """N(0, 1) against N(1, 1) rounded to 2 decimals, 5000 a side: about 90% of the rows
    repeat one, and the estimate falls from 0.51 to 0.07 (closed form 0.5): the
    repeated-points rule, which makes it finite, cannot see the atoms' masses."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5000, 1)), rng.normal(size=(5000, 1)) + 1.0
    np.testing.assert_allclose(dv.kl_knn(x, y), 0.5, atol=0.05)  # no warning: continuous
    with pytest.warns(UserWarning, match=r"x: \d+ of its 5000 rows repeat"):
        rounded = dv.kl_knn(np.round(x, 2), np.round(y, 2))
    assert rounded < 0.2
    with pytest.warns(UserWarning, match="rows repeat an earlier one"):
        dv.js_knn(np.round(x, 2), np.round(y, 2))


def test_disjoint_supports_give_finite_numbers_that_grow_with_the_gap():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2000, 2))
    for method in knn.METHODS:
        values = [
            dv.kl_knn(x, x + np.array([gap, 0.0]), method=method) for gap in (10.0, 20.0, 40.0)
        ]
        assert all(math.isfinite(v) for v in values)
        assert values[0] < values[1] < values[2]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x": np.ones((5, 2)) * np.nan}, ValueError, "x must contain only"),
        ({"y": np.empty((0, 2))}, ValueError, "y must hold at least one"),
        ({"y": np.ones((20, 3))}, ValueError, "same dimension"),
        ({"x": "abc"}, TypeError, "x must be"),
        ({"k": 0}, ValueError, "k must be at least 1"),
        ({"k": 2.5}, TypeError, "k must be an integer"),
        ({"k": 20}, ValueError, "must hold at least k \\+ 1 = 21"),
        ({"method": "ensemble"}, ValueError, "method must be one of 'reference', 'plain'"),
        ({"base": 1}, ValueError, "base must be"),
    ],
)
def test_bad_inputs(kwargs, error, match):
    rng = np.random.default_rng(0)
    arguments = {"x": rng.normal(size=(20, 2)), "y": rng.normal(size=(20, 2))}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        dv.kl_knn(**arguments)
    if "method" not in kwargs:
        with pytest.raises(error, match=match):
            dv.js_knn(**arguments)


def test_js_bad_seed_and_small_q():
    x = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="seed must be at least 0"):
        dv.js_knn(x, x[:10], seed=-1)
    with pytest.raises(ValueError, match="y must hold at least k \\+ 1 = 6"):
        dv.js_knn(x, x[:5])


def test_far_ball_asymptotic_joins_the_exact_probability():
    # Where SciPy's CDF is small but still used (above 1e-50), the Laplace asymptotic
    # that replaces it further out agrees to O(1/gap^2) in the log: 6e-2 at gap 12-14.
    offsets, radii = np.array([14.0, 16.0, 15.0]), np.array([2.0, 3.0, 1.5])
    exact, _, _ = _balls._log_gaussian_ball(offsets, radii, 3)
    gap = offsets - radii
    asymptotic = (
        -1.5 * math.log(2 * math.pi)
        - gap**2 / 2
        - np.log(gap)
        + np.log(2 * math.pi * radii / offsets)
    )
    assert np.all(exact > math.log(_balls._SMALL_BALL))
    np.testing.assert_allclose(exact, asymptotic, atol=6e-2)


def test_degenerate_samples_fall_back_to_the_plain_estimator():
    # Points on a line (the disjoint segments) have no Gaussian reference: the
    # default must give the plain estimate, not a value set by the ridge.
    rng = np.random.default_rng(0)
    p = np.column_stack([np.zeros(500), rng.uniform(size=500)])
    q = np.column_stack([np.full(500, 0.5), rng.uniform(size=500)])
    expected = dv.kl_knn(p, q, method="plain")
    np.testing.assert_allclose(dv.kl_knn(p, q), expected, rtol=1e-12)
    assert 0 < expected < 20


# Issue 13: paired samples, extreme scales, far-apart samples, dtypes.
def issue_samples():
    rng = np.random.default_rng(0)
    return rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) + np.array([1.0, 0.0])


@pytest.mark.parametrize("shift", [1e-3, 1e-9])
@pytest.mark.parametrize(
    "estimator",
    [dv.kl_knn, lambda a, b: dv.kl_knn(a, b, method="plain"), dv.js_knn],
    ids=["reference", "plain", "js"],
)
def test_paired_samples_are_refused_with_the_fix(shift, estimator):
    # kl_knn(x, x + 1e-3) was -0.244: Q's points are perturbations of P's own.
    x, _ = issue_samples()
    with pytest.raises(ValueError, match="y looks paired with x") as error:
        estimator(x, x + shift)
    assert "Draw y independently of x" in str(error.value)
    with pytest.raises(ValueError, match="looks paired"):
        estimator(x + shift, x)
    # identical samples are not paired: repeated points count once, and KL is 0
    assert dv.kl_knn(x, x) == 0.0


def test_independent_samples_are_not_mistaken_for_paired_ones():
    # Q much narrower than P, far more samples of Q, and the reverse: the refusal
    # bound (at most 1% of close points for independent samples) leaves them all alone.
    rng = np.random.default_rng(4)
    for d in (1, 2, 5):
        x = rng.normal(size=(300, d))
        for y in (0.01 * rng.normal(size=(300, d)), rng.normal(size=(3000, d))):
            for method in knn.METHODS:
                assert math.isfinite(dv.kl_knn(x, y, method=method))
                assert math.isfinite(dv.kl_knn(y, x, method=method))
            assert math.isfinite(dv.js_knn(x, y))


def test_kl_knn_is_never_below_zero():
    # Same distribution, seed 0: the plain estimate (brute force) is -0.046 by noise.
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    assert brute_force_plain(x, y, 5) < 0
    assert dv.kl_knn(x, y, method="plain") == 0.0
    assert dv.kl_knn(torch.tensor(x), torch.tensor(y), method="plain").item() == 0.0


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e-50, 3.7, 1e160, 1e300])
def test_scale_invariance_at_extreme_scales(scale):
    # 1e-300 gave NaN, 1e-160 0.103 instead of 0.122, 1e300 an IndexError.
    x, y = issue_samples()
    np.testing.assert_allclose(
        dv.kl_knn(scale * x, scale * y, method="plain"), brute_force_plain(x, y, 5), rtol=1e-12
    )
    np.testing.assert_allclose(dv.kl_knn(scale * x, scale * y), dv.kl_knn(x, y), rtol=1e-12)
    np.testing.assert_allclose(dv.js_knn(scale * x, scale * y), dv.js_knn(x, y), rtol=1e-12)


def test_far_apart_samples_cost_no_more_than_near_ones(monkeypatch):
    # SciPy's noncentral chi-square CDF sums ~sqrt(lambda) terms (0.06 s a call at
    # lambda = 1e12, and NaN): the estimator must never hand it a far-out ball.
    from scipy import special

    largest = []
    original = special.chndtr

    def recording(x, df, nc):
        largest.append(float(np.max(nc, initial=0.0)))
        return original(x, df, nc)

    monkeypatch.setattr(special, "chndtr", recording)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2))
    values = [dv.kl_knn(a, b + np.array([offset, 0.0])) for offset in (10.0, 1e3, 1e6, 1e8)]
    assert max(largest) <= _balls._CDF_OFFSET**2
    assert all(math.isfinite(v) for v in values)
    assert values == sorted(values)  # grows with the gap


@pytest.mark.parametrize("dim", [1, 3])
def test_ball_probability_far_out_against_mpmath(dim):
    # In d = 1 and d = 3 the standard normal probability of B(w, r) has a closed form:
    # Phi(r - a) - Phi(-r - a), minus (phi(r - a) - phi(r + a)) / a in d = 3. Evaluated
    # by mpmath at offsets where SciPy's CDF is NaN or far too slow.
    import mpmath

    mpmath.mp.dps = 40

    def log_ball(a, r):
        mass = mpmath.ncdf(r - a) - mpmath.ncdf(-r - a)
        if dim == 3:
            mass -= (mpmath.npdf(r - a) - mpmath.npdf(r + a)) / a
        return mpmath.log(mass)

    offsets = np.array([50.0, 1e3, 1e6, 1e8, 1e6])
    radii = offsets - np.array([2.0, -1.0, 5.0, 0.5, 30.0])
    value, d_offset, d_radius = _balls._log_gaussian_ball(offsets, radii, dim)
    for i, (a, r) in enumerate(zip(offsets, radii, strict=True)):
        a_mp, r_mp = mpmath.mpf(a), mpmath.mpf(r)
        np.testing.assert_allclose(value[i], float(log_ball(a_mp, r_mp)), rtol=1e-9, atol=1e-9)
        slope_a = float(mpmath.diff(lambda t, r_mp=r_mp: log_ball(t, r_mp), a_mp))
        slope_r = float(mpmath.diff(lambda t, a_mp=a_mp: log_ball(a_mp, t), r_mp))
        np.testing.assert_allclose(d_offset[i], slope_a, rtol=1e-7)
        np.testing.assert_allclose(d_radius[i], slope_r, rtol=1e-7)


def test_quadrature_agrees_with_scipys_cdf_where_that_is_accurate():
    from scipy import special

    for d in (2, 5, 30):
        offsets = np.repeat([0.5, 5.0, 20.0, 40.0], 5)
        radii = np.sqrt(2 * (d - 1) + _balls._QUADRATURE_MARGIN) + np.tile(
            [0.0, 5.0, 10.0, 30.0, 60.0], 4
        )
        reference = special.chndtr(radii**2, d, offsets**2)
        usable = reference > 1e-50
        value, _, _ = _balls._log_ball_by_quadrature(offsets[usable], radii[usable], d)
        np.testing.assert_allclose(value, np.log(reference[usable]), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_samples(dtype, device):
    # "cholesky_cpu not implemented for 'Half'" / bfloat16 TypeError before:
    # computed in float64 from the same numbers, returned in the caller's dtype.
    x, y = issue_samples()
    xt = torch.tensor(x, dtype=dtype, device=device)
    yt = torch.tensor(y, dtype=dtype, device=device)
    for method in knn.METHODS:
        value = dv.kl_knn(xt, yt, method=method)
        assert value.dtype == dtype and value.device == xt.device
        expected = dv.kl_knn(xt.double().cpu().numpy(), yt.double().cpu().numpy(), method=method)
        np.testing.assert_allclose(value.item(), expected, rtol=float(torch.finfo(dtype).eps))
    assert dv.js_knn(xt, yt).dtype == dtype


def test_base_below_one_follows_scipys_sign():
    # As kl and scipy.stats.entropy: nats divided by log(base), negative below 1.
    x, y = issue_samples()
    np.testing.assert_allclose(
        dv.kl_knn(x, y, base=0.5), dv.kl_knn(x, y) / math.log(0.5), rtol=1e-12
    )
    np.testing.assert_allclose(
        dv.js_knn(x, y, base=0.5), dv.js_knn(x, y) / math.log(0.5), rtol=1e-12
    )


def test_meta_and_masked_samples_are_refused():
    meta = torch.ones(10, 2, device="meta")
    with pytest.raises(ValueError, match="x is a tensor on the 'meta' device"):
        dv.kl_knn(meta, meta)
    masked = np.ma.array(np.zeros((10, 2)), mask=np.eye(10, 2))
    with pytest.raises(TypeError, match="y is a masked array"):
        dv.js_knn(np.ones((10, 2)), masked)


# Issue 15: samples beyond max_samples rows, read lazily.
def drawn_rows(seed, *sizes, limit):
    """The documented rule: one generator, x's rows first, then y's."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(size, limit, replace=False)) for size in sizes]


def memory_map(path, values):
    array = np.lib.format.open_memmap(path, mode="w+", dtype=values.dtype, shape=values.shape)
    array[:] = values
    array.flush()
    return np.load(path, mmap_mode="r")


def test_memory_maps_beyond_max_samples_give_the_subsample_estimate(tmp_path):
    rng = np.random.default_rng(0)
    p = memory_map(tmp_path / "p.npy", rng.normal(size=(3000, 3)).astype(np.float32))
    q = memory_map(tmp_path / "q.npy", (rng.normal(size=(2500, 3)) + 0.5).astype(np.float32))
    rows_p, rows_q = drawn_rows(7, 3000, 2500, limit=600)
    for method in knn.METHODS:
        np.testing.assert_allclose(
            dv.kl_knn(p, q, method=method, max_samples=600, seed=7),
            dv.kl_knn(p[rows_p], q[rows_q], method=method, max_samples=None),
            rtol=1e-12,
        )
    # Both sides cut to 600 rows: the pooled subset draws nothing more.
    np.testing.assert_allclose(
        dv.js_knn(p, q, max_samples=600, seed=7),
        dv.js_knn(np.asarray(p[rows_p]), np.asarray(q[rows_q]), max_samples=None),
        rtol=1e-12,
    )
    # Reproducible by the seed, and a different seed draws other rows.
    assert dv.kl_knn(p, q, max_samples=600, seed=7) == dv.kl_knn(p, q, max_samples=600, seed=7)
    assert dv.kl_knn(p, q, max_samples=600, seed=8) != dv.kl_knn(p, q, max_samples=600, seed=7)
    # Within the limit nothing is drawn: the default is the whole sample.
    np.testing.assert_allclose(dv.kl_knn(p, q), dv.kl_knn(p, q, max_samples=None), rtol=0)


def test_only_the_rows_drawn_are_read(tmp_path):
    import tracemalloc

    rng = np.random.default_rng(1)
    values = rng.normal(size=(400_000, 4)).astype(np.float32)
    rows_p, _ = drawn_rows(0, 400_000, 400_000, limit=300)
    outside = np.setdiff1d(np.arange(400_000), rows_p)[0]
    values[outside] = np.nan  # never read: no NaN error
    p = memory_map(tmp_path / "p.npy", values)
    q = memory_map(tmp_path / "q.npy", values[::-1] + np.float32(0.5))
    dv.kl_knn(p[rows_p], q[rows_p])  # imports and caches, outside the measurement
    tracemalloc.start()
    try:
        value = dv.kl_knn(p, q, max_samples=300, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert math.isfinite(value)
    # A NaN scan of the file alone would allocate 1.6 MB, a float64 copy 12.8 MB.
    assert peak < p.nbytes / 20
    values[rows_p[5]] = np.nan  # drawn: refused
    p = memory_map(tmp_path / "p2.npy", values)
    with pytest.raises(ValueError, match="x must contain only finite numbers"):
        dv.kl_knn(p, q, max_samples=300, seed=0)


def test_tensors_and_lists_are_subsampled_by_the_same_rule():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(900, 2)), rng.normal(size=(700, 2)) + 0.5
    rows_x, rows_y = drawn_rows(3, 900, 700, limit=400)
    expected = dv.kl_knn(x[rows_x], y[rows_y])
    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y)
    value = dv.kl_knn(xt, yt, max_samples=400, seed=3)
    np.testing.assert_allclose(value.item(), expected, rtol=1e-12)
    value.backward()
    reached = np.flatnonzero(np.abs(xt.grad.numpy()).sum(axis=1))
    assert set(reached.tolist()) <= set(rows_x.tolist())  # only rows drawn get gradients
    np.testing.assert_allclose(
        dv.kl_knn(x.tolist(), y.tolist(), max_samples=400, seed=3), expected, rtol=1e-12
    )


@pytest.mark.parametrize(
    ("max_samples", "error", "match"),
    [
        (0, ValueError, "max_samples must be at least 1; got 0"),
        (5, ValueError, "max_samples must be at least k \\+ 1 = 6 .* or None for no limit"),
        (2.5, TypeError, "max_samples must be an integer"),
        (True, TypeError, "max_samples must be an integer"),
    ],
)
def test_bad_max_samples(max_samples, error, match):
    x = np.random.default_rng(0).normal(size=(20, 2))
    for estimator in (dv.kl_knn, dv.js_knn):
        with pytest.raises(error, match=match):
            estimator(x, x + 1, max_samples=max_samples)
    with pytest.raises(ValueError, match="seed must be at least 0"):
        dv.kl_knn(x, x + 1, seed=-1)


def test_knn_is_a_package_of_one_concern_per_module():
    # Issue 26: the public names re-exported with __all__, unchanged; each private
    # module saying in its first line what it does.
    assert sorted(knn.__all__) == ["METHODS", "SEARCHES", "js_knn", "kl_knn"]
    for name in knn.__all__:
        assert getattr(dv, name, getattr(knn, name)) is getattr(knn, name), name
    modules = {info.name for info in pkgutil.iter_modules(knn.__path__)}
    assert modules == {"_balls", "_estimators", "_pairing", "_samples", "_search"}
    for name in modules:
        module = importlib.import_module(f"divergences.knn.{name}")
        first_line = (module.__doc__ or "").strip().splitlines()[0]
        assert first_line.endswith("."), name
    assert dv.kl_knn.__module__ == dv.js_knn.__module__ == "divergences.knn._estimators"
    assert knn.SEARCHES is _search.SEARCHES
    assert knn.SEARCHES == ("auto", "tree", "blocked")
    assert knn.METHODS == ("reference", "plain")


def test_knn_uses_the_package_array_layer():
    # One numpy/torch layer for the whole package: no k-NN module switches on the
    # array's kind itself; the search takes _backend's functions.
    for info in pkgutil.iter_modules(knn.__path__):
        source = inspect.getsource(importlib.import_module(f"divergences.knn.{info.name}"))
        assert not re.search(r"isinstance\([^)]*np\.ndarray", source), info.name
    for name in ("array_module", "take_along_rows", "stable_argsort", "smallest_in_rows"):
        assert getattr(_search, name) is getattr(_backend, name), name


def test_backend_array_functions_agree_with_numpy(kind):
    rng = np.random.default_rng(5)
    values = rng.integers(0, 5, size=(6, 40)).astype(float)  # ties, for the stable sort
    columns = rng.integers(0, 40, size=(6, 7))
    array = convert(values, kind)
    assert _backend.array_module(array) is (torch if kind == "torch" else np)
    index = torch.from_numpy(columns) if kind == "torch" else columns
    np.testing.assert_array_equal(
        to_numpy(_backend.take_along_rows(array, index)),
        np.take_along_axis(values, columns, axis=1),
    )
    np.testing.assert_array_equal(
        to_numpy(_backend.stable_argsort(array)), np.argsort(values, axis=-1, kind="stable")
    )
    chosen = np.sort(to_numpy(_backend.smallest_in_rows(array, 9)), axis=1)
    selected = np.take_along_axis(values, chosen, axis=1)
    assert selected.shape == (6, 9) and all(len(set(row)) == 9 for row in chosen)
    # Every entry left out is at least the largest one chosen.
    assert np.all(np.sort(values, axis=1)[:, 8] == selected.max(axis=1))
    rows, cols = _backend.nonzero_indices(array > 2)
    expected_rows, expected_cols = np.nonzero(values > 2)
    np.testing.assert_array_equal(to_numpy(rows), expected_rows)
    np.testing.assert_array_equal(to_numpy(cols), expected_cols)
    single = _backend.astype(array, "float32")
    assert str(single.dtype).endswith("float32") and type(single) is type(array)
    empty = _backend.empty_like(single, (3, 2))
    assert tuple(empty.shape) == (3, 2) and empty.dtype == single.dtype
    assert type(empty) is type(array)
    np.testing.assert_array_equal(to_numpy(_backend.arange_like(array, 4)), np.arange(4))


def test_the_reference_of_p_leaves_each_point_out_in_high_dimension():
    """P = Q = N(0, I_50), 1000 a side: KL = 0. The fit to all of P sits closer to each
    x_i than to a fresh point, by d (d + 3) / (2 n) = 1.3 nats in the log density,
    which the wide balls of the own term did not cancel: the estimate was 1.36."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(1000, 50)), rng.normal(size=(1000, 50))
    assert dv.kl_knn(x, y) < 0.15
    # a Gaussian pair of different covariances keeps its accuracy (closed form)
    cov = np.diag(np.linspace(0.3, 2.0, 10))
    x, y = rng.normal(size=(4000, 10)), rng.multivariate_normal(np.full(10, 0.3), cov, 4000)
    truth = gaussian_kl(np.zeros(10), np.eye(10), np.full(10, 0.3), cov)
    np.testing.assert_allclose(dv.kl_knn(x, y), truth, rtol=0.08)


def test_a_sample_whose_quadratic_sum_one_point_dominates_runs_the_plain_estimator():
    """Two Cauchy samples (KL = 0): one outlier far from Q gave the middle term about
    x^2 / (2 s_Q^2 n) that its wide ball to Q could not cancel: 238 nats."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_cauchy((2000, 1)), rng.standard_cauchy((2000, 1))
    value = dv.kl_knn(x, y)
    assert value < 0.1
    assert value == dv.kl_knn(x, y, method="plain")


def test_the_reference_does_not_depend_on_each_coordinates_units():
    """KL does not change when one coordinate is rescaled; the ridge was relative to the
    mean variance (0.33 against variances of 1 at a factor 1e3) and the degeneracy test
    to the largest eigenvalue: 0.914, 0.621, 0.103 at 1, 1e3, 1e5 (closed form 0.932)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 3))
    y = rng.normal(size=(5000, 3)) * [1.0, 1.0, 0.5] + [0.0, 0.5, 0.0]
    truth = gaussian_kl(np.zeros(3), np.eye(3), np.array([0.0, 0.5, 0.0]), np.diag([1, 1, 0.25]))
    values = [dv.kl_knn(x * [s, 1, 1], y * [s, 1, 1]) for s in (1.0, 1e3, 1e5)]
    np.testing.assert_allclose(values, values[0], rtol=1e-6)
    np.testing.assert_allclose(values[0], truth, atol=0.05)
