"""The bounded-mean bound behind js_dual's lower_bound: it holds on laws where a normal
quantile does not (a rare value at the bottom of the range), it is close to the normal
margin where the values spread, and js_dual's certified bound from the exact optimal
logit stays below JS by quadrature."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate, stats

from divergences.neural._bounded_mean import bounded_mean_lower
from divergences.neural._discriminator import certified_lower

RUNS = 1000
# a one-sided 97.5% bound may miss in 2.5% of runs; four binomial standard errors over
MISS_TOLERANCE = 0.025 + 4 * math.sqrt(0.025 * 0.975 / RUNS)


def _student_lower(u: np.ndarray) -> float:
    """The t bound the betting bound replaces: mean less t * standard error."""
    return float(u.mean() - stats.t.ppf(0.975, u.size - 1) * u.std(ddof=1) / math.sqrt(u.size))


def test_a_rare_value_at_the_bottom_fools_the_t_bound_but_not_this_one():
    # 1 with probability 0.99, 0 with 0.01: the mean is 0.99, and 200 draws miss every 0
    # in 13% of samples (0.99^200), where the t bound is 1
    rng = np.random.default_rng(0)
    draws = (rng.uniform(size=(RUNS, 200)) > 0.01).astype(float)
    betting = np.array([bounded_mean_lower(u) for u in draws])
    student = np.array([_student_lower(u) if u.std() > 0 else 1.0 for u in draws])
    assert np.mean(betting > 0.99) <= MISS_TOLERANCE
    assert np.mean(student > 0.99) > 0.1


def test_it_holds_on_skewed_and_flat_laws():
    rng = np.random.default_rng(1)
    for draw, mean in (
        (lambda: rng.beta(0.3, 6.0, 100), 0.3 / 6.3),
        (lambda: 1.0 - rng.beta(0.3, 6.0, 100), 6.0 / 6.3),
        (lambda: rng.uniform(size=50), 0.5),
        (lambda: rng.choice([0.0, 1.0], 30), 0.5),
    ):
        misses = sum(bounded_mean_lower(draw()) > mean for _ in range(RUNS))
        assert misses / RUNS <= MISS_TOLERANCE


def test_it_is_near_the_normal_margin_where_the_values_spread():
    rng = np.random.default_rng(2)
    u = rng.beta(20.0, 20.0, 4000)
    margin = u.mean() - bounded_mean_lower(u)
    normal = u.mean() - _student_lower(u)
    assert normal < margin < 1.5 * normal


def test_values_all_at_the_top_come_near_the_exact_binomial_bound():
    # n values of 1 rule out a mean below 0.025^(1/n) and no more (a mass 1 - m at 0 is
    # missed by all n with probability m^n): the bound stays below that exact value and
    # leaves at most 20% more room above it
    assert bounded_mean_lower(np.array([])) == 0.0
    assert bounded_mean_lower(np.ones(2)) == 0.0
    for n in (3, 10, 50, 200, 4000):
        exact = 0.025 ** (1 / n)
        bound = bounded_mean_lower(np.ones(n))
        assert bound <= exact
        assert 1.0 - bound <= 1.2 * (1.0 - exact)


def _normal_js(shift: float) -> float:
    def terms(t: float) -> float:
        p, q = stats.norm.pdf(t), stats.norm.pdf(t, loc=shift)
        return 0.5 * p * np.log(2 * p / (p + q)) + 0.5 * q * np.log(2 * q / (p + q))

    return integrate.quad(terms, -15, shift + 15, limit=200)[0]


def test_the_certified_js_bound_from_the_optimal_logit_stays_below_js():
    # the optimal logit of N(0, 1) against N(4, 1) is log p/q = 8 - 4x; its bound on 200
    # samples a side is below JS (quadrature) in at least 97.5% of draws, and within a
    # tenth of it (200 samples cannot rule out a mass of 1.8% at the clip)
    true = _normal_js(4.0)
    rng = np.random.default_rng(3)
    bounds = []
    for _ in range(200):
        x, y = rng.normal(0.0, 1.0, 200), rng.normal(4.0, 1.0, 300)
        logits = (torch.as_tensor(8.0 - 4.0 * x), torch.as_tensor(8.0 - 4.0 * y))
        bounds.append(certified_lower(*logits, 4.0))
    bounds = np.array(bounds)
    assert np.mean(bounds > true) <= 0.025 + 4 * math.sqrt(0.025 * 0.975 / 200)
    assert true - 0.12 < np.median(bounds) < true


def test_the_difference_bound_holds_on_unequal_sorted_samples_with_a_rare_value():
    # P: 1 with probability 0.99 else 0; Q: 0 with probability 0.99 else 1; the mean
    # difference is 0.98. 150 against 400 values, each handed over sorted: the bound
    # shuffles them itself and pairs each P value with a block of about 2.7 Q values
    from divergences.neural._bounded_mean import difference_lower

    rng = np.random.default_rng(4)
    misses = 0
    for _ in range(RUNS):
        p = np.sort((rng.uniform(size=150) > 0.01).astype(float))
        q = np.sort((rng.uniform(size=400) < 0.01).astype(float))
        misses += difference_lower(p, (0.0, 1.0), q, (0.0, 1.0)) > 0.98
    assert misses / RUNS <= MISS_TOLERANCE
    # values outside a side's range are clipped to it: nothing outside is counted
    assert difference_lower(np.full(100, 5.0), (0.0, 1.0), np.zeros(100), (0.0, 1.0)) < 1.0


def test_the_clipped_w1_bound_holds_where_a_test_split_misses_a_rare_part():
    # the potential f(x) = x on P = 5 with probability 0.99 (else 0) and Q = 0: the mean
    # difference is 4.95; with 200 test values a side 13% of the splits see no 0 on P
    from divergences.neural._bounds import clipped_lower

    rng = np.random.default_rng(5)
    bounds = []
    for _ in range(400):
        choose_p = torch.as_tensor(5.0 * (rng.uniform(size=100) > 0.01))
        test_p = torch.as_tensor(5.0 * (rng.uniform(size=200) > 0.01))
        bounds.append(clipped_lower((choose_p, torch.zeros(100)), (test_p, torch.zeros(200))))
    bounds = np.array(bounds)
    assert np.mean(bounds > 4.95) <= 0.025 + 4 * math.sqrt(0.025 * 0.975 / 400)
    assert np.median(bounds) > 4.7
