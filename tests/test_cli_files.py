"""The CLI's sample files: text read in bounded memory, malformed .npy headers, and
negative numbers as option values (issue 25)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from divergences import _memory, cli
from divergences.cli import _files
from divergences.closed_form import segments

# ---------------------------------------------------------------------------
# text files: memory


# The peak resident memory of a fresh process (VmHWM: ru_maxrss would start at the high-water
# mark of the parent that forked it, this test process) above its resident memory after the
# imports, where the peak is reset (clear_refs 5).
MEASURE_PEAK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from divergences import cli
    import divergences.transport  # imported by the reader: outside the measurement

    def resident(field):
        status = Path("/proc/self/status").read_text().splitlines()
        return 1024 * next(int(line.split()[1]) for line in status if line.startswith(field))

    Path("/proc/self/clear_refs").write_text("5")
    before = resident("VmRSS:")
    samples = cli.load_samples(sys.argv[1], "P")
    peak = resident("VmHWM:") - before
    print(samples.shape[0], samples.shape[1], peak, float(samples.sum()))
    """
)


@pytest.mark.parametrize(
    ("shape", "bound"),
    [
        # rows of a few numbers: the float64 array (about the file's size) and one block
        ((1_000_000, 3), 4),
        # one line of a million numbers: the line is held whole (twice while it is read)
        ((1, 1_000_000), 5),
    ],
    ids=["tall", "wide"],
)
@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="measures memory with Linux's /proc"
)
def test_a_text_file_is_read_in_a_small_multiple_of_its_size(tmp_path, shape, bound):
    samples = np.random.default_rng(0).normal(size=shape)
    path = tmp_path / "p.csv"
    np.savetxt(path, samples, fmt="%.4f", delimiter=",")  # about 7.5 bytes a number
    size = path.stat().st_size
    result = subprocess.run(
        [sys.executable, "-c", MEASURE_PEAK, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows, columns, peak, total = result.stdout.split()
    assert (int(rows), int(columns)) == shape
    np.testing.assert_allclose(float(total), np.round(samples, 4).sum(), rtol=1e-9, atol=1e-6)
    # the lists of Python floats the reader built took 20 to 30 times the file
    assert int(peak) < bound * size, (int(peak) / size, size)


def test_text_reader_gives_the_values_of_numpy_loadtxt(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(1000, 3)) * 10.0 ** rng.integers(-300, 300, size=(1000, 3))
    path = tmp_path / "p.txt"
    np.savetxt(path, samples, delimiter=";", header="a;b;c", comments="")
    # small blocks and pieces: values cross many block boundaries and lines are split
    monkeypatch.setattr(_files, "_TEXT_BLOCK_VALUES", 7)
    monkeypatch.setattr(_files, "_PIECE_CHARS", 40)
    expected = np.loadtxt(path, delimiter=";", skiprows=1)
    np.testing.assert_array_equal(cli.load_samples(path, "P"), expected)
    np.testing.assert_array_equal(expected, samples)  # savetxt's %.18e round-trips


def fake_available_memory(monkeypatch, available):
    monkeypatch.setattr(_memory, "available_memory", lambda: available)


def numbers_then_garbage(path: Path, rows: int, garbage_at: int) -> None:
    """``rows`` lines of three numbers, one of them ``oops`` at line ``garbage_at``."""
    lines = np.char.mod("%.3f", np.random.default_rng(2).normal(size=(rows, 3)))
    text = [",".join(row) for row in lines]
    text[garbage_at - 1] = "oops,1,2"
    path.write_text("\n".join(text) + "\n")


def test_a_file_far_beyond_memory_is_refused_after_its_first_block(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    numbers_then_garbage(path, 300_000, garbage_at=100_000)  # 5.9 MB
    fake_available_memory(monkeypatch, 400_000)  # 200 kB allowed: 25000 numbers
    with pytest.raises(cli.InputError) as raised:
        cli.load_samples(path, "P")
    message = str(raised.value)
    # stopped at the first block of numbers, never reaching line 100000's "oops"
    assert message.startswith(f"P: {path} does not fit in memory: its first ")
    first_block = -(-_files._TEXT_BLOCK_VALUES // 3) * 3  # of whole lines
    size = path.stat().st_size / 1e6
    assert f"MB hold {first_block} numbers, so its {size:.3g} MB hold about " in message
    assert "more than the 0.0002 GB allowed (half of the 0.0 GB available)" in message
    assert "numpy.save" in message
    assert result_of_main(path) == (1, f"divergences compare: {message}\n")


def test_a_file_beyond_memory_stops_as_the_numbers_pass_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    numbers_then_garbage(path, 200_000, garbage_at=199_000)  # 600000 numbers, 3.6 MB
    fake_available_memory(monkeypatch, 4_000_000)  # 2 MB allowed: 250000 numbers
    with pytest.raises(cli.InputError, match="does not fit in memory") as raised:
        cli.load_samples(path, "P")
    read = int(str(raised.value).split(" MB hold ")[1].split()[0])
    # the extrapolation from the part read, not the first block: refused midway
    assert 2 * _files._TEXT_BLOCK_VALUES < read < 250_000


@pytest.mark.parametrize("padding", [0, 60], ids=["dense", "padded"])
def test_a_file_that_fits_is_read_under_a_small_limit(tmp_path, monkeypatch, padding):
    samples = np.random.default_rng(3).normal(size=(60_000, 3))
    path = tmp_path / "p.txt"
    # fixed-width columns far wider than the numbers: 64 bytes a number, beyond the 32
    # the refusal assumes at most, so only the numbers' density seen counts
    np.savetxt(path, samples, fmt=f"%{padding}.17g" if padding else "%.17g")
    fake_available_memory(monkeypatch, 4_000_000)  # 2 MB allowed; the result takes 1.44
    if padding:
        assert 8 * path.stat().st_size / 32 > 2e6  # the size alone would have refused it
    np.testing.assert_array_equal(cli.load_samples(path, "P"), samples)


def result_of_main(path: Path) -> tuple[int, str]:
    import contextlib
    import io

    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        status = cli.main(["compare", str(path), str(path)])
    return status, errors.getvalue()


# ---------------------------------------------------------------------------
# text files: errors that name the line, across blocks and pieces


@pytest.mark.parametrize("small", [False, True], ids=["default-blocks", "tiny-blocks"])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2\n3,x\n5,6\n7\n", "line 2, column 2: 'x' is not a number"),
        ("1,2\n3,4\n5,6\n7\n8,y\n", "line 4 has 1 values and line 1 has 2"),
        ("1,2\nnan,4\n5,6\n7,z\n", "line 4, column 2: 'z' is not a number"),
        ("a,b\n\n1,2\n3,4\n# c\n5,-inf\n", "holds NaN or inf (-inf at line 6, column 2)"),
        ("1 2 3 4 5 6 7 8 9 10 11 12\n1 2 3 4 5 6 7 8 9 10 11 inf\n", "inf at line 2, column 12"),
        ("1 2 3 4 5 6 7 8 9 10 11 12\n1 2 3 4 5 6 7 8 9 10 11 oops\n", "line 2, column 12:"),
        ("1 2 3 4 5 6 7 8 9 10 11 12\n1 2 3 4 5 6 7 8 9 10 11\n", "line 2 has 11 values"),
        ("1,2,3,4,5,6,7,8,9,10,11,12\n1,2,3,4,5,6,7,8,9,10,11,\n", "column 12: '' is not"),
    ],
)
def test_errors_name_the_first_bad_line_whatever_the_blocks(
    tmp_path, monkeypatch, small, text, message
):
    if small:
        monkeypatch.setattr(_files, "_TEXT_BLOCK_VALUES", 3)
        monkeypatch.setattr(_files, "_PIECE_CHARS", 6)  # the long lines go a piece at a time
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(cli.InputError) as raised:
        cli.load_samples(path, "P")
    assert message in str(raised.value)


@pytest.mark.parametrize("delimiter", [",", " "], ids=["commas", "spaces"])
def test_a_long_line_split_in_pieces_gives_its_values(tmp_path, monkeypatch, delimiter):
    samples = np.random.default_rng(4).normal(size=(3, 500))
    path = tmp_path / "p.csv"
    np.savetxt(path, samples, delimiter=delimiter)
    monkeypatch.setattr(_files, "_PIECE_CHARS", 97)  # cuts fall inside numbers
    np.testing.assert_array_equal(cli.load_samples(path, "P"), samples)


# ---------------------------------------------------------------------------
# .npy headers that are not literals


def npy_with_header(path: Path, header: bytes) -> int:
    """A .npy file of 64 zero bytes of data after ``header``; returns the header's length."""
    version, length_bytes = ((1, 0), 2) if len(header) < 60_000 else ((2, 0), 4)
    padding = -(8 + length_bytes + len(header) + 1) % 64
    header += b" " * padding + b"\n"
    path.write_bytes(
        b"\x93NUMPY"
        + bytes(version)
        + len(header).to_bytes(length_bytes, "little")
        + header
        + bytes(64)
    )
    return len(header)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (2**4,), }",
            "its header is malformed: expected a dictionary of the literal values 'descr', "
            "'fortran_order' and 'shape'",
        ),
        (
            b"{'descr': __import__('os').getcwd(), 'fortran_order': False, 'shape': (3,), }",
            "its header is malformed: expected a dictionary",
        ),
        (
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': '"
            + b"a" * 1_000_000
            + b"'}",
            "its header is malformed: {length} bytes long, where numpy reads at most 10000",
        ),
        (b"[1, 2]", "its header is malformed: expected a dictionary"),
    ],
    ids=["expression", "call", "1-MB", "list"],
)
def test_a_malformed_npy_header_is_named_as_such(tmp_path, header, message):
    path = tmp_path / "p.npy"
    length = npy_with_header(path, header)
    with pytest.raises(cli.InputError) as raised:
        cli.load_samples(path, "P")
    text = str(raised.value)
    assert text.startswith(f"P: {path} is not a valid .npy file: ")
    assert message.format(length=length) in text
    assert "object" not in text and "pickle" not in text  # not the old diagnosis


@pytest.mark.parametrize(
    "array",
    [
        np.array([1.0, "a"], dtype=object),
        np.zeros(3, dtype=[("x", float), ("y", object)]),
    ],
    ids=["objects", "records-of-objects"],
)
def test_a_real_object_dtype_still_says_python_objects(tmp_path, array):
    np.save(tmp_path / "p.npy", array, allow_pickle=True)
    with pytest.raises(cli.InputError, match="holds Python objects"):
        cli.load_samples(tmp_path / "p.npy", "P")


# ---------------------------------------------------------------------------
# negative numbers as option values


@pytest.mark.parametrize(
    "thetas", [["-1e-3", "0", "2e-1"], ["-1", "-0.5"], ["-1E+1", "-.5e0"]], ids=str
)
def test_negative_thetas_in_scientific_notation_are_values(capsys, thetas):
    assert cli.main(["demo", "--samples", "100", "--thetas", *thetas]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == len(thetas)
    for row, theta in zip(rows, thetas, strict=True):
        # the last column is the closed-form W, |theta|, read back from the table
        np.testing.assert_allclose(
            float(row.split()[-1]), segments(float(theta), measure="wasserstein").value
        )
        np.testing.assert_allclose(float(row.split()[-1]), abs(float(theta)), atol=5e-5)


@pytest.mark.parametrize("value", ["-inf", "-nan"])
def test_a_negative_non_finite_theta_is_refused_as_a_value(capsys, value):
    assert cli.main(["demo", "--thetas", value]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        f"divergences demo: error: argument --thetas: expected a finite number; got '{value}'"
    )


def test_an_option_name_after_thetas_is_still_an_option(capsys):
    assert cli.main(["demo", "--thetas", "-1", "--samples", "100"]) == 0
    assert "100 samples each" in capsys.readouterr().out
    assert cli.main(["demo", "--thetas", "-x"]) == 2
    assert "expected at least one argument" in capsys.readouterr().err
