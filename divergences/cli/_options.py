"""The argparse pieces every subcommand shares: the parser, the help layout, typed values.

Also the check of ``--device`` before a run, by the neural estimators' own device
resolution (:func:`divergences.neural.options.resolve_device`), in the command's words.
"""

from __future__ import annotations

import argparse
import math
import re
import textwrap
from collections.abc import Callable
from typing import Any

from divergences.cli._messages import InputError


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
    """Wraps each paragraph of help text; keeps indented ones (examples) as written."""

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
    """An argument parser that reads every number as a value, ``-1e-3`` and ``-inf`` included."""

    # argparse's own rule takes only -5 or -.5 for a negative number, so --thetas -1e-3
    # would be an unknown option. No option of this command looks like a number.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(
            r"^-(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf|infinity|nan)$", re.IGNORECASE
        )


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--no-progress``, as every command that trains networks takes them."""
    parser.add_argument(
        "--device",
        type=_device,
        default="auto",
        help="auto (a GPU when there is one), cpu, cuda or cuda:N (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show progress bars")


def _resolve_device(device: str) -> str:
    """``device`` with ``auto`` resolved; a CUDA device this machine lacks is refused."""
    # checked before any work, so that a run does not fail after reading its files
    from divergences.neural.options import resolve_device

    try:
        return str(resolve_device(device))
    except ValueError:
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                f"--device {device}: CUDA is not available here (torch {torch.__version__}); "
                "use --device cpu, or auto to take a GPU when there is one"
            ) from None
        raise InputError(
            f"--device {device}: this machine has {torch.cuda.device_count()} CUDA "
            f"device(s), numbered from 0"
        ) from None
