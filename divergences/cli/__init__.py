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

One module per job: ``_demo``, ``_compare``, ``_gradients`` and ``_generators`` each
add their subcommand's parser (``add_parser``) and run it (``run``); ``_files`` reads
sample files, ``_format`` writes the tables, ``_options`` holds the argparse pieces they
share and ``_messages`` the errors. This module builds the parser and is the command's
boundary: exit codes, and SIGTERM handled like Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from divergences import __version__
from divergences.cli import _compare, _demo, _generators, _gradients
from divergences.cli._compare import compare
from divergences.cli._demo import MAX_DEMO_SAMPLES, demo_table
from divergences.cli._files import MAPPED_BYTES, load_samples
from divergences.cli._messages import InputError, _user_message
from divergences.cli._options import _EXIT_STATUS, _HelpFormatter, _Parser
from divergences.comparison import MAPPED_SAMPLE_ROWS

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

# The subcommands in the order of the help.
_COMMANDS = {
    "compare": _compare,
    "demo": _demo,
    "gradients": _gradients,
    "train-generators": _generators,
}


def _parser() -> argparse.ArgumentParser:
    """The command's parser, with every subcommand's."""
    parser = _Parser(
        prog="divergences",
        description="Divergences between distributions, and what their gradients do "
        "when the supports do not overlap.",
        epilog=_EXIT_STATUS,
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS.values():
        command_parser = command.add_parser(commands)
        command_parser.set_defaults(command_parser=command_parser)  # for its usage on an error
    return parser


# ---------------------------------------------------------------------------
# the command boundary

_RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    name: command.run for name, command in _COMMANDS.items()
}


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that ``finally`` blocks remove temporary folders."""


# Set by the SIGTERM handler: an exception raised from a signal handler can land where
# Python only reports it (a finaliser, a callback from C), so the gradients run also asks
# this before replacing any file, and main() before reporting success.
_TERMINATED = threading.Event()


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`_Terminated` (in the main thread)."""
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

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``divergences``; ``sys.argv[1:]`` if None.

    Returns
    -------
    int
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
