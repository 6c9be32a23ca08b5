"""Training real generators with every loss: the benchmark behind the training page.

Runs :func:`divergences.experiments.report.run_generators` (the
``divergences train-generators`` command) with two worker processes and files its
outputs where the docs find them: generators.json and generators.csv in
benchmarks/results/, generator_samples.png and generator_w1.png in docs/figures/.
Then times a generator step with ``WassersteinLoss`` (5 critic steps included)
against the straightforward WGAN-GP training loop with the same networks and
batch, alternately, and adds the ratio to the JSON.

Run: ``python benchmarks/generator_training.py`` (``--quick`` for a smoke run,
which writes generators_quick.* and no figures into docs/).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from _common import RESULTS
from torch import nn

from divergences.experiments.generators import TARGETS, generator_network
from divergences.experiments.report import generator_table, run_generators
from divergences.losses import WassersteinLoss

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def straightforward_step(generator: nn.Module, critic: nn.Module, optimizers, real, noise):
    """One generator step of the classic WGAN-GP training loop, 5 critic steps first."""
    critic_optimizer, generator_optimizer = optimizers
    for _ in range(5):
        fake = generator(noise()).detach()
        batch = real()
        alpha = torch.rand(batch.shape[0], 1, device=batch.device)
        interpolates = (alpha * batch + (1 - alpha) * fake).requires_grad_(True)
        (gradients,) = torch.autograd.grad(
            critic(interpolates).sum(), interpolates, create_graph=True
        )
        penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
        loss = critic(fake).mean() - critic(batch).mean() + 10 * penalty
        critic_optimizer.zero_grad()
        loss.backward()
        critic_optimizer.step()
    loss = -critic(generator(noise())).mean()
    generator_optimizer.zero_grad()
    loss.backward()
    generator_optimizer.step()


def speed(steps: int, rounds: int, batch: int, device: str = "cpu") -> dict[str, Any]:
    """Generator steps per second: WassersteinLoss against the classic loop, same networks.

    The target's samples are drawn on the CPU and copied to ``device`` in both loops,
    as a training script that reads its data from the host does; on CUDA the clock
    stops only after the device has finished.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    target = TARGETS["ring"]

    def real() -> torch.Tensor:
        return torch.as_tensor(target.sample(batch, rng), dtype=torch.float32, device=device)

    def noise() -> torch.Tensor:
        return torch.randn(batch, 2, device=device)

    def elapsed(start: float) -> float:
        if device != "cpu":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    def ours(steps: int = steps) -> float:
        generator = generator_network(0).to(device)
        loss = WassersteinLoss(seed=0).to(device)
        optimizer = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.9))
        start = time.perf_counter()
        for _ in range(steps):
            value = loss(generator(noise()), real())
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
        return steps / elapsed(start)

    def theirs(steps: int = steps) -> float:
        generator = generator_network(0).to(device)
        torch.manual_seed(0)
        critic = nn.Sequential(
            nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2),
            nn.Linear(128, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1),
        ).to(device)  # fmt: skip
        optimizers = (
            torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9)),
            torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.9)),
        )
        start = time.perf_counter()
        for _ in range(steps):
            straightforward_step(generator, critic, optimizers, real, noise)
        return steps / elapsed(start)

    # the same threads for both: one, as the loss's own critic steps use on the CPU
    torch.set_num_threads(1)
    ours(20), theirs(20)  # warm-up
    mine, plain = [], []
    for _ in range(rounds):
        mine.append(ours())
        plain.append(theirs())
    result = {
        "steps": steps,
        "rounds": rounds,
        "batch_size": batch,
        "device": device,
        "ours_steps_per_second": statistics.median(mine),
        "straightforward_steps_per_second": statistics.median(plain),
        "speedup": statistics.median(a / b for a, b in zip(mine, plain, strict=True)),
    }
    print(f"generator steps: {result}", flush=True)
    return result


def replot_curves() -> None:
    """generator_w1.png again from benchmarks/results/generators.json (the samples' figure
    needs the generated samples, which the JSON does not keep)."""
    from types import SimpleNamespace

    from divergences.experiments.plots import plot_generator_curves

    payload = json.loads((RESULTS / "generators.json").read_text())
    runs = [
        SimpleNamespace(
            **{**run, "checkpoints": [SimpleNamespace(**c) for c in run["checkpoints"]]}
        )
        for run in payload["runs"]
    ]
    path = FIGURES / "generator_w1.png"
    plot_generator_curves(runs, path)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--replot", action="store_true", help="redraw the W1 curves from the committed JSON"
    )
    args = parser.parse_args()
    if args.replot:
        replot_curves()
        return
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        paths = run_generators(
            Path(folder) / "run",
            quick=args.quick,
            seeds=args.seeds,
            device=args.device,
            workers=args.workers,
        )
        print(generator_table(paths["json"]))
        payload = json.loads(paths["json"].read_text())
        # full run: 5 alternating rounds of 120 steps (about 35 s), enough for the median
        # ratio to settle to a few percent on this noisy machine
        payload["generator_step_speed"] = speed(
            30 if args.quick else 120,
            3 if args.quick else 5,
            payload["settings"]["batch_size"],
            args.device,
        )
        # the whole benchmark: the runs above (payload["seconds"]) and the speed comparison
        payload["benchmark_seconds"] = time.perf_counter() - start
        print(f"whole benchmark: {payload['benchmark_seconds'] / 60:.1f} min", flush=True)
        suffix = "_quick" if args.quick else ""
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"generators{suffix}.json").write_text(json.dumps(payload, indent=1) + "\n")
        shutil.copy(paths["csv"], RESULTS / f"generators{suffix}.csv")
        if not args.quick:
            for key in ("samples", "curves"):
                shutil.copy(paths[key], FIGURES / paths[key].name)
    print(f"wrote {RESULTS / f'generators{suffix}.json'}")


if __name__ == "__main__":
    main()
