"""User errors of the hand3d CLIs: one line, exit status 2, no traceback. No TensorFlow.

A user error is a mistake in the command line or in the files it names: a bad flag value, a
missing or unreadable input, an output path that is a file, a weights file that does not
fit. Every CLI reports one as a single line ``<prog>: error: <message>`` on stderr and exits
with status 2. Anything else is a bug and keeps its traceback.

Only ``UserError`` (and absl's ``app.UsageError``, its base) is turned into that line, so a
library exception becomes a user error only where a CLI says so: around the call that
reads the user's file (``user_errors``), never for the whole program. The cheap checks here
(paths, output folders) run before any network is built, so a mistake costs no model load.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import sys

from absl import app, flags

from hand3d_tf import paths, signals

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention


class UserError(app.UsageError):
    """A wrong flag, file or key; the message names it. Shown as one line, exit 2."""

    def __init__(self, message: str):
        super().__init__(message, exitcode=EXIT_USER_ERROR)


def one_line(message) -> str:
    """``message`` on one line: multi-line library messages are joined with '; '."""
    parts = [line.strip() for line in str(message).splitlines()]
    return "; ".join(p for p in parts if p) or type(message).__name__


def report(prog: str, error) -> int:
    """Print ``<prog>: error: <message>`` to stderr; return the exit status 2."""
    print(f"{prog}: error: {one_line(error)}", file=sys.stderr, flush=True)
    return EXIT_USER_ERROR


@contextlib.contextmanager
def user_errors(*types: type[BaseException], prefix: str = ""):
    """Re-raise the listed exception types of the enclosed call as a UserError.

    Wrap only the call that reads or validates user input, so that the same exception
    type raised by a bug elsewhere still shows its traceback.
    """
    try:
        yield
    except types as err:
        raise UserError(f"{prefix}{err}") from err


def run(main, prog: str) -> None:
    """``app.run(main)`` with one-line flag-parsing and usage errors (exit 2) and a
    one-line Ctrl-C or SIGTERM (exit 130 / 143). SIGTERM unwinds like Ctrl-C
    (hand3d_tf.signals): every cleanup on the way out runs, no temporary file stays."""

    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as err:
            sys.exit(report(prog, err))

    def checked_main(argv):
        try:
            return main(argv)
        except app.UsageError as err:
            return report(prog, err)
        except KeyboardInterrupt as err:  # Ctrl-C / SIGTERM outside a CLI's own handling
            signum = signal.Signals(signals.signal_number(err))
            print(f"{prog}: interrupted by {signum.name}", file=sys.stderr, flush=True)
            return 128 + signum

    with signals.sigterm_as_interrupt():
        app.run(checked_main, flags_parser=parse)


# --- cheap checks, run before any network is built -----------------------------------------


def check_output_dir(path, flag: str = "--output_dir") -> pathlib.Path:
    """The folder ``path`` (created later by the command) if it can hold the outputs.

    Refused (hand3d_tf.paths, the one check every tool runs): a path that exists and is not
    a folder, a symbolic link loop or a link to nothing, a path whose nearest existing
    ancestor is not a writable folder. Nothing is created here.
    """
    if path is None or str(path) == "":
        raise UserError(f"{flag} is required")
    with user_errors(paths.OutputPathError):
        return paths.check_output_folder(path, f"{flag}={pathlib.Path(path)}")


def check_output_file(path, flag: str = "--output") -> pathlib.Path:
    """The file ``path`` if it is not a folder (nor a link loop) and its folder exists or
    can be created."""
    if path is None or str(path) == "":
        raise UserError(f"{flag} is required")
    with user_errors(paths.OutputPathError):
        return paths.check_output_path(path, f"{flag}={pathlib.Path(path)}")


def check_input_file(path, flag: str) -> pathlib.Path:
    """``path`` if it is an existing, readable file."""
    p = pathlib.Path(path)
    if not p.exists():
        raise UserError(f"{flag}={p}: no such file")
    if not p.is_file():
        raise UserError(f"{flag}={p} is not a file")
    if not os.access(p, os.R_OK):
        raise UserError(f"{flag}={p} is not readable")
    return p


def check_input_dir(path, flag: str) -> pathlib.Path:
    """``path`` if it is an existing folder."""
    p = pathlib.Path(path)
    if not p.exists():
        raise UserError(f"{flag}={p}: no such folder")
    if not p.is_dir():
        raise UserError(f"{flag}={p} is not a folder")
    return p
