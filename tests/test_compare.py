"""divergences.compare: the rows of every measure, checked against the measures called directly."""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import ot
import pytest
import torch
from scipy.spatial.distance import cdist

import divergences as dv
from divergences import comparison  # the module; divergences.compare is the function
from divergences._backend import NumpyBackend
from divergences._validation import ArgumentError, ArgumentTypeError, check_finite

torch.set_num_threads(1)


@pytest.fixture()
def gaussians():
    rng = np.random.default_rng(1)
    return rng.normal(size=(120, 2)), rng.normal(size=(90, 2)) + np.array([1.0, 0.0])


def test_rows_are_the_measures_called_directly(gaussians):
    x, y = gaussians
    rows = dv.compare(x, y, seed=4)
    assert isinstance(rows, tuple)
    assert all(isinstance(row, dv.Comparison) for row in rows)
    by_name = {row.measure: row for row in rows}
    assert list(by_name) == [
        "W1 exact",
        "Sliced W1",
        "Sinkhorn divergence",
        "Energy distance",
        "KL(P||Q) k-NN",
        "KL(Q||P) k-NN",
        "JS k-NN",
    ]
    assert all(row.error is None and row.interval is None for row in rows)
    # W1 by POT's LP directly; energy by the brute force over all pairs
    w1 = ot.emd2(np.full(120, 1 / 120), np.full(90, 1 / 90), ot.dist(x, y, metric="euclidean"))
    np.testing.assert_allclose(by_name["W1 exact"].value, w1, rtol=1e-9)
    energy = 2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean()
    np.testing.assert_allclose(by_name["Energy distance"].value, energy, rtol=1e-9)
    np.testing.assert_allclose(
        by_name["Sliced W1"].value, dv.sliced_wasserstein(x, y, seed=4), rtol=1e-12
    )
    # the blur is 5% of the pooled samples' RMS spread, computed here by hand
    pooled = np.concatenate([x, y])
    blur = 0.05 * np.sqrt(np.mean((pooled - pooled.mean(axis=0)) ** 2))
    assert f"blur {blur:.3g}" in by_name["Sinkhorn divergence"].note
    np.testing.assert_allclose(
        by_name["Sinkhorn divergence"].value, dv.sinkhorn_divergence(x, y, blur=blur), rtol=1e-9
    )
    for measure, expected in (
        ("KL(P||Q) k-NN", dv.kl_knn(x, y, k=5, seed=4)),
        ("KL(Q||P) k-NN", dv.kl_knn(y, x, k=5, seed=4)),
        ("JS k-NN", dv.js_knn(x, y, k=5, seed=4)),
    ):
        np.testing.assert_allclose(by_name[measure].value, expected, rtol=1e-12)
    assert "5th nearest neighbour" in by_name["JS k-NN"].note


def test_rows_are_frozen_and_give_json_data(gaussians):
    row = dv.compare(*gaussians)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.value = 0.0  # type: ignore[misc]
    data = dataclasses.replace(row, interval=(0.25, 0.5)).as_dict()
    assert data == {
        "measure": "W1 exact",
        "value": row.value,
        "interval": [0.25, 0.5],
        "pvalue": None,
        "note": row.note,
        "error": None,
    }


def test_a_reference_row_for_more_than_two_dimensions():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(90, 3)), rng.normal(size=(40, 3))
    rows = {row.measure: row for row in dv.compare(x, y, seed=7)}
    first, second = comparison._reference_split(90, 40, 7)
    assert (len(first), len(second)) == (50, 40)
    np.testing.assert_allclose(
        rows["W1 within P"].value, dv.wasserstein(x[first], x[second]), rtol=1e-12
    )


def test_one_dimensional_and_list_input_is_accepted():
    x, y = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0]
    rows = {row.measure: row for row in dv.compare(x, y, k=2)}
    np.testing.assert_allclose(rows["W1 exact"].value, 10.0, rtol=1e-12)  # a translation


def test_a_mapped_sample_is_represented_by_its_seeded_subsample(tmp_path, monkeypatch):
    monkeypatch.setattr(comparison, "MAPPED_SAMPLE_ROWS", 50)
    rng = np.random.default_rng(3)
    whole = rng.normal(size=(80, 2))
    np.save(tmp_path / "p.npy", whole)
    mapped = np.load(tmp_path / "p.npy", mmap_mode="r")
    assert isinstance(mapped, np.memmap)
    y = rng.normal(size=(40, 2)) + 0.5
    rows = {row.measure: row for row in dv.compare(mapped, y, seed=5)}
    chosen = np.sort(np.random.default_rng([5, 0]).choice(80, 50, replace=False))
    np.testing.assert_allclose(
        rows["Sliced W1"].value, dv.sliced_wasserstein(whole[chosen], y, seed=5), rtol=1e-12
    )
    assert "50 of P's 80 rows" in rows["Sliced W1"].note
    np.testing.assert_allclose(
        rows["JS k-NN"].value, dv.js_knn(whole, y, k=5, seed=5, max_samples=50), rtol=1e-12
    )
    assert "(numpy.random.default_rng(seed), P's rows first)" in rows["JS k-NN"].note
    # the exact W1 reads every row of the map
    np.testing.assert_allclose(rows["W1 exact"].value, dv.wasserstein(whole, y), rtol=1e-12)


def test_a_measure_that_fails_gets_an_error_row_in_the_words_of_p_and_q(gaussians, monkeypatch):
    import divergences.knn

    def refuses(x, y, **options):
        raise ArgumentError("y", "must hold at least 6 distinct points; got 2")

    monkeypatch.setattr(divergences.knn, "kl_knn", refuses)
    rows = {row.measure: row for row in dv.compare(*gaussians)}
    assert rows["KL(P||Q) k-NN"].value is None
    assert rows["KL(P||Q) k-NN"].error == "Q must hold at least 6 distinct points; got 2"
    # the reverse row called kl_knn(Q, P): its y is P
    assert rows["KL(Q||P) k-NN"].error == "P must hold at least 6 distinct points; got 2"
    assert rows["JS k-NN"].error is None  # one row's failure does not end the others


def test_an_unexpected_exception_is_reported_as_a_bug(gaussians, monkeypatch):
    import divergences.knn

    monkeypatch.setattr(divergences.knn, "js_knn", lambda *a, **k: [][0])
    row = next(row for row in dv.compare(*gaussians) if row.measure == "JS k-NN")
    assert row.value is None
    assert row.error == (
        "unexpected IndexError (a bug; please report it): list index out of range"
    )


def test_a_validation_error_of_the_library_names_p_or_q():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    y[4, 1] = math.nan
    rows = dv.compare(x, y)
    # every measure names its samples x and y; the rows say P and Q
    assert {row.error for row in rows} == {"Q must contain only finite numbers; found NaN or inf"}


def test_samples_of_different_dimensions_are_refused():
    with pytest.raises(ValueError, match="x and y must have the same dimension d; got d = 2"):
        dv.compare(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"x must be samples of shape \(n, d\)"):
        dv.compare(np.zeros((2, 2, 2)), np.zeros((5, 3)))


# ---------------------------------------------------------------------------
# errors that carry their argument


def test_validation_errors_carry_the_argument_and_keep_their_message_and_type():
    with pytest.raises(ValueError) as raised:
        check_finite(np.array([1.0, math.inf]), "x", NumpyBackend())
    error = raised.value
    assert isinstance(error, ArgumentError)
    assert (error.argument, error.detail) == (
        "x",
        "must contain only finite numbers; found NaN or inf",
    )
    assert str(error) == "x must contain only finite numbers; found NaN or inf"
    with pytest.raises(TypeError) as typed:
        dv.wasserstein([True, False], [1.0, 2.0])
    assert isinstance(typed.value, ArgumentTypeError)
    assert typed.value.argument == "x"
    assert not isinstance(typed.value, ValueError)  # a TypeError stays only a TypeError


def test_an_argument_error_survives_pickling():
    # errors raised in worker processes cross back by pickle
    error = pickle.loads(pickle.dumps(ArgumentError("y", "must not be empty; got shape (0,)")))
    assert (type(error), error.argument, str(error)) == (
        ArgumentError,
        "y",
        "y must not be empty; got shape (0,)",
    )


# ---------------------------------------------------------------------------
# compare(test=True): a p-value per measure (issue 28, item 5)


def test_without_a_test_no_row_has_a_p_value(gaussians):
    assert {row.pvalue for row in dv.compare(*gaussians)} == {None}


def test_each_p_value_is_the_permutation_test_of_its_measure():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + np.array([0.3, 0.0, 0.0])
    rows = {row.measure: row for row in dv.compare(x, y, test=True, permutations=19, seed=2)}
    options = {"permutations": 19, "seed": 2}
    expected = {
        "W1 exact": dv.two_sample_test(x, y, statistic="wasserstein", **options),
        "Sliced W1": dv.two_sample_test(x, y, statistic="sliced", projection_seed=2, **options),
        "Energy distance": dv.two_sample_test(x, y, statistic="energy", **options),
        "KL(P||Q) k-NN": dv.two_sample_test(x, y, statistic="kl_knn", k=5, **options),
        "KL(Q||P) k-NN": dv.two_sample_test(y, x, statistic="kl_knn", k=5, **options),
        "JS k-NN": dv.two_sample_test(x, y, statistic="js_knn", k=5, **options),
    }
    for measure, result in expected.items():
        assert rows[measure].pvalue == result.pvalue, measure
        assert "a permutation test of P = Q with this statistic, 19 re-splits" in (
            rows[measure].note
        )
    blur = float(rows["Sinkhorn divergence"].note.split("blur ")[1].split(" ")[0])
    sinkhorn = dv.two_sample_test(x, y, statistic="sinkhorn", blur=blur, **options)
    assert rows["Sinkhorn divergence"].pvalue == pytest.approx(sinkhorn.pvalue, abs=0.1)
    assert rows["W1 within P"].pvalue is None  # a reference, not a comparison of P and Q
    assert all(0 < row.pvalue <= 1 for row in rows.values() if row.pvalue is not None)


def test_a_large_sample_is_tested_on_a_seeded_subsample(monkeypatch):
    monkeypatch.setattr(comparison, "TEST_ROWS", 25)
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(60, 2)), rng.normal(size=(50, 2))
    rows = {row.measure: row for row in dv.compare(x, y, test=True, permutations=9, seed=3)}
    rows_p = np.random.default_rng([3, 2]).choice(60, 25, replace=False)
    rows_q = np.random.default_rng([3, 3]).choice(50, 25, replace=False)
    expected = dv.two_sample_test(
        x[np.sort(rows_p)], y[np.sort(rows_q)], statistic="energy", permutations=9, seed=3
    )
    assert rows["Energy distance"].pvalue == expected.pvalue
    assert "9 re-splits of 25 of P's 60 rows and 25 of Q's 50 rows" in (
        rows["Energy distance"].note
    )


def test_a_test_that_fails_leaves_the_value_and_says_why(gaussians, monkeypatch):
    import divergences.two_sample

    def refuses(*args, **options):
        raise ArgumentError("y", "cannot be re-split here")

    monkeypatch.setattr(divergences.two_sample, "two_sample_test", refuses)
    row = dv.compare(*gaussians, test=True, permutations=9)[0]
    assert row.value is not None and row.pvalue is None and row.error is None
    assert row.note.endswith("No p-value: Q cannot be re-split here")


def test_the_neural_row_reports_its_held_out_test():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + np.array([2.0, 0.0])
    rows = dv.compare(x, y, neural=True, steps=20, test=True, permutations=9, device="cpu")
    critic = next(row for row in rows if row.measure == "W1 neural critic")
    expected = dv.wasserstein_dual(x, y, steps=20, seed=0, device="cpu")
    assert critic.pvalue == expected.pvalue == 1 / 1000
    assert "999 re-splits of the held-out scores" in critic.note
    assert next(row for row in rows if row.measure == "JS discriminator").pvalue is None


def test_test_options_are_checked():
    x = np.zeros((10, 2))
    with pytest.raises(TypeError, match="test must be True or False"):
        dv.compare(x, x + 1, test="yes")
    with pytest.raises(ValueError, match="permutations must be"):
        dv.compare(x, x + 1, test=True, permutations=0)


def test_compare_takes_a_tensor_that_requires_grad():
    x = torch.randn(60, 2, requires_grad=True, generator=torch.Generator().manual_seed(0))
    y = torch.randn(60, 2, generator=torch.Generator().manual_seed(1)) + 1.0
    rows = dv.compare(x, y)
    exact = dv.wasserstein(x.detach().numpy(), y.numpy())
    np.testing.assert_allclose(rows[0].value, exact)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"seed": -1}, ValueError, "seed must be at least 0"),
        ({"seed": 1.5}, TypeError, "seed must be an integer"),
        ({"k": 0}, ValueError, "k must be at least 1"),
        ({"neural": "yes"}, TypeError, "neural must be True or False"),
        ({"neural": True, "steps": 0}, ValueError, "steps must be at least 1"),
        ({"neural": True, "device": "foo"}, ValueError, "device must be"),
    ],
)
def test_compare_checks_its_options_before_any_row(options, error, message):
    """A bad option used to become an error in some rows and pass unseen in others."""
    rng = np.random.default_rng(0)
    with pytest.raises(error, match=message):
        dv.compare(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)), **options)


def test_compare_names_a_ragged_sample():
    with pytest.raises(ValueError, match="x must be a rectangular array"):
        dv.compare([[1.0, 2.0], [3.0]], [[1.0, 2.0]])


def test_the_sinkhorn_row_stays_with_a_reason_where_there_is_no_blur():
    """Samples of one point, and samples whose spread overflowed: the row vanished."""
    rows = {row.measure: row for row in dv.compare(np.ones((20, 2)), np.ones((20, 2)))}
    assert rows["Sinkhorn divergence"].value is None
    assert "one point" in rows["Sinkhorn divergence"].error
    rng = np.random.default_rng(0)
    huge = np.clip(rng.normal(size=(20, 2)), -1, 1) * 1.7e308
    rows = {row.measure: row for row in dv.compare(huge, rng.normal(size=(50, 2)))}
    # at that scale the cost is the distance itself: the divergence is of the order of W1
    assert rows["Sinkhorn divergence"].value is not None
    assert 0.1 < rows["Sinkhorn divergence"].value / rows["W1 exact"].value < 10
