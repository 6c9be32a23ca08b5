"""k-nearest-neighbour estimators of KL and Jensen-Shannon divergences from samples.

The plain estimator of Wang, Kulkarni and Verdú compares, at every sample of
P, the distance to its k-th nearest neighbour among the other samples of P with
the distance to its k-th nearest neighbour among the samples of Q. It is
consistent, but at practical sample sizes it is badly biased wherever the
density of Q varies across the neighbour ball, which is the case wherever Q is
more concentrated than P. The default estimator removes most of that bias by
telescoping through Gaussian references fitted to P and to Q (see
:func:`kl_knn`). Neighbour searches run on k-d trees (SciPy's ``cKDTree``, all
cores) in low dimension and on blocked matrix products of all pairs above it,
where trees degrade; torch inputs get gradients through the neighbour distances,
with the neighbour indices held fixed. Samples beyond ``max_samples`` rows are
subsampled, reading only the rows drawn (memory-mapped files included).

One concern per private module: ``_estimators`` (:func:`kl_knn`,
:func:`js_knn` and the estimates they share), ``_samples`` (the samples they
take: validated, subsampled, moved into the unit cube), ``_search`` (the
neighbour searches and the rule choosing between them), ``_balls`` (Gaussian
ball probabilities, the noncentral chi-square numerics) and ``_pairing`` (the
check that refuses paired samples).
"""

# kl_knn first: the API reference lists the members in import order (members_order: source).
from divergences.knn._estimators import METHODS, kl_knn, js_knn  # isort: skip
from divergences.knn._search import SEARCHES

__all__ = ["METHODS", "SEARCHES", "js_knn", "kl_knn"]
