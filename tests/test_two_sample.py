"""The permutation test: exact enumeration against SciPy, batched nulls against brute
force, validity under the null, reproducibility and errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import stats

import divergences as dv
import divergences.kernels as mmd_module
import divergences.two_sample as two_sample_module
from divergences.kernels import mmd
from divergences.two_sample import TwoSampleResult, _splits, two_sample_test
from tests.test_mmd import brute_mmd


def energy(a, b):
    """The biased energy distance, straight from its definition."""

    def mean_distance(u, v):
        return np.sqrt(((u[:, None, :] - v[None, :, :]) ** 2).sum(-1)).mean()

    return 2 * mean_distance(a, b) - mean_distance(a, a) - mean_distance(b, b)


def samples(n=12, m=10, d=2, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) + shift


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("statistic", ["energy", "mmd", "sliced"])
def test_exact_enumeration_equals_scipy(statistic, alternative):
    """4 + 4 points have 70 splits: with permutations >= 69 every one is enumerated and
    the p-value is SciPy's exact one for the same statistic."""
    x, y = samples(n=4, m=4, shift=0.7, seed=2)
    functions = {
        "energy": energy,
        "mmd": lambda a, b: brute_mmd(a, b, "gaussian", True, bandwidth=1.0),
        "sliced": lambda a, b: dv.sliced_wasserstein(a, b, seed=0),
    }
    options = {"bandwidth": 1.0} if statistic == "mmd" else {}
    result = two_sample_test(
        x, y, statistic=statistic, permutations=1000, alternative=alternative, **options
    )
    assert result.exact and result.permutations == math.comb(8, 4) - 1 == result.null.size
    # SciPy permutes 1-D observations: permute row indices of the pooled sample
    z = np.concatenate([x, y])
    reference = stats.permutation_test(
        (np.arange(4), np.arange(4, 8)),
        lambda i, j: functions[statistic](z[i], z[j]),
        permutation_type="independent",
        vectorized=False,
        n_resamples=np.inf,
        alternative=alternative,
        axis=0,
    )
    np.testing.assert_allclose(result.statistic, reference.statistic, rtol=1e-12)
    np.testing.assert_allclose(result.pvalue, reference.pvalue, rtol=1e-12)
    np.testing.assert_allclose(
        np.sort(np.append(result.null, result.statistic)),
        np.sort(reference.null_distribution),
        rtol=1e-12,
        atol=1e-14,
    )


def test_exact_pvalue_counts_the_splits_at_least_as_far_apart():
    """Brute force: the fraction of all 70 splits whose statistic reaches the observed."""
    x, y = samples(n=4, m=4, shift=1.0, seed=5)
    z = np.concatenate([x, y])
    everything = [energy(z[mask], z[~mask]) for mask in next(_splits(8, 4, 70, None, 100)[0])]
    observed = everything[0]
    expected = sum(value >= observed - 1e-12 for value in everything) / len(everything)
    result = two_sample_test(x, y, permutations=69)
    assert result.exact
    np.testing.assert_allclose(result.pvalue, expected, rtol=1e-15)
    assert two_sample_test(x, y, permutations=68, seed=0).exact is False


@pytest.mark.parametrize(
    ("statistic", "options", "reference"),
    [
        ("energy", {}, lambda a, b: energy(a, b)),
        ("energy", {"unbiased": True}, lambda a, b: dv.energy_distance(a, b, unbiased=True)),
        ("mmd", {"bandwidth": 0.8}, lambda a, b: brute_mmd(a, b, "gaussian", True, bandwidth=0.8)),
        (
            "mmd",
            {"bandwidth": 0.8, "unbiased": False},
            lambda a, b: brute_mmd(a, b, "gaussian", False, bandwidth=0.8),
        ),
        (
            "mmd",
            {"kernel": "laplacian", "bandwidth": 1.5},
            lambda a, b: brute_mmd(a, b, "laplacian", True, bandwidth=1.5),
        ),
        (
            "mmd",
            {"kernel": "polynomial", "unbiased": False},
            lambda a, b: brute_mmd(a, b, "polynomial", False),
        ),
        (
            "mmd",
            {"kernel": "energy"},
            lambda a, b: brute_mmd(a, b, "energy", True),
        ),
    ],
)
@pytest.mark.parametrize("many_batches", [False, True])
def test_batched_null_equals_the_statistic_of_each_split(
    statistic, options, reference, many_batches, monkeypatch
):
    x, y = samples(n=11, m=9, d=3, shift=0.3)
    if many_batches:  # batches of 2 permutations, blocks of 3 rows
        monkeypatch.setattr(two_sample_module, "_LABEL_VALUES", 40)
        monkeypatch.setattr(mmd_module, "_BLOCK_VALUES", 60)
    result = two_sample_test(
        x, y, statistic=statistic, permutations=37, seed=4, device="cpu", **options
    )
    z = np.concatenate([x, y])
    masks = np.concatenate(list(_splits(20, 11, 37, 4, 1000)[0]))
    expected = np.array([reference(z[mask], z[~mask]) for mask in masks])
    np.testing.assert_allclose(result.statistic, expected[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(result.null, expected[1:], rtol=1e-12, atol=1e-12)
    count = np.count_nonzero(expected[1:] >= expected[0] - 1e-12)
    np.testing.assert_allclose(result.pvalue, (1 + count) / 38, rtol=1e-15)


def test_observed_statistic_is_the_public_function():
    x, y = samples(n=30, m=25, shift=0.5)
    np.testing.assert_allclose(
        two_sample_test(x, y, permutations=5, seed=0).statistic,
        dv.energy_distance(x, y),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        two_sample_test(x, y, statistic="mmd", permutations=5, seed=0).statistic,
        mmd(x, y),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("statistic", "options", "function"),
    [
        ("wasserstein", {}, lambda a, b: dv.wasserstein(a, b)),
        (
            "sliced",
            {"n_projections": 20},
            lambda a, b: dv.sliced_wasserstein(a, b, n_projections=20, seed=0),
        ),
        ("sinkhorn", {"blur": 0.5}, lambda a, b: dv.sinkhorn_divergence(a, b, blur=0.5)),
        (lambda a, b: float(np.abs(a.mean(0) - b.mean(0)).sum()), {}, None),
    ],
)
def test_looped_statistics_equal_their_function_on_each_split(statistic, options, function):
    x, y = samples(n=10, m=8, shift=0.5, seed=1)
    function = function or statistic
    result = two_sample_test(x, y, statistic=statistic, permutations=9, seed=3, **options)
    z = np.concatenate([x, y])
    masks = np.concatenate(list(_splits(18, 10, 9, 3, 1000)[0]))
    expected = np.array([float(function(z[mask], z[~mask])) for mask in masks])
    np.testing.assert_allclose(result.statistic, expected[0], rtol=1e-12)
    np.testing.assert_allclose(result.null, expected[1:], rtol=1e-12)
    assert result.method == (statistic if isinstance(statistic, str) else "callable")


@pytest.mark.parametrize("statistic", ["energy", "mmd"])
def test_rejection_rate_under_the_null(statistic):
    """200 tests of samples from one law: at alpha = 0.05 the number of rejections is
    binomial(200, <= 0.05); [2, 20] holds it with probability above 0.998 (at 0.05)."""
    rng = np.random.default_rng(11)
    pvalues = []
    for replicate in range(200):
        x, y = rng.standard_t(3, size=(2, 15, 2))
        result = two_sample_test(
            x, y, statistic=statistic, permutations=99, seed=replicate, device="cpu"
        )
        pvalues.append(result.pvalue)
    rejections = sum(p <= 0.05 for p in pvalues)
    assert 2 <= rejections <= 20
    assert stats.kstest(pvalues, "uniform").pvalue > 0.001


def test_pvalue_is_never_zero_nor_nan(device):
    x, y = samples(n=30, m=30, shift=50.0)
    result = two_sample_test(x, y, permutations=99, seed=0, device=device)
    assert result.pvalue == 1 / 100
    tied = two_sample_test(np.ones((5, 2)), np.ones((6, 2)), permutations=99, seed=0)
    assert tied.statistic == 0.0 and tied.pvalue == 1.0
    for alternative in ("greater", "less", "two-sided"):
        for statistic in ("energy", "mmd", "sliced"):
            p = two_sample_test(
                x, y, statistic=statistic, permutations=19, seed=1, alternative=alternative
            ).pvalue
            assert 0 < p <= 1 and not math.isnan(p)


def test_swapped_sets_tie_with_the_observed_split():
    """n = m: the split with x and y swapped has the same statistic, computed in another
    column; it must count as >= the observed one."""
    x, y = samples(n=3, m=3, shift=10.0)
    # 20 splits; only the given one and its swap are that far apart
    result = two_sample_test(x, y, permutations=100)
    assert result.exact
    assert result.pvalue == 2 / 20
    assert two_sample_test(x, y, statistic="mmd", permutations=100).pvalue == 2 / 20


def test_seed_reproducibility():
    x, y = samples(n=20, m=20, shift=0.2)
    first = two_sample_test(x, y, permutations=50, seed=7)
    again = two_sample_test(x, y, permutations=50, seed=7)
    other = two_sample_test(x, y, permutations=50, seed=8)
    np.testing.assert_array_equal(first.null, again.null)
    assert first.pvalue == again.pvalue and first == again
    assert not np.array_equal(first.null, other.null)
    looped = two_sample_test(x, y, statistic="sliced", permutations=20, seed=7)
    np.testing.assert_array_equal(
        looped.null, two_sample_test(x, y, statistic="sliced", permutations=20, seed=7).null
    )


def test_torch_inputs_give_floats():
    x, y = samples()
    result = two_sample_test(torch.tensor(x), torch.tensor(y, dtype=torch.float32), seed=0)
    assert isinstance(result.statistic, float) and isinstance(result.pvalue, float)
    np.testing.assert_allclose(
        result.statistic,
        energy(x, torch.tensor(y, dtype=torch.float32).double().numpy()),
        rtol=1e-12,
    )


def test_result_is_frozen_and_readable():
    result = two_sample_test(*samples(), permutations=20, seed=0)
    assert isinstance(result, TwoSampleResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.pvalue = 0.5  # type: ignore[misc]
    with pytest.raises(ValueError):
        result.null[0] = 1.0
    text = repr(result)
    assert text.startswith("TwoSampleResult(statistic=") and "pvalue=" in text
    assert "permutations=20" in text and "0.95:" in text
    np.testing.assert_allclose(result.null_mean, np.mean(result.null), rtol=1e-15)
    np.testing.assert_allclose(result.null_std, np.std(result.null), rtol=1e-15)
    np.testing.assert_allclose(result.null_quantile(0.99), np.quantile(result.null, 0.99))


def test_large_pooled_samples_run_in_batches(monkeypatch):
    """Several batches of permutations give the same null as one."""
    x, y = samples(n=60, m=50, shift=0.2)
    whole = two_sample_test(x, y, permutations=30, seed=2, device="cpu")
    monkeypatch.setattr(two_sample_module, "_LABEL_VALUES", 110 * 4)
    batched = two_sample_test(x, y, permutations=30, seed=2, device="cpu")
    np.testing.assert_allclose(batched.null, whole.null, rtol=1e-12)
    assert batched.pvalue == whole.pvalue


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"statistic": "ks"}, ValueError, "statistic must be one of 'energy'"),
        ({"statistic": 3}, TypeError, "statistic must be one of"),
        ({"permutations": 0}, ValueError, "permutations must be at least 1"),
        ({"permutations": 9.5}, TypeError, "permutations must be an integer"),
        ({"permutations": True}, TypeError, "permutations must be an integer"),
        ({"alternative": "bigger"}, ValueError, "alternative must be one of 'greater'"),
        ({"seed": -1}, ValueError, "seed must be at least 0"),
        ({"seed": "a"}, TypeError, "seed must be an integer"),
        ({"kernel": "gaussian"}, ValueError, "options for statistic='energy' must be among"),
        ({"statistic": "mmd", "bandwith": 1.0}, ValueError, "must be among kernel, bandwidth"),
        ({"statistic": "mmd", "bandwidth": -1.0}, ValueError, "bandwidth must be a positive"),
        ({"statistic": "mmd", "kernel": "rbf"}, ValueError, "kernel must be one of"),
        ({"statistic": "energy", "device": "tpu"}, ValueError, "device must be"),
        ({"statistic": "energy", "unbiased": "yes"}, TypeError, "unbiased must be True"),
        ({"statistic": len, "k": 3}, ValueError, "not taken by a callable"),
        ({"statistic": lambda a, b: float("nan")}, ValueError, "statistic returned NaN"),
        ({"statistic": lambda a, b: "far"}, TypeError, "statistic must return a real"),
    ],
)
def test_bad_arguments(arguments, error, match):
    x, y = samples()
    with pytest.raises(error, match=match):
        two_sample_test(x, y, permutations=arguments.pop("permutations", 9), **arguments)


def test_bad_samples():
    x, y = samples()
    with pytest.raises(ValueError, match="same dimension"):
        two_sample_test(x, y[:, :1])
    with pytest.raises(ValueError, match="x must contain only finite"):
        two_sample_test(np.full((3, 2), np.inf), y)
    with pytest.raises(TypeError, match="y must"):
        two_sample_test(x, None)
    with pytest.raises(ValueError, match="y must hold at least one sample"):
        two_sample_test(x, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="at least two samples"):
        two_sample_test(x[:1], y, statistic="mmd")
    big = np.zeros((600, 2))
    with pytest.raises(ValueError, match="use statistic='sliced' or 'energy'"):
        two_sample_test(big, big, statistic="wasserstein")
    # one dimension: the sorted path, no limit
    assert two_sample_test(
        big[:, 0], big[:, 0] + 1, statistic="wasserstein", permutations=2
    ).pvalue


@pytest.mark.parametrize(
    ("statistic", "options", "function", "upper"),
    [
        ("kl_knn", {"k": 3}, lambda a, b: dv.kl_knn(a, b, k=3), math.inf),
        ("js_knn", {}, lambda a, b: dv.js_knn(a, b), math.log(2)),
    ],
)
def test_knn_statistics_are_the_estimates_before_clipping(statistic, options, function, upper):
    """Clipped at 0, many re-splits of similar samples tie at 0 with the observed one;
    the test takes the estimate unclipped, which the public function clips."""
    x, y = samples(n=12, m=12, shift=0.0, seed=2)
    result = two_sample_test(x, y, statistic=statistic, permutations=19, seed=3, **options)
    z = np.concatenate([x, y])
    masks = np.concatenate(list(_splits(24, 12, 19, 3, 1000)[0]))
    clipped = np.array([float(function(z[mask], z[~mask])) for mask in masks])
    values = np.concatenate([[result.statistic], result.null])
    np.testing.assert_allclose(np.clip(values, 0.0, upper), clipped, rtol=1e-12, atol=1e-15)
    assert np.any(values < 0)  # negative estimates are kept: they order the splits


def test_a_knn_test_keeps_its_power_in_high_dimension():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 0.5
    result = two_sample_test(x, y, statistic="js_knn", permutations=99, seed=0)
    # clipped, every split gave 0 and the p-value was 1
    assert np.unique(result.null).size > 50
    assert result.pvalue < 0.05
