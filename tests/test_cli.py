"""The ``divergences`` command, end to end in a subprocess."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import ot
import pytest
import torch
from geomloss import SamplesLoss
from scipy.spatial.distance import cdist

import divergences as dv


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "divergences", *args], capture_output=True, text=True
    )


def table(stdout: str) -> dict[str, list[str]]:
    """The compare table's rows, by measure: the lines between the column header and the notes."""
    rows = {}
    for line in stdout.split("\n\nnotes:")[0].splitlines()[2:]:
        name = re.split(r"\s{2,}", line.strip())[0]  # names hold single spaces only
        rows[name] = line.strip()[len(name) :].split()
    return rows


def notes(stdout: str) -> str:
    return " ".join(stdout.split("\n\nnotes:")[1].split())


def test_demo_prints_the_closed_forms_and_histogram_estimates():
    result = run("demo", "--thetas", "-1", "0", "1", "--samples", "2000")
    assert result.returncode == 0, result.stderr
    rows = {
        float(line.split()[0]): [float(v) for v in line.split()[1:]]
        for line in result.stdout.splitlines()[2:]
    }
    assert set(rows) == {-1.0, 0.0, 1.0}
    kl_hist, kl_exact, js_hist, js_exact, w_exact = rows[1.0]
    assert kl_hist == math.inf
    assert kl_exact == math.inf
    assert js_hist == js_exact == round(math.log(2), 4)
    assert w_exact == 1.0
    assert rows[0.0][1] == rows[0.0][3] == rows[0.0][4] == 0.0
    assert 0.0 < rows[0.0][0] < 0.1  # finite-sample histograms of P against P


def test_no_command_prints_help_and_fails():
    result = run()
    assert result.returncode == 2
    assert "demo" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--samples", "0"], "argument --samples: must be at least 1; got 0"),
        (["demo", "--bin-width", "-1"], "argument --bin-width: must be positive; got '-1'"),
        (["demo", "--thetas", "x"], "argument --thetas: expected a number; got 'x'"),
        (["demo", "--seed", "1.5"], "argument --seed: expected an integer; got '1.5'"),
        (["demo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["gradients", "--seeds", "0"], "argument --seeds: must be at least 1; got 0"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_fail_with_the_subcommands_usage(args, message):
    result = run(*args)
    assert result.returncode == 2
    usage, error = result.stderr.strip().rsplit("\n", 1)
    assert message in error
    command = args[0] if args[0] != "frobnicate" else ""
    assert usage.startswith(f"usage: divergences {command}".rstrip())
    assert error.startswith(f"divergences {command}: error: ".replace(" :", ":"))


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"divergences {dv.__version__}"


def test_help_lists_every_command_with_examples():
    result = run("--help")
    assert result.returncode == 0
    for command in ("demo", "compare", "gradients"):
        assert command in result.stdout
    for command in ("compare", "gradients"):
        sub = run(command, "--help")
        assert sub.returncode == 0
        assert "examples:" in sub.stdout


@pytest.fixture()
def sample_files(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.normal(size=(400, 2))
    q = rng.normal(size=(300, 2)) + np.array([1.5, 0.0])
    np.save(tmp_path / "p.npy", p)
    np.savetxt(tmp_path / "q.csv", q, delimiter=",", header="x,y", comments="")
    return p, q, tmp_path / "p.npy", tmp_path / "q.csv"


def test_compare_prints_every_measure_from_npy_and_csv(sample_files):
    p, q, p_path, q_path = sample_files
    result = run("compare", str(p_path), str(q_path))
    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    assert set(rows) == {
        "W1 exact",
        "Sliced W1",
        "Sinkhorn divergence",
        "Energy distance",
        "KL(P||Q) k-NN",
        "KL(Q||P) k-NN",
        "JS k-NN",
    }
    # the exact W1 is POT's, called directly (4 decimals printed)
    expected = ot.emd2(
        np.full(400, 1 / 400), np.full(300, 1 / 300), ot.dist(p, q, metric="euclidean")
    )
    np.testing.assert_allclose(float(rows["W1 exact"][0]), expected, atol=6e-5)
    assert 0 < float(rows["JS k-NN"][0]) < math.log(2)
    # the energy distance is the brute force over all pairs; Sinkhorn GeomLoss's own
    energy = 2 * cdist(p, q).mean() - cdist(p, p).mean() - cdist(q, q).mean()
    np.testing.assert_allclose(float(rows["Energy distance"][0]), energy, atol=6e-5)
    pooled = np.concatenate([p, q])
    blur = 0.05 * np.sqrt(np.mean((pooled - pooled.mean(axis=0)) ** 2))
    sinkhorn = SamplesLoss("sinkhorn", p=1, blur=blur, scaling=0.95, debias=True)(
        torch.from_numpy(p), torch.from_numpy(q)
    )
    np.testing.assert_allclose(float(rows["Sinkhorn divergence"][0]), sinkhorn.item(), rtol=2e-3)


def test_compare_json_and_neural_intervals(sample_files):
    p, q, p_path, q_path = sample_files
    result = run(
        "compare",
        str(p_path),
        str(q_path),
        "--json",
        "--neural",
        "--steps",
        "100",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout, parse_constant=_refuse)
    assert payload["p"] == {"path": str(p_path), "n": 400, "d": 2}
    measures = {row["measure"]: row for row in payload["measures"]}
    assert all(row["error"] is None for row in measures.values())
    np.testing.assert_allclose(measures["JS k-NN"]["value"], dv.js_knn(p, q, seed=0), rtol=1e-12)
    for name in ("W1 neural critic", "JS discriminator"):
        low, high = measures[name]["interval"]
        assert low <= measures[name]["value"] <= high
    assert measures["W1 exact"]["interval"] is None


def test_compare_test_adds_a_p_value_column(tmp_path):
    rng = np.random.default_rng(8)
    p, q = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + np.array([2.0, 0.0])
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "q.npy", q)
    files = (str(tmp_path / "p.npy"), str(tmp_path / "q.npy"))
    result = run("compare", *files, "--test", "--permutations", "19")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split() == ["measure", "value", "p-value"]
    rows = table(result.stdout)
    energy = dv.two_sample_test(p, q, statistic="energy", permutations=19, seed=0)
    assert rows["Energy distance"][1] == f"{energy.pvalue:.2g}" == "0.05"  # 1 / 20
    assert "a permutation test of P = Q with this statistic, 19 re-splits" in notes(result.stdout)
    as_json = run("compare", *files, "--test", "--permutations", "19", "--json")
    measures = {row["measure"]: row for row in json.loads(as_json.stdout)["measures"]}
    assert measures["Energy distance"]["pvalue"] == energy.pvalue
    plain = run("compare", *files)
    assert "p-value" not in plain.stdout  # no empty column without --test


def test_compare_one_dimensional_files(tmp_path):
    np.savetxt(tmp_path / "a.csv", np.arange(10.0))
    np.save(tmp_path / "b.npy", np.arange(10.0) + 2)
    result = run("compare", str(tmp_path / "a.csv"), str(tmp_path / "b.npy"), "--k", "2")
    assert result.returncode == 0, result.stderr
    assert "d = 1" in result.stdout
    assert float(table(result.stdout)["W1 exact"][0]) == 2.0  # a translate by 2
    assert "W1 within P" not in result.stdout  # the bias reference is for d > 2


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.npy", "P: no such file"),
        (lambda d: "", "P: the file name is empty"),  # was "P: . is not a file"
        (lambda d: _write(d / "p.txt2", "1,2\n"), "expected a .npy file or a text file"),
        (lambda d: _save(d / "p.npy", np.zeros((2, 2, 2))), "shape (n, d) or (n,)"),
        (lambda d: _save(d / "p.npy", np.array([[1.0, np.nan]])), "NaN or inf (nan at row 0"),
        (lambda d: _write(d / "p.csv", "a,b\nx,y\n"), "line 2, column 1: 'x' is not"),
        (lambda d: _write(d / "p.csv", "a,b\n"), "header line and no samples"),
        (lambda d: _write(d / "p.csv", "a,b\n1,2\nx,y\n"), "line 3, column 1: 'x' is not"),
        (lambda d: _save(d / "p.npy", np.zeros((5, 3))), "same dimension"),
    ],
)
def test_compare_bad_files_fail_with_a_message(tmp_path, make, message):
    np.save(tmp_path / "q.npy", np.zeros((5, 2)))
    result = run("compare", str(make(tmp_path)), str(tmp_path / "q.npy"))
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.startswith("divergences compare: ")
    assert result.stderr.count("\n") == 1


def test_compare_too_few_samples_for_k_names_the_largest_k_that_works(tmp_path):
    np.save(tmp_path / "p.npy", np.array([[0.0], [1.0], [2.0]]))
    np.save(tmp_path / "q.npy", np.array([[5.0], [6.0], [7.0], [8.0]]))
    result = run("compare", str(tmp_path / "p.npy"), str(tmp_path / "q.npy"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "divergences compare: --k 5 needs at least 6 distinct points in each of P and Q "
        "(each point's k-th nearest neighbour among the others); P has 3: choose --k 2 or "
        "less\n"
    )
    result = run("compare", str(tmp_path / "p.npy"), str(tmp_path / "q.npy"), "--k", "2")
    assert result.returncode == 0, result.stderr


def test_compare_one_distinct_point_says_no_k_works_in_one_statement(tmp_path):
    # three equal points: one need (2 distinct points), not "needs 6" beside "needs 2"
    np.save(tmp_path / "p.npy", np.ones((3, 2)))
    np.save(tmp_path / "q.npy", np.ones((3, 2)))
    result = run("compare", str(tmp_path / "p.npy"), str(tmp_path / "q.npy"))
    assert result.returncode == 1
    assert result.stderr == (
        "divergences compare: the k-NN estimators need at least 2 distinct points in each of "
        "P and Q (each point's nearest neighbour among the others, --k 1); P has 1 (of 3 "
        "samples), so no --k works\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "0"], "argument --k: must be at least 1; got 0"),
        (["--steps", "0"], "argument --steps: must be at least 1; got 0"),
        (["--steps", "10" * 20], "argument --steps: must be at most 10000000"),
        (["--seed", "-1"], "argument --seed: must be at least 0; got -1"),
        (["--device", "gpu"], "argument --device: expected auto, cpu, cuda or cuda:N; got 'gpu'"),
        (["--permutations", "0"], "argument --permutations: must be at least 1; got 0"),
    ],
)
def test_compare_bad_options(sample_files, args, message):
    _, _, p_path, q_path = sample_files
    result = run("compare", str(p_path), str(q_path), *args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: divergences compare ")
    assert (
        result.stderr.strip().splitlines()[-1].startswith(f"divergences compare: error: {message}")
    )


def _refuse(constant):
    raise ValueError(f"{constant} is not JSON")


def _write(path, text):
    path.write_text(text)
    return path


def _save(path, array):
    np.save(path, array)
    return path
