"""The generator losses: direction, values against the functions and independent
references, the persistent networks, devices, bad input, and a short generator training."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch
from geomloss import SamplesLoss
from scipy.stats import energy_distance as scipy_energy

import divergences as dv
from divergences.losses import (
    EnergyLoss,
    ExactWassersteinLoss,
    GANLoss,
    SinkhornLoss,
    WassersteinLoss,
)
from divergences.neural import TrainingOptions


def every_loss() -> list[torch.nn.Module]:
    return [
        WassersteinLoss(seed=0),
        GANLoss("saturating", seed=0),
        GANLoss("non_saturating", seed=0),
        ExactWassersteinLoss(),
        SinkhornLoss(),
        EnergyLoss(),
    ]


def batches(shift: float, n: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    real = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    fake = torch.randn(n, 1, generator=generator, dtype=torch.float64) + shift
    return fake.requires_grad_(True), real


@pytest.mark.parametrize("loss", every_loss(), ids=lambda loss: type(loss).__name__)
@pytest.mark.parametrize("shift", [-3.0, 3.0])
def test_gradient_moves_fake_toward_real(loss: torch.nn.Module, shift: float) -> None:
    """A 1-D translation: after a few calls (the adversarial networks learn), the
    descent direction -grad points from fake toward real for every loss."""
    for _ in range(30 if isinstance(loss, WassersteinLoss | GANLoss) else 1):
        fake, real = batches(shift)
        value = loss(fake, real)
    value.backward()
    assert value.dim() == 0
    assert math.copysign(1.0, -fake.grad.sum().item()) == -math.copysign(1.0, shift)


def test_exact_loss_equals_the_lp_and_pot() -> None:
    fake, real = batches(1.0, n=40)
    fake2 = torch.randn(40, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    real2 = torch.randn(35, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for p, (x, y) in ((1, (fake, real)), (2, (fake2, real2))):
        value = ExactWassersteinLoss(p=p)(x, y)
        np.testing.assert_allclose(value.item(), dv.wasserstein(x, y, p=p).item(), rtol=1e-12)
        a, b = x.detach().numpy(), y.detach().numpy()
        cost = ot.dist(a, b, metric="euclidean") ** p
        pot = ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), cost)
        np.testing.assert_allclose(value.item(), pot ** (1 / p), rtol=1e-9)


def test_exact_loss_gradient_is_the_plan_pull() -> None:
    """Equal batches in 1-D: the plan pairs sorted samples, so
    d W1 / d x_i = sign(x_i - y_i) / n."""
    fake, real = batches(0.3, n=50)
    ExactWassersteinLoss()(fake, real).backward()
    x, y = fake.detach().numpy().ravel(), real.numpy().ravel()
    expected = np.empty_like(x)
    expected[np.argsort(x)] = np.sign(np.sort(x) - np.sort(y)) / len(x)
    np.testing.assert_allclose(fake.grad.numpy().ravel(), expected, atol=1e-12)


def test_sinkhorn_loss_equals_the_function_and_geomloss() -> None:
    fake, real = batches(1.0, n=64)
    value = SinkhornLoss(blur=0.1)(fake, real)
    function = dv.sinkhorn_divergence(fake, real, blur=0.1, scaling=0.5)
    np.testing.assert_allclose(value.item(), function.item(), rtol=1e-12)
    geomloss = SamplesLoss("sinkhorn", p=1, blur=0.1, scaling=0.5, debias=True)(fake, real)
    np.testing.assert_allclose(value.item(), geomloss.item(), rtol=2e-3)


def test_energy_loss_equals_the_function_and_scipy() -> None:
    fake, real = batches(0.5, n=64)
    value = EnergyLoss()(fake, real)
    np.testing.assert_allclose(value.item(), dv.energy_distance(fake, real).item(), rtol=1e-12)
    u, v = fake.detach().numpy().ravel(), real.numpy().ravel()
    np.testing.assert_allclose(value.item(), scipy_energy(u, v) ** 2, rtol=1e-12)


def test_wasserstein_loss_keeps_and_updates_its_critic() -> None:
    loss = WassersteinLoss(seed=0)
    assert loss.critic is None
    fake, real = batches(2.0)
    loss(fake, real)
    critic = loss.critic
    before = [parameter.detach().clone() for parameter in critic.parameters()]
    loss(fake, real)
    assert loss.critic is critic  # the same network, trained further
    assert any(
        not torch.equal(old, new) for old, new in zip(before, critic.parameters(), strict=True)
    )
    np.testing.assert_array_equal(loss.history.step, [5, 10])
    assert critic in list(loss.modules())  # moves and saves with the loss


def test_wasserstein_loss_estimates_w1_after_training() -> None:
    """A 2-D translation by (2, 0): W1 = 2; the critic's estimate after 400 critic steps
    on fresh batches is within 10%."""
    loss = WassersteinLoss(seed=0)
    generator = torch.Generator().manual_seed(0)
    values = []
    for _ in range(80):
        real = torch.randn(256, 2, generator=generator)
        fake = torch.randn(256, 2, generator=generator) + torch.tensor([2.0, 0.0])
        values.append(loss(fake, real).item())
    np.testing.assert_allclose(np.mean(values[-20:]), 2.0, rtol=0.1)


def trained_on_scaled_batches(
    make: type, scale: float, dtype: torch.dtype
) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three calls of a fresh loss on a 2-D pair of batches multiplied by ``scale``; the
    loss, the last value, its gradient in ``fake`` and the real batch."""
    generator = torch.Generator().manual_seed(0)
    fake = torch.randn(64, 2, generator=generator, dtype=torch.float64)
    real = torch.randn(80, 2, generator=generator, dtype=torch.float64) + 3.0
    fake = (fake * scale).to(dtype).requires_grad_(True)
    real = (real * scale).to(dtype)
    loss = make(seed=0)
    for _ in range(3):
        value = loss(fake, real)
    (gradient,) = torch.autograd.grad(value, fake)
    return loss, value.detach(), gradient, real


@pytest.mark.parametrize(
    ("scale", "dtype", "rtol"),
    [
        (1e-200, torch.float64, 1e-12),
        (1e200, torch.float64, 1e-12),
        (1e-30, torch.float32, 2e-4),
        (1e30, torch.float32, 2e-4),
    ],
)
def test_critic_and_discriminator_losses_at_any_scale(
    scale: float, dtype: torch.dtype, rtol: float
) -> None:
    """The networks train on standardised coordinates, so the data's units drop out: the
    critic's value scales with the data and its gradient does not; the GAN value does
    not and its gradient scales inversely (against the same training at scale 1). Before,
    the critic's gradient underflowed to 0 at 1e-200 and the training diverged at 1e200."""
    for make in (WassersteinLoss, GANLoss):
        loss, value, gradient, real = trained_on_scaled_batches(make, scale, dtype)
        _, unit_value, unit_gradient, unit_real = trained_on_scaled_batches(make, 1.0, dtype)
        value_units = scale if make is WassersteinLoss else 1.0
        gradient_units = 1.0 if make is WassersteinLoss else 1 / scale
        np.testing.assert_allclose(value.item() / value_units, unit_value.item(), rtol=rtol)
        largest = unit_gradient.abs().max().item()
        np.testing.assert_allclose(
            (gradient.double() / gradient_units).numpy(),
            unit_gradient.double().numpy(),
            atol=rtol * largest,
        )
    # the discriminator, called directly, gives the logit at any scale
    loss, *_ = trained_on_scaled_batches(GANLoss, scale, dtype)
    unit_loss, *_ = trained_on_scaled_batches(GANLoss, 1.0, dtype)
    np.testing.assert_allclose(
        loss.discriminator(real[:5]).detach().double().numpy(),
        unit_loss.discriminator(unit_real[:5]).detach().double().numpy(),
        rtol=rtol,
        atol=rtol,
    )


def test_saturating_gan_value_is_the_generators_side_of_the_minimax_bound() -> None:
    """Where the discriminator cannot tell (fake and real from the same law), D = 1/2: the
    saturating loss E_fake log(1 - D) nears -log 2, and the game's value E_real log D +
    E_fake log(1 - D), which the discriminator maximises (its history), nears -log 4."""
    loss = GANLoss("saturating", seed=0)
    generator = torch.Generator().manual_seed(0)
    values = []
    for _ in range(40):
        real = torch.randn(256, 1, generator=generator)
        values.append(loss(torch.randn(256, 1, generator=generator), real).item())
    np.testing.assert_allclose(np.mean(values[-10:]), -math.log(2.0), atol=0.05)
    np.testing.assert_allclose(np.mean(loss.history.objective[-10:]), -math.log(4.0), atol=0.05)


def test_gan_kinds_and_generator_loss_kinds_are_one_table() -> None:
    from divergences.losses import GAN_KINDS
    from divergences.neural import GENERATOR_LOSSES

    assert GAN_KINDS is GENERATOR_LOSSES
    assert list(GENERATOR_LOSSES) == ["saturating", "non_saturating"]
    result = _result_of(GANLoss(dim=1, seed=0))
    # an unknown name is refused by both with the same list of choices
    with pytest.raises(ValueError) as by_loss:
        GANLoss("minimax")
    with pytest.raises(ValueError) as by_result:
        result.generator_loss(torch.zeros(3, 1), "minimax")
    listing = "must be one of 'saturating', 'non_saturating'"
    assert listing in str(by_loss.value) and listing in str(by_result.value)


def _result_of(loss: GANLoss) -> dv.DiscriminatorResult:
    """A DiscriminatorResult around the loss's discriminator (the numbers are placeholders:
    only the network matters to generator_loss)."""
    assert loss.discriminator is not None
    return dv.DiscriminatorResult(
        divergence=0.0,
        stderr=0.0,
        lower_bound=0.0,
        interval=(0.0, math.log(2.0)),
        train_divergence=0.0,
        discriminator=loss.discriminator,
        history=loss.history,
        held_out_index=(None, None),
        options=TrainingOptions(),
        steps=loss.steps,
        seconds=0.0,
        device="cpu",
    )


@pytest.mark.parametrize("kind", ["saturating", "non_saturating"])
def test_gan_loss_and_a_results_generator_loss_agree(kind: str) -> None:
    """The same name gives the same value for the same discriminator and fake batch, and the
    gradient in fake is that of the loss written out from the discriminator's logits
    (log(1 - sigmoid(l)) = logsigmoid(-l), log sigmoid(l) = logsigmoid(l))."""
    loss = GANLoss(kind, seed=0)
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        real = torch.randn(128, 2, generator=generator, dtype=torch.float64)
        fake = torch.randn(128, 2, generator=generator, dtype=torch.float64) + 1.5
        fake.requires_grad_(True)
        value = loss(fake, real)
    (gradient,) = torch.autograd.grad(value, fake)
    result = _result_of(loss)
    from_result = result.generator_loss(fake, kind)
    (result_gradient,) = torch.autograd.grad(from_result, fake)
    np.testing.assert_allclose(from_result.item(), value.item(), rtol=1e-5)
    np.testing.assert_allclose(result_gradient.numpy(), gradient.numpy(), rtol=1e-4, atol=1e-9)
    # the reference, by hand from the trained discriminator's logits
    assert loss.discriminator is not None
    logits = loss.discriminator(fake).double()
    if kind == "saturating":
        reference = torch.nn.functional.logsigmoid(-logits).mean()
    else:
        reference = -torch.nn.functional.logsigmoid(logits).mean()
    (reference_gradient,) = torch.autograd.grad(reference, fake)
    np.testing.assert_allclose(value.item(), reference.item(), rtol=1e-5)
    np.testing.assert_allclose(gradient.numpy(), reference_gradient.numpy(), rtol=1e-4, atol=1e-9)


def test_losses_are_reproducible_with_a_seed() -> None:
    values = []
    for _ in range(2):
        loss = WassersteinLoss(seed=3)
        fake, real = batches(1.0)
        values.append([loss(fake, real).item() for _ in range(3)])
    assert values[0] == values[1]


def test_networks_on_the_device(device: str) -> None:
    for loss in (WassersteinLoss(dim=2, seed=0), GANLoss(dim=2, seed=0)):
        loss = loss.to(device)
        fake = torch.randn(32, 2, device=device, requires_grad=True)
        value = loss(fake, torch.randn(32, 2, device=device))
        assert value.device.type == device
        assert next(loss.network.parameters()).device.type == device
        value.backward()
        assert fake.grad.device.type == device
    for loss in (ExactWassersteinLoss(), SinkhornLoss(), EnergyLoss()):
        fake = torch.randn(32, 2, device=device, requires_grad=True)
        value = loss(fake, torch.randn(32, 2, device=device))
        assert value.device.type == device


def test_real_may_be_numpy_and_of_another_dtype() -> None:
    fake = torch.zeros(8, 1, dtype=torch.float32, requires_grad=True)
    value = EnergyLoss()(fake, np.full((8, 1), 2.0))
    assert value.dtype == torch.float32
    np.testing.assert_allclose(value.item(), 4.0)


def test_critic_built_for_one_dimension_refuses_another() -> None:
    loss = WassersteinLoss(dim=2)
    with pytest.raises(ValueError, match="d = 2"):
        loss(torch.zeros(4, 3), torch.zeros(4, 3))


BAD_BATCHES = {
    "fake not a tensor": (
        lambda: (np.zeros((4, 1)), torch.zeros(4, 1)),
        TypeError,
        r"fake must be a torch\.Tensor",
    ),
    "fake of integers": (
        lambda: (torch.zeros(4, 1, dtype=torch.int64), torch.zeros(4, 1)),
        TypeError,
        "fake must be a floating tensor",
    ),
    "fake complex": (
        lambda: (torch.zeros(4, 1, dtype=torch.complex64), torch.zeros(4, 1)),
        TypeError,
        "fake must be a floating tensor",
    ),
    "fake on meta": (
        lambda: (torch.zeros(4, 1, device="meta"), torch.zeros(4, 1)),
        ValueError,
        "fake is a tensor on the 'meta' device",
    ),
    "real on meta": (
        lambda: (torch.zeros(4, 1), torch.zeros(4, 1, device="meta")),
        ValueError,
        "real is a tensor on the 'meta' device",
    ),
    "real of text": (
        lambda: (torch.zeros(1, 2), [["a", "b"]]),
        TypeError,
        "real must hold real numbers",
    ),
    "real a string": (lambda: (torch.zeros(1, 2), "ab"), TypeError, "real must be"),
    "real None": (lambda: (torch.zeros(1, 2), None), TypeError, "real must be"),
    "real complex tensor": (
        lambda: (torch.zeros(2, 1), torch.zeros(2, 1, dtype=torch.complex64)),
        TypeError,
        "real must hold real numbers",
    ),
    "real complex list": (
        lambda: (torch.zeros(1, 2), [[1j, 2.0]]),
        TypeError,
        "real must hold real numbers",
    ),
    "real boolean tensor": (
        lambda: (torch.zeros(2, 1), torch.tensor([[True], [False]])),
        TypeError,
        "real must hold real numbers",
    ),
    "real boolean array": (
        lambda: (torch.zeros(2, 1), np.zeros((2, 1), dtype=bool)),
        TypeError,
        "real must hold real numbers",
    ),
    "real NaN": (
        lambda: (torch.zeros(4, 1), torch.tensor([[0.0], [math.nan], [1.0], [2.0]])),
        ValueError,
        "real must contain only finite numbers",
    ),
    "fake inf": (
        lambda: (torch.tensor([[0.0], [math.inf]], requires_grad=True), torch.zeros(2, 1)),
        ValueError,
        "fake must contain only finite numbers",
    ),
    "fake 1-D": (
        lambda: (torch.zeros(4), torch.zeros(4, 1)),
        ValueError,
        r"fake must be an \(N, d\)",
    ),
    "real 3-D": (
        lambda: (torch.zeros(4, 1), torch.zeros(4, 1, 1)),
        ValueError,
        r"real must be an \(N, d\)",
    ),
    "real empty": (
        lambda: (torch.zeros(4, 1), np.zeros((0, 1))),
        ValueError,
        "real must hold at least one sample",
    ),
    "ragged real": (lambda: (torch.zeros(2, 2), [[1.0, 2.0], [3.0]]), ValueError, "real must be"),
    "two values of d": (
        lambda: (torch.zeros(4, 1), torch.zeros(4, 2)),
        ValueError,
        "fake and real must have the same dimension d; got d = 1 and d = 2",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
@pytest.mark.parametrize("loss", every_loss(), ids=lambda loss: type(loss).__name__)
def test_bad_batches_are_refused_by_name(loss: torch.nn.Module, case: str) -> None:
    """Every loss checks its batches as the functions check their arguments: the error
    is a ValueError or TypeError that names ``fake`` or ``real``."""
    make, error, message = BAD_BATCHES[case]
    fake, real = make()
    with pytest.raises(error, match=message):
        loss(fake, real)


def test_tensors_on_two_devices_are_refused(device: str) -> None:
    if device == "cpu":
        pytest.skip("needs a second device: runs where CUDA is present")
    for loss in every_loss():
        with pytest.raises(ValueError, match="fake on cuda:0, real on cpu"):
            loss(torch.zeros(4, 1, device=device), torch.zeros(4, 1))


@pytest.mark.parametrize("loss", every_loss(), ids=lambda loss: type(loss).__name__)
def test_real_is_data_and_gets_no_gradient(loss: torch.nn.Module) -> None:
    """One rule for all: the loss is a function of ``fake``; ``real`` is detached, even
    where it requires grad, as a leaf or as the output of another parameter."""
    fake, data = batches(1.0, n=32)
    real = data.clone().requires_grad_(True)
    source = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    for given, leaf in ((real, real), (data + source, source)):
        fake.grad = None
        loss(fake, given).backward()
        assert leaf.grad is None
        assert fake.grad is not None
        assert bool(torch.isfinite(fake.grad).all())
        assert float(fake.grad.abs().sum()) > 0


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        GANLoss("minimax")
    with pytest.raises(ValueError, match="penalty"):
        WassersteinLoss(penalty="gradient")
    with pytest.raises(ValueError, match="critic_steps"):
        WassersteinLoss(critic_steps=0)
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        WassersteinLoss(learning_rate=0.0)
    with pytest.raises(ValueError, match="activation"):
        GANLoss(activation="relu6")
    with pytest.raises(ValueError, match="blur must be"):
        SinkhornLoss(blur=-1.0)
    with pytest.raises(ValueError, match="blur must be positive"):
        SinkhornLoss(blur=0.0)
    with pytest.raises(ValueError, match="p"):
        ExactWassersteinLoss(p=0.5)
    with pytest.raises(TypeError, match="unbiased"):
        EnergyLoss(unbiased=1)


def test_a_short_generator_training_reduces_w1() -> None:
    """A one-layer generator from 2-D noise, trained 300 steps on N((3, -1), 0.5^2 I)
    with the default WassersteinLoss: the exact W1 to fresh data falls by 70%."""
    torch.manual_seed(0)
    generator = torch.nn.Sequential(
        torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2)
    )
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    loss = WassersteinLoss(seed=0)
    rng = np.random.default_rng(0)
    centre = np.array([3.0, -1.0])

    def distance() -> float:
        with torch.no_grad():
            fake = generator(torch.randn(1000, 2)).numpy()
        return dv.wasserstein(fake, centre + 0.5 * rng.standard_normal((1000, 2)))

    start = distance()
    for _ in range(300):
        real = torch.as_tensor(centre + 0.5 * rng.standard_normal((128, 2)), dtype=torch.float32)
        value = loss(generator(torch.randn(128, 2)), real)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    assert distance() < 0.3 * start


@pytest.mark.parametrize("make", [WassersteinLoss, GANLoss], ids=["critic", "discriminator"])
@pytest.mark.parametrize("seed", [None, 0])
def test_the_adversarial_losses_leave_torch_global_generator_alone(make, seed) -> None:
    """Their networks draw from generators of their own: torch's global one is neither
    read nor moved (another thread, or the caller's own seeded code, may be using it),
    and a seeded loss gives the same value whatever the global generator's state."""
    fake = torch.linspace(-1.0, 1.0, 32, dtype=torch.float32).reshape(16, 2)
    real = fake + 2.0
    torch.random.default_generator.manual_seed(7)
    state = torch.get_rng_state()
    value = make(seed=seed)(fake, real)
    assert torch.equal(torch.get_rng_state(), state)
    if seed is not None:
        torch.random.default_generator.manual_seed(8)
        assert torch.equal(make(seed=seed)(fake, real), value)


def test_the_losses_restore_the_callers_thread_count() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        WassersteinLoss(seed=0)(torch.zeros(8, 1), torch.ones(8, 1))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_group_of_an_adversarial_loss_must_be_a_process_group() -> None:
    with pytest.raises(TypeError, match="group must be None"):
        WassersteinLoss(group="world")
    with pytest.raises(TypeError, match="group must be None"):
        GANLoss(group=2)
