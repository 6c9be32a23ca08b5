"""The neighbour searches of the k-NN estimators: the blocked all-pairs search against the tree.

Both must give what exact distances give: the same k-th neighbour distances and
the same neighbours up to the order of equally distant points, with repeated
points counted once and a query's own location skipped. Integer-valued points
make ties and repeats; tight clusters far from the origin make the float32
matrix product too coarse to rank neighbours, which the search must notice.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

import divergences as dv
from divergences import knn
from divergences._backend import NumpyBackend, TorchBackend
from divergences.knn import _search
from tests.conftest import convert, to_numpy

SEARCHES = ("tree", "blocked")


def sample_points(data: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """Points with repeats: continuous, integer-valued (ties), or tight far clusters."""
    if data == "normal":
        points = rng.normal(size=(n, d))
    elif data == "integer":
        points = rng.integers(0, 4, size=(n, d)).astype(float)
    else:  # clusters of radius 1e-6 at distance about 1: float32 cannot rank within them
        centres = rng.uniform(-1, 1, size=(3, d))
        points = centres[rng.integers(0, 3, n)] + 1e-6 * rng.normal(size=(n, d))
    return np.concatenate([points, points[: n // 10]])  # repeated rows


def all_pairs(distinct: np.ndarray, queries: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` smallest distances of each query, from SciPy's cdist and a full sort."""
    return np.sort(cdist(queries, distinct), axis=1)[:, :width]


def check_search(distinct, queries, found, where, width):
    """``found`` are the exact nearest distances, and ``where`` points at that distance."""
    np.testing.assert_allclose(found, all_pairs(distinct, queries, width), rtol=1e-12, atol=0)
    at_index = np.linalg.norm(queries[:, None, :] - distinct[where], axis=2)
    np.testing.assert_allclose(at_index, found, rtol=1e-12, atol=0)
    assert all(len(set(row)) == width for row in where.tolist())


@pytest.mark.parametrize("data", ["normal", "integer", "clusters"])
@pytest.mark.parametrize("d", [1, 3, 20, 64])
@pytest.mark.parametrize("k", [1, 5])
def test_blocked_search_gives_the_trees_neighbours(data, d, k):
    rng = np.random.default_rng(d + k)
    points = sample_points(data, 600, d, rng)
    distinct, first = np.unique(points, axis=0, return_index=True)
    queries = np.concatenate([points[::3], sample_points(data, 200, d, rng)])
    width = min(k + 1, len(distinct))
    backend = NumpyBackend()
    results = {
        search: _search._SEARCHES[search](distinct, first, points, queries, width, backend)
        for search in SEARCHES
    }
    for found, where in results.values():
        check_search(distinct, queries, found, where, width)
    (tree_found, tree_where), (found, where) = results["tree"], results["blocked"]
    np.testing.assert_allclose(found, tree_found, rtol=1e-12, atol=0)
    # Same neighbours wherever the distances leave no tie to break (the next one included).
    untied = np.all(np.diff(all_pairs(distinct, queries, width + 1), axis=1) > 0, axis=1)
    np.testing.assert_array_equal(where[untied], tree_where[untied])


@pytest.mark.parametrize("data", ["integer", "clusters"])
def test_rows_in_doubt_are_settled_exactly(data, monkeypatch):
    # Integer points tie beyond every spare candidate: those rows go to the exact
    # settlement. In the clusters float32 cannot rank: float64 proposes again.
    settled, proposed = [], []
    settle, sorted_exactly = _search._settle, _search._sorted_exactly

    def spy_settle(scores, limit, queries, points, width):
        settled.append(len(queries))
        return settle(scores, limit, queries, points, width)

    def spy_sorted_exactly(queries, points, candidates, width):
        proposed.append(len(queries))
        return sorted_exactly(queries, points, candidates, width)

    monkeypatch.setattr(_search, "_settle", spy_settle)
    monkeypatch.setattr(_search, "_sorted_exactly", spy_sorted_exactly)
    rng = np.random.default_rng(0)
    distinct = np.unique(sample_points(data, 3000, 8, rng), axis=0)
    found, where = _search._blocked_neighbours(distinct, distinct, 6)
    check_search(distinct, distinct, found, where, 6)
    if data == "integer":
        assert sum(settled) > 0
    else:
        assert sum(proposed) > len(distinct)  # proposed twice: float32, then float64


def test_blocks_of_one_row_and_a_short_last_block(monkeypatch, kind):
    monkeypatch.setattr(_search, "_BLOCK_BYTES", {"numpy": 1, "torch": 1})
    rng = np.random.default_rng(1)
    distinct = np.unique(rng.integers(0, 3, size=(300, 4)).astype(float), axis=0)
    queries = np.concatenate([distinct[:5], rng.normal(size=(7, 4))])
    found, where = _search._blocked_neighbours(convert(distinct, kind), convert(queries, kind), 4)
    check_search(distinct, queries, to_numpy(found), to_numpy(where), 4)


@pytest.mark.parametrize("columns", [50, 64 * _search._GROUP])
def test_smallest_leaves_only_larger_entries_out(columns, kind):
    # The plain selection (short rows), and the grouped one (whole groups).
    rng = np.random.default_rng(columns)
    values = rng.integers(0, 50, size=(30, columns)).astype(np.float32)
    chosen = to_numpy(_search._smallest(torch.tensor(values) if kind == "torch" else values, 10))
    assert chosen.shape == (30, 10)
    for row, columns in zip(values, chosen, strict=True):
        assert len(set(columns.tolist())) == 10
        rest = np.delete(row, columns)
        assert row[columns].max() <= rest.min()


def test_torch_search_on_the_tensors_device(device, monkeypatch):
    # CUDA tensors are searched on the GPU; on the CPU the same torch code runs here.
    if device == "cpu":
        monkeypatch.setattr(_search, "_DEVICE_SEARCH", ("cpu",))
    rng = np.random.default_rng(2)
    for data in ("normal", "integer", "clusters"):
        points = sample_points(data, 800, 12, rng)
        distinct, first = np.unique(points, axis=0, return_index=True)
        backend = TorchBackend(torch.float64, torch.device(device))
        tensor = torch.tensor(points, device=device)
        found, where = _search._blocked_search(distinct, first, tensor, tensor, 6, backend)
        assert isinstance(found, np.ndarray) and isinstance(where, np.ndarray)
        check_search(distinct, points, found, where, 6)


@pytest.mark.parametrize("search", SEARCHES)
def test_too_few_distinct_points_are_refused_alike(search):
    y = np.random.default_rng(3).normal(size=(20, 2))
    with pytest.raises(ValueError, match="x must hold at least k=3 distinct points"):
        dv.kl_knn(np.zeros((10, 2)), y, k=3, search=search)
    # Three distinct points, each query on one of them: two others remain, not k = 3.
    corners = np.repeat(np.eye(3), 4, axis=0)
    with pytest.raises(ValueError, match="at least k=3 distinct points at a positive distance"):
        _search._kth_neighbours(corners, corners, 3, "x", NumpyBackend(), search)


@pytest.mark.parametrize("d", [2, 12])
def test_estimates_do_not_depend_on_the_search(kind, d):
    rng = np.random.default_rng(d)
    x = np.concatenate([rng.normal(size=(700, d)), np.zeros((3, d))])  # with repeats
    y = rng.normal(0.3, 1.2, size=(500, d))
    xs, ys = convert(x, kind), convert(y, kind)
    for method in knn.METHODS:
        values = [float(dv.kl_knn(xs, ys, method=method, search=s)) for s in knn.SEARCHES]
        np.testing.assert_allclose(values, values[0], rtol=1e-12)
    values = [float(dv.js_knn(xs, ys, search=s)) for s in knn.SEARCHES]
    np.testing.assert_allclose(values, values[0], rtol=1e-12)


def test_gradients_through_the_blocked_search(monkeypatch):
    # The torch search code (run on the CPU here) only fixes the neighbours; torch
    # differentiates the distances, as after the tree: the same gradients.
    monkeypatch.setattr(_search, "_DEVICE_SEARCH", ("cpu",))
    rng = np.random.default_rng(4)
    x0, y0 = rng.normal(size=(300, 3)), rng.normal(size=(200, 3)) * 0.6 + 0.3
    estimators = [
        lambda a, b, search, method=method: dv.kl_knn(a, b, method=method, search=search)
        for method in knn.METHODS
    ]
    estimators.append(lambda a, b, search: dv.js_knn(a, b, search=search))
    for estimator in estimators:
        gradients = []
        for search in SEARCHES:
            x = torch.tensor(x0, requires_grad=True)
            y = torch.tensor(y0, requires_grad=True)
            estimator(x, y, search).backward()
            gradients.append(torch.cat([x.grad, y.grad]).numpy())
        assert np.abs(gradients[0]).max() > 0
        np.testing.assert_allclose(gradients[1], gradients[0], rtol=1e-10, atol=1e-14)
    x = torch.tensor(x0[:12], requires_grad=True)
    y = torch.tensor(y0[:10], requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: dv.kl_knn(a, b, k=2, method="plain", search="blocked"), (x, y)
    )


def test_unknown_search_lists_the_choices():
    x = np.random.default_rng(5).normal(size=(20, 2))
    for estimator in (dv.kl_knn, dv.js_knn):
        with pytest.raises(ValueError, match="search must be one of 'auto', 'tree', 'blocked'"):
            estimator(x, x + 1, search="brute")


def test_auto_takes_the_tree_in_low_dimension_only(monkeypatch):
    host = NumpyBackend()
    assert _search._uses_tree(3, 10**6, host) and _search._uses_tree(8, 100, host)
    assert not _search._uses_tree(9, 19_999, host) and _search._uses_tree(9, 20_000, host)
    assert not _search._uses_tree(10, 49_999, host) and _search._uses_tree(10, 50_000, host)
    assert not _search._uses_tree(11, 10**6, host) and not _search._uses_tree(64, 100, host)
    # Searched on the device where the tensors are: the tree only below d = 6.
    monkeypatch.setattr(_search, "_DEVICE_SEARCH", ("cpu",))
    device = TorchBackend(torch.float64, torch.device("cpu"))
    assert _search._uses_tree(5, 10**5, device) and not _search._uses_tree(6, 100, device)
