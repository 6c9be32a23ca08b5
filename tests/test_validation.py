"""The shared input handling: backend choice, coercion, and the errors it raises."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from divergences._backend import NumpyBackend, TorchBackend
from divergences._validation import (
    as_array,
    as_covariance,
    as_loss_batches,
    as_vector,
    as_weights,
    backend_for,
    check_axis,
    check_base,
    check_count,
    check_distance_base,
    check_flag,
    check_option,
    check_real,
    check_seed,
    probability_pair,
)


def test_numpy_backend_unless_a_tensor_is_given():
    assert isinstance(backend_for(p=[1.0], q=np.ones(2)), NumpyBackend)
    backend = backend_for(p=[1.0], q=torch.ones(2, dtype=torch.float32))
    assert isinstance(backend, TorchBackend)
    assert backend.dtype == torch.float32


def test_tensor_dtypes_are_promoted():
    backend = backend_for(
        p=torch.ones(2, dtype=torch.float32), q=torch.ones(2, dtype=torch.float64)
    )
    assert backend.dtype == torch.float64


def test_tensors_on_different_devices_are_rejected():
    with pytest.raises(ValueError, match="same device; got p on cpu, q on meta"):
        backend_for(p=torch.ones(2), q=torch.ones(2, device="meta"))


def test_lists_become_float64_arrays_and_tensors_keep_their_graph():
    x = as_array([1, 2, 3], "x", NumpyBackend())
    assert x.dtype == np.float64
    source = torch.ones(3, dtype=torch.float64, requires_grad=True)
    backend = backend_for(x=source)
    converted = as_array(source, "x", backend)
    converted.sum().backward()
    np.testing.assert_array_equal(source.grad.numpy(), np.ones(3))


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (None, TypeError, "x must be an array of numbers; got None"),
        ("abc", TypeError, "x must be a numpy array, a list of numbers or a torch tensor"),
        ({1: 2}, TypeError, "got dict"),
        (iter([1.0]), TypeError, "got list_iterator"),
        (np.array(["a"]), TypeError, "x must hold real numbers"),
        (np.array([1 + 2j]), TypeError, "x must hold real numbers"),
        ([[1.0], [1.0, 2.0]], ValueError, "x must be a rectangular array"),
    ],
)
def test_as_array_rejects_non_numbers(value, error, message):
    with pytest.raises(error, match=message):
        as_array(value, "x", NumpyBackend())


def test_probability_pair_normalises_and_reports_the_kept_shape():
    p, q, axis, kept_shape, _ = probability_pair(np.ones((2, 4)), np.arange(1.0, 5.0), axis=-1)
    assert axis == 1
    assert kept_shape == (2, 1)
    np.testing.assert_allclose(p, np.full((2, 4), 0.25))
    np.testing.assert_allclose(q[0], np.arange(1.0, 5.0) / 10.0)


def test_check_axis_base_and_scalars():
    assert check_axis(-1, 3) == 2
    assert check_axis(None, 3) is None
    with pytest.raises(ValueError, match=r"axis must be in \[-2, 1\]"):
        check_axis(2, 2)
    with pytest.raises(TypeError, match="axis must be an integer"):
        check_axis(True, 2)
    np.testing.assert_allclose(check_base(2), np.log(2))
    assert check_base(None) == 1.0
    assert check_real(2, "p", minimum=1.0) == 2.0
    with pytest.raises(ValueError, match="p must be >= 1"):
        check_real(0.5, "p", minimum=1.0)
    with pytest.raises(ValueError, match="p must be finite"):
        check_real(float("nan"), "p")
    with pytest.raises(TypeError, match="p must be a real number"):
        check_real("1", "p")
    assert check_count(3, "n") == 3
    with pytest.raises(ValueError, match="n must be at least 1; got 0"):
        check_count(0, "n")
    with pytest.raises(TypeError, match="n must be an integer"):
        check_count(2.5, "n")
    assert check_seed(None) is None
    with pytest.raises(ValueError, match="seed must be at least 0"):
        check_seed(-1)


def test_check_option_lists_the_valid_choices():
    assert check_option("js", "measure", ["kl", "js"]) == "js"
    with pytest.raises(ValueError, match="measure must be one of 'kl', 'js'; got 'jsd'"):
        check_option("jsd", "measure", ["kl", "js"])


def test_vectors_and_covariances():
    backend = NumpyBackend()
    np.testing.assert_array_equal(as_vector(3.0, "mean", backend), [3.0])
    with pytest.raises(ValueError, match="mean must be a 1-D vector"):
        as_vector(np.ones((2, 2)), "mean", backend)
    np.testing.assert_array_equal(as_covariance(2.0, "cov", backend, 1, definite=True), [[2.0]])
    with pytest.raises(ValueError, match=r"cov must be a \(2, 2\) matrix"):
        as_covariance(np.eye(3), "cov", backend, 2, definite=True)
    with pytest.raises(ValueError, match="cov must be symmetric"):
        as_covariance([[1.0, 0.5], [0.0, 1.0]], "cov", backend, 2, definite=True)
    with pytest.raises(ValueError, match="cov must be positive definite"):
        as_covariance([[1.0, 1.0], [1.0, 1.0]], "cov", backend, 2, definite=True)
    singular = as_covariance([[1.0, 1.0], [1.0, 1.0]], "cov", backend, 2, definite=False)
    np.testing.assert_array_equal(singular, [[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="cov must be positive semi-definite"):
        as_covariance([[1.0, 2.0], [2.0, 1.0]], "cov", backend, 2, definite=False)


def test_half_precision_tensors_compute_in_float32_and_return_their_dtype():
    for dtype in (torch.float16, torch.bfloat16):
        backend = backend_for(p=torch.ones(2, dtype=dtype))
        assert backend.dtype == torch.float32
        assert backend.output_dtype == dtype
        assert backend.to_output(torch.tensor(1.5)).dtype == dtype
    with pytest.raises(ValueError, match=r"exceeds the range of the inputs' dtype torch\.float16"):
        backend_for(p=torch.ones(2, dtype=torch.float16)).to_output(torch.tensor(7e4))
    # inf that was already inf (a KL of disjoint supports) is a value, not an overflow
    half = backend_for(p=torch.ones(2, dtype=torch.float16))
    assert half.to_output(torch.tensor(float("inf"))).item() == float("inf")
    # float32 and float64 are unchanged, for every caller (the neural code included)
    assert backend_for(p=torch.ones(2, dtype=torch.float32)).output_dtype == torch.float32


def test_meta_tensors_are_refused_by_name():
    with pytest.raises(ValueError, match="samples is a tensor on the 'meta' device"):
        backend_for(samples=torch.ones(2, device="meta"))


def test_masked_arrays_are_refused_unless_nothing_is_masked():
    with pytest.raises(TypeError, match=r"x is a masked array.*x.compressed\(\)"):
        as_array(np.ma.array([1.0, 2.0], mask=[0, 1]), "x", NumpyBackend())
    np.testing.assert_array_equal(
        as_array(np.ma.array([1.0, 2.0]), "x", NumpyBackend()), [1.0, 2.0]
    )


def test_flags_counts_and_distance_bases():
    assert check_flag(np.True_, "keepdims") is True
    with pytest.raises(TypeError, match="keepdims must be True or False; got 'no'"):
        check_flag("no", "keepdims")
    with pytest.raises(TypeError, match="keepdims must be True or False; got 1"):
        check_flag(1, "keepdims")
    assert check_count(5, "n", maximum=5) == 5
    with pytest.raises(ValueError, match=r"n must be at most 5 \(why\); got 6"):
        check_count(6, "n", maximum=5, why=" (why)")
    np.testing.assert_allclose(check_distance_base(2), np.log(2))
    assert check_distance_base(None) == 1.0
    with pytest.raises(ValueError, match="base must be greater than 1 for a distance"):
        check_distance_base(0.5)


def test_weights_and_probabilities_normalise_without_overflow():
    backend = NumpyBackend()
    np.testing.assert_allclose(
        as_weights(np.array([1e308, 1e308, 1e308]), "w", 3, backend), np.full(3, 1 / 3)
    )
    np.testing.assert_array_equal(as_weights([5e-324, 5e-324], "w", 2, backend), [0.5, 0.5])
    p, q, *_ = probability_pair(np.array([[1e308, 1e308], [1.0, 3.0]]), [1.0, 1.0], axis=1)
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]], rtol=1e-15)
    np.testing.assert_allclose(q, [[0.5, 0.5], [0.5, 0.5]], rtol=1e-15)


def test_probability_pair_leaves_masked_entries_out_of_both():
    p, q, *_ = probability_pair(
        np.ma.array([1.0, 1.0, 2.0], mask=[0, 0, 1]), np.array([1.0, 3.0, 4.0]), axis=0
    )
    np.testing.assert_allclose(p, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(q, [0.25, 0.75, 0.0])


def test_loss_batches_keep_fake_and_give_real_detached_in_its_dtype():
    fake = torch.zeros(3, 2, dtype=torch.float32, requires_grad=True)
    real = torch.ones(4, 2, dtype=torch.float64, requires_grad=True)
    checked_fake, checked_real = as_loss_batches(fake, real)
    assert checked_fake is fake  # the generator's graph is untouched
    assert checked_real.dtype == torch.float32 and not checked_real.requires_grad
    np.testing.assert_array_equal(checked_real.numpy(), np.ones((4, 2)))
    _, listed = as_loss_batches(fake, [[1, 2], [3, 4]])
    assert listed.dtype == torch.float32
    np.testing.assert_array_equal(listed.numpy(), [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    ("fake", "real", "error", "message"),
    [
        (torch.zeros(2, 1, device="meta"), [[0.0], [1.0]], ValueError, "fake is a tensor on"),
        (torch.zeros(2, 1), torch.zeros(2, 1, device="meta"), ValueError, "real is a tensor on"),
        (torch.zeros(1, 2), [["a", "b"]], TypeError, "real must hold real numbers"),
        (torch.zeros(1, 2), [[True, False]], TypeError, "real must hold real numbers"),
        (torch.zeros(1, 2), [[1j, 0]], TypeError, "real must hold real numbers"),
        (np.zeros((1, 2)), torch.zeros(1, 2), TypeError, r"fake must be a torch\.Tensor"),
        (torch.zeros(1, 2, dtype=torch.int32), [[0, 1]], TypeError, "fake must be a floating"),
        (torch.zeros(2), [[0.0], [1.0]], ValueError, r"fake must be an \(N, d\) batch"),
        (torch.zeros(2, 1), [0.0, 1.0], ValueError, r"real must be an \(N, d\) batch"),
        (torch.zeros(2, 1), [[np.inf], [0.0]], ValueError, "real must contain only finite"),
        (torch.zeros(2, 1), [[0.0, 1.0]], ValueError, "same dimension d; got d = 1 and d = 2"),
    ],
)
def test_loss_batches_refuse_by_name(fake, real, error, message):
    with pytest.raises(error, match=message):
        as_loss_batches(fake, real)


def test_torch_seeds_keep_small_seeds_and_tell_large_ones_apart():
    """torch's CPU generator reads 32 bits of its seed and refuses 2**64: seed and
    seed + 2**32 gave one stream, and 2**64 an overflow naming nothing."""
    import torch

    from divergences._validation import torch_seed
    from divergences.losses import WassersteinLoss
    from divergences.problems import ConesProblem

    assert [torch_seed(s) for s in (0, 987, 2**32 - 1)] == [0, 987, 2**32 - 1]
    seeds = [5, 5 + 2**32, 5 + 2**33, 2**64, 2**100]
    generators = [torch.Generator().manual_seed(torch_seed(s)) for s in seeds]
    streams = [torch.rand(4, generator=g) for g in generators]
    assert len({tuple(stream.tolist()) for stream in streams}) == len(seeds)
    apexes = [ConesProblem(2, 4, seed=s).apexes for s in (5, 5 + 2**32, 2**64)]
    assert not np.array_equal(apexes[0], apexes[1])
    assert np.isfinite(apexes[2]).all()
    fake, real = torch.randn(40, 2, dtype=torch.float64), torch.randn(40, 2, dtype=torch.float64)
    values = {float(WassersteinLoss(seed=s)(fake, real)) for s in (0, 2**32, 2**64)}
    assert len(values) == 3
