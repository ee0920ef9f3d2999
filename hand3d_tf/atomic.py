"""Atomic file writes: a reader (or a crash) never sees half a file. No TensorFlow.

Everything the project writes that a later run depends on (weights, checkpoint metadata,
TFLite models and sidecars, annotation pickles) goes through ``atomic_write``: the data is
written to a temporary file in the target's folder, flushed to disk, and renamed over the
target, which POSIX guarantees to be atomic within one file system.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Callable, Union

Payload = Union[bytes, str, Callable]


def _umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, data: Payload) -> pathlib.Path:
    """Write ``data`` to ``path`` atomically and return the path.

    ``data`` is bytes, a str (written as UTF-8 text), or a callable that receives the open
    binary file and writes to it. The file gets the usual permissions (0o666 minus the
    umask), not the 0o600 of a bare temporary file. On any error the temporary file is
    removed and the previous content of ``path`` is left untouched.
    """
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
