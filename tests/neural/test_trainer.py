"""The public training loop: an objective of one's own, the history, errors, progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import divergences as dv
from divergences.neural import (
    STATISTICS,
    Critic,
    CriticStack,
    KantorovichDual,
    TrainingDivergedError,
    TrainingOptions,
    train,
)


class MeanShift:
    """A toy objective: maximise E_p f - E_q f with weights clipped to 0.05."""

    optimizer = "rmsprop"

    def backward(self, network, x_p, x_q, generator):
        value = network(x_p).mean(-1) - network(x_q).mean(-1)
        loss = -value.sum()
        loss.backward()
        zero = torch.zeros_like(value)
        return loss.detach(), torch.stack([value, zero, zero, zero], dim=-1).detach()

    def after_step(self, network):
        with torch.no_grad():
            for parameter in network.parameters():
                parameter.clamp_(-0.05, 0.05)


def _sampler(shift: float, device: str = "cpu", dim: int = 1):
    def sample(size, generator):
        x = torch.randn(size, dim, generator=generator, device=device)
        y = torch.randn(size, dim, generator=generator, device=device) + shift
        return x, y

    return sample


def test_an_objective_of_ones_own_trains_and_is_projected(device):
    torch.manual_seed(0)
    critic = Critic(1, 16, 2).to(device)
    options = TrainingOptions(steps=120, batch_size=64, learning_rate=5e-3, seed=0)
    history = train(critic, MeanShift(), _sampler(-2.0, device), options, log_every=40)
    np.testing.assert_array_equal(history.step, [40, 80, 120])
    assert history.objective[-1] > history.objective[0] > -1
    assert all(float(p.detach().abs().max()) <= np.float32(0.05) for p in critic.parameters())
    assert not critic.training
    assert set(STATISTICS) == {"objective", "penalty", "grad_norm_mean", "grad_norm_max"}


def test_training_is_reproducible_from_the_seed():
    histories = []
    for _ in range(2):
        torch.manual_seed(0)
        critic = Critic(1, 8, 1)
        options = TrainingOptions(steps=30, batch_size=16, seed=5)
        histories.append(train(critic, KantorovichDual(), _sampler(1.0), options))
    np.testing.assert_array_equal(histories[0].objective, histories[1].objective)


def test_non_finite_loss_names_the_step():
    class PoisonedAfter(MeanShift):
        calls = 0

        def backward(self, network, x_p, x_q, generator):
            loss, stats = super().backward(network, x_p, x_q, generator)
            PoisonedAfter.calls += 1
            return (loss * np.nan if PoisonedAfter.calls >= 10 else loss), stats

    torch.manual_seed(0)
    with pytest.raises(TrainingDivergedError, match="at step 10;"):
        train(Critic(1, 8, 1), PoisonedAfter(), _sampler(1.0), TrainingOptions(steps=60))


def test_a_rank_whose_own_losses_are_finite_stops_with_the_one_that_diverged():
    from divergences.neural._distributed import Group
    from divergences.neural._trainer import _check_finite

    class OtherRankFailed(Group):
        def sum(self, tensor):  # another rank counted two non-finite losses
            return tensor + 2

    finite = torch.ones(50)
    _check_finite(finite, first_step=0, group=Group())  # nothing anywhere: no error
    with pytest.raises(TrainingDivergedError, match="on another process by step 100"):
        _check_finite(finite, first_step=50, group=OtherRankFailed(rank=0, size=2))
    poisoned = finite.clone()
    poisoned[7] = np.inf
    with pytest.raises(TrainingDivergedError, match="became inf at step 58;"):
        _check_finite(poisoned, first_step=50, group=OtherRankFailed(rank=0, size=2))


def test_a_sampler_returning_nan_is_named():
    rng = np.random.default_rng(8)
    calls = {"count": 0}

    def poisoned(k):
        calls["count"] += 1
        batch = rng.normal(size=(k, 2))
        if calls["count"] >= 12:
            batch[0, 0] = np.nan
        return batch

    with pytest.raises(ValueError, match="x returned a batch with NaN or inf"):
        dv.wasserstein_dual(
            poisoned, lambda k: rng.normal(size=(k, 2)), seed=0, steps=300, device="cpu"
        )


def test_progress_bar_reports_training(capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    dv.wasserstein_dual(x, x + 1, steps=60, batch_size=32, progress=True, device="cpu", seed=0)
    assert "training" in capsys.readouterr().err


def test_small_critics_train_on_one_thread_and_the_setting_is_restored():
    seen = []

    class Recording(MeanShift):
        def backward(self, network, x_p, x_q, generator):
            seen.append(torch.get_num_threads())
            return super().backward(network, x_p, x_q, generator)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(Critic(1, 8, 1), Recording(), _sampler(1.0), TrainingOptions(steps=3))
        assert seen == [1, 1, 1]
        assert torch.get_num_threads() == 2
        seen.clear()
        train(Critic(1, 8, 1), Recording(), _sampler(1.0), TrainingOptions(steps=2, threads=2))
        assert seen == [2, 2]
        seen.clear()
        # a network whose step is large keeps torch's setting
        big = Critic(64, 1024, 2)
        train(big, Recording(), _sampler(0.0, dim=64), TrainingOptions(steps=1, batch_size=128))
        assert seen == [2]
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="checks host synchronisation on CUDA")
def test_training_on_cuda_does_not_wait_for_the_device_every_step():
    # torch warns at every synchronising operation in this mode: the loop may look at
    # the device once per logging window (50 steps), not once per step.
    import warnings

    x = torch.randn(4000, 2, device="cuda")
    y = x + 1

    def sample(size, generator):
        index = torch.randint(4000, (1, size), generator=generator, device="cuda")
        return x[index], y[index]

    stack = CriticStack([Critic(2, 64, 2)]).cuda()
    generator = torch.Generator(device="cuda").manual_seed(0)
    # Turning the mode on warns that it is a prototype: inside the recording block, so
    # that pytest's warnings-as-errors cannot leave it on for the tests that follow.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            torch.cuda.set_sync_debug_mode("warn")
            train(
                stack, KantorovichDual(), sample, TrainingOptions(steps=400), generator=generator
            )
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "called a synchronizing" in str(w.message)]
    assert len(syncs) <= 400 // 50 + 4, f"{len(syncs)} synchronisations in 400 steps"
