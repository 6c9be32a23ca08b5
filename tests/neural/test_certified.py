"""The certified potentials: 1-Lipschitz whatever their parameters, and the pieces that
fit, choose and bound them, against brute force, SciPy and the exact LP."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch
from scipy import stats

import divergences as dv
from divergences.neural import TrainingOptions
from divergences.neural._bounds import empirical_distance
from divergences.neural._certified import (
    ConePotential,
    ConeStack,
    RidgePotential,
    cone_minimum,
    fit_cones,
    fit_ridge,
    lower_confidence,
    projected_potential,
    ridge_starts,
    simultaneous_quantile,
    soft_cone_minimum,
    student_quantile,
)


def _pairs(dim: int, count: int, seed: int, scale: float = 3.0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(count, dim, generator=generator, dtype=torch.float64)
    # near pairs as well as far ones: the constant matters at every scale
    near = x + 1e-3 * torch.randn(count, dim, generator=generator, dtype=torch.float64)
    far = scale * torch.randn(count, dim, generator=generator, dtype=torch.float64)
    return x, torch.cat([near[: count // 2], far[count // 2 :]])


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("dim", [1, 3, 40])
def test_cones_are_1_lipschitz_for_any_parameters(sign, dim):
    generator = torch.Generator().manual_seed(dim)
    centres = 5 * torch.randn(64, dim, generator=generator, dtype=torch.float64)
    heights = 10 * torch.randn(64, generator=generator, dtype=torch.float64)
    center = torch.randn(dim, generator=generator, dtype=torch.float64)
    potential = ConePotential(center, torch.tensor(0.37), centres, heights, sign)
    x, y = _pairs(dim, 4000, seed=dim)
    gaps = (potential(x) - potential(y)).abs()
    assert bool(torch.all(gaps <= (x - y).norm(dim=1) * (1 + 1e-12) + 1e-12))  # rounding
    if dim < 10:  # and tight: some random pairs lie close to a ray from a tip
        assert float((gaps / (x - y).norm(dim=1)).max()) > 0.99


@pytest.mark.parametrize("dim", [1, 2, 25])
def test_ridges_are_1_lipschitz_even_from_steep_slopes(dim):
    generator = torch.Generator().manual_seed(dim)
    knots = torch.sort(torch.randn(50, generator=generator, dtype=torch.float64)).values
    slopes = 5 * torch.randn(49, generator=generator, dtype=torch.float64)  # clipped to [-1, 1]
    direction = torch.randn(dim, generator=generator, dtype=torch.float64) * 7
    ridge = RidgePotential(torch.zeros(dim), torch.tensor(2.0), direction, knots, slopes)
    x, y = _pairs(dim, 4000, seed=dim, scale=1.0)
    gaps = (ridge(x) - ridge(y)).abs()
    assert bool(torch.all(gaps <= (x - y).norm(dim=1) * (1 + 1e-12) + 1e-12))  # rounding
    # beyond the knots the ridge is flat
    unit = direction / direction.norm()
    far = torch.stack([100 * unit, 200 * unit])
    assert float(ridge(far)[0]) == float(ridge(far)[1])


def test_potentials_are_differentiable_in_the_samples():
    centres = torch.tensor([[0.0, 0.0], [3.0, 0.0]], dtype=torch.float64)
    potential = ConePotential(torch.zeros(2), torch.tensor(1.0), centres, torch.zeros(2), 1)
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    potential(x).sum().backward()
    # away from a tip the gradient is the unit vector from it; at a tip it is finite
    np.testing.assert_allclose(x.grad[0].numpy(), [1.0, 0.0], atol=1e-9)
    assert bool(torch.isfinite(x.grad).all())
    torch.autograd.gradcheck(lambda z: potential(z), (x.detach()[:1] + 0.3).requires_grad_())


def test_the_cone_fit_raises_the_mean_difference_towards_the_truth():
    # Q is P pulled to the origin: the optimal potential is the norm, a single cone
    # (W1 = E|x| / 2 for a contraction by 1/2, here 0.5 E|N(0, I_2)| = 0.5 sqrt(pi / 2));
    # inverted cones, concave pieces, cannot bend into it and certify less
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(1, 3000, 2)), dtype=torch.float32)
    y = torch.tensor(0.5 * rng.normal(size=(1, 3000, 2)), dtype=torch.float32)

    def sample(size, generator):
        rows_p = torch.randint(3000, (1, size), generator=generator)
        rows_q = torch.randint(3000, (1, size), generator=generator)
        return x[0][rows_p], y[0][rows_q]

    tuning = (
        torch.tensor(rng.normal(size=(1, 1000, 2)), dtype=torch.float32),
        torch.tensor(0.5 * rng.normal(size=(1, 1000, 2)), dtype=torch.float32),
    )
    stacks = fit_cones(
        sample, tuning, torch.Generator().manual_seed(0), TrainingOptions(steps=300, seed=0)
    )
    assert set(stacks) == {"cones", "inverted_cones", "smoothed_cones", "smoothed_inverted_cones"}
    cones = stacks["cones"]
    assert isinstance(cones, ConeStack) and cones.centres.shape == (1, 256, 2)
    fresh_p = torch.tensor(rng.normal(size=(20_000, 2)))
    fresh_q = torch.tensor(0.5 * rng.normal(size=(20_000, 2)))
    truth = 0.5 * math.sqrt(math.pi / 2)
    for name, stack in stacks.items():
        assert not stack.training  # evaluated: the plain minimum
        potential = ConePotential(
            torch.zeros(2),
            torch.tensor(1.0),
            stack.centres[0],
            stack.heights[0],
            int(stack.signs[0]),
        )
        value = float(potential(fresh_p).mean() - potential(fresh_q).mean())
        assert value <= truth + 0.02  # a lower bound, up to the fresh samples' noise
        if not name.endswith("inverted_cones"):
            assert value > 0.9 * truth


def test_the_smoothed_minimum_is_below_the_minimum_lipschitz_and_cools_to_it():
    # -tau log sum exp(-a_j / tau) lies in [min a - tau log M, min a], its gradient is an
    # average of unit vectors (norm <= 1), and the stack is the plain minimum once cooled
    rng = np.random.default_rng(3)
    centres = torch.tensor(rng.normal(size=(2, 5, 3)), dtype=torch.float64)
    heights = torch.tensor(rng.normal(size=(2, 5)), dtype=torch.float64)
    z = torch.tensor(rng.normal(size=(2, 40, 3)), dtype=torch.float64, requires_grad=True)
    temperature = torch.tensor([0.5, 0.0], dtype=torch.float64).reshape(2, 1, 1)
    soft = soft_cone_minimum(z, centres, heights, temperature)
    hard = cone_minimum(z.detach(), centres, heights)
    assert bool((soft[0] <= hard[0] + 1e-12).all())
    assert bool((soft[0] >= hard[0] - 0.5 * math.log(5) - 1e-12).all())
    np.testing.assert_allclose(soft[1].detach().numpy(), hard[1].numpy(), atol=1e-12)
    (gradient,) = torch.autograd.grad(soft.sum(), z)
    assert float(torch.linalg.vector_norm(gradient, dim=-1).max()) <= 1 + 1e-9
    stack = ConeStack(centres.float(), torch.ones(2), torch.tensor([0.5, 0.25]), cooling_steps=4)
    values = stack(z.detach().float())
    np.testing.assert_allclose(
        values.detach().numpy(),
        soft_cone_minimum(z.detach().float(), stack.centres, stack.heights, stack.temperature)
        .detach()
        .numpy(),
        rtol=1e-6,
    )
    for _ in range(4):
        stack.cool()
    assert float(stack.temperature.abs().max()) <= 1e-7
    stack.train()
    np.testing.assert_allclose(
        stack(z.detach().float()).detach().numpy(),
        cone_minimum(z.detach().float(), stack.centres, stack.heights).detach().numpy(),
        rtol=1e-6,
    )


def test_the_ridge_finds_the_direction_of_a_narrow_difference():
    # the laws differ in their fourth moment only, along one direction of R^12
    rng = np.random.default_rng(1)
    rotation, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    n = 8000

    def side(first: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.column_stack([first, rng.normal(size=(n, 11))]) @ rotation.T)

    x = side(rng.laplace(scale=1 / math.sqrt(2), size=n))
    y = side(rng.normal(size=n))
    starts = ridge_starts(x, y, [])
    direction, knots, slopes = fit_ridge(
        x[:6000], y[:6000], x[6000:], y[6000:], starts, torch.Generator().manual_seed(0)
    )
    assert abs(float(direction @ torch.tensor(rotation[:, 0]))) > 0.97
    assert float(slopes.abs().max()) <= 1.0
    assert knots.shape[0] == slopes.shape[0] + 1


def test_the_one_dimensional_potential_attains_the_sorted_distance():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=5000), rng.normal(0.7, 1.5, size=4000)
    knots, slopes = projected_potential(torch.tensor(a), torch.tensor(b), knots=8192)
    ridge = RidgePotential(torch.zeros(1), torch.tensor(1.0), torch.ones(1), knots, slopes.sign())
    value = float(ridge(torch.tensor(a[:, None])).mean() - ridge(torch.tensor(b[:, None])).mean())
    np.testing.assert_allclose(value, stats.wasserstein_distance(a, b), rtol=2e-3)


def test_the_empirical_distance_is_the_exact_lp():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(700, 3)), rng.normal(size=(600, 3)) + np.array([1.0, 0.0, 0.0])
    value, error = empirical_distance(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(value, dv.wasserstein(x, y), rtol=1e-9)
    assert 0 < error < 0.1
    a, b = rng.normal(size=(5000, 1)), rng.laplace(size=(3000, 1))
    value, _ = empirical_distance(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(value, stats.wasserstein_distance(a[:, 0], b[:, 0]), rtol=1e-9)


def test_confidence_bounds_follow_the_normal_quantiles():
    assert simultaneous_quantile(1) == pytest.approx(stats.norm.ppf(0.975), rel=1e-12)
    assert simultaneous_quantile(3) == pytest.approx(stats.norm.ppf(1 - 0.025 / 3), rel=1e-12)
    x_p = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    x_q = torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64)
    expected = (2.5 - 0.5) - 2.0 * math.sqrt(
        statistics.variance([1, 2, 3, 4]) / 4 + statistics.variance([0, 1, 0.5]) / 3
    )
    assert lower_confidence(lambda z: z, x_p, x_q, 2.0) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("ratio", [1e-3, 0.3, 1.0, 10.0, 1e4])
@pytest.mark.parametrize(("count_p", "count_q"), [(2, 2), (3, 8), (6, 6), (40, 7), (2000, 2000)])
def test_the_test_quantile_is_never_below_welchs(ratio, count_p, count_q):
    """Student's t with min(n) - 1 degrees of freedom against Welch-Satterthwaite's, for
    any ratio of the two variances (SciPy's t)."""
    terms = [ratio / count_p, 1.0 / count_q]
    welch = sum(terms) ** 2 / (terms[0] ** 2 / (count_p - 1) + terms[1] ** 2 / (count_q - 1))
    assert student_quantile(count_p, count_q) >= stats.t.ppf(0.975, welch) - 1e-12
    assert student_quantile(count_p, count_q) >= stats.norm.ppf(0.975)
    np.testing.assert_allclose(
        student_quantile(count_p, count_q), stats.t.ppf(0.975, min(count_p, count_q) - 1)
    )


@pytest.mark.parametrize("count", [2, 3, 6])
def test_the_lower_bound_of_a_few_test_samples_holds_at_its_level(count):
    """A 1-Lipschitz f(x) = x on N(0, 1) against N(1, 1) (W1 = 1), ``count`` test
    samples a side, 20 000 draws: the mean difference less ``student_quantile`` standard
    errors is above W1 in at most 2.5% of draws (the normal 1.96 in 4% to 10%)."""
    rng = np.random.default_rng(count)
    x_p = rng.normal(1.0, 1.0, size=(20_000, count))
    x_q = rng.normal(0.0, 1.0, size=(20_000, count))
    mean = x_p.mean(axis=1) - x_q.mean(axis=1)
    stderr = np.sqrt(x_p.var(axis=1, ddof=1) / count + x_q.var(axis=1, ddof=1) / count)
    above = np.mean(mean - student_quantile(count, count) * stderr > 1.0)
    normal = np.mean(mean - stats.norm.ppf(0.975) * stderr > 1.0)
    assert above <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / 20_000)
    assert normal > 0.03  # the case the quantile is for: the normal one fails here
