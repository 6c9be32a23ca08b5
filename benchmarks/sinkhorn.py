"""Which Sinkhorn solver: GeomLoss's SamplesLoss against POT's, by accuracy and speed.

The debiased Sinkhorn divergence S = OT_eps(P, Q) - OT_eps(P, P) / 2 - OT_eps(Q, Q) / 2
with the cost |x - y| and eps = blur, between two Gaussian samples a unit apart in
the plane (n samples a side), with its gradient in the first sample:

- the reference: POT's log-domain Sinkhorn (``ot.sinkhorn(..., method="sinkhorn_log")``,
  numpy, float64) run to a marginal error of 1e-10, S from the entropic objective
  <plan, cost> + eps KL(plan | a x b) of each of the three problems;
- GeomLoss (``SamplesLoss("sinkhorn", p=1, debias=True)``, the solver behind
  ``dv.sinkhorn_divergence``) at the eps-scaling ratios 0.5 (its default), 0.9, 0.95;
- POT on torch tensors, log domain, stopping at 1e-9, S from the same objective:
  ``ot.solve(..., grad="envelope")`` (POT >= 0.9.6), whose gradient comes from the
  converged plan (the envelope theorem, as GeomLoss's), and ``ot.sinkhorn`` with
  autograd through its iterations (only at the larger blur: at blur 0.1 that graph of
  thousands of log-domain iterations did not finish in 20 minutes here).

Times are value and gradient, median of repeats, one thread. Run:
``python benchmarks/sinkhorn.py`` (n = 256; ``--quick``: n = 128 and one blur). Writes
benchmarks/results/sinkhorn.json.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import ot
import torch
from _common import median_time, write_json
from geomloss import SamplesLoss

torch.set_num_threads(1)


def entropic(plan, cost, eps, backend):
    """<plan, cost> + eps KL(plan | a x b) for uniform marginals."""
    n, m = cost.shape
    ratio = plan * (n * m)
    kl = backend.sum(plan * backend.log(backend.clip(ratio, 1e-300, None)))
    return backend.sum(plan * cost) + eps * kl


def reference(x: np.ndarray, y: np.ndarray, eps: float) -> float:
    def ot_eps(a, b):
        cost = ot.dist(a, b, metric="euclidean")
        weights_a, weights_b = np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b))
        plan = ot.sinkhorn(
            weights_a,
            weights_b,
            cost,
            eps,
            method="sinkhorn_log",
            numItermax=50_000,
            stopThr=1e-10,
        )
        return float(entropic(plan, cost, eps, np))

    return ot_eps(x, y) - ot_eps(x, x) / 2 - ot_eps(y, y) / 2


class _Torch:
    sum = staticmethod(torch.sum)
    log = staticmethod(torch.log)
    clip = staticmethod(lambda t, low, high: torch.clamp(t, min=low))


def pot_torch(x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    def ot_eps(a, b):
        cost = torch.cdist(a, b)
        weights_a = torch.full((len(a),), 1 / len(a), dtype=a.dtype)
        weights_b = torch.full((len(b),), 1 / len(b), dtype=b.dtype)
        plan = ot.sinkhorn(
            weights_a, weights_b, cost, eps, method="sinkhorn_log", numItermax=20_000, stopThr=1e-9
        )
        return entropic(plan, cost, eps, _Torch)

    return ot_eps(x, y) - ot_eps(x, x.detach()) / 2 - ot_eps(y, y) / 2


def pot_envelope(x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    def ot_eps(a, b):
        # POT's "KL" regulariser is KL(plan | a x b): the entropic objective above
        result = ot.solve(
            torch.cdist(a, b),
            reg=eps,
            reg_type="KL",
            method="sinkhorn_log",
            max_iter=20_000,
            tol=1e-9,
            grad="envelope",
        )
        return result.value

    return ot_eps(x, y) - ot_eps(x, x.detach()) / 2 - ot_eps(y, y) / 2


def solvers(
    blur: float, n: int
) -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    table = {
        f"geomloss scaling {scaling}": SamplesLoss(
            "sinkhorn", p=1, blur=blur, scaling=scaling, debias=True
        )
        for scaling in (0.5, 0.9, 0.95)
    }
    table["pot solve sinkhorn_log (torch, envelope)"] = lambda a, b: pot_envelope(a, b, blur)
    if n <= 256 and blur >= 0.5:  # autograd through the iterations: minutes beyond
        table["pot sinkhorn_log (torch, autograd)"] = lambda a, b: pot_torch(a, b, blur)
    return table


def measure(name: str, solver: Callable, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """S and the median seconds of value and gradient."""
    values = []

    def once() -> None:
        a = torch.tensor(x, requires_grad=True)
        value = solver(a, torch.tensor(y))
        value.backward()
        values.append(float(value.detach()))

    slow = "autograd" in name
    seconds = median_time(once, repeats=1 if slow else 5, warmup=0 if slow else 1)
    return values[-1], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = (128,) if args.quick else (256,)
    blurs = (0.5,) if args.quick else (0.05, 0.1, 0.5)
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        x = rng.normal(size=(n, 2))
        y = rng.normal(size=(n, 2)) + np.array([1.0, 0.0])
        for blur in blurs:
            exact = reference(x, y, blur)
            for name, solver in solvers(blur, n).items():
                value, seconds = measure(name, solver, x, y)
                row = {
                    "n": n,
                    "blur": blur,
                    "solver": name,
                    "value": value,
                    "reference": exact,
                    "relative_error": abs(value - exact) / exact,
                    "seconds": seconds,
                }
                rows.append(row)
                print(
                    f"n={n:5d} blur={blur:<5} {name:38s} S={value:.5f} ref={exact:.5f} "
                    f"err={row['relative_error']:.1e} {seconds * 1e3:8.1f} ms",
                    flush=True,
                )
    write_json("sinkhorn_quick" if args.quick else "sinkhorn", {"rows": rows})


if __name__ == "__main__":
    main()
