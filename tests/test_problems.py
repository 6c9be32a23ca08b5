"""divergences.problems: the min-of-cones construction and the embedded one-dimensional
laws, checked against brute force, the exact LP, SciPy and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import divergences as dv
from divergences.problems import ConesProblem, EmbeddedProblem, draw_problem


@pytest.mark.parametrize(
    ("dim", "cones", "degree", "base"),
    [
        (2, 4, 8.0, "uniform"),
        (2, 64, 2.0, "normal"),
        (16, 16, 4.0, "uniform"),
        (64, 256, 8.0, "normal"),
    ],
)
def test_the_potential_falls_by_the_length_of_each_move(dim, cones, degree, base):
    problem = ConesProblem(dim, cones, seed=5, degree=degree, half_width=1.7, base=base)
    x, moved = problem.sample_plan(3000, seed=0)
    lengths = np.linalg.norm(x - moved, axis=1)
    np.testing.assert_allclose(
        problem.potential(x) - problem.potential(moved), lengths, rtol=1e-9, atol=1e-12
    )
    assert np.abs(moved).max() <= 1.7 and np.abs(x).max() <= 1.7
    # T(x) lies between the apex of x's cone and x: the move points at the apex
    values = np.linalg.norm(x[:, None] - problem.apexes[None], axis=-1) + problem.offsets
    apex = problem.apexes[values.argmin(axis=1)]
    cosine = np.einsum("nd,nd->n", x - moved, x - apex) / (
        lengths * np.linalg.norm(x - apex, axis=1) + 1e-300
    )
    assert np.all((lengths < 1e-12) | (cosine > 1 - 1e-9))


def test_each_move_ends_where_the_ray_leaves_the_cone_or_the_box():
    # brute force: walk each ray until another cone takes over or the box ends, then
    # bisect that step to the last bit
    problem = ConesProblem(2, 32, seed=1)
    x = problem.sample_p(40, seed=3)
    moved = problem.transport(x)
    for point, target in zip(x, moved, strict=True):
        values = np.linalg.norm(point - problem.apexes, axis=1) + problem.offsets
        k = values.argmin()
        apex = problem.apexes[k]
        direction = (point - apex) / np.linalg.norm(point - apex)

        def inside(r, k=k, point=point, direction=direction):
            z = point + r * direction
            owner = (np.linalg.norm(z - problem.apexes, axis=1) + problem.offsets).argmin()
            return bool(np.all(np.abs(z) <= 2.5)) and owner == k

        low, high = 0.0, 1e-3
        while inside(high):
            low, high = high, high + 1e-3
        for _ in range(60):
            middle = 0.5 * (low + high)
            low, high = (middle, high) if inside(middle) else (low, middle)
        exit_point = point + low * direction
        t = np.linalg.norm(point - apex) / np.linalg.norm(exit_point - apex)
        np.testing.assert_allclose(target, apex + t**8 * (exit_point - apex), atol=1e-9)


def test_the_paper_seed_draws_the_apexes_as_the_paper_does():
    problem = ConesProblem(8, 16)
    torch.manual_seed(987)
    apexes = 2.5 * (2 * torch.rand(16, 8) - 1)
    torch.manual_seed(987)
    offsets = 0.1 * torch.randn(16)
    np.testing.assert_array_equal(problem.apexes, apexes.double().numpy())
    np.testing.assert_array_equal(problem.offsets, offsets.double().numpy())


def test_the_truth_matches_the_exact_lp_where_samples_suffice():
    # D = 2 with 4 cones: the empirical W1 of 4000 points a side is close to W1
    problem = ConesProblem(2, 4)
    truth = problem.wasserstein(samples=400_000, seed=0)
    assert truth.stderr < 2e-3
    lp = dv.wasserstein(problem.sample_p(4000, seed=1), problem.sample_q(4000, seed=2))
    np.testing.assert_allclose(lp, truth.value, rtol=0.03)
    # and the plan's mean move is the potential's mean difference on the same points
    x, moved = problem.sample_plan(50_000, seed=4)
    np.testing.assert_allclose(
        np.linalg.norm(x - moved, axis=1).mean(),
        problem.potential(x).mean() - problem.potential(moved).mean(),
        rtol=1e-12,
    )


def test_a_broken_construction_is_reported():
    problem = ConesProblem(2, 8, seed=2)
    original = problem.transport
    # moves pulled towards the origin no longer follow the potential's rays
    object.__setattr__(problem, "transport", lambda x: 0.99 * original(x))
    with pytest.raises(RuntimeError, match="does not fall by the length of a move"):
        problem.wasserstein(samples=1000)


@pytest.mark.parametrize(
    ("law_p", "law_q", "expected"),
    [
        (("normal", 0.0, 1.0), ("normal", 1.5, 1.0), 1.5),
        # W1 of N(0, 1) and N(0, s^2): |1 - s| E|z| = |1 - s| sqrt(2 / pi)
        (("normal", 0.0, 1.0), ("normal", 0.0, 2.0), math.sqrt(2 / math.pi)),
        # W1 of U[-a, a] and its translate by 0.3 (a = sqrt 3): 0.3
        (("uniform", 0.0, 1.0), ("uniform", 0.3, 1.0), 0.3),
    ],
)
def test_embedded_truth_against_closed_forms(law_p, law_q, expected):
    problem = EmbeddedProblem(5, law_p, law_q, seed=3)
    np.testing.assert_allclose(problem.wasserstein().value, expected, rtol=1e-8)


@pytest.mark.parametrize(
    "names", [("laplace", "skewed"), ("mixture", "uniform"), ("skewed", "mixture")]
)
def test_embedded_truth_against_scipy_on_the_projections(names):
    problem = EmbeddedProblem(6, (names[0], 0.0, 1.0), (names[1], 0.4, 1.3), noise=0.7, seed=8)
    x, y = problem.sample_p(200_000, seed=1), problem.sample_q(200_000, seed=2)
    direction = problem.direction
    sampled = stats.wasserstein_distance(x @ direction, y @ direction)
    np.testing.assert_allclose(problem.wasserstein().value, sampled, rtol=0.03)
    # across the direction both sides have the same noise
    across = np.eye(6) - np.outer(direction, direction)
    np.testing.assert_allclose((x @ across).std(0), (y @ across).std(0), rtol=0.02, atol=0.01)


def test_draw_problem_is_reproducible_and_varied():
    assert draw_problem("cones", 8, seed=3) == draw_problem("cones", 8, seed=3)
    drawn = [draw_problem("embedded", 8, seed=s) for s in range(12)]
    assert len({(p.law_p[0], p.law_q[0]) for p in drawn}) > 4
    assert all(isinstance(draw_problem("cones", 4, seed=s), ConesProblem) for s in range(3))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: ConesProblem(0, 4), ValueError, "dim"),
        (lambda: ConesProblem(2, 4, degree=0.5), ValueError, "degree must be at least 1"),
        (lambda: ConesProblem(2, 4, half_width=-1.0), ValueError, "half_width must be positive"),
        (lambda: ConesProblem(2, 4, base="beta"), ValueError, "base"),
        (lambda: ConesProblem(2, 4, seed=None), TypeError, "seed must be an integer"),
        (lambda: EmbeddedProblem(3, ("cauchy", 0, 1), ("normal", 0, 1)), ValueError, "law_p"),
        (lambda: EmbeddedProblem(3, ("normal", 0, 0), ("normal", 0, 1)), ValueError, "scale"),
        (lambda: EmbeddedProblem(3, "normal", ("normal", 0, 1)), TypeError, "law_p must be"),
        (lambda: draw_problem("spheres", 3, seed=0), ValueError, "family"),
        (lambda: ConesProblem(2, 4).sample_p(0), ValueError, "n"),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_box_too_wide_for_float32_apexes_is_refused_not_nan():
    """From about 3.4e38 the float32 apexes overflowed and the "exact" W1 came out NaN,
    which passed the identity check (NaN > 1e-9 is False)."""
    with pytest.raises(ValueError, match="half_width"):
        ConesProblem(2, 4, half_width=1e39)
    # within the range the construction scales with the box: W1 is homogeneous
    wide, unit = ConesProblem(2, 4, half_width=1e30), ConesProblem(2, 4, half_width=2.5)
    np.testing.assert_allclose(
        wide.wasserstein(samples=20_000).value / 4e29,
        unit.wasserstein(samples=20_000).value,
        rtol=0.05,
    )


def test_the_potential_and_the_map_check_their_points():
    """(4,) was read as two points, (3, 3) gave numpy's reshape error, no rows a
    concatenate error, and points outside the box went through the map unchanged."""
    problem = ConesProblem(2, 4)
    assert problem.potential(np.zeros((0, 2))).shape == (0,)
    assert problem.transport(np.zeros((0, 2))).shape == (0, 2)
    for bad in (np.zeros(4), np.zeros((3, 3))):
        with pytest.raises(ValueError, match=r"x must be points of shape \(n, 2\)"):
            problem.potential(bad)
    with pytest.raises(ValueError, match="finite"):
        problem.transport(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="box"):
        problem.transport(np.array([[9.0, 0.0]]))
    # a tensor is read as its values: the same as the array (a brute-force minimum here)
    x = problem.sample_p(5, seed=0)
    brute = np.min(np.linalg.norm(x[:, None] - problem.apexes, axis=2) + problem.offsets, axis=1)
    np.testing.assert_allclose(problem.potential(torch.tensor(x)), brute, rtol=1e-12)
