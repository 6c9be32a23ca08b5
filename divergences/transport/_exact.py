"""The exact Wasserstein distance and optimal transport: the entry points and their result.

Both validate the options, refuse a problem too large for memory from the arrays'
shapes alone, then solve: :func:`wasserstein` sorts one-dimensional samples and
solves the linear program otherwise; :func:`optimal_transport` always solves the
linear program and returns its whole solution, with potentials recomputed tight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from divergences._backend import ArrayLike, Result
from divergences._validation import check_count, check_real
from divergences.transport._lp import _MAX_ITER_LIMIT, _check_memory, _solve_lp
from divergences.transport._one_d import (
    _SORT_BYTES_MATCHED,
    _SORT_BYTES_MERGED,
    _check_sort_memory,
    _cost_1d,
)
from divergences.transport._potentials import _potentials
from divergences.transport._problem import _prepare


@dataclass(frozen=True)
class TransportResult:
    r"""The solution of an exact optimal transport problem.

    Attributes
    ----------
    distance : float or torch.Tensor
        :math:`W_p`, with autograd for tensor inputs.
    cost : float or torch.Tensor
        The optimal transport cost :math:`W_p^p = \sum_{ij} \gamma_{ij} c_{ij}`,
        with :math:`c_{ij} = d(x_i, y_j)^p`; autograd for tensor inputs.
    plan : (n, m) numpy.ndarray or torch.Tensor
        The optimal coupling :math:`\gamma` (rows sum to the weights of ``x``,
        columns to those of ``y``); a tensor (without autograd) for tensor inputs.
    potential_x, potential_y : (n,) and (m,) numpy.ndarray or torch.Tensor
        Dual potentials :math:`u, v` with :math:`u_i + v_j \le c_{ij}`,
        equality on the plan's support, and
        :math:`\sum_i a_i u_i + \sum_j b_j v_j = W_p^p`; centred as POT
        centres them, :math:`\sum_i a_i u_i = \sum_j b_j v_j`. Computed from
        the costs in the samples' own units, they are as tight as POT's on the
        same cost matrix (exact on the support where the costs are integers).
    p : float
        The order of the distance.
    metric : str
        The ground metric.
    """

    distance: Result
    cost: Result
    plan: Any = field(repr=False)
    potential_x: Any = field(repr=False)
    potential_y: Any = field(repr=False)
    p: float
    metric: str


def _solver_options(max_iter: Any, memory_limit: Any) -> tuple[int | None, float | None]:
    """Validate the exact solver's options, whichever path then runs."""
    return (
        None
        if max_iter is None
        else check_count(
            max_iter, "max_iter", maximum=_MAX_ITER_LIMIT, why=" (POT's 64-bit iteration count)"
        ),
        None if memory_limit is None else check_real(memory_limit, "memory_limit", minimum=0.0),
    )


def _refuse_early(
    x: Any,
    y: Any,
    memory_limit: float | None,
    one_dimension_sorts: bool,
    *,
    matched: bool = False,
) -> None:
    """The memory guard on the arrays' shapes alone, before any sample is read.

    A memory-mapped file too large for the linear program (or, in one
    dimension, for the sorted copies; ``matched``: equal uniform weights,
    which pair the sorted samples directly) is refused without scanning it
    for NaN (which would read every page and allocate a mask of its size);
    lists are small enough to check after validation as usual.
    """
    shapes: list[tuple[int, ...]] = []
    for value in (x, y):
        shape = getattr(value, "shape", None)
        if shape is None or len(shape) not in (1, 2):
            return
        shapes.append(tuple(int(size) for size in shape))
    dims = {1 if len(shape) == 1 else shape[1] for shape in shapes}
    n, m = shapes[0][0], shapes[1][0]
    if one_dimension_sorts and dims == {1}:
        # the 1-D path builds no cost matrix, but its float64 copies grow with n + m
        per_value = _SORT_BYTES_MATCHED if matched and n == m else _SORT_BYTES_MERGED
        _check_sort_memory(n, m, per_value, memory_limit)
        return
    _check_memory(n, m, memory_limit)


def wasserstein(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: float = 1,
    weights_x: ArrayLike | None = None,
    weights_y: ArrayLike | None = None,
    metric: str = "euclidean",
    max_iter: int | None = None,
    memory_limit: float | None = None,
) -> Result:
    r"""Exact Wasserstein distance :math:`W_p` between two sets of samples.

    .. math::

        W_p(\mu, \nu) = \Big( \min_{\gamma \in \Pi(a, b)}
        \sum_{i, j} \gamma_{ij} \, d(x_i, y_j)^p \Big)^{1/p}

    where :math:`\mu = \sum_i a_i \delta_{x_i}`, :math:`\nu = \sum_j b_j
    \delta_{y_j}` and :math:`\Pi(a, b)` is the set of couplings with those
    marginals. Solved exactly: by POT's network simplex (:func:`ot.emd`) in
    general, from sorted samples (quantile functions) when ``d = 1``.

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of the first distribution; a 1-D array means ``d = 1``.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of the second distribution, same ``d``.
    p : float, default 1
        Order of the distance, ``>= 1``.
    weights_x, weights_y : (n,) and (m,) array-like or torch.Tensor, optional
        Non-negative sample weights, normalised to sum to 1; uniform by default.
    metric : {"euclidean", "cityblock", "chebyshev"}, default "euclidean"
        The ground distance :math:`d` (all agree in one dimension).
    max_iter : int, optional
        Iteration cap of the network simplex; by default
        :func:`default_max_iter`, chosen so that the solver reaches optimality.
    memory_limit : float, optional
        Bytes the exact solver may use; by default half the available memory.

    Returns
    -------
    float or torch.Tensor
        :math:`W_p` (not :math:`W_p^p`). For tensors, a tensor in their dtype
        with autograd to the samples and the weights, on their device.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, ``x`` and ``y`` of different dimension,
        weights of the wrong length, negative or all zero, ``p < 1``, an
        unknown metric, ``max_iter`` above :math:`2^{63} - 1` (POT's counter),
        masked arrays or ``meta`` tensors; if :math:`W_p` exceeds the float64
        range (samples more than 1.8e308 apart) or the caller's dtype; or if
        ``p`` is so large that the moves of the optimal plan have ``p``-th
        powers below float64's resolution relative to the largest distance.
    TypeError
        If an input is not an array of real numbers.
    ProblemTooLargeError
        If ``d > 1`` and the ``n x m`` problem would need more memory than allowed
        (about 48 bytes per pair); use :func:`sliced_wasserstein`, subsample,
        or raise ``memory_limit``. In one dimension, if the sorted float64
        copies would (32 bytes per sample for equal sizes and uniform weights,
        112 otherwise). Both are decided from the arrays' shapes, before any
        sample is read.
    SolverError
        If the solver stops at ``max_iter`` before optimality (never a
        non-optimal value).

    Notes
    -----
    Scale: :math:`W_p(s x + t, s y + t) = s \, W_p(x, y)` holds to rounding for
    every scale whose result is representable (1e-300 to 1e300 and beyond).
    POT's network simplex uses absolute tolerances, so the linear program is
    solved in units of the data: both samples are moved and scaled together
    (by a power of two, exactly) into :math:`[-1, 1]^d` before the cost matrix
    is built, the distances divided by the largest before their ``p``-th
    power, and the result scaled back. The 1-D path divides the gaps by a
    power of two near the largest. Weights are normalised without overflow
    (1e307 each) and subnormal weights count as positive. Tensors of any
    floating dtype (float16 and bfloat16 included) are computed in float64
    and the result is returned in their dtype.

    Cost: the linear program needs :math:`O(nm)` memory and, in practice,
    about :math:`nm` to :math:`(nm)^{1.2}` time
    (``docs/benchmarks/exact_wasserstein.md``); the 1-D path is
    :math:`O((n + m) \log(n + m))` and builds no cost matrix.

    Gradients (torch): by the envelope theorem, through the optimal plan held
    fixed (positions) and the dual potentials (weights). They are exact
    wherever the optimal plan is unique. Where two points coincide the
    Euclidean norm has no derivative; 0 is used, never NaN.

    References
    ----------
    .. [1] C. Villani, "Optimal transport: old and new", Springer 2009.
    .. [2] G. Peyré and M. Cuturi, "Computational Optimal Transport",
       Foundations and Trends in Machine Learning 11(5-6), 2019, sections 2.6
       (one dimension) and 3 (network simplex).
    .. [3] R. Flamary et al., "POT: Python Optimal Transport", JMLR 22(78), 2021.

    Examples
    --------
    >>> import divergences as dv
    >>> dv.wasserstein([0.0, 1.0, 3.0], [5.0, 6.0, 8.0])  # every point moves by 5
    5.0
    >>> x = [[0.0, 0.0], [1.0, 0.0]]
    >>> dv.wasserstein(x, [[0.0, 3.0], [1.0, 4.0]], p=2)  # moves of 3 and 4
    3.5355...
    """
    max_iter, memory_limit = _solver_options(max_iter, memory_limit)
    _refuse_early(
        x,
        y,
        memory_limit,
        one_dimension_sorts=True,
        matched=weights_x is None and weights_y is None,
    )
    problem = _prepare(x, y, p=p, weights_x=weights_x, weights_y=weights_y, metric=metric)
    if problem.x.shape[1] == 1:
        return _cost_1d(problem).distance()
    return _solve_lp(problem, max_iter, memory_limit).scaled.distance()


def optimal_transport(
    x: ArrayLike,
    y: ArrayLike,
    *,
    p: float = 1,
    weights_x: ArrayLike | None = None,
    weights_y: ArrayLike | None = None,
    metric: str = "euclidean",
    max_iter: int | None = None,
    memory_limit: float | None = None,
) -> TransportResult:
    r"""Solve the exact optimal transport problem: distance, plan and dual potentials.

    .. math::

        \min_{\gamma \in \Pi(a, b)} \sum_{i, j} \gamma_{ij} c_{ij}
        \;=\; \max_{u_i + v_j \le c_{ij}} \sum_i a_i u_i + \sum_j b_j v_j,
        \qquad c_{ij} = d(x_i, y_j)^p

    Same problem and options as :func:`wasserstein`, always through the linear
    program (also for ``d = 1``), returning its whole solution.

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of the first distribution.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of the second distribution.
    p : float, default 1
        Order of the distance, ``>= 1``.
    weights_x, weights_y : (n,) and (m,) array-like or torch.Tensor, optional
        Non-negative sample weights, normalised; uniform by default.
    metric : {"euclidean", "cityblock", "chebyshev"}, default "euclidean"
        The ground distance.
    max_iter : int, optional
        Iteration cap of the network simplex (see :func:`default_max_iter`).
    memory_limit : float, optional
        Bytes the solver may use; by default half the available memory.

    Returns
    -------
    TransportResult
        ``distance`` (:math:`W_p`), ``cost`` (:math:`W_p^p`), ``plan``,
        ``potential_x``, ``potential_y``, ``p`` and ``metric``.

    Raises
    ------
    ValueError
        On the inputs :func:`wasserstein` rejects, and where the cost
        :math:`W_p^p` or the dual potentials (in units of distance to the
        ``p``) are outside the float64 range although :math:`W_p` is not
        (``p = 2`` with samples at 1e200 or 1e-200): then use
        :func:`wasserstein` for the distance, or rescale the samples.
    TypeError
        If an input is not an array of real numbers.
    ProblemTooLargeError
        If the problem would need more memory than allowed.
    SolverError
        If the solver stops before optimality.

    Notes
    -----
    Scale and dtypes as in :func:`wasserstein`: the plan does not depend on the
    scale of the samples, and the cost and potentials scale as :math:`s^p`.

    Potentials: the linear program is solved in rescaled units, whose potentials
    miss :math:`u_i + v_j = c_{ij}` by many roundings once scaled back. They are
    recomputed from the plan's support (a forest) with the costs :math:`c_{ij}`
    of the samples divided by a power of two, which is exact: tight to one
    rounding on the support, dual feasible to a few roundings, and exact on
    integer costs, as POT's are. Where those costs leave the float range (a
    ``p`` in the hundreds) the rescaled potentials are kept.

    References
    ----------
    .. [1] G. Peyré and M. Cuturi, "Computational Optimal Transport",
       Foundations and Trends in Machine Learning 11(5-6), 2019.

    Examples
    --------
    >>> import divergences as dv
    >>> result = dv.optimal_transport([0.0, 1.0], [1.0, 2.0], p=2)
    >>> result.distance
    1.0
    >>> result.plan
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    max_iter, memory_limit = _solver_options(max_iter, memory_limit)
    _refuse_early(x, y, memory_limit, one_dimension_sorts=False)
    problem = _prepare(x, y, p=p, weights_x=weights_x, weights_y=weights_y, metric=metric)
    solution = _solve_lp(problem, max_iter, memory_limit)
    scaled, backend = solution.scaled, problem.backend
    cost = backend.to_output(scaled.in_cost_units(scaled.cost, "cost"))
    potential_x, potential_y = _potentials(problem, solution)
    return TransportResult(
        distance=scaled.distance(),
        cost=cost,
        plan=backend.to_output(backend.from_numpy(solution.plan)),
        potential_x=backend.to_output(backend.from_numpy(potential_x)),
        potential_y=backend.to_output(backend.from_numpy(potential_y)),
        p=problem.p,
        metric=problem.metric,
    )
