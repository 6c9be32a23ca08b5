"""Speed and agreement of dv.kl / dv.js against SciPy on batches of probability vectors.

Question: does going through our validation and backend layer cost anything
against calling SciPy directly? Each case times ``scipy.stats.entropy`` and
``scipy.spatial.distance.jensenshannon`` (squared) against ``dv.kl`` and
``dv.js`` on the same seeded data, in the same run, and reports the ratio and
the largest difference.

Run: ``python benchmarks/information.py`` (writes benchmarks/results/information.json).
"""

from __future__ import annotations

import argparse
import functools

import numpy as np
from _common import median_time, write_json
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

import divergences as dv

CASES = [(1, 10), (1, 100_000), (1_000, 1_000), (100, 100_000)]


def scipy_js(p: np.ndarray, q: np.ndarray, axis: int) -> np.ndarray:
    """SciPy's JS divergence: the square of its JS distance."""
    return jensenshannon(p, q, axis=axis) ** 2


PAIRS = [("kl", dv.kl, entropy), ("js", dv.js, scipy_js)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for batch, outcomes in CASES:
        p = rng.uniform(size=(batch, outcomes))
        q = rng.uniform(size=(batch, outcomes))
        p[rng.uniform(size=p.shape) < 0.1] = 0.0  # zeros exercise 0 log 0
        row = {"batch": batch, "outcomes": outcomes}
        for name, our_function, scipy_function in PAIRS:
            ours = functools.partial(our_function, p, q, axis=1)
            theirs = functools.partial(scipy_function, p, q, axis=1)
            ours_s = median_time(ours, repeats=args.repeats)
            scipy_s = median_time(theirs, repeats=args.repeats)
            difference = float(np.max(np.abs(np.asarray(ours()) - np.asarray(theirs()))))
            row[name] = {
                "divergences_s": ours_s,
                "scipy_s": scipy_s,
                "ratio": ours_s / scipy_s,
                "max_abs_difference": difference,
            }
            print(
                f"{name} batch={batch:>5} k={outcomes:>6}: ours {ours_s * 1e3:8.3f} ms, "
                f"scipy {scipy_s * 1e3:8.3f} ms, ratio {ours_s / scipy_s:5.2f}, "
                f"max |diff| {difference:.1e}"
            )
        rows.append(row)
    path = write_json("information", {"repeats": args.repeats, "cases": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
