"""Accuracy, intervals and speed of ``dv.wasserstein_dual`` (and ``dv.js_dual``) on families
with known answers, against the straightforward WGAN-GP loop and the exact LP.

W1 families (closed forms in :mod:`divergences.closed_form`, tested there):

* ``translate``: N(0, I) against its translate by 1.5 e1 (W1 = 1.5);
* ``mixture``: an even mixture of N(±2 e1, 0.5² I) against its translate by e2 (W1 = 1);
* ``cube``: uniform on [0, 1]^d against its translate by 0.5 e1 (W1 = 0.5);
* ``scale``: N(0, I) against N(0, 1.5² I) (W1 = 0.5 E|z|, a radial optimal critic);
* ``shells``: uniform directions, radii U[0.5, 1.5] against U[1, 3] (W1 = 1, radial);
* ``segments``: the disjoint segments at theta = 0.25, 1, 2 (d = 2; W1 = theta).

Each problem in d = 2, 8, 32, 64, 128 (segments: 2), 2 x 10^4 samples a side, at
data scale 1 for every seed and at scales 1e-3 and 1e3 for the first seed (the
estimator is equivariant: the relative errors must match exactly). Every trained
critic is judged on 10^5 fresh samples a side against the closed form. Beside
ours: the straightforward WGAN-GP loop (MLP 2 x 128, Adam 1e-4, 5000 steps, on the
same training samples), ours restricted to the previous default (LeakyReLU only,
no validation split), ours on callables (fresh samples every step), and the exact
LP between 2000-sample subsets (biased upwards beyond d = 2, an upper bound in
expectation). JS: js_dual and js_knn on Gaussian translates (truth by quadrature)
and mixtures (truth by Monte Carlo on the densities), 2000 and 1500 samples.

Run: ``python benchmarks/neural_dual.py`` (about an hour on 2 cores, two worker
processes of one thread each; ``--quick`` for a smoke run of a few minutes,
``--device cuda`` on a GPU). Writes benchmarks/results/neural_dual[_quick].json
(rows appended to a .jsonl as they finish) and docs/figures/neural_dual.png.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import RESULTS, machine, save_figure, write_json
from torch import nn

import divergences as dv
from divergences.closed_form import gaussian_scale_wasserstein, radial_wasserstein
from divergences.neural import Critic, CriticStack, KantorovichDual, TrainingOptions, train

FIGURE = Path(__file__).resolve().parent.parent / "docs" / "figures" / "neural_dual.png"
SAMPLES = 20_000
FRESH = 100_000
LP_SAMPLES = 2000
DIMS = (2, 8, 32, 64, 128)
FAMILIES = ("translate", "mixture", "cube", "scale", "shells")


def truth(family: str, dim: int, theta: float = 1.0) -> float:
    return {
        "translate": 1.5,
        "mixture": 1.0,
        "cube": 0.5,
        "scale": gaussian_scale_wasserstein(1.5, dim) if family == "scale" else 0.0,
        "shells": radial_wasserstein((0.5, 1.5), (1.0, 3.0)),
        "segments": abs(theta),
    }[family]


def draw(family: str, dim: int, side: str, n: int, rng: np.random.Generator, theta: float = 1.0):
    """n samples of P (side 'p') or Q (side 'q') of a family, float64."""
    q = side == "q"
    if family == "translate":
        x = rng.standard_normal((n, dim))
        x[:, 0] += 1.5 * q
    elif family == "mixture":
        x = 0.5 * rng.standard_normal((n, dim))
        x[:, 0] += np.where(rng.integers(2, size=n) == 1, 2.0, -2.0)
        x[:, 1] += 1.0 * q
    elif family == "cube":
        x = rng.uniform(size=(n, dim))
        x[:, 0] += 0.5 * q
    elif family == "scale":
        x = rng.standard_normal((n, dim)) * (1.5 if q else 1.0)
    elif family == "shells":
        direction = rng.standard_normal((n, dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        low, high = (1.0, 3.0) if q else (0.5, 1.5)
        x = direction * rng.uniform(low, high, size=(n, 1))
    else:  # segments
        x = np.zeros((n, 2))
        x[:, 1] = rng.uniform(size=n)
        x[:, 0] = theta * q
    return x


def population(critic, family, dim, theta, seed, scale):
    """E_P f - E_Q f on 10^5 fresh samples a side."""
    rng = np.random.default_rng(10**6 + seed)
    with torch.no_grad():
        values = []
        for side in ("p", "q"):
            x = torch.as_tensor(scale * draw(family, dim, side, FRESH, rng, theta))
            values.append(float(critic(x).double().mean()))
    return values[0] - values[1]


def straightforward(
    x_p: torch.Tensor, x_q: torch.Tensor, steps: int, seed: int, device: str, batch: int = 256
):
    """The classic WGAN-GP critic loop, as commonly written (on data scaled to unit spread)."""
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
    n = x_p.shape[0]
    log = []
    for _ in range(steps):
        real = x_p[torch.randint(0, n, (batch,), device=device)]
        fake = x_q[torch.randint(0, x_q.shape[0], (batch,), device=device)]
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


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """One (method, family, d, theta, seed, scale) run; returns its row."""
    torch.set_num_threads(task.get("threads", 1))
    family, dim, seed, scale = task["family"], task["dim"], task["seed"], task["scale"]
    theta, method, device = task.get("theta", 1.0), task["method"], task["device"]
    true = scale * truth(family, dim, theta)
    rng = np.random.default_rng(seed)
    x = scale * draw(family, dim, "p", SAMPLES, rng, theta)
    y = scale * draw(family, dim, "q", SAMPLES, rng, theta)
    row: dict[str, Any] = {**{k: v for k, v in task.items() if k != "threads"}, "true": true}
    start = time.perf_counter()
    if method == "lp":
        value = dv.wasserstein(x[:LP_SAMPLES], y[:LP_SAMPLES])
        row.update(value=value, relative_error=value / true - 1)
    elif method == "straightforward":
        spread = float(np.concatenate([x, y]).std())
        center = np.concatenate([x, y]).mean(axis=0)
        train_p = torch.tensor((x[:16000] - center) / spread, dtype=torch.float32, device=device)
        train_q = torch.tensor((y[:16000] - center) / spread, dtype=torch.float32, device=device)
        network = straightforward(train_p, train_q, task["steps"], seed, device)

        def critic(z: torch.Tensor) -> torch.Tensor:
            z = ((z - torch.as_tensor(center)) / spread).float().to(device)
            return spread * network(z).squeeze(-1).cpu()

        value = population(critic, family, dim, theta, seed, scale)
        row.update(population=value, relative_error=value / true - 1)
    else:
        options: dict[str, Any] = {"seed": seed, "device": device}
        if method == "previous":  # the previous default: LeakyReLU only, no validation split
            width = min(512, max(128, 4 * dim))
            options.update(activation="leaky_relu", validation=0.0, width=width, weight_decay=0.0)
        if method == "callable":
            draws = np.random.default_rng(seed + 7)

            def from_p(k: int) -> np.ndarray:
                return scale * draw(family, dim, "p", k, draws, theta)

            def from_q(k: int) -> np.ndarray:
                return scale * draw(family, dim, "q", k, draws, theta)

            result = dv.wasserstein_dual(from_p, from_q, **options)
        else:
            result = dv.wasserstein_dual(x, y, **options)
        value = population(result.critic, family, dim, theta, seed, scale)
        low, high = result.interval
        row.update(
            population=value,
            relative_error=value / true - 1,
            held_out=result.distance,
            held_out_error=result.distance / true - 1,
            interval=[low, high],
            relative_width=(high - low) / true,
            covers=bool(low <= true <= high),
            train_distance=result.train_distance,
            lipschitz=result.lipschitz,
            activation=result.critic.activation,
            width=result.critic.width,
            selected_step=int(result.history.selected_step),
        )
    row["seconds"] = time.perf_counter() - start
    return row


def js_task(task: dict[str, Any]) -> dict[str, Any]:
    """js_dual and js_knn on a Gaussian translate or a mixture (truth by quadrature / MC)."""
    from scipy import integrate, stats

    torch.set_num_threads(task.get("threads", 1))
    family, dim, seed = task["family"], task["dim"], task["seed"]
    rng = np.random.default_rng(seed)
    if family == "gaussian":
        shift = 1.0

        def density_terms(t: float) -> float:
            p, q = stats.norm.pdf(t), stats.norm.pdf(t, loc=shift)
            return 0.5 * p * np.log(2 * p / (p + q)) + 0.5 * q * np.log(2 * q / (p + q))

        true = integrate.quad(density_terms, -15, 15 + shift, limit=200)[0]
        x = rng.standard_normal((2000, dim))
        y = rng.standard_normal((1500, dim))
        y[:, 0] += shift
    else:  # mixture of N(+-2 e1, 0.5^2) against the same moved by e2: JS by Monte Carlo
        x = draw("mixture", dim, "p", 2000, rng)
        y = draw("mixture", dim, "q", 1500, rng)
        mc = np.random.default_rng(10**6 + seed)

        def log_density(z: np.ndarray, moved: bool) -> np.ndarray:
            w = z.copy()
            w[:, 1] -= 1.0 * moved
            parts = [stats.norm.logpdf(w[:, 0], loc=c, scale=0.5) for c in (-2.0, 2.0)]
            rest = stats.norm.logpdf(w[:, 1:], scale=0.5).sum(axis=1)
            return np.logaddexp(*parts) - math.log(2) + rest

        p_draw, q_draw = (
            draw("mixture", dim, "p", 400_000, mc),
            draw("mixture", dim, "q", 400_000, mc),
        )
        terms = []
        for z, own in ((p_draw, False), (q_draw, True)):
            lp, lq = log_density(z, False), log_density(z, True)
            mine = lq if own else lp
            terms.append(np.mean(mine - np.logaddexp(lp, lq) + math.log(2)))
        true = 0.5 * (terms[0] + terms[1])
    start = time.perf_counter()
    result = dv.js_dual(x, y, seed=seed, device=task["device"])
    seconds = time.perf_counter() - start
    low, high = result.interval
    return {
        **{k: v for k, v in task.items() if k != "threads"},
        "true": true,
        "js_dual": result.divergence,
        "interval": [low, high],
        "covers": bool(low <= true <= high),
        "train": result.train_divergence,
        "js_knn": dv.js_knn(x, y),
        "seconds": seconds,
    }


def tasks(quick: bool, seeds: int, device: str) -> list[dict[str, Any]]:
    dims = (2, 32) if quick else DIMS
    families = ("translate", "scale") if quick else FAMILIES
    problems = [(family, dim, 1.0) for dim in dims for family in families]
    problems += [("segments", 2, theta) for theta in ((1.0,) if quick else (0.25, 1.0, 2.0))]
    out = []
    for family, dim, theta in problems:
        base = {"family": family, "dim": dim, "theta": theta, "device": device}
        for seed in range(seeds):
            out.append({**base, "method": "ours", "seed": seed, "scale": 1.0})
        for scale in (1e-3, 1e3):
            out.append({**base, "method": "ours", "seed": 0, "scale": scale})
        out.append({**base, "method": "callable", "seed": 0, "scale": 1.0})
        out.append({**base, "method": "previous", "seed": 0, "scale": 1.0})
        out.append(
            {
                **base,
                "method": "straightforward",
                "seed": 0,
                "scale": 1.0,
                "steps": 500 if quick else 5000,
            }
        )
        out.append({**base, "method": "lp", "seed": 0, "scale": 1.0})
    # the longest first, so that the two workers finish together
    return sorted(out, key=lambda t: (-t["dim"], t["method"] != "ours"))


def js_tasks(quick: bool, seeds: int, device: str) -> list[dict[str, Any]]:
    dims = (2, 5) if quick else (2, 5, 16, 32)
    return [
        {"family": family, "dim": dim, "seed": seed, "device": device}
        for family in ("gaussian", "mixture")
        for dim in dims
        for seed in range(seeds)
    ]


def timing(device: str) -> dict[str, Any]:
    """Seconds of the default call at d = 2, 16, 128 (2 x 10^4 a side), with the default
    thread choice (one thread for these critics) and with torch's two threads, on an idle
    machine and with one other busy process."""
    import subprocess

    out: dict[str, Any] = {}
    for load in ("idle", "one busy process"):
        busy = (
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            if load != "idle"
            else None
        )
        try:
            for dim in (2, 16, 128):
                rng = np.random.default_rng(0)
                x = draw("scale", dim, "p", SAMPLES, rng)
                y = draw("scale", dim, "q", SAMPLES, rng)
                for threads in (None, 2):
                    start = time.perf_counter()
                    dv.wasserstein_dual(x, y, seed=0, device=device, threads=threads)
                    key = f"{load}, d={dim}, threads={threads or 'default'}"
                    out[key] = time.perf_counter() - start
                    print(f"{key}: {out[key]:.1f} s", flush=True)
        finally:
            if busy is not None:
                busy.kill()
    return out


def throughput(device: str, steps: int, rounds: int) -> dict[str, Any]:
    """Steps per second of our loop and the straightforward one, same MLP 2 x 128 and batch."""
    rng = np.random.default_rng(0)
    x_p = torch.tensor(draw("translate", 2, "p", 5000, rng), dtype=torch.float32, device=device)
    x_q = torch.tensor(draw("translate", 2, "q", 5000, rng), dtype=torch.float32, device=device)

    def ours() -> None:
        torch.manual_seed(0)
        stack = CriticStack([Critic(2, 128, 2)]).to(device)

        def sample(size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            index_p = torch.randint(5000, (1, size), generator=gen, device=device)
            index_q = torch.randint(5000, (1, size), generator=gen, device=device)
            return x_p[index_p], x_q[index_q]

        options = TrainingOptions(learning_rate=1e-4, steps=steps, batch_size=256, seed=0)
        train(stack, KantorovichDual("gp", 10.0), sample, options)
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
        ours_rates.append(steps / (time.perf_counter() - start))
        start = time.perf_counter()
        theirs()
        their_rates.append(steps / (time.perf_counter() - start))
        ratios.append(ours_rates[-1] / their_rates[-1])
    result = {
        "steps": steps,
        "rounds": rounds,
        "ours_steps_per_second": statistics.median(ours_rates),
        "straightforward_steps_per_second": statistics.median(their_rates),
        "speedup": statistics.median(ratios),
    }
    print(f"throughput: {result}", flush=True)
    return result


def summarise(rows: list[dict[str, Any]], js_rows: list[dict[str, Any]]) -> dict[str, Any]:
    ours = [r for r in rows if r["method"] == "ours" and r["scale"] == 1.0]
    by_dim: dict[str, Any] = {}
    for dim in sorted({r["dim"] for r in rows}):
        here = [r for r in ours if r["dim"] == dim]
        by_dim[str(dim)] = {
            "max_abs_error": max(abs(r["relative_error"]) for r in here),
            "median_abs_error": statistics.median(abs(r["relative_error"]) for r in here),
            "coverage": statistics.mean(r["covers"] for r in here),
            "median_relative_width": statistics.median(r["relative_width"] for r in here),
            "max_seconds": max(r["seconds"] for r in here),
            **{
                f"{method}_max_abs_error": max(
                    (
                        abs(r["relative_error"])
                        for r in rows
                        if r["method"] == method and r["dim"] == dim
                    ),
                    default=None,
                )
                for method in ("callable", "previous", "straightforward", "lp")
            },
        }
    scaled = [r for r in rows if r["method"] == "ours" and r["scale"] != 1.0]
    equivariance = []
    for r in scaled:
        same = [
            s
            for s in ours
            if (s["family"], s["dim"], s["theta"], s["seed"])
            == (r["family"], r["dim"], r["theta"], r["seed"])
        ]
        if same:
            equivariance.append(abs(r["relative_error"] - same[0]["relative_error"]))
    covered = [r["covers"] for r in rows if r["method"] in ("ours", "callable")]
    return {
        "by_dimension": by_dim,
        "coverage_all_runs": statistics.mean(covered),
        "runs": len(covered),
        "median_relative_width": statistics.median(
            r["relative_width"] for r in rows if r["method"] in ("ours", "callable")
        ),
        "median_abs_error": statistics.median(abs(r["relative_error"]) for r in ours),
        "equivariance_max_difference": max(equivariance, default=None),
        "js_coverage": statistics.mean(r["covers"] for r in js_rows) if js_rows else None,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    styles = {
        "ours": ("ours (defaults), each seed", "C0", "o"),
        "callable": ("ours on callables", "C2", "^"),
        "previous": ("ours, LeakyReLU only, no validation", "C4", "v"),
        "straightforward": ("straightforward WGAN-GP", "C1", "s"),
        "lp": ("exact LP on 2000 a side (biased up)", "C7", "x"),
    }
    dims = sorted({r["dim"] for r in rows})
    position = {dim: i for i, dim in enumerate(dims)}
    offsets = {m: (i - 2) * 0.12 for i, m in enumerate(styles)}
    for method, (label, color, marker) in styles.items():
        mine = [r for r in rows if r["method"] == method and r["scale"] == 1.0]
        xs = [position[r["dim"]] + offsets[method] for r in mine]
        left.scatter(
            xs,
            [100 * r["relative_error"] for r in mine],
            color=color,
            marker=marker,
            s=22,
            label=label,
            alpha=0.8,
        )
    for limit in (1, 3):  # the targets: 1% up to d = 16, 3% at d = 128
        left.axhspan(-limit, limit, color="k", alpha=0.06 if limit == 3 else 0.1, lw=0)
    left.axhline(0, color="k", lw=0.8)
    left.set_ylim(-20, 20)
    left.set_xticks(range(len(dims)), [f"d = {d}" for d in dims])
    left.set_ylabel("error of the critic on 10^5 fresh samples (%)")
    left.set_title(
        "W1 error against the closed form (clipped to ±20%;\nthe exact LP is +22% to +800% "
        "from d = 8 on, off the chart)",
        fontsize=10,
    )
    left.legend(fontsize=8, loc="lower left")
    for i, dim in enumerate(dims):
        mine = [r for r in rows if r["method"] in ("ours", "callable") and r["dim"] == dim]
        widths = [100 * r["relative_width"] / 2 for r in mine]
        errors = [100 * abs(r["held_out_error"]) for r in mine]
        covered = 100 * statistics.mean(r["covers"] for r in mine)
        right.scatter(
            [i - 0.1] * len(mine),
            widths,
            color="C0",
            s=14,
            alpha=0.7,
            label="interval half-width" if i == 0 else None,
        )
        right.scatter(
            [i + 0.1] * len(mine),
            errors,
            color="C3",
            marker="x",
            s=14,
            alpha=0.7,
            label="|held-out estimate − truth|" if i == 0 else None,
        )
        right.annotate(f"covers {covered:.0f}%", (i, 30), ha="center", fontsize=9)
    right.set_yscale("log")
    right.set_ylim(1e-3, 60)
    right.set_xticks(range(len(dims)), [f"d = {d}" for d in dims])
    right.set_ylabel("% of W1")
    right.set_title(
        "95% intervals (ours, callables included): half-width\nagainst the actual error of the "
        "held-out estimate",
        fontsize=10,
    )
    right.legend(fontsize=8, loc="lower right")
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two dims, two families, 1 seed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replot", action="store_true", help="redraw the figure from the JSON")
    parser.add_argument(
        "--js", action="store_true", help="rerun only the JS estimates into the JSON"
    )
    parser.add_argument(
        "--timing",
        action="store_true",
        help="measure only the times and the throughput (on a quiet machine) into the JSON",
    )
    args = parser.parse_args()
    if args.replot:
        replot()
        return
    if args.js:
        path = RESULTS / "neural_dual.json"
        payload = json.loads(path.read_text())
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            payload["js"] = list(pool.map(js_task, js_tasks(False, args.seeds, args.device)))
        payload["summary"] = summarise(payload["rows"], payload["js"])
        path.write_text(json.dumps(payload, indent=2) + "\n")
        for row in payload["js"]:
            print(row)
        print(f"wrote {path}")
        return
    if args.timing:
        path = RESULTS / "neural_dual.json"
        payload = json.loads(path.read_text())
        payload["throughput"] = throughput(args.device, steps=500, rounds=7)
        payload["default_call_seconds"] = timing(args.device)
        payload["timing_machine"] = machine()
        path.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {path}")
        return
    seeds = 1 if args.quick else args.seeds
    name = "neural_dual_quick" if args.quick else "neural_dual"
    if args.device != "cpu":
        name += f"_{args.device.split(':')[0]}"
    log = RESULTS / f"{name}.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def key(t: dict[str, Any]) -> str:
        return json.dumps({k: t[k] for k in ("method", "family", "dim", "theta", "seed", "scale")})

    finished = {key(r) for r in done if "family" in r and "method" in r}
    todo = [t for t in tasks(args.quick, seeds, args.device) if key(t) not in finished]
    print(f"{len(done)} rows from an earlier run, {len(todo)} to go", flush=True)
    rows = [r for r in done if "method" in r]
    with ProcessPoolExecutor(max_workers=args.workers) as pool, log.open("a") as handle:
        for row in pool.map(run_task, todo):
            rows.append(row)
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            print(
                f"{row['method']:15s} {row['family']:9s} d={row['dim']:3d} seed {row['seed']} "
                f"scale {row['scale']:g}: error {100 * row['relative_error']:+.2f}% "
                f"covers {row.get('covers', '-')} ({row['seconds']:.1f} s)",
                flush=True,
            )
        js_rows = list(pool.map(js_task, js_tasks(args.quick, seeds, args.device)))
    for row in js_rows:
        print(
            f"js {row['family']} d={row['dim']} seed {row['seed']}: truth {row['true']:.4f} "
            f"js_dual {row['js_dual']:.4f} {row['interval']} js_knn {row['js_knn']:.4f}"
        )
    speed = throughput(
        args.device, steps=100 if args.quick else 500, rounds=3 if args.quick else 5
    )
    seconds = timing(args.device)
    summary = summarise(rows, js_rows)
    print(json.dumps(summary, indent=1))
    path = write_json(
        name,
        {
            "device": args.device,
            "samples": SAMPLES,
            "fresh": FRESH,
            "rows": rows,
            "js": js_rows,
            "summary": summary,
            "throughput": speed,
            "default_call_seconds": seconds,
        },
    )
    print(f"wrote {path}")
    if not args.quick and args.device == "cpu":
        plot(rows, FIGURE)
        print(f"wrote {FIGURE}")


def replot() -> None:
    """The figure again from the committed JSON (no training)."""
    payload = json.loads((RESULTS / "neural_dual.json").read_text())
    plot(payload["rows"], FIGURE)


if __name__ == "__main__":
    main()
