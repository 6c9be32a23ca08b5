"""The command line under hostile input: never a traceback, never a lost file, strict JSON.

Each command runs in a subprocess, as a user would run it. Every error a user
can cause must end in exactly one line on stderr, ``divergences COMMAND: ...``,
with exit status 1 (2 and the subcommand's usage for a usage error); a
``compare`` whose measures could not all be computed prints what it could and
fails; ``--json`` output parses as strict JSON (no NaN or Infinity).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import ot
import pytest

from divergences import cli
from divergences._validation import ArgumentsError
from divergences.cli import _demo, _format
from divergences.comparison import _reference_split
from divergences.experiments.histograms import MAX_BINS, segment_histograms
from divergences.families import segment_samples

# Python parameter names that must not reach a command-line user.
PYTHON_NAMES = re.compile(
    r"samples_[pq]|(?<![\w-])[xy] (?:must|has|is|looks|spans|and [xy])\b"
    r"|bin_width|\bk=\d|allow_pickle"
)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "divergences", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, command: str) -> str:
    """Exit status 1 and one line on stderr that names the command; returns the message."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"divergences {command}: "), result.stderr
    assert not PYTHON_NAMES.search(result.stderr), result.stderr
    return result.stderr.strip()


def assert_usage_error(result: subprocess.CompletedProcess, command: str, message: str) -> None:
    """Exit status 2, the subcommand's usage, then one line naming the option."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.startswith(f"usage: divergences {command} "), result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"divergences {command}: error: "), last
    assert message in last, last


def strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "p.npy", rng.normal(size=(40, 2)))
    np.save(tmp_path / "q.npy", rng.normal(size=(30, 2)) + np.array([1.0, 0.0]))
    return tmp_path


# ---------------------------------------------------------------------------
# compare: files the library would refuse, and text files as NumPy writes them


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones((10, 2)) + 1j, "holds complex numbers"),
        (np.ones((10, 2), dtype=bool), "holds booleans"),
        (np.array(["2020-01-01"] * 10, dtype="datetime64[D]"), "holds dates"),
        (np.array([1, 2], dtype="timedelta64[s]"), "holds time spans"),
        (np.array(["1.0", "2.0"]), "holds text"),
        (np.array([1.0, "a"], dtype=object), "holds Python objects"),
        (np.zeros(3, dtype=[("x", float), ("y", float)]), "records of several fields"),
        (np.zeros((0, 2)), "holds no samples"),
        (np.array([1.0, np.inf]), "holds NaN or inf (inf at row 1, column 0"),
    ],
)
def test_compare_refuses_npy_files_that_are_not_real_numbers(folder, array, message):
    np.save(folder / "bad.npy", array, allow_pickle=True)
    result = run("compare", str(folder / "bad.npy"), str(folder / "q.npy"))
    error = assert_one_line_error(result, "compare")
    assert error.startswith(f"divergences compare: P: {folder / 'bad.npy'} ")
    assert message in error
    assert result.stdout == ""


@pytest.mark.skipif(
    np.finfo(np.longdouble).max <= np.finfo(np.float64).max, reason="long double is double here"
)
def test_long_doubles_beyond_float64_are_refused(folder):
    np.save(folder / "big.npy", np.full(4, np.finfo(np.float64).max, dtype=np.longdouble) * 4)
    error = assert_one_line_error(
        run("compare", str(folder / "big.npy"), str(folder / "q.npy")), "compare"
    )
    assert "holds NaN or inf (inf at row 0" in error


def test_compare_refuses_a_pickle_without_numpys_advice_to_unpickle_it(folder):
    (folder / "p.npy").write_bytes(b"\x80\x04\x95 not numpy at all")
    error = assert_one_line_error(
        run("compare", str(folder / "p.npy"), str(folder / "q.npy")), "compare"
    )
    assert "is not a NumPy .npy file" in error
    assert "unsafely" not in error and "allow_pickle" not in error


@pytest.mark.parametrize(
    "delimiter", [",", ";", "\t", " "], ids=["comma", "semicolon", "tab", "space"]
)
def test_text_files_are_read_whatever_the_delimiter(tmp_path, delimiter):
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(20, 3))
    path = tmp_path / "p.txt"
    # numpy.savetxt's own formats: the default (spaces) and the usual alternatives,
    # with a header and a comment line
    np.savetxt(path, samples, delimiter=delimiter, header=delimiter.join("xyz"), comments="")
    path.write_text("# written by numpy.savetxt\n" + path.read_text())
    np.testing.assert_array_equal(cli.load_samples(path, "P"), samples)


def test_compare_reads_numpys_default_text_file(tmp_path):
    rng = np.random.default_rng(2)
    p, q = rng.normal(size=(30, 2)), rng.normal(size=(20, 2)) + 2.0
    np.savetxt(tmp_path / "p.txt", p)  # spaces, no header: savetxt's default
    np.savetxt(tmp_path / "q.csv", q, delimiter="\t")
    result = run("compare", str(tmp_path / "p.txt"), str(tmp_path / "q.csv"), "--json")
    assert result.returncode == 0, result.stderr
    exact = strict_json(result.stdout)["measures"][0]
    expected = ot.emd2(np.full(30, 1 / 30), np.full(20, 1 / 20), ot.dist(p, q, "euclidean"))
    np.testing.assert_allclose(exact["value"], expected, rtol=1e-9)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no samples"),
        ("# only a comment\n\n", "holds no samples"),
        ("x,y\n", "holds a header line and no samples"),
        ("x,y\n1,2\n3\n", "line 3 has 1 values and line 2 has 2 (values separated by commas)"),
        ("1;2\n3;4\n5;six\n", "line 3, column 2: 'six' is not a number"),
        ("x;y\n1,5;2,5\n", "line 2, column 1: '1,5' is not a number (a decimal comma?"),
        ("x y\n1 2\nnan 4\n", "holds NaN or inf (nan at line 3, column 1)"),
    ],
)
def test_text_file_errors_give_the_line(folder, text, message):
    (folder / "bad.csv").write_text(text)
    result = run("compare", str(folder / "bad.csv"), str(folder / "q.npy"))
    error = assert_one_line_error(result, "compare")
    assert message in error
    assert "Warning" not in result.stderr  # NumPy's empty-file warning must not leak


def test_a_binary_file_named_csv(folder):
    (folder / "bad.csv").write_bytes(b"\xff\xfe\x00\x01binary")
    error = assert_one_line_error(
        run("compare", str(folder / "bad.csv"), str(folder / "q.npy")), "compare"
    )
    assert "is not a UTF-8 text file" in error


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read anything"
)
def test_an_unreadable_file(folder):
    (folder / "p.npy").chmod(0)
    error = assert_one_line_error(
        run("compare", str(folder / "p.npy"), str(folder / "q.npy")), "compare"
    )
    assert error.endswith(f"P: cannot read {folder / 'p.npy'}: permission denied")


def test_a_folder_given_as_a_file(folder):
    error = assert_one_line_error(run("compare", str(folder), str(folder / "q.npy")), "compare")
    assert error.endswith("is not a file")


# ---------------------------------------------------------------------------
# compare: options that cannot work here fail before any work, in the options' names


def test_k_larger_than_the_samples_fails_and_names_the_largest_k(folder):
    result = run("compare", str(folder / "p.npy"), str(folder / "q.npy"), "--k", "5000")
    error = assert_one_line_error(result, "compare")
    assert error == (
        "divergences compare: --k 5000 needs at least 5001 distinct points in each of P and "
        "Q (each point's k-th nearest neighbour among the others); Q has 30: choose --k 29 "
        "or less"
    )
    assert result.stdout == ""


def test_repeated_points_count_once_for_k(folder):
    np.save(folder / "few.npy", np.repeat(np.arange(4.0), 10).reshape(-1, 1) * [1.0, 1.0])
    error = assert_one_line_error(
        run("compare", str(folder / "few.npy"), str(folder / "q.npy")), "compare"
    )
    assert "P has 4 (of 40 samples): choose --k 3 or less" in error


def test_constant_samples_cannot_feed_any_k(folder):
    np.save(folder / "constant.npy", np.zeros((10, 2)))
    error = assert_one_line_error(
        run("compare", str(folder / "p.npy"), str(folder / "constant.npy")), "compare"
    )
    assert "the k-NN estimators need at least 2 distinct points in each of P and Q" in error
    assert "Q has 1 (of 10 samples), so no --k works" in error


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "mps", "meta", ""])
def test_an_unknown_device_is_a_usage_error(folder, device):
    result = run(
        "compare", str(folder / "p.npy"), str(folder / "q.npy"), "--neural", "--device", device
    )
    assert_usage_error(result, "compare", "argument --device: expected auto, cpu, cuda or cuda:N")


def test_cuda_without_a_gpu_fails_before_any_work(folder):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal is for machines without it")
    for device in ("cuda", "cuda:1"):
        result = run(
            "compare", str(folder / "p.npy"), str(folder / "q.npy"), "--neural", "--device", device
        )
        error = assert_one_line_error(result, "compare")
        assert f"--device {device}: CUDA is not available here" in error
        assert result.stdout == ""


# ---------------------------------------------------------------------------
# compare: data at the edges of floating point. The library may compute these or
# refuse them; the command must show what it computed and fail in one line otherwise.


@pytest.mark.parametrize(
    ("shape", "scale"),
    [((20, 2), 1e200), ((20,), 1e300), ((20, 2), 1e-200)],
    ids=["2-D at 1e200", "1-D at 1e300", "2-D at 1e-200"],
)
def test_extreme_scales_give_right_numbers_or_one_line_never_a_traceback(tmp_path, shape, scale):
    rng = np.random.default_rng(3)
    p, q = rng.normal(size=shape), rng.normal(size=shape) + 1.0
    np.save(tmp_path / "p.npy", p * scale)
    np.save(tmp_path / "q.npy", q * scale)
    result = run("compare", str(tmp_path / "p.npy"), str(tmp_path / "q.npy"), "--json")
    assert "Traceback" not in result.stderr, result.stderr
    assert "Warning" not in result.stderr, result.stderr  # warnings go to their row's note
    measures = {row["measure"]: row for row in strict_json(result.stdout)["measures"]}
    for row in measures.values():
        # a number, or null with the reason; never both, never neither
        assert (row["value"] is None) == (row["error"] is not None), row
        assert not PYTHON_NAMES.search(row["error"] or ""), row
    if measures["W1 exact"]["value"] is not None:  # then it must be right: W1 scales
        a, b = p.reshape(len(p), -1), q.reshape(len(q), -1)
        unscaled = ot.emd2(np.full(20, 1 / 20), np.full(20, 1 / 20), ot.dist(a, b, "euclidean"))
        np.testing.assert_allclose(measures["W1 exact"]["value"], scale * unscaled, rtol=1e-6)
    failed = [name for name, row in measures.items() if row["error"] is not None]
    if result.returncode == 0:
        assert result.stderr == "" and not failed
    else:
        error = assert_one_line_error(result, "compare")
        assert error.endswith(f"could not be computed ({', '.join(failed)}); their notes say why")


def test_neural_json_is_strict_at_1e39(tmp_path):
    # beyond float32's range: the neural estimators must not turn it into NaN in the JSON
    rng = np.random.default_rng(4)
    np.save(tmp_path / "p.npy", rng.normal(size=(60, 2)) * 1e39)
    np.save(tmp_path / "q.npy", (rng.normal(size=(60, 2)) + 1) * 1e39)
    result = run(
        "compare",
        str(tmp_path / "p.npy"),
        str(tmp_path / "q.npy"),
        "--neural",
        "--steps",
        "5",
        "--device",
        "cpu",
        "--json",
    )
    assert "Traceback" not in result.stderr, result.stderr
    measures = {row["measure"]: row for row in strict_json(result.stdout)["measures"]}
    assert {"W1 neural critic", "JS discriminator"} <= set(measures)
    for row in measures.values():
        assert (row["value"] is None) == (row["error"] is not None), row
    if result.returncode != 0:
        assert_one_line_error(result, "compare")


def test_compare_turns_nan_and_inf_into_null_with_a_reason(monkeypatch):
    """The library returning NaN (a bug) or an interval with NaN ends must not reach the JSON."""
    import divergences.knn
    import divergences.neural

    class Broken:
        distance = 0.5
        divergence = math.nan
        interval = (math.nan, math.inf)

    monkeypatch.setattr(divergences.knn, "js_knn", lambda *args, **kwargs: math.nan)
    monkeypatch.setattr(divergences.knn, "kl_knn", lambda *args, **kwargs: math.inf)
    monkeypatch.setattr(divergences.neural, "wasserstein_dual", lambda *a, **k: Broken())
    monkeypatch.setattr(divergences.neural, "js_dual", lambda *a, **k: Broken())
    rng = np.random.default_rng(5)
    rows = {
        row["measure"]: row
        for row in cli.compare(rng.normal(size=(20, 1)), rng.normal(size=(20, 1)), neural=True)
    }
    assert rows["JS k-NN"]["value"] is None
    assert rows["JS k-NN"]["error"] == "the estimator returned nan, not an estimate"
    assert rows["KL(P||Q) k-NN"]["error"] == "the estimator returned inf, not an estimate"
    critic = rows["W1 neural critic"]
    assert critic["value"] == 0.5 and critic["error"] is None
    assert critic["interval"] is None
    assert critic["note"].endswith("(no interval: its ends came out as nan, inf)")
    assert rows["JS discriminator"]["value"] is None
    strict_json(json.dumps(list(rows.values()), allow_nan=False))


def test_a_library_warning_goes_into_its_rows_note(monkeypatch):
    import warnings

    import divergences.knn

    def warns(*args, **kwargs):
        warnings.warn("overflow encountered in dot", RuntimeWarning, stacklevel=1)
        return 0.25

    monkeypatch.setattr(divergences.knn, "js_knn", warns)
    rng = np.random.default_rng(6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes to the caller
        rows = cli.compare(rng.normal(size=(20, 1)), rng.normal(size=(20, 1)))
    js_row = next(row for row in rows if row["measure"] == "JS k-NN")
    assert js_row["value"] == 0.25
    assert js_row["note"].endswith(". Warning: overflow encountered in dot")


def test_a_library_error_names_p_and_q_in_the_order_of_the_call():
    error = ArgumentsError("{} must hold at least k=5 distinct points; {} too", ("x", "y"))
    assert cli._user_message(error) == "P must hold at least --k 5 distinct points; Q too"
    assert cli._user_message(error, swapped=True) == (
        "Q must hold at least --k 5 distinct points; P too"
    )
    assert cli._user_message(IndexError("index 3")) == (
        "unexpected IndexError (a bug; please report it): index 3"
    )


# ---------------------------------------------------------------------------
# compare: what the numbers mean (issue 14, item 11)


def test_same_law_in_d5_shows_the_bias_floor(tmp_path):
    """Two samples of one law in d = 5: W1 exact is far from 0 and the table says why."""
    rng = np.random.default_rng(7)
    p, q = rng.normal(size=(300, 5)), rng.normal(size=(100, 5))
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "q.npy", q)
    np.save(tmp_path / "shifted.npy", q + np.array([3.0, 0, 0, 0, 0]))
    result = run("compare", str(tmp_path / "p.npy"), str(tmp_path / "q.npy"), "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["measure"]: row for row in strict_json(result.stdout)["measures"]}
    exact, within = rows["W1 exact"]["value"], rows["W1 within P"]["value"]
    assert "parts of P (200 and 100 points)" in rows["W1 within P"]["note"]
    # the independent reference: W1 over random splits of P into 200 and 100 points
    splits = []
    for _ in range(20):
        order = rng.permutation(300)
        a, b = p[order[100:]], p[order[:100]]
        splits.append(
            ot.emd2(np.full(200, 1 / 200), np.full(100, 1 / 100), ot.dist(a, b, "euclidean"))
        )
    assert abs(within - np.mean(splits)) < 4 * np.std(splits) + 1e-12
    assert exact > 0.8  # far from the true W1 = 0: the bias the notes describe
    assert abs(exact - within) < 0.2 * within  # and about what two samples of one law give
    assert "biased upward by the sampling" in rows["W1 exact"]["note"]
    assert "n^(-1/5)" in rows["W1 exact"]["note"]
    assert "different metric, smaller than W1" in rows["Sliced W1"]["note"]
    assert "not an estimate of W1" in rows["Sliced W1"]["note"]
    # a real difference stands well above the floor
    result = run("compare", str(tmp_path / "p.npy"), str(tmp_path / "shifted.npy"))
    assert result.returncode == 0, result.stderr
    lines = {line.split("  ")[0]: line.split() for line in result.stdout.splitlines()}
    assert float(lines["W1 exact"][2]) > float(lines["W1 within P"][3]) + 2.0
    assert "notes:" in result.stdout


def test_reference_split_sizes():
    first, second = _reference_split(2000, 300, seed=0)
    assert (len(first), len(second)) == (1700, 300)
    assert not set(first) & set(second)
    first, second = _reference_split(201, 150, seed=0)
    assert (len(first), len(second)) == (101, 100)


def test_table_notes_are_wrapped_to_the_width():
    rows = cli.compare(np.arange(10.0).reshape(-1, 1), np.arange(10.0).reshape(-1, 1) + 1)
    text = _format._format_table(rows, "header", width=70)
    assert max(len(line) for line in text.splitlines()) <= 70
    assert "notes:" in text


# ---------------------------------------------------------------------------
# demo


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--thetas", "nan"], "argument --thetas: expected a finite number; got 'nan'"),
        (["--thetas", "0", "inf"], "argument --thetas: expected a finite number; got 'inf'"),
        (["--bin-width", "inf"], "argument --bin-width: expected a finite number; got 'inf'"),
        (["--bin-width", "0"], "argument --bin-width: must be positive; got '0'"),
        (["--samples", "1000000000"], "argument --samples: must be at most 10000000"),
        (["--samples", "1e3"], "argument --samples: expected an integer; got '1e3'"),
    ],
)
def test_demo_usage_errors(args, message):
    assert_usage_error(run("demo", *args), "demo", message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bin-width", "1e-9"], "--bin-width 1e-09 with a theta of 1 needs 2e+10 histogram"),
        (["--thetas", "1e300"], "--bin-width 0.25 with a theta of 1e+300 needs"),
        (["--thetas", "1e300", "--bin-width", "1e-300"], "needs inf histogram bins"),
    ],
)
def test_demo_refuses_a_grid_too_large_before_allocating(args, message):
    start = time.perf_counter()
    error = assert_one_line_error(run("demo", *args), "demo")
    assert time.perf_counter() - start < 60  # refused, not 15 GB allocated
    assert message in error
    assert "choose --bin-width" in error


def test_demos_suggested_bin_width_works():
    error = assert_one_line_error(run("demo", "--thetas", "1e300"), "demo")
    suggested = re.search(r"choose --bin-width (\S+) or more", error).group(1)
    result = run("demo", "--thetas", "1e300", "0", "--bin-width", suggested, "--samples", "100")
    assert result.returncode == 0, result.stderr
    assert "1e+300" in result.stdout


@pytest.mark.parametrize("theta", [1.0, 3.0, 1e6])
@pytest.mark.parametrize("steps", [499_997, 499_998, 499_999])
@pytest.mark.parametrize("nudge", [1 - 1e-15, 1.0, 1 + 1e-15])
def test_demo_grid_check_agrees_with_the_histograms(theta, steps, nudge):
    """The command refuses exactly the grids that segment_histograms refuses."""
    bin_width = theta / steps * nudge
    predicted_refusal = _demo._demo_bins(theta, bin_width) > MAX_BINS
    try:
        segment_histograms(
            segment_samples(0.0, 1, seed=0),
            segment_samples(theta, 1, seed=1),
            bin_width=bin_width,
            y_bins=10,
        )
    except ValueError:
        refused = True
    else:
        refused = False
    assert predicted_refusal == refused


# ---------------------------------------------------------------------------
# gradients: never lose a user's file, never leave a folder behind


@pytest.fixture()
def user_results(tmp_path: Path) -> Path:
    output = tmp_path / "results"
    output.mkdir()
    (output / "gradients.json").write_text("the user's own results")
    return output


def test_gradients_refuses_a_folder_with_files(user_results):
    error = assert_one_line_error(
        run("gradients", "--quick", "--output", str(user_results)), "gradients"
    )
    assert "already holds files" in error and "--overwrite" in error
    assert (user_results / "gradients.json").read_text() == "the user's own results"
    assert sorted(p.name for p in user_results.parent.iterdir()) == ["results"]


def test_gradients_output_naming_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep")
    error = assert_one_line_error(
        run("gradients", "--quick", "--output", str(target)), "gradients"
    )
    assert "exists and is not a folder; choose another --output" in error
    assert "Errno" not in error
    assert target.read_text() == "keep"


def test_gradients_output_under_a_file(tmp_path):
    (tmp_path / "file").write_text("keep")
    error = assert_one_line_error(
        run("gradients", "--quick", "--output", str(tmp_path / "file" / "out")), "gradients"
    )
    assert "is not a folder" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("device", ["nonsense", "gpu"])
def test_gradients_unknown_device_leaves_no_folder(tmp_path, device):
    output = tmp_path / "new"
    result = run("gradients", "--quick", "--device", device, "--output", str(output))
    assert_usage_error(result, "gradients", f"expected auto, cpu, cuda or cuda:N; got '{device}'")
    assert list(tmp_path.iterdir()) == []


def test_gradients_cuda_without_a_gpu_leaves_no_folder(tmp_path):
    import torch

    pytest.importorskip("matplotlib")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run("gradients", "--quick", "--device", "cuda", "--output", str(tmp_path / "new"))
    assert "CUDA is not available here" in assert_one_line_error(result, "gradients")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere"
)
def test_gradients_unwritable_folder_fails_before_the_run(tmp_path):
    pytest.importorskip("matplotlib")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        start = time.perf_counter()
        result = run("gradients", "--quick", "--output", str(locked / "out"))
        assert "cannot write to" in assert_one_line_error(result, "gradients")
        assert time.perf_counter() - start < 60  # before the run, not after it
    finally:
        locked.chmod(0o755)


def test_an_interrupted_run_keeps_the_old_results_and_removes_its_temporary_folder(
    user_results,
):
    pytest.importorskip("matplotlib")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "divergences",
            "gradients",
            "--quick",
            "--overwrite",
            "--no-progress",
            "--device",
            "cpu",
            "--output",
            str(user_results),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parent = user_results.parent
    try:
        deadline = time.monotonic() + 120
        # the run has begun once its temporary folder appears beside the output
        while sorted(p.name for p in parent.iterdir()) == ["results"]:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the run never made its temporary folder"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, stderr
    assert stderr == "divergences gradients: terminated (SIGTERM)\n"
    assert (user_results / "gradients.json").read_text() == "the user's own results"
    assert sorted(p.name for p in parent.iterdir()) == ["results"]  # no temporary folder


def test_a_sigterm_whose_exception_was_swallowed_still_exits_143(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The handler's exception can land in a finaliser and be lost; the run then stops
    itself with a plain KeyboardInterrupt (write_into's stop) that must still read as
    SIGTERM (this raced in the subprocess test above: 130 instead of 143)."""
    from divergences import cli

    def swallowed_sigterm(args: object) -> int:
        cli._TERMINATED.set()  # what the handler records before raising
        raise KeyboardInterrupt  # what write_into raises when its stop() answers yes

    monkeypatch.setitem(cli._RUNNERS, "demo", swallowed_sigterm)
    assert cli.main(["demo"]) == 143
    assert capsys.readouterr().err == "divergences demo: terminated (SIGTERM)\n"
    monkeypatch.undo()
    # the next run in the same process is not taken for terminated
    assert cli.main(["demo", "--thetas", "2", "--samples", "100"]) == 0


# ---------------------------------------------------------------------------
# the command as a whole


def test_a_closed_pipe_is_not_a_traceback():
    # 3000 rows overflow the pipe's buffer, so the command writes into a closed pipe
    thetas = [str(t) for t in np.linspace(-1, 1, 3000)]
    process = subprocess.Popen(
        [sys.executable, "-m", "divergences", "demo", "--samples", "1", "--thetas", *thetas],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_help_texts_are_wrapped_and_keep_their_examples():
    env = {**os.environ, "COLUMNS": "80"}
    for command in ("compare", "demo", "gradients"):
        result = run(command, "--help", env=env)
        assert result.returncode == 0
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
        assert "exit status:" in result.stdout
    compare_help = run("compare", "--help", env=env).stdout
    assert "\n  divergences compare p.npy q.npy\n" in compare_help
    words = " ".join(compare_help.split())
    assert "distance to its k-th nearest neighbour; each file needs at least k + 1" in words
    assert "neighbour of the k-NN estimators" not in words


def test_main_returns_the_usage_status_instead_of_exiting(capsys):
    assert cli.main(["demo", "--samples", "0"]) == 2
    assert cli.main(["--version"]) == 0
    assert "must be at least 1" in capsys.readouterr().err
