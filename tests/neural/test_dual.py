"""wasserstein_dual: accuracy against closed forms and the LP, the certified lower bound
and the upper side, the rescaling of the critic, autograd, reproducibility, penalties.
Fixed seeds, statistical tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import divergences as dv
from divergences.families import segment_samples

FAST = {"steps": 300, "batch_size": 256}


def translated_gaussians(n: int, dim: int, shift: float = 2.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    y = rng.normal(size=(n, dim))
    y[:, 0] += shift
    return x, y


def population_estimate(result, dim: int, shift: float = 2.0, n: int = 50_000) -> float:
    """The critic's E_P f - E_Q f on fresh samples: small evaluation noise."""
    x, y = translated_gaussians(n, dim, shift, seed=99)
    with torch.no_grad():
        return float(result.estimate(x, y))


def potential_value(result, x, y) -> float:
    """The certified potential's mean difference on the given samples."""
    with torch.no_grad():
        return float(result.potential(torch.as_tensor(x)).mean()) - float(
            result.potential(torch.as_tensor(y)).mean()
        )


def test_estimate_approaches_closed_form_and_exact_lp(device):
    x, y = translated_gaussians(3000, 2)
    result = dv.wasserstein_dual(x, y, seed=0, device=device, **FAST)
    # closed form 2; the estimate within the test split's noise
    assert abs(result.distance - 2.0) < 4 * result.stderr + 0.03
    fresh_x, fresh_y = translated_gaussians(50_000, 2, seed=99)
    assert abs(potential_value(result, fresh_x, fresh_y) - 2.0) < 0.03
    # the exact LP between these samples (d = 2: the empirical W1 is close to W1)
    assert abs(result.distance - dv.wasserstein(x, y)) < 4 * result.stderr + 0.1
    # the certified bound and the upper side, as documented: the margin that holds for
    # every law of the clipped values is wider than Student's t on the mean difference
    # (600 test samples a side here), and not much wider
    test_p, test_q = result.held_out_index
    quantile = stats.t.ppf(0.975, min(len(test_p), len(test_q)) - 1)
    margin = result.distance - result.lower_bound
    assert 0.8 * quantile * result.stderr < margin < 2.0 * quantile * result.stderr
    assert result.lower_bound <= 2.0 <= result.upper_bound
    assert result.interval == (result.lower_bound, result.upper_bound)
    test_p, test_q = result.held_out_index
    # (computed on the float32 standardised samples: to their rounding)
    np.testing.assert_allclose(
        result.empirical_distance, dv.wasserstein(x[test_p], y[test_q]), rtol=1e-6
    )
    assert result.upper_bound > result.empirical_distance
    assert result.potential.kind == "ridge"  # the optimal potential is linear
    assert set(result.scores) == {
        "cones",
        "inverted_cones",
        "smoothed_cones",
        "smoothed_inverted_cones",
        "ridge",
    }
    assert 0 < result.stderr < 0.1
    # the critic: trained, calibrated, reported beside
    assert abs(result.critic_distance - 2.0) < 0.15
    assert abs(population_estimate(result, 2) - 2.0) < 0.06
    assert result.lipschitz > 0.9
    assert result.steps == 300
    assert result.device == device
    assert result.history.step[-1] == 300
    assert len(result.history.objective) == 6  # windows of 50 steps


def test_rescaling_removes_the_soft_penalty_overestimate():
    x, y = translated_gaussians(3000, 2, seed=1)
    plain = dv.wasserstein_dual(x, y, seed=1, rescale=False, device="cpu", **FAST)
    rescaled = dv.wasserstein_dual(x, y, seed=1, device="cpu", **FAST)
    # GP optimum slope 1 + W / (2 lambda) = 1.1 for W = 2, lambda = 10
    assert population_estimate(plain, 2) > 2.1
    assert abs(population_estimate(rescaled, 2) - 2.0) < 0.04


def test_estimate_is_the_critics_and_the_distance_the_potentials():
    x, y = translated_gaussians(1000, 3)
    result = dv.wasserstein_dual(x, y, seed=0, device="cpu", **FAST)
    values = result.critic(torch.tensor(x))  # float64 in: cast on the way
    assert values.shape == (1000,)
    with torch.no_grad():
        direct = result.estimate(x, y)
    assert isinstance(direct, torch.Tensor)
    # on all samples vs held-out only: the same critic, the same scale
    assert abs(float(direct) - result.critic_distance) < 0.1
    test_p, test_q = result.held_out_index
    # (the estimate saw the float32 standardised samples: to their rounding)
    np.testing.assert_allclose(
        potential_value(result, x[test_p], y[test_q]), result.distance, rtol=1e-6
    )
    assert result.potential(torch.tensor(x)).dtype == torch.float64


def test_autograd_gives_the_sign_of_theta_on_segments(device):
    p_samples = segment_samples(0.0, 3000, seed=0)
    for theta in (1.0, -1.0):
        q_samples = segment_samples(theta, 3000, seed=1)
        result = dv.wasserstein_dual(p_samples, q_samples, seed=0, device=device, **FAST)
        assert abs(result.distance - abs(theta)) < 0.03
        theta_t = torch.tensor(theta, requires_grad=True)
        estimate = result.estimate(
            torch.from_numpy(segment_samples(0.0, 5000, seed=2)).float(),
            segment_samples(theta_t, 5000, seed=3),
        )
        estimate.backward()
        assert abs(theta_t.grad.item() - math.copysign(1.0, theta)) < 0.05


def test_same_seed_same_result_on_cpu():
    x, y = translated_gaussians(500, 2, seed=5)
    options = {"steps": 50, "batch_size": 64, "device": "cpu", "seed": 11}
    first, second = dv.wasserstein_dual(x, y, **options), dv.wasserstein_dual(x, y, **options)
    assert first.distance == second.distance
    assert first.interval == second.interval
    assert first.lipschitz == second.lipschitz
    assert first.potential.kind == second.potential.kind
    for a, b in zip(first.critic.parameters(), second.critic.parameters(), strict=True):
        assert torch.equal(a, b)
    third = dv.wasserstein_dual(x, y, **{**options, "seed": 12})
    assert third.distance != first.distance


@pytest.mark.parametrize("penalty", ["lp", "clip"])
def test_other_penalties_run(penalty):
    x, y = translated_gaussians(1000, 2, seed=6)
    result = dv.wasserstein_dual(x, y, penalty=penalty, seed=0, device="cpu", **FAST)
    assert math.isfinite(result.distance)
    assert 1.5 < result.distance < 2.3


def test_one_dimensional_and_tensor_inputs(device):
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.normal(size=1500), device=device)
    result = dv.wasserstein_dual(x, x + 1.5, seed=0, device=device, **FAST)
    assert abs(result.distance - 1.5) < 0.08
    estimate = result.estimate(x.requires_grad_(True), x.detach() + 1.5)
    assert estimate.dtype == torch.float32 and estimate.device == x.device
    estimate.backward()
    assert x.grad is not None


def test_estimate_checks_its_inputs():
    x, y = translated_gaussians(200, 2)
    result = dv.wasserstein_dual(x, y, steps=5, device="cpu")
    with pytest.raises(ValueError, match="y must have d = 2 columns; got 3"):
        result.estimate(x, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="x must contain only finite"):
        result.estimate(np.full((4, 2), np.inf), y)


@pytest.mark.parametrize("factor", [1e-6, 1e-3, 1e3, 1e6])
@pytest.mark.parametrize("dim", [3, 9])  # one critic; two candidate critics
def test_the_estimate_moves_exactly_with_the_data(factor, dim):
    # W1(a x + c, a y + c) = a W1(x, y): with the same seed the networks see the same
    # standardised data, so every number scales by a to float64 rounding, and the
    # critic is the same function up to the change of variables.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, dim))
    y = rng.normal(size=(500, dim)) * 1.3 + 0.5
    offset = factor * rng.normal(size=dim) * 4
    options = {"steps": 60, "batch_size": 64, "seed": 3, "device": "cpu"}
    base = dv.wasserstein_dual(x, y, **options)
    moved = dv.wasserstein_dual(factor * x + offset, factor * y + offset, **options)
    names = ("distance", "stderr", "lower_bound", "upper_bound", "empirical_distance")
    for name in (*names, "train_distance", "critic_distance"):
        np.testing.assert_allclose(
            getattr(moved, name), factor * getattr(base, name), rtol=1e-9, err_msg=name
        )
    np.testing.assert_allclose(moved.interval, np.multiply(factor, base.interval), rtol=1e-9)
    for kind, score in base.scores.items():
        np.testing.assert_allclose(moved.scores[kind], factor * score, rtol=1e-9, atol=1e-300)
    with torch.no_grad():
        u = base.potential(torch.tensor(x[:50]))
        v = moved.potential(torch.tensor(factor * x[:50] + offset))
    u, v = (u - u.mean()).numpy(), (v - v.mean()).numpy()
    np.testing.assert_allclose(v, factor * u, rtol=1e-5, atol=1e-6 * factor * np.abs(u).max())
    np.testing.assert_allclose(moved.lipschitz, base.lipschitz, rtol=1e-6)
    with torch.no_grad():
        f = base.critic(torch.tensor(x[:50])).double()
        g = moved.critic(torch.tensor(factor * x[:50] + offset)).double()
    f, g = (f - f.mean()).numpy(), (g - g.mean()).numpy()  # float32 critics: to their rounding
    np.testing.assert_allclose(g, factor * f, rtol=1e-5, atol=1e-5 * factor * np.abs(f).max())


def test_the_batch_forms_and_the_discriminator_follow_the_data_too():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2)) + np.array([1.0, 0.0])
    options = {"steps": 40, "batch_size": 64, "seed": 0, "device": "cpu"}
    base = dv.wasserstein_dual_batch(x, [y, y + 1], **options)
    moved = dv.wasserstein_dual_batch(1e4 * x, [1e4 * y, 1e4 * (y + 1)], **options)
    for a, b in zip(base, moved, strict=True):
        np.testing.assert_allclose(b.distance, 1e4 * a.distance, rtol=1e-9)
    js = dv.js_dual(x, y, **options)
    js_moved = dv.js_dual(1e-5 * x - 3, 1e-5 * y - 3, **options)
    # per-coordinate spreads (one more rounding before float32): to float32's rounding
    assert js_moved.divergence == pytest.approx(js.divergence, rel=1e-6)
    assert js_moved.interval == pytest.approx(js.interval, rel=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(
            js_moved.probability(1e-5 * x[:20] - 3).numpy(),
            js.probability(x[:20]).numpy(),
            rtol=1e-5,
        )


@pytest.mark.parametrize(
    "convert",
    [
        lambda a: a.astype(np.float16),
        lambda a: a.astype(np.float32),
        lambda a: torch.tensor(a, dtype=torch.float16),
        lambda a: torch.tensor(a, dtype=torch.bfloat16),
        lambda a: torch.tensor(a, dtype=torch.float64),
        lambda a: a.astype(np.int64),
    ],
)
def test_any_real_dtype_in_floats_out(convert):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 2)) * 3, rng.normal(size=(300, 2)) * 3 + np.array([4.0, 0.0])
    result = dv.wasserstein_dual(convert(x), convert(y), steps=30, seed=0, device="cpu")
    for value in (result.distance, result.stderr, *result.interval, result.lipschitz):
        assert type(value) is float and math.isfinite(value)
    assert result.critic(convert(x)).dtype == torch.float32


def test_data_beyond_the_float32_range_are_standardised_first():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(800, 2)), rng.normal(size=(800, 2)) + np.array([2.0, 0.0])
    small = dv.wasserstein_dual(x, y, steps=40, seed=0, device="cpu")
    huge = dv.wasserstein_dual(1e200 * x, 1e200 * y, steps=40, seed=0, device="cpu")
    np.testing.assert_allclose(huge.distance, 1e200 * small.distance, rtol=1e-9)


def test_a_batch_too_far_for_float32_is_named():
    # the standardisation comes from the first draws; a later batch 1e45 spreads away
    # from them cannot be represented in float32 and is named, not trained on as inf
    calls = {"count": 0}

    def drifting(k):
        calls["count"] += 1
        return np.full((k, 1), 1e45 if calls["count"] > 3 else 0.0) + np.arange(k)[:, None]

    with pytest.raises(ValueError, match="x spans more than float32"):
        dv.wasserstein_dual(drifting, np.ones((100, 1)), steps=5, seed=0, device="cpu")


def test_accuracy_at_d32_with_a_small_budget():
    # N(0, I_32) against its translate by 1.5 (W1 = 1.5), 4000 samples a side, 600 steps
    # (300 for each candidate critic). Over seeds 1-5 the critic on 10^5 fresh samples was
    # 3.7% to 4.4% low (measured when this test was written): the tolerance allows 6%.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 32))
    y = rng.normal(size=(4000, 32)) + np.eye(32)[0] * 1.5
    result = dv.wasserstein_dual(x, y, steps=600, seed=0, device="cpu")
    fresh = np.random.default_rng(1).normal(size=(100_000, 32))
    with torch.no_grad():
        value = float(result.estimate(fresh, fresh + np.eye(32)[0] * 1.5))
    np.testing.assert_allclose(value, 1.5, rtol=0.06)


def test_intervals_cover_the_truth_over_seeds():
    # Small problems with known W1, one seed each: the certified lower bound is below the
    # truth in every run, and the interval holds it in at least five of six.
    from divergences.problems import ConesProblem, EmbeddedProblem

    problems = [
        EmbeddedProblem(4, ("laplace", 0.0, 1.0), ("normal", 0.8, 1.4), seed=s) for s in range(3)
    ] + [ConesProblem(2, 16, seed=s) for s in range(3)]
    covered = 0
    for seed, problem in enumerate(problems):
        truth = (
            problem.wasserstein(samples=200_000, seed=1).value
            if isinstance(problem, ConesProblem)
            else problem.wasserstein().value
        )
        x, y = problem.sample_p(1500, seed=seed), problem.sample_q(1500, seed=seed + 50)
        result = dv.wasserstein_dual(x, y, steps=300, seed=seed, device="cpu")
        assert result.lower_bound <= truth
        covered += result.lower_bound <= truth <= result.upper_bound
    assert covered >= 5


def test_the_lower_bound_holds_against_the_exact_lp():
    # d = 2: the exact LP of 3000 a side is W1 biased upwards by a few percent, so a bound
    # below it is not yet one below W1 (test_intervals_cover_the_truth_over_seeds checks the truth)
    from divergences.problems import ConesProblem

    problem = ConesProblem(2, 4)
    reference = dv.wasserstein(problem.sample_p(3000, seed=7), problem.sample_q(3000, seed=8))
    for seed in range(3):
        x, y = problem.sample_p(1000, seed=seed), problem.sample_q(1000, seed=seed + 20)
        result = dv.wasserstein_dual(x, y, steps=300, seed=seed, device="cpu")
        assert result.lower_bound <= reference
        assert result.distance > 0.8 * reference  # cones certify most of it


# (seed 2's test split has a mean difference 3.3 standard errors above the truth, the
# rare split for which a 97.5% bound fails: its sign is right, its bound is not tested)
@pytest.mark.parametrize("seed", [0, 1, 3, 4])
def test_the_sign_is_right_in_one_dimension(seed):
    # N(0, 1) against N(2, 1): the critic of seed 1 used to end at -W1, held there by the
    # two-sided penalty (turning its slope over passes through 0)
    rng = np.random.default_rng(101)
    x, y = rng.normal(0, 1, 2000), rng.normal(2, 1, 2000)
    result = dv.wasserstein_dual(x, y, seed=seed, steps=300, device="cpu")
    exact = dv.wasserstein(x, y)
    assert abs(result.distance - exact) < 4 * result.stderr
    assert abs(result.critic_distance - exact) < 4 * result.stderr + 0.05
    assert result.lower_bound <= 2.0 <= result.upper_bound


def test_the_critic_turns_its_slope_in_one_dimension():
    # N(0, 1) against N(0, 4): the optimal critic is a V, W1 = (2 - 1) sqrt(2 / pi); with
    # the two-sided penalty in d = 1 the critic stayed a line (mean difference 0)
    from divergences.neural import KantorovichDual

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(3000, 1)), 2 * rng.normal(size=(3000, 1))
    truth = math.sqrt(2 / math.pi)
    result = dv.wasserstein_dual(x, y, seed=0, steps=300, device="cpu")
    np.testing.assert_allclose(result.critic_distance, truth, rtol=0.1)
    values = result.critic(torch.tensor([[-4.0], [0.0], [4.0]], dtype=torch.float64))
    assert values[0] < values[1] > values[2]  # low where Q has its extra mass, both sides
    # the default resolves by dimension: one-sided in d = 1, two-sided from d = 2
    objective = KantorovichDual(None)
    norms = torch.tensor([0.5, 1.5])
    np.testing.assert_allclose(objective._excess(norms, 1), [0.0, 0.5])
    np.testing.assert_allclose(objective._excess(norms, 2), [-0.5, 0.5])


def test_a_narrow_coordinate_that_carries_the_distance_is_resolved():
    # W1 = 3, carried by a coordinate of spread 1 beside one of spread 10^8
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(0, 1e8, 4000), rng.normal(0, 1, 4000)])
    y = np.column_stack([rng.normal(0, 1e8, 4000), rng.normal(3, 1, 4000)])
    result = dv.wasserstein_dual(x, y, seed=0, steps=300, device="cpu")
    assert result.potential.kind == "ridge"
    np.testing.assert_allclose(result.distance, 3.0, rtol=0.05)
    assert result.lower_bound <= 3.0 <= result.upper_bound


def test_discrete_data_against_the_lp_between_the_atoms():
    # Bernoulli(0.5)^4 against Bernoulli(0.7)^4: every sample is one of 16 atoms (ties
    # everywhere); W1 is the exact LP between the atoms' masses
    import itertools

    import ot

    atoms = np.array(list(itertools.product((0.0, 1.0), repeat=4)))
    mass_p = np.full(len(atoms), 1 / len(atoms))
    mass_q = np.prod(np.where(atoms == 1, 0.7, 0.3), axis=1)
    truth = ot.emd2(mass_p, mass_q, ot.dist(atoms, atoms, metric="euclidean"))
    rng = np.random.default_rng(5)
    x = (rng.random((3000, 4)) < 0.5).astype(float)
    y = (rng.random((3000, 4)) < 0.7).astype(float)
    result = dv.wasserstein_dual(x, y, steps=300, seed=0, device="cpu")
    assert result.lower_bound <= truth <= result.upper_bound
    # 300 steps on 1800 training rows: 9% low here (the benchmark's default call on
    # the 5-cube, 4000 a side: within 1%)
    np.testing.assert_allclose(result.distance, truth, rtol=0.15)


def test_heavy_tails_widen_the_interval_and_keep_the_bound():
    # Cauchy translated by 1 in d = 2: W1 = 1 (the translation couples them at cost 1 and
    # bounded cut-offs of the coordinate certify it), but no mean exists, so a linear
    # potential has no mean difference; the bound must stay below 1, and it does
    rng = np.random.default_rng(6)
    x, y = rng.standard_cauchy((3000, 2)), rng.standard_cauchy((3000, 2))
    y[:, 1] += 1.0
    result = dv.wasserstein_dual(x, y, steps=300, seed=0, device="cpu")
    assert 0.0 < result.lower_bound <= 1.0 <= result.upper_bound
    assert result.distance > 0.3  # the clipped ridge still certifies part of it


@pytest.mark.parametrize("case", ["point_mass", "constant_coordinate"])
def test_degenerate_spreads_neither_break_nor_bias_it(case):
    # a point mass (zero spread on one side: W1 to N(0, I_2) is E|z| = sqrt(pi / 2)) and a
    # coordinate equal to 7 in every sample (zero spread on both: W1 = the translation, 1)
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2))
    if case == "point_mass":
        x, truth = np.zeros_like(x), math.sqrt(math.pi / 2)
    else:
        y[:, 0] += 1.0
        x, y, truth = np.c_[x, np.full(3000, 7.0)], np.c_[y, np.full(3000, 7.0)], 1.0
    result = dv.wasserstein_dual(x, y, steps=300, seed=0, device="cpu")
    assert result.lower_bound <= truth <= result.upper_bound
    np.testing.assert_allclose(result.distance, truth, rtol=0.1)


@pytest.mark.parametrize("gap", [0.1, 1.0, 3.7])
def test_two_point_masses_keep_the_bound_below_w1_despite_rounding(gap):
    """Two point masses sqrt(2) gap apart: every test value is the same, the standard error
    0, and the potential's float64 mean difference came out 85 units in the last place
    above W1 (closed form, and POT's LP on the same points), a lower bound above the
    truth and above the interval's upper end. The bound allows for rounding, and for
    what 60 test samples a side cannot rule out: a mass of up to 6% elsewhere, which
    leaves the bound within 15% of W1."""
    import ot

    x, y = np.zeros((300, 2)), np.full((300, 2), gap)
    truth = math.sqrt(2.0) * gap
    np.testing.assert_allclose(ot.emd2([], [], ot.dist(x[:5], y[:5], metric="euclidean")), truth)
    result = dv.wasserstein_dual(x, y, steps=100, seed=0, device="cpu")
    assert result.lower_bound <= truth <= result.upper_bound
    assert result.lower_bound <= result.distance <= result.upper_bound
    assert result.lower_bound > 0.85 * truth


def test_equal_laws_give_a_distance_of_at_least_zero_and_the_mean_difference_behind_it():
    """Two samples of one law, 400 a side (80 test samples): this seed's potential has a
    negative held-out mean difference, -0.043 (recomputed here from the potential and the
    test rows); W1 is never negative, so ``distance`` is 0 and the bound stays 0."""
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    result = dv.wasserstein_dual(x, y, steps=200, seed=0, device="cpu")
    rows_p, rows_q = result.held_out_index
    with torch.no_grad():
        raw = float(result.potential(x[rows_p]).mean() - result.potential(y[rows_q]).mean())
    assert raw < 0.0
    assert result.distance == 0.0 == result.lower_bound
    assert result.upper_bound > 0.0
    # where the mean difference is positive it is the distance itself
    shifted = dv.wasserstein_dual(x, y + 1.0, steps=200, seed=0, device="cpu")
    rows_p, rows_q = shifted.held_out_index
    with torch.no_grad():
        raw = float(
            shifted.potential(x[rows_p]).mean() - shifted.potential(y[rows_q] + 1.0).mean()
        )
    # the certified side reads the test points in float32, standardised
    np.testing.assert_allclose(shifted.distance, raw, rtol=1e-6)


SHARED_FIELDS = ["history", "held_out_index", "options", "steps", "seconds", "device"]


def test_the_result_shares_the_neural_result_fields_and_keeps_its_repr():
    from dataclasses import fields

    from divergences.neural import NeuralResult

    x, y = translated_gaussians(400, 2)
    result = dv.wasserstein_dual(x, y, steps=30, seed=0, device="cpu")
    assert isinstance(result, NeuralResult)
    assert [entry.name for entry in fields(NeuralResult)] == SHARED_FIELDS
    # declared once, in the base: the result adds its own fields to them
    assert set(SHARED_FIELDS) <= {entry.name for entry in fields(dv.DualResult)}
    assert not set(SHARED_FIELDS) & set(dv.DualResult.__annotations__)
    assert result.steps == 30 and result.device == "cpu" and result.options.steps == 30
    # the repr of the dataclass before the base: the estimate first, the networks left out
    shown = ["distance", "stderr", "lower_bound", "empirical_distance", "upper_bound"]
    shown += ["train_distance", "critic_distance", "lipschitz", "pvalue"]
    shown += ["steps", "seconds", "device"]
    listing = ", ".join(f"{name}={getattr(result, name)!r}" for name in shown)
    assert repr(result) == f"DualResult({listing})"


def test_the_default_architecture_is_public():
    import divergences.neural as neural
    from divergences.neural._networks import default_architecture

    assert "default_architecture" in neural.__all__
    assert neural.default_architecture is default_architecture
    assert neural.default_architecture(2) == [(128, 3, "leaky_relu")]
    assert neural.default_architecture(5) == [(128, 3, "leaky_relu"), (128, 3, "silu")]


def test_a_handful_of_test_samples_states_no_lower_bound():
    """12 a side leaves 2 test samples a side: too few to bound anything at 97.5%, so the
    lower bound is 0 (W1 = 1 here, closed form); 200 a side (40 test samples) states one
    below W1 = 4, and 1000 a side one near it."""
    rng = np.random.default_rng(1000)
    x, y = rng.normal(0.0, 1.0, (12, 1)), rng.normal(1.0, 1.0, (12, 1))
    result = dv.wasserstein_dual(x, y, seed=0, steps=200)
    assert result.lower_bound == 0.0
    assert result.upper_bound >= result.empirical_distance
    rng = np.random.default_rng(7)
    x, y = rng.normal(0.0, 1.0, (200, 1)), rng.normal(4.0, 1.0, (200, 1))
    stated = dv.wasserstein_dual(x, y, seed=0, steps=200)
    assert 0.0 < stated.lower_bound <= 4.0
    rng = np.random.default_rng(7)
    x, y = rng.normal(0.0, 1.0, (1000, 1)), rng.normal(4.0, 1.0, (1000, 1))
    assert 3.6 < dv.wasserstein_dual(x, y, seed=0, steps=200).lower_bound <= 4.0


@pytest.mark.parametrize("seed", [7, 11])
def test_the_lower_bound_holds_where_the_test_split_misses_a_rare_part(seed):
    """(5, 0) with probability 0.99, else 0, against 0, 1000 a side: W1 = 4.95 exactly.
    For these seeds the 200 test samples of P hold no point at 0, the mean difference is
    5 with a standard error of about 0, and a normal quantile put the bound at 5.0; the
    certified bound stays below 4.95 and the interval holds it."""
    rng = np.random.default_rng(900 + seed)
    far = rng.uniform(size=1000) > 0.01
    x = np.column_stack([5.0 * far, np.zeros(1000)])
    result = dv.wasserstein_dual(x, np.zeros((1000, 2)), seed=seed, steps=300, device="cpu")
    assert far[result.held_out_index[0]].all()
    assert result.distance > 4.99
    assert result.lower_bound <= 4.95 <= result.upper_bound
