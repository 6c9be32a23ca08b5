"""The ``divergences`` command.

``divergences demo`` prints KL and JS of the disjoint-segments example, from
histograms of samples and in closed form, next to the closed-form Wasserstein
distance: the table that shows why JS gives a generator nothing to follow.
``divergences gradients`` runs the headline benchmark (values and gradients of
every method over theta, training dynamics, the critic over the plane) into a
folder of JSON, CSV and figures. ``divergences compare P Q`` reads two sample
files and prints every measure that applies to them, each with a note on what
it estimates and how it is biased.

Every error a user can cause ends the command with one line on stderr,
``divergences COMMAND: what was wrong and what was expected``, and exit
status 1; a usage error prints the subcommand's usage and exits with 2.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import math
import os
import re
import shutil
import signal
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from divergences import __version__
from divergences.closed_form import segments
from divergences.experiments.histograms import MAX_BINS, segment_histograms
from divergences.families import segment_samples
from divergences.information import js, kl

__all__ = [
    "MAPPED_BYTES",
    "MAPPED_SAMPLE_ROWS",
    "MAX_DEMO_SAMPLES",
    "InputError",
    "compare",
    "demo_table",
    "load_samples",
    "main",
]

_DEFAULT_THETAS = (-1.0, -0.5, -0.1, 0.0, 0.1, 0.5, 1.0)

#: The most samples ``divergences demo`` draws per distribution. The demo's peak
#: memory is about 85 bytes per sample (measured at 10^6 and 4 x 10^6 samples),
#: so this bound keeps it near 1 GB; a larger ``--samples`` is refused before
#: anything is allocated instead of running the machine out of memory.
MAX_DEMO_SAMPLES = 10_000_000

# The demo's histograms have this many bins in y (and MAX_BINS in all at most).
_DEMO_Y_BINS = 10

# Above this many training steps a neural estimator would train for days on a CPU
# (2000 steps take seconds); torch itself overflows on step counts near 2^63.
_MAX_STEPS = 10_000_000


class InputError(ValueError):
    """A sample file or option that cannot be used; the command prints it and exits with 1."""


# ---------------------------------------------------------------------------
# demo


def demo_table(
    thetas: Sequence[float], *, n: int = 10_000, bin_width: float = 0.25, seed: int = 0
) -> str:
    """The demo's table as text: one row per theta.

    KL and JS of histograms of ``n`` samples of P and of Q_theta (x bins
    ``bin_width`` wide centred on its multiples, samples shared linearly
    between the two nearest, ten y bins), next to the closed forms.

    Raises
    ------
    ValueError
        If a theta is NaN or inf, ``n`` is not positive, or the histogram
        grid would exceed :data:`~divergences.experiments.histograms.MAX_BINS`
        bins (a tiny ``bin_width`` or a huge theta).

    Examples
    --------
    >>> print(demo_table([0.0, 1.0], n=1000))  # doctest: +NORMALIZE_WHITESPACE
    P = (0, U[0,1]), Q_theta = (theta, U[0,1]); 1000 samples each; histogram bins 0.25 wide in x
     theta   KL hist  KL exact   JS hist  JS exact   W exact
      0.00    0.0104    0.0000    0.0027    0.0000    0.0000
      1.00       inf       inf    0.6931    0.6931    1.0000
    """
    lines = [
        f"P = (0, U[0,1]), Q_theta = (theta, U[0,1]); {n} samples each; "
        f"histogram bins {bin_width:g} wide in x",
        f"{'theta':>6}{'KL hist':>10}{'KL exact':>10}{'JS hist':>10}{'JS exact':>10}"
        f"{'W exact':>10}",
    ]
    for theta in thetas:
        hist_p, hist_q = segment_histograms(
            segment_samples(0.0, n, seed=seed),
            segment_samples(theta, n, seed=seed + 1),
            bin_width=bin_width,
            y_bins=_DEMO_Y_BINS,
        )
        row = (
            kl(hist_p, hist_q),
            segments(theta, measure="kl").value,
            js(hist_p, hist_q),
            segments(theta, measure="js").value,
            segments(theta, measure="wasserstein").value,
        )
        numbers = "".join(f"{_number(float(value), 1e-4):>10s}" for value in row)
        lines.append(_theta_text(theta) + numbers)
    return "\n".join(lines)


def _theta_text(theta: float) -> str:
    # fixed point for the usual thetas; a huge or tiny one would be a wall of digits or 0.00
    if theta == 0 or 1e-2 <= abs(theta) < 1e6:
        return f"{theta:6.2f}"
    return f"{theta:6.2g}"


def _demo_bins(theta: float, bin_width: float) -> float:
    """How many bins :func:`segment_histograms` needs for P at 0 and Q at ``theta``.

    The same grid as that function's (x bins centred on the multiples of
    ``bin_width``, reaching one bin past the farthest sample, times the y
    bins), computed in floating point so that a huge ratio gives a huge count
    (or inf), not an overflow. The test suite checks it against the function.
    """
    ratio = abs(theta) / bin_width
    if not math.isfinite(ratio):
        return math.inf
    try:
        return float(_DEMO_Y_BINS * (2 * (math.ceil(ratio) + 1) + 1))
    except OverflowError:  # more bins than a float can count
        return math.inf


def _check_demo_grid(thetas: Sequence[float], bin_width: float) -> None:
    """Refuse a grid of more than MAX_BINS bins before any sample is drawn."""
    reach = max(abs(theta) for theta in thetas)
    needed = _demo_bins(reach, bin_width)
    if needed <= MAX_BINS:
        return
    # the smallest width whose grid fits: ceil(reach / width) <= MAX_BINS / y_bins / 2 - 3 / 2
    most_steps = (MAX_BINS // _DEMO_Y_BINS - 3) // 2
    smallest = reach / most_steps
    suggestion = float(f"{smallest:.2g}")
    while _demo_bins(reach, suggestion) > MAX_BINS:  # rounding to 2 digits may go below
        suggestion = float(f"{suggestion * 1.05:.2g}")
    raise InputError(
        f"--bin-width {bin_width:g} with a theta of {reach:g} needs {needed:.3g} histogram "
        f"bins, more than the {MAX_BINS} allowed; choose --bin-width {suggestion:g} or more, "
        "or smaller --thetas"
    )


def _run_demo(args: argparse.Namespace) -> int:
    _check_demo_grid(args.thetas, args.bin_width)
    print(demo_table(args.thetas, n=args.samples, bin_width=args.bin_width, seed=args.seed))
    return 0


# ---------------------------------------------------------------------------
# sample files

_NPY_MAGIC = b"\x93NUMPY"

#: A ``.npy`` file whose data take more bytes than this (128 MiB) stays memory-mapped in
#: its own dtype instead of being copied into memory as float64 (which would double a
#: float32 file): it is checked for NaN and inf a block of rows at a time, and each measure
#: of ``divergences compare`` reads only the rows it needs (see
#: :data:`MAPPED_SAMPLE_ROWS`). Smaller files are read whole, as float64.
MAPPED_BYTES = 1 << 27

#: The most rows of a memory-mapped sample that ``divergences compare`` reads into memory
#: for a measure that needs the whole sample there (the sliced W1, and the k-NN estimators
#: as their ``max_samples``). A memory-mapped file with more rows is represented by this
#: many rows drawn without replacement with the --seed (:func:`compare` says which rows,
#: and each such row of the table says so in its note). With 2^16 rows a side in d = 8 the
#: sliced W1 takes about 15 s and 120 MB on a 2-core CPU, each k-NN row a few seconds.
MAPPED_SAMPLE_ROWS = 1 << 16

# Bytes of a file read at a time by the NaN check and the count of distinct points.
_BLOCK_BYTES = 1 << 24

# What a .npy file of these dtype kinds holds, and why it is not read as samples.
_REFUSED_KINDS = {
    "b": "booleans; expected real numbers (save x.astype(float) if 0 and 1 are meant)",
    "c": "complex numbers; expected real numbers (the imaginary parts would be lost: "
    "save x.real, or the real and imaginary parts as two columns)",
    "M": "dates (datetime64); expected real numbers",
    "m": "time spans (timedelta64); expected real numbers",
    "U": "text; expected numbers",
    "S": "bytes; expected numbers",
    "O": "Python objects (not read, for safety); expected an array of real numbers",
    "V": "records of several fields; expected a plain array of real numbers",
}


def load_samples(path: str | Path, name: str) -> np.ndarray:
    """Samples from a ``.npy`` or text (``.csv``, ``.txt``) file as an (n, d) float array.

    A ``.npy`` file must hold an array of real numbers (floating or integer);
    booleans, complex numbers, dates, text and Python objects are refused. A
    text file has one sample per line, its values separated by commas,
    semicolons, tabs or spaces (detected from the file); a first line that is
    not numeric (a header) is skipped, and so are blank lines and everything
    after a ``#``. A 1-D array, or a file of one column, is ``n`` samples in
    ``d = 1``.

    A ``.npy`` file of more than :data:`MAPPED_BYTES` of data is not read
    into memory: it comes back memory-mapped, in the file's own dtype, after
    a check for NaN and inf that reads a block of rows at a time (so memory
    does not grow with the file). Its header is parsed as literals, never
    evaluated; a file whose header is not (an expression, a header of more
    than the 10000 bytes that numpy reads) is refused as malformed.

    A text file is read a block of lines at a time straight into float64
    arrays: peak memory is about the result's size (8 bytes a number) plus a
    few megabytes and the longest line. A file whose numbers would need more
    memory than allowed (half of what is available, the exact solver's rule)
    is refused as soon as the part read shows it: the rest of the file is
    taken to hold at least half as many numbers per byte as that part, or
    one per 32 bytes if that is fewer (a float64 round-trips in 24
    characters), so that a file far larger than memory is refused after its
    first block, and a file padded with spaces is not refused from its size.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    name : str
        What the samples are called in error messages (``"P"``, ``"Q"``).

    Returns
    -------
    (n, d) numpy.ndarray
        float64 samples; for a ``.npy`` file above :data:`MAPPED_BYTES`, a
        read-only :class:`numpy.memmap` of the file's real dtype.

    Raises
    ------
    InputError
        If the file is missing or unreadable, of another type, not 1-D or
        2-D, empty, not all numbers (the message gives the line and column
        of a text file), holds NaN or inf, has a malformed ``.npy`` header,
        or does not fit in memory; the message names ``name`` and the path.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "p.txt").write_text("x y\\n1 2\\n3 4\\n")
    >>> load_samples(folder / "p.txt", "P")
    array([[1., 2.],
           [3., 4.]])
    >>> _ = (folder / "q.csv").write_text("x;y\\n1;2\\n3;oops\\n")
    >>> load_samples(folder / "q.csv", "Q")
    Traceback (most recent call last):
    ...
    divergences.cli.InputError: Q: ...q.csv line 3, column 2: 'oops' is not a number
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{name}: no such file: {path}")
    if not path.is_file():
        raise InputError(f"{name}: {path} is not a file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            data = _read_npy(path, name)
        elif suffix in (".csv", ".txt", ".tsv"):
            data = _read_text(path, name)  # checked for NaN and inf as it is read
        else:
            raise InputError(
                f"{name}: expected a .npy file or a text file (.csv, .txt, .tsv); got {path}"
            )
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"{name}: {path} does not fit in memory") from None
    except UnicodeDecodeError:
        raise InputError(f"{name}: {path} is not a UTF-8 text file") from None
    except OSError as error:
        reason = error.strerror.lower() if error.strerror else _reason(error)
        raise InputError(f"{name}: cannot read {path}: {reason}") from None
    if data.ndim == 1:
        data = data.reshape(-1, 1)
    if data.ndim != 2:
        raise InputError(
            f"{name}: expected samples of shape (n, d) or (n,); {path} holds shape {data.shape}"
        )
    if data.size == 0:
        raise InputError(f"{name}: {path} holds no samples (shape {data.shape})")
    bad = _first_non_finite(data) if suffix == ".npy" else None
    if bad is not None:
        row, column, value = bad
        raise _non_finite(name, path, value, _array_position(row, column))
    return data


def _blocks(data: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``data``'s rows a block of about ``_BLOCK_BYTES`` at a time, with each block's first row.

    On a memory map only the block being looked at is read into memory.
    """
    rows = max(1, _BLOCK_BYTES // max(1, data.shape[1] * data.itemsize))
    for start in range(0, data.shape[0], rows):
        yield start, np.asarray(data[start : start + rows])


def _first_non_finite(data: np.ndarray) -> tuple[int, int, float] | None:
    """The first NaN or inf of (n, d) ``data`` in row order: its row, column and value.

    Checked a block of rows at a time, so that a memory-mapped file needs no mask of its
    size. Values beyond the float64 range (of a float128 file) count as inf, as they would
    become inf in the measures.
    """
    if data.dtype.kind in "iu":
        return None
    for start, block in _blocks(data):
        if block.dtype.itemsize > 8:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                block = block.astype(np.float64)
        finite = np.isfinite(block)
        if not finite.all():
            row, column = (int(i) for i in np.argwhere(~finite)[0])
            return start + row, column, float(block[row, column])
    return None


def _array_position(row: int, column: int) -> str:
    return f"row {row}, column {column} (counting from 0)"


def _non_finite(name: str, path: Path, value: float, position: str) -> InputError:
    return InputError(
        f"{name}: {path} holds NaN or inf ({value} at {position}); expected finite numbers"
    )


# numpy.load's own bound (max_header_size): a longer header is not parsed, as a safety
# measure. A plain array's header takes under 128 bytes.
_NPY_MAX_HEADER = 10_000


def _npy_header_length(path: Path, version: tuple[int, int]) -> int:
    """The length that a .npy file's header says it has (after the magic and version)."""
    size = 2 if version == (1, 0) else 4
    with path.open("rb") as handle:
        handle.seek(len(_NPY_MAGIC) + 2)
        return int.from_bytes(handle.read(size), "little")


def _npy_dtype(path: Path, name: str) -> np.dtype:
    """The dtype that a .npy file's header declares, read without evaluating anything.

    numpy's header readers parse the header as Python literals (``ast.literal_eval``) and
    raise ValueError for anything else: an expression, a call, a header too long to parse
    safely. That is a malformed file, not one of Python objects, which the header would
    declare as such (dtype ``O``).
    """
    with path.open("rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
        except ValueError as error:
            raise InputError(
                f"{name}: {path} is not a valid .npy file: {_reason(error)}"
            ) from None
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0  # 3.0 differs only in the text encoding
        )
        try:
            _, _, dtype = read_header(handle, max_header_size=_NPY_MAX_HEADER)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError) as error:
            length = _npy_header_length(path, version)
            if length > _NPY_MAX_HEADER:
                detail = (
                    f"{length} bytes long, where numpy reads at most {_NPY_MAX_HEADER} (a "
                    "plain array's header takes under 128)"
                )
            else:
                reason = _reason(error)
                # literal_eval's message names an AST node at a memory address
                known = "" if " object at 0x" in reason else f" ({reason})"
                detail = (
                    "expected a dictionary of the literal values 'descr', 'fortran_order' "
                    f"and 'shape'{known}"
                )
            raise InputError(
                f"{name}: {path} is not a valid .npy file: its header is malformed: {detail}"
            ) from None
    return dtype


def _read_npy(path: Path, name: str) -> np.ndarray:
    # The header says what the file holds before its data are read: a pickle or
    # another file named .npy would otherwise get numpy's advice to unpickle it.
    with path.open("rb") as handle:
        if handle.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise InputError(
                f"{name}: {path} is not a NumPy .npy file (no .npy header); write arrays with "
                "numpy.save, or use a text file"
            )
    dtype = _npy_dtype(path, name)
    if dtype.hasobject:  # objects anywhere, records of them included
        raise InputError(f"{name}: {path} holds {_REFUSED_KINDS['O']}; dtype {dtype}")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise InputError(f"{name}: {path} is not a valid .npy file: {_reason(error)}") from None
    refused = _REFUSED_KINDS.get(array.dtype.kind)
    if refused is not None:
        raise InputError(f"{name}: {path} holds {refused}; dtype {array.dtype}")
    if array.nbytes > MAPPED_BYTES:
        return array  # read a block or a subsample at a time, never whole
    with warnings.catch_warnings():
        # float128 values beyond float64 become inf, which the caller reports
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.array(array, dtype=np.float64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _delimiter(line: str) -> str | None:
    """The separator of a text file's values, from one of its data lines; None: whitespace."""
    # semicolons before commas: files that separate by semicolons often write decimal commas
    for candidate in (";", ",", "\t"):
        if candidate in line:
            return candidate
    return None


_SEPARATED = {None: "spaces", ";": "semicolons", ",": "commas", "\t": "tabs"}

# Values of a text file converted to float64 at a time: a block of lines whose fields
# (Python strings, about 60 bytes each) stay near 4 MB.
_TEXT_BLOCK_VALUES = 1 << 16

# A line longer than this many characters has its fields split a piece at a time, so
# that a line of a million columns never becomes a list of a million strings.
_PIECE_CHARS = 1 << 18

# The reader refuses a text file once the numbers it will hold, extrapolated from the part
# read, need more memory than allowed. The rest of the file is taken to hold at least half
# as many numbers per byte as the part read, and never more than one per this many bytes
# (a float64 round-trips in 24 characters: -1.2345678901234567e-308): a sound lower bound
# for files as programs write them, where the numbers fill the lines evenly.
_MOST_BYTES_PER_VALUE = 32

# str.splitlines breaks lines at these as well as at newlines; a text file read by lines
# (universal newlines) does not, so its lines are split again where they hold one.
_OTHER_LINE_BREAKS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
_WHITESPACE = re.compile(r"\s")


def _content_lines(handle: Any) -> Iterator[tuple[int, str]]:
    """A text's lines that hold something besides a comment: (number from 1, content)."""
    number = 0
    for physical in handle:
        parts = physical.splitlines() if _OTHER_LINE_BREAKS.search(physical) else [physical]
        # dropped once their content is taken, so that a long line is not held twice
        # while its numbers are parsed
        physical = ""
        for index in range(len(parts)):
            number += 1
            content = parts[index].split("#", 1)[0].strip()
            parts[index] = ""
            if content:
                yield number, content


def _split(content: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return content.split()
    return [part.strip() for part in content.split(delimiter)]


def _pieces(content: str, delimiter: str | None) -> Iterator[list[str]]:
    """``_split(content, delimiter)`` in consecutive parts of about ``_PIECE_CHARS`` characters.

    Each cut is made at a separator, so no field is split between two parts.
    """
    start, length = 0, len(content)
    while start < length:
        end = start + _PIECE_CHARS
        if end >= length:
            yield _split(content[start:], delimiter)
            return
        if delimiter is None:
            cut = end
            while cut > start and not content[cut].isspace():
                cut -= 1
            if cut == start:  # one field longer than a piece: up to the next space
                found = _WHITESPACE.search(content, end)
                cut = length if found is None else found.start()
            yield content[start:cut].split()
            start = cut
        else:
            cut = content.rfind(delimiter, start, end)
            if cut < 0:
                cut = content.find(delimiter, end)
            if cut < 0:
                yield _split(content[start:], delimiter)
                return
            yield _split(content[start:cut], delimiter)
            start = cut + 1
            if start == length:  # a delimiter at the end: one empty field after it
                yield [""]


class _TextSamples:
    """A text file's data lines parsed into one growing float64 buffer.

    Lines are converted a block at a time (``_TEXT_BLOCK_VALUES`` values), long lines a
    piece at a time, so that memory holds the numbers as float64 and only a block's
    worth of Python strings. The buffer grows by a quarter when full (``ndarray.resize``:
    a ``realloc``, which moves no pages of a large array on Linux), and is cut to its size
    at the end. Errors are raised in the order of the lines; a NaN or inf is reported
    only when the whole file parses, as a missing value after a typo would mislead.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        delimiter: str | None,
        size: tuple[int, Callable[[], int]],
        allowed: tuple[float, str] | None,
    ) -> None:
        self.path, self.name, self.delimiter = path, name, delimiter
        # the file's bytes, and how many have been read
        self.file_bytes, self.bytes_read = size
        # the memory the numbers may take, and where that bound comes from
        self.allowed = allowed
        self.width = 0
        self.first_line = 0
        self.buffer = np.empty(_TEXT_BLOCK_VALUES)
        self.size = 0
        self.fields: list[str] = []
        self.lines: list[tuple[int, str]] = []
        self.non_finite: tuple[float, int, int] | None = None  # value, line, column

    def add(self, number: int, content: str) -> None:
        if len(content) > _PIECE_CHARS:
            self.flush()
            self._add_long(number, content)
            return
        values = _split(content, self.delimiter)
        self._check_width(number, len(values))
        self.fields.extend(values)
        self.lines.append((number, content))
        if len(self.fields) >= _TEXT_BLOCK_VALUES:
            self.flush()

    def _check_width(self, number: int, count: int) -> None:
        if not self.width:
            self.width, self.first_line = count, number
        elif count != self.width:
            self.flush()  # a typo in an earlier line is reported first
            raise InputError(
                f"{self.name}: {self.path} line {number} has {count} values and line "
                f"{self.first_line} has {self.width} (values separated by "
                f"{_SEPARATED[self.delimiter]})"
            )

    def flush(self) -> None:
        """Convert the pending lines' fields into the buffer."""
        if not self.fields:
            return
        try:
            block = np.fromiter(map(float, self.fields), np.float64, count=len(self.fields))
        except ValueError:
            for number, content in self.lines:
                self._refuse_non_numbers(number, _split(content, self.delimiter), 0)
            raise  # pragma: no cover (a field that float refused is found above)
        self._keep(block, lambda i: (self.lines[i // self.width][0], i % self.width))
        self.fields.clear()
        self.lines.clear()
        self._check_memory()

    def _add_long(self, number: int, content: str) -> None:
        if self.delimiter is None:
            count = sum(len(piece) for piece in _pieces(content, None))
        else:
            count = content.count(self.delimiter) + 1
        self._check_width(number, count)
        column = 0
        for piece in _pieces(content, self.delimiter):
            try:
                block = np.fromiter(map(float, piece), np.float64, count=len(piece))
            except ValueError:
                self._refuse_non_numbers(number, piece, column)
                raise  # pragma: no cover

            def position(i: int, start: int = column) -> tuple[int, int]:
                return number, start + i

            self._keep(block, position)
            column += len(piece)
            self._check_memory()

    def _refuse_non_numbers(self, number: int, values: Sequence[str], first_column: int) -> None:
        for column, value in enumerate(values, start=first_column + 1):
            if not _is_number(value):
                hint = " (a decimal comma? write decimal points)" if "," in value else ""
                raise InputError(
                    f"{self.name}: {self.path} line {number}, column {column}: {value!r} is "
                    f"not a number{hint}"
                )

    def _keep(self, block: np.ndarray, position: Callable[[int], tuple[int, int]]) -> None:
        """Append ``block``; ``position(i)``: the line and column (from 0) of its i-th value."""
        if self.non_finite is None:
            finite = np.isfinite(block)
            if not finite.all():
                index = int(np.argmin(finite))
                self.non_finite = (float(block[index]), *position(index))
        end = self.size + block.size
        if end > self.buffer.size:
            # no view of the buffer outlives a statement, so it may be moved
            self.buffer.resize(max(end, self.buffer.size + self.buffer.size // 4), refcheck=False)
        self.buffer[self.size : end] = block
        self.size = end

    def _check_memory(self) -> None:
        if self.allowed is None or not self.size:
            return
        bytes_read = self.bytes_read()
        rest = max(0, self.file_bytes - bytes_read)
        bytes_per_value = max(_MOST_BYTES_PER_VALUE, 2 * bytes_read / self.size)
        values = self.size + rest / bytes_per_value
        limit, origin = self.allowed
        if 8 * values > limit:
            raise InputError(
                f"{self.name}: {self.path} does not fit in memory: its first "
                f"{bytes_read / 1e6:.3g} MB hold {self.size} numbers, so its "
                f"{self.file_bytes / 1e6:.3g} MB hold about {values:.0f} or more, "
                f"{8 * values / 1e9:.3g} GB as float64, more than the {limit / 1e9:.3g} GB "
                f"allowed ({origin}); save the samples with numpy.save (a .npy file larger "
                "than memory is memory-mapped, not loaded)"
            )

    def result(self) -> np.ndarray:
        if self.non_finite is not None:
            value, number, column = self.non_finite
            raise _non_finite(self.name, self.path, value, f"line {number}, column {column + 1}")
        self.buffer.resize(self.size, refcheck=False)
        return self.buffer.reshape(-1, self.width)


def _read_text(path: Path, name: str) -> np.ndarray:
    """A text file's samples as an (n, d) float64 array, read a block of lines at a time.

    Peak memory is about the array's size plus a few megabytes, whatever the file's
    length or width (one line is held whole). A file whose numbers would need more
    memory than allowed (half of what is available, as for the exact solver) is refused
    as soon as the part read shows it, from the file's size (see
    ``_MOST_BYTES_PER_VALUE``); errors name the line and column.
    """
    from divergences._memory import allowed_memory

    file_bytes = path.stat().st_size
    allowed = allowed_memory(None)
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig") as handle:
        lines = _content_lines(handle)
        head = list(itertools.islice(lines, 2))
        if not head:
            raise InputError(f"{name}: {path} holds no samples (no line of numbers)")
        # the delimiter from a data line: the second line when the first may be a header
        delimiter = _delimiter(head[-1][1])
        first = head[0][1]
        if not all(_is_number(field) for piece in _pieces(first, delimiter) for field in piece):
            head.pop(0)  # a header
        samples = _TextSamples(path, name, delimiter, (file_bytes, raw.tell), allowed)
        while head:  # emptied as it is read, so that its lines are not held to the end
            samples.add(*head.pop(0))
        for number, content in lines:
            samples.add(number, content)
        if not samples.width:
            raise InputError(f"{name}: {path} holds a header line and no samples")
        samples.flush()
        return samples.result()


def _reason(error: BaseException) -> str:
    """An exception's message on one line, without ``[Errno 17]``-style prefixes."""
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror[0].lower()}{error.strerror[1:]}"
    text = " ".join(str(error).split())
    if not text:
        return type(error).__name__
    # torch's C++ errors append a stack dump; the first sentence says what happened
    return text if len(text) <= 400 else text[:400] + " ..."


# ---------------------------------------------------------------------------
# compare

# What each row of compare() estimates and how it errs; the fields in braces are
# filled in per call.
_NOTES = {
    "W1 exact": "the exact W1 between the two samples ({how}). It estimates W1(P, Q) but "
    "is biased upward by the sampling (it matches noise with noise), by about {rate} for "
    "n the smaller sample size{floor}",
    "W1 within P": "the exact W1 between two disjoint random parts of P ({sizes} points): "
    "what two samples of one law give at about these sizes. W1 exact near this value is "
    "sampling bias, not a difference between P and Q",
    "Sliced W1": "the sliced W1: the mean over 200 random directions of the 1-D W1 between "
    "the projected samples. A different metric, smaller than W1 (equal in d = 1): not an "
    "estimate of W1. Biased upward by the sampling too, by about n^(-1/2)",
    "Sinkhorn divergence": "the debiased Sinkhorn divergence (GeomLoss's solver) with the "
    "cost |x - y| and blur {blur:.3g} (5% of the pooled samples' RMS spread): near W1 when "
    "the blur is small against the distances that matter, an MMD when it is large; biased "
    "upward by the sampling like W1 exact",
    "Energy distance": "the energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (in the samples' "
    "units; the square of SciPy's energy_distance in d = 1): zero only for P = Q, its "
    "gradient never vanishes; biased upward by the sampling by about 1/n",
    "KL(P||Q) k-NN": "estimates KL(P||Q) in nats from each point of P's distance to its "
    "{k} nearest neighbour (--k) in P and in Q, with a fitted Gaussian as reference. "
    "Consistent where the densities overlap; biased for few samples or many dimensions, "
    "and can dip below 0",
    "KL(Q||P) k-NN": "estimates KL(Q||P) in nats, as the row above with P and Q swapped",
    "JS k-NN": "estimates JS(P, Q) in nats, in [0, log 2], from each point's distance to "
    "its {k} nearest neighbour (--k) in its own sample and in the pooled samples. Biased "
    "for few samples or many dimensions",
    "W1 neural critic": "estimates W1(P, Q) by Kantorovich-Rubinstein duality: a potential "
    "that is 1-Lipschitz by construction (cones or a ridge, fitted beside a WGAN-GP critic) "
    "evaluated on a held-out 20% of each sample. The interval's lower end is a certified "
    "97.5% lower bound of W1 for any data; its upper end is the exact W1 of the held-out "
    "samples, whose expectation is above W1 (far above in many dimensions)",
    "JS discriminator": "a lower bound of JS(P, Q) in nats: the GAN discriminator's "
    "variational bound on a held-out 20% of each sample, reached only by an optimal "
    "discriminator",
}

# Library messages name Python parameters; on the command line the inputs are P and Q.
_PARAMETER_NAMES = (
    (re.compile(r"\bsamples_p\b"), "P"),
    (re.compile(r"\bsamples_q\b"), "Q"),
    (re.compile(r"\bk=(\d+)"), r"--k \1"),
    (re.compile(r"\bbin_width\b"), "--bin-width"),
)


def _user_message(error: BaseException, *, swapped: bool = False) -> str:
    """A library error in the command's words: P and Q, not ``samples_p``."""
    text = _reason(error)
    if swapped:  # the call was f(Q, P): the library's first sample is Q
        text = text.replace("samples_p", "\0").replace("samples_q", "samples_p")
        text = text.replace("\0", "samples_q")
    for pattern, replacement in _PARAMETER_NAMES:
        text = pattern.sub(replacement, text)
    if not isinstance(error, (ValueError, TypeError, ArithmeticError, MemoryError, OSError)):
        from divergences.transport import SolverError

        if not isinstance(error, SolverError):
            text = f"unexpected {type(error).__name__} (a bug; please report it): {text}"
    return text


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _bias_rate(d: int) -> str:
    if d == 1:
        return "n^(-1/2)"
    if d == 2:
        return "(log(n) / n)^(1/2)"
    return f"n^(-1/{d})"


def _reference_split(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random parts of P's n rows, sized like the comparison where P allows.

    Q's size m and the rest of P when m is at most half of n (the W1 of
    n - m against m points is what one law gives at nearly n against m);
    two halves otherwise.
    """
    order = np.random.default_rng(seed).permutation(n)
    size = m if m <= n // 2 else n // 2
    return order[size:], order[:size]


def _is_mapped(x: np.ndarray) -> bool:
    return isinstance(x, np.memmap)


def _subsample_index(n: int, size: int, seed: int, stream: int) -> np.ndarray:
    """``size`` of ``n`` row numbers drawn without replacement, in increasing order.

    ``numpy.random.default_rng([seed, stream]).choice(n, size, replace=False)``, sorted so
    that a memory map is read front to back; P is stream 0, Q stream 1. Its memory is
    O(size) where ``size`` is under 2% of ``n`` (NumPy then draws by Floyd's algorithm),
    O(n) otherwise, that is below 50 ``size`` integers.
    """
    chosen = np.random.default_rng([seed, stream]).choice(n, size, replace=False)
    chosen.sort()
    return chosen


def _in_memory(x: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """``x`` as float64 in memory: whole, or a subsample of a large memory map's rows."""
    if not _is_mapped(x):
        return x
    if x.shape[0] <= MAPPED_SAMPLE_ROWS:
        return np.array(x, dtype=np.float64)
    index = _subsample_index(x.shape[0], MAPPED_SAMPLE_ROWS, seed, stream)
    return np.array(x[index], dtype=np.float64)


#: The most rows a side that the Sinkhorn and energy rows of ``divergences compare`` use:
#: both cost O(n m) (GeomLoss's Sinkhorn also holds the (n + m)^2 cost tables, 200 MB at
#: 1000 rows a side); larger samples are represented by a seeded subsample, said in the note.
SINKHORN_ROWS = 1000
ENERGY_ROWS = 10_000


def _at_most(x: np.ndarray, rows: int, seed: int, stream: int) -> np.ndarray:
    """``x`` as float64, or ``rows`` of its rows drawn as :func:`_subsample_index` says."""
    if x.shape[0] <= rows:
        return np.asarray(x, dtype=np.float64)
    return np.asarray(x[_subsample_index(x.shape[0], rows, seed, stream)], dtype=np.float64)


def _spread(p: np.ndarray, q: np.ndarray) -> float:
    """The pooled samples' root mean square distance to their mean, per coordinate."""
    pooled = np.concatenate([p, q])
    top = float(np.max(np.abs(pooled)))
    if not top > 0:
        return 0.0
    unit = pooled / top  # squares of 1e200 would overflow; of values in [-1, 1] they cannot
    return top * float(np.sqrt(np.mean((unit - unit.mean(axis=0)) ** 2)))


def _rows_note(samples: dict[str, np.ndarray], rows: int, seed: int) -> str:
    """What a row computed on at most ``rows`` rows a side was given; "" if all of them."""
    parts = [
        f"{rows} of {name}'s {x.shape[0]} rows" for name, x in samples.items() if x.shape[0] > rows
    ]
    if not parts:
        return ""
    return (
        f". From a subsample: {' and '.join(parts)}, drawn without replacement with --seed {seed}"
    )


def _subsample_note(samples: dict[str, np.ndarray], seed: int) -> str:
    """What a row computed from :func:`_in_memory`'s samples was given; "" if all of them."""
    parts = [
        f"{MAPPED_SAMPLE_ROWS} of {name}'s {x.shape[0]} rows"
        for name, x in samples.items()
        if _is_mapped(x) and x.shape[0] > MAPPED_SAMPLE_ROWS
    ]
    if not parts:
        return ""
    return (
        f". From a subsample of the memory-mapped files: {' and '.join(parts)}, drawn "
        f"without replacement with --seed {seed} (numpy.random.default_rng([seed, 0]) for "
        "P, [seed, 1] for Q)"
    )


def _knn_note(samples: dict[str, np.ndarray], limit: int | None, seed: int) -> str:
    """What a k-NN row was given when a sample has more than ``limit`` rows; "" otherwise.

    The estimators' own rule (``max_samples``): one generator, the first sample's rows
    drawn first.
    """
    parts = [
        f"{limit} of {name}'s {x.shape[0]} rows"
        for name, x in samples.items()
        if limit is not None and x.shape[0] > limit
    ]
    if not parts:
        return ""
    first = next(iter(samples))
    return (
        f". From a subsample: {' and '.join(parts)}, drawn without replacement by the "
        f"estimator with --seed {seed} (numpy.random.default_rng(seed), {first}'s rows first)"
    )


def _neural_note(samples: dict[str, np.ndarray], seed: int) -> str:
    """What the neural estimators read of memory-mapped samples; "" if none is mapped."""
    from divergences.neural import TrainingOptions

    mapped = [name for name, x in samples.items() if _is_mapped(x)]
    if not mapped:
        return ""
    most = TrainingOptions().evaluation_size
    return (
        f". {' and '.join(mapped)} memory-mapped: training batches are read as drawn, and "
        f"the estimate uses at most {most} held-out rows a side, chosen by a hash of the "
        f"row number seeded with --seed {seed}"
    )


def compare(
    p: np.ndarray,
    q: np.ndarray,
    *,
    neural: bool = False,
    steps: int = 2000,
    k: int = 5,
    seed: int = 0,
    device: str = "auto",
) -> list[dict[str, Any]]:
    """Every measure that applies to two sample sets, as rows for a table.

    The exact W1 (and, for d > 2, the exact W1 between two parts of P as a
    reference for its sampling bias), the sliced W1, the k-NN KL in both
    directions and JS, and with ``neural`` the critic's W1 and the
    discriminator's JS.

    A :class:`numpy.memmap` (what :func:`load_samples` returns for a large
    ``.npy`` file) is never read whole unless a measure needs every row: the
    exact W1 is refused from the shapes when its problem would not fit in
    memory (in one dimension, when the sorted copies would not); the sliced
    W1 gets at most :data:`MAPPED_SAMPLE_ROWS` rows of each memory-mapped
    sample (rows ``numpy.random.default_rng([seed, i]).choice(n,
    MAPPED_SAMPLE_ROWS, replace=False)``, ``i = 0`` for P and 1 for Q), and
    the k-NN estimators are called with ``max_samples=MAPPED_SAMPLE_ROWS``
    (their own seeded draw, which reads only the rows drawn); each such row's
    note says how many rows and which seed. The neural estimators read their
    training batches and held-out rows from the map as they need them. The
    k-NN estimators keep their default ``max_samples`` for samples in
    memory, and their notes say so where it applies.

    Parameters
    ----------
    p, q : (n, d) and (m, d) numpy.ndarray or numpy.memmap
        Samples of P and Q.
    neural : bool, default False
        Also train the neural critic and discriminator.
    steps : int, default 2000
        Their training steps.
    k : int, default 5
        The neighbour of the k-NN estimators.
    seed : int, default 0
        Seed of every random choice (projections, splits, training).
    device : str, default "auto"
        Where the networks train.

    Returns
    -------
    list of dict
        One per measure: ``measure``, ``value`` (a finite float, or None
        where it could not be computed), ``interval`` (a 95% interval, or
        None), ``note`` (what the value estimates and its known bias) and
        ``error`` (None, or why ``value`` is None). A measure that fails, or
        returns NaN or inf, gets ``value`` None and its reason in ``error``;
        an interval with a NaN or infinite end becomes None and the note says so.

    Raises
    ------
    InputError
        If P and Q differ in dimension.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> rows = compare(rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + [1.0, 0.0])
    >>> [row["measure"] for row in rows]  # doctest: +NORMALIZE_WHITESPACE
    ['W1 exact', 'Sliced W1', 'Sinkhorn divergence', 'Energy distance',
     'KL(P||Q) k-NN', 'KL(Q||P) k-NN', 'JS k-NN']
    >>> 0.8 < rows[0]["value"] < 1.2
    True
    >>> rows = compare(rng.normal(size=(300, 3)), rng.normal(size=(100, 3)))
    >>> print(rows[1]["measure"], "-", rows[1]["note"])  # doctest: +ELLIPSIS
    W1 within P - the exact W1 between two disjoint random parts of P (200 and 100 points): ...
    """
    from divergences.transport import ProblemTooLargeError, sliced_wasserstein, wasserstein

    if p.shape[1] != q.shape[1]:
        raise InputError(
            f"P and Q must have the same dimension d; got d = {p.shape[1]} and d = {q.shape[1]}"
        )
    d = p.shape[1]
    rows: list[dict[str, Any]] = []

    def add(
        measure: str,
        compute: Callable[[], Any],
        *,
        swapped: bool = False,
        subsample: str = "",
        **fill: Any,
    ) -> bool:
        note = _NOTES[measure].format(k=_ordinal(k), **fill) + subsample
        try:
            with warnings.catch_warnings(record=True) as caught:
                # a library warning belongs to its row, not to stderr above the table
                warnings.simplefilter("always")
                value = compute()
        except ProblemTooLargeError:
            rows.append(
                _row(
                    measure,
                    note,
                    error="too large for the exact solver in this memory; --neural estimates W1",
                )
            )
            return False
        except Exception as error:  # one row's failure must not end the table
            rows.append(_row(measure, note, error=_user_message(error, swapped=swapped)))
            return False
        value, interval = value if isinstance(value, tuple) else (value, None)
        value = float(value)
        if not math.isfinite(value):
            rows.append(
                _row(measure, note, error=f"the estimator returned {value}, not an estimate")
            )
            return False
        if interval is not None and not all(math.isfinite(float(end)) for end in interval):
            note += f" (no interval: its ends came out as {interval[0]}, {interval[1]})"
            interval = None
        for message in dict.fromkeys(" ".join(str(w.message).split()) for w in caught):
            note += f". Warning: {message}"
        rows.append(_row(measure, note, value, interval))
        return True

    floor = "; compare it with W1 within P below" if d > 2 else ""
    how = "from the sorted values" if d == 1 else "POT's network simplex"
    exact = add("W1 exact", lambda: wasserstein(p, q), how=how, rate=_bias_rate(d), floor=floor)
    if exact and d > 2:
        first, second = _reference_split(p.shape[0], q.shape[0], seed)
        add(
            "W1 within P",
            lambda: wasserstein(p[first], p[second]),
            sizes=f"{len(first)} and {len(second)}",
        )
    # The sliced W1 holds both samples in memory: at most MAPPED_SAMPLE_ROWS rows of a map.
    add(
        "Sliced W1",
        lambda: sliced_wasserstein(_in_memory(p, seed, 0), _in_memory(q, seed, 1), seed=seed),
        subsample=_subsample_note({"P": p, "Q": q}, seed),
    )
    # Quadratic in the sample sizes: a seeded subsample beyond these many rows a side.
    energy_p, energy_q = _at_most(p, ENERGY_ROWS, seed, 0), _at_most(q, ENERGY_ROWS, seed, 1)
    blur = 0.05 * _spread(energy_p, energy_q)
    sinkhorn_p, sinkhorn_q = (
        _at_most(p, SINKHORN_ROWS, seed, 0),
        _at_most(q, SINKHORN_ROWS, seed, 1),
    )
    if blur > 0:
        from divergences.sinkhorn import sinkhorn_divergence

        add(
            "Sinkhorn divergence",
            lambda: sinkhorn_divergence(sinkhorn_p, sinkhorn_q, blur=blur),
            blur=blur,
            subsample=_rows_note({"P": p, "Q": q}, SINKHORN_ROWS, seed),
        )
    from divergences.energy import energy_distance

    add(
        "Energy distance",
        lambda: energy_distance(energy_p, energy_q),
        subsample=_rows_note({"P": p, "Q": q}, ENERGY_ROWS, seed),
    )
    from divergences.knn import js_knn, kl_knn

    # The k-NN estimators draw their own subsample beyond max_samples rows, reading only
    # those rows of a memory map.
    knn: dict[str, Any] = {"k": k, "seed": seed}
    if _is_mapped(p) or _is_mapped(q):
        knn["max_samples"] = MAPPED_SAMPLE_ROWS
    limit = knn.get("max_samples", (kl_knn.__kwdefaults__ or {}).get("max_samples"))
    in_order = _knn_note({"P": p, "Q": q}, limit, seed)
    add("KL(P||Q) k-NN", lambda: kl_knn(p, q, **knn), subsample=in_order)
    add(
        "KL(Q||P) k-NN",
        lambda: kl_knn(q, p, **knn),
        swapped=True,
        subsample=_knn_note({"Q": q, "P": p}, limit, seed),
    )
    add("JS k-NN", lambda: js_knn(p, q, **knn), subsample=in_order)
    if neural:
        from divergences.neural import js_dual, wasserstein_dual

        options: dict[str, Any] = {"steps": steps, "seed": seed, "device": device}

        def critic() -> tuple[float, tuple[float, float]]:
            result = wasserstein_dual(p, q, **options)
            return result.distance, result.interval

        def discriminator() -> tuple[float, tuple[float, float]]:
            result = js_dual(p, q, **options)
            return result.divergence, result.interval

        mapped = _neural_note({"P": p, "Q": q}, seed)
        add("W1 neural critic", critic, subsample=mapped)
        add("JS discriminator", discriminator, subsample=mapped)
    return rows


def _row(
    measure: str,
    note: str,
    value: float | None = None,
    interval: tuple[float, float] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "measure": measure,
        "value": value,
        "interval": None if interval is None else [float(interval[0]), float(interval[1])],
        "note": note,
        "error": error,
    }


def _number(value: float, smallest: float = 1e-3) -> str:
    # Four decimals for the usual magnitudes; data at 1e200 would give hundreds of
    # digits, and data at 1e-200 a misleading 0.0000.
    if value == 0 or smallest <= abs(value) < 1e7:
        return f"{value:.4f}"
    return f"{value:.4g}"


def _format_table(rows: list[dict[str, Any]], header: str, width: int | None = None) -> str:
    """The rows as a table of numbers, then each row's note as a wrapped paragraph."""
    if width is None:
        width = min(max(shutil.get_terminal_size().columns, 60), 100)
    name_width = max(len(row["measure"]) for row in rows) + 2
    lines = [header, f"{'measure':{name_width}s}{'value':>12s}  95% interval"]
    for row in rows:
        value = "-" if row["value"] is None else _number(row["value"])
        interval = row["interval"]
        span = "" if interval is None else f"[{_number(interval[0])}, {_number(interval[1])}]"
        lines.append(f"{row['measure']:{name_width}s}{value:>12s}  {span}".rstrip())
    lines += ["", "notes:"]
    for row in rows:
        text = row["note"] if row["error"] is None else f"not computed: {row['error']}"
        lines += textwrap.wrap(
            text,
            width,
            initial_indent=f"  {row['measure']:{name_width}s}",
            subsequent_indent=" " * (name_width + 2),
            break_on_hyphens=False,
        )
    return "\n".join(lines)


def _check_k(samples: dict[str, np.ndarray], k: int) -> None:
    """Refuse a --k that the k-NN estimators cannot use here, naming the largest that works.

    Each estimator looks for every point's k-th nearest neighbour among the
    other points of its own sample, so each sample needs at least k + 1
    distinct points (repeats count once).
    """
    counts = {name: _distinct_rows(x, k + 1) for name, x in samples.items()}
    name, distinct = min(counts.items(), key=lambda item: item[1])
    if distinct >= k + 1:
        return
    rows = samples[name].shape[0]
    have = f"{name} has {distinct}" + (f" (of {rows} samples)" if distinct < rows else "")
    fix = (
        f"choose --k {distinct - 1} or less"
        if distinct >= 2
        else "the k-NN estimators need at least 2 distinct points in each"
    )
    raise InputError(
        f"--k {k} needs at least {k + 1} distinct points in each of P and Q (each point's "
        f"k-th nearest neighbour among the others); {have}: {fix}"
    )


def _distinct_rows(x: np.ndarray, enough: int) -> int:
    """How many distinct rows ``x`` has; for a memory map, counting stops at ``enough``.

    A memory map is read a block of rows at a time until ``enough`` distinct rows are
    seen (usually in the first block), so its count is exact only below ``enough``.
    """
    if not _is_mapped(x):
        return len(np.unique(x, axis=0))
    seen = np.empty((0, x.shape[1]), dtype=x.dtype)
    for _, block in _blocks(x):
        seen = np.unique(np.concatenate([seen, np.unique(block, axis=0)]), axis=0)
        if len(seen) >= enough:
            break
    return len(seen)


def _run_compare(args: argparse.Namespace) -> int:
    p = load_samples(args.p, "P")
    q = load_samples(args.q, "Q")
    if p.shape[1] != q.shape[1]:
        raise InputError(
            f"P and Q must have the same dimension d; got d = {p.shape[1]} ({args.p}) "
            f"and d = {q.shape[1]} ({args.q})"
        )
    _check_k({"P": p, "Q": q}, args.k)
    if args.neural:
        _check_device(args.device)
    rows = compare(
        p, q, neural=args.neural, steps=args.steps, k=args.k, seed=args.seed, device=args.device
    )
    if args.json:
        payload = {
            "p": {"path": str(args.p), "n": p.shape[0], "d": p.shape[1]},
            "q": {"path": str(args.q), "n": q.shape[0], "d": q.shape[1]},
            "measures": rows,
        }
        # allow_nan=False: strict JSON; compare() has already turned NaN and inf into None
        print(json.dumps(payload, indent=1, allow_nan=False))
    else:
        header = (
            f"P: {args.p} ({p.shape[0]} samples), Q: {args.q} ({q.shape[0]} samples), "
            f"d = {p.shape[1]}"
        )
        print(_format_table(rows, header))
    failed = [row["measure"] for row in rows if row["error"] is not None]
    if failed:
        sys.stdout.flush()
        print(
            f"divergences compare: {len(failed)} of {len(rows)} measures could not be computed "
            f"({', '.join(failed)}); their notes say why",
            file=sys.stderr,
        )
        return 1
    return 0


# ---------------------------------------------------------------------------
# gradients and devices


def _check_device(device: str) -> None:
    """Refuse a CUDA device this machine does not have, before any work is done."""
    if not device.startswith("cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise InputError(
            f"--device {device}: CUDA is not available here (torch {torch.__version__}); "
            "use --device cpu, or auto to take a GPU when there is one"
        )
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise InputError(
            f"--device {device}: this machine has {torch.cuda.device_count()} CUDA "
            f"device(s), numbered from 0"
        )


def _check_plotting() -> None:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise InputError(
            "the figures need matplotlib; install it with: pip install 'divergences[bench]'"
        )


def _run_gradients(args: argparse.Namespace) -> int:
    _check_plotting()
    _check_device(args.device)
    from divergences.experiments.report import run, summary_table

    paths = run(
        args.output,
        quick=args.quick,
        seeds=args.seeds,
        device=args.device,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        stop=_TERMINATED.is_set,
    )
    print(summary_table(paths["json"]))
    for name, path in paths.items():
        print(f"wrote {name:9s} {path}")
    return 0


def _run_train_generators(args: argparse.Namespace) -> int:
    _check_plotting()
    _check_device(args.device)
    from divergences.experiments.report import generator_table, run_generators

    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    paths = run_generators(
        args.output,
        quick=args.quick,
        seeds=args.seeds,
        device=device,
        workers=args.workers,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        stop=_TERMINATED.is_set,
    )
    print(generator_table(paths["json"]))
    for name, path in paths.items():
        print(f"wrote {name:9s} {path}")
    return 0


# ---------------------------------------------------------------------------
# the parser


def _integer(minimum: int, maximum: int | None = None, why: str = "") -> Callable[[str], int]:
    """An argparse type: an integer in [minimum, maximum]; the error names the bound."""

    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}; got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}{why}; got {value}")
        return value

    return integer


def _finite(text: str) -> float:
    """An argparse type: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number; got {text!r}")
    return value


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = _finite(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive; got {text!r}")
    return value


def _device(text: str) -> str:
    """An argparse type: auto, cpu, cuda or cuda:N (whether CUDA is here is checked later)."""
    if re.fullmatch(r"auto|cpu|cuda(:\d+)?", text) is None:
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N; got {text!r}")
    return text


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps each paragraph of a description or epilog to the terminal's width.

    A paragraph with indented lines (the examples) is kept as written, so that
    commands can be copied; argparse's default would join them into one line.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for paragraph in text.split("\n\n"):
            lines = paragraph.splitlines()
            if any(line.startswith(" ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(
                    textwrap.fill(
                        " ".join(paragraph.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,
                    )
                )
        return "\n\n".join(paragraphs)


_EXIT_STATUS = (
    "exit status: 0 on success; 1 when a file, an option's value or the machine cannot "
    "do what was asked (one line on stderr says what was wrong and what was expected); "
    "2 for a usage error; 130 after Ctrl-C and 143 after SIGTERM, within a second or two, "
    "workers included, with nothing written."
)


class _Parser(argparse.ArgumentParser):
    """An argument parser that reads every number as a value, ``-1e-3`` and ``-inf`` included.

    argparse takes an argument for an option's value only when it looks like a negative
    number by its own rule, ``-5`` or ``-.5``: ``--thetas -1e-3`` would be an unknown
    option and ``--thetas`` would have no value. No option of this command looks like a
    number, so anything that does is a value. Subcommands' parsers are of this class too
    (``add_subparsers`` makes them of the parent's class).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(
            r"^-(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|infinity|nan)$", re.IGNORECASE
        )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="divergences",
        description="Divergences between distributions, and what their gradients do "
        "when the supports do not overlap.",
        epilog=_EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    compare_parser = commands.add_parser(
        "compare",
        help="every applicable divergence between two sample files",
        description="Read two sample files of shape (n, d) or (n,) and print the exact "
        "Wasserstein-1 distance, the sliced W1 (a different, smaller metric), the k-NN KL in "
        "both directions and JS, and with --neural the neural critic's W1 and the GAN "
        "discriminator's JS with 95% intervals. A note under the table says what each number "
        "estimates and how it is biased; for d > 2 a row gives the exact W1 between two parts "
        "of P, the value that two samples of one law give.\n\n"
        "Files: .npy holding real numbers (floating or integer), or text (.csv, .txt, .tsv) "
        "with one sample per line, values separated by commas, semicolons, tabs or spaces, "
        "an optional header line, and # comments.\n\n"
        f"Files larger than memory: a .npy file of more than {MAPPED_BYTES >> 20} MiB is "
        "memory-mapped, not loaded. It is checked for NaN and inf a block of rows at a time; "
        "the exact W1 is refused from the sizes when it would not fit in memory; the sliced "
        f"W1 and the k-NN rows use {MAPPED_SAMPLE_ROWS} of its rows, drawn with --seed (their "
        "notes say so); --neural reads the rows it trains on as it needs them.",
        epilog="examples:\n  divergences compare p.npy q.npy\n"
        "  divergences compare data.csv model.csv --neural --steps 1000 --json\n\n"
        "exit status: 0 when every measure was computed; 1 when a file or option is "
        "unusable, or a measure could not be computed (the table still shows the others and "
        "their notes say why); 2 for a usage error.",
        formatter_class=_HelpFormatter,
    )
    compare_parser.add_argument(
        "p", metavar="P", help="samples of P: .npy, or text (.csv, .txt, .tsv)"
    )
    compare_parser.add_argument(
        "q", metavar="Q", help="samples of Q: .npy, or text (.csv, .txt, .tsv)"
    )
    compare_parser.add_argument(
        "--json", action="store_true", help="print JSON (strict: no NaN), not a table"
    )
    compare_parser.add_argument(
        "--neural", action="store_true", help="also train the neural critic and discriminator"
    )
    compare_parser.add_argument(
        "--steps",
        type=_integer(1, _MAX_STEPS),
        default=2000,
        help="training steps of each neural estimator (default: %(default)s)",
    )
    compare_parser.add_argument(
        "--k",
        type=_integer(1),
        default=5,
        help="the k-NN estimators use each point's distance to its k-th nearest neighbour; "
        "each file needs at least k + 1 distinct points (default: %(default)s)",
    )
    compare_parser.add_argument(
        "--seed", type=_integer(0), default=0, help="random seed (default: %(default)s)"
    )
    compare_parser.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="where the neural estimators train: auto (a GPU when there is one), cpu, cuda "
        "or cuda:N (default: %(default)s)",
    )

    demo = commands.add_parser(
        "demo",
        help="KL, JS and W on the disjoint-segments example at a few theta",
        description="Print KL and JS of P = (0, U[0,1]) and Q_theta = (theta, U[0,1]) from "
        "histograms of samples and in closed form, with the closed-form Wasserstein "
        "distance |theta|.",
        epilog="example:\n  divergences demo --thetas -1 0 0.1 1 --samples 5000\n\n"
        + _EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    demo.add_argument(
        "--thetas",
        type=_finite,
        nargs="+",
        default=list(_DEFAULT_THETAS),
        metavar="THETA",
        help="offsets of Q_theta (default: %(default)s)",
    )
    demo.add_argument(
        "--samples",
        type=_integer(1, MAX_DEMO_SAMPLES, " (about 1 GB of memory)"),
        default=10_000,
        help=f"samples per distribution, at most {MAX_DEMO_SAMPLES} (default: %(default)s)",
    )
    demo.add_argument(
        "--bin-width",
        type=_positive,
        default=0.25,
        help=f"histogram bin width in x; the grid may have at most {MAX_BINS} bins "
        "(default: %(default)s)",
    )
    demo.add_argument(
        "--seed", type=_integer(0), default=0, help="random seed (default: %(default)s)"
    )

    gradients = commands.add_parser(
        "gradients",
        help="values and gradients of every method on the disjoint segments, with figures",
        description="Run the headline benchmark: the value and d/dtheta of every method "
        "(closed forms, histogram JS, k-NN KL and JS, exact W, the neural critic, the GAN "
        "discriminator) over a grid of theta and seeds; gradient descent on theta with each "
        "loss; the trained critic and discriminator over the plane; the batched-critic timing. "
        "Writes gradients.json, gradients.csv, gradients.png, dynamics.png and critic_2d.png. "
        "The plots need matplotlib (pip install 'divergences[bench]').\n\n"
        "Nothing is lost: a folder that already holds files is refused unless --overwrite is "
        "given, whether the folder can be written is checked before the run, and the results "
        "are written to a temporary folder beside it and moved into place at the end, so an "
        "interrupted run leaves the folder as it was. Files that another run wrote there "
        "meanwhile are not replaced either: this run's results then stay in the temporary "
        "folder, which the error names.",
        epilog="examples:\n  divergences gradients --output results\n"
        "  divergences gradients --quick --output /tmp/smoke --device cpu\n\n" + _EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    gradients.add_argument(
        "--output",
        default="gradients-output",
        metavar="DIR",
        help="folder for the results: new or empty, unless --overwrite (default: %(default)s)",
    )
    gradients.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in an output folder that already holds files "
        "(without it, such a folder is refused)",
    )
    gradients.add_argument(
        "--quick", action="store_true", help="a small run: one seed, five theta, shorter training"
    )
    gradients.add_argument(
        "--seeds", type=_integer(1), default=3, help="seeds of the sweep (default: %(default)s)"
    )
    gradients.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="auto (a GPU when there is one), cpu, cuda or cuda:N (default: %(default)s)",
    )
    gradients.add_argument("--no-progress", action="store_true", help="do not show progress bars")
    generators = commands.add_parser(
        "train-generators",
        help="train a small generator with every loss on toy targets, with figures",
        description="Train the same small generator (2-D noise to the plane) from the same "
        "initialisation with every loss of divergences.losses (a WGAN-GP critic, the "
        "saturating and non-saturating GAN losses, the exact minibatch W1, the Sinkhorn "
        "divergence, the energy distance) on eight Gaussians on a ring, 25 on a grid and a "
        "Swiss roll, each loss at the learning rate a common sweep picks, and measure it "
        "with the exact W1 to the target (next to the noise floor) and the modes covered. "
        "Writes generators.json, generators.csv, generator_samples.png and generator_w1.png, "
        "as safely as the gradients command.",
        epilog="examples:\n  divergences train-generators --output generators\n"
        "  divergences train-generators --quick --output /tmp/smoke\n\n" + _EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    generators.add_argument(
        "--output",
        default="generators-output",
        metavar="DIR",
        help="folder for the results: new or empty, unless --overwrite (default: %(default)s)",
    )
    generators.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results in an output folder that already holds files",
    )
    generators.add_argument(
        "--quick",
        action="store_true",
        help="a small run: the ring, one seed, 300 steps, no learning-rate sweep",
    )
    generators.add_argument(
        "--seeds", type=_integer(1), default=3, help="seeds per loss and target (default: 3)"
    )
    generators.add_argument(
        "--workers",
        type=_integer(1),
        default=1,
        help="runs trained at once, in separate processes (default: %(default)s)",
    )
    generators.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="auto (a GPU when there is one), cpu, cuda or cuda:N (default: %(default)s)",
    )
    generators.add_argument("--no-progress", action="store_true", help="do not show progress bars")
    for command in (compare_parser, demo, gradients, generators):
        command.set_defaults(command_parser=command)  # for its usage on an error
    return parser


# ---------------------------------------------------------------------------
# the command boundary

_RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "compare": _run_compare,
    "demo": _run_demo,
    "gradients": _run_gradients,
    "train-generators": _run_train_generators,
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that ``finally`` blocks remove temporary folders."""


# Set by the SIGTERM handler: an exception raised from a signal handler can land where
# Python only reports it (a finaliser, a callback from C), so the gradients run also asks
# this before replacing any file, and main() before reporting success.
_TERMINATED = threading.Event()


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    # Python's default SIGTERM ends the process without unwinding: the gradients
    # run's temporary folder would stay behind.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        _TERMINATED.set()
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 on success, 1 for an error (one line on stderr), 2 for a usage error
    (the subcommand's usage and one line on stderr), 130 when interrupted
    (143 for SIGTERM).

    Examples
    --------
    >>> main(["demo", "--thetas", "2", "--samples", "100"])  # doctest: +ELLIPSIS
    P = (0, U[0,1]), Q_theta = (theta, U[0,1]); 100 samples each; ...
    0
    """
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # argparse would report these with the top-level usage
            getattr(args, "command_parser", parser).error(
                f"unrecognized arguments: {' '.join(extra)}"
            )
    except SystemExit as exit_:  # usage errors, --help and --version
        return exit_.code if isinstance(exit_.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    prefix = f"divergences {args.command}:"
    _TERMINATED.clear()  # a SIGTERM of an earlier run in this process is not this one's
    try:
        with _terminate_as_interrupt():
            status = _RUNNERS[args.command](args)
        if _TERMINATED.is_set():
            raise _Terminated
        return status
    except KeyboardInterrupt:
        # a SIGTERM whose exception Python swallowed surfaces later as the run's own
        # KeyboardInterrupt (write_into's stop): still a SIGTERM
        if _TERMINATED.is_set():
            print(f"{prefix} terminated (SIGTERM)", file=sys.stderr)
            return 143
        print(f"{prefix} interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout has gone (`divergences compare ... | head`); say nothing more,
        # and keep Python from reporting the same broken pipe again when it flushes at exit
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:  # the boundary: one line, never a traceback
        if _TERMINATED.is_set():
            # a SIGTERM to the process group ends the workers at once: the run can fail
            # for that (a broken process pool) before this process's handler raises
            print(f"{prefix} terminated (SIGTERM)", file=sys.stderr)
            return 143
        print(f"{prefix} {_user_message(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
