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
import sys

from absl import app, flags

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
    one-line Ctrl-C (exit 130)."""

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
        except KeyboardInterrupt:  # Ctrl-C outside a CLI's own handling: no traceback
            print(f"{prog}: interrupted", file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED

    app.run(checked_main, flags_parser=parse)


# --- cheap checks, run before any network is built -----------------------------------------


def _nearest_existing(path: pathlib.Path) -> pathlib.Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(folder: pathlib.Path, label: str) -> None:
    # The nearest existing ancestor must be a writable folder (nothing is created here).
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise UserError(f"{label}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UserError(f"{label}: {base} is not writable")


def check_output_dir(path, flag: str = "--output_dir") -> pathlib.Path:
    """The folder ``path`` (created later by the command) if it can hold the outputs.

    Refused: a path that exists and is not a folder, or whose nearest existing ancestor
    is not a writable folder. Nothing is created here.
    """
    if path is None or str(path) == "":
        raise UserError(f"{flag} is required")
    out = pathlib.Path(path)
    if out.exists() and not out.is_dir():
        raise UserError(f"{flag}={out} exists and is not a folder")
    _check_creatable(out, f"{flag}={out}")
    return out


def check_output_file(path, flag: str = "--output") -> pathlib.Path:
    """The file ``path`` if it is not a folder and its folder exists or can be created."""
    if path is None or str(path) == "":
        raise UserError(f"{flag} is required")
    out = pathlib.Path(path)
    if out.is_dir():
        raise UserError(f"{flag}={out} is a folder; give a file name")
    _check_creatable(out.parent, f"{flag}={out}")
    return out


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
