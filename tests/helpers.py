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
