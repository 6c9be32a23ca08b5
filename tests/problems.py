"""Problems whose answers are known in closed form, shared by the tests.

Each entry is worked out by hand, independently of the package.
"""

from __future__ import annotations

import math

import numpy as np

LOG2 = math.log(2.0)

# (p, q, KL(p || q), JS(p, q)) with p, q probability vectors (or weights).
PROBABILITY_PROBLEMS = [
    # disjoint supports: KL infinite, JS exactly log 2
    ([1.0, 0.0], [0.0, 1.0], math.inf, LOG2),
    ([0.2, 0.8, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5], math.inf, LOG2),
    # identical distributions
    ([0.25, 0.25, 0.5], [0.25, 0.25, 0.5], 0.0, 0.0),
    # unnormalised weights describe the same distributions as [1/2, 1/2], [1/4, 3/4]
    (
        [2.0, 2.0],
        [1.0, 3.0],
        0.5 * math.log(2.0) + 0.5 * math.log(2.0 / 3.0),
        0.5 * (0.5 * math.log(0.5 / 0.375) + 0.5 * math.log(0.5 / 0.625))
        + 0.5 * (0.25 * math.log(0.25 / 0.375) + 0.75 * math.log(0.75 / 0.625)),
    ),
    # p has a zero where q does not: 0 log 0 = 0 keeps KL finite
    (
        [0.0, 1.0],
        [0.5, 0.5],
        math.log(2.0),
        0.5 * math.log(4.0 / 3.0) + 0.25 * math.log(2.0) + 0.25 * math.log(2.0 / 3.0),
    ),
]

# Gaussians: (mean_p, cov_p, mean_q, cov_q, KL(p || q), W2(p, q)), worked by hand.
GAUSSIAN_PROBLEMS = [
    # 1-D: KL = log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2, W2^2 = dm^2 + ds^2
    (
        [1.0],
        [[4.0]],
        [-1.0],
        [[1.0]],
        math.log(1.0 / 2.0) + (4.0 + 4.0) / 2.0 - 0.5,
        math.sqrt(4.0 + 1.0),
    ),
    # diagonal covariances commute: W2^2 = |dm|^2 + sum (sqrt(a) - sqrt(b))^2
    (
        [0.0, 0.0],
        np.diag([1.0, 9.0]).tolist(),
        [3.0, 4.0],
        np.diag([4.0, 1.0]).tolist(),
        0.5 * (1 / 4 + 9 + (9 / 4 + 16) - 2 + math.log(4.0 / 9.0)),
        math.sqrt(25.0 + 1.0 + 4.0),
    ),
]

# For the k-NN estimators: P = N(0, I_d) against Q = N(mean_q, cov_q), n = m = 10^4,
# with an absolute tolerance for the default estimator: |bias| + 4 sd, both measured
# over 10 other seeds (bias / sd in the comments). The sd grows where Q is narrow,
# with the spread of log p/q under P.
KNN_GAUSSIAN_PROBLEMS = [
    ([1.0], [[1.0]], 0.09),  # KL = 0.5: +0.007 / 0.021
    ([0.0], [[0.25]], 0.09),  # KL = (4 - 1 + log 0.25) / 2 = 0.807: +0.010 / 0.020
    ([0.5, -0.5], [[1.0, 0.3], [0.3, 0.5]], 0.26),  # KL = 1.024: +0.035 / 0.056
    ([0.0] * 5, np.diag([0.25, 0.25, 1.0, 1.0, 1.0]).tolist(), 0.16),  # 1.614: +0.012 / 0.037
    (
        [1.0, 0.0, 0.0, 0.0, 0.0],
        np.diag([2.0, 1.0, 1.0, 0.5, 1.0]).tolist(),
        0.06,
    ),  # 0.5: 0.000 / 0.014
]
