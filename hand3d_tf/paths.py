"""The one check of an output folder or file that every hand3d tool runs. No TensorFlow.

A tool checks where it will write before it reads data or builds a network, so a bad path
costs nothing. Refused, each with a message naming the path and what is wrong with it:

- a path (or one of the folders above it) that is a symbolic link loop (``ln -s loop loop``)
  or a symbolic link to nothing;
- an output folder that exists as a file; an output file that exists as a folder;
- a path whose nearest existing folder is a file or is not writable.

Nothing is created here. The CLIs turn :class:`OutputPathError` into a one-line user error
(``hand3d_tf.cli.errors.check_output_dir`` / ``check_output_file``); hand3d-benchmark,
hand3d-make-synthetic and the trainer call it directly.
"""

from __future__ import annotations

import errno
import os
import pathlib


class OutputPathError(ValueError):
    """An output folder or file that cannot be written; the message names it."""


def _resolved(path: pathlib.Path, label: str) -> pathlib.Path:
    """``path`` with its symbolic links followed; OutputPathError for a loop or a link to
    nothing (``path`` itself exists as an entry: os.path.lexists)."""
    try:
        return path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13: "Symlink loop from ..."
        raise OutputPathError(f"{label}: {path} is a symbolic link loop") from None
    except FileNotFoundError:
        target = os.readlink(path) if path.is_symlink() else "?"
        raise OutputPathError(
            f"{label}: {path} is a symbolic link to {target}, which does not exist"
        ) from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise OutputPathError(f"{label}: {path} is a symbolic link loop") from None
        raise OutputPathError(f"{label}: {path} cannot be read ({err.strerror})") from None


def _nearest_existing(path: pathlib.Path, label: str) -> pathlib.Path:
    """The nearest entry at or above ``path`` that exists, links followed."""
    path = path.absolute()
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return _resolved(path, label)


def _writable_folder(folder: pathlib.Path, label: str) -> None:
    if not folder.is_dir():
        raise OutputPathError(f"{label}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{label}: {folder} is not writable")


def check_output_folder(path, label: str | None = None) -> pathlib.Path:
    """``path`` (a folder the caller creates later) if the outputs can go there.

    label: how messages name the path (a CLI gives ``--output_dir=<path>``).
    Raises OutputPathError; returns ``pathlib.Path(path)`` unchanged otherwise.
    """
    out = pathlib.Path(path)
    label = label or f"output folder {out}"
    if os.path.lexists(out):
        real = _resolved(out, label)
        if not real.is_dir():
            raise OutputPathError(f"{label} exists and is not a folder")
        _writable_folder(real, label)
        return out
    _writable_folder(_nearest_existing(out, label), label)
    return out


def check_output_path(path, label: str | None = None) -> pathlib.Path:
    """``path`` (a file the caller writes later) if it is not a folder, not a link loop,
    and its folder exists or can be created. Raises OutputPathError."""
    out = pathlib.Path(path)
    label = label or f"output file {out}"
    if os.path.lexists(out):
        if _resolved(out, label).is_dir():
            raise OutputPathError(f"{label} is a folder; give a file name")
    _writable_folder(_nearest_existing(out.absolute().parent, label), label)
    return out
