"""Shared test helpers (fixtures live in conftest.py)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np

DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"


def reference_cases(name: str) -> dict[str, np.ndarray]:
    """Reference values computed by the original TF 1.3 code (tests/data/README.md)."""
    with np.load(DATA_DIR / name, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def run_cli(tool: str, *args, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m hand3d_tf.cli.<tool> ARGS`` in a subprocess (text output captured)."""
    command = [sys.executable, "-m", f"hand3d_tf.cli.{tool}", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


TENSORFLOW_PACKAGES = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")


def tensorflow_after(statements: str) -> list[str]:
    """The TensorFlow-family modules loaded after running ``statements`` in a fresh Python
    (``[]`` for TF-free code); the statements' errors fail the calling test."""
    code = (
        f"import sys\n{statements}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {TENSORFLOW_PACKAGES!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])  # a list literal printed by ourselves
