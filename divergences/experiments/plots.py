"""Figures of the headline experiment (matplotlib, imported only when a figure is drawn).

Each function takes what :mod:`~divergences.experiments.gradients` computed and
writes one PNG:

* :func:`plot_sweep`: value and derivative in theta, one column per family of
  methods (Wasserstein, JS, the GAN generator losses, KL), so that each claim
  is read off its own panel: W's derivative is sign(theta) everywhere, the
  JS-based ones are 0 off theta = 0 (or explode, for -log D);
* :func:`plot_dynamics`: theta along gradient descent on each loss;
* :func:`plot_picture`: the critic and the discriminator over the plane, with
  the steps they give the generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from divergences.experiments.gradients import CriticPicture, SweepRow, Trajectory, summarise

__all__ = ["FAMILIES", "STYLE", "plot_dynamics", "plot_picture", "plot_sweep"]

#: Label, colour, line style and marker of each method.
STYLE = {
    "w_exact": ("W1 closed form |θ|", "black", "-", ""),
    "w_lp": ("W1 exact LP of the samples", "tab:blue", "--", "o"),
    "w_critic": ("W1 neural critic", "tab:cyan", ":", "s"),
    "js_exact": ("JS closed form", "black", "-", ""),
    "js_histogram": ("JS of histograms", "tab:orange", "--", "o"),
    "js_knn": ("JS k-NN", "tab:brown", ":", "^"),
    "js_discriminator": ("JS GAN discriminator", "tab:red", "-.", "x"),
    "gan_saturating": ("saturating E log(1 − D)", "tab:pink", "-", "o"),
    "gan_non_saturating": ("non-saturating −E log D", "tab:olive", "--", "s"),
    "kl_knn": ("KL k-NN", "tab:purple", "--", "o"),
    "sinkhorn_0.02": ("Sinkhorn, blur 0.02", "tab:purple", "--", "o"),
    "sinkhorn_0.2": ("Sinkhorn, blur 0.2", "tab:green", ":", "s"),
    "energy": ("energy distance", "tab:orange", "-.", "^"),
}

#: The columns of the sweep figure: title, methods, the unit of the values, and where
#: the legend leaves the curves clear.
FAMILIES = (
    ("Wasserstein-1", ("w_exact", "w_lp", "w_critic"), "distance", "upper center"),
    (
        "Jensen-Shannon",
        ("js_exact", "js_histogram", "js_knn", "js_discriminator"),
        "nats",
        "lower left",
    ),
    ("GAN generator losses", ("gan_saturating", "gan_non_saturating"), "nats", "center left"),
    ("KL (closed form: +∞ for θ ≠ 0)", ("kl_knn",), "nats", "lower left"),
    (
        "Sinkhorn and energy",
        ("w_exact", "sinkhorn_0.02", "sinkhorn_0.2", "energy"),
        "distance",
        "upper center",
    ),
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_sweep(rows: Sequence[SweepRow], path: Path) -> None:
    """Values (top row) and d/dθ (bottom row) against θ, one column per family.

    Lines that coincide are told apart by their markers and line styles; each
    panel has its own scale, so the sign(θ) step of W and the zeros of JS are
    not squeezed by the large k-NN and −log D values.
    """
    plt = _pyplot()
    summary = summarise(rows)
    fig, axes = plt.subplots(2, len(FAMILIES), figsize=(21, 7.5), sharex=True)
    for column, (title, methods, unit, corner) in enumerate(FAMILIES):
        top, bottom = axes[0, column], axes[1, column]
        for order, method in enumerate(methods):
            label, color, style, marker = STYLE[method]
            entry = summary[method]
            theta = np.array(entry["theta"])
            for ax, key in ((top, "value"), (bottom, "derivative")):
                mean = np.array(entry[key])
                sd = np.array(entry[f"{key}_sd"])
                ax.plot(
                    theta,
                    mean,
                    linestyle=style,
                    marker=marker,
                    # lines that coincide (the JS estimates at log 2) put their markers
                    # at different θ, so that each is seen, not only read in the legend
                    markevery=(order % 2, 2) if len(methods) > 2 else None,
                    color=color,
                    label=label,
                    lw=2.4 if not marker else 1.3,
                    ms=7 - 1.2 * order,
                    markerfacecolor="none" if marker in "os^" else None,
                    zorder=3 + order,
                )
                if np.any(sd > 0):
                    ax.fill_between(theta, mean - sd, mean + sd, color=color, alpha=0.15, lw=0)
        top.set_title(title)
        top.set_ylabel(f"value ({unit})")
        bottom.set_ylabel("d value / dθ")
        bottom.set_xlabel("θ (offset of Q_θ)")
        for ax in (top, bottom):
            ax.axhline(0, color="lightgray", lw=0.8, zorder=0)
            ax.axvline(0, color="lightgray", lw=0.8, zorder=0)
            ax.grid(alpha=0.3)
        top.legend(fontsize=8, loc=corner, framealpha=0.9)
    if "gan_non_saturating" in summary:
        # −log D's derivative reaches hundreds near θ = 0; a symmetric log axis
        # keeps the saturating loss's zeros visible beside it.
        axes[1, 2].set_yscale("symlog", linthresh=1.0)
        axes[1, 3].set_yscale("symlog", linthresh=1.0)
    fig.suptitle(
        "P = (0, U[0,1]) against Q_θ = (θ, U[0,1]): disjoint for θ ≠ 0 "
        "(mean and sd over seeds; derivatives by autograd through the samples)"
    )
    _save(fig, path)


def plot_dynamics(trajectories: Sequence[Trajectory], path: Path) -> None:
    """θ against iterations of gradient descent, one panel per θ₀, one shared legend."""
    plt = _pyplot()
    theta0s = sorted({t.theta0 for t in trajectories}, reverse=True)
    fig, axes = plt.subplots(1, len(theta0s), figsize=(6 * len(theta0s) + 2.5, 4.5), squeeze=False)
    for ax, theta0 in zip(axes[0], theta0s, strict=True):
        low, high = -abs(theta0), 1.5 * abs(theta0)
        mine = [t for t in trajectories if t.theta0 == theta0]
        for order, trajectory in enumerate(mine):
            label, color, style, marker = STYLE[trajectory.method]
            thetas = np.array(trajectory.thetas, dtype=float)
            outside = np.flatnonzero((thetas < low) | (thetas > high))
            if outside.size:  # drawn up to where it leaves the axis, then named below
                thetas[outside[0] + 1 :] = np.nan
            ax.plot(
                thetas,
                linestyle=style,
                marker=marker,
                # each line's markers at its own iterations: runs that stall at the same θ
                # (the saturating GAN and histogram JS near θ₀) stay apart
                markevery=(order, len(mine)),
                markerfacecolor="none",
                color=color,
                label=label,
                lw=1.6,
            )
        ax.axhline(0, color="black", lw=1.2, ls=(0, (6, 3)), label="target θ = 0 (Q_θ = P)")
        # A loss whose steps blow θ up (−log D's can reach 1e31) would flatten every other
        # line to 0: the axis keeps to [−θ₀, 1.5 θ₀] and says where each such run went.
        ax.set_ylim(low, high)
        escaped = [
            t
            for t in trajectories
            if t.theta0 == theta0 and not all(low <= value <= high for value in t.thetas)
        ]
        for row, trajectory in enumerate(escaped):
            farthest = max(trajectory.thetas, key=abs)
            ax.text(
                0.98,
                0.04 + 0.08 * row,
                f"{STYLE[trajectory.method][0]}: leaves the axis, reaching θ = {farthest:.2g}",
                transform=ax.transAxes,
                ha="right",
                fontsize=8,
                color=STYLE[trajectory.method][1],
                bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0},
            )
        ax.set_title(f"gradient descent on θ from θ₀ = {theta0:g}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("θ")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 2.4 / fig.get_figwidth(), 1))
    _save(fig, path, layout=False)


def plot_picture(picture: CriticPicture, path: Path) -> None:
    """The critic and the discriminator over the plane, with the generator's steps.

    Arrows are drawn at one scale (half a unit of length per unit of gradient),
    so the saturating loss's vanishing steps vanish and the panel says so; the
    non-saturating steps, hundreds of times longer, are drawn at a fixed
    length with their median size in the title.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 3.9))
    xs, ys, arrows = picture.xs, picture.ys, picture.arrows
    sizes = picture.step_sizes
    panels = (
        (
            axes[0],
            picture.critic,
            "critic value f(x)",
            f"WGAN-GP critic: W1 estimate {picture.w_estimate:.2f} (true 4)\n"
            f"black arrows: generator step ∇f, median |∇f| = {sizes['critic']:.2f}",
        ),
        (
            axes[1],
            picture.discriminator,
            "D(x) = probability x is from P",
            f"GAN discriminator: JS estimate {picture.js_estimate:.3f} (log 2 = 0.693)\n"
            f"black arrows: non-saturating step direction, median size "
            f"{sizes['non_saturating']:.0f}",
        ),
    )
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    for ax, values, colour_label, title in panels:
        image = ax.contourf(xs, ys, values, levels=30, cmap="coolwarm")
        # a colour bar exactly as tall as the (equal-aspect) panel
        colour_axis = make_axes_locatable(ax).append_axes("right", size="3%", pad=0.08)
        colour_bar = fig.colorbar(image, cax=colour_axis)
        colour_bar.set_label(colour_label)
        ax.scatter(*picture.p.T, s=3, color="navy", label="P samples")
        ax.scatter(*picture.q.T, s=3, color="darkred", label="Q samples")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.set_aspect("equal")
        ax.legend(fontsize=8, loc="lower left", markerscale=3)

    def draw(ax: Any, steps: np.ndarray) -> None:
        ax.quiver(
            *arrows.T,
            *(0.5 * steps).T,
            color="black",
            angles="xy",
            scale_units="xy",
            scale=1.0,
            width=0.004,
        )

    draw(axes[0], picture.directions["critic"])
    non_saturating = picture.directions["non_saturating"]
    draw(
        axes[1],
        non_saturating / np.linalg.norm(non_saturating, axis=1, keepdims=True).clip(min=1e-30),
    )
    axes[1].text(
        0.98,
        0.04,
        f"saturating step log(1 − D): median size {sizes['saturating']:.0e},\ntoo small to draw",
        transform=axes[1].transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "none"},
    )
    _save(fig, path)


def _save(fig: Any, path: Path, *, layout: bool = True) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    if layout:
        fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


#: Colour and line style of each generator loss.
LOSS_STYLE = {
    "wasserstein": ("WassersteinLoss (critic)", "tab:blue", "-"),
    "gan_saturating": ("GAN, saturating", "tab:pink", "--"),
    "gan_non_saturating": ("GAN, non-saturating", "tab:olive", "-."),
    # long dashes: the floor's line is the only dotted one; dash-dot-dot and green: apart
    # from the saturating GAN's pink dashes
    "exact": ("exact minibatch W1", "black", (0, (8, 3))),
    "sinkhorn": ("Sinkhorn divergence", "tab:purple", "-"),
    "energy": ("energy distance", "tab:green", (0, (4, 1.5, 1, 1.5, 1, 1.5))),
}


def plot_generator_samples(runs: Sequence[Any], path: Path) -> None:
    """The final generated samples (first seed): one row per target, one column per loss,
    over the target's own samples, with the run's measures in each panel."""
    from divergences.experiments.generators import TARGETS

    plt = _pyplot()
    losses = list(dict.fromkeys(run.loss for run in runs))
    targets = list(dict.fromkeys(run.target for run in runs))
    fig, axes = plt.subplots(
        len(targets),
        len(losses),
        figsize=(2.5 * len(losses) + 0.6, 2.6 * len(targets) + 0.9),
        squeeze=False,
        layout="constrained",
    )
    for row, target in enumerate(targets):
        spec = TARGETS[target]
        reference = spec.sample(2000, np.random.default_rng(0))
        for column, loss in enumerate(losses):
            ax = axes[row][column]
            run = min(
                (r for r in runs if r.loss == loss and r.target == target), key=lambda r: r.seed
            )
            final = run.checkpoints[-1]
            ax.scatter(*reference.T, s=3, color="0.55", linewidths=0)
            ax.scatter(*run.samples[:1000].T, s=3, color=LOSS_STYLE[loss][1], alpha=0.7)
            measures = f"W1 {final.w1 / run.floor:.1f}× floor"
            if len(spec.modes):
                measures += f"\n{final.modes}/{len(spec.modes)} modes"
            ax.text(
                0.03,
                0.03,
                measures,
                transform=ax.transAxes,
                fontsize=8,
                va="bottom",
                bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0},
            )
            ax.set_xlim(-3.2, 3.2)
            ax.set_ylim(-3.2, 3.2)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(spec.name, fontsize=9)
            if row == 0:
                ax.set_title(LOSS_STYLE[loss][0], fontsize=9)
    fig.suptitle(
        f"Generated samples after {runs[0].steps} generator steps, first seed "
        "(grey: the target; W1 over the noise floor, modes covered)",
        fontsize=11,
    )
    _save(fig, path, layout=False)


def plot_generator_curves(runs: Sequence[Any], path: Path) -> None:
    """W1 over the noise floor against generator steps and against seconds, one row per
    target, one line per loss (median over seeds, shaded from the best to the worst), and
    the spread of the floor itself (one pair of target samples, ±1 sd) in grey."""
    from divergences.experiments.generators import TARGETS

    plt = _pyplot()
    targets = list(dict.fromkeys(run.target for run in runs))
    losses = list(dict.fromkeys(run.loss for run in runs))
    fig, axes = plt.subplots(len(targets), 2, figsize=(12, 3.6 * len(targets)), squeeze=False)
    for row, target in enumerate(targets):
        for column, key in enumerate(("step", "seconds")):
            ax = axes[row][column]
            for loss in losses:
                mine = [r for r in runs if r.loss == loss and r.target == target]
                ratios = np.array([[c.w1 / r.floor for c in r.checkpoints] for r in mine])
                xs = np.median(
                    np.array([[getattr(c, key) for c in r.checkpoints] for r in mine]), axis=0
                )
                label, color, style = LOSS_STYLE[loss]
                ax.plot(
                    xs,
                    np.median(ratios, axis=0),
                    linestyle=style,
                    color=color,
                    label=label,
                    lw=1.6,
                )
                if len(mine) > 1:
                    ax.fill_between(
                        xs, ratios.min(axis=0), ratios.max(axis=0), color=color, alpha=0.12, lw=0
                    )
            spread = mine[0].floor_sd / mine[0].floor
            ax.axhspan(1 - spread, 1 + spread, color="gray", alpha=0.15, lw=0)
            ax.axhline(1.0, color="gray", lw=1, ls=":")
            ax.axhline(2.0, color="gray", lw=1, ls="--")
            ax.set_yscale("log")
            ax.set_xlabel("generator step" if key == "step" else "seconds of training")
            ax.set_ylabel("W1(generated, target) / noise floor")
            ax.set_title(f"{TARGETS[target].name}: against {'steps' if key == 'step' else 'time'}")
            ax.grid(alpha=0.3, which="both")
    axes[0][1].legend(fontsize=8, loc="upper right")
    fig.suptitle(
        "Exact W1 to the target over the noise floor (dotted: floor, grey band: ±1 sd of "
        "one pair of target samples; dashed: 2× floor)"
    )
    _save(fig, path)
