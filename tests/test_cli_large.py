"""``divergences compare`` on memory-mapped files: the rows it reads, and what it says about them.

The thresholds are module constants, lowered here so that small files take the path
of files larger than memory; everything runs in this process (``main`` and
``compare``), where the constants can be patched.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import divergences as dv
from divergences import (
    cli,
    comparison,  # the module; divergences.compare is the function
)
from divergences.cli import _compare, _files
from divergences.transport import _sliced


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.normal(size=(300, 3)).astype(np.float32)
    q = (rng.normal(size=(200, 3)) + np.array([1.0, 0.0, 0.0])).astype(np.float32)
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "q.npy", q)
    return tmp_path / "p.npy", tmp_path / "q.npy"


def load(paths):
    return [cli.load_samples(path, name) for path, name in zip(paths, "PQ", strict=True)]


def test_a_mapped_file_gives_the_values_of_the_in_memory_path(files, monkeypatch, capsys):
    in_memory = load(files)
    assert not any(isinstance(x, np.memmap) for x in in_memory)
    expected = cli.compare(*in_memory, seed=3)
    assert cli.main(["compare", *map(str, files), "--seed", "3"]) == 0
    table = capsys.readouterr().out

    monkeypatch.setattr(_files, "MAPPED_BYTES", 0)
    mapped = load(files)
    assert all(isinstance(x, np.memmap) and x.dtype == np.float32 for x in mapped)
    # every row, the exact W1 and W1 within P included, and every note: no row subsampled
    assert cli.compare(*mapped, seed=3) == expected
    assert cli.main(["compare", *map(str, files), "--seed", "3"]) == 0
    assert capsys.readouterr().out == table


def test_rows_from_a_subsample_say_so(files, monkeypatch):
    monkeypatch.setattr(_files, "MAPPED_BYTES", 0)
    monkeypatch.setattr(comparison, "MAPPED_SAMPLE_ROWS", 250)  # P has 300 rows, Q 200
    p, q = load(files)
    rows = {row["measure"]: row for row in cli.compare(p, q, seed=3)}
    assert all(row["error"] is None for row in rows.values())
    for measure in ("Sliced W1", "KL(P||Q) k-NN", "KL(Q||P) k-NN", "JS k-NN"):
        note = rows[measure]["note"]
        assert "250 of P's 300 rows, drawn without replacement" in note, measure
        assert "--seed 3" in note
        assert "of Q's" not in note  # Q fits: it is read whole
    for measure in ("W1 exact", "W1 within P"):  # exact: every row
        assert "subsample" not in rows[measure]["note"]
    # the rules the notes state, applied by hand
    whole_p, whole_q = (np.asarray(x, dtype=np.float64) for x in (p, q))
    chosen = np.sort(np.random.default_rng([3, 0]).choice(300, 250, replace=False))
    np.testing.assert_allclose(
        rows["Sliced W1"]["value"],
        dv.sliced_wasserstein(whole_p[chosen], whole_q, seed=3),
        rtol=1e-12,
    )
    knn = {"max_samples": 250, "seed": 3}
    for measure, expected in (
        ("KL(P||Q) k-NN", dv.kl_knn(whole_p, whole_q, **knn)),
        ("KL(Q||P) k-NN", dv.kl_knn(whole_q, whole_p, **knn)),
        ("JS k-NN", dv.js_knn(whole_p, whole_q, **knn)),
    ):
        np.testing.assert_allclose(rows[measure]["value"], expected, rtol=1e-12)
    assert "(numpy.random.default_rng(seed), Q's rows first)" in rows["KL(Q||P) k-NN"]["note"]


def test_knn_rows_of_samples_in_memory_name_the_estimators_default_subsample():
    big, small = np.zeros((300, 1)), np.zeros((10, 1))
    assert comparison._knn_note({"P": small, "Q": small}, 250, 0) == ""
    assert comparison._knn_note({"P": small, "Q": big}, None, 0) == ""
    assert comparison._knn_note({"Q": big, "P": small}, 250, 4) == (
        ". From a subsample: 250 of Q's 300 rows, drawn without replacement by the estimator "
        "with --seed 4 (numpy.random.default_rng(seed), Q's rows first)"
    )


@pytest.mark.parametrize("mapped", [True, False])
def test_nan_in_a_late_block_names_its_row(tmp_path, monkeypatch, mapped):
    x = np.ones((1000, 4))
    x[997, 2] = np.nan
    x[998, 1] = np.inf
    np.save(tmp_path / "p.npy", x)
    monkeypatch.setattr(_files, "_BLOCK_BYTES", 3 * 4 * 8)  # three rows a block
    if mapped:
        monkeypatch.setattr(_files, "MAPPED_BYTES", 0)
    with pytest.raises(cli.InputError) as raised:
        cli.load_samples(tmp_path / "p.npy", "P")
    assert str(raised.value) == (
        f"P: {tmp_path / 'p.npy'} holds NaN or inf (nan at row 997, column 2 (counting "
        "from 0)); expected finite numbers"
    )


def test_a_large_mapped_file_is_read_a_block_and_a_subsample_at_a_time(tmp_path, monkeypatch):
    rows, d = 400_000, 4  # 12.8 MB of float64 a file
    for name, shift in (("p", 0.0), ("q", 1.0)):
        block = np.lib.format.open_memmap(tmp_path / f"{name}.npy", "w+", np.float64, (rows, d))
        block[:] = np.random.default_rng(len(name)).normal(size=(rows, d))
        block[:, 0] += shift
        block.flush()
        del block
    monkeypatch.setattr(_files, "MAPPED_BYTES", 1 << 20)
    monkeypatch.setattr(comparison, "MAPPED_SAMPLE_ROWS", 1000)
    monkeypatch.setattr(_files, "_BLOCK_BYTES", 1 << 18)
    # POT's 1-D solver keeps about 104 bytes per projected value: 1.7 MB blocks here
    monkeypatch.setattr(_sliced, "_SLICED_BLOCK_VALUES", 1 << 14)
    # the rows quadratic in their subsample's size, where compare has them: small ones, and
    # the energy distance's blocks (16 MB of differences whatever the sizes) at 0.5 MB
    monkeypatch.setattr(comparison, "ENERGY_ROWS", 1000)
    monkeypatch.setattr(comparison, "SINKHORN_ROWS", 200)
    monkeypatch.setattr("divergences.energy._BLOCK_VALUES", 1 << 16, raising=False)
    dv.sliced_wasserstein([0.0], [1.0])  # imports POT outside the measurement
    tracemalloc.start()
    try:
        p, q = (cli.load_samples(tmp_path / f"{name}.npy", name.upper()) for name in "pq")
        _compare._check_k({"P": p, "Q": q}, 5)
        result = cli.compare(p, q, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    measures = {row["measure"]: row for row in result}
    assert "too large for the exact solver" in measures["W1 exact"]["error"]
    assert "W1 within P" not in measures
    for measure in ("Sliced W1", "KL(P||Q) k-NN", "KL(Q||P) k-NN", "JS k-NN"):
        assert measures[measure]["error"] is None
        for name in "PQ":
            assert f"1000 of {name}'s 400000 rows" in measures[measure]["note"]
    # SW_1 of a shift by 1 in d = 4 is E|w_1| = 0.42 over the sphere, plus sampling bias
    assert 0.35 < measures["Sliced W1"]["value"] < 0.55
    # the two files hold 25.6 MB; the check, the subsamples and the measures far less
    assert peak < 6e6, peak


def test_distinct_points_of_a_mapped_file_are_counted_a_block_at_a_time(tmp_path, monkeypatch):
    x = np.zeros((600, 2))
    x[-3:] = [[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]  # 4 distinct points, the last at the end
    np.save(tmp_path / "p.npy", x)
    messages = []
    for threshold in (None, 0):
        if threshold is not None:
            monkeypatch.setattr(_files, "MAPPED_BYTES", threshold)
            monkeypatch.setattr(_files, "_BLOCK_BYTES", 64)
        p = cli.load_samples(tmp_path / "p.npy", "P")
        assert isinstance(p, np.memmap) == (threshold is not None)
        assert _compare._distinct_rows(p, 10) == 4
        with pytest.raises(cli.InputError) as raised:
            _compare._check_k({"P": p}, 5)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert "P has 4 (of 600 samples): choose --k 3 or less" in messages[0]
