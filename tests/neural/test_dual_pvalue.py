"""The neural critic as a two-sample test: a fixed potential, its held-out scores re-split.

``DualResult.pvalue`` tests P = Q exactly because the certified potential is chosen
before the test split is read; re-splitting the scores on that split is then a
permutation test of a fixed statistic (``two_sample.score_pvalue``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.stats

import divergences as dv
from divergences.two_sample import score_pvalue

torch = pytest.importorskip("torch")


def _mean_difference(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def test_score_pvalue_enumerates_small_samples_as_scipy_does():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=5), rng.normal(size=4) + 0.5
    pvalue, count = score_pvalue(a, b, permutations=10_000)
    assert count == scipy.special.comb(9, 5, exact=True) - 1
    expected = scipy.stats.permutation_test(
        (a, b), _mean_difference, permutation_type="independent", alternative="greater"
    ).pvalue
    np.testing.assert_allclose(pvalue, expected, rtol=1e-12)


def test_score_pvalue_counts_the_re_splits_at_least_as_far_apart():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=6), rng.normal(size=3)
    pooled = np.concatenate([a, b])
    observed = a.mean() - b.mean()
    null = [
        pooled[list(first)].mean() - np.delete(pooled, list(first)).mean()
        for first in itertools.combinations(range(9), 6)
    ]
    # the split as given is one of the enumerated ones; the p-value counts it once
    expected = sum(value >= observed - 1e-12 for value in null) / len(null)
    assert score_pvalue(a, b, permutations=10_000)[0] == pytest.approx(expected, rel=1e-12)


def test_score_pvalue_is_exact_for_any_number_of_re_splits():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=40), rng.normal(size=40) + 10.0
    assert score_pvalue(b, a, permutations=19, seed=0) == (1 / 20, 19)  # never 0
    assert score_pvalue(a, b, permutations=19, seed=0) == (1.0, 19)
    assert score_pvalue(a, b, permutations=19, seed=0) == score_pvalue(
        a, b, permutations=19, seed=0
    )


def test_score_pvalue_refuses_what_it_cannot_test():
    with pytest.raises(ValueError, match="at least one score each"):
        score_pvalue([], [1.0])
    with pytest.raises(ValueError, match="must be finite"):
        score_pvalue([np.nan], [1.0])


def test_the_dual_result_reports_the_test_of_its_own_held_out_scores():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2)) + np.array([0.25, 0.0])
    result = dv.wasserstein_dual(x, y, steps=30, seed=0, device="cpu")
    assert result.pvalue * 1000 == pytest.approx(round(result.pvalue * 1000))  # k / 1000
    assert 1 / 1000 <= result.pvalue <= 1.0
    rows_x, rows_y = result.held_out_index
    held_out = [
        result.potential(torch.as_tensor(points)).detach().numpy()
        for points in (x[rows_x], y[rows_y])
    ]
    # the same fixed statistic, many more re-splits: agrees within binomial noise
    reference, _ = score_pvalue(*held_out, permutations=40_000, seed=1)
    noise = np.sqrt(reference * (1 - reference) / 1000) + 1e-3
    assert abs(result.pvalue - reference) <= 4 * noise


def test_far_apart_samples_get_the_smallest_p_value():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + np.array([3.0, 0.0])
    assert dv.wasserstein_dual(x, y, steps=30, seed=0, device="cpu").pvalue == 1 / 1000
