"""Wasserstein distances between sample sets: exact (linear program, 1-D quantiles) and sliced.

The exact distance solves the optimal transport linear program with POT's
network simplex (:func:`ot.emd`), after choosing an iteration cap from the
problem size, checking that the problem fits in memory, and bringing the
samples to a unit scale (POT's tolerances are absolute); one-dimensional
samples take an exact sort-based path instead. Everything runs in float64.
Torch inputs get gradients by the envelope theorem: the optimal plan is held
fixed and the cost of moving along it is differentiated with respect to the
sample positions, the dual potentials give the gradient with respect to the
weights.
"""

# One concern per private module, as POT splits ot.lp, so that a reader finds each
# step of a call by the file's name: _exact (the entry points and their result),
# _problem (validated inputs), _costs (ground metrics and cost matrices), _scale
# (costs kept representable at any scale), _lp (the linear program and its memory
# check), _potentials (tight dual potentials from the plan's support), _one_d (the
# sort-based path and its memory check) and _sliced (the sliced distance).
from divergences._memory import ProblemTooLargeError
from divergences.transport._costs import METRICS
from divergences.transport._exact import TransportResult, optimal_transport, wasserstein
from divergences.transport._lp import SolverError, default_max_iter
from divergences.transport._sliced import sliced_wasserstein

__all__ = [
    "METRICS",
    "ProblemTooLargeError",
    "SolverError",
    "TransportResult",
    "default_max_iter",
    "optimal_transport",
    "sliced_wasserstein",
    "wasserstein",
]
