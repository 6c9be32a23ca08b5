"""The generator-training experiment: targets, measures against brute force, a short
run, and the `divergences train-generators` command end to end (its --quick version)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from divergences.experiments.generators import (
    LOSSES,
    TARGETS,
    mode_coverage,
    noise_floor,
    train_generator,
)


def test_targets_have_their_modes() -> None:
    assert TARGETS["ring"].modes.shape == (8, 2)
    assert TARGETS["grid"].modes.shape == (25, 2)
    np.testing.assert_allclose(np.linalg.norm(TARGETS["ring"].modes, axis=1), 2.0)
    samples = TARGETS["grid"].sample(5000, np.random.default_rng(0))
    nearest = cdist(samples, TARGETS["grid"].modes).min(axis=1)
    # a 2-D Gaussian's radius exceeds 3 sd with probability exp(-4.5) = 1.1%
    np.testing.assert_allclose(
        np.mean(nearest < 3 * TARGETS["grid"].sd), 1 - np.exp(-4.5), atol=0.01
    )


def test_mode_coverage_against_brute_force() -> None:
    spec = TARGETS["ring"]
    rng = np.random.default_rng(1)
    # three modes well populated, one with a few samples, the rest far away
    samples = np.concatenate(
        [
            spec.modes[rng.integers(0, 3, 300)] + 0.02 * rng.standard_normal((300, 2)),
            spec.modes[[5] * 10] + 0.02 * rng.standard_normal((10, 2)),
            rng.uniform(-0.5, 0.5, (90, 2)),
        ]
    )
    modes, near = mode_coverage(samples, spec, share=0.25)
    distances = cdist(samples, spec.modes)
    close = distances.min(axis=1) < 3 * spec.sd
    counts = np.bincount(distances.argmin(axis=1)[close], minlength=8)
    assert modes == int(np.sum(counts >= 0.25 * len(samples) / 8)) == 3
    np.testing.assert_allclose(near, close.mean())


def test_noise_floor_is_the_mean_exact_w1_of_independent_target_pairs() -> None:
    import ot

    spec = TARGETS["roll"]
    rng = np.random.default_rng(10**6)
    values = []
    for _ in range(4):
        x, y = spec.sample(300, rng), spec.sample(300, rng)
        weights = np.full(300, 1 / 300)
        values.append(ot.emd2(weights, weights, ot.dist(x, y, metric="euclidean")))
    mean, sd = noise_floor(spec, 300, pairs=4)
    np.testing.assert_allclose([mean, sd], [np.mean(values), np.std(values, ddof=1)], rtol=1e-9)
    # the same floor for every run: computed once, from a fixed seed
    assert noise_floor(spec, 300, pairs=4) == (mean, sd)
    with pytest.raises(ValueError, match="pairs must be a positive integer"):
        noise_floor(spec, 300, pairs=0)


def test_the_last_measure_averages_its_draws() -> None:
    run = train_generator("energy", "ring", steps=4, every=2, evaluation_size=100, final_draws=3)
    assert [(c.step, c.draws) for c in run.checkpoints] == [(0, 1), (2, 1), (4, 3)]
    assert run.floor == noise_floor(TARGETS["ring"], 100)[0] and run.floor_sd > 0
    with pytest.raises(ValueError, match="final_draws must be a positive integer"):
        train_generator("energy", "ring", final_draws=0)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_a_short_run_measures_every_loss(loss: str) -> None:
    run = train_generator(loss, "ring", steps=20, every=10, evaluation_size=200, seed=0)
    assert [c.step for c in run.checkpoints] == [0, 10, 20]
    assert all(np.isfinite(c.w1) and c.w1 > 0 for c in run.checkpoints)
    assert run.samples.shape == (200, 2)
    assert run.floor > 0 and run.seconds > 0


def test_same_initialisation_for_every_loss() -> None:
    first = [
        train_generator(loss, "grid", steps=1, every=1, evaluation_size=100) for loss in LOSSES
    ]
    assert len({run.checkpoints[0].w1 for run in first}) == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="loss must be one of"):
        train_generator("wgan", "ring")
    with pytest.raises(ValueError, match="target must be one of"):
        train_generator("wasserstein", "moons")
    with pytest.raises(ValueError, match="schedule must be one of"):
        train_generator("energy", "ring", schedule="cosine")


def test_the_linear_schedule_decays_the_rate_to_zero() -> None:
    """Over 2 steps the linear schedule takes the first at the full rate and the second at
    half of it: the run matches the constant schedule after one step, not after two."""
    kwargs = {"steps": 2, "every": 1, "evaluation_size": 100, "seed": 3}
    linear = train_generator("energy", "ring", schedule="linear", **kwargs)
    constant = train_generator("energy", "ring", schedule="constant", **kwargs)
    assert linear.checkpoints[1].w1 == constant.checkpoints[1].w1
    assert linear.checkpoints[2].w1 != constant.checkpoints[2].w1


def quick_run(output: Path) -> subprocess.CompletedProcess:
    command = ["train-generators", "--quick", "--output", str(output)]
    return subprocess.run(
        [sys.executable, "-m", "divergences", *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_train_generators_quick_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "out"
    result = quick_run(output)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in output.iterdir()) == [
        "generator_samples.png",
        "generator_w1.png",
        "generators.csv",
        "generators.json",
    ]
    payload = json.loads((output / "generators.json").read_text())
    assert [run["loss"] for run in payload["runs"]] == list(LOSSES)
    for run in payload["runs"]:
        assert run["steps"] == 300 and run["final"]["w1"] > 0 and run["floor"] > 0
    with (output / "generators.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(LOSSES) * 4  # steps 0, 100, 200, 300
    assert "wasserstein" in result.stdout
    # a second run refuses to replace the results
    again = quick_run(output)
    assert again.returncode == 1 and "already holds files" in again.stderr


def test_summary_over_seeds(tmp_path: Path) -> None:
    from divergences.experiments.report import generator_summary, generator_table

    def run(seed: int, w1: float, modes: int) -> dict:
        final = {"w1": w1, "modes": modes, "near": 0.5 + seed / 10}
        return {
            "loss": "energy",
            "target": "grid",
            "seed": seed,
            "floor": 0.1,
            "final": final,
            "seconds": 10.0 * (seed + 1),
            "learning_rate": 0.001,
        }

    path = tmp_path / "generators.json"
    path.write_text(json.dumps({"runs": [run(0, 0.2, 25), run(1, 0.5, 20), run(2, 0.3, 24)]}))
    (row,) = generator_summary(path)
    np.testing.assert_allclose(
        [row["w1_over_floor_median"], row["w1_over_floor_worst"], row["near"], row["seconds"]],
        [3.0, 5.0, 0.6, 20.0],
    )
    assert (row["modes_fewest"], row["modes_most"], row["seeds"]) == (20, 25, 3)
    assert "| energy | grid | 3.00, 5.00 | 20-25/25 | 0.60 | 20 | 0.001 |" in generator_table(
        path, markdown=True
    )


def test_worker_processes_give_the_runs_of_one_process_in_job_order() -> None:
    from divergences.experiments import generators
    from divergences.experiments.report import _SLOWEST_FIRST, _map, _pool, _shared_measures

    assert sorted(_SLOWEST_FIRST) == sorted(LOSSES)  # every loss has its place in the queue
    small = {"steps": 20, "every": 10, "batch_size": 64, "evaluation_size": 200}
    jobs = [
        ("energy", "ring", {**small, "seed": 0}),
        ("exact", "grid", {**small, "seed": 1}),  # slower: the workers take it first
        ("energy", "grid", {**small, "seed": 2}),
    ]
    finals = {}
    for workers in (1, 2):
        generators._STARTS.clear()
        with _pool(workers) as pool:
            shared = _shared_measures(pool, ["grid", "ring"], 3, 200, "cpu")
            runs = _map(pool, jobs, shared, False, "test")
        assert len(shared[1]) == 6  # one step-0 measure per (target, seed)
        assert [(run.loss, run.target, run.seed) for run in runs] == [
            (*j[:2], j[2]["seed"]) for j in jobs
        ]
        finals[workers] = [
            (run.floor, run.checkpoints[0].w1, run.checkpoints[-1].w1) for run in runs
        ]
        # the floors handed to the runs are noise_floor's own
        for run in runs:
            assert run.floor == noise_floor(TARGETS[run.target], 200)[0]
    # energy and exact are deterministic given the seed: the same numbers either way
    np.testing.assert_allclose(finals[2], finals[1], rtol=1e-12)


@pytest.mark.parametrize("loss", ["wasserstein", "gan_non_saturating"])
def test_a_run_is_the_same_whatever_ran_before_it(loss: str) -> None:
    # the critic and the discriminator are seeded by the run's seed, not by torch's
    # global generator (which the runs before it in a worker process have moved)
    small = {"steps": 20, "every": 10, "batch_size": 64, "evaluation_size": 200, "seed": 3}
    torch.manual_seed(0)
    first = train_generator(loss, "ring", **small)
    torch.manual_seed(123)
    second = train_generator(loss, "ring", **small)
    assert [c.w1 for c in first.checkpoints] == [c.w1 for c in second.checkpoints]
    np.testing.assert_array_equal(first.samples, second.samples)


def test_the_sweep_takes_the_largest_rate_within_the_tolerance_of_the_best() -> None:
    from divergences.experiments.report import _sweep_choice

    rows = [
        {"learning_rate": 5e-4, "w1": 0.280},
        {"learning_rate": 1e-3, "w1": 0.269},
        {"learning_rate": 2e-3, "w1": 0.272},  # 1.1% above the best: a tie
    ]
    assert _sweep_choice(rows, 0.03) == 2e-3
    assert _sweep_choice(rows, 0.01) == 1e-3  # outside a 1% tolerance
    rows[2]["w1"] = 0.300  # 11.5% above: the best stands
    assert _sweep_choice(rows, 0.03) == 1e-3


def test_the_step_0_measure_is_solved_once_for_every_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    import ot

    from divergences.experiments import generators

    small = {"steps": 4, "every": 2, "batch_size": 32, "evaluation_size": 150, "seed": 5}
    generators._STARTS.clear()
    key, w1 = generators._start_entry("grid", 5, 150)
    # the independent reference: the runs' step-0 samples rebuilt by hand, POT's LP
    with torch.no_grad():
        noise = torch.Generator().manual_seed(5)
        fake = generators.generator_network(5)(torch.randn(150, 2, generator=noise)).double()
    real = TARGETS["grid"].sample(150, np.random.default_rng((2, 5, 0, 0)))
    np.testing.assert_allclose(w1, ot.emd2([], [], cdist(fake.numpy(), real)), rtol=1e-10)
    noise_floor(TARGETS["grid"], 150)  # solved here, before the count starts
    solved = []
    real_solver = generators.wasserstein
    monkeypatch.setattr(
        generators, "wasserstein", lambda x, y: solved.append(1) or real_solver(x, y)
    )
    runs = [train_generator(loss, "grid", **small) for loss in ("energy", "exact")]
    # every measure but the start: steps 2 and 4 (5 draws), in each run
    assert len(solved) == 2 * (1 + 5)
    assert [run.checkpoints[0].w1 for run in runs] == [w1, w1]
    # another seed starts from other samples: solved, not taken from the cache
    solved.clear()
    other = train_generator("energy", "grid", **{**small, "seed": 6})
    assert len(solved) == 1 + 1 + 5
    assert other.checkpoints[0].w1 != w1
    assert key in generators._STARTS and len(generators._STARTS) == 2
