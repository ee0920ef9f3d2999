"""hand3d_tf.safe_pickle: hostile pickles are refused before anything runs. TF-free.

Each payload is first shown to run under plain ``pickle.load`` (so the test would notice a
payload that no longer works), then refused by ``safe_pickle.load`` with the marker file
untouched, in every pickle protocol.
"""

from __future__ import annotations

import builtins
import collections
import io
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from hand3d_tf import safe_pickle

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)
assert pickle.HIGHEST_PROTOCOL >= 5

# The allow-list written out independently of the module: a new entry must be added here
# on purpose, after checking that it cannot be used to call anything.
EXPECTED_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


def _touch(marker) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def _numpy_runstring():
    """A numpy-namespaced helper that executes a string: allowing "numpy.*" runs code."""
    try:
        from numpy.testing._private.utils import runstring
    except ImportError:  # pragma: no cover - moved in some NumPy release
        pytest.skip("this NumPy has no numpy.testing._private.utils.runstring")
    return runstring


class _Reduce:
    """Pickles as ``func(*args)``: what a tampered weights file would contain."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker) -> dict:
    python = sys.executable
    return {
        "os.system": _Reduce(os.system, f"touch {marker}"),
        "subprocess.check_call": _Reduce(subprocess.check_call, [python, "-c", _touch(marker)]),
        "builtins.eval": _Reduce(builtins.eval, _touch(marker)),
        "builtins.exec": _Reduce(builtins.exec, _touch(marker)),
        "builtins.open": _Reduce(builtins.open, str(marker), "w"),
        "numpy runstring": _Reduce(_numpy_runstring(), _touch(marker), {}),
    }


PAYLOAD_NAMES = ["os.system", "subprocess.check_call", "builtins.eval", "builtins.exec",
                 "builtins.open", "numpy runstring"]  # fmt: skip
REFUSED_GLOBAL = {
    "os.system": r"(posix|os|nt)\.system",
    "subprocess.check_call": r"subprocess\.check_call",
    "builtins.eval": r"builtins\.eval",
    "builtins.exec": r"builtins\.exec",
    "builtins.open": r"(builtins|io)\.open",
    "numpy runstring": r"numpy\.testing\._private\.utils\.runstring",
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_hostile_payload_is_refused_in_every_protocol(tmp_path, name, protocol):
    marker = tmp_path / "pwned"
    payload = _payloads(marker)[name]
    data = pickle.dumps({"PosePrior/fc_xyz/biases": np.zeros(63), "x": [payload]}, protocol)
    with pytest.raises(safe_pickle.UnsafePickleError, match=REFUSED_GLOBAL[name]) as err:
        safe_pickle.load(io.BytesIO(data))
    assert isinstance(err.value, ValueError)  # callers catching ValueError see it too
    assert "not executed" in str(err.value)
    assert not marker.exists()
    # The same bytes do run under plain pickle: the payload is real.
    pickle.loads(data)
    assert marker.exists()


def test_refusal_names_the_file_and_lists_the_allowed_globals(tmp_path):
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps(_Reduce(builtins.eval, "1 + 1")))
    with pytest.raises(safe_pickle.UnsafePickleError) as err:
        safe_pickle.load(path, what="weights file")
    message = str(err.value)
    assert message.startswith(f"weights file '{path}': refused to load global 'builtins.eval'")
    for module, name in EXPECTED_ALLOWED:
        assert f"{module}.{name}" in message


def test_python2_module_names_are_mapped_before_the_check(tmp_path):
    # Protocol 0 as Python 2 writes it: __builtin__ is mapped to builtins, then refused.
    marker = tmp_path / "pwned"
    data = b"c__builtin__\neval\n(V" + _touch(marker).encode() + b"\ntR."
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"builtins\.eval"):
        safe_pickle.load(io.BytesIO(data))
    assert not marker.exists()
    pickle.loads(data)
    assert marker.exists()
    # A whole-name mapping (Python 2 exceptions.ValueError -> builtins.ValueError).
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"builtins\.ValueError"):
        safe_pickle.load(io.BytesIO(b"cexceptions\nValueError\n(tR."))
    # Python 2's copy_reg (-> copyreg) is not allowed either.
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"'copyreg\._reconstructor'"):
        safe_pickle.load(io.BytesIO(b"ccopy_reg\n_reconstructor\n."))


def test_refused_modules_are_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "evil_side_effect.py").write_text(f"{_touch(marker)}\ndef f(): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = b"cevil_side_effect\nf\n(tR."  # protocol 0: evil_side_effect.f()
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"evil_side_effect\.f"):
        safe_pickle.load(io.BytesIO(data))
    assert not marker.exists() and "evil_side_effect" not in sys.modules
    # A module that does not exist is refused the same way, not a ModuleNotFoundError.
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"no_such_module\.x"):
        safe_pickle.load(io.BytesIO(b"cno_such_module\nx\n."))


def test_persistent_ids_are_refused():
    data = b"Pid0\n."  # protocol 0 PERSID
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"refused persistent id 'id0'"):
        safe_pickle.load(io.BytesIO(data))
    with pytest.raises(safe_pickle.UnsafePickleError, match="refused persistent id"):
        safe_pickle.load(io.BytesIO(b"\x80\x02K\x07Q."))  # BINPERSID of the int 7


def test_allow_list_is_exactly_the_data_globals():
    assert set(safe_pickle.ALLOWED_GLOBALS) == EXPECTED_ALLOWED
    assert isinstance(safe_pickle.ALLOWED_GLOBALS, frozenset)
    # Each one resolves to the installed NumPy's (or Python's) object.
    import codecs

    resolve = safe_pickle._resolve
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        assert resolve(module, "_reconstruct") is np.ndarray.__reduce__(np.zeros(1))[0]
        assert resolve(module, "scalar") is np.float32(1).__reduce__()[0]
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        assert resolve(module, "_frombuffer") is np.zeros(1).__reduce_ex__(5)[0]
    assert resolve("numpy", "ndarray") is np.ndarray
    assert resolve("numpy", "dtype") is np.dtype
    assert resolve("_codecs", "encode") is codecs.encode
    assert resolve("collections", "OrderedDict") is collections.OrderedDict


def _data_values(protocol: int) -> dict:
    rng = np.random.default_rng(0)
    values = {
        "HandSegNet/conv1_1/weights": rng.standard_normal((3, 3, 3, 4), dtype=np.float32),
        "f64": rng.standard_normal(5),
        "fortran": np.asfortranarray(rng.standard_normal((3, 4))),
        "scalar_array": np.array(2.5, np.float32),
        "ints": np.arange(-4, 4, dtype=np.int16),
        "bools": np.array([True, False]),
        "big_endian": np.arange(3, dtype=">f4"),
        "record": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
        "np_scalar": np.float64(1.25),
        "np_int": np.int32(-7),
        "dtype": np.dtype("<f2"),
        "ordered": collections.OrderedDict([("b", 1), ("a", [1.5, "x", None, True])]),
        "bytes": b"\x00\xff",
        "nested": ({"k": (1, 2)}, [3, 4.0], (), "text", 10**30, -1.5e-300, None, False),
    }
    if protocol >= 3:
        # Below protocol 3 Python writes an empty buffer as builtins.bytes(), which the
        # allow-list refuses: an empty array does not load from such a file (the released
        # files hold none).
        values["empty"] = np.zeros((0, 3), np.float32)
    return values


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_data_pickles_load_identically_in_every_protocol(tmp_path, protocol):
    values = _data_values(protocol)
    path = tmp_path / "good.pickle"
    path.write_bytes(pickle.dumps(values, protocol))
    loaded = safe_pickle.load(path)
    # What plain pickle gives (it differs from `values` only where NumPy's own pickling
    # does, e.g. big-endian dtypes below protocol 5).
    plain = pickle.loads(path.read_bytes())
    assert list(loaded) == list(values)
    for key, want in plain.items():
        got = loaded[key]
        assert type(got) is type(want), key
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype and got.shape == want.shape, key
            assert got.flags.f_contiguous == want.flags.f_contiguous, key
            np.testing.assert_array_equal(got, values[key], err_msg=key)
        else:
            assert got == want == values[key], key
    # A file object works as well as a path.
    with open(path, "rb") as f:
        assert list(safe_pickle.load(f)) == list(values)


def test_broken_files_are_value_errors_naming_the_file(tmp_path):
    good = pickle.dumps({"a": np.ones(3)}, 4)
    cases = {
        "truncated.pickle": good[: len(good) // 2],
        "empty.pickle": b"",
        "text.pickle": b"not a pickle at all",
        "bad_opcode.pickle": b"\x80\x04\xff.",
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=rf"RHD annotation file '.*{name}'") as err:
            safe_pickle.load(path, what="RHD annotation file")
        assert not isinstance(err.value, safe_pickle.UnsafePickleError), name
    stream = io.BytesIO(b"")
    with pytest.raises(ValueError, match=r"file <BytesIO> is not a complete pickle"):
        safe_pickle.load(stream)
    with pytest.raises(FileNotFoundError):
        safe_pickle.load(tmp_path / "missing.pickle")


def test_errors_name_a_file_object_by_its_name_and_the_error_type(tmp_path):
    path = tmp_path / "cut.pickle"
    path.write_bytes(pickle.dumps({"a": 1}, 2)[:-3])
    with open(path, "rb") as f, pytest.raises(ValueError) as err:
        safe_pickle.load(f, what="weights file")
    assert str(err.value).startswith(f"weights file '{path}' is not a complete pickle (")
    assert "(UnpicklingError: " in str(err.value) or "(EOFError: " in str(err.value)
    with pytest.raises(ValueError, match=r"^file <BytesIO> is not a complete pickle \(EOFError: "):
        safe_pickle.load(io.BytesIO(b""))
    # Allowed globals called with bad arguments raise other types: still a ValueError.
    bad_call = b"cnumpy\ndtype\n(I1\ntR."  # numpy.dtype(1)
    with pytest.raises(ValueError, match=r"^file <BytesIO> could not be unpickled \(TypeError: "):
        safe_pickle.load(io.BytesIO(bad_call))


def test_refusal_message_lists_the_allowed_globals_exactly():
    with pytest.raises(safe_pickle.UnsafePickleError) as err:
        safe_pickle.load(io.BytesIO(b"cos\nsystem\n."))
    allowed = ", ".join(sorted(f"{m}.{n}" for m, n in EXPECTED_ALLOWED))
    assert str(err.value) == (
        "file <BytesIO>: refused to load global 'os.system' (not executed); "
        f"a data pickle may only reference: {allowed}"
    )


def test_python2_byte_strings_are_read_as_latin1():
    # A Python-2 str (SHORT_BINSTRING) holding bytes >= 0x80, as in Python-2 array data:
    # latin-1 maps each byte to one code point (ASCII, Python 3's default, would fail).
    data = b"\x80\x02}q\x00U\x01kq\x01U\x03\xff\x80\x01q\x02s."
    assert safe_pickle.load(io.BytesIO(data)) == {"k": "\xff\x80\x01"}


def test_numpy_1_module_names_resolve_without_numpy_core(monkeypatch):
    # NumPy < 1.26 has no numpy._core: the numpy.core names must then be used.
    import importlib

    real = importlib.import_module

    def without_core(name, *args):
        if name.startswith("numpy._core"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_core)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # NumPy 2 warns on numpy.core
        got = safe_pickle._resolve("numpy._core.multiarray", "_reconstruct")
    assert got is np.ndarray.__reduce__(np.zeros(1))[0]
