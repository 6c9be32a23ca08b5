"""One name for the two samples across the public functions: ``x`` and ``y``.

The k-NN and neural estimators called them ``samples_p`` and ``samples_q``; those keywords
still work for one release, with a ``DeprecationWarning``. Errors about both samples at once
carry the names as data (``ArgumentsError``), so that ``compare`` and the command line say
P and Q without rewriting text.
"""

from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pytest

import divergences as dv
from divergences._validation import ArgumentsError
from divergences.experiments import histograms

SAMPLE_FUNCTIONS = [
    "wasserstein",
    "optimal_transport",
    "sliced_wasserstein",
    "energy_distance",
    "sinkhorn_divergence",
    "kl_knn",
    "js_knn",
    "wasserstein_dual",
    "wasserstein_dual_batch",
    "js_dual",
    "js_dual_batch",
    "compare",
]


@pytest.mark.parametrize("name", SAMPLE_FUNCTIONS)
def test_every_function_of_two_samples_calls_them_x_and_y(name):
    parameters = list(inspect.signature(getattr(dv, name)).parameters)
    assert parameters[:2] == ["x", "y"]


def _samples():
    rng = np.random.default_rng(3)
    return rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) + np.array([1.0, 0.0])


@pytest.mark.parametrize("function", [dv.kl_knn, dv.js_knn])
def test_the_old_keywords_give_the_same_value_with_a_deprecation_warning(function):
    x, y = _samples()
    expected = function(x, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert function(samples_p=x, samples_q=y) == expected
    assert [(w.category, str(w.message)) for w in caught] == [
        (
            DeprecationWarning,
            f"{function.__name__}({old}=...) is deprecated and will be removed "
            f"in the next release; use {new}=...",
        )
        for old, new in (("samples_p", "x"), ("samples_q", "y"))
    ]
    assert {w.filename for w in caught} == {__file__}  # the warning points at the caller
    with pytest.warns(DeprecationWarning, match="use y="):
        assert function(x, samples_q=y) == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new names warn about nothing
        assert function(x=x, y=y) == expected


def test_the_old_keywords_reach_the_neural_estimators():
    x, y = _samples()
    new = dv.wasserstein_dual(x, y, steps=5, seed=0, device="cpu")
    with pytest.warns(DeprecationWarning, match="wasserstein_dual"):
        old = dv.wasserstein_dual(x, samples_q=y, steps=5, seed=0, device="cpu")
    assert (old.distance, old.lower_bound) == (new.distance, new.lower_bound)
    with pytest.warns(DeprecationWarning, match="estimate"):
        assert new.estimate(x, samples_q=y).item() == new.estimate(x, y).item()


def test_the_histograms_of_the_experiments_take_x_and_y_too():
    p = np.column_stack([np.zeros(50), np.linspace(0, 1, 50)])
    q = p + np.array([1.0, 0.0])
    with pytest.warns(DeprecationWarning):
        old = histograms.histogram_js(p, samples_q=q)
    assert old == histograms.histogram_js(p, q)


def test_an_old_and_a_new_name_for_one_argument_is_a_type_error():
    x, y = _samples()
    with pytest.raises(TypeError, match="kl_knn\\(\\) got samples_q= and y="):
        dv.kl_knn(x, y=y, samples_q=y)


def test_an_error_about_both_samples_names_them_as_data():
    x = np.random.default_rng(0).normal(size=(300, 2))
    paired = x + 1e-6  # Q made by perturbing P's points: the k-NN estimates refuse it
    with pytest.raises(ArgumentsError) as raised:
        dv.kl_knn(x, paired)
    error = raised.value
    assert error.arguments == ("x", "y")
    assert str(error).startswith("y looks paired with x: for 300 of the 300 points of x")
    assert error.in_words({"x": "P", "y": "Q"}).startswith("Q looks paired with P")
    copy = pickle.loads(pickle.dumps(error))  # a worker's error crosses processes whole
    assert (type(copy), str(copy), copy.arguments) == (ArgumentsError, str(error), ("x", "y"))
    rows = {row.measure: row for row in dv.compare(x, paired)}
    assert rows["KL(P||Q) k-NN"].error.startswith("Q looks paired with P")
    # the reverse row called kl_knn(Q, P)
    assert rows["KL(Q||P) k-NN"].error.startswith("P looks paired with Q")


def test_samples_of_different_dimensions_name_both_in_every_function():
    x, y = np.zeros((10, 2)), np.zeros((10, 3))
    for function in (dv.wasserstein, dv.energy_distance, dv.kl_knn, dv.sliced_wasserstein):
        with pytest.raises(
            ArgumentsError, match="x and y must have the same dimension d; got d = 2"
        ):
            function(x, y)
