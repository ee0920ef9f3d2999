"""Load pickles without letting them run code (no TensorFlow here).

The released ColorHandPose3D weights (docs/original.md §4) and the RHD annotation files (docs/original.md §8)
are Python pickles. A plain ``pickle.load`` calls whatever callable the file names, so
a tampered download could run arbitrary code. :func:`load` uses an unpickler whose
``find_class`` resolves only the handful of globals needed to rebuild plain containers,
NumPy arrays, NumPy scalars and dtypes; any other global is refused *before* it is
imported or called, with an :class:`UnsafePickleError` naming the file and the global.

Python-2 pickles load too: byte strings are decoded as latin-1, which is what NumPy's
array ``__setstate__`` expects for Python-2 array data.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
from typing import IO, Any, Callable, Union

__all__ = ["UnsafePickleError", "load", "ALLOWED_GLOBALS"]

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]

# (module, name) pairs a data pickle may reference. numpy 1.x writes ``numpy.core``,
# numpy 2.x writes ``numpy._core``; both resolve to whichever exists at run time.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [
        (mod, name)
        for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    ]
    + [(mod, "_frombuffer") for mod in ("numpy.core.numeric", "numpy._core.numeric")]
    + [
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
        ("collections", "OrderedDict"),
    ]
)


class UnsafePickleError(ValueError):
    """A pickle referenced a global outside :data:`ALLOWED_GLOBALS`; nothing was run."""


def _resolve(module: str, name: str) -> Any:
    """The object for an allowed (module, name), imported from the installed NumPy."""
    import collections

    import numpy as np

    if module == "numpy":
        return {"ndarray": np.ndarray, "dtype": np.dtype}[name]
    if module == "_codecs":
        import codecs

        return codecs.encode
    if module == "collections":
        return collections.OrderedDict
    submodule = module.rsplit(".", 1)[1]  # "multiarray" or "numeric"
    try:
        import importlib

        mod = importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:  # numpy < 1.26 has no numpy._core
        mod = importlib.import_module(f"numpy.core.{submodule}")
    return getattr(mod, name)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: str):
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Callable[..., Any]:
        # Python-2 pickles name modules by their Python-2 names (e.g. __builtin__);
        # map them like the default unpickler does before checking the allowlist. The
        # C unpickler does not expose the protocol, and the mapping only renames
        # Python-2 module names, so it is applied unconditionally.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) not in ALLOWED_GLOBALS:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in ALLOWED_GLOBALS))
            raise UnsafePickleError(
                f"{self._source}: refused to load global '{module}.{name}' (not executed); "
                f"a data pickle may only reference: {allowed}"
            )
        return _resolve(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._source}: refused persistent id {pid!r}")


def _describe(source: PathOrFile, what: str) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"{what} '{os.fspath(source)}'"
    name = getattr(source, "name", None)
    return f"{what} '{name}'" if isinstance(name, str) else f"{what} <{type(source).__name__}>"


def load(source: PathOrFile, *, what: str = "file") -> Any:
    """Unpickle ``source`` allowing only containers, scalars and NumPy arrays.

    Args:
      source: a path or a binary file object positioned at the pickle.
      what: a word for error messages, e.g. "weights file" or "RHD annotation file".

    Returns:
      The unpickled object (dicts, lists, tuples, str, bytes, numbers, bool, None,
      ``np.ndarray``, NumPy scalars and dtypes, ``OrderedDict``).

    Raises:
      FileNotFoundError: the path does not exist.
      UnsafePickleError: the pickle references any other global (not imported, not run).
      ValueError: the file is not a complete pickle (truncated, empty, other format);
        the message names the file.
    """
    described = _describe(source, what)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return _load_stream(f, described)
    return _load_stream(source, described)


def _load_stream(stream: IO[bytes], described: str) -> Any:
    try:
        return _RestrictedUnpickler(stream, described).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, io.UnsupportedOperation) as err:
        raise ValueError(
            f"{described} is not a complete pickle ({type(err).__name__}: {err})"
        ) from err
    except Exception as err:  # malformed opcode arguments surface as many types
        raise ValueError(
            f"{described} could not be unpickled ({type(err).__name__}: {err})"
        ) from err
