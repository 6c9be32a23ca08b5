"""The Fréchet distance against pytorch-fid's formula (``scipy.linalg.sqrtm``), closed forms
and singular values; the KID against a brute-force copy of torchmetrics' formula."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

import divergences as dv
from divergences.evaluation import KernelInceptionResult
from tests.conftest import convert, to_numpy


def reference_sqrtm(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """pytorch-fid's formula and the square root it takes: ``sqrtm(S_x S_y)``, real part."""
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    gap = x.mean(axis=0) - y.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sqrtm warns on singular products: that is the point
        root = sqrtm(sx @ sy)
    return float(gap @ gap + np.trace(sx) + np.trace(sy) - 2 * np.trace(root).real), root


def reference_svd(x: np.ndarray, y: np.ndarray) -> float:
    """The same distance through singular values: ``tr (S_x^½ S_y S_x^½)^½`` is the nuclear
    norm of ``A B^T`` for the centred, ``1/sqrt(n - 1)``-scaled samples ``A`` and ``B``
    (its squared singular values are the eigenvalues of ``S_x S_y``). The SVD resolves
    zero singular values to ``1e-16`` of the largest, so it needs no threshold."""
    a = (x - x.mean(axis=0)) / np.sqrt(len(x) - 1)
    b = (y - y.mean(axis=0)) / np.sqrt(len(y) - 1)
    gap = x.mean(axis=0) - y.mean(axis=0)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(gap @ gap + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def with_moments(rng: np.random.Generator, n: int, mean: np.ndarray, variances: np.ndarray):
    """``n`` samples whose sample mean and covariance (``ddof=1``) are exactly ``mean`` and
    ``diag(variances)`` up to rounding: whitened normal draws, rescaled."""
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.atleast_2d(np.cov(z, rowvar=False)))).T
    return z * np.sqrt(variances) + mean


def complex_root(root: np.ndarray) -> bool:
    """Whether ``sqrtm`` failed the way the issue reports: a complex result with a visible
    imaginary part, or NaN."""
    if not np.all(np.isfinite(root)):
        return True
    return bool(np.iscomplexobj(root) and np.abs(root.imag).max() > 1e-10)


@pytest.mark.parametrize("n", [500, 2000, 10000])
def test_frechet_equals_pytorch_fid_formula_in_64_dimensions(n: int, kind: str) -> None:
    rng = np.random.default_rng(n)
    mixing = rng.normal(size=(64, 64)) / 8
    x = rng.normal(size=(n, 64)) @ mixing
    y = rng.standard_t(5, size=(n // 2 + 3, 64)) @ mixing * 1.3 + 0.2
    value = dv.frechet_distance(convert(x, kind), convert(y, kind))
    np.testing.assert_allclose(to_numpy(value), reference_sqrtm(x, y)[0], rtol=1e-9)


@pytest.mark.skipif(
    not os.environ.get("DIVERGENCES_SLOW_TESTS"),
    reason="the reference, sqrtm of a 2048 x 2048 matrix, is slow on a small CPU: set "
    "DIVERGENCES_SLOW_TESTS=1 (benchmarks/frechet.py checks d = 2048 too)",
)
def test_frechet_equals_pytorch_fid_formula_at_inception_size() -> None:
    rng = np.random.default_rng(2048)
    x = np.abs(rng.normal(size=(3000, 2048)))  # pool features are post-ReLU: non-negative
    y = np.abs(rng.normal(size=(3000, 2048))) * 1.1
    np.testing.assert_allclose(dv.frechet_distance(x, y), reference_sqrtm(x, y)[0], rtol=1e-9)


def test_frechet_uses_the_smaller_space_for_the_same_value() -> None:
    # d = 40 against n = 30 and m = 50 solves a 30 x 30 problem; d = 20 the 20 x 20 one
    rng = np.random.default_rng(11)
    for d in (20, 40, 60):
        x, y = rng.normal(size=(30, d)), rng.normal(size=(50, d)) * 2
        np.testing.assert_allclose(dv.frechet_distance(x, y), reference_svd(x, y), rtol=1e-10)
        np.testing.assert_allclose(dv.frechet_distance(y, x), reference_svd(x, y), rtol=1e-10)


@pytest.mark.parametrize("d", [1, 3, 16])
def test_frechet_of_two_gaussians_is_their_w2_squared(d: int, kind: str) -> None:
    rng = np.random.default_rng(d)
    mean_x, mean_y = rng.normal(size=d), rng.normal(size=d)
    var_x, var_y = rng.uniform(0.5, 3, size=d), rng.uniform(0.1, 2, size=d)
    x = with_moments(rng, 200, mean_x, var_x)
    y = with_moments(rng, 150, mean_y, var_y)
    closed = np.sum((mean_x - mean_y) ** 2) + np.sum((np.sqrt(var_x) - np.sqrt(var_y)) ** 2)
    value = dv.frechet_distance(convert(x, kind), convert(y, kind))
    np.testing.assert_allclose(to_numpy(value), closed, rtol=1e-10)


def test_frechet_equals_gaussian_w2_of_the_sample_moments() -> None:
    from divergences.closed_form import gaussian_w2

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)), rng.gamma(2.0, size=(250, 6))
    moments = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    np.testing.assert_allclose(dv.frechet_distance(x, y), gaussian_w2(*moments) ** 2, rtol=1e-10)


def singular_cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(2026)
    cases = {
        # fewer samples than features: both covariances have rank n - 1 < d
        "n < d": (rng.normal(size=(40, 64)), rng.normal(size=(55, 64)) * 1.5 + 0.1),
        "n << d": (np.abs(rng.normal(size=(300, 512))), np.abs(rng.normal(size=(200, 512)))),
    }
    # many samples, but features on a 12-dimensional subspace, and dead (constant) units
    low_rank = rng.normal(size=(12, 64))
    cases["rank 12 of 64"] = (
        rng.normal(size=(2000, 12)) @ low_rank,
        np.hstack([rng.normal(size=(1500, 48)), np.zeros((1500, 16))]),
    )
    return cases


@pytest.mark.parametrize("case", list(singular_cases()))
def test_frechet_is_finite_stable_and_right_where_sqrtm_goes_complex(case: str) -> None:
    x, y = singular_cases()[case]
    _, root = reference_sqrtm(x, y)
    assert complex_root(root), "the case should defeat sqrtm"
    value = dv.frechet_distance(x, y)
    assert np.isfinite(value) and value >= 0
    np.testing.assert_allclose(value, reference_svd(x, y), rtol=1e-9)
    rng = np.random.default_rng(0)
    permuted = dv.frechet_distance(x[rng.permutation(len(x))], y[rng.permutation(len(y))])
    np.testing.assert_allclose(permuted, value, rtol=1e-6)
    # float32 features: the float64 value of the float32 numbers, near that of the float64 ones
    single = dv.frechet_distance(x.astype(np.float32), y.astype(np.float32))
    np.testing.assert_allclose(single, value, rtol=1e-6)
    on_tensors = dv.frechet_distance(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    assert on_tensors.dtype == torch.float32
    np.testing.assert_allclose(on_tensors.item(), value, rtol=1e-6)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_frechet_resolves_a_narrow_feature_beside_a_wide_one(kind: str) -> None:
    """One feature of spread 1e4 beside four of spread 1, and the second set a copy
    moved by 0.1 along one of them: equal covariances, so FD = 0.1^2 (closed form).
    Taking eigenvalues of S_x^1/2 S_y S_x^1/2 squared the condition number and
    dropped the four narrow directions: 7.83."""
    a = np.random.default_rng(0).normal(size=(200, 5))
    a[:, 0] *= 1e4
    b = a.copy()
    b[:, 1] += 0.1
    value = dv.frechet_distance(convert(a, kind), convert(b, kind))
    np.testing.assert_allclose(float(value), 0.01, rtol=1e-4)


def test_frechet_on_a_spectrum_over_ten_decades_against_60_digit_arithmetic() -> None:
    """Covariance eigenvalues from 1e2 to 1e-8 in a random basis; the reference is the
    sqrtm formula's algebra in mpmath at 60 digits: the trace term as the sum of the
    square roots of the eigenvalues of S_x S_y (real and positive in exact arithmetic)."""
    mp = pytest.importorskip("mpmath")
    rng = np.random.default_rng(0)
    d, n = 12, 150
    spectrum = np.logspace(2, -8, d)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    x = rng.normal(size=(n, d)) * np.sqrt(spectrum) @ basis.T
    y = (rng.normal(size=(n, d)) * np.sqrt(spectrum) * 1.01) @ basis.T + 1e-3
    with mp.workdps(60):
        ones = mp.matrix([[1] * n])
        means, covariances = [], []
        for z in (x, y):
            rows = mp.matrix(z.tolist())
            mean = ones * rows / n
            centred = rows - ones.T * mean
            means.append(mean)
            covariances.append(centred.T * centred / (n - 1))
        gap = means[0] - means[1]
        eigenvalues, _ = mp.eig(covariances[0] * covariances[1])
        roots = mp.fsum(mp.sqrt(mp.re(value)) for value in eigenvalues)
        traces = mp.fsum(covariances[0][i, i] + covariances[1][i, i] for i in range(d))
        reference = float((gap * gap.T)[0, 0] + traces - 2 * roots)
    np.testing.assert_allclose(dv.frechet_distance(x, y), reference, rtol=1e-10)


def test_frechet_of_a_set_with_itself_is_zero_not_negative(kind: str) -> None:
    rng = np.random.default_rng(8)
    for x in (rng.normal(size=(500, 8)), rng.normal(size=(20, 100)), np.ones((5, 3))):
        value = to_numpy(dv.frechet_distance(convert(x, kind), convert(x[::-1], kind)))
        assert 0 <= value <= 1e-10 * np.trace(np.cov(x, rowvar=False)) + 1e-300


@pytest.mark.parametrize("scale", [2.0**-600, 1e-100, 1e-55, 1e55, 1e100, 2.0**500])
def test_frechet_is_homogeneous_of_degree_two(scale: float) -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(100, 5)), rng.normal(size=(80, 5)) + 1
    expected = dv.frechet_distance(x, y) * scale**2
    np.testing.assert_allclose(dv.frechet_distance(x * scale, y * scale), expected, rtol=1e-12)


def test_frechet_beyond_float64_is_refused() -> None:
    x = np.array([[0.0], [1e200]])
    with pytest.raises(ValueError, match="float64 range"):
        dv.frechet_distance(x, -x)


def test_frechet_keeps_the_tensor_kind_and_has_gradients(device: str) -> None:
    rng = np.random.default_rng(9)
    x = torch.tensor(rng.normal(size=(20, 3)), device=device, requires_grad=True)
    y = torch.tensor(rng.normal(size=(15, 3)) * 2, device=device, requires_grad=True)
    value = dv.frechet_distance(x, y)
    assert value.shape == () and value.dtype == torch.float64 and value.device.type == device
    single = dv.frechet_distance(x.detach().float(), y.detach().float())
    assert single.dtype == torch.float32
    assert torch.autograd.gradcheck(dv.frechet_distance, (x, y))
    # n < d goes through the Gram matrix and eigvalsh alone
    wide_x = torch.tensor(rng.normal(size=(6, 9)), device=device, requires_grad=True)
    wide_y = torch.tensor(rng.normal(size=(8, 9)), device=device, requires_grad=True)
    assert torch.autograd.gradcheck(dv.frechet_distance, (wide_x, wide_y))
    # dead units (constant features): S_x is singular, the gradient is still finite
    dead = np.hstack([rng.normal(size=(200, 6)), np.zeros((200, 3))])
    dead_x = torch.tensor(dead, device=device, requires_grad=True)
    other = torch.tensor(rng.normal(size=(150, 9)), device=device, requires_grad=True)
    dv.frechet_distance(dead_x, other).backward()
    assert torch.isfinite(dead_x.grad).all() and torch.isfinite(other.grad).all()
    # the first derivative is computed outside autograd: a second one is an error, not 0
    (gradient,) = torch.autograd.grad(dv.frechet_distance(x, y), x, create_graph=True)
    with pytest.raises(RuntimeError):
        gradient.sum().backward()


def test_frechet_errors_name_the_argument() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="same number of features"):
        dv.frechet_distance(x, rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match=r"^y must hold at least 2 samples"):
        dv.frechet_distance(x, x[:1])
    with pytest.raises(ValueError, match=r"^x must hold at least 2 samples"):
        dv.frechet_distance(x[:1], x)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"^y "):
        dv.frechet_distance(x, bad)
    with pytest.raises(TypeError, match=r"^x "):
        dv.frechet_distance("features", x)
    with pytest.raises(ValueError, match=r"^x "):
        dv.frechet_distance(np.zeros((2, 3, 4)), x)


def torchmetrics_kid(
    x: np.ndarray,
    y: np.ndarray,
    subsets: int,
    size: int,
    seed: int,
    degree=3,
    gamma=None,
    coef=1.0,
) -> tuple[float, float, np.ndarray]:
    """torchmetrics' KID written out in numpy with full kernel matrices, drawing the
    subsets as ``kernel_inception_distance`` documents (x's rows, then y's, per subset)."""
    rng = np.random.default_rng(seed)
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    values = []
    for _ in range(subsets):
        a = x[rng.permutation(len(x))[:size]]
        b = y[rng.permutation(len(y))[:size]]
        k_aa = (a @ a.T * gamma + coef) ** degree
        k_bb = (b @ b.T * gamma + coef) ** degree
        k_ab = (a @ b.T * gamma + coef) ** degree
        within = (k_aa.sum() - np.trace(k_aa)) + (k_bb.sum() - np.trace(k_bb))
        values.append(within / (size * (size - 1)) - 2 * k_ab.sum() / size**2)
    scores = np.array(values)
    return float(scores.mean()), float(scores.std(ddof=0)), scores


@pytest.mark.parametrize(
    "options", [{}, {"degree": 2, "gamma": 0.3, "coef0": 0.5}, {"degree": 1, "coef0": 0.0}]
)
def test_kid_equals_the_torchmetrics_formula(options: dict, kind: str) -> None:
    rng = np.random.default_rng(3)
    x, y = np.abs(rng.normal(size=(120, 10))), np.abs(rng.normal(size=(90, 10))) * 1.2
    result = dv.kernel_inception_distance(
        convert(x, kind), convert(y, kind), subsets=7, subset_size=50, seed=42, **options
    )
    mean, std, values = torchmetrics_kid(
        x,
        y,
        7,
        50,
        42,
        degree=options.get("degree", 3),
        gamma=options.get("gamma"),
        coef=options.get("coef0", 1.0),
    )
    assert isinstance(result, KernelInceptionResult) and result.subset_size == 50
    np.testing.assert_allclose(to_numpy(result.values), values, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(result.mean), mean, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(result.std), std, rtol=1e-10)
    if kind == "numpy":
        assert isinstance(result.mean, float) and isinstance(result.std, float)
    else:
        assert result.mean.dtype == torch.float64 and result.values.shape == (7,)


def test_kid_of_one_law_is_near_zero() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    same = dv.kernel_inception_distance(x, y, subsets=40, subset_size=200, seed=0)
    shifted = dv.kernel_inception_distance(x, y + 0.5, subsets=40, subset_size=200, seed=0)
    # unbiased: near 0 (either sign) next to its own spread and to a real difference
    assert abs(same.mean) < same.std and abs(same.mean) < shifted.mean / 100
    assert shifted.mean > 5 * shifted.std
    # a set against itself: subsets share points, which only the cross term counts,
    # so it is slightly negative, but still far below the shifted one
    itself = dv.kernel_inception_distance(x, x, subsets=40, subset_size=200, seed=0)
    assert abs(itself.mean) < shifted.mean / 20


def test_kid_seed_repeats_and_float32_tensors_stay_float32() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(80, 4)), rng.normal(size=(70, 4))
    first = dv.kernel_inception_distance(x, y, subsets=5, subset_size=30, seed=7)
    second = dv.kernel_inception_distance(x, y, subsets=5, subset_size=30, seed=7)
    np.testing.assert_array_equal(first.values, second.values)
    tx = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    single = dv.kernel_inception_distance(tx, torch.tensor(y), subsets=5, subset_size=30, seed=7)
    assert single.mean.dtype == torch.float64  # float32 with float64 promotes, as torch does
    single = dv.kernel_inception_distance(
        tx, torch.tensor(y, dtype=torch.float32), subsets=5, subset_size=30, seed=7
    )
    assert single.mean.dtype == torch.float32 and single.std.dtype == torch.float32
    np.testing.assert_allclose(single.mean.item(), first.mean, rtol=1e-5)
    single.mean.backward()
    assert tx.grad is not None and torch.isfinite(tx.grad).all()


def test_kid_errors_name_the_argument() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    with pytest.raises(ValueError, match=r"^subset_size must be at most 40.*y has 40"):
        dv.kernel_inception_distance(x, y, subset_size=41)
    with pytest.raises(ValueError, match=r"^subset_size must be at least 2"):
        dv.kernel_inception_distance(x, y, subset_size=1)
    with pytest.raises(ValueError, match=r"^subsets must be at least 1"):
        dv.kernel_inception_distance(x, y, subsets=0, subset_size=10)
    with pytest.raises(ValueError, match=r"^gamma must be positive"):
        dv.kernel_inception_distance(x, y, subset_size=10, gamma=0.0)
    with pytest.raises(TypeError, match=r"^degree must be an integer"):
        dv.kernel_inception_distance(x, y, subset_size=10, degree=2.5)
    with pytest.raises(ValueError, match="same number of features"):
        dv.kernel_inception_distance(x, rng.normal(size=(40, 2)), subset_size=10)
    bad = x.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"^x "):
        dv.kernel_inception_distance(bad, y, subset_size=10)
    with pytest.raises(TypeError, match=r"^seed "):
        dv.kernel_inception_distance(x, y, subset_size=10, seed="zero")
