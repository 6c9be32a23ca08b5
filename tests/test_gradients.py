"""The headline experiment's claims, checked at a few theta with fixed seeds.

References: the closed forms (W = |theta|, JS = log 2, dJS/dtheta = 0 off 0)
and the exact LP.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from divergences import gradients
from divergences.families import segment_samples

LOG2 = math.log(2.0)
THETAS = (-1.0, 0.05, 0.5, 1.5)


@pytest.fixture(scope="module")
def sweep():
    rows = gradients.gradient_sweep(THETAS, samples=600, seeds=1, steps=400, device="cpu")
    return {(r["method"], r["theta"]): r for r in rows}


def test_sweep_has_every_method_at_every_theta(sweep):
    for method in gradients.METHODS:
        for theta in THETAS:
            assert (method, theta) in sweep


@pytest.mark.parametrize("theta", [-1.0, 0.5, 1.5])
def test_wasserstein_gradients_point_the_way(sweep, theta):
    # closed form dW/dtheta = sign(theta): the exact LP within 2%, the critic within 10%
    assert sweep[("w_exact", theta)]["derivative"] == math.copysign(1.0, theta)
    np.testing.assert_allclose(sweep[("w_lp", theta)]["derivative"], np.sign(theta), atol=0.02)
    np.testing.assert_allclose(sweep[("w_critic", theta)]["derivative"], np.sign(theta), atol=0.1)
    np.testing.assert_allclose(sweep[("w_critic", theta)]["value"], abs(theta), rtol=0.05)


@pytest.mark.parametrize("theta", [-1.0, 0.5, 1.5])
def test_js_gradients_vanish_once_the_supports_separate(sweep, theta):
    assert sweep[("js_exact", theta)]["derivative"] == 0.0
    # histograms one bin (0.1) or more apart: JS is exactly log 2, its gradient exactly 0
    np.testing.assert_allclose(sweep[("js_histogram", theta)]["value"], LOG2, rtol=1e-12)
    assert sweep[("js_histogram", theta)]["derivative"] == 0.0
    # the discriminator separates the segments: JS near log 2 ...
    np.testing.assert_allclose(sweep[("js_discriminator", theta)]["value"], LOG2, rtol=0.01)
    # ... and the saturating generator loss has lost its gradient
    assert abs(sweep[("gan_saturating", theta)]["derivative"]) < 0.05


def test_js_histogram_has_a_gradient_only_within_a_bin(sweep):
    # at theta = 0.05 the histograms still share a bin: JS < log 2 and it grows with theta
    row = sweep[("js_histogram", 0.05)]
    assert row["value"] < LOG2 - 0.1
    assert row["derivative"] > 1.0


def test_knn_kl_grows_with_the_gap(sweep):
    # consistent only for overlapping densities: on disjoint segments the k-NN KL is
    # finite, grows like d log|theta| (derivative about 2 / theta in d = 2)
    values = [sweep[("kl_knn", t)]["value"] for t in (0.5, 1.5)]
    assert all(math.isfinite(v) for v in values) and values[1] > values[0]
    np.testing.assert_allclose(sweep[("kl_knn", 1.5)]["derivative"], 2 / 1.5, rtol=0.2)


def test_histogram_js_against_scipy_histograms():
    # far from bin edges, linear binning of samples at x = 0 and x = 0.05 puts
    # all of P in one bin and Q half in each of two: compare with numpy counts
    p = segment_samples(torch.tensor(0.0, dtype=torch.float64), 4000, seed=0)
    q = segment_samples(torch.tensor(0.05, dtype=torch.float64), 4000, seed=1)
    from scipy.spatial.distance import jensenshannon

    rows_p = np.clip((p[:, 1].numpy() * 10).astype(int), 0, 9)
    rows_q = np.clip((q[:, 1].numpy() * 10).astype(int), 0, 9)
    hist_p = np.zeros((3, 10))
    hist_q = np.zeros((3, 10))
    np.add.at(hist_p, (1, rows_p), 1.0)
    np.add.at(hist_q, (1, rows_q), 0.5)
    np.add.at(hist_q, (2, rows_q), 0.5)
    expected = jensenshannon(hist_p.ravel(), hist_q.ravel()) ** 2
    np.testing.assert_allclose(float(gradients.histogram_js(p, q)), expected, rtol=1e-10)


def test_training_dynamics_w_reaches_zero_and_saturating_gan_stalls():
    rows = gradients.training_dynamics(
        (1.0,), iterations=25, learning_rate=0.1, inner_steps=40, samples=300, device="cpu"
    )
    paths = {r["method"]: r["thetas"] for r in rows}
    assert all(len(path) == 26 for path in paths.values())
    assert abs(paths["w_lp"][-1]) < 0.15
    assert abs(paths["w_critic"][-1]) < 0.25
    assert paths["js_histogram"][-1] == 1.0  # no gradient at all
    # a vanishing gradient: stuck for the last 10 iterations, far from 0
    saturating = paths["gan_saturating"]
    assert abs(saturating[-1] - saturating[-11]) < 1e-3
    assert abs(saturating[-1]) > 0.3


def test_critic_picture_arrows():
    picture = gradients.critic_picture(samples=200, steps=200, grid=20, device="cpu")
    assert picture["critic"].shape == (10, 20)
    assert picture["discriminator"].min() >= 0 and picture["discriminator"].max() <= 1
    critic = np.linalg.norm(picture["directions"]["critic"], axis=1)
    saturating = np.linalg.norm(picture["directions"]["saturating"], axis=1)
    # the critic's slope is about 1 everywhere; the saturating loss's gradient vanishes
    np.testing.assert_allclose(np.median(critic), 1.0, atol=0.2)
    assert np.median(saturating) < 0.05
    # the critic moves Q (on the right) towards P (on the left)
    assert np.all(picture["directions"]["critic"][:, 0] < 0)


def test_batched_timing_reports_a_ratio():
    timing = gradients.batched_timing(count=3, steps=20, rounds=1, device="cpu")
    assert timing["count"] == 3
    assert timing["ratio"] == pytest.approx(timing["stack_seconds"] / timing["one_seconds"])


def test_gradients_command_writes_results(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "divergences",
            "gradients",
            "--quick",
            "--device",
            "cpu",
            "--no-progress",
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "w_critic" in result.stdout
    for name in (
        "gradients.json",
        "gradients.csv",
        "gradients.png",
        "dynamics.png",
        "critic_2d.png",
    ):
        assert (tmp_path / "out" / name).stat().st_size > 0
    payload = json.loads((tmp_path / "out" / "gradients.json").read_text())
    assert payload["summary"]["kl_exact"]["value"][0] == "inf"


def test_gradients_command_rejects_bad_seeds():
    result = subprocess.run(
        [sys.executable, "-m", "divergences", "gradients", "--seeds", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "--seeds must be at least 1" in result.stderr


def test_gradients_command_without_matplotlib_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    from divergences import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    assert cli.main(["gradients", "--quick"]) == 1
    assert "pip install 'divergences[bench]'" in capsys.readouterr().err
