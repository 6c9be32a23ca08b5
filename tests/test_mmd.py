"""MMD² against brute-force formulas, GeomLoss's kernel losses and the energy distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist, pdist

import divergences as dv
import divergences.kernels as mmd_module
from divergences._backend import NumpyBackend, TorchBackend
from divergences.kernels import _Kernel, _kernel_statistics, mmd
from tests.conftest import convert, to_numpy

KERNEL_OPTIONS = {
    "gaussian": {"bandwidth": 0.7},
    "laplacian": {"bandwidth": 1.3},
    "energy": {},
    "polynomial": {"degree": 3, "coef0": 0.5},
}


def brute_kernel(a, b, name, bandwidth=1.0, degree=3, coef0=1.0, xp=np):
    """The full kernel matrix, straight from the formulas."""
    if name == "polynomial":
        return (a @ b.T / a.shape[1] + coef0) ** degree
    squares = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    if name == "gaussian":
        return xp.exp(-squares / (2 * bandwidth**2))
    # the subgradient 0 where two points coincide (sqrt's derivative at 0 is inf)
    positive = squares > 0
    distances = xp.where(positive, xp.sqrt(xp.where(positive, squares, 1.0)), 0.0)
    if name == "energy":
        return -distances
    return xp.exp(-distances / bandwidth)


def brute_mmd(x, y, name, unbiased, xp=np, **options):
    """MMD² from the three full kernel matrices (numpy or torch, with autograd)."""
    n, m = x.shape[0], y.shape[0]
    kxx = brute_kernel(x, x, name, xp=xp, **options)
    kyy = brute_kernel(y, y, name, xp=xp, **options)
    kxy = brute_kernel(x, y, name, xp=xp, **options)
    if unbiased:
        within_x = (kxx.sum() - xp.diagonal(kxx).sum()) / (n * (n - 1))
        within_y = (kyy.sum() - xp.diagonal(kyy).sum()) / (m * (m - 1))
    else:
        within_x, within_y = kxx.sum() / n**2, kyy.sum() / m**2
    return within_x + within_y - 2 * kxy.sum() / (n * m)


def samples(n=23, m=17, d=3, shift=0.4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + shift


@pytest.fixture(params=[False, True], ids=["one-block", "many-blocks"])
def blocks(request, monkeypatch):
    """Run a test with the default block size and with blocks of a row or two."""
    if request.param:
        monkeypatch.setattr(mmd_module, "_BLOCK_VALUES", 64)
    return request.param


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("name", list(KERNEL_OPTIONS))
def test_mmd_equals_the_brute_force_formula(name, unbiased, kind, blocks):
    x, y = samples()
    options = KERNEL_OPTIONS[name]
    value = mmd(convert(x, kind), convert(y, kind), kernel=name, unbiased=unbiased, **options)
    expected = brute_mmd(x, y, name, unbiased, **options)
    np.testing.assert_allclose(to_numpy(value), expected, rtol=1e-12, atol=1e-14)
    if kind == "numpy":
        assert isinstance(value, float)
    else:
        assert isinstance(value, torch.Tensor) and value.dtype == torch.float64


def test_unbiased_mmd_can_be_negative():
    x, y = samples(shift=0.0, seed=3)
    value = mmd(x, y, bandwidth=1.0)
    np.testing.assert_allclose(value, brute_mmd(x, y, "gaussian", True), rtol=1e-12)
    assert value < 0 < mmd(x, y, bandwidth=1.0, unbiased=False)


@pytest.mark.parametrize("unbiased", [True, False])
def test_energy_kernel_is_the_energy_distance(unbiased, kind):
    """Factor 1: MMD² with k = -|a - b| is energy_distance, biased and unbiased alike."""
    x, y = samples(d=4)
    value = mmd(convert(x, kind), convert(y, kind), kernel="energy", unbiased=unbiased)
    expected = dv.energy_distance(convert(x, kind), convert(y, kind), unbiased=unbiased)
    np.testing.assert_allclose(to_numpy(value), to_numpy(expected), rtol=1e-12)


@pytest.mark.parametrize("name", ["gaussian", "laplacian", "energy"])
def test_geomloss_kernel_loss_is_half_the_biased_mmd(name):
    """GeomLoss's SamplesLoss(name, blur=h) uses the same kernels (h = blur) and returns
    half of the V-statistic MMD².

    Its tensorized distances are ``sqrt(max(|a - b|^2, 1e-8))`` (in units of ``x / blur``
    for the Laplacian kernel, of ``x`` for the energy kernel), so its diagonal terms are
    ``k(a, a) + delta`` with ``delta = exp(-1e-4) - 1`` (Laplacian) or ``-1e-4``
    (energy), 0 for the Gaussian kernel; no two distinct points here are that close.
    """
    from geomloss import SamplesLoss

    x, y = samples(n=40, m=30, d=2)
    n, m = len(x), len(y)
    assert pdist(np.concatenate([x, y])).min() > 1e-3
    bandwidth = 0.8
    loss = SamplesLoss(name, blur=bandwidth, backend="tensorized")
    geomloss_value = float(loss(torch.from_numpy(x), torch.from_numpy(y)))
    delta = {"gaussian": 0.0, "laplacian": np.expm1(-1e-4), "energy": -1e-4}[name]
    expected = geomloss_value - delta / 2 * (1 / n + 1 / m)
    options = {} if name == "energy" else {"bandwidth": bandwidth}
    value = mmd(x, y, kernel=name, unbiased=False, **options)
    # GeomLoss's distances come from |a|^2 - 2 a.b + |b|^2, which loses a few digits
    np.testing.assert_allclose(value / 2, expected, rtol=1e-9)


def test_polynomial_kernel_follows_the_kid_convention():
    """gamma = 1/d, coef0 = 1, degree 3 by default (torchmetrics' KID)."""
    x, y = samples(d=5)
    expected = brute_mmd(x, y, "polynomial", True, degree=3, coef0=1.0)
    np.testing.assert_allclose(mmd(x, y, kernel="polynomial"), expected, rtol=1e-12)


def test_median_bandwidth_is_the_median_pairwise_distance_of_the_pooled_sample():
    x, y = samples(n=30, m=20)
    bandwidth = float(np.median(pdist(np.concatenate([x, y]))))
    np.testing.assert_allclose(
        mmd(x, y), brute_mmd(x, y, "gaussian", True, bandwidth=bandwidth), rtol=1e-12
    )
    np.testing.assert_allclose(
        mmd(x, y, kernel="laplacian", unbiased=False),
        brute_mmd(x, y, "laplacian", False, bandwidth=bandwidth),
        rtol=1e-12,
    )


def test_median_bandwidth_of_a_large_sample_uses_a_seeded_subsample():
    x, y = samples(n=900, m=700, d=2)
    pooled = np.concatenate([x, y])
    rows = np.sort(np.random.default_rng(0).choice(len(pooled), 1000, replace=False))
    backend = NumpyBackend()
    # median_distance sees the pooled sample translated and scaled by a power of two
    scale = 2.0**-3
    expected = float(np.median(pdist(pooled[rows] * scale)))
    np.testing.assert_allclose(
        mmd_module.median_distance(pooled * scale, backend), expected, rtol=1e-14
    )
    assert mmd(x, y) == mmd(x, y)  # deterministic


def test_median_bandwidth_of_mostly_tied_samples_uses_positive_distances():
    x = np.zeros((10, 1))
    y = np.concatenate([np.zeros((8, 1)), [[1.0], [3.0]]])
    distances = pdist(np.concatenate([x, y]))
    bandwidth = float(np.median(distances[distances > 0]))
    np.testing.assert_allclose(
        mmd(x, y, unbiased=False),
        brute_mmd(x, y, "gaussian", False, bandwidth=bandwidth),
        rtol=1e-12,
    )
    assert mmd(np.ones((5, 2)), np.ones((4, 2)), unbiased=False) == 0.0


@pytest.mark.parametrize("name", list(KERNEL_OPTIONS))
def test_gradient_equals_autograd_of_the_brute_force(name, device, blocks):
    x, y = samples(n=15, m=12, d=2)
    options = KERNEL_OPTIONS[name]
    ours = [torch.tensor(a, device=device, requires_grad=True) for a in (x, y)]
    theirs = [torch.tensor(a, device=device, requires_grad=True) for a in (x, y)]
    value = mmd(*ours, kernel=name, **options)
    expected = brute_mmd(*theirs, name, True, xp=torch, **options)
    value.backward()
    expected.backward()
    np.testing.assert_allclose(to_numpy(value), to_numpy(expected), rtol=1e-12)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(to_numpy(mine.grad), to_numpy(reference.grad), atol=1e-12)


def test_gradcheck_gaussian_and_polynomial(blocks):
    x, y = (torch.tensor(a, requires_grad=True) for a in samples(n=6, m=5, d=2))
    assert torch.autograd.gradcheck(lambda a, b: mmd(a, b, bandwidth=0.9), (x, y))
    assert torch.autograd.gradcheck(lambda a, b: mmd(a, b, kernel="polynomial"), (x, y))


def test_float32_tensors_give_float32():
    x, y = samples()
    value = mmd(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert value.dtype == torch.float32
    expected = mmd(x, y)
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)


@pytest.mark.parametrize("scale", [1e-200, 1e-5, 1e5, 1e200])
def test_scale(scale):
    """Gaussian MMD² with the median bandwidth does not change with a common scale; the
    energy kernel's is homogeneous of degree 1."""
    x, y = samples()
    np.testing.assert_allclose(mmd(scale * x, scale * y), mmd(x, y), rtol=1e-9)
    np.testing.assert_allclose(
        mmd(scale * x, scale * y, kernel="energy"), scale * mmd(x, y, kernel="energy"), rtol=1e-9
    )


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("name", list(KERNEL_OPTIONS))
def test_kernel_statistics_of_every_column_equal_the_brute_force(name, unbiased, blocks):
    """The blocked quadratic forms over a label matrix give each split's MMD²."""
    x, y = samples(n=9, m=7, d=2)
    z = np.concatenate([x, y])
    n = len(x)
    rng = np.random.default_rng(1)
    masks = np.stack([rng.permutation(len(z)) < n for _ in range(6)])
    options = KERNEL_OPTIONS[name]
    kernel = _Kernel(name, **options)
    for backend, array in ((NumpyBackend(), z), (TorchBackend(torch.float64, "cpu"), z)):
        labels = backend.asarray(masks.T.astype(np.float64))
        values, mean_absolute = _kernel_statistics(
            backend.asarray(array), labels, n, kernel, backend, unbiased=unbiased
        )
        expected = [brute_mmd(z[mask], z[~mask], name, unbiased, **options) for mask in masks]
        np.testing.assert_allclose(to_numpy(values), expected, rtol=1e-12, atol=1e-14)
        full = brute_kernel(z, z, name, **options)
        np.testing.assert_allclose(mean_absolute, np.abs(full).mean(), rtol=1e-12)


def test_memory_stays_linear_with_blocks(monkeypatch):
    """No block holds more than _BLOCK_VALUES kernel entries (the (N, N) matrix never)."""
    largest = []
    block = _Kernel.block

    def recording(self, a, b, backend):
        largest.append(a.shape[0] * b.shape[0])
        return block(self, a, b, backend)

    monkeypatch.setattr(_Kernel, "block", recording)
    x, y = samples(n=1500, m=1500, d=2)
    mmd(x, y, kernel="energy")
    assert max(largest) <= mmd_module._BLOCK_VALUES < 3000**2


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"kernel": "rbf"}, ValueError, "kernel must be one of 'gaussian'"),
        ({"kernel": 3}, ValueError, "kernel must be one of"),
        ({"bandwidth": 0.0}, ValueError, "bandwidth must be a positive finite"),
        ({"bandwidth": -1.0}, ValueError, "bandwidth must be a positive finite"),
        ({"bandwidth": float("nan")}, ValueError, "bandwidth must be a positive finite"),
        ({"bandwidth": float("inf")}, ValueError, "bandwidth must be a positive finite"),
        ({"bandwidth": "mean"}, ValueError, "bandwidth must be 'median'"),
        ({"bandwidth": [1.0]}, TypeError, "bandwidth must be 'median'"),
        ({"bandwidth": True}, TypeError, "bandwidth must be 'median'"),
        ({"kernel": "energy", "bandwidth": 1.0}, ValueError, "bandwidth applies to"),
        ({"kernel": "polynomial", "bandwidth": 1.0}, ValueError, "bandwidth applies to"),
        ({"degree": 0}, ValueError, "degree must be at least 1"),
        ({"degree": 2.5}, TypeError, "degree must be an integer"),
        ({"coef0": float("nan")}, ValueError, "coef0 must be finite"),
        ({"unbiased": 1}, TypeError, "unbiased must be True or False"),
    ],
)
def test_bad_options(options, error, match):
    x, y = samples()
    with pytest.raises(error, match=match):
        mmd(x, y, **options)


def test_bad_samples():
    x, y = samples()
    with pytest.raises(ValueError, match="same dimension"):
        mmd(x, y[:, :2])
    with pytest.raises(ValueError, match="at least two samples"):
        mmd(x[:1], y)
    assert np.isfinite(mmd(x[:1], y, unbiased=False))
    with pytest.raises(ValueError, match="x must contain only finite"):
        mmd(np.full((3, 1), np.nan), y[:, :1])
    with pytest.raises(TypeError, match="y must"):
        mmd(x, "abc")
    with pytest.raises(ValueError, match="y must hold at least one sample"):
        mmd(x, np.zeros((0, 3)))
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        mmd(1e120 * x, y, kernel="polynomial")


def test_one_dimensional_input_is_one_coordinate():
    x, y = samples(d=1)
    np.testing.assert_allclose(mmd(x[:, 0], y[:, 0]), mmd(x, y), rtol=1e-15)


def test_backward_peak_memory_is_bounded(monkeypatch):
    """Checkpointed blocks: the backward pass recomputes one block at a time."""
    x, y = (torch.tensor(a, requires_grad=True) for a in samples(n=400, m=400, d=2))
    calls = []
    block = _Kernel.block

    def counting(self, a, b, backend):
        calls.append(a.shape[0])
        return block(self, a, b, backend)

    monkeypatch.setattr(_Kernel, "block", counting)
    monkeypatch.setattr(mmd_module, "_BLOCK_VALUES", 8000)
    value = mmd(x, y, bandwidth=1.0)
    forward = len(calls)
    value.backward()
    assert forward > 1 and len(calls) == 2 * forward  # every block recomputed once


def test_public_name_is_the_function():
    # the function, exported from the module divergences.kernels
    assert dv.mmd is mmd


def test_cdist_reference_agrees():
    """The brute-force kernel itself agrees with SciPy's distances."""
    x, y = samples()
    np.testing.assert_allclose(
        brute_kernel(x, y, "laplacian", bandwidth=2.0), np.exp(-cdist(x, y) / 2.0), rtol=1e-14
    )
