"""Histograms of the segments against numpy's own counts, and JS against SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon

from divergences.experiments.histograms import MAX_BINS, histogram_js, segment_histograms
from divergences.families import segment_samples


def test_histogram_js_against_scipy_histograms():
    # far from bin edges, linear binning of samples at x = 0 and x = 0.05 puts
    # all of P in one bin and Q half in each of two: compare with numpy counts
    p = segment_samples(torch.tensor(0.0, dtype=torch.float64), 4000, seed=0)
    q = segment_samples(torch.tensor(0.05, dtype=torch.float64), 4000, seed=1)
    rows_p = np.clip((p[:, 1].numpy() * 10).astype(int), 0, 9)
    rows_q = np.clip((q[:, 1].numpy() * 10).astype(int), 0, 9)
    hist_p = np.zeros((3, 10))
    hist_q = np.zeros((3, 10))
    np.add.at(hist_p, (1, rows_p), 1.0)
    np.add.at(hist_q, (1, rows_q), 0.5)
    np.add.at(hist_q, (2, rows_q), 0.5)
    expected = jensenshannon(hist_p.ravel(), hist_q.ravel()) ** 2
    np.testing.assert_allclose(float(histogram_js(p, q)), expected, rtol=1e-10)


@pytest.mark.parametrize("theta", [0.0, 0.5, -1.0, 2.0])
def test_samples_on_bin_centres_match_numpy_histogram2d(theta):
    p = np.asarray(segment_samples(0.0, 3000, seed=0))
    q = np.asarray(segment_samples(theta, 3000, seed=1))
    hist_p, hist_q = segment_histograms(p, q, bin_width=0.25)
    edges_x = np.arange(-2.625, 2.75, 0.25)  # bins centred on multiples of 0.25
    edges_y = np.linspace(0, 1, 11)
    ref_p = np.histogram2d(p[:, 0], p[:, 1], bins=(edges_x, edges_y))[0].ravel()
    ref_q = np.histogram2d(q[:, 0], q[:, 1], bins=(edges_x, edges_y))[0].ravel()
    np.testing.assert_allclose(np.sort(hist_p[hist_p > 0]), np.sort(ref_p[ref_p > 0]))
    np.testing.assert_allclose(np.sort(hist_q[hist_q > 0]), np.sort(ref_q[ref_q > 0]))
    expected = jensenshannon(ref_p, ref_q) ** 2
    got = float(histogram_js(p, q, bin_width=0.25))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    if theta:  # disjoint bins: exactly log 2
        np.testing.assert_allclose(got, math.log(2), rtol=1e-12)


def test_gradient_flows_within_a_bin_and_not_across():
    theta = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    p = segment_samples(0.0, 500, seed=0)
    value = histogram_js(torch.as_tensor(p), segment_samples(theta, 500, seed=1))
    value.backward()
    assert float(theta.grad) > 0
    far = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    histogram_js(torch.as_tensor(p), segment_samples(far, 500, seed=1)).backward()
    assert float(far.grad) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"bin_width": 0.0}, ValueError, "bin_width must be positive"),
        ({"bin_width": float("inf")}, ValueError, "bin_width must be finite"),
        ({"bin_width": 1e-9}, ValueError, f"more than {MAX_BINS} bins"),
        ({"y_bins": 0}, ValueError, "y_bins must be at least 1"),
    ],
)
def test_bad_bins_are_refused_before_allocating(kwargs, error, message):
    p = np.asarray(segment_samples(0.0, 10, seed=0))
    with pytest.raises(error, match=message):
        segment_histograms(p, p + np.array([1.0, 0.0]), **kwargs)


def test_samples_must_be_points_of_the_plane():
    with pytest.raises(ValueError, match=r"y must be \(n, 2\) points"):
        segment_histograms(np.zeros((3, 2)), np.zeros((3, 3)))
