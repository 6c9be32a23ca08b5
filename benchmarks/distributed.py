"""Training across processes: the speed-up from 1 to 2 processes, and their agreement.

Launches ``python -m torch.distributed.run --standalone --nproc_per_node=N`` on
this script's worker mode for N = 1 and 2 (gloo on the CPU, NCCL on GPUs), each
worker running ``dv.wasserstein_dual`` on the same 2 x 10^4 samples a side of N(0, I)
against its translate by 1.5 in d = 8, and times the call on rank 0. On a 2-core CPU
the two processes share the cores that one process's two threads would use, so a
speed-up needs more cores (or GPUs) than this machine has: the point of the run is
that the processes agree and what the communication costs.

Run: ``python benchmarks/distributed.py`` (``--device cuda`` with two GPUs). Writes
benchmarks/results/distributed[_<device>].json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def worker(device: str) -> None:
    import torch
    import torch.distributed as dist

    import divergences as dv

    dist.init_process_group("nccl" if device == "cuda" else "gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    if device == "cuda":
        torch.cuda.set_device(rank)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 8))
    y = rng.normal(size=(20_000, 8)) + np.eye(8)[0] * 1.5
    options = {
        "seed": 0,
        "device": f"cuda:{rank}" if device == "cuda" else "cpu",
        "group": dist.group.WORLD,  # without it, each process would train alone
    }
    dv.wasserstein_dual(x[:2000], y[:2000], steps=20, **options)  # warm-up
    dist.barrier()
    start = time.perf_counter()
    result = dv.wasserstein_dual(x, y, **options)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "rank": rank,
                "size": size,
                "seconds": seconds,
                "distance": result.distance,
                "interval": list(result.interval),
            }
        ),
        flush=True,
    )
    dist.destroy_process_group()


def launch(processes: int, device: str) -> list[dict]:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            __file__,
            "--worker",
            "--device",
            device,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // processes))},
    )
    if run.returncode != 0:
        raise RuntimeError(run.stdout + run.stderr)
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.device)
        return
    sys.path.insert(0, os.path.dirname(__file__))
    from _common import write_json

    runs = {n: launch(n, args.device) for n in (1, 2)}
    one = runs[1][0]["seconds"]
    two = max(row["seconds"] for row in runs[2])
    agree = len({row["distance"] for row in runs[2]}) == 1
    summary = {
        "one_process_seconds": one,
        "two_processes_seconds": two,
        "speedup": one / two,
        "ranks_agree": agree,
    }
    print(json.dumps(summary, indent=1))
    name = "distributed" if args.device == "cpu" else f"distributed_{args.device}"
    print(f"wrote {write_json(name, {'device': args.device, 'runs': runs, **summary})}")


if __name__ == "__main__":
    main()
