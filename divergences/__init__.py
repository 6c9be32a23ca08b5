"""divergences: how far apart two probability distributions are, and what the gradients do.

KL and Jensen-Shannon divergences of probability vectors, exact and sliced
Wasserstein distances between sample sets, closed-form references
(:mod:`divergences.closed_form`) and seeded sample families
(:mod:`divergences.families`). numpy arrays, lists and torch tensors are all
accepted; torch in gives torch out, with autograd.

>>> import divergences as dv
>>> dv.js([1, 0], [0, 1], base=2)
1.0
"""

from divergences import closed_form, families
from divergences.information import js, js_distance, kl
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
    "ProblemTooLargeError",
    "SolverError",
    "TransportResult",
    "__version__",
    "closed_form",
    "families",
    "js",
    "js_distance",
    "kl",
    "optimal_transport",
    "sliced_wasserstein",
    "wasserstein",
]
