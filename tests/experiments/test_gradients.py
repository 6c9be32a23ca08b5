"""The headline experiment's claims, checked at a few theta with fixed seeds.

References: the closed forms (W = |theta|, JS = log 2, dJS/dtheta = 0 off 0)
and the exact LP.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from divergences.experiments import gradients
from divergences.neural import TrainingOptions

LOG2 = math.log(2.0)
THETAS = (-1.0, 0.05, 0.5, 1.5)


@pytest.fixture(scope="module")
def sweep():
    networks = gradients.NETWORKS.replace(steps=400, device="cpu")
    result = gradients.gradient_sweep(THETAS, samples=600, seeds=1, networks=networks)
    return {(r.method, r.theta): r for r in result.rows}


def test_sweep_has_every_method_at_every_theta(sweep):
    for method in gradients.METHODS:
        for theta in THETAS:
            assert (method, theta) in sweep


@pytest.mark.parametrize("theta", [-1.0, 0.5, 1.5])
def test_wasserstein_gradients_point_the_way(sweep, theta):
    # closed form dW/dtheta = sign(theta): the exact LP within 2%, the critic within 10%
    assert sweep[("w_exact", theta)].derivative == math.copysign(1.0, theta)
    np.testing.assert_allclose(sweep[("w_lp", theta)].derivative, np.sign(theta), atol=0.02)
    np.testing.assert_allclose(sweep[("w_critic", theta)].derivative, np.sign(theta), atol=0.1)
    np.testing.assert_allclose(sweep[("w_critic", theta)].value, abs(theta), rtol=0.05)


@pytest.mark.parametrize("theta", [-1.0, 0.5, 1.5])
def test_js_gradients_vanish_once_the_supports_separate(sweep, theta):
    assert sweep[("js_exact", theta)].derivative == 0.0
    # histograms one bin (0.1) or more apart: JS is exactly log 2, its gradient exactly 0
    np.testing.assert_allclose(sweep[("js_histogram", theta)].value, LOG2, rtol=1e-12)
    assert sweep[("js_histogram", theta)].derivative == 0.0
    # the discriminator separates the segments: JS near log 2 ...
    np.testing.assert_allclose(sweep[("js_discriminator", theta)].value, LOG2, rtol=0.01)
    # ... and the saturating generator loss has lost its gradient
    assert abs(sweep[("gan_saturating", theta)].derivative) < 0.05


def test_js_histogram_has_a_gradient_only_within_a_bin(sweep):
    # at theta = 0.05 the histograms still share a bin: JS < log 2 and it grows with theta
    row = sweep[("js_histogram", 0.05)]
    assert row.value < LOG2 - 0.1
    assert row.derivative > 1.0


def test_knn_kl_grows_with_the_gap(sweep):
    # consistent only for overlapping densities: on disjoint segments the k-NN KL is
    # finite, grows like d log|theta| (derivative about 2 / theta in d = 2)
    values = [sweep[("kl_knn", t)].value for t in (0.5, 1.5)]
    assert all(math.isfinite(v) for v in values) and values[1] > values[0]
    np.testing.assert_allclose(sweep[("kl_knn", 1.5)].derivative, 2 / 1.5, rtol=0.2)


def test_training_dynamics_w_reaches_zero_and_saturating_gan_stalls():
    networks = gradients.NETWORKS.replace(steps=40, device="cpu")
    trajectories = gradients.training_dynamics(
        (1.0,), iterations=25, learning_rate=0.1, samples=300, networks=networks
    )
    paths = {t.method: t.thetas for t in trajectories}
    assert all(len(path) == 26 for path in paths.values())
    assert abs(paths["w_lp"][-1]) < 0.15
    assert abs(paths["w_critic"][-1]) < 0.25
    assert paths["js_histogram"][-1] == 1.0  # no gradient at all
    # a vanishing gradient: stuck for the last 10 iterations, far from 0
    saturating = paths["gan_saturating"]
    assert abs(saturating[-1] - saturating[-11]) < 1e-3
    assert abs(saturating[-1]) > 0.3


def test_critic_picture_arrows(device):
    picture = gradients.critic_picture(
        samples=200, grid=20, networks=TrainingOptions(steps=200, device=device)
    )
    assert picture.critic.shape == (10, 20)
    assert isinstance(picture.critic, np.ndarray)
    assert picture.discriminator.min() >= 0 and picture.discriminator.max() <= 1
    critic = np.linalg.norm(picture.directions["critic"], axis=1)
    saturating = np.linalg.norm(picture.directions["saturating"], axis=1)
    # the critic's slope is about 1 everywhere; the saturating loss's gradient vanishes
    np.testing.assert_allclose(np.median(critic), 1.0, atol=0.2)
    assert np.median(saturating) < 0.05
    # the critic moves Q (on the right) towards P (on the left)
    assert np.all(picture.directions["critic"][:, 0] < 0)


def test_batched_timing_reports_a_ratio():
    networks = gradients.NETWORKS.replace(steps=20, device="cpu")
    timing = gradients.batched_timing(count=3, rounds=1, networks=networks)
    assert timing.count == 3
    assert timing.ratio == pytest.approx(timing.stack_seconds / timing.one_seconds)


def test_every_experiment_trains_with_the_options_it_is_given():
    # Non-default width, batch size and steps must reach the networks: the
    # estimators record the options they trained with, and the networks' shapes.
    networks = TrainingOptions(width=12, depth=1, batch_size=48, steps=7, device="cpu")
    expected = {"width": 12, "depth": 1, "batch_size": 48, "steps": 7}

    def check(recorded):
        assert {key: recorded[key] for key in expected} == expected

    check(gradients.gradient_sweep((1.0,), samples=100, seeds=1, networks=networks).networks)
    check(gradients.critic_picture(samples=100, grid=4, networks=networks).networks)
    check(gradients.batched_timing(count=2, rounds=1, networks=networks).networks)
    # the dynamics train the critic alone (trained_critics), each step with the options
    seen = []
    original = gradients.trained_critics

    def spy(*args, **kwargs):
        (critic,) = original(*args, **kwargs)
        seen.append((kwargs["options"], critic))
        return [critic]

    gradients.trained_critics = spy
    try:
        gradients.training_dynamics((1.0,), iterations=2, samples=50, networks=networks)
    finally:
        gradients.trained_critics = original
    assert len(seen) == 2
    for options, critic in seen:
        check({**dataclasses.asdict(options), **{"width": critic.width}})
