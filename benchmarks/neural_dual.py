"""Accuracy, gradients and speed of ``dv.wasserstein_dual`` against a plain WGAN-GP loop.

Problems with a known W1: the disjoint segments P = (0, U[0,1]), Q = (theta, U[0,1])
for theta in {0.25, 0.5, 1, 2}, and N(0, I) against its translate by 2 in d = 2,
16 and 64. For each problem and seed, both estimators get 5000 training samples
per side (ours also gets 1250 more per side to hold out for its interval), and
each trained critic is then evaluated on 10^5 fresh samples per side drawn
from the known distributions: that population value is compared with the
closed form, with evaluation noise far below the errors being measured.
Derivatives (in theta, or in the translation length) come from autograd
through the fresh samples.

The straightforward loop is the classic recipe: MLP 2 x 128, LeakyReLU(0.2),
Adam 1e-4 with betas (0.5, 0.9), lambda = 10, batch 256, three forward passes
per step and a ``.item()`` per step for logging. Throughput compares it with
our loop on the same network and batch, timed alternately in the same run.

Run: ``python benchmarks/neural_dual.py`` (about 15 minutes on 2 cores;
``--quick`` for a smoke run, ``--device cuda`` on a GPU). Writes
benchmarks/results/neural_dual[_<device>].json and docs/figures/neural_dual.png.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _common import save_figure, write_json
from torch import nn

import divergences as dv
from divergences.neural import Critic, KantorovichDual, TrainingOptions, train

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "neural_dual.png"
TRAIN = 5000
HELD_OUT = 1250
FRESH = 100_000


def problems(quick: bool) -> list[dict]:
    thetas = [1.0] if quick else [0.25, 0.5, 1.0, 2.0]
    dims = [2] if quick else [2, 16, 64]
    return [
        {"name": f"segments theta={t:g}", "kind": "segments", "theta": t, "dim": 2, "true": abs(t)}
        for t in thetas
    ] + [
        {
            "name": f"gaussian translate d={d}",
            "kind": "gaussian",
            "shift": 2.0,
            "dim": d,
            "true": 2.0,
        }
        for d in dims
    ]


def draw(
    problem: dict, side: str, n: int, rng: np.random.Generator, offset: torch.Tensor | None = None
) -> torch.Tensor:
    """n samples of P (side 'p') or Q (side 'q'); Q's offset may be a tensor with autograd."""
    if problem["kind"] == "segments":
        heights = torch.tensor(rng.uniform(size=n), dtype=torch.float32)
        position = torch.zeros(n)
        if side == "q":
            theta = torch.tensor(problem["theta"]) if offset is None else offset
            position = position + theta
        return torch.stack([position, heights], dim=1)
    x = torch.tensor(rng.normal(size=(n, problem["dim"])), dtype=torch.float32)
    if side == "q":
        shift = torch.tensor(problem["shift"]) if offset is None else offset
        x = x + torch.nn.functional.pad(shift.reshape(1), (0, problem["dim"] - 1)).float()
    return x


def population(critic_fn, problem: dict, seed: int, device: str) -> tuple[float, float]:
    """E_P f - E_Q f on fresh samples, and its derivative in theta / the shift length."""
    rng = np.random.default_rng(10**6 + seed)
    parameter = torch.tensor(
        problem["theta"] if problem["kind"] == "segments" else problem["shift"],
        requires_grad=True,
    )
    x_p = draw(problem, "p", FRESH, rng).to(device)
    x_q = draw(problem, "q", FRESH, rng, offset=parameter).to(device)
    value = critic_fn(x_p).mean() - critic_fn(x_q).mean()
    value.backward()
    return float(value.detach()), float(parameter.grad)


def straightforward(
    x_p: torch.Tensor, x_q: torch.Tensor, steps: int, seed: int, device: str
) -> nn.Module:
    """The classic WGAN-GP critic loop, as commonly written."""
    torch.manual_seed(seed)
    dim = x_p.shape[1]
    critic = nn.Sequential(
        nn.Linear(dim, 128),
        nn.LeakyReLU(0.2),
        nn.Linear(128, 128),
        nn.LeakyReLU(0.2),
        nn.Linear(128, 1),
    ).to(device)
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    batch, n = 256, x_p.shape[0]
    log = []
    for _ in range(steps):
        real = x_p[torch.randint(0, n, (batch,), device=device)]
        fake = x_q[torch.randint(0, n, (batch,), device=device)]
        d_real, d_fake = critic(real).mean(), critic(fake).mean()
        alpha = torch.rand(batch, 1, device=device)
        interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        out = critic(interpolates)
        (gradients,) = torch.autograd.grad(
            out, interpolates, grad_outputs=torch.ones_like(out), create_graph=True
        )
        penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
        loss = d_fake - d_real + 10 * penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        log.append((d_real - d_fake).item())
    return critic


def accuracy(quick: bool, seeds: list[int], device: str, baseline_steps: int) -> list[dict]:
    rows = []
    for problem in problems(quick):
        for seed in seeds:
            rng = np.random.default_rng(seed)
            x_p = draw(problem, "p", TRAIN + HELD_OUT, rng)
            x_q = draw(problem, "q", TRAIN + HELD_OUT, rng)
            result = dv.wasserstein_dual(x_p, x_q, seed=seed, device=device)
            critic = result.critic
            ours_value, ours_grad = population(
                lambda x, c=critic: c(x).squeeze(-1), problem, seed, device
            )
            start = time.perf_counter()
            baseline = straightforward(
                x_p[:TRAIN].to(device), x_q[:TRAIN].to(device), baseline_steps, seed, device
            )
            baseline_seconds = time.perf_counter() - start
            base_value, base_grad = population(
                lambda x, c=baseline: c(x).squeeze(-1), problem, seed, device
            )
            true = problem["true"]
            low, high = result.interval
            row = {
                "problem": problem["name"],
                "dim": problem["dim"],
                "seed": seed,
                "true": true,
                "ours": {
                    "population": ours_value,
                    "relative_error": ours_value / true - 1,
                    "derivative": ours_grad,
                    "held_out": result.distance,
                    "interval": [low, high],
                    "systematic": result.systematic,
                    "covers": bool(low <= true <= high),
                    "train_distance": result.train_distance,
                    "lipschitz": result.lipschitz,
                    "seconds": result.seconds,
                    "steps": result.steps,
                },
                "straightforward": {
                    "population": base_value,
                    "relative_error": base_value / true - 1,
                    "derivative": base_grad,
                    "seconds": baseline_seconds,
                    "steps": baseline_steps,
                },
            }
            print(
                f"{problem['name']:26s} seed {seed}: ours {ours_value:.4f} "
                f"({100 * row['ours']['relative_error']:+.2f}%, d/dparam {ours_grad:.3f}, "
                f"{result.seconds:.1f} s, interval covers: {row['ours']['covers']}); "
                f"straightforward {base_value:.4f} "
                f"({100 * row['straightforward']['relative_error']:+.2f}%, "
                f"d/dparam {base_grad:.3f}, {baseline_seconds:.1f} s)",
                flush=True,
            )
            rows.append(row)
    return rows


def throughput(device: str, steps: int, rounds: int) -> dict:
    """Steps per second, same network (2 x 128) and batch (256), timed alternately."""
    rng = np.random.default_rng(0)
    problem = {"kind": "gaussian", "shift": 2.0, "dim": 2}
    x_p = draw(problem, "p", TRAIN, rng).to(device)
    x_q = draw(problem, "q", TRAIN, rng).to(device)

    def ours() -> None:
        torch.manual_seed(0)
        critic = Critic(2, 128, 2).to(device)
        critic.standardise_inputs(torch.cat([x_p, x_q]))

        def sample(size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            index_p = torch.randint(TRAIN, (size,), generator=gen, device=device)
            index_q = torch.randint(TRAIN, (size,), generator=gen, device=device)
            return x_p[index_p], x_q[index_q]

        options = TrainingOptions(learning_rate=1e-4, steps=steps, batch_size=256, seed=0)
        train(critic, KantorovichDual("gp", 10.0), sample, options)
        if device != "cpu":
            torch.cuda.synchronize()

    def theirs() -> None:
        straightforward(x_p, x_q, steps, 0, device)
        if device != "cpu":
            torch.cuda.synchronize()

    ours(), theirs()  # warm-up
    ratios, ours_rates, their_rates = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        ours()
        ours_rate = steps / (time.perf_counter() - start)
        start = time.perf_counter()
        theirs()
        their_rate = steps / (time.perf_counter() - start)
        ours_rates.append(ours_rate)
        their_rates.append(their_rate)
        ratios.append(ours_rate / their_rate)
    result = {
        "steps": steps,
        "rounds": rounds,
        "ours_steps_per_second": statistics.median(ours_rates),
        "straightforward_steps_per_second": statistics.median(their_rates),
        "speedup": statistics.median(ratios),
    }
    print(
        f"throughput: ours {result['ours_steps_per_second']:.0f} steps/s, straightforward "
        f"{result['straightforward_steps_per_second']:.0f} steps/s, "
        f"speed-up {result['speedup']:.2f}x (median of {rounds} paired rounds)",
        flush=True,
    )
    return result


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["problem"] for r in rows))
    fig, ax = plt.subplots(figsize=(10.0, 4.5))
    for i, name in enumerate(names):
        mine = [r for r in rows if r["problem"] == name]
        for j, r in enumerate(mine):
            offset = (j - (len(mine) - 1) / 2) * 0.06
            ax.errorbar(
                i - 0.15 + offset,
                r["ours"]["held_out"] / r["true"],
                yerr=[
                    [r["ours"]["held_out"] - r["ours"]["interval"][0]],
                    [r["ours"]["interval"][1] - r["ours"]["held_out"]],
                ]
                / np.float64(r["true"]),
                fmt="o",
                color="C0",
                ms=3,
                alpha=0.6,
                label="ours: held-out estimate, 95% interval" if i == j == 0 else None,
            )
            ax.plot(
                i - 0.05 + offset,
                r["ours"]["population"] / r["true"],
                "D",
                color="C0",
                ms=5,
                label="ours: critic on 10^5 fresh samples" if i == j == 0 else None,
            )
            ax.plot(
                i + 0.15 + offset,
                r["straightforward"]["population"] / r["true"],
                "s",
                color="C1",
                ms=5,
                label="straightforward WGAN-GP: on 10^5 fresh samples" if i == j == 0 else None,
            )
    ax.axhline(1.0, color="k", lw=1)
    ax.axhspan(0.99, 1.01, color="k", alpha=0.08, label="±1%")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([n.replace(" ", "\n", 1) for n in names], fontsize=8)
    ax.set_ylabel("estimate / true W1")
    ax.set_title("Neural W1 estimates against the closed form (seeds side by side)")
    ax.legend(fontsize=8, loc="upper left")
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, two problems")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--baseline-steps", type=int, default=5000)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    seeds = [0] if args.quick else list(range(args.seeds))
    rows = accuracy(args.quick, seeds, args.device, 500 if args.quick else args.baseline_steps)
    speed = throughput(
        args.device, steps=100 if args.quick else 500, rounds=3 if args.quick else 5
    )
    summary = {}
    for name in dict.fromkeys(r["problem"] for r in rows):
        mine = [r for r in rows if r["problem"] == name]
        summary[name] = {
            "ours_max_abs_relative_error": max(abs(r["ours"]["relative_error"]) for r in mine),
            "ours_max_derivative_error": max(abs(abs(r["ours"]["derivative"]) - 1) for r in mine),
            "ours_max_seconds": max(r["ours"]["seconds"] for r in mine),
            "straightforward_mean_relative_error": statistics.mean(
                r["straightforward"]["relative_error"] for r in mine
            ),
        }
    coverage = statistics.mean(r["ours"]["covers"] for r in rows)
    print(f"interval coverage of the true value: {100 * coverage:.0f}% of {len(rows)} runs")
    suffix = "" if args.device == "cpu" else f"_{args.device.split(':')[0]}"
    name = ("neural_dual_quick" if args.quick else "neural_dual") + suffix
    path = write_json(
        name,
        {
            "device": args.device,
            "accuracy": rows,
            "summary": summary,
            "coverage": coverage,
            "throughput": speed,
        },
    )
    print(f"wrote {path}")
    if not args.quick and args.device == "cpu":
        plot(rows, FIGURE)
        print(f"wrote {FIGURE}")


if __name__ == "__main__":
    main()
