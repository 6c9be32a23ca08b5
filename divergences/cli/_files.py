"""Sample files read as (n, d) arrays: ``.npy`` (memory-mapped when large) and text.

The readers keep memory bounded: a large ``.npy`` file is checked for NaN and inf a
block of rows at a time and stays memory-mapped; a text file is parsed a block of
lines at a time straight into float64. Every error is an :class:`InputError` that
names the sample (``P`` or ``Q``) and the path.
"""

from __future__ import annotations

import io
import itertools
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from divergences.cli._messages import InputError
from divergences.comparison import _reason

__all__ = ["MAPPED_BYTES", "load_samples"]

_NPY_MAGIC = b"\x93NUMPY"

#: A ``.npy`` file whose data take more bytes than this (128 MiB) stays memory-mapped in
#: its own dtype instead of being copied into memory as float64 (which would double a
#: float32 file): it is checked for NaN and inf a block of rows at a time, and each measure
#: of ``divergences compare`` reads only the rows it needs (see
#: :data:`MAPPED_SAMPLE_ROWS`). Smaller files are read whole, as float64.
MAPPED_BYTES = 1 << 27


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
    """Samples from a ``.npy`` or text (``.csv``, ``.txt``, ``.tsv``) file as an (n, d) array.

    A ``.npy`` file must hold real numbers (floating or integer). A text file
    has one sample per line, its values separated by commas, semicolons, tabs
    or spaces (detected from the file); a first line that is not numeric (a
    header), blank lines and everything after a ``#`` are skipped. A 1-D array,
    or one column, is ``n`` samples in ``d = 1``.

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

    Notes
    -----
    Memory stays bounded. A ``.npy`` file of more than :data:`MAPPED_BYTES`
    comes back memory-mapped after a NaN check a block of rows at a time; its
    header is parsed as literals, never evaluated. A text file is parsed a
    block of lines at a time into float64 (peak memory about the result plus a
    few megabytes), and refused as soon as the part read shows that its
    numbers would need more than half the available memory.

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
    divergences.cli._messages.InputError: Q: ...q.csv line 3, column 2: 'oops' is not a number
    """
    if not str(path).strip():
        raise InputError(f"{name}: the file name is empty")
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
    """``data``'s rows a block of about ``_BLOCK_BYTES`` at a time, with each block's first row."""
    rows = max(1, _BLOCK_BYTES // max(1, data.shape[1] * data.itemsize))
    for start in range(0, data.shape[0], rows):
        yield start, np.asarray(data[start : start + rows])


def _first_non_finite(data: np.ndarray) -> tuple[int, int, float] | None:
    """The first NaN or inf of (n, d) ``data`` in row order: its row, column and value."""
    # a block at a time, so that a memory map needs no mask of its size; float128 values
    # beyond float64 count as inf, as they would become inf in the measures
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
    """Where a value of an array is, in words."""
    return f"row {row}, column {column} (counting from 0)"


def _non_finite(name: str, path: Path, value: float, position: str) -> InputError:
    """The error for a NaN or inf at ``position`` of a file."""
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
    """The dtype that a .npy file's header declares, read without evaluating anything."""
    # numpy parses the header as literals and raises for anything else (an expression, a
    # header too long to parse safely): a malformed file, not one of Python objects
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
    """A .npy file's array: float64, or memory-mapped above ``MAPPED_BYTES``."""
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
    """Whether ``float`` reads ``text``."""
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
    """A line's fields."""
    if delimiter is None:
        return content.split()
    return [part.strip() for part in content.split(delimiter)]


def _pieces(content: str, delimiter: str | None) -> Iterator[list[str]]:
    """``_split(content, delimiter)`` in parts of about ``_PIECE_CHARS``, cut at separators."""
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
    """A text file's data lines parsed into one growing float64 buffer."""

    # Lines are converted a block at a time, long lines a piece at a time, so that memory
    # holds the numbers and one block's worth of strings. The buffer grows by a quarter
    # (ndarray.resize: a realloc, which moves no pages of a large array on Linux). Errors
    # follow the order of the lines; a NaN or inf is reported only when the whole file
    # parses, as a missing value after a typo would mislead.

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
        """Take line ``number``'s content."""
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
        """The (n, d) samples, once every line is added and flushed."""
        if self.non_finite is not None:
            value, number, column = self.non_finite
            raise _non_finite(self.name, self.path, value, f"line {number}, column {column + 1}")
        self.buffer.resize(self.size, refcheck=False)
        return self.buffer.reshape(-1, self.width)


def _read_text(path: Path, name: str) -> np.ndarray:
    """A text file's samples as an (n, d) float64 array, read a block of lines at a time."""
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
