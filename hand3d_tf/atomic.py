"""Atomic file writes: a reader (or a crash) never sees half a file. No TensorFlow.

Everything the project writes that a later run depends on (weights, checkpoint metadata,
TFLite models and sidecars, annotation pickles) goes through ``atomic_write``: the data is
written to a temporary file in the target's folder, flushed to disk, and renamed over the
target, which POSIX guarantees to be atomic within one file system.

Temporary files and folders carry the writer's process id (``.<name>.<pid>-<random>.tmp``,
``.hand3d-convert-<pid>-*``, ``.<split>.writing-<pid>-*``): a write that fails, or is
interrupted by SIGINT or SIGTERM (hand3d_tf.signals), deletes its own; one killed outright
(SIGKILL, power loss) leaves it, and the next write to the same place deletes the
temporaries whose process is gone (``remove_dead_temporaries``) and never those of a live
one.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from typing import Callable, Union

Payload = Union[bytes, str, Callable]


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a live process of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # beyond any pid
        return False
    return True


def temporary_prefix(stem: str) -> str:
    """``<stem><pid>-``: how this process's temporaries named ``stem`` begin."""
    return f"{stem}{os.getpid()}-"


def remove_dead_temporaries(folder, stem: str) -> list[pathlib.Path]:
    """Delete the entries of ``folder`` named ``<stem><pid>-...`` whose process is gone
    (files and folders alike); returns them. Entries of live processes stay."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(stem):
            continue
        pid = entry.name[len(stem) :].split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
        removed.append(pathlib.Path(entry.path))
    return removed


def atomic_write(path, data: Payload) -> pathlib.Path:
    """Write ``data`` to ``path`` atomically and return the path.

    ``data`` is bytes, a str (written as UTF-8 text), or a callable that receives the open
    binary file and writes to it. The file gets the usual permissions (0o666 minus the
    umask), not the 0o600 of a bare temporary file. On any error (and on SIGINT, and SIGTERM
    within hand3d_tf.signals.sigterm_as_interrupt) the temporary file is removed and the
    previous content of ``path`` is left untouched.
    """
    path = pathlib.Path(path)
    stem = f".{path.name}."
    remove_dead_temporaries(path.parent, stem)  # left by a killed writer of the same file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(stem), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
