"""The scale-safe helpers of the array layer, against exact powers of two and mpmath."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from divergences._backend import (
    NumpyBackend,
    TorchBackend,
    precise,
    scaled_norm,
    standardise,
    times_power_of_two,
)


def test_times_power_of_two_is_exact_across_the_whole_range():
    assert times_power_of_two(1.0, 1023) == math.ldexp(1.0, 1023)
    assert times_power_of_two(5e-324, 1074) == 1.0  # through steps: 2**1074 is inf
    assert times_power_of_two(math.ldexp(1.0, 1023), -2097) == 5e-324
    assert times_power_of_two(3.0, 2000) == math.inf  # beyond the range: inf, no warning


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1.0, 1e150, 1e300])
def test_standardise_moves_points_into_the_unit_cube_and_keeps_distances(scale):
    rng = np.random.default_rng(0)
    x, y = scale * rng.normal(size=(20, 3)), scale * (rng.normal(size=(10, 3)) + 5)
    (sx, sy), exponent = standardise([x, y], NumpyBackend())
    both = np.vstack([sx, sy])
    assert np.abs(both).max() <= 1.0
    assert np.abs(both).max() > 0.25  # the extent fills the cube: no needless shrinking
    # differences are the originals over 2**exponent, up to the subtraction's rounding
    original = (x[:, None, :] - y[None, :, :]) / scale
    scaled = times_power_of_two(sx[:, None, :] - sy[None, :, :], exponent) / scale
    np.testing.assert_allclose(scaled, original, rtol=1e-14, atol=1e-14)


def test_standardise_handles_the_float_limits_and_a_single_point():
    (sx, sy), exponent = standardise(
        [np.array([[-1.7e308]]), np.array([[1.7e308]])], NumpyBackend()
    )
    assert exponent == 1024  # the half-width 1.7e308 is above 2**1023
    expected = math.ldexp(1.7e308, -1024)
    np.testing.assert_array_equal(np.vstack([sx, sy]).ravel(), [-expected, expected])
    (single,), exponent = standardise([np.array([[3.0, 4.0]])], NumpyBackend())
    np.testing.assert_array_equal(single, [[0.0, 0.0]])


def test_standardise_keeps_gradients():
    x = torch.tensor([[1e200, 0.0], [3e200, 1e200]], dtype=torch.float64, requires_grad=True)
    (sx,), exponent = standardise([x], TorchBackend(torch.float64, torch.device("cpu")))
    sx.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 2.0**-exponent))


def test_scaled_norm_against_mpmath():
    import mpmath

    mpmath.mp.dps = 40
    backend = NumpyBackend()
    rows = np.array([[3e-200, 4e-200], [1e300, 1e300], [5e-324, 0.0], [0.0, 0.0], [3.0, 4.0]])
    got = scaled_norm(rows, backend, axis=1)
    for row, value in zip(rows, got, strict=True):
        exact = mpmath.sqrt(sum(mpmath.mpf(v) ** 2 for v in row))
        np.testing.assert_allclose(value, float(exact), rtol=1e-15)
    zero = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    scaled_norm(zero, TorchBackend(torch.float64, torch.device("cpu"))).backward()
    np.testing.assert_array_equal(zero.grad.numpy(), np.zeros(3))


def test_precise_computes_in_float64_and_returns_the_callers_dtype():
    backend = precise(TorchBackend(torch.float32, torch.device("cpu")))
    assert backend.dtype == torch.float64
    assert backend.to_output(torch.tensor(1.0, dtype=torch.float64)).dtype == torch.float32
    assert isinstance(precise(NumpyBackend()), NumpyBackend)
