"""divergences: how far apart two probability distributions are, and what the gradients do.

KL and Jensen-Shannon divergences of probability vectors and their
k-nearest-neighbour estimates from samples, exact and sliced Wasserstein
distances between sample sets, the Sinkhorn divergence, the energy
distance and the MMD, permutation tests of P = Q with exact p-values
(:func:`two_sample_test`), neural estimates of W1 (a critic) and of JS (a
GAN discriminator), closed-form references
(:mod:`divergences.closed_form`), seeded sample families
(:mod:`divergences.families`), problems with a known W1 drawn by seed
(:mod:`divergences.problems`), and generator losses with one calling convention
(:mod:`divergences.losses`). numpy arrays, lists and torch tensors are all
accepted; torch in gives torch out, with autograd.

>>> import divergences as dv
>>> dv.js([1, 0], [0, 1], base=2)
1.0
"""

from typing import Any

from divergences import closed_form, families, problems
from divergences.comparison import Comparison, compare
from divergences.energy import energy_distance
from divergences.information import js, js_distance, kl
from divergences.kernels import mmd
from divergences.knn import js_knn, kl_knn
from divergences.transport import (
    ProblemTooLargeError,
    SolverError,
    TransportResult,
    optimal_transport,
    sliced_wasserstein,
    wasserstein,
)

__version__ = "0.1.0"

__all__ = [
    "Comparison",
    "DiscriminatorResult",
    "DualResult",
    "ProblemTooLargeError",
    "SolverError",
    "TransportResult",
    "TwoSampleResult",
    "__version__",
    "closed_form",
    "compare",
    "energy_distance",
    "families",
    "frechet_distance",
    "js",
    "js_distance",
    "js_dual",
    "js_dual_batch",
    "js_knn",
    "kernel_inception_distance",
    "kl",
    "kl_knn",
    "losses",
    "mmd",
    "optimal_transport",
    "problems",
    "sinkhorn_divergence",
    "sliced_wasserstein",
    "two_sample_test",
    "wasserstein",
    "wasserstein_dual",
    "wasserstein_dual_batch",
]

# The neural estimators need torch; import them on first use so that
# ``import divergences`` (and dv.kl on numpy arrays) stays light.
_NEURAL = (
    "DiscriminatorResult",
    "DualResult",
    "js_dual",
    "js_dual_batch",
    "wasserstein_dual",
    "wasserstein_dual_batch",
)
_LAZY = dict.fromkeys(_NEURAL, "divergences.neural") | {
    "sinkhorn_divergence": "divergences.sinkhorn",
    "TwoSampleResult": "divergences.two_sample",
    "two_sample_test": "divergences.two_sample",
    "frechet_distance": "divergences.evaluation",
    "kernel_inception_distance": "divergences.evaluation",
}


def __getattr__(name: str) -> Any:
    if name == "losses":
        import importlib

        return importlib.import_module("divergences.losses")
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'divergences' has no attribute {name!r}")
