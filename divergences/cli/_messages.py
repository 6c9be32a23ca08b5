"""What the command says when something is wrong: its errors, in the words of its options.

The library names its arguments (``x``, ``k=5``, ``bin_width``); on the command
line the inputs are the files P and Q and the options are ``--k`` and ``--bin-width``.
"""

from __future__ import annotations

import re

from divergences.comparison import _IN_ORDER, _SWAPPED, _described

__all__ = ["InputError"]


class InputError(ValueError):
    """A sample file or option that cannot be used; the command prints it and exits with 1."""


# The options whose library names differ from the command's flags.
_OPTION_NAMES = (
    (re.compile(r"\bk=(\d+)"), r"--k \1"),
    (re.compile(r"\bbin_width\b"), "--bin-width"),
)


def _option_words(text: str) -> str:
    """``text`` with the library's option names replaced by the command's flags."""
    for pattern, replacement in _OPTION_NAMES:
        text = pattern.sub(replacement, text)
    return text


def _user_message(error: BaseException, *, swapped: bool = False) -> str:
    """A library error in the command's words: P and Q, not ``samples_p``, and its flags.

    ``swapped``: the call was f(Q, P), so the library's first sample is Q.
    """
    return _option_words(_described(error, _SWAPPED if swapped else _IN_ORDER))
