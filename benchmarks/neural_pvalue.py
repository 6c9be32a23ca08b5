"""The neural critic's p-value (``DualResult.pvalue``): valid under the null, and its power.

``wasserstein_dual`` re-splits its certified potential's scores on the held-out test
split; the potential is chosen before that split is read, so the test is exact for any
training. This checks it as a user would: many independent problems under P = Q (the
rejection rate at alpha = 0.05 and a KS test of the p-values against uniform, whose
steps of 1/1000 are far below KS's resolution at these counts), and the rejection
rate against a shift, beside the energy test (``two_sample_test``) on the same samples.

Each problem has 1000 samples a side (the test split is 200 of them) and its critic
300 steps, a short training: the test is exact for any training, while its power
grows with a better potential and a larger test split.

Run: ``python benchmarks/neural_pvalue.py`` (about half an hour on one core;
``--quick`` for a smoke run). Writes benchmarks/results/neural_pvalue.json.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.stats
import torch
from _common import write_json

import divergences as dv


def replicate(seed: int, n: int, d: int, shift: float, steps: int) -> dict[str, float]:
    """One problem: N(0, I) against N(shift e_1, I), n a side, both tests' p-values."""
    rng = np.random.default_rng([seed, int(shift * 1000)])
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(n, d))
    y[:, 0] += shift
    neural = dv.wasserstein_dual(x, y, steps=steps, seed=seed, device="cpu")
    energy = dv.two_sample_test(x, y, statistic="energy", permutations=999, seed=seed)
    return {"neural": neural.pvalue, "energy": energy.pvalue}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few replicates, for a smoke run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    replicates, shifts = (10, (0.0, 0.5)) if args.quick else (200, (0.0, 0.1, 0.2))
    n, d, steps = (300, 2, 30) if args.quick else (1000, 2, 300)
    load = [os.getloadavg()[0]]
    start = time.perf_counter()
    by_shift = []
    for shift in shifts:
        values = [replicate(seed, n, d, shift, steps) for seed in range(replicates)]
        entry: dict[str, object] = {"shift": shift}
        for test in ("neural", "energy"):
            pvalues = np.array([v[test] for v in values])
            entry[test] = {
                "rejection_rate": float(np.mean(pvalues <= 0.05)),
                "ks_uniform_pvalue": float(scipy.stats.kstest(pvalues, "uniform").pvalue),
                "pvalues": pvalues.tolist(),
            }
        by_shift.append(entry)
        print(
            f"shift {shift}: rejection rate neural {entry['neural']['rejection_rate']:.3f}, "
            f"energy {entry['energy']['rejection_rate']:.3f}",
            flush=True,
        )
    load.append(os.getloadavg()[0])
    path = write_json(
        "neural_pvalue_quick" if args.quick else "neural_pvalue",
        {
            "n": n,
            "d": d,
            "steps": steps,
            "replicates": replicates,
            "alpha": 0.05,
            "threads": 1,
            "by_shift": by_shift,
            "load": load,
            "seconds": time.perf_counter() - start,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
