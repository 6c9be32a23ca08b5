"""The headline experiment: values and gradients of every method on disjoint supports.

P is uniform on the segment :math:`\\{0\\} \\times [0, 1]` and :math:`Q_\\theta` the
same segment moved to :math:`x = \\theta`. For :math:`\\theta \\ne 0` the supports
are disjoint: :math:`\\mathrm{KL} = +\\infty`, :math:`\\mathrm{JS} = \\log 2` and
:math:`W_1 = |\\theta|`. A generator that moves :math:`Q_\\theta` towards P needs
the derivative in :math:`\\theta`; this module measures it for each method by
autograd through the sample generator (samples of :math:`Q_\\theta` are
:math:`(\\theta, u)` with :math:`\\theta` a tensor), and shows what gradient
descent on :math:`\\theta` does with each loss.

* :func:`gradient_sweep`: value and :math:`d/d\\theta` over a grid of
  :math:`\\theta`, several seeds, for the closed forms, JS from histograms of
  the samples, the k-NN estimators, the exact W (POT), the neural critic and
  the GAN discriminator (its JS estimate and both generator losses). The
  critics and discriminators of a seed are trained as one stack.
* :func:`training_dynamics`: :math:`\\theta` descended from :math:`\\theta_0` by
  gradient steps on each loss, the critic or discriminator warm-started and
  trained for a few steps between updates, as GAN training does.
* :func:`critic_picture`: a trained critic and discriminator over the plane for
  two separated Gaussian clouds, with the gradients they give the generator.
* :func:`batched_timing`: K critics trained as one stack against one.
* :func:`run`: all of it, with JSON, CSV and figures in a folder (the
  ``divergences gradients`` command).

Plots need matplotlib (``pip install "divergences[bench]"``).
"""

from __future__ import annotations

import csv
import json
import math
import platform
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from divergences.closed_form import segments
from divergences.families import segment_samples
from divergences.information import js
from divergences.knn import js_knn, kl_knn
from divergences.transport import wasserstein

__all__ = [
    "DEFAULT_THETAS",
    "METHODS",
    "batched_timing",
    "critic_picture",
    "gradient_sweep",
    "histogram_js",
    "run",
    "summary_table",
    "training_dynamics",
]

#: The default grid: [-2, 2] with 0 and small |theta|.
DEFAULT_THETAS = (
    -2.0,
    -1.5,
    -1.0,
    -0.5,
    -0.25,
    -0.1,
    -0.05,
    0.0,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    1.5,
    2.0,
)

#: Every method of the sweep, with what its value is.
METHODS = {
    "kl_exact": "KL, closed form",
    "js_exact": "JS, closed form",
    "w_exact": "W1, closed form",
    "js_histogram": "JS of histograms of the samples (linear binning)",
    "kl_knn": "KL, k-NN estimate",
    "js_knn": "JS, k-NN estimate",
    "w_lp": "W1, exact LP between the samples (POT)",
    "w_critic": "W1, neural critic (wasserstein_dual)",
    "js_discriminator": "JS, GAN discriminator (js_dual)",
    "gan_saturating": "GAN generator loss E_q log(1 - D)",
    "gan_non_saturating": "GAN generator loss -E_q log D",
}

# Histogram grid: x bins centred on multiples of the width over [-_REACH, _REACH],
# ten bins in y over [0, 1].
_REACH = 2.5
_Y_BINS = 10


def histogram_js(samples_p: Any, samples_q: Any, bin_width: float = 0.1) -> Any:
    """JS between 2-D histograms of two sample sets, differentiable in the x positions.

    Each sample's mass is shared between the two x bins around it in
    proportion to its distance to their centres (linear binning), so the
    histogram moves continuously with the samples and autograd gives a
    gradient; y bins are plain. Once the segments are more than one bin apart
    the histograms are disjoint: JS is :math:`\\log 2` and its gradient 0.

    Parameters
    ----------
    samples_p, samples_q : (n, 2) torch.Tensor
        Samples with x in [-2.5, 2.5] and y in [0, 1].
    bin_width : float, default 0.1
        Width of the x bins.

    Returns
    -------
    torch.Tensor
        JS in nats, a scalar with autograd.

    Examples
    --------
    >>> import math, torch
    >>> from divergences.families import segment_samples
    >>> p = segment_samples(torch.tensor(0.0, dtype=torch.float64), 1000, seed=0)
    >>> q = segment_samples(torch.tensor(1.0, dtype=torch.float64), 1000, seed=1)
    >>> math.isclose(float(histogram_js(p, q)), math.log(2), rel_tol=1e-9)
    True
    """
    import torch

    bins_x = 2 * round(_REACH / bin_width) + 1

    def histogram(x: torch.Tensor) -> torch.Tensor:
        position = x[:, 0] / bin_width + (bins_x // 2)
        left = torch.floor(position.detach()).clamp(0, bins_x - 2)
        share_right = position - left
        row = torch.clamp((x[:, 1].detach() * _Y_BINS).long(), 0, _Y_BINS - 1)
        flat = torch.zeros(bins_x * _Y_BINS, dtype=x.dtype, device=x.device)
        index = left.long() * _Y_BINS + row
        flat = flat.index_add(0, index, 1 - share_right)
        return flat.index_add(0, index + _Y_BINS, share_right)

    return js(histogram(samples_p), histogram(samples_q))


def _theta_tensor(theta: float) -> Any:
    import torch

    return torch.tensor(theta, dtype=torch.float64, requires_grad=True)


def _value_and_derivative(loss: Any, theta: Any) -> tuple[float, float]:
    """The loss and d loss / d theta; 0 where theta does not reach the loss."""
    import torch

    (grad,) = torch.autograd.grad(loss, theta, allow_unused=True)
    return float(loss.detach()), 0.0 if grad is None else float(grad)


def _sample_based(
    theta: float, p: Any, seed: int, samples: int, bin_width: float, k: int
) -> dict[str, tuple[float, float]]:
    """Histogram JS, k-NN KL and JS, and the exact LP, through Q_theta's samples."""
    out = {}
    estimators: dict[str, Callable[[Any, Any], Any]] = {
        "js_histogram": lambda a, b: histogram_js(a, b, bin_width),
        "kl_knn": lambda a, b: kl_knn(a, b, k=k),
        "js_knn": lambda a, b: js_knn(a, b, k=k),
        "w_lp": wasserstein,
    }
    for name, estimator in estimators.items():
        t = _theta_tensor(theta)
        q = segment_samples(t, samples, seed=seed + 1)
        out[name] = _value_and_derivative(estimator(p, q), t)
    return out


def gradient_sweep(
    thetas: Sequence[float] = DEFAULT_THETAS,
    *,
    samples: int = 1000,
    seeds: int = 3,
    steps: int = 1000,
    width: int = 32,
    depth: int = 2,
    batch_size: int = 128,
    bin_width: float = 0.1,
    k: int = 5,
    device: str = "auto",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Value and derivative in theta of every method, per theta and seed.

    Returns a list of rows ``{"method", "theta", "seed", "value", "derivative"}``
    (see :data:`METHODS`). The closed forms have one row per theta (seed
    None); KL's value is inf and its derivative NaN for theta != 0.
    The neural estimators train ``steps`` steps on ``samples`` samples a side
    (a fifth held out); their derivative is autograd through their estimate on
    fresh samples of P and Q_theta.
    """
    import torch

    from divergences.neural import js_dual_batch, wasserstein_dual_batch

    rows: list[dict[str, Any]] = []
    for theta in thetas:
        for measure, name in (("kl", "kl_exact"), ("js", "js_exact"), ("wasserstein", "w_exact")):
            reference = segments(theta, measure=measure)
            rows.append(
                _row(name, theta, None, float(reference.value), float(reference.derivative))
            )
    bar = _bar(seeds * (len(thetas) + 2), progress, "gradient sweep")
    for seed in range(seeds):
        base = 1000 * seed
        p = segment_samples(torch.tensor(0.0, dtype=torch.float64), samples, seed=base)
        for theta in thetas:
            for name, (value, derivative) in _sample_based(
                theta, p, base, samples, bin_width, k
            ).items():
                rows.append(_row(name, theta, seed, value, derivative))
            _advance(bar)
        p_train = np.asarray(segment_samples(0.0, samples, seed=base + 2))
        q_train = [np.asarray(segment_samples(t, samples, seed=base + 3)) for t in thetas]
        options: dict[str, Any] = {
            "steps": steps,
            "width": width,
            "depth": depth,
            "seed": seed,
            "device": device,
        }
        critics = wasserstein_dual_batch(p_train, q_train, **options)
        _advance(bar)
        discriminators = js_dual_batch(p_train, q_train, **options)
        _advance(bar)
        for theta, critic, discriminator in zip(thetas, critics, discriminators, strict=True):
            rows += _neural_rows(theta, seed, critic, discriminator, samples, base)
    if bar is not None:
        bar.close()
    return rows


def _neural_rows(
    theta: float, seed: int, critic: Any, discriminator: Any, samples: int, base: int
) -> list[dict[str, Any]]:
    fresh_p = segment_samples(0.0, samples, seed=base + 4)
    rows = []
    t = _theta_tensor(theta)
    _, derivative = _value_and_derivative(
        critic.estimate(fresh_p, segment_samples(t, samples, seed=base + 5)), t
    )
    rows.append(_row("w_critic", theta, seed, critic.distance, derivative))
    t = _theta_tensor(theta)
    _, derivative = _value_and_derivative(
        discriminator.estimate(fresh_p, segment_samples(t, samples, seed=base + 5)), t
    )
    rows.append(_row("js_discriminator", theta, seed, discriminator.divergence, derivative))
    for kind in ("saturating", "non_saturating"):
        t = _theta_tensor(theta)
        loss = discriminator.generator_loss(segment_samples(t, samples, seed=base + 5), kind)
        rows.append(_row(f"gan_{kind}", theta, seed, *_value_and_derivative(loss, t)))
    return rows


def _row(
    method: str, theta: float, seed: int | None, value: float, derivative: float
) -> dict[str, Any]:
    return {
        "method": method,
        "theta": float(theta),
        "seed": seed,
        "value": float(value),
        "derivative": float(derivative),
    }


def training_dynamics(
    theta0s: Sequence[float] = (2.0, 0.5),
    *,
    iterations: int = 60,
    learning_rate: float = 0.05,
    inner_steps: int = 50,
    samples: int = 500,
    width: int = 32,
    depth: int = 2,
    batch_size: int = 128,
    bin_width: float = 0.1,
    seed: int = 0,
    device: str = "auto",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Gradient descent on theta with each loss, from each theta0.

    At every iteration fresh samples of P and Q_theta are drawn; the critic or
    discriminator (warm-started from the previous iteration) trains
    ``inner_steps`` steps on them, then theta moves by ``-learning_rate`` times
    the loss's derivative. Returns rows ``{"method", "theta0", "thetas"}`` with
    the trajectory (``iterations + 1`` values).
    """
    import torch

    from divergences.neural import js_dual, wasserstein_dual

    methods = ("w_lp", "w_critic", "gan_saturating", "gan_non_saturating", "js_histogram")
    origin = torch.tensor(0.0, dtype=torch.float64)
    bar = _bar(len(theta0s) * len(methods), progress, "training dynamics")
    rows = []
    for theta0 in theta0s:
        for method in methods:
            theta = float(theta0)
            trajectory = [theta]
            network: Any = None
            for step in range(iterations):
                draw = seed * 100_000 + 2 * step
                p = segment_samples(origin, samples, seed=draw)
                t = _theta_tensor(theta)
                q: Any = segment_samples(t, samples, seed=draw + 1)
                options: dict[str, Any] = {
                    "steps": inner_steps,
                    "width": width,
                    "depth": depth,
                    "batch_size": batch_size,
                    "seed": seed + step,
                    "device": device,
                }
                if method == "w_lp":
                    loss = wasserstein(p, q)
                elif method == "js_histogram":
                    loss = histogram_js(p, q, bin_width)
                elif method == "w_critic":
                    critic_result = wasserstein_dual(p, q.detach(), critic=network, **options)
                    network = critic_result.critic
                    loss = critic_result.estimate(p, q)
                else:
                    gan_result = js_dual(p, q.detach(), discriminator=network, **options)
                    network = gan_result.discriminator
                    kind = method.removeprefix("gan_")
                    loss = gan_result.generator_loss(q, kind)
                _, derivative = _value_and_derivative(loss, t)
                theta -= learning_rate * derivative
                trajectory.append(theta)
            rows.append({"method": method, "theta0": float(theta0), "thetas": trajectory})
            _advance(bar)
    if bar is not None:
        bar.close()
    return rows


def critic_picture(
    *,
    samples: int = 500,
    separation: float = 4.0,
    spread: float = 0.3,
    steps: int = 1000,
    grid: int = 60,
    seed: int = 0,
    device: str = "auto",
) -> dict[str, Any]:
    """A critic and a discriminator over the plane for two separated Gaussian clouds.

    P = N((-separation/2, 0), spread^2 I) and Q = N((separation/2, 0), spread^2 I).
    Returns the samples, a grid of critic values f and discriminator
    probabilities D, and at Q's samples the direction in which each loss moves
    them: :math:`\\nabla f` for the critic (the generator lowers
    :math:`E_p f - E_q f`), :math:`-\\nabla \\log(1 - D)` (saturating) and
    :math:`\\nabla \\log D` (non-saturating) for the discriminator.
    """
    import torch

    from divergences.neural import js_dual, wasserstein_dual

    rng = np.random.default_rng(seed)
    shift = np.array([separation / 2, 0.0])
    p = rng.normal(scale=spread, size=(samples, 2)) - shift
    q = rng.normal(scale=spread, size=(samples, 2)) + shift
    options: dict[str, Any] = {"steps": steps, "seed": seed, "device": device}
    critic = wasserstein_dual(p, q, **options)
    discriminator = js_dual(p, q, **options)
    reach = separation / 2 + 4 * spread + 0.5
    xs = np.linspace(-reach, reach, grid)
    ys = np.linspace(-reach / 2, reach / 2, grid // 2)
    mesh = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    with torch.no_grad():
        f = critic.critic(torch.as_tensor(mesh, dtype=torch.float32)).numpy()
        d = discriminator.probability(mesh).numpy()
    arrows = q[:: max(1, samples // 40)]
    directions = {}
    for name, loss in (
        ("critic", lambda x: -critic.critic(x).sum()),
        ("saturating", lambda x: discriminator.generator_loss(x, "saturating") * len(x)),
        ("non_saturating", lambda x: discriminator.generator_loss(x, "non_saturating") * len(x)),
    ):
        x = torch.as_tensor(arrows, dtype=torch.float32).requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(x), x)
        directions[name] = (-grad).numpy()  # the generator descends its loss
    step_sizes = {
        name: float(np.median(np.linalg.norm(d, axis=1))) for name, d in directions.items()
    }
    return {
        "p": p,
        "q": q,
        "xs": xs,
        "ys": ys,
        "critic": f.reshape(len(ys), len(xs)),
        "discriminator": d.reshape(len(ys), len(xs)),
        "arrows": arrows,
        "directions": directions,
        "step_sizes": step_sizes,
        "w_estimate": critic.distance,
        "js_estimate": discriminator.divergence,
    }


def batched_timing(
    *,
    count: int = 16,
    samples: int = 1000,
    steps: int = 500,
    width: int = 32,
    depth: int = 2,
    batch_size: int = 128,
    rounds: int = 5,
    device: str = "auto",
) -> dict[str, Any]:
    """Wall time of ``count`` critics trained as one stack against one critic alone.

    Same network, batch and steps; the two are timed alternately, ``rounds``
    times, and the median ratio is reported.
    """
    from divergences.neural import wasserstein_dual, wasserstein_dual_batch

    p = np.asarray(segment_samples(0.0, samples, seed=0))
    thetas = np.linspace(-2, 2, count)
    qs = [np.asarray(segment_samples(t, samples, seed=1)) for t in thetas]
    options: dict[str, Any] = {
        "steps": steps,
        "width": width,
        "depth": depth,
        "seed": 0,
        "device": device,
    }
    wasserstein_dual(p, qs[0], **options)  # warm-up
    ones, stacks = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        wasserstein_dual(p, qs[0], **options)
        ones.append(time.perf_counter() - start)
        start = time.perf_counter()
        wasserstein_dual_batch(p, qs, **options)
        stacks.append(time.perf_counter() - start)
    ratios = sorted(s / o for s, o in zip(stacks, ones, strict=True))
    return {
        "count": count,
        "steps": steps,
        "width": width,
        "depth": depth,
        "batch_size": batch_size,
        "samples": samples,
        "one_seconds": float(np.median(ones)),
        "stack_seconds": float(np.median(stacks)),
        "ratio": ratios[len(ratios) // 2],
    }


def _bar(total: int, enabled: bool, description: str) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="task")


def _advance(bar: Any) -> None:
    if bar is not None:
        bar.update(1)


def _summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Per method: theta, and mean and sd (over seeds) of value and derivative."""
    out: dict[str, dict[str, list[float]]] = {}
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        thetas = sorted({r["theta"] for r in mine})
        entry: dict[str, list[float]] = {
            key: [] for key in ("theta", "value", "value_sd", "derivative", "derivative_sd")
        }
        for theta in thetas:
            at = [r for r in mine if r["theta"] == theta]
            values = np.array([r["value"] for r in at])
            derivatives = np.array([r["derivative"] for r in at])
            entry["theta"].append(theta)
            entry["value"].append(float(np.mean(values)))
            entry["value_sd"].append(float(np.std(values)) if np.all(np.isfinite(values)) else 0.0)
            entry["derivative"].append(float(np.mean(derivatives)))
            entry["derivative_sd"].append(
                float(np.std(derivatives)) if np.all(np.isfinite(derivatives)) else 0.0
            )
        out[method] = entry
    return out


_STYLE = {
    "w_exact": ("W1 closed form", "black", "-"),
    "w_lp": ("W1 exact LP (POT)", "tab:blue", "--"),
    "w_critic": ("W1 neural critic", "tab:cyan", "-"),
    "js_exact": ("JS closed form", "dimgray", ":"),
    "js_histogram": ("JS histograms", "tab:orange", "--"),
    "js_knn": ("JS k-NN", "tab:brown", "-."),
    "js_discriminator": ("JS discriminator", "tab:red", "-"),
    "kl_knn": ("KL k-NN", "tab:purple", "-."),
    "gan_saturating": ("GAN loss log(1-D)", "tab:pink", "-"),
    "gan_non_saturating": ("GAN loss -log D", "tab:olive", "-"),
}


def plot_sweep(rows: list[dict[str, Any]], path: Path) -> None:
    """Two panels: value against theta (k-NN KL on its own axis), derivative against theta."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = _summary(rows)
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.4))
    kl_axis = axes[0].twinx()
    for method, (label, color, style) in _STYLE.items():
        entry = summary[method]
        theta = np.array(entry["theta"])
        for ax, key in ((axes[0], "value"), (axes[1], "derivative")):
            if method.startswith("gan_") and key == "value":
                continue  # the generator losses are not divergences
            if method == "kl_knn" and key == "value":
                ax = kl_axis
            mean = np.array(entry[key])
            sd = np.array(entry[f"{key}_sd"])
            ax.plot(theta, mean, style, color=color, label=label, marker=".", lw=1.4)
            if np.any(sd > 0):
                ax.fill_between(theta, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
    axes[0].set_title("value (KL closed form: +inf for theta != 0)")
    axes[0].set_ylabel("W1, JS (nats)")
    kl_axis.set_ylabel("KL k-NN (finite, grows like 2 log|theta|)", color="tab:purple")
    axes[1].set_title("d value / d theta by autograd through the samples (symlog)")
    axes[1].set_yscale("symlog", linthresh=1.0)
    for ax in axes:
        ax.set_xlabel("theta")
        ax.axhline(0, color="lightgray", lw=0.8, zorder=0)
        ax.grid(alpha=0.3)
    handles = [
        line
        for ax in (axes[0], kl_axis)
        for line in ax.get_lines()
        if not line.get_label().startswith("_")
    ]
    axes[0].legend(handles=handles, fontsize=8, loc="upper center")
    axes[1].legend(fontsize=8, ncol=2, loc="lower right")
    fig.suptitle("P = (0, U[0,1]) against Q_theta = (theta, U[0,1]): mean and sd over seeds")
    fig.tight_layout()
    _save(fig, path)


def plot_dynamics(rows: list[dict[str, Any]], path: Path) -> None:
    """theta against iterations, one panel per theta0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    theta0s = sorted({r["theta0"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(1, len(theta0s), figsize=(6 * len(theta0s), 4.5), squeeze=False)
    for ax, theta0 in zip(axes[0], theta0s, strict=True):
        for row in (r for r in rows if r["theta0"] == theta0):
            label, color, style = _STYLE[row["method"]]
            ax.plot(row["thetas"], style, color=color, label=label, lw=1.6)
        ax.axhline(0, color="lightgray", lw=0.8, zorder=0)
        ax.set_title(f"gradient descent on theta from theta0 = {theta0:g}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("theta")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_picture(picture: dict[str, Any], path: Path) -> None:
    """The critic and the discriminator over the plane, with the generator's steps.

    Arrows are drawn at one scale (half a unit of length per unit of gradient),
    so the saturating loss's vanishing steps vanish; the non-saturating steps,
    hundreds of times longer, are drawn at a fixed length and their median size
    is printed instead.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(14, 4.4))
    xs, ys, arrows = picture["xs"], picture["ys"], picture["arrows"]
    directions = picture["directions"]
    panels = (
        (axes[0], "critic", f"critic f (W1 estimate {picture['w_estimate']:.2f}; true 4)"),
        (axes[1], "discriminator", f"discriminator D (JS estimate {picture['js_estimate']:.3f})"),
    )
    for ax, key, title in panels:
        image = ax.contourf(xs, ys, picture[key], levels=30, cmap="coolwarm")
        fig.colorbar(image, ax=ax, shrink=0.75)
        ax.scatter(*picture["p"].T, s=3, color="navy", label="P samples")
        ax.scatter(*picture["q"].T, s=3, color="darkred", label="Q samples")
        ax.set_title(title)
        ax.set_aspect("equal")

    def arrows_at(ax: Any, steps: np.ndarray, color: str, label: str) -> None:
        ax.quiver(
            *arrows.T,
            *(0.5 * steps).T,
            color=color,
            angles="xy",
            scale_units="xy",
            scale=1.0,
            width=0.004,
            label=label,
        )

    size = picture["step_sizes"]
    arrows_at(
        axes[0],
        directions["critic"],
        "black",
        f"generator step, median |grad| {size['critic']:.2f}",
    )
    arrows_at(
        axes[1],
        directions["saturating"],
        "magenta",
        f"saturating step, median |grad| {size['saturating']:.1e}",
    )
    unit = directions["non_saturating"] / np.linalg.norm(
        directions["non_saturating"], axis=1, keepdims=True
    ).clip(min=1e-30)
    arrows_at(
        axes[1],
        unit,
        "black",
        f"non-saturating direction, median |grad| {size['non_saturating']:.0f}",
    )
    for ax in axes:
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _machine() -> dict[str, Any]:
    import scipy
    import torch

    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def run(
    output: str | Path,
    *,
    quick: bool = False,
    seeds: int = 3,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Path]:
    """Run the sweep, the dynamics, the picture and the batched timing into ``output``.

    Writes ``gradients.json`` (settings, machine, rows, summaries, timings),
    ``gradients.csv`` (the sweep's rows) and the figures ``gradients.png``,
    ``dynamics.png`` and ``critic_2d.png``. ``quick`` runs a small version
    (five thetas, one seed, fewer steps) in well under a minute.
    Returns the paths written.
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if quick:
        thetas: Sequence[float] = (-1.0, -0.05, 0.0, 0.5, 2.0)
        sweep_options: dict[str, Any] = {"seeds": 1, "steps": 200, "samples": 400}
        dynamics_options: dict[str, Any] = {
            "theta0s": (2.0,),
            "iterations": 10,
            "inner_steps": 20,
            "learning_rate": 0.2,
        }
        picture_options: dict[str, Any] = {"steps": 200, "samples": 200}
        timing_options: dict[str, Any] = {"count": 4, "steps": 50, "rounds": 1}
    else:
        thetas = DEFAULT_THETAS
        sweep_options = {"seeds": seeds}
        dynamics_options = {}
        picture_options = {}
        timing_options = {}
    rows = gradient_sweep(thetas, device=device, progress=progress, **sweep_options)
    dynamics = training_dynamics(device=device, progress=progress, **dynamics_options)
    picture = critic_picture(device=device, **picture_options)
    timing = batched_timing(device=device, **timing_options)
    paths = {
        "json": output / "gradients.json",
        "csv": output / "gradients.csv",
        "gradients": output / "gradients.png",
        "dynamics": output / "dynamics.png",
        "picture": output / "critic_2d.png",
    }
    payload = {
        "machine": _machine(),
        "quick": quick,
        "seconds": time.perf_counter() - start,
        "settings": {"thetas": list(thetas), **sweep_options},
        "methods": METHODS,
        "summary": _summary(rows),
        "rows": rows,
        "dynamics": dynamics,
        "picture": {
            "w_estimate": picture["w_estimate"],
            "js_estimate": picture["js_estimate"],
            "median_step_sizes": picture["step_sizes"],
        },
        "batched_timing": timing,
    }
    paths["json"].write_text(json.dumps(_json_safe(payload), indent=1) + "\n")
    with paths["csv"].open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=["method", "theta", "seed", "value", "derivative"]
        )
        writer.writeheader()
        writer.writerows(rows)
    plot_sweep(rows, paths["gradients"])
    plot_dynamics(dynamics, paths["dynamics"])
    plot_picture(picture, paths["picture"])
    return paths


def summary_table(
    path: str | Path, thetas: Sequence[float] = (-1.0, -0.05, 0.05, 0.5, 2.0)
) -> str:
    """The derivative of each method at a few theta, from a ``gradients.json``, as text."""
    payload = json.loads(Path(path).read_text())
    summary = payload["summary"]
    present = [t for t in thetas if t in summary["w_exact"]["theta"]]
    lines = [
        "d value / d theta (mean over seeds); P = (0, U[0,1]), Q_theta = (theta, U[0,1])",
        f"{'method':22s}" + "".join(f"{f'theta={t:g}':>13s}" for t in present),
    ]
    for method, entry in summary.items():
        cells = []
        for theta in present:
            value = entry["derivative"][entry["theta"].index(theta)]
            cells.append(f"{value:>13s}" if isinstance(value, str) else f"{value:13.3f}")
        lines.append(f"{method:22s}" + "".join(cells))
    timing = payload["batched_timing"]
    lines.append(
        f"{timing['count']} critics trained as one stack: {timing['ratio']:.2f}x the time of one"
    )
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """Non-finite floats as the strings "inf", "-inf", "nan" (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value
