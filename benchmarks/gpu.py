"""The GPU check: one command, a few minutes, on a machine with CUDA.

1. The device test suite: the tests that take the ``device`` fixture, on CUDA
   (``pytest -k cuda``), with torch's sync debug mode set to warn.
2. Accuracy at d = 2, 16 and 128 (translate and scale families of
   ``benchmarks/neural_dual.py``, 2 x 10^4 samples a side, one seed), on CUDA, and a
   cell of the published W1 benchmark (D = 16, N = 64 cones).
3. Training throughput: our loop against the straightforward WGAN-GP loop, same
   MLP 2 x 128, batch 256 and 4096, steps per second timed alternately.
4. The stacked-critic ratio: 16 critics as one stack against one.
5. The distributed check with the GPUs present (two processes where there are
   two GPUs; skipped with one).
6. Generator training (``benchmarks/generator_training.py``): a generator step
   with ``WassersteinLoss`` against the straightforward WGAN-GP loop, batch 384,
   and one full-length training with ``WassersteinLoss`` on the ring and on the
   grid (seed 0, the committed benchmark's steps, batch and learning rate): its
   wall time, W1 over the noise floor and modes covered, on the GPU.

Run: ``python benchmarks/gpu.py`` (``--device cpu --quick`` exercises the
script on a machine without a GPU). Writes
``benchmarks/results/gpu-<device name>.json`` with the device named.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import RESULTS, write_json
from generator_training import speed as generator_speed
from neural_dual import draw, run_task, straightforward

import divergences as dv
from divergences.neural import Critic, CriticStack, KantorovichDual, TrainingOptions, train

ROOT = Path(__file__).resolve().parent.parent


def device_tests(device: str, quick: bool) -> dict[str, Any]:
    """The suite's device-parametrised tests on ``device``; pass/fail counts."""
    if device == "cpu":
        return {"skipped": "no CUDA device: the device tests run on CUDA only"}
    selection = "cuda and (neural or experiments or transport)" if quick else "cuda"
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", selection, "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-500:]
    print(f"device tests: {summary}", flush=True)
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error)", summary)}
    return {"summary": summary, **counts, "seconds": time.perf_counter() - start}


def accuracy(device: str, quick: bool) -> list[dict[str, Any]]:
    dims = (2, 16) if quick else (2, 16, 128)
    rows = []
    for dim in dims:
        for family in ("translate", "scale"):
            task = {"kind": "family", "family": family, "dim": dim, "theta": 1.0, "seed": 0}
            row = run_task({**task, "scale": 1.0, "device": device, "threads": 2})
            print(
                f"accuracy {family} d={dim}: error {100 * row['relative_error']:+.2f}%, "
                f"covers {row['covers']}, {row['seconds']:.1f} s",
                flush=True,
            )
            rows.append(row)
    from neural_dual import grid_truth

    cell = {"kind": "grid", "dim": 16, "cones": 64, "seed": 0, "device": device, "threads": 2}
    row = run_task({**cell, "true": grid_truth(16, 64, {})})
    print(f"accuracy cones D=16 N=64: error {100 * row['relative_error']:+.2f}%", flush=True)
    rows.append(row)
    return rows


def throughput(device: str, batch: int, steps: int, rounds: int) -> dict[str, Any]:
    """Steps per second of our loop and the straightforward one (MLP 2 x 128)."""
    rng = np.random.default_rng(0)
    x_p = torch.tensor(draw("translate", 2, "p", 20_000, rng), dtype=torch.float32, device=device)
    x_q = torch.tensor(draw("translate", 2, "q", 20_000, rng), dtype=torch.float32, device=device)

    def synchronise() -> None:
        if device != "cpu":
            torch.cuda.synchronize()

    def ours() -> None:
        torch.manual_seed(0)
        stack = CriticStack([Critic(2, 128, 2)]).to(device)

        def sample(size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            index_p = torch.randint(20_000, (1, size), generator=gen, device=device)
            index_q = torch.randint(20_000, (1, size), generator=gen, device=device)
            return x_p[index_p], x_q[index_q]

        options = TrainingOptions(learning_rate=1e-4, steps=steps, batch_size=batch, seed=0)
        train(stack, KantorovichDual("gp", 10.0), sample, options)
        synchronise()

    def theirs() -> None:
        straightforward(x_p, x_q, steps, 0, device, batch=batch)
        synchronise()

    ours(), theirs()
    ratios, mine, plain = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        ours()
        mine.append(steps / (time.perf_counter() - start))
        start = time.perf_counter()
        theirs()
        plain.append(steps / (time.perf_counter() - start))
        ratios.append(mine[-1] / plain[-1])
    result = {
        "batch": batch,
        "steps": steps,
        "ours_steps_per_second": statistics.median(mine),
        "straightforward_steps_per_second": statistics.median(plain),
        "speedup": statistics.median(ratios),
    }
    print(f"throughput batch {batch}: {result}", flush=True)
    return result


def stack_ratio(device: str, steps: int) -> dict[str, Any]:
    """Seconds of 16 critics as one stack against one critic, same networks and steps."""
    rng = np.random.default_rng(0)
    p = draw("segments", 2, "p", 1000, rng)
    qs = [draw("segments", 2, "q", 1000, rng, theta) for theta in np.linspace(-2, 2, 16)]
    options = TrainingOptions(
        width=32, depth=2, batch_size=128, steps=steps, seed=0, device=device
    )
    dv.wasserstein_dual(p, qs[0], options=options)  # warm-up
    start = time.perf_counter()
    dv.wasserstein_dual(p, qs[0], options=options)
    one = time.perf_counter() - start
    start = time.perf_counter()
    dv.wasserstein_dual_batch(p, qs, options=options)
    stack = time.perf_counter() - start
    print(f"stack of 16: {stack:.2f} s against one: {one:.2f} s", flush=True)
    return {"count": 16, "one_seconds": one, "stack_seconds": stack, "ratio": stack / one}


def distributed(device: str) -> dict[str, Any]:
    """Two processes on two GPUs (NCCL) must return the same result."""
    gpus = torch.cuda.device_count() if device != "cpu" else 0
    if gpus < 2:
        return {"skipped": f"{gpus} GPU(s): the distributed check needs two"}
    from distributed import launch

    start = time.perf_counter()
    ranks = launch(2, "cuda")
    same = len({row["distance"] for row in ranks}) == 1
    return {"ranks": ranks, "same_result": same, "seconds": time.perf_counter() - start}


def generators(device: str, quick: bool) -> dict[str, Any]:
    """Generator-step speed and full-length WassersteinLoss trainings on ``device``."""
    from divergences.experiments.generators import TARGETS, train_generator

    batch, rate, steps = 384, 2e-3, 100 if quick else 3000
    result: dict[str, Any] = {
        "speed": generator_speed(30 if quick else 200, 3 if quick else 5, batch, device)
    }
    runs = []
    for target in ("ring", "grid"):
        run = train_generator(
            "wasserstein",
            target,
            steps=steps,
            batch_size=batch,
            learning_rate=rate,
            every=steps,
            seed=0,
            device=device,
        )
        final = run.checkpoints[-1]
        row = {
            "target": target,
            "steps": steps,
            "seconds": run.seconds,
            "w1": final.w1,
            "floor": run.floor,
            "w1_over_floor": final.w1 / run.floor,
            "modes": final.modes,
            "of_modes": len(TARGETS[target].modes),
        }
        print(f"generator training: {row}", flush=True)
        runs.append(row)
    result["trainings"] = runs
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.device != "cpu" and not torch.cuda.is_available():
        sys.exit("gpu.py: CUDA is not available here; run with --device cpu --quick to test it")
    if args.device != "cpu":
        torch.cuda.set_sync_debug_mode("warn")
    name = torch.cuda.get_device_name(0) if args.device != "cpu" else "cpu"
    start = time.perf_counter()
    steps = 100 if args.quick else 500
    payload = {
        "device": args.device,
        "device_name": name,
        "device_tests": device_tests(args.device, args.quick),
        "accuracy": accuracy(args.device, args.quick),
        "throughput": [
            throughput(args.device, batch, steps, 3 if args.quick else 5) for batch in (256, 4096)
        ],
        "stack": stack_ratio(args.device, steps),
        "distributed": distributed(args.device),
        "generators": generators(args.device, args.quick),
    }
    payload["seconds"] = time.perf_counter() - start
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    path = write_json(f"gpu-{slug}" + ("-quick" if args.quick else ""), payload)
    print(f"wrote {path} in {payload['seconds']:.0f} s")
    if not path.is_relative_to(RESULTS):  # pragma: no cover - write_json writes there
        raise RuntimeError(path)


if __name__ == "__main__":
    main()
