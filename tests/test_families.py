"""Seeded sample generators: shapes, reproducibility, moments, and gradients to parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divergences.families import gaussian_samples, segment_samples


def test_segment_samples_lie_on_the_segment():
    samples = segment_samples(-0.75, 5000, seed=1)
    assert samples.shape == (5000, 2)
    np.testing.assert_array_equal(samples[:, 0], -0.75)
    assert samples[:, 1].min() >= 0.0
    assert samples[:, 1].max() < 1.0
    # heights are U[0, 1): mean 1/2 within 5 standard errors (sd 1/sqrt(12))
    assert abs(samples[:, 1].mean() - 0.5) < 5 / np.sqrt(12 * 5000)


def test_segment_samples_are_reproducible_and_backend_independent():
    a = segment_samples(0.5, 100, seed=3)
    b = segment_samples(0.5, 100, seed=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, segment_samples(0.5, 100, seed=4))
    tensor = segment_samples(torch.tensor(0.5, dtype=torch.float64), 100, seed=3)
    assert isinstance(tensor, torch.Tensor)
    np.testing.assert_array_equal(tensor.numpy(), a)


def test_segment_samples_are_differentiable_in_theta():
    theta = torch.tensor(0.3, dtype=torch.float32, requires_grad=True)
    samples = segment_samples(theta, 10, seed=0)
    assert samples.dtype == torch.float32
    samples.sum().backward()
    assert theta.grad.item() == 10.0  # each x-coordinate is theta


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((np.array([0.0, 1.0]), 5), ValueError, "theta must be a scalar"),
        ((np.nan, 5), ValueError, "theta must contain only finite"),
        ((0.0, 0), ValueError, "n must be at least 1"),
        ((0.0, 2.5), TypeError, "n must be an integer"),
        (("0", 5), TypeError, "theta must be"),
    ],
)
def test_segment_samples_errors(args, error, message):
    with pytest.raises(error, match=message):
        segment_samples(*args)
    with pytest.raises(ValueError, match="seed must be at least 0"):
        segment_samples(0.0, 5, seed=-3)


def test_gaussian_samples_have_the_right_moments():
    mean = np.array([1.0, -2.0, 0.5])
    cov = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, -0.4], [0.0, -0.4, 0.5]])
    n = 200_000
    x = gaussian_samples(mean, cov, n, seed=0)
    assert x.shape == (n, 3)
    # standard errors: sqrt(C_ii / n) for the mean, about sqrt(2 / n) * C for the covariance
    np.testing.assert_allclose(x.mean(axis=0), mean, atol=5 * np.sqrt(2.0 / n))
    np.testing.assert_allclose(np.cov(x.T), cov, atol=5 * 2.0 * np.sqrt(2.0 / n))


def test_gaussian_samples_singular_covariance_stays_on_its_line():
    x = gaussian_samples([0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]], 1000, seed=2)
    np.testing.assert_allclose(x[:, 0], x[:, 1], atol=1e-7)


def test_gaussian_samples_torch_matches_numpy_and_carries_gradients():
    mean = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    cov = torch.tensor([[1.0, 0.2], [0.2, 2.0]], dtype=torch.float64)
    x = gaussian_samples(mean, cov, 50, seed=9)
    np.testing.assert_allclose(
        x.detach().numpy(),
        gaussian_samples(mean.detach().numpy(), cov.numpy(), 50, seed=9),
        rtol=1e-14,
    )
    x.sum().backward()
    np.testing.assert_array_equal(mean.grad.numpy(), [50.0, 50.0])


def test_gaussian_samples_errors():
    with pytest.raises(ValueError, match=r"cov must be a \(2, 2\) matrix"):
        gaussian_samples([0.0, 0.0], 1.0, 10)
    with pytest.raises(ValueError, match="cov must be positive semi-definite"):
        gaussian_samples([0.0], -1.0, 10)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_parameters(dtype):
    # The factor of a half covariance needs float32 (torch has no half Cholesky on the
    # CPU); the samples come back in the parameters' dtype, equal to the float64 ones
    # rounded once.
    mean = torch.tensor([0.5, -1.0], dtype=dtype)
    cov = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=dtype)
    x = gaussian_samples(mean, cov, 20, seed=1)
    assert x.dtype == dtype
    reference = gaussian_samples(mean.double().numpy(), cov.double().numpy(), 20, seed=1)
    np.testing.assert_allclose(
        x.double().numpy(), reference, rtol=float(torch.finfo(dtype).eps), atol=1e-3
    )
    assert segment_samples(torch.tensor(0.5, dtype=dtype), 4, seed=0).dtype == dtype


def test_meta_parameters_are_refused():
    with pytest.raises(ValueError, match="theta is a tensor on the 'meta' device"):
        segment_samples(torch.tensor(0.0, device="meta"), 3)
    with pytest.raises(ValueError, match="mean is a tensor on the 'meta' device"):
        gaussian_samples(torch.zeros(2, device="meta"), torch.eye(2, device="meta"), 3)
