"""TrainingOptions: one definition of the options, checked once, unknown names refused."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.neural import TrainingOptions

ESTIMATORS = [dv.wasserstein_dual, dv.wasserstein_dual_batch, dv.js_dual, dv.js_dual_batch]


def test_defaults_and_replace():
    options = TrainingOptions()
    assert options.steps is None and options.batch_size == 256 and options.holdout == 0.2
    # the default budget: 2000 steps, shared by two candidate critics
    assert (options.steps_for(1), options.steps_for(2)) == (2000, 1000)
    changed = options.replace(steps=10, width=16)
    assert (changed.steps, changed.width, options.steps) == (10, 16, None)
    assert changed.steps_for(2) == 10
    assert TrainingOptions.build(changed, seed=3) == changed.replace(seed=3)
    assert TrainingOptions.build() == options
    assert options.as_dict()["device"] == "auto"


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_every_estimator_takes_the_options_and_only_those(estimator):
    # The option list is written once: no estimator repeats it in its signature.
    parameters = set(inspect.signature(estimator).parameters)
    assert not parameters & set(TrainingOptions.names())
    x = np.zeros((20, 2))
    samples = (x, [x + 1]) if estimator.__name__.endswith("_batch") else (x, x + 1)
    with pytest.raises(TypeError, match=r"unknown option 'stpes' \(did you mean 'steps'\?\)"):
        estimator(*samples, stpes=10)
    with pytest.raises(TypeError, match="unknown option 'critic'"):
        estimator(*samples, critic=None)


def test_keywords_and_an_options_object_give_the_same_result():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 1
    keywords = dv.wasserstein_dual(x, y, steps=20, batch_size=32, seed=1, device="cpu")
    options = TrainingOptions(steps=20, batch_size=32, seed=1, device="cpu")
    together = dv.wasserstein_dual(x, y, options=options)
    overridden = dv.wasserstein_dual(x, y, options=options.replace(steps=5), steps=20)
    assert keywords.distance == together.distance == overridden.distance
    # the result records the options it trained with, the default weight decay resolved
    assert keywords.options == options.replace(weight_decay=0.0)


@pytest.mark.parametrize(("dim", "expected"), [(2, 0.0), (32, 0.0), (33, 1.0), (128, 1.0)])
def test_default_weight_decay_by_dimension(dim: int, expected: float) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, dim)), rng.normal(size=(60, dim)) + 1
    result = dv.wasserstein_dual(x, y, steps=2, batch_size=8, seed=0, device="cpu")
    assert result.options.weight_decay == expected
    given = dv.wasserstein_dual(
        x, y, steps=2, batch_size=8, seed=0, device="cpu", weight_decay=0.25
    )
    assert given.options.weight_decay == 0.25


def test_weight_decay_reaches_the_optimiser() -> None:
    parameters = [torch.nn.Parameter(torch.ones(3))]
    plain = TrainingOptions().make_optimizer(parameters)
    assert type(plain) is torch.optim.Adam
    decayed = TrainingOptions(weight_decay=0.5).make_optimizer(parameters)
    assert type(decayed) is torch.optim.AdamW
    assert decayed.param_groups[0]["weight_decay"] == 0.5
    # decoupled: one step on a zero gradient shrinks the weights by lr * decay
    parameters[0].grad = torch.zeros(3)
    decayed.step()
    np.testing.assert_allclose(parameters[0].detach().numpy(), 1 - 1e-3 * 0.5, rtol=1e-6)
    rmsprop = TrainingOptions(optimizer="rmsprop", weight_decay=0.5).make_optimizer(parameters)
    assert rmsprop.param_groups[0]["weight_decay"] == 0.5


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"width": 0}, ValueError, "width must be at least 1"),
        ({"depth": 1.5}, TypeError, "depth must be an integer"),
        ({"activation": "relu6"}, ValueError, "activation must be one of 'leaky_relu'"),
        ({"optimizer": "sgd"}, ValueError, "optimizer must be one of 'adam', 'rmsprop'"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate must be positive"),
        ({"learning_rate": float("nan")}, ValueError, "learning_rate must be finite"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay must be 0 or positive"),
        ({"weight_decay": "1"}, TypeError, "weight_decay must be a real number"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ({"steps": True}, TypeError, "steps must be an integer"),
        ({"holdout": 1.0}, ValueError, "holdout must be between 0 and 1"),
        ({"validation": -0.1}, ValueError, r"validation must be between 0 \(inclusive\) and 1"),
        ({"holdout": 0.5, "validation": 0.5}, ValueError, "must leave samples to train on"),
        ({"evaluation_size": 1}, ValueError, "evaluation_size must be at least 2"),
        ({"seed": -1}, ValueError, "seed must be at least 0"),
        ({"device": "bogus"}, ValueError, "device must be 'auto', 'cpu', 'cuda'"),
        ({"device": "meta"}, ValueError, "the 'meta' backend is not supported"),
        ({"progress": "yes"}, TypeError, "progress must be True or False"),
    ],
)
def test_bad_values_fail_when_the_options_are_made(changes, error, message):
    with pytest.raises(error, match=message):
        TrainingOptions(**changes)


def test_options_must_be_training_options():
    with pytest.raises(TypeError, match="options must be a TrainingOptions; got dict"):
        dv.wasserstein_dual(np.zeros((9, 1)), np.ones((9, 1)), options={"steps": 3})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        TrainingOptions(device="cuda")


def test_make_optimizer_follows_the_options_and_the_preference():
    parameters = [torch.nn.Parameter(torch.zeros(3))]
    adam = TrainingOptions().make_optimizer(parameters)
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 1e-3
    rmsprop = TrainingOptions().make_optimizer(parameters, "rmsprop")
    assert isinstance(rmsprop, torch.optim.RMSprop) and rmsprop.defaults["lr"] == 5e-5
    chosen = TrainingOptions(optimizer="adam", learning_rate=0.1).make_optimizer(
        parameters, "rmsprop"
    )
    assert isinstance(chosen, torch.optim.Adam) and chosen.defaults["lr"] == 0.1


def test_counts_beyond_any_run_are_refused():
    # torch overflows near 2^63 steps; the options say so first
    with pytest.raises(ValueError, match="steps must be at most 1e"):
        TrainingOptions(steps=10**30)
    with pytest.raises(ValueError, match="batch_size must be at most 1e"):
        TrainingOptions(batch_size=10**13)
